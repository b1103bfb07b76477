//! Keeps the shared Megaport snapshots fresh on their own — one `GET /v2/service/key` per
//! keys period and one `GET /v2/products` per products period, whatever the number of
//! requests — and turns what changed between two reads into reconciles of exactly the requests
//! concerned (a key used, expired, edited or gone; a product changed under a request's keys).
//! So an issued request is not reconciled every period just in case: at rest the apiserver
//! sees nothing, and a change reaches its request within one period.

use std::sync::Arc;

use futures::channel::mpsc::UnboundedSender;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::ObjectRef;

use super::Context;
use super::cache::Snapshot;
use super::key_store::KeyStore;
use crate::crd::ServiceKeyRequest;
use crate::health::Check;
use crate::megaport::MegaportError;
use crate::megaport::models::{EpochMillis, Product};

/// A request to reconcile.
pub type Trigger = ObjectRef<DeserializeGuard<ServiceKeyRequest>>;

/// The product uids that differ between two product lists (added, changed or gone).
pub fn changed_products(older: &[Product], newer: &[Product]) -> Vec<String> {
    let changed = newer.iter().filter(|p| {
        older
            .iter()
            .find(|o| o.product_uid == p.product_uid)
            .is_none_or(|o| o != *p)
    });
    let gone = older
        .iter()
        .filter(|o| !newer.iter().any(|p| p.product_uid == o.product_uid));
    changed.chain(gone).map(|p| p.product_uid.clone()).collect()
}

/// What changed since the last look, as requests to reconcile.
#[derive(Default)]
struct Seen {
    keys: Option<Arc<Snapshot<KeyStore>>>,
    products: Option<Arc<Snapshot<Vec<Product>>>>,
}

impl Seen {
    /// Reads both snapshots (a fetch when one is older than its period) and sends a trigger
    /// for each request concerned by a difference from the previous reads.
    async fn look(&mut self, ctx: &Context, triggers: &UnboundedSender<Trigger>) {
        let mut keys = Vec::new();
        let mut on_ramps = Vec::new();
        let read = ctx.keys.get().await;
        megaport_health(ctx, read.as_ref().err());
        if let Ok(now) = read {
            let fresh = self
                .keys
                .as_ref()
                .is_none_or(|before| !Arc::ptr_eq(before, &now));
            if let Some(before) = &self.keys
                && fresh
            {
                keys = now.items.changes_since(&before.items);
            }
            if fresh {
                let metrics = &ctx.process.metrics;
                metrics.snapshot_read("keys", now.fetched_at);
                let at = EpochMillis::from_timestamp(jiff::Timestamp::now());
                metrics.set_keys(now.items.operator_key_states(at));
            }
            self.keys = Some(now);
        }
        if let Ok(now) = ctx.products.get().await {
            if let Some(before) = &self.products
                && !Arc::ptr_eq(before, &now)
            {
                on_ramps = changed_products(&before.items, &now.items);
            }
            ctx.process
                .metrics
                .snapshot_read("products", now.fetched_at);
            self.products = Some(now);
        }
        if keys.is_empty() && on_ramps.is_empty() {
            return;
        }
        let affected = ctx.ledger.affected(&keys, &on_ramps);
        tracing::debug!(
            keys = keys.len(),
            products = on_ramps.len(),
            requests = affected.len(),
            "Megaport changed"
        );
        for (namespace, name) in affected {
            let _ = triggers.unbounded_send(ObjectRef::new(&name).within(&namespace));
        }
    }
}

/// Readiness follows what Megaport says of the credentials: refused → not ready; an answer →
/// they work; any other failure changes nothing once they worked.
fn megaport_health(ctx: &Context, error: Option<&Arc<MegaportError>>) {
    let health = &ctx.process.health;
    match error {
        Some(err) if err.is_auth() => {
            health.fail(
                Check::Megaport,
                format!("Megaport refused the credentials: {err}"),
            );
        }
        Some(err) => {
            health.fail_unless_passed(
                Check::Megaport,
                format!("no answer from Megaport yet: {err}"),
            );
        }
        None => health.pass(Check::Megaport),
    }
}

/// Looks every keys period (the shorter of the two) until `shutdown`, sending triggers.
pub async fn run(
    ctx: Arc<Context>,
    triggers: UnboundedSender<Trigger>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let period = ctx.keys.refresh_period().min(ctx.products.refresh_period());
    let mut seen = Seen::default();
    let looking = async {
        loop {
            seen.look(&ctx, &triggers).await;
            tokio::time::sleep(period).await;
        }
    };
    tokio::select! {
        () = looking => {}
        () = shutdown => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(uid: &str, status: &str) -> Product {
        serde_json::from_value(serde_json::json!({
            "productUid": uid, "provisioningStatus": status,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn changed_products_are_the_added_the_changed_and_the_gone() {
        let older = [
            product("a", "LIVE"),
            product("b", "LIVE"),
            product("c", "LIVE"),
        ];
        let newer = [
            product("a", "LIVE"),
            product("b", "DECOMMISSIONED"),
            product("d", "LIVE"),
        ];
        let mut changed = changed_products(&older, &newer);
        changed.sort();
        assert_eq!(changed, ["b", "c", "d"]);
        assert!(changed_products(&newer, &newer).is_empty());
    }
}
