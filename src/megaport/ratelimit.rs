//! The request budget shared by every caller of one client: a token bucket (governor) plus a
//! global pause that a 429's `Retry-After` sets for everyone, not only for the caller that got it.

use crate::sync::Locked;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// Token bucket + shared pause.
pub(crate) struct Limiter {
    bucket: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
}

impl Limiter {
    /// `rate` requests per second sustained, `burst` at once (both at least 1).
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(rate.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            bucket: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until a request may be sent: first any shared pause, then a bucket cell.
    pub(crate) async fn acquire(&self) {
        while let Some(until) = self.pause_deadline() {
            tokio::time::sleep_until(until).await;
        }
        self.bucket.until_ready().await;
    }

    /// Holds every caller back for `delay` (never shortens a longer pause already set).
    pub(crate) fn pause_for(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut paused = self.paused_until.locked();
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
        }
    }

    fn pause_deadline(&self) -> Option<Instant> {
        let mut paused = self.paused_until.locked();
        match *paused {
            Some(until) if until > Instant::now() => Some(until),
            _ => {
                *paused = None;
                None
            }
        }
    }
}

/// Parses a `Retry-After` value: delay in seconds, or an HTTP date (relative to `now`).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_every_caller() {
        let limiter = std::sync::Arc::new(Limiter::new(1000, 1000));
        limiter.pause_for(Duration::from_secs(5));
        limiter.pause_for(Duration::from_secs(1)); // must not shorten the pause
        let start = Instant::now();
        let a = tokio::spawn({
            let l = limiter.clone();
            async move { l.acquire().await }
        });
        let b = tokio::spawn({
            let l = limiter.clone();
            async move { l.acquire().await }
        });
        a.await.unwrap();
        b.await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(5));
    }
}
