//! A mock apiserver for reconcile tests (tower-test): answers each call with a handler over a
//! state of the test's objects and records every call, so each path's calls can be pinned.

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

/// One Kubernetes call as the mock apiserver saw it.
#[derive(Clone, Debug)]
pub struct Call {
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string.
    pub query: String,
    /// Body (JSON, or null).
    pub body: Value,
}

impl Call {
    /// `METHOD <last two path segments>`, noting dry runs.
    pub fn short(&self) -> String {
        let dry = if self.query.contains("dryRun") {
            " (dry run)"
        } else {
            ""
        };
        let tail = self.path.rsplit('/').take(2).collect::<Vec<_>>();
        format!("{} {}/{}{dry}", self.method, tail[1], tail[0])
    }
}

/// An answer with `status` and `body`.
pub fn respond(status: u16, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string().into_bytes()));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    response
}

/// A 404 Status.
pub fn not_found() -> Response<Body> {
    respond(
        404,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
    )
}

/// Applies a JSON merge patch to `target`.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// A client whose apiserver answers with `answer` over `state`; the task ends when the client
/// is dropped and returns the calls and the final state.
pub fn serve<S: Send + 'static>(
    state: S,
    answer: fn(&mut S, &Call) -> Response<Body>,
) -> (Client, tokio::task::JoinHandle<(Vec<Call>, S)>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let server = tokio::spawn(async move {
        let mut state = state;
        let mut calls = Vec::new();
        while let Some((req, send)) = handle.next_request().await {
            let (parts, body) = req.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let call = Call {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            send.send_response(answer(&mut state, &call));
            calls.push(call);
        }
        (calls, state)
    });
    (client, server)
}
