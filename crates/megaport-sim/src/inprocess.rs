//! The simulator without a network: requests go straight to the same world, through the same
//! counters, faults and call log as over HTTP ([`server::respond`]), so a fake Megaport client
//! in a test gets the simulator's real rules and fault injection without ports or sockets.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method};

use crate::server::{self, Dropped, Shared};
use crate::{FaultSpec, Scenario, SimulatorError};

/// One answer: status and body.
#[derive(Clone, Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body (Megaport's JSON envelope).
    pub body: Bytes,
}

/// A simulator served in-process.
#[derive(Clone)]
pub struct InProcess {
    shared: Arc<Shared>,
}

impl InProcess {
    /// A simulator of `scenario`.
    pub fn new(scenario: Scenario) -> Result<Self, SimulatorError> {
        Ok(Self {
            shared: Arc::new(Shared::new(scenario)?),
        })
    }

    /// A bearer token for an API client of the scenario (`None` for wrong credentials).
    pub fn token(&self, client_id: &str, secret: &str) -> Option<String> {
        let mut world = self.shared.world();
        let now = world.now();
        world.issue_token(client_id, secret, now).map(|(t, _)| t)
    }

    /// Answers `method path?query` with `body`, as `token`'s company. `Err(Dropped)`: the
    /// simulated connection was dropped (a fault), with or without carrying the request out.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Answer, Dropped> {
        self.call_for(method, path, query, token, None, body).await
    }

    /// As [`Self::call`], acting for the managed company `context` (`X-Call-Context`) if set.
    pub async fn call_for(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        token: Option<&str>,
        context: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Answer, Dropped> {
        let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        let mut headers = HeaderMap::new();
        if let Some(value) = token.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok())
        {
            headers.insert("authorization", value);
        }
        if let Some(value) = context.and_then(|c| HeaderValue::from_str(c).ok()) {
            headers.insert(crate::api::CALL_CONTEXT, value);
        }
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let response = server::respond(
            &self.shared,
            "in-process",
            &method,
            path,
            query,
            &headers,
            Bytes::from(body),
        )
        .await?;
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(Body::new(response.into_body()), usize::MAX)
            .await
            .unwrap_or_default();
        Ok(Answer { status, body })
    }

    /// Adds a fault (as `POST /_sim/faults`).
    pub fn inject_fault(&self, spec: FaultSpec) -> Result<u64, String> {
        self.shared.faults().add(spec)
    }

    /// A counter (`"POST /v2/service/key"`), 0 when never counted.
    pub fn counter(&self, key: &str) -> u64 {
        self.shared.log().counters().get(key).copied().unwrap_or(0)
    }

    /// Changes the rate limit and the limit on updates per service (as `POST /_sim/limits`).
    pub fn set_limits(&self, change: &crate::limits::LimitsUpdate) -> Result<(), String> {
        self.shared.update_limits(change)
    }

    /// The limits and their use (as `GET /_sim/limits`).
    pub fn limits(&self) -> serde_json::Value {
        self.shared.limits_usage()
    }

    /// Makes the next `times` product lists show product `uid` with an empty `diversityZone`.
    pub fn empty_zone_reads(&self, uid: &str, times: u32) {
        self.shared
            .world()
            .empty_zone_reads
            .insert(uid.to_owned(), times);
    }

    /// Moves the simulated clock forward.
    pub fn advance_clock(&self, ms: i64) -> i64 {
        self.shared.world().advance_clock(ms)
    }
}
