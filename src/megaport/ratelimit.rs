//! The request budget shared by every caller of one client: a rolling window (at most `limit`
//! requests in any `window`, as Megaport documents its limit: 500 requests in a rolling 5
//! minutes per source IP) plus a global pause that a 429's `Retry-After` sets for everyone, not
//! only for the caller that got it.
//!
//! A token bucket does not fit such a limit: refilled at 500 per 5 minutes with a burst of 500,
//! it allows 1,000 requests in the first window. Megaport counts a request when it arrives,
//! which is some time after the client lets it go and no later than its answer: so a request
//! holds its place from the moment it is let go until a whole window after its answer. Then no
//! window of arrivals can hold more than `limit`, however long requests take.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::sync::Locked;

/// Rolling window + shared pause.
pub(crate) struct Limiter {
    limit: usize,
    window: Duration,
    state: Mutex<Places>,
    paused_until: Mutex<Option<Instant>>,
}

/// The places taken in the window: requests in flight, and answers of the last window.
#[derive(Default)]
struct Places {
    in_flight: usize,
    answered: VecDeque<Instant>,
}

/// A place in the window, held while the request is in flight; it counts for a whole window
/// after it is dropped (when the answer has come).
pub(crate) struct Place<'a> {
    limiter: &'a Limiter,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut places = self.limiter.state.locked();
        places.in_flight = places.in_flight.saturating_sub(1);
        places.answered.push_back(Instant::now());
    }
}

/// How often a caller waiting for requests in flight looks again.
const IN_FLIGHT_POLL: Duration = Duration::from_millis(20);

impl Limiter {
    /// At most `limit` requests (at least 1) in any `window`.
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        Self {
            limit,
            window,
            state: Mutex::new(Places::default()),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until a request may be sent — any shared pause first, then a place in the window —
    /// and holds that place until the returned guard is dropped (after the answer).
    pub(crate) async fn acquire(&self) -> Place<'_> {
        loop {
            while let Some(until) = self.pause_deadline() {
                tokio::time::sleep_until(until).await;
            }
            match self.try_take(Instant::now()) {
                Ok(place) => return place,
                Err(free_at) => tokio::time::sleep_until(free_at).await,
            }
        }
    }

    /// Takes a place at `now`, or says when to look again.
    fn try_take(&self, now: Instant) -> Result<Place<'_>, Instant> {
        let mut places = self.state.locked();
        while places
            .answered
            .front()
            .is_some_and(|t| *t + self.window <= now)
        {
            places.answered.pop_front();
        }
        if places.in_flight + places.answered.len() < self.limit {
            places.in_flight += 1;
            return Ok(Place { limiter: self });
        }
        // Full: the oldest answer leaves the window first; with every place in flight, look
        // again shortly.
        Err(match places.answered.front() {
            Some(oldest) => *oldest + self.window,
            None => now + IN_FLIGHT_POLL,
        })
    }

    /// Requests that may still be sent in the current window.
    pub(crate) fn remaining(&self) -> usize {
        let now = Instant::now();
        let places = self.state.locked();
        let answered = places
            .answered
            .iter()
            .filter(|t| **t + self.window > now)
            .count();
        self.limit.saturating_sub(places.in_flight + answered)
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
        let limiter = std::sync::Arc::new(Limiter::new(1000, Duration::from_secs(1)));
        limiter.pause_for(Duration::from_secs(5));
        limiter.pause_for(Duration::from_secs(1)); // must not shorten the pause
        let start = Instant::now();
        let a = tokio::spawn({
            let l = limiter.clone();
            async move { drop(l.acquire().await) }
        });
        let b = tokio::spawn({
            let l = limiter.clone();
            async move { drop(l.acquire().await) }
        });
        a.await.unwrap();
        b.await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_ever_holds_more_than_the_limit() {
        let window = Duration::from_secs(300);
        let limiter = std::sync::Arc::new(Limiter::new(450, window));
        let start = Instant::now();
        let mut sent = Vec::new();
        // 1,000 callers at once: each records when it was let through.
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let l = limiter.clone();
                tokio::spawn(async move {
                    let place = l.acquire().await;
                    let sent = Instant::now();
                    drop(place); // answered at once
                    sent
                })
            })
            .collect();
        for task in tasks {
            sent.push(task.await.unwrap());
        }
        sent.sort();
        // Any 300 s span holds at most 450 sends; the first 450 go at once.
        for (i, t) in sent.iter().enumerate() {
            let in_window = sent[i..].iter().take_while(|u| **u < *t + window).count();
            assert!(
                in_window <= 450,
                "{in_window} sends in one window from send {i}"
            );
        }
        assert_eq!(sent.iter().filter(|t| **t == start).count(), 450);
        assert_eq!(
            *sent.last().unwrap() - start,
            window * 2,
            "1,000 = 450 + 450 + 100"
        );
        assert_eq!(limiter.remaining(), 350);
    }
}
