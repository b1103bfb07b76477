//! Megaport's documented API rate limit, enforced per client address: at most `requests` in
//! any rolling `window` (500 per 300 s by default, as docs.megaport.com states it), answered
//! past that with 429 and `Retry-After` (whole seconds until a place in the window frees).
//! On by default; tests and benchmarks switch it off or scale it (`/_sim/limits`).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

/// Megaport's documented limit.
pub const DEFAULT_REQUESTS: u32 = 500;
/// Megaport's documented window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

/// The limit and what each client address sent in its window.
#[derive(Debug)]
pub struct RateLimits {
    enabled: bool,
    requests: u32,
    window: Duration,
    sent: BTreeMap<String, VecDeque<Instant>>,
    refused: u64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            requests: DEFAULT_REQUESTS,
            window: DEFAULT_WINDOW,
            sent: BTreeMap::new(),
            refused: 0,
        }
    }
}

/// A change of the limit (`POST /_sim/limits`); absent fields keep their value.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitsUpdate {
    /// On or off.
    pub enabled: Option<bool>,
    /// Requests per window.
    pub requests: Option<u32>,
    /// The window, seconds (fractions allowed).
    pub window_seconds: Option<f64>,
}

impl RateLimits {
    /// Counts a request from `client` at `now`: `Err(retry_after)` when it is over the limit
    /// (the request is not counted then, as a refused one does not reach the API).
    pub fn admit(&mut self, client: &str, now: Instant) -> Result<(), Duration> {
        if !self.enabled {
            return Ok(());
        }
        let window = self.window;
        let sent = self.sent.entry(client.to_owned()).or_default();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            sent.pop_front();
        }
        if sent.len() < usize::try_from(self.requests).unwrap_or(usize::MAX) {
            sent.push_back(now);
            return Ok(());
        }
        self.refused += 1;
        let oldest = sent.front().copied().unwrap_or(now);
        Err(window.saturating_sub(now.duration_since(oldest)))
    }

    /// Applies a change (the counts so far are kept).
    pub fn update(&mut self, change: &LimitsUpdate) -> Result<(), String> {
        if let Some(s) = change.window_seconds {
            if !s.is_finite() || s <= 0.0 {
                return Err("windowSeconds must be a positive number".into());
            }
            self.window = Duration::from_secs_f64(s);
        }
        if let Some(n) = change.requests {
            self.requests = n.max(1);
        }
        if let Some(on) = change.enabled {
            self.enabled = on;
        }
        Ok(())
    }

    /// The limit, what each client has used of its current window, and how many requests
    /// were refused.
    pub fn usage(&self, now: Instant) -> Value {
        let used: BTreeMap<&String, usize> = self
            .sent
            .iter()
            .map(|(client, sent)| {
                (
                    client,
                    sent.iter()
                        .filter(|t| now.duration_since(**t) < self.window)
                        .count(),
                )
            })
            .collect();
        json!({
            "enabled": self.enabled,
            "requests": self.requests,
            "windowSeconds": self.window.as_secs_f64(),
            "used": used,
            "refused": self.refused,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_refuses_past_the_limit_per_client_and_says_when_to_retry() {
        let mut limits = RateLimits::default();
        limits
            .update(&LimitsUpdate {
                requests: Some(3),
                window_seconds: Some(10.0),
                ..LimitsUpdate::default()
            })
            .unwrap_or_default();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(limits.admit("a", t0 + Duration::from_secs(i)).is_ok());
        }
        assert_eq!(
            limits.admit("a", t0 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        assert!(
            limits.admit("b", t0 + Duration::from_secs(4)).is_ok(),
            "per client address"
        );
        assert!(
            limits.admit("a", t0 + Duration::from_secs(10)).is_ok(),
            "the first left the window"
        );
        assert_eq!(limits.usage(t0 + Duration::from_secs(10))["refused"], 1);
        limits
            .update(&LimitsUpdate {
                enabled: Some(false),
                ..LimitsUpdate::default()
            })
            .unwrap_or_default();
        assert!((0..100).all(|_| limits.admit("a", t0 + Duration::from_secs(11)).is_ok()));
    }
}
