//! Two operator processes with leader election, each as its own Kubernetes identity: the
//! standby is ready and writes nothing (the apiserver's audit log says so, and so do its
//! metrics); the leader killed with SIGKILL in the middle of 50 requests is replaced within
//! 15 s, and every request ends Issued with exactly one key per request and zone. Also the
//! probes: `/readyz` fails until the watches listed and Megaport accepted the credentials,
//! `/metrics` parses as Prometheus text and its counters move as keys are issued.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, Role, RoleBinding};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use megaport_operator::crd::service_key_request::{Phase, ServiceKeyRequest};
use megaport_operator::delivery::Marker;
use megaport_operator::megaport::prelude::*;
use megaport_sim::{Scenario, quantumgpu};
use serde_json::json;

use crate::issuing::{request, us_west};
use crate::support::{
    self, Identity, OperatorProcess, TestNamespace, eventually, log_path, sample,
};

const REQUESTS: usize = 50;
const LEASE: &str = "megaport-operator";

/// What the test's second identity is: a ServiceAccount of the test namespace.
const STANDBY_SA: &str = "standby";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_writes_nothing_and_takes_over_within_15s_of_a_sigkill() {
    let admin = support::client(Identity::Admin).await;
    support::grant_operator_role(&admin).await;
    let ns = TestNamespace::new(&admin, "lease").await;
    let standby_kubeconfig = second_identity(&admin, &ns.name).await;
    let sim = megaport_sim::spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let provider = support::megaport_client(
        &sim,
        quantumgpu::PROVIDER_ADMIN_ID,
        quantumgpu::PROVIDER_ADMIN_SECRET,
    );
    let region = us_west(&admin).await;
    let election = |who: &'static str| {
        [
            ("LEADER_ELECT", "true"),
            ("POD_NAME", who),
            ("POD_NAMESPACE", ns.name.as_str()),
            ("LEASE_NAME", LEASE),
        ]
    };
    let operator_kubeconfig = std::env::var("KUBECONFIG_OPERATOR").unwrap();
    let (log_a, log_b) = (log_path("leader-a"), log_path("leader-b"));
    let mut a =
        OperatorProcess::start_with_env(&sim, &log_a, &operator_kubeconfig, &election("replica-a"));
    let leases: Api<Lease> = Api::namespaced(admin.clone(), &ns.name);
    holder_becomes(&leases, "replica-a", Duration::from_secs(30)).await;
    let b =
        OperatorProcess::start_with_env(&sim, &log_b, &standby_kubeconfig, &election("replica-b"));
    let started_b = jiff::Timestamp::now();
    // The standby is ready too (same watches, same snapshots), and it is not the leader.
    eventually(
        "the standby to be ready",
        Duration::from_secs(30),
        || async { (b.get("/readyz").await.0 == 200).then_some(()) },
    )
    .await;
    assert_eq!(
        sample(&b.metrics().await, "megaport_operator_leader", &[]),
        0.0
    );
    assert_eq!(
        sample(&a.metrics().await, "megaport_operator_leader", &[]),
        1.0
    );

    // 50 requests, every fifth a diverse pair (one key per zone).
    let api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns.name);
    for i in 0..REQUESTS {
        let spec = if i % 5 == 0 {
            json!({"regionRef": {"name": region}, "diversity": "Required", "maxSpeedMbps": 100})
        } else {
            json!({"regionRef": {"name": region}, "maxSpeedMbps": 100})
        };
        api.create(&PostParams::default(), &request(&format!("r{i:02}"), spec))
            .await
            .unwrap();
    }
    // Part way through, the leader is killed.
    eventually(
        "some requests to be issued",
        Duration::from_secs(60),
        || async { (issued(&api).await >= 5).then_some(()) },
    )
    .await;
    let standby_writes = writes_by(
        &format!("system:serviceaccount:{}:{STANDBY_SA}", ns.name),
        started_b,
    );
    let leader_writes = writes_by(
        "system:serviceaccount:megaport-system:megaport-operator",
        started_b,
    );
    assert!(
        !leader_writes.is_empty(),
        "the audit log shows no write by the leader either: it proves nothing"
    );
    let before = b.metrics().await;
    a.kill();
    let killed = Instant::now();
    let issued_at_kill = issued(&api).await;
    assert_eq!(
        standby_writes,
        Vec::<String>::new(),
        "the standby wrote to the apiserver"
    );
    assert!(
        a.log_text().contains("reconciled ServiceKeyRequest"),
        "the leader's log does not show its reconciles: the next check proves nothing"
    );
    assert!(
        !b.log_text().contains("reconciled ServiceKeyRequest"),
        "the standby reconciled a request"
    );
    for s in before
        .samples
        .iter()
        .filter(|s| s.metric == "megaport_operator_megaport_requests_total")
    {
        // Reads and the token they need: the snapshots are kept warm.
        let route = s.labels.get("route").unwrap_or_default();
        assert!(
            route.starts_with("GET ") || route == "POST /oauth2/token",
            "the standby sent {route} to Megaport"
        );
    }
    assert!(
        issued_at_kill < REQUESTS,
        "everything was issued before the kill: the test proves nothing"
    );

    holder_becomes(&leases, "replica-b", Duration::from_secs(30)).await;
    let takeover = killed.elapsed();
    println!(
        "leader election: SIGKILL → replica-b holds the Lease in {:.1} s ({issued_at_kill}/{REQUESTS} issued at the kill)",
        takeover.as_secs_f64()
    );
    assert!(
        takeover <= Duration::from_secs(15),
        "takeover took {takeover:?}"
    );

    eventually(
        "every request to be issued",
        Duration::from_secs(120),
        || async { (issued(&api).await == REQUESTS).then_some(()) },
    )
    .await;
    // Exactly one key per request and zone, across both processes.
    let requests = api.list(&ListParams::default()).await.unwrap().items;
    let uids: BTreeMap<String, String> = requests
        .iter()
        .map(|r| (r.uid().unwrap(), r.name_any()))
        .collect();
    let mut per: BTreeMap<(String, String), usize> = BTreeMap::new();
    for key in provider.list_service_keys().await.unwrap() {
        let Some(marker) = key.description.as_deref().and_then(Marker::parse) else {
            continue;
        };
        if let Some(name) = uids.get(&marker.request_uid) {
            *per.entry((name.clone(), marker.zone)).or_default() += 1;
        }
    }
    let diverse = REQUESTS.div_ceil(5);
    assert_eq!(
        per.len(),
        REQUESTS + diverse,
        "keys per request and zone: {per:?}"
    );
    assert!(
        per.values().all(|&n| n == 1),
        "a request got two keys in one zone: {per:?}"
    );

    // The new leader's counters moved.
    let after = b.metrics().await;
    assert_eq!(sample(&after, "megaport_operator_leader", &[]), 1.0);
    assert!(
        sample(
            &after,
            "megaport_operator_reconciles_total",
            &[("result", "ok")]
        ) > 0.0
    );
    assert!(
        sample(
            &after,
            "megaport_operator_megaport_requests_total",
            &[("route", "POST /v2/service/key")]
        ) > 0.0
    );
    support::delete_requests(&admin, &ns.name).await;
    drop(b);
    let _ = std::fs::remove_file(log_a);
    let _ = std::fs::remove_file(log_b);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_watches_and_megaport_and_metrics_count_what_happens() {
    let admin = support::client(Identity::Admin).await;
    support::grant_operator_role(&admin).await;
    let ns = TestNamespace::new(&admin, "probes").await;
    let sim = megaport_sim::spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();

    // An identity that may not list anything: the watches never complete.
    let nobody = std::env::var("KUBECONFIG_NOBODY").unwrap();
    let log = log_path("probes-nobody");
    let blind = OperatorProcess::start_with(&sim, &log, &nobody);
    let (status, live) = blind.get("/livez").await;
    assert_eq!(status, 200, "{live}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, report) = blind.get("/readyz").await;
    assert_eq!(status, 503, "{report}");
    assert!(report.contains("[-]watches"), "{report}");
    drop(blind);

    // Credentials Megaport refuses: not ready, and the report says why without the secret.
    let log = log_path("probes-refused");
    let operator = std::env::var("KUBECONFIG_OPERATOR").unwrap();
    let refused = OperatorProcess::start_with_env(
        &sim,
        &log,
        &operator,
        &[("MEGAPORT_SECRET_KEY", "not-the-secret")],
    );
    let report = eventually(
        "/readyz to name Megaport",
        Duration::from_secs(30),
        || async {
            let (status, report) = refused.get("/readyz").await;
            (status == 503 && report.contains("[-]megaport: Megaport refused the credentials"))
                .then_some(report)
        },
    )
    .await;
    assert!(report.contains("[+]watches ok"), "{report}");
    assert!(!report.contains("not-the-secret"), "{report}");
    drop(refused);

    // All well: ready, and the counters follow a key being issued.
    let log = log_path("probes-ok");
    let ok = OperatorProcess::start_with(&sim, &log, &operator);
    eventually("/readyz", Duration::from_secs(30), || async {
        let (status, report) = ok.get("/readyz").await;
        (status == 200 && report.contains("[+]crds ok") && report.contains("[+]megaport ok"))
            .then_some(())
    })
    .await;
    let before = ok.metrics().await;
    let api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns.name);
    api.create(
        &PostParams::default(),
        &request("metered", json!({"onRamp": {"productUid": quantumgpu::PORT_LAX_CS1_RED}, "maxSpeedMbps": 100, "validity": {"duration": "30d"}})),
    )
    .await
    .unwrap();
    crate::issuing::wait_phase(&api, "metered", Phase::Issued).await;
    let after = eventually(
        "the keys gauge to count the key",
        Duration::from_secs(30),
        || async {
            let m = ok.metrics().await;
            (sample(&m, "megaport_operator_service_keys", &[("state", "Active")]) >= 1.0)
                .then_some(m)
        },
    )
    .await;
    let post = [("route", "POST /v2/service/key")];
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    assert!(moved("megaport_operator_megaport_requests_total", &post) >= 1.0);
    assert!(
        moved(
            "megaport_operator_reconciles_total",
            &[("controller", "ServiceKeyRequest"), ("result", "ok")]
        ) >= 1.0
    );
    assert!(
        sample(
            &after,
            "megaport_operator_reconcile_duration_seconds_count",
            &[]
        ) >= 1.0
    );
    assert!(
        sample(
            &after,
            "megaport_operator_snapshot_age_seconds",
            &[("snapshot", "keys")]
        ) < 60.0
    );
    let expiry = sample(
        &after,
        "megaport_operator_key_expiry_seconds",
        &[("namespace", ns.name.as_str()), ("request", "metered")],
    );
    assert!(
        expiry > 29.0 * 86_400.0 && expiry <= 30.0 * 86_400.0,
        "{expiry}"
    );
    assert!(sample(&after, "megaport_operator_megaport_budget_remaining", &[]) > 0.0);
    assert_eq!(
        sample(&after, "megaport_operator_leader", &[]),
        1.0,
        "no election: always the leader"
    );
    let (_, text) = ok.get("/metrics").await;
    assert!(
        !text.contains(quantumgpu::PROVIDER_ADMIN_SECRET) && !text.contains("eyJ"),
        "a secret in /metrics"
    );
    support::delete_requests(&admin, &ns.name).await;
    drop(ok);
    sim.shutdown().await;
}

/// How many requests are Issued for their current generation.
async fn issued(api: &Api<ServiceKeyRequest>) -> usize {
    let list = api.list(&ListParams::default()).await.unwrap();
    list.items
        .iter()
        .filter(|r| {
            r.status.as_ref().is_some_and(|s| {
                s.phase == Some(Phase::Issued) && s.observed_generation == r.metadata.generation
            })
        })
        .count()
}

/// Waits until the Lease names `who` as its holder.
async fn holder_becomes(leases: &Api<Lease>, who: &str, within: Duration) {
    eventually(&format!("{who} to hold the Lease"), within, || async {
        let lease = leases.get_opt(LEASE).await.ok()??;
        (lease.spec?.holder_identity.as_deref() == Some(who)).then_some(())
    })
    .await;
}

/// A second operator identity (ServiceAccount `standby` of `namespace`, bound to the operator's
/// ClusterRole) as a kubeconfig with a token from the TokenRequest API; both identities may use
/// Leases in `namespace`.
async fn second_identity(admin: &Client, namespace: &str) -> String {
    let pp = PostParams::default();
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": STANDBY_SA}})).unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    sas.create(&pp, &sa).await.unwrap();
    let subject = json!({"kind": "ServiceAccount", "name": STANDBY_SA, "namespace": namespace});
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": format!("megaport-operator-{namespace}")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "megaport-operator"},
        "subjects": [subject],
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&pp, &binding)
        .await
        .unwrap();
    // The chart's own Role for the Lease (one source of RBAC), in the test's namespace.
    let (role, mut role_binding) = lease_rbac();
    let mut role = role;
    role.metadata.namespace = Some(namespace.to_owned());
    Api::<Role>::namespaced(admin.clone(), namespace)
        .create(&pp, &role)
        .await
        .unwrap();
    role_binding.metadata.namespace = Some(namespace.to_owned());
    role_binding.subjects = Some(vec![
        serde_json::from_value(subject.clone()).unwrap(),
        serde_json::from_value(json!({"kind": "ServiceAccount", "name": "megaport-operator", "namespace": "megaport-system"})).unwrap(),
    ]);
    Api::<RoleBinding>::namespaced(admin.clone(), namespace)
        .create(&pp, &role_binding)
        .await
        .unwrap();
    let token = sas
        .create_token_request(
            STANDBY_SA,
            &pp,
            &TokenRequest {
                spec: TokenRequestSpec {
                    audiences: vec![],
                    expiration_seconds: Some(3600),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    let path = std::env::temp_dir().join(format!("megaport-e2e-standby-{namespace}.kubeconfig"));
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "standby",
        "clusters": [{"name": "test", "cluster": {
            "server": std::env::var("KUBE_APISERVER_URL").unwrap(),
            "certificate-authority": std::env::var("HARNESS_CA_CERT").unwrap(),
        }}],
        "users": [{"name": "standby", "user": {"token": token}}],
        "contexts": [{"name": "standby", "context": {"cluster": "test", "user": "standby", "namespace": namespace}}],
    });
    std::fs::write(&path, serde_json::to_string(&kubeconfig).unwrap()).unwrap();
    // RBAC takes effect asynchronously.
    let standby = Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&path).unwrap(),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    eventually(
        "the standby's roles to take effect",
        Duration::from_secs(15),
        || async {
            Api::<ServiceKeyRequest>::all(standby.clone())
                .list(&ListParams::default().limit(1))
                .await
                .ok()?;
            Api::<Lease>::namespaced(standby.clone(), namespace)
                .get_opt(LEASE)
                .await
                .ok()
        },
    )
    .await;
    path.to_string_lossy().into_owned()
}

/// The chart's Role and RoleBinding for the Lease, as rendered in `deploy/operator.yaml`.
fn lease_rbac() -> (Role, RoleBinding) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/operator.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let of = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} in {path}"))
    };
    let role: Role = serde_json::from_value(of("Role")).unwrap();
    let rules = serde_json::to_string(&role.rules).unwrap();
    assert!(
        rules.contains(LEASE),
        "the chart's Role names another Lease: {rules}"
    );
    (role, serde_json::from_value(of("RoleBinding")).unwrap())
}

/// The writes the apiserver's audit log records for `user` since `since`, as "verb resource".
fn writes_by(user: &str, since: jiff::Timestamp) -> Vec<String> {
    let path = std::env::var("KUBE_AUDIT_LOG")
        .expect("the control plane's audit log (hack/control-plane/up.sh)");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|e| e["user"]["username"] == user)
        .filter(|e| {
            e["requestReceivedTimestamp"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t >= since)
        })
        .map(|e| format!("{} {}", e["verb"], e["objectRef"]["resource"]))
        .collect()
}
