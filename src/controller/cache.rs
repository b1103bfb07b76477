//! The provider's products, shared by every controller: one `GET /v2/products` per refresh
//! period for the whole operator, whatever the number of regions and requests.
//!
//! Readers get the current snapshot. When it is older than the refresh period, or older than
//! the freshness a reconcile asks for, exactly one caller fetches (single flight) and the others
//! wait for that result instead of calling Megaport themselves. A failed refresh leaves the
//! previous snapshot in place and returns the error; the caller retries with its backoff.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::megaport::models::Product;
use crate::megaport::{MegaportApi, MegaportError};

/// One read of the products.
#[derive(Debug)]
pub struct Snapshot {
    /// The products as Megaport listed them.
    pub products: Vec<Product>,
    /// When they were read (monotonic).
    pub fetched_at: Instant,
    /// When they were read (wall clock, for status).
    pub fetched_at_wall: jiff::Timestamp,
}

/// The shared products cache.
pub struct ProductsCache {
    api: Arc<dyn MegaportApi>,
    refresh_period: Duration,
    current: std::sync::RwLock<Option<Arc<Snapshot>>>,
    /// Held by the one caller fetching.
    fetching: Mutex<()>,
}

impl ProductsCache {
    /// A cache over `api` that refreshes at most every `refresh_period` on its own.
    pub fn new(api: Arc<dyn MegaportApi>, refresh_period: Duration) -> Self {
        Self {
            api,
            refresh_period,
            current: std::sync::RwLock::new(None),
            fetching: Mutex::new(()),
        }
    }

    fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The products, read no longer than the refresh period ago.
    pub async fn get(&self) -> Result<Arc<Snapshot>, MegaportError> {
        self.get_fresher_than(self.refresh_period).await
    }

    /// The products, read no longer than `max_age` ago (a reconcile that just changed
    /// something asks for fresher data than the period). Concurrent callers share one fetch.
    pub async fn get_fresher_than(
        &self,
        max_age: Duration,
    ) -> Result<Arc<Snapshot>, MegaportError> {
        let fresh = |s: &Snapshot| s.fetched_at.elapsed() <= max_age;
        if let Some(s) = self.snapshot().filter(|s| fresh(s)) {
            return Ok(s);
        }
        let _fetching = self.fetching.lock().await;
        // Whoever held the lock may have fetched what this caller needs.
        if let Some(s) = self.snapshot().filter(|s| fresh(s)) {
            return Ok(s);
        }
        let products = self.api.list_products(None).await?;
        let snapshot = Arc::new(Snapshot {
            products,
            fetched_at: Instant::now(),
            fetched_at_wall: jiff::Timestamp::now(),
        });
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(snapshot.clone());
        tracing::debug!(
            products = snapshot.products.len(),
            "refreshed Megaport products"
        );
        Ok(snapshot)
    }

    /// The last snapshot, however old, if any (for readiness and diagnostics).
    pub fn last(&self) -> Option<Arc<Snapshot>> {
        self.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::megaport::{ClientConfig, Credentials, Environment, MegaportClient};
    use crate::simulator::{self, Scenario, quantumgpu};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_readers_share_one_fetch_per_period() {
        let sim = simulator::spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let env = Environment::custom(&sim.base_url(), &sim.token_url()).unwrap();
        let creds = Credentials::new(
            quantumgpu::PROVIDER_ADMIN_ID,
            quantumgpu::PROVIDER_ADMIN_SECRET,
        );
        let api = Arc::new(MegaportClient::new(ClientConfig::new(env, creds)).unwrap());
        let cache = Arc::new(ProductsCache::new(api, Duration::from_secs(60)));

        let readers: Vec<_> = (0..20)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get().await.map(|s| s.products.len()) })
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
        sim.shutdown().await;
    }
}
