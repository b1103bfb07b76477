//! The Megaport lists every controller shares: the provider's products (`GET /v2/products`) and
//! service keys (`GET /v2/service/key`). One call per refresh period for the whole operator,
//! whatever the number of regions and requests — monitoring is O(1) in API calls.
//!
//! Readers get the current snapshot. When it is older than the refresh period, or older than
//! the freshness a reconcile asks for, exactly one caller fetches (single flight) and the others
//! wait for that result instead of calling Megaport themselves — a failure too: callers that
//! waited for a fetch that failed, or come within two seconds of it, get its error rather than
//! queueing to fail one after another.
//! A failed refresh leaves the previous snapshot in place; callers retry with their backoff.
//! What the operator itself writes (a key it created or updated) is folded into the current
//! snapshot at once, so a reconcile never acts again on its own stale read.

use crate::sync::{Locked, ReadWrite};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::key_store::KeyStore;
use crate::megaport::models::{Product, ServiceKey};
use crate::megaport::{MegaportError, ProductsApi, ServiceKeysApi};

/// How a list is kept between fetches: built from a fetch, and changed in place by the
/// operator's own writes.
pub trait Store: Clone + Send + Sync + 'static {
    /// One item of the list.
    type Item: Clone + Send + Sync + 'static;
    /// The store of a fetched list.
    fn from_items(items: Vec<Self::Item>) -> Self;
    /// Adds `item`, or replaces the entry for the same object.
    fn upsert(&mut self, item: Self::Item);
    /// [`Store::upsert`] through a shared reference, when the store can (then readers of the
    /// same snapshot see it, and the snapshot is never copied for a write).
    fn upsert_shared(&self, _item: &Self::Item) -> bool {
        false
    }
    /// How many items.
    fn count(&self) -> usize;
}

impl Store for Vec<Product> {
    type Item = Product;
    fn from_items(items: Vec<Product>) -> Self {
        items
    }
    fn upsert(&mut self, item: Product) {
        self.retain(|p| p.product_uid != item.product_uid);
        self.push(item);
    }
    fn count(&self) -> usize {
        self.len()
    }
}

impl Store for KeyStore {
    type Item = ServiceKey;
    fn from_items(items: Vec<ServiceKey>) -> Self {
        KeyStore::from_keys(items)
    }
    fn upsert(&mut self, item: ServiceKey) {
        KeyStore::upsert(self, item);
    }
    fn upsert_shared(&self, item: &ServiceKey) -> bool {
        KeyStore::upsert(self, item.clone());
        true
    }
    fn count(&self) -> usize {
        self.len()
    }
}

/// One read of a list.
#[derive(Clone, Debug)]
pub struct Snapshot<S> {
    /// The items as Megaport listed them (plus the operator's own writes since).
    pub items: S,
    /// When they were read (monotonic).
    pub fetched_at: Instant,
    /// When they were read (wall clock, for status).
    pub fetched_at_wall: jiff::Timestamp,
}

/// A failure this recent is answered without calling Megaport again (an outage hits every
/// reconcile at once; one call per moment is enough to learn it is still down).
const FAILURE_REUSE: Duration = Duration::from_secs(2);

type Fetch<T> = Box<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<Vec<T>, MegaportError>> + Send>> + Send + Sync,
>;

/// A shared, single-flighted list.
pub struct SharedList<S: Store> {
    what: &'static str,
    fetch: Fetch<S::Item>,
    refresh_period: Duration,
    current: std::sync::RwLock<Option<Arc<Snapshot<S>>>>,
    /// Held by the one caller fetching.
    fetching: Mutex<()>,
    /// The operator's own writes, with when they were made: re-applied over a fetch that
    /// started before them (its answer may predate them).
    writes: std::sync::Mutex<Vec<(Instant, S::Item)>>,
    /// The last failed fetch, shared with the callers that waited for it.
    failure: std::sync::Mutex<Option<(Instant, Arc<MegaportError>)>>,
}

/// The provider's products.
pub type ProductsCache = SharedList<Vec<Product>>;
/// The provider's service keys.
pub type KeysCache = SharedList<KeyStore>;

impl ProductsCache {
    /// Products over `api`, refreshed at most every `refresh_period` on their own. The API
    /// sometimes lists a product without the diversity zone it has: such a read keeps the last
    /// zone seen for that product, so diversity decisions and `DiversityAvailable` never flip on
    /// one empty read.
    pub fn products(api: Arc<dyn ProductsApi>, refresh_period: Duration) -> Self {
        let zones: Arc<std::sync::Mutex<HashMap<String, String>>> = Arc::default();
        Self::new("products", refresh_period, move || {
            let api = api.clone();
            let zones = zones.clone();
            Box::pin(async move {
                let mut products = api.list_products(None).await?;
                keep_known_zones(&mut products, &mut zones.locked());
                Ok(products)
            })
        })
    }
}

/// Fills an empty `diversityZone` with the last zone seen for the product, and remembers the
/// zones read now.
fn keep_known_zones(products: &mut [Product], known: &mut HashMap<String, String>) {
    for p in products {
        match p.diversity_zone.as_deref().map(str::trim) {
            Some(zone) if !zone.is_empty() => {
                known.insert(p.product_uid.clone(), zone.to_owned());
            }
            _ => {
                if let Some(zone) = known.get(&p.product_uid) {
                    p.diversity_zone = Some(zone.clone());
                }
            }
        }
    }
}

impl KeysCache {
    /// Every service key of the company over `api`, refreshed at most every `refresh_period`.
    pub fn keys(api: Arc<dyn ServiceKeysApi>, refresh_period: Duration) -> Self {
        Self::new("service keys", refresh_period, move || {
            let api = api.clone();
            Box::pin(async move { api.list_service_keys().await })
        })
    }
}

impl<S: Store> SharedList<S> {
    /// A list read by `fetch` at most every `refresh_period` on its own.
    pub fn new<F, Fut>(what: &'static str, refresh_period: Duration, fetch: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<S::Item>, MegaportError>> + Send + 'static,
    {
        Self {
            what,
            fetch: Box::new(move || Box::pin(fetch())),
            refresh_period,
            current: std::sync::RwLock::new(None),
            fetching: Mutex::new(()),
            writes: std::sync::Mutex::new(Vec::new()),
            failure: std::sync::Mutex::new(None),
        }
    }

    fn snapshot(&self) -> Option<Arc<Snapshot<S>>> {
        self.current.reading().clone()
    }

    /// The refresh period.
    pub fn refresh_period(&self) -> Duration {
        self.refresh_period
    }

    /// The items, read no longer than the refresh period ago.
    pub async fn get(&self) -> Result<Arc<Snapshot<S>>, Arc<MegaportError>> {
        self.get_fresher_than(self.refresh_period).await
    }

    /// The items, read no longer than `max_age` ago (a reconcile that must not act on old data
    /// asks for fresher data than the period). Concurrent callers share one fetch.
    pub async fn get_fresher_than(
        &self,
        max_age: Duration,
    ) -> Result<Arc<Snapshot<S>>, Arc<MegaportError>> {
        let fresh = |s: &Snapshot<S>| s.fetched_at.elapsed() <= max_age;
        if let Some(s) = self.snapshot().filter(|s| fresh(s)) {
            return Ok(s);
        }
        let requested = Instant::now();
        let _fetching = self.fetching.lock().await;
        // Whoever held the lock may have fetched what this caller needs.
        if let Some(s) = self
            .snapshot()
            .filter(|s| fresh(s) || s.fetched_at >= requested)
        {
            return Ok(s);
        }
        let failed = self.failure.locked().clone();
        if let Some((at, err)) = failed
            && (at >= requested || at.elapsed() < FAILURE_REUSE)
        {
            return Err(err);
        }
        let started = Instant::now();
        let items = match (self.fetch)().await {
            Ok(items) => items,
            Err(err) => {
                let err = Arc::new(err);
                *self.failure.locked() = Some((Instant::now(), err.clone()));
                return Err(err);
            }
        };
        let mut items = S::from_items(items);
        // Writes made while the fetch ran may be missing from its answer. The writes stay
        // locked until the new snapshot is in place, so a write cannot land in the old one
        // after they were copied.
        let mut writes = self.writes.locked();
        writes.retain(|(at, _)| *at >= started);
        for (_, write) in writes.iter() {
            items.upsert(write.clone());
        }
        let snapshot = Arc::new(Snapshot {
            items,
            fetched_at: Instant::now(),
            fetched_at_wall: jiff::Timestamp::now(),
        });
        *self.current.writing() = Some(snapshot.clone());
        drop(writes);
        tracing::debug!(
            what = self.what,
            count = snapshot.items.count(),
            "refreshed"
        );
        Ok(snapshot)
    }

    /// The last snapshot, however old, if any (for readiness and diagnostics).
    pub fn last(&self) -> Option<Arc<Snapshot<S>>> {
        self.snapshot()
    }

    /// Folds an item the operator just wrote into the current snapshot (replacing the entry
    /// for the same object), so later reconciles see the operator's own writes. In place for a
    /// store that can change through a shared reference; else the snapshot is copied while a
    /// reader still holds it.
    pub fn upsert(&self, item: S::Item) {
        // Pushed and applied under the writes lock: a fetch finishing meanwhile either copies
        // this write or has already put its snapshot in place.
        let mut writes = self.writes.locked();
        writes.push((Instant::now(), item.clone()));
        let current = self.snapshot();
        if current
            .as_ref()
            .is_some_and(|s| s.items.upsert_shared(&item))
        {
            return;
        }
        drop(current);
        if let Some(snapshot) = self.current.writing().as_mut() {
            Arc::make_mut(snapshot).items.upsert(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::megaport::models::CreateServiceKey;
    use crate::megaport::{ClientConfig, Credentials, Environment, MegaportClient};
    use megaport_sim::{RunningSimulator, Scenario, quantumgpu};

    /// The simulator with the QuantumGPU world, and a client configuration for its provider.
    async fn provider() -> (RunningSimulator, ClientConfig) {
        let sim = megaport_sim::spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let env = Environment::custom(&sim.base_url(), &sim.token_url()).unwrap();
        let creds = Credentials::new(
            quantumgpu::PROVIDER_ADMIN_ID,
            quantumgpu::PROVIDER_ADMIN_SECRET,
        );
        (sim, ClientConfig::new(env, creds))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_readers_share_one_fetch_per_period() {
        let (sim, config) = provider().await;
        let api: Arc<MegaportClient> = Arc::new(MegaportClient::new(config).unwrap());
        let cache = Arc::new(ProductsCache::products(
            api.clone(),
            Duration::from_secs(60),
        ));

        let readers: Vec<_> = (0..20)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get().await.map(|s| s.items.len()) })
            })
            .collect();
        for reader in readers {
            assert!(reader.await.unwrap().unwrap() > 0);
        }
        let control = sim.control();
        assert_eq!(control.counter("GET /v2/products").await.unwrap(), 1);

        // Within the period: served from the snapshot. Asking for fresher data fetches again.
        cache.get().await.unwrap();
        assert_eq!(control.counter("GET /v2/products").await.unwrap(), 1);
        cache.get_fresher_than(Duration::ZERO).await.unwrap();
        assert_eq!(control.counter("GET /v2/products").await.unwrap(), 2);

        // The keys list works the same way, and the operator's own writes are folded in.
        let keys = KeysCache::keys(api.clone(), Duration::from_secs(60));
        let before = keys.get().await.unwrap().items.len();
        let created = api
            .create_service_key(&CreateServiceKey {
                product_uid: quantumgpu::PORT_LAX_EQ1_BLUE.into(),
                single_use: true,
                max_speed: 100,
                active: true,
                pre_approved: false,
                description: None,
                vlan: Some(3999),
                valid_for: None,
            })
            .await
            .unwrap();
        keys.upsert(created.clone());
        let after = keys.get().await.unwrap();
        assert_eq!(after.items.len(), before + 1);
        assert!(after.items.all().iter().any(|k| k.key == created.key));
        assert_eq!(control.counter("GET /v2/service/key").await.unwrap(), 1);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn own_writes_survive_a_fetch_that_started_before_them() {
        let key = |speed: u32| -> ServiceKey {
            serde_json::from_value(serde_json::json!({
                "key": "11111111-2222-4333-8444-555555555555", "productUid": "p", "maxSpeed": speed
            }))
            .unwrap()
        };
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let gates = std::sync::Mutex::new(Some((started_tx, release_rx)));
        let cache = KeysCache::new("keys", Duration::from_secs(60), move || {
            let gate = gates.lock().unwrap().take();
            async move {
                if let Some((started, release)) = gate {
                    let _ = started.send(());
                    let _ = release.await;
                }
                // The answer Megaport gave before the operator's write: the old speed.
                Ok(vec![key(100)])
            }
        });
        let cache = Arc::new(cache);
        let reader = tokio::spawn({
            let cache = cache.clone();
            async move { cache.get().await.unwrap() }
        });
        started_rx.await.unwrap();
        cache.upsert(key(500));
        release_tx.send(()).unwrap();
        let snapshot = reader.await.unwrap();
        assert_eq!(snapshot.items.len(), 1);
        assert_eq!(
            snapshot.items.all()[0].max_speed,
            Some(500),
            "the write was lost"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_waiting_for_a_failed_fetch_share_its_error() {
        let (sim, mut config) = provider().await;
        config.retry.max_retries = 0;
        let api: Arc<MegaportClient> = Arc::new(MegaportClient::new(config).unwrap());
        let control = sim.control();
        control
            .inject_fault(
                &megaport_sim::FaultSpec::latency(300)
                    .path("/oauth2/token")
                    .times(1),
            )
            .await
            .unwrap();
        control
            .inject_fault(&megaport_sim::FaultSpec::status(503).path("/v2/products"))
            .await
            .unwrap();
        let cache = Arc::new(ProductsCache::products(api, Duration::from_secs(60)));
        let readers: Vec<_> = (0..10)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get().await.map(|s| s.items.len()) })
            })
            .collect();
        for reader in readers {
            let err = reader.await.unwrap().unwrap_err();
            assert!(err.to_string().contains("503"), "{err}");
        }
        // The first fetch was slow (its token took a while), then failed; everyone who waited got its error.
        assert_eq!(control.counter("GET /v2/products").await.unwrap(), 1);
        // Megaport is back, but a caller right after the failure gets it without a call...
        control.clear_faults().await.unwrap();
        assert!(cache.get().await.is_err());
        assert_eq!(control.counter("GET /v2/products").await.unwrap(), 1);
        // ...and a later one tries again.
        tokio::time::sleep(FAILURE_REUSE).await;
        assert!(cache.get().await.is_ok());
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn an_empty_zone_read_keeps_the_last_known_zone() {
        use crate::megaport::fake::FakeMegaport;
        let fake = FakeMegaport::quantumgpu();
        let cache = ProductsCache::products(Arc::new(fake.clone()), Duration::from_secs(60));
        let zone = |items: &[Product]| {
            items
                .iter()
                .find(|p| p.product_uid == quantumgpu::PORT_LAX_EQ1_BLUE)
                .and_then(|p| p.diversity_zone.clone())
        };
        assert_eq!(zone(&cache.get().await.unwrap().items), Some("blue".into()));
        // The API lists the port once without its zone...
        fake.sim.empty_zone_reads(quantumgpu::PORT_LAX_EQ1_BLUE, 2);
        let raw = fake.list_products(None).await.unwrap();
        assert_eq!(
            zone(&raw).as_deref(),
            Some(""),
            "the simulator gives the empty read"
        );
        // ...and the shared snapshot keeps blue.
        let fresh = cache.get_fresher_than(Duration::ZERO).await.unwrap();
        assert_eq!(zone(&fresh.items), Some("blue".into()));
    }
}
