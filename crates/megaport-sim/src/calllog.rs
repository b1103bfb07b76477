//! The call log and per-route counters of `/_sim/calls` and `/_sim/counters`. Records never
//! hold a secret: no headers or bodies are kept, and service keys in the path (`%3Fkey=`) or the
//! query (`key=`) are replaced by `<redacted>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most calls kept (oldest dropped first).
pub const MAX_CALLS: usize = 10_000;

/// One API request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// Sequence number (from 1).
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Raw request path (service keys redacted).
    pub path: String,
    /// Raw query string (service keys redacted), if any.
    pub query: Option<String>,
    /// Status answered (0 when the connection was dropped).
    pub status: u16,
    /// Client id of the caller (from the bearer token or Basic auth), if known.
    pub client_id: Option<String>,
    /// Simulated time of the request (epoch ms).
    pub at: i64,
}

/// Calls and counters.
#[derive(Debug, Default)]
pub struct CallLog {
    next_seq: u64,
    calls: Vec<CallRecord>,
    counters: BTreeMap<String, u64>,
}

impl CallLog {
    /// Counts a request that reached a route (`"GET /v2/product/{uid}"`).
    pub fn count(&mut self, key: String) {
        *self.counters.entry(key).or_insert(0) += 1;
    }

    /// Records a finished request (path and query are redacted here).
    pub fn record(
        &mut self,
        method: &str,
        path: &str,
        query: Option<&str>,
        status: u16,
        client_id: Option<String>,
        at: i64,
    ) {
        self.next_seq += 1;
        if self.calls.len() >= MAX_CALLS {
            self.calls.remove(0);
        }
        self.calls.push(CallRecord {
            seq: self.next_seq,
            method: method.to_string(),
            path: redact_path(path),
            query: query.map(redact_query),
            status,
            client_id,
            at,
        });
    }

    /// All recorded calls.
    pub fn calls(&self) -> &[CallRecord] {
        &self.calls
    }

    /// The counters.
    pub fn counters(&self) -> &BTreeMap<String, u64> {
        &self.counters
    }

    /// Forgets calls and counters.
    pub fn clear(&mut self) {
        self.calls.clear();
        self.counters.clear();
    }
}

/// Replaces the value of `key=` parameters with `<redacted>`.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|part| match part.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("key") => format!("{k}=<redacted>"),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Redacts the `%3Fkey=...` form of a path (and its fully encoded `%3Fkey%3D...` variant):
/// everything after the encoded `?` is dropped.
pub fn redact_path(path: &str) -> String {
    let lower = path.to_ascii_lowercase();
    match lower.find("%3f") {
        Some(i) => format!("{}key=<redacted>", &path[..i + 3]),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_keys_in_query_and_encoded_path() {
        assert_eq!(redact_query("key=abc&x=1"), "key=<redacted>&x=1");
        assert_eq!(redact_query("productIdOrUid=p"), "productIdOrUid=p");
        assert_eq!(
            redact_path("/v2/service/key%3Fkey=106e38ae-eb59"),
            "/v2/service/key%3Fkey=<redacted>"
        );
        assert_eq!(
            redact_path("/v2/service/key%3fkey%3D106e38ae-eb59"),
            "/v2/service/key%3fkey=<redacted>"
        );
        assert_eq!(redact_path("/v2/products"), "/v2/products");
    }

    #[test]
    fn counts_and_records() {
        let mut log = CallLog::default();
        log.count("GET /v2/products".into());
        log.count("GET /v2/products".into());
        log.record(
            "GET",
            "/v2/service/key",
            Some("key=secret"),
            200,
            Some("c".into()),
            5,
        );
        assert_eq!(log.counters()["GET /v2/products"], 2);
        assert_eq!(log.calls()[0].query.as_deref(), Some("key=<redacted>"));
        assert_eq!(log.calls()[0].seq, 1);
        log.clear();
        assert!(log.calls().is_empty());
    }
}
