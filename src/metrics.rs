//! The operator's Prometheus metrics (prometheus-client): what the controllers, the Megaport
//! client and the election record as they go, and what is computed when scraped (snapshot
//! ages, seconds until each request's next key expiry, the request budget left). Labels carry
//! controllers, results, error categories, API routes (templates, never ids), key states and
//! request names: never a key, a token or a secret. `docs/metrics.md` lists every metric.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use crate::sync::Locked;

/// Every metric name starts with this.
pub const PREFIX: &str = "megaport_operator";
/// The `Content-Type` of `/metrics` (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    controller: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    controller: &'static str,
    category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestNameLabels {
    namespace: String,
    request: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SnapshotLabels {
    snapshot: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

fn seconds_buckets() -> impl Iterator<Item = f64> {
    // 1 ms … ~524 s: a wait for the rate budget can last a whole 300 s window.
    exponential_buckets(0.001, 2.0, 20)
}

/// The metrics of one process. Cheap to clone; clones record into the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_duration: Family<ControllerLabels, Histogram>,
    errors: Family<ErrorLabels, Counter>,
    megaport_requests: Family<RequestLabels, Counter>,
    megaport_duration: Family<RouteLabels, Histogram>,
    budget_wait: Histogram,
    keys: Family<StateLabels, Gauge>,
    leader: Gauge,
    live: Arc<Live>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles by controller and result (ok, error)",
            reconciles.clone(),
        );
        let reconcile_duration =
            Family::<ControllerLabels, Histogram>::new_with_constructor(|| {
                Histogram::new(seconds_buckets())
            });
        registry.register(
            "reconcile_duration_seconds",
            "How long reconciles take, by controller",
            reconcile_duration.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed reconciles by controller and error category",
            errors.clone(),
        );
        let megaport_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "megaport_requests",
            "Megaport API requests sent, by route and HTTP status (transport: no answer)",
            megaport_requests.clone(),
        );
        let megaport_duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(seconds_buckets())
        });
        registry.register(
            "megaport_request_duration_seconds",
            "Megaport API request latency, by route",
            megaport_duration.clone(),
        );
        let budget_wait = Histogram::new(seconds_buckets());
        registry.register(
            "megaport_budget_wait_seconds",
            "Time requests waited for a place in Megaport's rolling request window",
            budget_wait.clone(),
        );
        let keys = Family::<StateLabels, Gauge>::default();
        registry.register(
            "service_keys",
            "The operator's service keys in Megaport, by state (from the keys snapshot)",
            keys.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease (or runs without election), else 0",
            leader.clone(),
        );
        let info = Family::<VersionLabels, Gauge>::default();
        info.get_or_create(&VersionLabels {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
        registry.register("build_info", "The operator's version (always 1)", info);
        let live = Arc::new(Live::default());
        registry.register_collector(Box::new(live.clone()));
        Self {
            inner: Arc::new(Inner {
                registry,
                reconciles,
                reconcile_duration,
                errors,
                megaport_requests,
                megaport_duration,
                budget_wait,
                keys,
                leader,
                live,
            }),
        }
    }

    /// Everything, in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.inner.registry);
        out
    }

    /// A reconcile of `controller` ended after `elapsed`; `error` is the failure's category.
    pub fn reconciled(
        &self,
        controller: &'static str,
        elapsed: Duration,
        error: Option<&'static str>,
    ) {
        let result = if error.is_some() { "error" } else { "ok" };
        self.inner
            .reconciles
            .get_or_create(&ReconcileLabels { controller, result })
            .inc();
        self.inner
            .reconcile_duration
            .get_or_create(&ControllerLabels { controller })
            .observe(elapsed.as_secs_f64());
        if let Some(category) = error {
            self.inner
                .errors
                .get_or_create(&ErrorLabels {
                    controller,
                    category,
                })
                .inc();
        }
    }

    /// The operator's keys by state, replacing the previous counts.
    pub fn set_keys<'a>(&self, states: impl IntoIterator<Item = (&'a str, i64)>) {
        self.inner.keys.clear();
        for (state, count) in states {
            self.inner
                .keys
                .get_or_create(&StateLabels {
                    state: state.to_owned(),
                })
                .set(count);
        }
    }

    /// Whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.inner.leader.set(i64::from(leading));
    }

    /// The snapshot `name` was read from Megaport at `at`.
    pub fn snapshot_read(&self, name: &'static str, at: Instant) {
        self.inner.live.snapshots.locked().insert(name, at);
    }

    /// Request `namespace/name`'s next key expiry (`None`: none, or the request is gone).
    pub fn set_next_expiry(&self, namespace: &str, name: &str, at: Option<jiff::Timestamp>) {
        let key = (namespace.to_owned(), name.to_owned());
        let mut expiries = self.inner.live.expiries.locked();
        match at {
            Some(at) => expiries.insert(key, at),
            None => expiries.remove(&key),
        };
    }

    /// Where the request budget left is read from when scraped (set once).
    pub fn budget_from(&self, remaining: impl Fn() -> usize + Send + Sync + 'static) {
        let _ = self.inner.live.budget.set(Box::new(remaining));
    }
}

impl crate::megaport::Observer for Metrics {
    fn answered(&self, route: &'static str, status: Option<u16>, elapsed: Duration) {
        let status = status.map_or_else(|| "transport".to_owned(), |s| s.to_string());
        self.inner
            .megaport_requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.inner
            .megaport_duration
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
    }

    fn waited(&self, elapsed: Duration) {
        self.inner.budget_wait.observe(elapsed.as_secs_f64());
    }
}

/// What is computed when scraped.
#[derive(Default)]
struct Live {
    snapshots: Mutex<BTreeMap<&'static str, Instant>>,
    expiries: Mutex<HashMap<(String, String), jiff::Timestamp>>,
    budget: OnceLock<Box<dyn Fn() -> usize + Send + Sync>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (L, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in values {
        ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let ages: Vec<_> = self
            .snapshots
            .locked()
            .iter()
            .map(|(&snapshot, at)| (SnapshotLabels { snapshot }, at.elapsed().as_secs_f64()))
            .collect();
        gauges(
            &mut encoder,
            "snapshot_age_seconds",
            "Age of the shared Megaport snapshots (products, keys)",
            ages,
        )?;
        let now = jiff::Timestamp::now();
        let expiries: Vec<_> = self
            .expiries
            .locked()
            .iter()
            .map(|((namespace, request), at)| {
                let left = at.duration_since(now).as_secs_f64().max(0.0);
                let labels = RequestNameLabels {
                    namespace: namespace.clone(),
                    request: request.clone(),
                };
                (labels, left)
            })
            .collect();
        gauges(
            &mut encoder,
            "key_expiry_seconds",
            "Seconds until the next key of a ServiceKeyRequest expires (requests with expiring keys)",
            expiries,
        )?;
        if let Some(remaining) = self.budget.get() {
            let metric = encoder.encode_descriptor(
                "megaport_budget_remaining",
                "Megaport requests this process may still send in the current rolling window",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(i64::try_from(remaining()).unwrap_or(i64::MAX)).encode(metric)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::megaport::Observer;

    #[test]
    fn recorded_values_appear_in_the_text_with_their_labels() {
        let metrics = Metrics::new();
        metrics.reconciled("ServiceKeyRequest", Duration::from_millis(20), None);
        metrics.reconciled(
            "ServiceKeyRequest",
            Duration::from_millis(20),
            Some("megaport"),
        );
        metrics.answered("POST /v2/service/key", Some(200), Duration::from_millis(5));
        metrics.answered("GET /v2/products", None, Duration::from_millis(5));
        metrics.set_keys([("ACTIVE", 3), ("USED", 1)]);
        metrics.set_leader(true);
        metrics.snapshot_read("keys", Instant::now());
        metrics.set_next_expiry(
            "acme",
            "k1",
            Some(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600)),
        );
        metrics.budget_from(|| 449);
        let text = metrics.encode();
        for line in [
            r#"megaport_operator_reconciles_total{controller="ServiceKeyRequest",result="ok"} 1"#,
            r#"megaport_operator_reconciles_total{controller="ServiceKeyRequest",result="error"} 1"#,
            r#"megaport_operator_reconcile_errors_total{controller="ServiceKeyRequest",category="megaport"} 1"#,
            r#"megaport_operator_megaport_requests_total{route="POST /v2/service/key",status="200"} 1"#,
            r#"megaport_operator_megaport_requests_total{route="GET /v2/products",status="transport"} 1"#,
            r#"megaport_operator_service_keys{state="ACTIVE"} 3"#,
            r#"megaport_operator_leader 1"#,
            r#"megaport_operator_megaport_budget_remaining 449"#,
            r#"megaport_operator_build_info{version=""#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(text.contains(r#"megaport_operator_snapshot_age_seconds{snapshot="keys"} "#));
        let expiry = text
            .lines()
            .find_map(|l| {
                l.strip_prefix(
                    r#"megaport_operator_key_expiry_seconds{namespace="acme",request="k1"} "#,
                )
            })
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no expiry in\n{text}"));
        assert!((3590.0..=3600.0).contains(&expiry), "{expiry}");
        metrics.set_next_expiry("acme", "k1", None);
        assert!(!metrics.encode().contains("request=\"k1\""));
        metrics.set_keys([("ACTIVE", 2)]);
        assert!(
            !metrics.encode().contains(r#"state="USED""#),
            "replaced, not added"
        );
    }
}
