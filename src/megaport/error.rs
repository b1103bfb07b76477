//! The client's error type: one enum for everything that can go wrong talking to Megaport.
//!
//! Errors keep what an operator needs to act on them (HTTP status, Megaport's `message` and
//! `data`, the `Trace-Id` for support) and never what must stay private: no credential, token
//! or service key appears in any variant. Transport errors are stored without their URL (a key
//! lookup carries the key in the query string), decode errors keep only the position and the
//! category of the failure, and callers redact the key they sent with [`MegaportError::redact`].

use std::fmt;

use serde_json::Value;

/// The `data` member of a Megaport error body: a string, an array or an object.
#[derive(Clone, Debug, PartialEq)]
pub enum ErrorData {
    /// The usual case, e.g. `"Missing markets: Sweden"`.
    Text(String),
    /// An array of error fragments (older validation errors).
    List(Vec<Value>),
    /// An object of error fragments.
    Object(serde_json::Map<String, Value>),
}

impl ErrorData {
    /// Interprets a JSON value as error data; `null` means there is none.
    pub fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(Self::Text(s)),
            Value::Array(items) => Some(Self::List(items)),
            Value::Object(map) => Some(Self::Object(map)),
            other => Some(Self::Text(other.to_string())),
        }
    }

    fn redact(&mut self, secret: &str) {
        match self {
            Self::Text(s) => *s = redact_str(s, secret),
            Self::List(items) => items.iter_mut().for_each(|v| redact_value(v, secret)),
            Self::Object(map) => map.values_mut().for_each(|v| redact_value(v, secret)),
        }
    }
}

impl fmt::Display for ErrorData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(s) => f.write_str(s),
            Self::List(items) => {
                let parts: Vec<String> = items.iter().map(fragment_text).collect();
                f.write_str(&parts.join("; "))
            }
            Self::Object(map) => {
                let parts: Vec<String> = map
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", fragment_text(v)))
                    .collect();
                f.write_str(&parts.join("; "))
            }
        }
    }
}

/// One fragment of array/object error data as text: strings bare, objects as `k: v` pairs.
fn fragment_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", fragment_text(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn redact_str(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    text.replace(secret, "<redacted>")
}

fn redact_value(value: &mut Value, secret: &str) {
    match value {
        Value::String(s) => *s = redact_str(s, secret),
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value(v, secret)),
        Value::Object(map) => map.values_mut().for_each(|v| redact_value(v, secret)),
        _ => {}
    }
}

/// Everything the Megaport client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum MegaportError {
    /// The API answered with a non-success status.
    #[error("{}", api_display(*status, endpoint, message, data.as_ref(), trace_id.as_deref()))]
    Api {
        /// The endpoint as a route template, e.g. `GET /v2/product/{uid}`.
        endpoint: &'static str,
        /// HTTP status code.
        status: u16,
        /// Megaport's `message` (or the raw body when it was not an envelope).
        message: String,
        /// Megaport's `data` detail, when present.
        data: Option<ErrorData>,
        /// The `Trace-Id` response header (or body field), for Megaport support.
        trace_id: Option<String>,
        /// Whether the body was a Megaport envelope (a bare 404 from a proxy or a wrong base URL
        /// is not evidence that an object is gone).
        envelope: bool,
    },
    /// The token endpoint refused the credentials or answered with something unusable.
    #[error("Megaport authentication failed (HTTP {status}): {message}")]
    Auth {
        /// HTTP status of the token endpoint (0 when the body of a 2xx carried the error).
        status: u16,
        /// What went wrong, e.g. `invalid_client`. Never contains a credential.
        message: String,
    },
    /// The request never got an HTTP answer (connection refused or reset, timeout, TLS).
    #[error("Megaport request {endpoint} failed: {source}")]
    Transport {
        /// Route template of the request.
        endpoint: &'static str,
        /// What failed (the reqwest error, stripped of its URL).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The response body did not match the expected shape.
    #[error("cannot decode the Megaport response of {endpoint}: {detail}")]
    Decode {
        /// Route template of the request.
        endpoint: &'static str,
        /// Category and position of the failure (never the offending value).
        detail: String,
    },
    /// The client was configured or called with something unusable.
    #[error("invalid Megaport client configuration: {0}")]
    Config(String),
}

fn api_display(
    status: u16,
    endpoint: &str,
    message: &str,
    data: Option<&ErrorData>,
    trace_id: Option<&str>,
) -> String {
    let mut out = format!("Megaport API {endpoint} returned HTTP {status}: {message}");
    if let Some(data) = data {
        out.push_str(&format!(" ({data})"));
    }
    if let Some(trace) = trace_id {
        out.push_str(&format!(" [trace {trace}]"));
    }
    out
}

impl MegaportError {
    /// The HTTP status, when the API answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            Self::Auth { status, .. } if *status != 0 => Some(*status),
            _ => None,
        }
    }

    /// The Megaport trace id, when the API gave one.
    pub fn trace_id(&self) -> Option<&str> {
        match self {
            Self::Api { trace_id, .. } => trace_id.as_deref(),
            _ => None,
        }
    }

    /// True when trying again later may succeed: rate limiting, server and gateway errors,
    /// maintenance, transport failures. Validation, permission and not-found errors are not.
    /// (The client's own automatic retries are narrower: it does not repeat a call that got a
    /// 500, because the request may have run; a controller may after re-reading state.)
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            Self::Auth { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            Self::Transport { .. } => true,
            Self::Decode { .. } | Self::Config(_) => false,
        }
    }

    /// True when the object does not exist: a 404 from the API (with its envelope), or the
    /// older 400 `Could not find a service with UID ...`.
    pub fn is_not_found(&self) -> bool {
        match self {
            Self::Api {
                status: 404,
                envelope,
                ..
            } => *envelope,
            Self::Api {
                status: 400,
                message,
                data,
                ..
            } => {
                const NEEDLE: &str = "Could not find a service with UID";
                message.contains(NEEDLE)
                    || matches!(data, Some(ErrorData::Text(text)) if text.contains(NEEDLE))
            }
            _ => false,
        }
    }

    /// Whether Megaport answered and refused this very call (a 4xx other than 401, which the
    /// client recovers from, and 429, which is a pause): sending it again unchanged will not
    /// help, a human must change the request or the account. The one classifier the
    /// controllers use; [`Self::category`] labels the same errors for metrics.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Api { status, .. } if (400..500).contains(status) && !matches!(status, 401 | 429))
    }

    /// True for 401/403: the credentials are wrong or lack the role for the call.
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Auth { .. }) || matches!(self.status(), Some(401 | 403))
    }

    /// A short, fixed category for metric labels and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Api { status: 429, .. } => "rate_limited",
            Self::Api {
                status: 401 | 403, ..
            }
            | Self::Auth { .. } => "auth",
            e if e.is_not_found() => "not_found",
            Self::Api {
                status: 400..=499, ..
            } => "rejected",
            Self::Api { .. } => "server",
            Self::Transport { .. } => "transport",
            Self::Decode { .. } => "decode",
            Self::Config(_) => "config",
        }
    }

    /// Removes a service key the request carried from the error: the key and its
    /// 8-character prefix (Megaport echoes either in messages, and a prefix is enough to look
    /// a key up).
    pub fn redact_service_key(self, key: &str) -> Self {
        let redacted = self.redact(key);
        match key.get(..8) {
            Some(prefix) if prefix.len() < key.len() => redacted.redact(prefix),
            _ => redacted,
        }
    }

    /// Replaces every occurrence of `secret` in the error's message and data.
    pub fn redact(mut self, secret: &str) -> Self {
        if let Self::Api { message, data, .. } = &mut self {
            *message = redact_str(message, secret);
            if let Some(data) = data {
                data.redact(secret);
            }
        }
        self
    }
}

/// A serde_json error reduced to its category and position: the message itself can quote the
/// offending value, which may be a service key.
pub(crate) fn decode_detail(err: &serde_json::Error) -> String {
    let category = match err.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "malformed JSON",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{category} at line {} column {}", err.line(), err.column())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api(status: u16, message: &str, data: Value) -> MegaportError {
        MegaportError::Api {
            endpoint: "GET /v2/product/{uid}",
            status,
            message: message.into(),
            data: ErrorData::from_value(data),
            trace_id: Some("trace-1".into()),
            envelope: true,
        }
    }

    #[test]
    fn a_bare_404_is_not_proof_of_absence() {
        let bare = MegaportError::Api {
            endpoint: "GET /v2/product/{uid}",
            status: 404,
            message: "<html>Not Found</html>".into(),
            data: None,
            trace_id: None,
            envelope: false,
        };
        assert!(!bare.is_not_found());
    }

    #[test]
    fn service_key_prefix_is_redacted_too() {
        let key = "5d3c2b1a-0f9e-4d8c-b7a6-112233445566";
        let err = api(
            404,
            "Could not find service key [5d3c2b1a]",
            json!(format!("key {key}")),
        )
        .redact_service_key(key);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("5d3c2b1a"), "{shown}");
    }

    #[test]
    fn not_found_in_both_forms() {
        assert!(api(404, "Not Found", Value::Null).is_not_found());
        assert!(api(400, "Could not find a service with UID abc", Value::Null).is_not_found());
        assert!(
            api(
                400,
                "Bad request",
                json!("Could not find a service with UID x")
            )
            .is_not_found()
        );
        assert!(!api(400, "Validation failed", json!("Missing markets: Sweden")).is_not_found());
        assert!(!api(500, "Could not find a service with UID", Value::Null).is_not_found());
    }

    #[test]
    fn retryable_statuses() {
        for status in [429, 500, 502, 503, 504] {
            assert!(api(status, "x", Value::Null).is_retryable(), "{status}");
        }
        for status in [400, 401, 403, 404, 409] {
            assert!(!api(status, "x", Value::Null).is_retryable(), "{status}");
        }
    }

    #[test]
    fn data_shapes_render() {
        let text = api(400, "Validation failed", json!("Missing markets: Sweden"));
        assert_eq!(
            text.to_string(),
            "Megaport API GET /v2/product/{uid} returned HTTP 400: Validation failed \
             (Missing markets: Sweden) [trace trace-1]"
        );
        let list = api(
            400,
            "Validation failed",
            json!([{"field": "vlan"}, "bad speed"]),
        );
        assert!(
            list.to_string().contains("(field: vlan; bad speed)"),
            "{list}"
        );
        let obj = api(
            400,
            "Validation failed",
            json!({"vlan": "taken", "rateLimit": 5}),
        );
        assert!(
            obj.to_string().contains("rateLimit: 5; vlan: taken"),
            "{obj}"
        );
    }

    #[test]
    fn redact_removes_secret_everywhere() {
        let secret = "5d3c2b1a-0f9e-4d8c-b7a6-112233445566";
        let err = api(
            400,
            &format!("Service key [{secret}] is invalid"),
            json!({"detail": [format!("key {secret}")]}),
        )
        .redact(secret);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn decode_detail_hides_values() {
        let err = serde_json::from_str::<u32>("\"5d3c2b1a-secret\"").unwrap_err();
        let detail = decode_detail(&err);
        assert!(!detail.contains("secret"), "{detail}");
        assert!(detail.contains("unexpected shape"));
    }
}
