//! The HTTP server: a hyper HTTP/1 accept loop (so a `drop` fault can close a connection without
//! answering) and the front service every request passes through: `/_sim/` controls go to
//! [`super::control`]; API requests get their `%3Fkey=` path form folded into the query, are
//! counted per route template, may be hit by a fault, are dispatched to [`super::api`], and are
//! recorded in the call log.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::api::{self, ApiRequest};
use super::calllog::CallLog;
use super::control;
use super::faults::{FaultKind, FaultRegistry};
use super::limits::RateLimits;
use super::scenario::Scenario;
use super::state::{ApiError, World};
use super::{SimulatorError, json as render};

/// Largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// State shared by every connection.
pub struct Shared {
    /// The scenario (for `/_sim/reset`).
    pub scenario: Scenario,
    world: Mutex<World>,
    faults: Mutex<FaultRegistry>,
    log: Mutex<CallLog>,
    limits: Mutex<RateLimits>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the world half-updated in a way that matters
    // to a test simulator; keep serving.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Builds the shared state of a scenario.
    pub fn new(scenario: Scenario) -> Result<Shared, SimulatorError> {
        let world = World::from_scenario(&scenario)?;
        Ok(Shared {
            scenario,
            world: Mutex::new(world),
            faults: Mutex::new(FaultRegistry::default()),
            log: Mutex::new(CallLog::default()),
            limits: Mutex::new(RateLimits::default()),
        })
    }
    /// The world (never hold the guard across an await).
    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }
    /// The faults.
    pub fn faults(&self) -> MutexGuard<'_, FaultRegistry> {
        lock(&self.faults)
    }
    /// The call log.
    pub fn log(&self) -> MutexGuard<'_, CallLog> {
        lock(&self.log)
    }
    /// The rate limit.
    pub fn limits(&self) -> MutexGuard<'_, RateLimits> {
        lock(&self.limits)
    }
    /// Changes the rate limit and the limit on updates per service (`POST /_sim/limits`).
    pub fn update_limits(&self, change: &crate::limits::LimitsUpdate) -> Result<(), String> {
        self.limits().update(change)?;
        if let Some(updates) = &change.service_updates {
            self.world().service_updates.update(updates);
        }
        Ok(())
    }
    /// Both limits and their use (`GET /_sim/limits`).
    pub fn limits_usage(&self) -> serde_json::Value {
        let mut usage = self.limits().usage(std::time::Instant::now());
        usage["serviceUpdates"] = self.world().service_updates.usage();
        usage
    }
    /// Reloads the scenario and clears faults, calls, counters, the clock offset and tokens.
    pub fn reset(&self) -> Result<(), SimulatorError> {
        let fresh = World::from_scenario(&self.scenario)?;
        *self.world() = fresh;
        self.faults().clear();
        self.log().clear();
        Ok(())
    }
}

/// Returned by the service to make hyper close the connection without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by a simulated fault")]
pub struct Dropped;

/// Serves until `stop` changes or its sender is dropped.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let shared = shared.clone();
                    let client = peer.ip().to_string();
                    conns.spawn(async move {
                        let svc = service_fn(move |req| front(shared.clone(), client.clone(), req));
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "simulator accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            _ = stop.changed() => break,
        }
        while conns.try_join_next().is_some() {}
    }
    conns.shutdown().await;
}

/// Binds `listen` and starts serving in a task.
pub async fn start(
    shared: Arc<Shared>,
    listen: SocketAddr,
) -> Result<(SocketAddr, watch::Sender<bool>, tokio::task::JoinHandle<()>), SimulatorError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| SimulatorError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimulatorError::Bind {
            addr: listen,
            source,
        })?;
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(serve(listener, shared, rx));
    Ok((addr, tx, task))
}

async fn read_body(body: Incoming) -> Result<Bytes, Response<Body>> {
    axum::body::to_bytes(Body::new(body), MAX_BODY)
        .await
        .map_err(|_| {
            api::error(&ApiError::new(
                413,
                "Payload Too Large",
                "The request body is too large",
            ))
        })
}

/// Splits the `%3F` form (`/v2/service/key%3Fkey=K`) into path and query, as the real gateway does.
pub fn normalise(raw_path: &str, raw_query: Option<&str>) -> (String, Option<String>) {
    let lower = raw_path.to_ascii_lowercase();
    let Some(i) = lower.find("%3f") else {
        return (raw_path.to_string(), raw_query.map(str::to_string));
    };
    let path = raw_path[..i].to_string();
    let embedded = percent_decode(&raw_path[i + 3..]);
    let query = match raw_query {
        Some(q) if !q.is_empty() => format!("{embedded}&{q}"),
        _ => embedded,
    };
    (path, Some(query))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            // Keep '&' and '=' encoded meanings out of the query structure.
            match b {
                b'&' => out.extend_from_slice(b"%26"),
                b'=' => out.extend_from_slice(b"%3D"),
                b'#' => out.extend_from_slice(b"%23"),
                _ => out.push(b),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn client_id_of(shared: &Shared, headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(token) = api::bearer(headers) {
        return shared.world().token_client(token).map(str::to_string);
    }
    api::basic(headers)
        .map(|(id, _)| id)
        .filter(|id| shared.world().is_client(id))
}

fn fault_response(spec: &super::faults::FaultSpec) -> Response<Body> {
    let status = spec.status.unwrap_or(503);
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Simulated fault");
    let data = spec
        .data
        .clone()
        .unwrap_or_else(|| serde_json::Value::String(format!("Simulated fault: HTTP {status}")));
    let message = spec.message.as_deref().unwrap_or(reason);
    let mut resp = api::json_response(status, &render::envelope(message, Some(data)));
    if let Some(ra) = &spec.retry_after
        && let Ok(v) = HeaderValue::from_str(ra)
    {
        resp.headers_mut().insert("Retry-After", v);
    }
    resp
}

async fn front(
    shared: Arc<Shared>,
    client: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let (parts, body) = req.into_parts();
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().map(str::to_string);
    if raw_path == "/_sim" || raw_path.starts_with("/_sim/") {
        let bytes = match read_body(body).await {
            Ok(b) => b,
            Err(resp) => return Ok(resp),
        };
        return Ok(control::handle(
            &shared,
            parts.method.as_str(),
            &raw_path,
            &bytes,
        ));
    }
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(resp) => return Ok(resp),
    };
    respond(
        &shared,
        &client,
        &parts.method,
        &raw_path,
        raw_query.as_deref(),
        &parts.headers,
        bytes,
    )
    .await
}

/// Answers one API request (not a `/_sim/` control) as the server does, whatever carried it:
/// counters, the rate limit of `client` (an address), faults, call log, dispatch. `Err` means
/// the connection is dropped.
pub async fn respond(
    shared: &Shared,
    client: &str,
    http_method: &axum::http::Method,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &axum::http::HeaderMap,
    bytes: Bytes,
) -> Result<Response<Body>, Dropped> {
    let raw_path = raw_path.to_owned();
    let raw_query = raw_query.map(str::to_owned);
    let method = http_method.as_str().to_string();
    let (path, query) = normalise(&raw_path, raw_query.as_deref());
    let route = api::find_route(&method, &path);
    if let Ok(r) = &route {
        shared.log().count(format!("{method} {}", r.template));
    }
    let client_id = client_id_of(shared, headers);
    let fault = shared
        .faults()
        .take(&method, &[&path, &raw_path], rand::random::<f64>());
    let record = |status: u16| {
        let at = shared.world().now();
        shared.log().record(
            &method,
            &raw_path,
            raw_query.as_deref(),
            status,
            client_id.clone(),
            at,
        );
    };
    // Megaport's rate limit, before anything reaches the API (an injected fault comes first:
    // it stands for something between the client and the API).
    if fault.is_none()
        && let Err(retry) = shared.limits().admit(client, std::time::Instant::now())
    {
        shared.log().count("429 rate limited".to_owned());
        let mut resp = api::json_response(
            429,
            &render::envelope(
                "Too Many Requests",
                Some(serde_json::Value::String(
                    "Rate limit exceeded: at most 500 requests per 5 minutes per source IP".into(),
                )),
            ),
        );
        let seconds = retry.as_secs() + u64::from(retry.subsec_nanos() > 0);
        if let Ok(v) = HeaderValue::from_str(&seconds.max(1).to_string()) {
            resp.headers_mut().insert("Retry-After", v);
        }
        record(429);
        return Ok(resp);
    }
    let lost_answer = fault
        .as_ref()
        .filter(|f| f.kind == FaultKind::LostAnswer)
        .map(|f| Duration::from_millis(f.latency_ms.unwrap_or(0)));
    if let Some(f) = &fault {
        match f.kind {
            FaultKind::LostAnswer => {}
            FaultKind::Drop => {
                record(0);
                return Err(Dropped);
            }
            FaultKind::Status => {
                let resp = fault_response(f);
                record(resp.status().as_u16());
                return Ok(resp);
            }
            FaultKind::Latency => {
                tokio::time::sleep(Duration::from_millis(f.latency_ms.unwrap_or(0))).await
            }
        }
    }
    let resp = match &route {
        Ok(r) => {
            let req = ApiRequest {
                method: http_method,
                path: &path,
                query: query.as_deref(),
                headers,
                body: bytes,
            };
            api::dispatch(shared, r, &req)
        }
        Err(true) => api::error(&ApiError::new(
            405,
            "Method Not Allowed",
            format!("{method} is not supported on {path}"),
        )),
        Err(false) => api::error(&ApiError::not_found(format!(
            "No route for {method} {path}"
        ))),
    };
    record(resp.status().as_u16());
    if let Some(hold) = lost_answer {
        tokio::time::sleep(hold).await;
        return Err(Dropped);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_the_encoded_question_mark() {
        assert_eq!(
            normalise("/v2/service/key%3Fkey=abc", None),
            ("/v2/service/key".to_string(), Some("key=abc".to_string()))
        );
        assert_eq!(
            normalise("/v2/service/key%3fkey=abc", Some("x=1")),
            (
                "/v2/service/key".to_string(),
                Some("key=abc&x=1".to_string())
            )
        );
        assert_eq!(
            normalise("/v2/products", Some("a=b")),
            ("/v2/products".to_string(), Some("a=b".to_string()))
        );
        assert_eq!(percent_decode("a%3Db%26c%2Fd"), "a%3Db%26c/d");
    }
}
