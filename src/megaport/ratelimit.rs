//! The request budget shared by every caller of one client: a rolling window (at most `limit`
//! requests in any `window`, as Megaport documents its limit: 500 requests in a rolling 5
//! minutes per source IP) plus a global pause that a 429's `Retry-After` sets for everyone, not
//! only for the caller that got it.
//!
//! A token bucket does not fit such a limit: refilled at 500 per 5 minutes with a burst of 500,
//! it allows 1,000 requests in the first window. The window keeps the send time of each request
//! in it and lets the next one go when the oldest leaves.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::sync::Locked;

/// Rolling window + shared pause.
pub(crate) struct Limiter {
    limit: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
    paused_until: Mutex<Option<Instant>>,
}

impl Limiter {
    /// At most `limit` requests (at least 1) in any `window`.
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        Self {
            limit,
            window,
            sent: Mutex::new(VecDeque::with_capacity(limit.min(4096))),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until a request may be sent: first any shared pause, then a place in the window.
    pub(crate) async fn acquire(&self) {
        loop {
            while let Some(until) = self.pause_deadline() {
                tokio::time::sleep_until(until).await;
            }
            match self.try_take(Instant::now()) {
                None => return,
                Some(free_at) => tokio::time::sleep_until(free_at).await,
            }
        }
    }

    /// Takes a place in the window at `now`, or says when the next one frees.
    fn try_take(&self, now: Instant) -> Option<Instant> {
        let mut sent = self.sent.locked();
        while sent.front().is_some_and(|t| *t + self.window <= now) {
            sent.pop_front();
        }
        if sent.len() < self.limit {
            sent.push_back(now);
            return None;
        }
        sent.front().map(|oldest| *oldest + self.window)
    }

    /// Requests that may still be sent in the current window.
    pub(crate) fn remaining(&self) -> usize {
        let now = Instant::now();
        let sent = self.sent.locked();
        let in_window = sent.iter().filter(|t| **t + self.window > now).count();
        self.limit.saturating_sub(in_window)
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
                    l.acquire().await;
                    Instant::now()
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
