//! The controllers and what they share: the Kubernetes client, the Megaport products and keys
//! caches (one `GET /v2/products` and one `GET /v2/service/key` per period for the whole
//! operator), the records of keys being issued (so no two requests claim one VLAN and no
//! reconcile acts on a stale copy of its own request), one event recorder, and per-object
//! exponential backoff that a success resets.

pub mod cache;
pub mod invalid;
pub mod onramp_region;
pub mod service_key_request;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{finalizer, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use crate::crd::{OnRampRegion, ServiceKeyRequest};
use crate::issuance::{Record, RecordSeal};
use crate::megaport::{MegaportApi, MegaportError};
use cache::{KeysCache, ProductsCache};

/// Tunables of the controllers.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How old the shared products snapshot may get before one refresh is made.
    pub products_refresh: Duration,
    /// How old the shared service keys snapshot may get (the poll period of key states).
    pub keys_refresh: Duration,
    /// Reconciles running at once per controller.
    pub concurrency: u16,
    /// First retry delay after an error (doubles per failure, reset on success).
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            products_refresh: Duration::from_secs(300),
            keys_refresh: Duration::from_secs(60),
            concurrency: 4,
            backoff_min: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// What every reconcile gets.
pub struct Context {
    /// Kubernetes client (the operator's identity).
    pub client: Client,
    /// The shared products snapshot.
    pub products: Arc<ProductsCache>,
    /// The shared service keys snapshot.
    pub keys: Arc<KeysCache>,
    /// The Megaport API (for the calls that are not shared lists).
    pub api: Arc<dyn MegaportApi>,
    /// Every ServiceKeyRequest, as the controller's reflector sees them (each decoded on its
    /// own: an unreadable one is an `Err` and still shows its metadata).
    pub requests: Store<DeserializeGuard<ServiceKeyRequest>>,
    /// Objects reported as unreadable: UID → generation.
    invalid: Mutex<HashMap<String, i64>>,
    /// The latest records this process wrote per request UID (newer than the store may be).
    records: Mutex<HashMap<String, Vec<Record>>>,
    /// Held while a request's on-ramps and VLANs are decided and claimed.
    decisions: tokio::sync::Mutex<()>,
    /// Held per on-ramp while its keys are searched and created.
    on_ramp_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// One recorder for the process (it folds repeats into series).
    pub recorder: Recorder,
    /// Tunables.
    pub settings: Settings,
    /// Seals the key records the operator writes, and tells them from anyone else's.
    pub seal: RecordSeal,
    backoff: Backoff,
}

/// Per-object exponential backoff that a success resets (kube has none built in).
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Delays from `min`, doubling per consecutive failure, capped at `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failure of `key` and returns how long to wait before retrying it.
    pub fn next(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        let factor = 2u32.saturating_pow((*n - 1).min(16));
        self.min.saturating_mul(factor).min(self.max)
    }

    /// Forgets the failures of `key` after a success.
    pub fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

impl Context {
    /// A context over `client` and `api`; `requests` is the ServiceKeyRequest store.
    pub fn new(
        client: Client,
        api: Arc<dyn MegaportApi>,
        settings: Settings,
        seal: RecordSeal,
        requests: Store<DeserializeGuard<ServiceKeyRequest>>,
    ) -> Self {
        let reporter = Reporter {
            controller: "megaport-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            products: Arc::new(ProductsCache::products(
                api.clone(),
                settings.products_refresh,
            )),
            keys: Arc::new(KeysCache::keys(api.clone(), settings.keys_refresh)),
            api,
            requests,
            invalid: Mutex::new(HashMap::new()),
            records: Mutex::new(HashMap::new()),
            decisions: tokio::sync::Mutex::new(()),
            on_ramp_locks: Mutex::new(HashMap::new()),
            client,
            backoff: Backoff::new(settings.backoff_min, settings.backoff_max),
            settings,
            seal,
        }
    }

    /// Request `uid`'s records: this process's last write, else `annotations` when sealed by
    /// this operator; `Err` (why) when the annotation is not the operator's.
    pub fn trusted_records(
        &self,
        uid: &str,
        annotations: &std::collections::BTreeMap<String, String>,
    ) -> Result<Vec<Record>, String> {
        match self.remembered(uid) {
            Some(records) => Ok(records),
            None => crate::issuance::sealed_records(annotations, uid, &self.seal),
        }
    }

    /// The records this process last wrote for request `uid`, if any.
    pub fn remembered(&self, uid: &str) -> Option<Vec<Record>> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uid)
            .cloned()
    }

    /// Remembers the records just written for request `uid`.
    pub fn remember(&self, uid: &str, records: Vec<Record>) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_owned(), records);
    }

    /// Forgets a deleted request.
    pub fn forget(&self, uid: &str) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }

    /// Whether the unreadable object `uid` was reported at `generation` already.
    pub fn invalid_reported(&self, uid: &str, generation: i64) -> bool {
        self.invalid
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uid)
            == Some(&generation)
    }

    /// Remembers that the unreadable object `uid` was reported at `generation`.
    pub fn remember_invalid(&self, uid: &str, generation: i64) {
        self.invalid
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_owned(), generation);
    }

    /// The lock serialising key searches and creates on one on-ramp.
    pub fn on_ramp_lock(&self, product_uid: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.on_ramp_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(product_uid.to_owned())
            .or_default()
            .clone()
    }
}

/// The step of a reconcile, for errors and the status they leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Reading the shared Megaport products and keys lists.
    ReadMegaport,
    /// Reading the request's OnRampRegion.
    ReadRegion,
    /// Reading the request's Namespace (for `allowedNamespaces`).
    ReadNamespace,
    /// Reading the Secret the keys go to.
    ReadSecret,
    /// Checking, before any key is created, that the Secret can be written (server dry-run).
    CheckSecret,
    /// Writing the key records to the request's annotation.
    SaveRecords,
    /// Searching for and creating a key in Megaport.
    Issue,
    /// Updating a key in Megaport (spec change or drift restore).
    Update,
    /// Writing the Secret.
    WriteSecret,
    /// Writing the status.
    PatchStatus,
    /// Deactivating keys of a deleted request.
    Deactivate,
    /// Adding or removing the finalizer.
    Finalize,
}

impl Step {
    /// The condition reason a failure at this step leaves in status.
    pub fn reason(self) -> &'static str {
        match self {
            Self::ReadMegaport | Self::Issue | Self::Update | Self::Deactivate => {
                "MegaportUnavailable"
            }
            Self::ReadRegion | Self::ReadNamespace => "KubernetesUnavailable",
            Self::ReadSecret | Self::CheckSecret | Self::WriteSecret => "SecretWriteFailed",
            Self::SaveRecords => "RecordsNotSaved",
            Self::PatchStatus => "StatusNotWritten",
            Self::Finalize => "FinalizerNotUpdated",
        }
    }

    /// What the step does, for messages.
    pub fn doing(self) -> &'static str {
        match self {
            Self::ReadMegaport => "reading Megaport's products and keys",
            Self::ReadRegion => "reading the OnRampRegion",
            Self::ReadNamespace => "reading the namespace",
            Self::ReadSecret => "reading the Secret",
            Self::CheckSecret => "checking that the Secret can be written",
            Self::SaveRecords => "recording the keys on the request",
            Self::Issue => "issuing a key in Megaport",
            Self::Update => "updating a key in Megaport",
            Self::WriteSecret => "writing the Secret",
            Self::PatchStatus => "writing the status",
            Self::Deactivate => "deactivating the keys",
            Self::Finalize => "updating the finalizer",
        }
    }
}

/// Why a reconcile failed: the step, and the call that failed in it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Megaport API failed (after the client's own retries).
    #[error("{} failed: Megaport: {source}", step.doing())]
    Megaport {
        /// Where.
        step: Step,
        /// The API's error.
        #[source]
        source: Arc<MegaportError>,
    },
    /// A Kubernetes call failed.
    #[error("{} failed: Kubernetes: {source}", step.doing())]
    Kube {
        /// Where.
        step: Step,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// Adding or removing the finalizer, or the cleanup behind it, failed.
    #[error("{0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
}

impl Error {
    /// A Kubernetes failure at `step`.
    pub fn kube(step: Step, source: kube::Error) -> Self {
        Self::Kube { step, source }
    }

    /// A Megaport failure at `step`.
    pub fn megaport(step: Step, source: impl Into<Arc<MegaportError>>) -> Self {
        Self::Megaport {
            step,
            source: source.into(),
        }
    }

    /// The step that failed (through the finalizer wrapper).
    pub fn step(&self) -> Step {
        match self {
            Self::Megaport { step, .. } | Self::Kube { step, .. } => *step,
            Self::Finalizer(e) => match e.as_ref() {
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e.step(),
                _ => Step::Finalize,
            },
        }
    }

    /// A fixed label for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Megaport { source, .. } => source.category(),
            Self::Kube { .. } => "kubernetes",
            Self::Finalizer(e) => match e.as_ref() {
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => {
                    e.category()
                }
                _ => "kubernetes",
            },
        }
    }
}

fn backoff_key<K: Resource>(obj: &K) -> String {
    obj.meta().uid.clone().unwrap_or_else(|| obj.name_any())
}

fn error_policy<K: Resource>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.backoff.next(&backoff_key(obj.as_ref()));
    tracing::warn!(
        object = %obj.name_any(),
        category = err.category(),
        error = %err,
        retry_in_s = delay.as_secs(),
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// Runs `reconcile` and resets the object's backoff when it succeeds.
async fn with_backoff_reset<K, F, Fut>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    reconcile: F,
) -> Result<Action, Error>
where
    K: Resource,
    F: FnOnce(Arc<K>, Arc<Context>) -> Fut,
    Fut: std::future::Future<Output = Result<Action, Error>>,
{
    let key = backoff_key(obj.as_ref());
    let result = reconcile(obj, ctx.clone()).await;
    if result.is_ok() {
        ctx.backoff.reset(&key);
    }
    result
}

/// Runs every controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    api: Arc<dyn MegaportApi>,
    settings: Settings,
    seal: RecordSeal,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = shutdown.shared();
    let controller_config =
        kube::runtime::controller::Config::default().concurrency(settings.concurrency);

    // Each object is decoded on its own: one the operator cannot read is reported on itself
    // and never hides the others (a whole LIST failing to decode would stop every request).
    let requests = Controller::new(
        Api::<DeserializeGuard<ServiceKeyRequest>>::all(client.clone()),
        watcher::Config::default(),
    );
    let ctx = Arc::new(Context::new(
        client.clone(),
        api,
        settings.clone(),
        seal,
        requests.store(),
    ));
    // Only the operator's own Secrets are watched; an edit or a deletion brings the request back.
    let own_secrets = watcher::Config::default().labels(&format!(
        "{}={}",
        service_key_request::MANAGED_BY_LABEL,
        service_key_request::MANAGER
    ));
    let requests = requests
        .watches(
            Api::<Secret>::all(client.clone()),
            own_secrets,
            |secret: Secret| {
                let namespace = secret.namespace()?;
                secret
                    .labels()
                    .get(service_key_request::REQUEST_LABEL)
                    .map(|name| ObjectRef::new(name).within(&namespace))
            },
        )
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(
            |obj, ctx| with_backoff_reset(obj, ctx, service_key_request::reconcile),
            error_policy,
            ctx.clone(),
        )
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "ServiceKeyRequest controller event");
            }
        });

    let regions = Controller::new(
        Api::<DeserializeGuard<OnRampRegion>>::all(client),
        watcher::Config::default(),
    )
    .with_config(controller_config)
    .graceful_shutdown_on(shutdown)
    .run(
        |obj, ctx| with_backoff_reset(obj, ctx, onramp_region::reconcile),
        error_policy,
        ctx,
    )
    .for_each(|result| async move {
        if let Err(err) = result {
            tracing::debug!(error = %err, "OnRampRegion controller event");
        }
    });
    futures::join!(requests, regions);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_is_per_object_and_resets() {
        let backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(60));
        let delays: Vec<u64> = (0..6).map(|_| backoff.next("a").as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 60, 60]);
        assert_eq!(backoff.next("b").as_secs(), 5, "backoff is per object");
        backoff.reset("a");
        assert_eq!(backoff.next("a").as_secs(), 5, "a success resets it");
    }
}
