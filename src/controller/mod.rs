//! The controllers and their wiring: [`run`] starts the OnRampRegion controller on the
//! [`Shared`] context (client, products snapshot, recorder, tunables, backoff), the
//! ServiceKeyRequest controller on its own [`Context`] (what is shared, plus the keys snapshot,
//! the claim ledger fed by the same watch as its store, the locks and the record seal) and the
//! SavedConfiguration controller on [`Orders`] (what is shared, plus the accounts, its order
//! records and buy locks), each unless [`Settings::controllers`] leaves it out, until shutdown.
//!
//! - [`context`]: the contexts; [`error`]: the failed step; [`backoff`].
//! - [`annotations`]: the one annotation writer (records); [`status`]: the one status writer (server-side apply, Ready-transition events, failures).
//! - [`refresh`]: keeps the lists fresh and reconciles the requests a change concerns.
//! - [`cache`]: the shared Megaport lists ([`key_store`]: the keys, indexed); [`invalid`]:
//!   objects that do not decode; [`ledger`]: what every request holds.
//! - [`onramp_region`], [`service_key_request`], [`saved_configuration`]: the controllers.

pub mod annotations;
pub mod backoff;
pub mod cache;
pub mod context;
pub mod error;
pub mod invalid;
pub mod key_store;
pub mod ledger;
#[cfg(test)]
mod mock_api;
pub mod onramp_region;
pub mod refresh;
pub mod saved_configuration;
pub mod service_key_request;
pub mod status;

use std::sync::Arc;

use futures::TryStreamExt;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

pub use context::{Context, Kind, Orders, Ports, Process, Settings, Shared};
pub use error::{Error, Step};

use crate::crd::saved_configuration::SavedConfiguration;
use crate::crd::{ConnectionApproval, OnRampRegion, ServiceKeyRequest};
use crate::health::{Check, Health};
use crate::issuance::RecordSeal;
use crate::lease::Leadership;

fn backoff_key<K: Resource>(obj: &K) -> String {
    obj.meta().uid.clone().unwrap_or_else(|| obj.name_any())
}

fn error_policy<K: Resource, C: AsRef<Shared>>(obj: Arc<K>, err: &Error, ctx: Arc<C>) -> Action {
    let delay = (*ctx).as_ref().backoff.next(&backoff_key(obj.as_ref()));
    tracing::warn!(
        object = %obj.name_any(),
        category = err.category(),
        error = %err,
        retry_in_s = delay.as_secs(),
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// Runs `reconcile` only while this replica leads (a standby's stores stay warm, it writes
/// nothing), counts it, and resets the object's backoff when it succeeds.
async fn guarded<K, C, F, Fut>(
    controller: &'static str,
    obj: Arc<K>,
    ctx: Arc<C>,
    reconcile: F,
) -> Result<Action, Error>
where
    K: Resource,
    C: AsRef<Shared>,
    F: FnOnce(Arc<K>, Arc<C>) -> Fut,
    Fut: std::future::Future<Output = Result<Action, Error>>,
{
    let shared: &Shared = (*ctx).as_ref();
    if !shared.process.leadership.is_leader() {
        // Everything is reconciled again when this replica becomes the leader.
        return Ok(Action::await_change());
    }
    let key = backoff_key(obj.as_ref());
    let started = std::time::Instant::now();
    let result = reconcile(obj, ctx.clone()).await;
    let shared: &Shared = (*ctx).as_ref();
    let category = result.as_ref().err().map(Error::category);
    shared
        .process
        .metrics
        .reconciled(controller, started.elapsed(), category);
    if result.is_ok() {
        shared.backoff.reset(&key);
    }
    result
}

/// Fires each time this replica becomes the leader (every object is reconciled then).
fn became_leader(leadership: &Leadership) -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(leadership.changes(), |mut changes| async move {
        loop {
            changes.changed().await.ok()?;
            if *changes.borrow_and_update() {
                return Some(((), changes));
            }
        }
    })
}

/// Whether a watch failed because its resource does not exist (the CRD is not installed).
fn crd_missing(err: &watcher::Error) -> bool {
    use watcher::Error as W;
    match err {
        W::InitialListFailed(kube::Error::Api(status))
        | W::WatchStartFailed(kube::Error::Api(status))
        | W::WatchFailed(kube::Error::Api(status)) => status.code == 404,
        W::WatchError(status) => status.code == 404,
        _ => false,
    }
}

/// Logs what a controller reports besides reconciles: a failing watch (the operator is blind
/// until it recovers) as a warning; a failed reconcile is logged by the error policy already.
fn log_controller_error<T, E: std::error::Error>(
    kind: &str,
    health: &Health,
    result: Result<T, kube::runtime::controller::Error<E, watcher::Error>>,
) {
    use kube::runtime::controller::Error as ControllerError;
    match result {
        Ok(_) => {}
        Err(ControllerError::QueueError(err)) => {
            if crd_missing(&err) {
                health.fail(
                    Check::Crds,
                    format!("the {kind} CustomResourceDefinition is not installed"),
                );
            }
            tracing::warn!(controller = kind, error = %err, "watch failed; retrying");
        }
        Err(err) => tracing::debug!(controller = kind, error = %err, "controller event"),
    }
}

/// The one watch of the requests, feeding the controller's store and the claim ledger. Each
/// object is decoded on its own: one the operator cannot read is reported on itself and never
/// hides the others (a whole LIST failing to decode would stop every request).
fn watch_requests(
    client: &Client,
    ctx: Arc<Context>,
) -> (
    impl futures::Stream<Item = Result<DeserializeGuard<ServiceKeyRequest>, watcher::Error>>
    + Send
    + 'static,
    reflector::Store<DeserializeGuard<ServiceKeyRequest>>,
) {
    let (store, writer) = reflector::store::<DeserializeGuard<ServiceKeyRequest>>();
    let stream = watcher::watcher(
        Api::<DeserializeGuard<ServiceKeyRequest>>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    // The store keeps every request: without managedFields and kubectl's copy of the last
    // applied object (never read) it holds a fraction of the bytes.
    .modify(|request| {
        request.managed_fields_mut().clear();
        request
            .annotations_mut()
            .remove("kubectl.kubernetes.io/last-applied-configuration");
    })
    .reflect(writer)
    .inspect_ok(move |event| {
        ctx.ledger.observe(event);
        // A (re)list completed: the CRD is there (again, after a 404).
        if matches!(event, watcher::Event::InitDone) {
            ctx.process.health.pass(Check::Crds);
        }
    })
    .touched_objects();
    (stream, store)
}

/// Only the operator's own Secrets are watched; an edit or a deletion brings the request back.
fn own_secrets() -> watcher::Config {
    watcher::Config::default().labels(&format!(
        "{}={}",
        service_key_request::MANAGED_BY_LABEL,
        service_key_request::MANAGER
    ))
}

/// The request one of the operator's Secrets belongs to.
fn request_of(secret: Secret) -> Option<ObjectRef<DeserializeGuard<ServiceKeyRequest>>> {
    let namespace = secret.namespace()?;
    secret
        .labels()
        .get(service_key_request::REQUEST_LABEL)
        .map(|name| ObjectRef::new(name).within(&namespace))
}

/// The request a person's ConnectionApproval decides a connection of.
fn request_decided(
    approval: DeserializeGuard<ConnectionApproval>,
) -> Option<ObjectRef<DeserializeGuard<ServiceKeyRequest>>> {
    let approval = approval.0.ok()?;
    let namespace = approval.namespace()?;
    Some(ObjectRef::new(&approval.spec.request).within(&namespace))
}

/// Passes the `crds` and `watches` readiness checks once every store has listed everything
/// (or gives up at `shutdown`).
async fn report_synced(
    health: Health,
    stores: Vec<futures::future::BoxFuture<'static, ()>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let ready = async {
        futures::future::join_all(stores).await;
        health.pass(Check::Crds);
        health.pass(Check::Watches);
    };
    tokio::select! {
        () = ready => {}
        () = shutdown => {}
    }
}

/// Resolves once `store` has listed everything.
fn synced<K>(store: reflector::Store<K>) -> futures::future::BoxFuture<'static, ()>
where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Send + Sync,
{
    Box::pin(async move {
        let _ = store.wait_until_ready().await;
    })
}

type Running = futures::future::BoxFuture<'static, ()>;

/// The ServiceKeyRequest controller (with the refresher of the Megaport snapshots), and when its
/// store has listed everything.
fn requests_controller(
    client: &Client,
    ctx: Arc<Context>,
    config: kube::runtime::controller::Config,
    leadership: &Leadership,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + Clone + 'static,
) -> (Running, Running) {
    let (stream, store) = watch_requests(client, ctx.clone());
    let requests = Controller::for_stream(stream, store.clone());
    // What changes in Megaport brings back exactly the requests it concerns.
    let (triggers, triggered) = futures::channel::mpsc::unbounded();
    let refresher = refresh::run(ctx.clone(), triggers, shutdown.clone());
    let health = ctx.process.health.clone();
    let requests = requests
        .reconcile_on(triggered)
        .reconcile_all_on(became_leader(leadership))
        .watches(
            Api::<Secret>::all(client.clone()),
            own_secrets(),
            request_of,
        )
        .watches(
            Api::<DeserializeGuard<ConnectionApproval>>::all(client.clone()),
            watcher::Config::default(),
            request_decided,
        )
        .with_config(config)
        .graceful_shutdown_on(shutdown)
        .run(
            |obj, ctx| {
                guarded(
                    "ServiceKeyRequest",
                    obj,
                    ctx,
                    service_key_request::reconcile,
                )
            },
            error_policy,
            ctx,
        )
        .for_each(move |result| {
            log_controller_error("ServiceKeyRequest", &health, result);
            async {}
        });
    let running = Box::pin(async move {
        futures::join!(requests, refresher);
    });
    (running, synced(store))
}

/// A controller of `K` whose objects are each decoded on their own, reconciled by `reconcile`
/// while this replica leads; and when its store has listed everything.
#[allow(clippy::too_many_arguments)] // the controller's parts, passed through once
fn guarded_controller<K, C, F, Fut>(
    kind: &'static str,
    client: &Client,
    watch: watcher::Config,
    ctx: Arc<C>,
    config: kube::runtime::controller::Config,
    leadership: &Leadership,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + Clone + 'static,
    reconcile: F,
) -> (Running, Running)
where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    C: AsRef<Shared> + Send + Sync + 'static,
    F: Fn(Arc<DeserializeGuard<K>>, Arc<C>) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Result<Action, Error>> + Send + 'static,
{
    let controller = Controller::new(Api::<DeserializeGuard<K>>::all(client.clone()), watch)
        .with_config(config)
        .reconcile_all_on(became_leader(leadership));
    let store = controller.store();
    let health = (*ctx).as_ref().process.health.clone();
    let running = controller
        .graceful_shutdown_on(shutdown)
        .run(
            move |obj, ctx| guarded(kind, obj, ctx, reconcile),
            error_policy,
            ctx,
        )
        .for_each(move |result| {
            log_controller_error(kind, &health, result);
            async {}
        });
    (Box::pin(running), synced(store))
}

/// Runs the controllers `settings` enables until `shutdown` resolves, reporting to
/// `process`: only while `process.leadership` says so do they reconcile; their watches,
/// stores and Megaport snapshots run either way, so a standby takes over warm.
pub async fn run(
    client: Client,
    ports: Ports,
    settings: Settings,
    seal: RecordSeal,
    process: Process,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = shutdown.shared();
    let config = kube::runtime::controller::Config::default().concurrency(settings.concurrency);
    let health = process.health.clone();
    let leadership = process.leadership.clone();
    let kinds = settings.controllers.clone();
    let shared = Arc::new(Shared::in_process(
        client.clone(),
        ports.products,
        settings,
        process,
    ));
    let mut running: Vec<Running> = Vec::new();
    let mut stores: Vec<Running> = Vec::new();
    let mut add = |(run, store): (Running, Running)| {
        running.push(run);
        stores.push(store);
    };
    if kinds.contains(&Kind::ServiceKeyRequest) {
        let vxcs: Arc<dyn crate::megaport::OrderingApi> = ports.accounts.account(None);
        let ctx = Arc::new(Context::for_requests(
            shared.clone(),
            ports.keys,
            vxcs,
            seal.clone(),
        ));
        add(requests_controller(
            &client,
            ctx,
            config.clone(),
            &leadership,
            shutdown.clone(),
        ));
    }
    if kinds.contains(&Kind::OnRampRegion) {
        add(guarded_controller::<OnRampRegion, _, _, _>(
            "OnRampRegion",
            &client,
            watcher::Config::default(),
            shared.clone(),
            config.clone(),
            &leadership,
            shutdown.clone(),
            onramp_region::reconcile,
        ));
    }
    if kinds.contains(&Kind::SavedConfiguration) {
        let watch = match &shared.settings.configuration_selector {
            Some(selector) => watcher::Config::default().labels(selector),
            None => watcher::Config::default(),
        };
        let ctx = Arc::new(Orders::new(shared.clone(), ports.accounts, seal));
        add(guarded_controller::<SavedConfiguration, _, _, _>(
            "SavedConfiguration",
            &client,
            watch,
            ctx,
            config,
            &leadership,
            shutdown.clone(),
            saved_configuration::reconcile,
        ));
    }
    let synced = report_synced(health, stores, shutdown);
    futures::join!(futures::future::join_all(running), synced);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16) -> kube::Error {
        let mut status = Status::failure(
            "the server could not find the requested resource",
            "NotFound",
        );
        status.code = code;
        kube::Error::Api(status.boxed())
    }

    #[test]
    fn a_watch_answered_404_means_the_crd_is_missing_and_nothing_else_does() {
        use watcher::Error as W;
        assert!(crd_missing(&W::InitialListFailed(api(404))));
        assert!(crd_missing(&W::WatchStartFailed(api(404))));
        assert!(!crd_missing(&W::InitialListFailed(api(403))));
        assert!(!crd_missing(&W::WatchFailed(api(500))));
        assert!(!crd_missing(&W::NoResourceVersion));
    }

    #[tokio::test]
    async fn became_leader_fires_on_each_gain_only() {
        let leadership = Leadership::elected();
        let gains = became_leader(&leadership);
        futures::pin_mut!(gains);
        assert!(
            futures::poll!(gains.next()).is_pending(),
            "not the leader yet"
        );
        // The tests of lease:: publish leadership; here a clone stands in for the elector.
        leadership.publish_for_tests(Some(std::time::Duration::from_secs(3600)));
        assert_eq!(gains.next().await, Some(()));
        leadership.publish_for_tests(None);
        assert!(
            futures::poll!(gains.next()).is_pending(),
            "a loss is no gain"
        );
    }
}
