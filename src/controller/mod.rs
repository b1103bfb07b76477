//! The controllers and what they share: the Kubernetes client, the Megaport products cache
//! (one `GET /v2/products` per period for the whole operator), one event recorder, and
//! per-object exponential backoff that a success resets.

pub mod cache;
pub mod onramp_region;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};

use crate::crd::OnRampRegion;
use crate::megaport::{MegaportApi, MegaportError};
use cache::ProductsCache;

/// Tunables of the controllers.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How old the shared products snapshot may get before one refresh is made.
    pub products_refresh: Duration,
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
    /// One recorder for the process (it folds repeats into series).
    pub recorder: Recorder,
    /// Tunables.
    pub settings: Settings,
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
    /// A context over `client` and `api`.
    pub fn new(client: Client, api: Arc<dyn MegaportApi>, settings: Settings) -> Self {
        let reporter = Reporter {
            controller: "megaport-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            products: Arc::new(ProductsCache::new(api, settings.products_refresh)),
            client,
            backoff: Backoff::new(settings.backoff_min, settings.backoff_max),
            settings,
        }
    }
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Megaport API failed (after the client's own retries).
    #[error("Megaport: {0}")]
    Megaport(#[source] MegaportError),
    /// A Kubernetes call failed.
    #[error("Kubernetes: {0}")]
    Kube(#[source] kube::Error),
}

impl Error {
    /// A fixed label for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Megaport(e) => e.category(),
            Self::Kube(_) => "kubernetes",
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

/// Runs every controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    api: Arc<dyn MegaportApi>,
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let ctx = Arc::new(Context::new(client.clone(), api, settings.clone()));
    let regions: Api<OnRampRegion> = Api::all(client);
    Controller::new(regions, watcher::Config::default())
        .with_config(kube::runtime::controller::Config::default().concurrency(settings.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(
            |obj, ctx: Arc<Context>| async move {
                let key = backoff_key(obj.as_ref());
                let result = onramp_region::reconcile(obj, ctx.clone()).await;
                if result.is_ok() {
                    ctx.backoff.reset(&key);
                }
                result
            },
            error_policy,
            ctx,
        )
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "controller event");
            }
        })
        .await;
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
