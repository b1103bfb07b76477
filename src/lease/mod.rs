//! Leader election on a `coordination.k8s.io` Lease: every replica runs [`Elector`]; the
//! controllers ask [`Leadership`] whether this replica may write. The rules, and why two
//! replicas never act at once, are in [`election`] (pure); this module is their IO.
//!
//! Our own small module rather than `kube-lease-manager` (which builds on our kube version):
//! that crate decides expiry by comparing the Lease's `renewTime` — another node's wall clock —
//! with this node's, so it is only safe with synchronised clocks, and a holder whose renewals
//! keep failing goes on reporting itself the leader until one succeeds. Here the holder's
//! deadline is measured on its own monotonic clock from the start of its last successful write,
//! and others wait on theirs, so neither clock needs to agree with any other.

pub mod election;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::time::Instant;

pub use election::Timing;
use election::{Election, Record, Step};

/// Which Lease, as whom, with what timing.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// The Lease's name.
    pub name: String,
    /// Its namespace (the operator's own).
    pub namespace: String,
    /// This replica's identity (the pod name), unique among replicas.
    pub identity: String,
    /// Durations.
    pub timing: Timing,
}

/// Whether this replica may act: always (no election), or while it holds the Lease. Cheap to
/// clone and to ask; the answer turns false at the holder's deadline by itself, even if the
/// renewing task is stuck.
#[derive(Clone)]
pub struct Leadership {
    inner: Arc<Inner>,
}

struct Inner {
    elected: bool,
    origin: Instant,
    /// Leader until this many microseconds after `origin` (exclusive); 0: not the leader.
    until_micros: AtomicU64,
    changes: tokio::sync::watch::Sender<bool>,
}

impl Default for Leadership {
    fn default() -> Self {
        Self::always()
    }
}

impl Leadership {
    /// No election: this process is the only one and always acts.
    pub fn always() -> Self {
        Self::with(false)
    }

    /// Leadership decided by an [`Elector`]: not the leader until it says so.
    pub fn elected() -> Self {
        Self::with(true)
    }

    fn with(elected: bool) -> Self {
        let (changes, _) = tokio::sync::watch::channel(!elected);
        Self {
            inner: Arc::new(Inner {
                elected,
                origin: Instant::now(),
                until_micros: AtomicU64::new(0),
                changes,
            }),
        }
    }

    /// Whether this replica may reconcile and write now.
    pub fn is_leader(&self) -> bool {
        !self.inner.elected || self.now() < self.until()
    }

    /// Whether leadership is decided by election (else [`Self::is_leader`] is always true).
    pub fn is_elected(&self) -> bool {
        self.inner.elected
    }

    /// Changes of leadership as they are noticed (true: became the leader).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.changes.subscribe()
    }

    fn now(&self) -> Duration {
        self.inner.origin.elapsed()
    }

    fn until(&self) -> Duration {
        Duration::from_micros(self.inner.until_micros.load(Ordering::Acquire))
    }

    /// Leadership for `until` after now (`None`: lost), as an elector would publish it.
    #[cfg(test)]
    pub fn publish_for_tests(&self, until: Option<Duration>) {
        self.publish(until.map(|u| self.now() + u));
    }

    /// Publishes the elector's deadline (`None`: not the leader).
    fn publish(&self, until: Option<Duration>) {
        let micros = until.map_or(0, |u| u64::try_from(u.as_micros()).unwrap_or(u64::MAX));
        self.inner.until_micros.store(micros, Ordering::Release);
        let leading = self.is_leader();
        self.inner.changes.send_if_modified(|was| {
            let changed = *was != leading;
            *was = leading;
            changed
        });
    }
}

/// The replica gave up writing because it no longer holds the Lease; the process must stop
/// (it restarts as a standby).
#[derive(Debug, thiserror::Error)]
#[error("lost the leader Lease {name} (not renewed within {deadline_s} s)")]
pub struct Lost {
    name: String,
    deadline_s: u64,
}

/// Runs the election for one replica.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    election: Election,
    leadership: Leadership,
}

impl Elector {
    /// An elector for `config`, publishing to `leadership` (made with [`Leadership::elected`]).
    pub fn new(client: Client, config: LeaseConfig, leadership: Leadership) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            election: Election::new(config.identity.clone(), config.timing),
            config,
            leadership,
        }
    }

    /// Takes part until `stop` resolves (then returns itself, for [`Self::release`]), or until
    /// leadership is lost (`Err`: stop writing now).
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) -> Result<Self, Lost> {
        tokio::pin!(stop);
        tracing::info!(lease = %self.config.name, namespace = %self.config.namespace, identity = %self.config.identity, "taking part in leader election");
        // Whether this replica led after the previous attempt: kept, not recomputed from the
        // clock, so a deadline that passes between two attempts is a loss, never a non-event.
        let mut leading = false;
        loop {
            let bound = self.attempt_bound();
            match tokio::time::timeout(bound, self.attempt()).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::warn!(lease = %self.config.name, error = %err, "leader election: the Lease could not be read or written")
                }
                Err(_) => {
                    tracing::warn!(lease = %self.config.name, "leader election: the apiserver did not answer in time")
                }
            }
            let now = self.leadership.now();
            let leader = self.election.is_leader(now);
            self.leadership.publish(self.election.leading_until());
            if leading && !leader {
                self.election.resign();
                self.leadership.publish(None);
                return Err(Lost {
                    name: self.config.name.clone(),
                    deadline_s: self.config.timing.renew_deadline.as_secs(),
                });
            }
            if leader && !leading {
                tracing::info!(identity = %self.config.identity, "became the leader");
            }
            leading = leader;
            // A leader looks again no later than its deadline; anyone else every retry period.
            let wait = match self.election.leading_until() {
                Some(until) if leader => self.config.timing.retry.min(until.saturating_sub(now)),
                _ => self.config.timing.retry,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut stop => return Ok(self),
            }
        }
    }

    /// How long one read-and-write may take: while leading, no longer than the deadline (so
    /// the loss is noticed on time); otherwise one renew deadline.
    fn attempt_bound(&self) -> Duration {
        let now = self.leadership.now();
        match self.election.leading_until() {
            Some(until) if until > now => until - now,
            _ => self.config.timing.renew_deadline,
        }
    }

    /// One read of the Lease and, if the rules say so, one write.
    async fn attempt(&mut self) -> Result<(), kube::Error> {
        let lease = self.api.get_opt(&self.config.name).await?;
        let record = lease.as_ref().map(|lease| {
            let spec = lease.spec.as_ref();
            Record {
                holder: spec.and_then(|s| s.holder_identity.clone()),
                version: lease.metadata.resource_version.clone().unwrap_or_default(),
                duration: spec
                    .and_then(|s| s.lease_duration_seconds)
                    .and_then(|d| u64::try_from(d).ok())
                    .map(Duration::from_secs),
            }
        });
        let step = self.election.next(self.leadership.now(), record);
        let started = self.leadership.now();
        let written = match step {
            Step::Wait => return Ok(()),
            Step::Create => {
                self.api
                    .create(&PostParams::default(), &self.held(None, true))
                    .await
            }
            Step::Write {
                version,
                transition,
            } => {
                let mut next = self.held(lease.as_ref(), transition);
                next.metadata.resource_version = Some(version);
                self.api
                    .replace(&self.config.name, &PostParams::default(), &next)
                    .await
            }
        };
        match written {
            Ok(lease) => {
                let version = lease.metadata.resource_version.unwrap_or_default();
                self.election.written(started, version);
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                self.election.write_failed();
                tracing::debug!(lease = %self.config.name, "leader election: someone else wrote the Lease first");
                Ok(())
            }
            Err(err) => {
                self.election.write_failed();
                Err(err)
            }
        }
    }

    /// The Lease held by this replica, renewed now (`transition`: newly taken).
    fn held(&self, current: Option<&Lease>, transition: bool) -> Lease {
        let now = MicroTime(jiff::Timestamp::now());
        let spec = current.and_then(|l| l.spec.clone()).unwrap_or_default();
        Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..current.map(|l| l.metadata.clone()).unwrap_or_default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                lease_duration_seconds: Some(
                    i32::try_from(self.config.timing.lease_duration.as_secs()).unwrap_or(i32::MAX),
                ),
                acquire_time: if transition {
                    Some(now.clone())
                } else {
                    spec.acquire_time
                },
                renew_time: Some(now),
                lease_transitions: Some(
                    spec.lease_transitions.unwrap_or(0)
                        + i32::from(transition && current.is_some()),
                ),
                ..LeaseSpec::default()
            }),
        }
    }

    /// Gives the Lease up (after the controllers stopped), so a standby takes over at once
    /// instead of a lease duration later. Does nothing when this replica does not lead.
    pub async fn release(mut self) {
        if !self.election.is_leader(self.leadership.now()) {
            return;
        }
        self.election.resign();
        self.leadership.publish(None);
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.config.name, "released the leader Lease"),
            Err(err) => {
                tracing::warn!(lease = %self.config.name, error = %err, "could not release the leader Lease; a standby takes over when it expires")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::{Value, json};

    #[tokio::test]
    async fn leadership_turns_false_at_the_deadline_by_itself() {
        let leadership = Leadership::elected();
        assert!(!leadership.is_leader());
        let mut changes = leadership.changes();
        leadership.publish(Some(leadership.now() + Duration::from_millis(50)));
        assert!(leadership.is_leader());
        assert!(changes.has_changed().unwrap_or(false) && *changes.borrow_and_update());
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(
            !leadership.is_leader(),
            "nobody renewed: the deadline passed"
        );
        assert!(Leadership::always().is_leader());
    }

    fn lease(holder: &str, version: u32) -> Value {
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "op", "namespace": "ns", "resourceVersion": version.to_string()},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 1},
        })
    }

    fn respond(status: u16, body: &Value) -> Response<Body> {
        let mut response = Response::new(Body::from(serde_json::to_vec(body).unwrap_or_default()));
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
        response
    }

    /// The elector over a mock apiserver that lets it create the Lease, then answers every
    /// renewal with `renewal` (a fast failure: 500, 429, a conflict...).
    async fn lose_by(renewal: u16) -> (Result<(), ()>, Duration, usize) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(async move {
            let (mut requests, mut created) = (0, false);
            while let Some((req, send)) = handle.next_request().await {
                requests += 1;
                let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": renewal, "message": "no"});
                let response = match (req.method().as_str(), created) {
                    ("GET", false) => respond(
                        404,
                        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
                    ),
                    ("POST", _) => {
                        created = true;
                        respond(201, &lease("me", 1))
                    }
                    ("GET", true) => respond(200, &lease("me", 1)),
                    _ => respond(renewal, &status),
                };
                send.send_response(response);
            }
            requests
        });
        let timing = Timing::new(
            Duration::from_millis(1_000),
            Duration::from_millis(600),
            Duration::from_millis(100),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let config = LeaseConfig {
            name: "op".into(),
            namespace: "ns".into(),
            identity: "me".into(),
            timing,
        };
        let leadership = Leadership::elected();
        let elector = Elector::new(Client::new(service, "ns"), config, leadership.clone());
        let started = Instant::now();
        let ended =
            tokio::time::timeout(Duration::from_secs(5), elector.run(std::future::pending()))
                .await
                .unwrap_or_else(|_| panic!("the elector neither lost nor stopped within 5 s"));
        let took = started.elapsed();
        assert!(!leadership.is_leader());
        let requests = server.await.unwrap_or_default();
        (ended.map(|_| ()).map_err(|_| ()), took, requests)
    }

    #[tokio::test]
    async fn a_leader_whose_renewals_fail_fast_gives_up_at_its_deadline() {
        for renewal in [500, 429, 409, 403] {
            let (ended, took, requests) = lose_by(renewal).await;
            assert!(
                ended.is_err(),
                "{renewal}: the elector did not report the loss"
            );
            assert!(
                took < Duration::from_millis(1_000),
                "{renewal}: lost after {took:?}, past the renew deadline (600 ms) and the lease (1 s)"
            );
            // A read and a write per retry period (100 ms) for 600 ms, not a hot loop.
            assert!(requests <= 20, "{renewal}: {requests} requests");
        }
    }
}
