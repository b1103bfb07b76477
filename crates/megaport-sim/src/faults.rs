//! Fault injection: the [`FaultSpec`] a test posts to `/_sim/faults` (also the typed argument of
//! [`super::SimControl::inject_fault`]) and the registry that decides, per API request, whether
//! a fault applies (method + path prefix, `times`, `probability`; first match wins).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Answer with `status` (and `Retry-After`, `data`) instead of handling the request.
    Status,
    /// Wait `latencyMs` before handling the request normally.
    Latency,
    /// Close the connection without an answer.
    Drop,
    /// Handle the request (the change is made), then, after `latencyMs` if given, close the
    /// connection without the answer: the caller cannot tell whether it happened.
    #[serde(rename = "lostAnswer")]
    LostAnswer,
}

/// A fault to inject (JSON body of `POST /_sim/faults`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    /// Only requests with this method (any case); absent = every method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Only requests whose path starts with this; absent = every API route (never `/_sim`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// HTTP status for `status` faults (default 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Retry-After` header value, sent verbatim (seconds or an HTTP date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    /// `message` of the error envelope (default: the status's reason phrase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `data` of the error envelope (default: a string naming the fault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Delay of `latency` faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Only the next N matching requests (absent = until cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Chance (0..=1) that a matching request is affected (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl FaultSpec {
    fn of(kind: FaultKind) -> Self {
        Self {
            method: None,
            path: None,
            kind,
            status: None,
            retry_after: None,
            message: None,
            data: None,
            latency_ms: None,
            times: None,
            probability: None,
        }
    }
    /// Answer with an HTTP status.
    pub fn status(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::of(FaultKind::Status)
        }
    }
    /// Delay requests.
    pub fn latency(ms: u64) -> Self {
        Self {
            latency_ms: Some(ms),
            ..Self::of(FaultKind::Latency)
        }
    }
    /// Close connections without answering.
    pub fn drop_connection() -> Self {
        Self::of(FaultKind::Drop)
    }
    /// Handle requests, then hold the answer for `hold_ms` and close without it.
    pub fn lost_answer(hold_ms: u64) -> Self {
        Self {
            latency_ms: Some(hold_ms),
            ..Self::of(FaultKind::LostAnswer)
        }
    }
    /// Restrict to a method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_string());
        self
    }
    /// Restrict to a path prefix.
    pub fn path(mut self, path: &str) -> Self {
        self.path = Some(path.to_string());
        self
    }
    /// Add a `Retry-After` header.
    pub fn retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.to_string());
        self
    }
    /// Set the error body's `message`.
    pub fn message(mut self, message: &str) -> Self {
        self.message = Some(message.to_string());
        self
    }
    /// Set the error body's `data`.
    pub fn data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
    /// Affect only the next `n` matching requests.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }
    /// Affect matching requests with this probability.
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = Some(p);
        self
    }

    fn matches(&self, method: &str, paths: &[&str]) -> bool {
        self.method
            .as_ref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path
                .as_ref()
                .is_none_or(|p| paths.iter().any(|path| path.starts_with(p.as_str())))
    }
}

#[derive(Debug, Clone)]
struct ActiveFault {
    id: u64,
    spec: FaultSpec,
    remaining: Option<u64>,
}

/// The active faults.
#[derive(Debug, Default)]
pub struct FaultRegistry {
    next_id: u64,
    faults: Vec<ActiveFault>,
}

impl FaultRegistry {
    /// Adds a fault; returns its id, or why the spec is invalid.
    pub fn add(&mut self, spec: FaultSpec) -> Result<u64, String> {
        if let Some(p) = spec.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err("probability must be between 0 and 1".into());
        }
        match spec.kind {
            FaultKind::Status if spec.status.is_some_and(|s| !(100..=599).contains(&s)) => {
                return Err("status must be an HTTP status code".into());
            }
            FaultKind::Latency if spec.latency_ms.is_none() => {
                return Err("latency faults need latencyMs".into());
            }
            _ => {}
        }
        if spec.times == Some(0) {
            return Err("times must be at least 1".into());
        }
        self.next_id += 1;
        self.faults.push(ActiveFault {
            id: self.next_id,
            remaining: spec.times,
            spec,
        });
        Ok(self.next_id)
    }

    /// Removes every fault; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.faults.len();
        self.faults.clear();
        n
    }

    /// The active faults as JSON.
    pub fn list(&self) -> Vec<Value> {
        self.faults
            .iter()
            .map(|f| serde_json::json!({"id": f.id, "spec": f.spec, "remaining": f.remaining}))
            .collect()
    }

    /// The fault that applies to a request, if any (consumes one of its `times`).
    /// `paths` are the forms of the request path to match (raw and normalised);
    /// `roll` is a uniform random number in [0, 1).
    pub fn take(&mut self, method: &str, paths: &[&str], roll: f64) -> Option<FaultSpec> {
        let idx = self.faults.iter().position(|f| {
            f.spec.matches(method, paths) && roll < f.spec.probability.unwrap_or(1.0)
        })?;
        let fault = &mut self.faults[idx];
        let spec = fault.spec.clone();
        if let Some(n) = fault.remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.faults.remove(idx);
            }
        }
        Some(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_match_wins_and_times_run_out() {
        let mut r = FaultRegistry::default();
        r.add(FaultSpec::status(429).path("/v2/products").times(2))
            .expect("add");
        r.add(FaultSpec::status(503)).expect("add");
        assert_eq!(
            r.take("GET", &["/v2/products"], 0.0).and_then(|f| f.status),
            Some(429)
        );
        assert_eq!(
            r.take("GET", &["/v2/products"], 0.0).and_then(|f| f.status),
            Some(429)
        );
        assert_eq!(
            r.take("GET", &["/v2/products"], 0.0).and_then(|f| f.status),
            Some(503)
        );
        assert_eq!(r.clear(), 1);
        assert!(r.take("GET", &["/v2/products"], 0.0).is_none());
    }

    #[test]
    fn method_and_probability_filters() {
        let mut r = FaultRegistry::default();
        r.add(FaultSpec::drop_connection().method("post").probability(0.5))
            .expect("add");
        assert!(r.take("GET", &["/x"], 0.0).is_none());
        assert!(r.take("POST", &["/x"], 0.7).is_none());
        assert!(r.take("POST", &["/x"], 0.2).is_some());
        assert!(r.add(FaultSpec::latency(1).probability(2.0)).is_err());
        assert!(r.add(FaultSpec::status(503).times(0)).is_err());
    }

    #[test]
    fn serialises_as_documented() {
        let s = FaultSpec::status(429).retry_after("2").times(3);
        assert_eq!(
            serde_json::to_value(&s).expect("json"),
            serde_json::json!({"kind": "status", "status": 429, "retryAfter": "2", "times": 3})
        );
    }
}
