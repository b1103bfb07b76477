//! Test controls under `/_sim/` (no auth, never faulted, never logged) and [`SimControl`], the
//! typed reqwest client for them. Routes:
//!
//! | Method & path | Body | Answer |
//! |---|---|---|
//! | `POST /_sim/faults` | [`FaultSpec`] | `{"id": n}` |
//! | `GET /_sim/faults` | | `{"faults": [...]}` |
//! | `DELETE /_sim/faults` | | `{"cleared": n}` |
//! | `GET /_sim/clock` | | `{"now": ms}` |
//! | `POST /_sim/clock/advance` | `{"seconds": n}` | `{"now": ms}` |
//! | `GET /_sim/calls` | | `{"calls": [CallRecord...]}` |
//! | `DELETE /_sim/calls` | | clears calls and counters |
//! | `GET /_sim/counters` | | `{"counters": {"GET /v2/products": 3}}` |
//! | `POST /_sim/reset` | | reloads the scenario; clears faults, calls, counters, clock, tokens |
//! | `POST /_sim/tokens/revoke` | | `{"revoked": n}` |
//! | `POST /_sim/token-lifetime` | `{"clientId", "seconds"}` | `{"clientId", "seconds"}` |
//! | `POST /_sim/products/{uid}/status` | `{"provisioningStatus"}` | the product |
//! | `POST /_sim/products/{uid}/vxcPermitted` | `{"value": bool}` | the product |

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::SimulatorError;
use super::api::json_response;
use super::calllog::CallRecord;
use super::faults::FaultSpec;
use super::json as render;
use super::server::Shared;

/// A failed control request: status and message (`{"error": ...}`).
struct Fail(u16, String);

fn fail(status: u16, msg: impl Into<String>) -> Fail {
    Fail(status, msg.into())
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Fail> {
    serde_json::from_slice(body).map_err(|e| fail(400, format!("invalid body: {e}")))
}

#[derive(Deserialize)]
struct Advance {
    seconds: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lifetime {
    client_id: String,
    seconds: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody {
    provisioning_status: String,
}

#[derive(Deserialize)]
struct BoolBody {
    value: bool,
}

#[derive(Deserialize)]
struct TimesBody {
    times: u32,
}

/// Answers a `/_sim/` request.
pub fn handle(shared: &Shared, method: &str, path: &str, body: &Bytes) -> Response<Body> {
    match route(shared, method, path, body) {
        Ok(v) => json_response(200, &v),
        Err(Fail(status, msg)) => json_response(status, &json!({"error": msg})),
    }
}

fn route(shared: &Shared, method: &str, path: &str, body: &Bytes) -> Result<Value, Fail> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let ok = Ok;
    match (method, segs.as_slice()) {
        ("POST", ["faults"]) => {
            let spec: FaultSpec = parse(body)?;
            let id = shared.faults().add(spec).map_err(|e| fail(400, e))?;
            ok(json!({"id": id}))
        }
        ("GET", ["faults"]) => ok(json!({"faults": shared.faults().list()})),
        ("DELETE", ["faults"]) => ok(json!({"cleared": shared.faults().clear()})),
        ("GET", ["clock"]) => ok(json!({"now": shared.world().now()})),
        ("POST", ["clock", "advance"]) => {
            let a: Advance = parse(body)?;
            if !a.seconds.is_finite() || a.seconds < 0.0 {
                return Err(fail(400, "seconds must be a non-negative number"));
            }
            let mut w = shared.world();
            let now = w.advance_clock((a.seconds * 1000.0).round() as i64);
            w.tick(now);
            ok(json!({"now": now}))
        }
        ("GET", ["calls"]) => ok(json!({"calls": shared.log().calls()})),
        ("DELETE", ["calls"]) => {
            shared.log().clear();
            ok(json!({"cleared": true}))
        }
        ("GET", ["counters"]) => ok(json!({"counters": shared.log().counters()})),
        ("GET", ["limits"]) => ok(shared.limits_usage()),
        ("POST", ["limits"]) => {
            let change: crate::limits::LimitsUpdate = parse(body)?;
            shared.update_limits(&change).map_err(|e| fail(400, e))?;
            ok(shared.limits_usage())
        }
        ("POST", ["reset"]) => {
            shared.reset().map_err(|e| fail(500, e.to_string()))?;
            ok(json!({"reset": true}))
        }
        ("POST", ["tokens", "revoke"]) => {
            let mut w = shared.world();
            let n = w.tokens.len();
            w.revoke_tokens();
            ok(json!({"revoked": n}))
        }
        ("POST", ["token-lifetime"]) => {
            let l: Lifetime = parse(body)?;
            shared
                .world()
                .set_token_lifetime(&l.client_id, l.seconds)
                .map_err(|e| fail(404, e.message))?;
            ok(json!({"clientId": l.client_id, "seconds": l.seconds.max(1)}))
        }
        ("POST", ["products", uid, "status"]) => {
            let b: StatusBody = parse(body)?;
            let mut w = shared.world();
            let now = w.now();
            w.set_status(uid, &b.provisioning_status, now)
                .map_err(|e| fail(e.status, e.message))?;
            let p = w
                .product(uid)
                .map(|p| render::product(&w, p))
                .unwrap_or(Value::Null);
            ok(p)
        }
        ("POST", ["products", uid, "emptyZoneReads"]) => {
            let b: TimesBody = parse(body)?;
            let mut w = shared.world();
            if w.product(uid).is_none() {
                return Err(fail(404, format!("no product {uid}")));
            }
            w.empty_zone_reads.insert((*uid).to_owned(), b.times);
            ok(json!({"productUid": uid, "times": b.times}))
        }
        ("POST", ["products", uid, "vxcPermitted"]) => {
            let b: BoolBody = parse(body)?;
            let mut w = shared.world();
            w.set_vxc_permitted(uid, b.value)
                .map_err(|e| fail(e.status, e.message))?;
            let p = w
                .product(uid)
                .map(|p| render::product(&w, p))
                .unwrap_or(Value::Null);
            ok(p)
        }
        _ => Err(fail(404, format!("no simulator control {method} {path}"))),
    }
}

/// Typed client for the `/_sim/` controls of a running simulator.
#[derive(Debug, Clone)]
pub struct SimControl {
    base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Id {
    id: u64,
}
#[derive(Deserialize)]
struct Now {
    now: i64,
}
#[derive(Deserialize)]
struct Calls {
    calls: Vec<CallRecord>,
}
#[derive(Deserialize)]
struct Counters {
    counters: BTreeMap<String, u64>,
}

impl SimControl {
    /// A client for the simulator at `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(base_url: &str) -> SimControl {
        crate::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        SimControl {
            base: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// Sends a control request whose answer carries nothing to read.
    async fn act(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(), SimulatorError> {
        self.send::<Value>(method, path, body).await.map(drop)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, SimulatorError> {
        let mut req = self
            .http
            .request(method, format!("{}/_sim/{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| SimulatorError::Control(e.to_string()))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| SimulatorError::Control(e.to_string()))?;
        if !status.is_success() {
            return Err(SimulatorError::Control(format!(
                "/_sim/{path}: HTTP {status}: {text}"
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| SimulatorError::Control(format!("/_sim/{path}: {e}")))
    }

    /// Injects a fault; returns its id.
    pub async fn inject_fault(&self, spec: &FaultSpec) -> Result<u64, SimulatorError> {
        let body =
            serde_json::to_value(spec).map_err(|e| SimulatorError::Control(e.to_string()))?;
        Ok(self
            .send::<Id>(reqwest::Method::POST, "faults", Some(body))
            .await?
            .id)
    }
    /// Changes Megaport's rate limit (`{"enabled", "requests", "windowSeconds"}`, each
    /// optional); returns the limit and its use.
    pub async fn set_limits(&self, change: Value) -> Result<Value, SimulatorError> {
        self.send::<Value>(reqwest::Method::POST, "limits", Some(change))
            .await
    }
    /// The rate limit and what each client used of its window.
    pub async fn limits(&self) -> Result<Value, SimulatorError> {
        self.send::<Value>(reqwest::Method::GET, "limits", None)
            .await
    }
    /// Makes the next `times` product lists show product `uid` with an empty `diversityZone`.
    pub async fn empty_zone_reads(&self, uid: &str, times: u32) -> Result<(), SimulatorError> {
        let path = format!("products/{uid}/emptyZoneReads");
        let body = json!({"times": times});
        self.act(reqwest::Method::POST, &path, Some(body)).await
    }
    /// Removes every fault.
    pub async fn clear_faults(&self) -> Result<(), SimulatorError> {
        self.act(reqwest::Method::DELETE, "faults", None).await
    }
    /// Moves the simulated clock forward; returns the new now (epoch ms).
    pub async fn advance_clock(&self, by: Duration) -> Result<i64, SimulatorError> {
        let body = json!({"seconds": by.as_secs_f64()});
        Ok(self
            .send::<Now>(reqwest::Method::POST, "clock/advance", Some(body))
            .await?
            .now)
    }
    /// The simulated now (epoch ms).
    pub async fn now(&self) -> Result<i64, SimulatorError> {
        Ok(self
            .send::<Now>(reqwest::Method::GET, "clock", None)
            .await?
            .now)
    }
    /// The call log.
    pub async fn calls(&self) -> Result<Vec<CallRecord>, SimulatorError> {
        Ok(self
            .send::<Calls>(reqwest::Method::GET, "calls", None)
            .await?
            .calls)
    }
    /// Clears the call log and counters.
    pub async fn clear_calls(&self) -> Result<(), SimulatorError> {
        self.act(reqwest::Method::DELETE, "calls", None).await
    }
    /// Requests per `METHOD /route/{template}`.
    pub async fn counters(&self) -> Result<BTreeMap<String, u64>, SimulatorError> {
        Ok(self
            .send::<Counters>(reqwest::Method::GET, "counters", None)
            .await?
            .counters)
    }
    /// One counter (`"GET /v2/products"`), 0 when never hit.
    pub async fn counter(&self, key: &str) -> Result<u64, SimulatorError> {
        Ok(self.counters().await?.get(key).copied().unwrap_or(0))
    }
    /// Reloads the scenario and clears faults, calls, counters, clock offset and tokens.
    pub async fn reset(&self) -> Result<(), SimulatorError> {
        self.act(reqwest::Method::POST, "reset", None).await
    }
    /// Invalidates every issued token.
    pub async fn revoke_tokens(&self) -> Result<(), SimulatorError> {
        self.act(reqwest::Method::POST, "tokens/revoke", None).await
    }
    /// Overrides an API key's token lifetime (seconds; any value ≥ 1).
    pub async fn set_token_lifetime(
        &self,
        client_id: &str,
        secs: u64,
    ) -> Result<(), SimulatorError> {
        let body = json!({"clientId": client_id, "seconds": secs});
        self.act(reqwest::Method::POST, "token-lifetime", Some(body))
            .await
    }
    /// Forces a product's provisioning status.
    pub async fn set_product_status(&self, uid: &str, status: &str) -> Result<(), SimulatorError> {
        let body = json!({"provisioningStatus": status});
        let path = format!("products/{uid}/status");
        self.act(reqwest::Method::POST, &path, Some(body)).await
    }
    /// Sets a product's `vxcPermitted`.
    pub async fn set_vxc_permitted(&self, uid: &str, value: bool) -> Result<(), SimulatorError> {
        let body = json!({"value": value});
        let path = format!("products/{uid}/vxcPermitted");
        self.act(reqwest::Method::POST, &path, Some(body)).await
    }
}
