//! Megaport's documented API rate limit, enforced per client address: at most `requests` in
//! any rolling `window` (500 per 300 s by default, as docs.megaport.com states it), answered
//! past that with 429 and `Retry-After` (whole seconds until a place in the window frees).
//! On by default; tests and benchmarks switch it off or scale it (`/_sim/limits`).
//!
//! Also Megaport's documented limit on updates of one service — one per 5 minutes, at most 100
//! per month — as [`ServiceUpdates`], on the simulated clock: off unless the scenario's
//! `settings.serviceUpdates` or `/_sim/limits` turns it on.

use std::collections::{BTreeMap, HashMap, VecDeque};
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
    /// The limit on updates per service.
    pub service_updates: Option<ServiceUpdatesChange>,
}

/// A change of the limit on updates per service; absent fields keep their value.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceUpdatesChange {
    /// On or off.
    pub enabled: Option<bool>,
    /// Least time between two updates of one service, seconds.
    pub spacing_seconds: Option<u64>,
    /// Most updates of one service in any 30 days.
    pub per_month: Option<u32>,
}

/// The documented spacing of updates of one service (5 minutes).
pub const UPDATE_SPACING_SECONDS: u64 = 300;
/// The documented monthly updates of one service.
pub const UPDATES_PER_MONTH: u32 = 100;
const MONTH_MS: i64 = 30 * 24 * 3600 * 1000;

/// Megaport's limit on updates of one service (a Port, MCR, MVE, VXC or service key): one per
/// `spacing`, at most `per_month` in any 30 days, on the simulated clock (epoch ms). A refused
/// update is answered 400 with the rule in the message and changes nothing.
#[derive(Debug, Clone, Default)]
pub struct ServiceUpdates {
    enabled: bool,
    spacing_seconds: u64,
    per_month: u32,
    /// Accepted updates per service (uid, or the key's fingerprint-free name).
    done: HashMap<String, VecDeque<i64>>,
    refused: u64,
}

impl ServiceUpdates {
    /// The limit a scenario sets (off when it sets none).
    pub fn new(spec: Option<&crate::scenario::ServiceUpdatesSpec>) -> Self {
        Self {
            enabled: spec.is_some(),
            spacing_seconds: spec.map_or(UPDATE_SPACING_SECONDS, |s| s.spacing_seconds),
            per_month: spec.map_or(UPDATES_PER_MONTH, |s| s.per_month),
            done: HashMap::new(),
            refused: 0,
        }
    }

    /// Whether `service` (named `what` in the message, never by a secret) may be updated at
    /// `now`; counts the refusal when not.
    pub fn check(&mut self, service: &str, what: &str, now: i64) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let spacing_ms =
            i64::try_from(self.spacing_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        let done = self.done.entry(service.to_owned()).or_default();
        while done.front().is_some_and(|t| now - *t >= MONTH_MS) {
            done.pop_front();
        }
        let refusal = if let Some(last) = done.back().filter(|t| now - **t < spacing_ms) {
            Some(format!(
                "{what} was updated {}s ago: a service can be updated once every {}s; try again in {}s",
                (now - last) / 1000,
                self.spacing_seconds,
                (spacing_ms - (now - last)).div_euclid(1000).max(1)
            ))
        } else if done.len() >= usize::try_from(self.per_month).unwrap_or(usize::MAX) {
            Some(format!(
                "{what} has been updated {} times in the last 30 days: a service can be updated at most {} times per month",
                done.len(),
                self.per_month
            ))
        } else {
            None
        };
        match refusal {
            Some(why) => {
                self.refused += 1;
                Err(why)
            }
            None => Ok(()),
        }
    }

    /// Records an accepted update of `service` at `now`.
    pub fn record(&mut self, service: &str, now: i64) {
        if self.enabled {
            self.done
                .entry(service.to_owned())
                .or_default()
                .push_back(now);
        }
    }

    /// Applies a change (the updates so far are kept).
    pub fn update(&mut self, change: &ServiceUpdatesChange) {
        if let Some(on) = change.enabled {
            self.enabled = on;
        }
        if let Some(s) = change.spacing_seconds {
            self.spacing_seconds = s;
        }
        if let Some(n) = change.per_month {
            self.per_month = n;
        }
    }

    /// The limit and how many updates were refused.
    pub fn usage(&self) -> Value {
        json!({
            "enabled": self.enabled,
            "spacingSeconds": self.spacing_seconds,
            "perMonth": self.per_month,
            "refused": self.refused,
        })
    }
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
    fn updates_of_one_service_are_spaced_and_counted_per_month() {
        let spec = crate::scenario::ServiceUpdatesSpec {
            spacing_seconds: 300,
            per_month: 3,
        };
        let mut limits = ServiceUpdates::new(Some(&spec));
        let minute = 60_000;
        let mut update = |service: &str, at: i64| {
            let result = limits.check(service, "the service key", at);
            if result.is_ok() {
                limits.record(service, at);
            }
            result
        };
        assert!(update("k", 0).is_ok());
        let early = update("k", 4 * minute).unwrap_err();
        assert!(
            early.contains("once every 300s; try again in 60s"),
            "{early}"
        );
        assert!(update("other", 4 * minute).is_ok(), "per service");
        assert!(update("k", 5 * minute).is_ok());
        assert!(update("k", 10 * minute).is_ok());
        let monthly = update("k", 20 * minute).unwrap_err();
        assert!(monthly.contains("at most 3 times per month"), "{monthly}");
        assert!(
            update("k", MONTH_MS + 1).is_ok(),
            "the first left the 30 days"
        );
        assert_eq!(limits.usage()["refused"], 2);
        let mut off = ServiceUpdates::new(None);
        assert!((0..200).all(|i| off.check("k", "k", i).is_ok()));
    }

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
