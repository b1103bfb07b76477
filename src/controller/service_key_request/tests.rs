//! Reconcile tests: the whole ServiceKeyRequest reconcile over the in-process Megaport fake
//! (the simulator's world, no HTTP) and a mock apiserver (tower-test) that answers like one and
//! records every Kubernetes call, so each main path's calls are pinned.

use std::sync::Arc;
use std::time::Duration;

use http::Response;
use kube::client::Body;
use kube::core::DeserializeGuard;
use megaport_sim::{FaultSpec, quantumgpu};
use serde_json::{Value, json};

use super::{FINALIZER, reconcile};
use crate::controller::mock_api::{self, Call, merge, not_found, respond};
use crate::controller::{Context, Ports, Settings};
use crate::crd::ServiceKeyRequest;
use crate::issuance::RecordSeal;
use crate::megaport::fake::FakeMegaport;
use crate::megaport::prelude::*;

const NS: &str = "tenant";
const UID: &str = "0b9f6c1e-52a4-4f0e-8e43-7d2a6c1b9e10";

/// What the mock apiserver holds: the request and its Secret.
#[derive(Clone, Default)]
struct ApiState {
    request: Value,
    secret: Option<Value>,
    /// ConnectionApprovals in the namespace.
    approvals: Vec<Value>,
}

/// Answers one call like an apiserver would for this test's objects.
fn answer(state: &mut ApiState, call: &Call) -> Response<Body> {
    let secrets = format!("/api/v1/namespaces/{NS}/secrets");
    let requests = format!("/apis/megaport.onramp.dev/v1alpha1/namespaces/{NS}/servicekeyrequests");
    match (call.method.as_str(), call.path.as_str()) {
        ("GET", p) if p.ends_with("/connectionapprovals") => respond(
            200,
            &json!({"apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "ConnectionApprovalList",
                    "metadata": {"resourceVersion": "1"}, "items": state.approvals}),
        ),
        ("GET", p) if p.starts_with(&secrets) => state
            .secret
            .as_ref()
            .map_or_else(not_found, |s| respond(200, s)),
        ("POST", p) if p == secrets => {
            if !call.query.contains("dryRun") {
                state.secret = Some(call.body.clone());
            }
            respond(201, &call.body)
        }
        ("PATCH", p) if p.starts_with(&secrets) => {
            state.secret = Some(call.body.clone());
            respond(200, &call.body)
        }
        ("PATCH", p) if p.starts_with(&requests) && p.ends_with("/status") => {
            merge(&mut state.request, &json!({"status": call.body["status"]}));
            respond(200, &state.request)
        }
        ("PATCH", p) if p.starts_with(&requests) => {
            if let Some(ops) = call.body.as_array() {
                // A JSON patch: the finalizer helper removing its finalizer.
                if ops.iter().any(|op| op["op"] == "remove") {
                    state.request["metadata"]["finalizers"] = json!([]);
                }
            } else {
                merge(&mut state.request, &call.body);
            }
            respond(200, &state.request)
        }
        ("POST", p) if p.contains("/events") => respond(201, &call.body),
        _ => not_found(),
    }
}

/// Runs one reconcile of `request` (with `secret` present, if any) against `fake`; returns
/// the calls the apiserver saw, its state after, and the reconcile's result.
async fn run(fake: &FakeMegaport, request: Value, secret: Option<Value>) -> Outcome {
    run_with(fake, request, secret, Settings::default()).await
}

/// What one reconcile did: the apiserver's calls and state, and the result.
type Outcome = (
    Vec<Call>,
    ApiState,
    Result<kube::runtime::controller::Action, crate::controller::Error>,
);

/// [`run`] with `settings`.
async fn run_with(
    fake: &FakeMegaport,
    request: Value,
    secret: Option<Value>,
    settings: Settings,
) -> Outcome {
    let state = ApiState {
        request: request.clone(),
        secret,
        approvals: Vec::new(),
    };
    run_in(fake, state, settings).await
}

/// [`run`] with `approvals` (ConnectionApprovals) in the namespace.
async fn run_approved(
    fake: &FakeMegaport,
    request: Value,
    secret: Option<Value>,
    approvals: Vec<Value>,
) -> Outcome {
    let state = ApiState {
        request: request.clone(),
        secret,
        approvals,
    };
    run_in(fake, state, Settings::default()).await
}

/// One reconcile of the request `state` holds.
async fn run_in(fake: &FakeMegaport, state: ApiState, settings: Settings) -> Outcome {
    let request = state.request.clone();
    let (client, server) = mock_api::serve(state, answer);
    let ctx = Arc::new(Context::new(
        client,
        Ports::of(Arc::new(fake.clone())),
        settings,
        RecordSeal::new([7; 32]),
    ));
    let obj: ServiceKeyRequest = serde_json::from_value(request).unwrap_or_else(|e| panic!("{e}"));
    let result = reconcile(Arc::new(DeserializeGuard(Ok(obj))), ctx).await;
    let (calls, state) = server.await.unwrap_or_default();
    (calls, state, result)
}

fn request(spec: Value) -> Value {
    json!({
        "apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "ServiceKeyRequest",
        "metadata": {"name": "customer-1", "namespace": NS, "uid": UID, "generation": 1,
                     "resourceVersion": "1", "finalizers": [FINALIZER]},
        "spec": spec,
    })
}

fn on_ramp_spec() -> Value {
    json!({"onRamp": {"productUid": quantumgpu::PORT_LAX_CS1_RED}, "maxSpeedMbps": 100, "vlan": 150})
}

fn shorts(calls: &[Call]) -> Vec<String> {
    calls.iter().map(Call::short).collect()
}

fn condition<'a>(state: &'a ApiState, type_: &str) -> Option<&'a Value> {
    state.request["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

#[tokio::test]
async fn a_first_reconcile_plans_issues_once_and_delivers() {
    let fake = FakeMegaport::quantumgpu();
    let (calls, state, result) = run(&fake, request(on_ramp_spec()), None).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        shorts(&calls),
        [
            "GET secrets/customer-1",
            "POST tenant/secrets (dry run)",
            "PATCH customer-1/status",
            "PATCH servicekeyrequests/customer-1",
            "PATCH servicekeyrequests/customer-1",
            "GET secrets/customer-1",
            "POST tenant/secrets",
            "PATCH customer-1/status",
            "POST tenant/events",
        ],
        "check the Secret, say it is issuing, record the plan, record the key, deliver, report, announce"
    );
    let first_status = calls
        .iter()
        .find(|c| c.path.ends_with("/status"))
        .map(|c| c.body["status"].clone())
        .unwrap_or_default();
    assert_eq!(first_status["phase"], "Pending", "{first_status}");
    assert_eq!(first_status["observedGeneration"], 1, "{first_status}");
    let reconciling = first_status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Reconciling"))
        .map(|c| (c["status"].clone(), c["reason"].clone()));
    assert_eq!(
        reconciling,
        Some((json!("True"), json!("Issuing"))),
        "kstatus reads this as InProgress before any key exists: {first_status}"
    );
    assert_eq!(fake.sim.counter("POST /v2/service/key"), 1);
    assert_eq!(
        fake.sim.counter("GET /v2/service/key"),
        1,
        "the shared key list only: no search before a first create (one call per key)"
    );
    let key = fake
        .list_service_keys_for_product(quantumgpu::PORT_LAX_CS1_RED)
        .await
        .unwrap_or_default();
    let secret = state.secret.unwrap_or_default();
    assert_eq!(
        secret["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "megaport-operator"
    );
    assert!(secret["data"]["serviceKey"].is_string());
    assert_eq!(key.len(), 1);
    assert_eq!(key[0].vlan, Some(150));
    assert_eq!(state.request["status"]["phase"], "Issued");
    assert!(state.request["metadata"]["annotations"]["megaport.onramp.dev/keys-seal"].is_string());
    let status = calls
        .iter()
        .find(|c| c.path.ends_with("/status"))
        .map(|c| c.query.clone());
    assert!(
        status.is_some_and(
            |q| q.contains("fieldManager=megaport-operator") && q.contains("force=true")
        ),
        "status is written by server-side apply as the operator"
    );
}

#[tokio::test]
async fn a_steady_request_reads_its_secret_and_writes_nothing() {
    let fake = FakeMegaport::quantumgpu();
    let (_, first, _) = run(&fake, request(on_ramp_spec()), None).await;
    let (calls, _, result) = run(&fake, first.request.clone(), first.secret.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        shorts(&calls),
        ["GET secrets/customer-1"],
        "no write when nothing changed"
    );
    assert_eq!(fake.sim.counter("POST /v2/service/key"), 1, "no second key");
    assert_eq!(fake.sim.counter("PUT /v2/service/key"), 0);
}

#[tokio::test]
async fn a_foreign_secret_gets_no_key_and_a_stalled_request() {
    let fake = FakeMegaport::quantumgpu();
    let foreign = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "customer-1", "namespace": NS, "resourceVersion": "5"}, "data": {"mine": "eA=="}});
    let (calls, state, result) = run(&fake, request(on_ramp_spec()), Some(foreign.clone())).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        fake.sim.counter("POST /v2/service/key"),
        0,
        "a key for a request that cannot receive it"
    );
    assert_eq!(
        state.secret,
        Some(foreign),
        "the foreign Secret is untouched"
    );
    assert!(
        !shorts(&calls)
            .iter()
            .any(|c| c.starts_with("POST tenant/secrets"))
    );
    let ready = condition(&state, "Ready").cloned().unwrap_or_default();
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("SecretConflict"))
    );
    assert_eq!(
        condition(&state, "Stalled").map(|c| c["status"].clone()),
        Some(json!("True"))
    );
}

#[tokio::test]
async fn an_invalid_spec_is_reported_without_any_megaport_call() {
    let fake = FakeMegaport::quantumgpu();
    let spec = json!({"onRamp": {"productUid": quantumgpu::PORT_LAX_CS1_RED}, "secret": {"name": "Bad_Name!"}});
    let (calls, state, result) = run(&fake, request(spec), None).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        shorts(&calls),
        ["PATCH customer-1/status", "POST tenant/events"]
    );
    assert_eq!(
        fake.sim.counter("GET /v2/products") + fake.sim.counter("GET /v2/service/key"),
        0
    );
    let ready = condition(&state, "Ready").cloned().unwrap_or_default();
    assert_eq!(ready["reason"], "InvalidSpec");
    assert!(
        ready["message"]
            .as_str()
            .unwrap_or_default()
            .contains("secret.name")
    );
}

#[tokio::test]
async fn megaport_down_is_reported_in_status_and_retried() {
    let fake = FakeMegaport::quantumgpu();
    fake.sim
        .inject_fault(FaultSpec::status(503).path("/v2/products"))
        .unwrap_or_default();
    let (calls, state, result) = run(&fake, request(on_ramp_spec()), None).await;
    assert!(result.is_err(), "the error goes to the retry policy");
    assert_eq!(
        shorts(&calls),
        ["PATCH customer-1/status"],
        "a failure is noted in status without an event"
    );
    let reconciling = condition(&state, "Reconciling")
        .cloned()
        .unwrap_or_default();
    assert_eq!(reconciling["reason"], "MegaportUnavailable");
    assert!(
        reconciling["message"]
            .as_str()
            .unwrap_or_default()
            .contains("503")
    );
    assert_eq!(
        condition(&state, "Ready").map(|c| c["status"].clone()),
        Some(json!("False"))
    );
}

#[tokio::test]
async fn deletion_deactivates_the_key_and_lets_the_finalizer_go() {
    let fake = FakeMegaport::quantumgpu();
    let (_, first, _) = run(&fake, request(on_ramp_spec()), None).await;
    let mut deleting = first.request.clone();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
    let (calls, state, result) = run(&fake, deleting, first.secret.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        shorts(&calls),
        ["PATCH servicekeyrequests/customer-1"],
        "only the finalizer"
    );
    assert_eq!(state.request["metadata"]["finalizers"], json!([]));
    let keys = fake.list_service_keys().await.unwrap_or_default();
    let ours: Vec<_> = keys.iter().filter(|k| k.vlan == Some(150)).collect();
    assert_eq!(ours.len(), 1);
    assert!(!ours[0].active, "deactivated");
    assert_eq!(ours[0].max_speed, Some(100), "every other field kept");
}

#[tokio::test]
async fn a_lost_create_answer_is_adopted_on_the_next_reconcile() {
    let fake = FakeMegaport::quantumgpu();
    // Megaport creates the key, and the answer never arrives.
    fake.sim
        .inject_fault(
            FaultSpec::lost_answer(0)
                .method("POST")
                .path("/v2/service/key")
                .times(1),
        )
        .unwrap_or_default();
    let (_, first, result) = run(&fake, request(on_ramp_spec()), None).await;
    assert!(
        result.is_err(),
        "an unknown outcome is an error of its step"
    );
    assert_eq!(fake.sim.counter("POST /v2/service/key"), 1);
    let (_, second, result) = run(&fake, first.request.clone(), first.secret.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(second.request["status"]["phase"], "Issued");
    assert_eq!(
        fake.sim.counter("POST /v2/service/key"),
        1,
        "adopted by its marker, not created again"
    );
    let keys = fake
        .list_service_keys_for_product(quantumgpu::PORT_LAX_CS1_RED)
        .await
        .unwrap_or_default();
    assert_eq!(
        keys.iter().filter(|k| k.vlan == Some(150)).count(),
        1,
        "exactly one key"
    );
}

#[tokio::test]
async fn updates_are_paced_per_key_and_counted() {
    let fake = FakeMegaport::quantumgpu();
    // Megaport's limit on updates per service, enforced (scaled to one per second, as the
    // operator's spacing): pacing never meets a refusal.
    fake.sim
        .set_limits(&megaport_sim::limits::LimitsUpdate {
            service_updates: Some(megaport_sim::limits::ServiceUpdatesChange {
                enabled: Some(true),
                spacing_seconds: Some(1),
                per_month: None,
            }),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let run = |request, secret| run_with(&fake, request, secret, paced_settings());
    let (_, first, _) = run(request(on_ramp_spec()), None).await;
    // A spec change: updated at once (no update yet), and counted.
    let mut faster = first.request.clone();
    faster["spec"]["maxSpeedMbps"] = json!(200);
    faster["metadata"]["generation"] = json!(2);
    let (_, second, result) = run(faster, first.secret.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(fake.sim.counter("PUT /v2/service/key"), 1);
    assert_eq!(second.request["status"]["keys"][0]["updatesLast30Days"], 1);
    // Another change right after: held back, said so, no second PUT.
    let mut again = second.request.clone();
    again["spec"]["maxSpeedMbps"] = json!(300);
    again["metadata"]["generation"] = json!(3);
    let (_, third, result) = run(again, second.secret.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        fake.sim.counter("PUT /v2/service/key"),
        1,
        "one update per key per 5 minutes"
    );
    let reconciling = condition(&third, "Reconciling")
        .cloned()
        .unwrap_or_default();
    assert_eq!(reconciling["reason"], "UpdatePaced");
    assert!(
        reconciling["message"]
            .as_str()
            .unwrap_or_default()
            .contains("sent at")
    );
    // Once the spacing has passed, the held change goes out, once.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, fourth, result) = run(third.request.clone(), third.secret.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(fake.sim.counter("PUT /v2/service/key"), 2);
    assert_eq!(fourth.request["status"]["keys"][0]["updatesLast30Days"], 2);
    let limits = fake.sim.limits();
    assert_eq!(
        limits["serviceUpdates"]["refused"], 0,
        "no update was refused"
    );
}

/// The default settings with updates spaced one second apart.
fn paced_settings() -> Settings {
    Settings {
        update_spacing: Duration::from_secs(1),
        ..Settings::default()
    }
}

/// The customer orders a VXC at `rate` with the request's key (not pre-approved): it waits
/// for QuantumGPU. Its UID.
async fn customer_orders_with_the_key(fake: &FakeMegaport, rate: u32) -> String {
    use crate::megaport::models::{OrderItem, VxcOrder};
    let keys = fake
        .list_service_keys_for_product(quantumgpu::PORT_LAX_CS1_RED)
        .await
        .unwrap_or_default();
    let key = keys
        .first()
        .map(|k| k.key.clone())
        .unwrap_or_else(|| panic!("no key"));
    let customer = fake.as_client(
        quantumgpu::CUSTOMER_ADMIN_ID,
        quantumgpu::CUSTOMER_ADMIN_SECRET,
    );
    let order = OrderItem::Vxc(VxcOrder::with_service_key(
        quantumgpu::CUSTOMER_PORT_LAX,
        "to QuantumGPU",
        None,
        key,
        quantumgpu::PORT_LAX_CS1_RED,
        rate,
    ));
    let bought = customer
        .buy_network_design(&[order], &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    bought
        .first()
        .and_then(|b| b.product_uid())
        .unwrap_or_default()
        .to_owned()
}

fn announced(calls: &[Call], reason: &str) -> usize {
    calls.iter().filter(|c| c.body["reason"] == reason).count()
}

#[tokio::test]
async fn a_connection_waiting_on_a_key_shows_in_status_and_is_announced_once() {
    let fake = FakeMegaport::quantumgpu();
    let (_, first, result) = run(&fake, request(on_ramp_spec()), None).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(
        condition(&first, "ConnectionsPending").is_none(),
        "nothing waits"
    );
    let megaport_calls = |f: &FakeMegaport| -> u64 {
        [
            "GET /v2/products",
            "GET /v2/service/key",
            "GET /v2/product/{uid}",
            "GET /v2/service/key?key",
            "PUT /v3/product/vxc/{uid}",
        ]
        .iter()
        .map(|r| f.sim.counter(r))
        .sum()
    };
    // What a steady reconcile costs, with nothing waiting...
    let before = megaport_calls(&fake);
    let _ = run(&fake, first.request.clone(), first.secret.clone()).await;
    let steady = megaport_calls(&fake) - before;
    let vxc = customer_orders_with_the_key(&fake, 100).await;
    let before = megaport_calls(&fake);
    let (calls, second, result) = run(&fake, first.request.clone(), first.secret.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    // ... is what it costs with a connection waiting: it is read from the same lists.
    assert_eq!(
        megaport_calls(&fake) - before,
        steady,
        "no Megaport call per connection"
    );
    let waiting = second.request["status"]["connections"].clone();
    assert_eq!(waiting[0]["vxcUid"], vxc.as_str(), "{waiting}");
    assert_eq!(waiting[0]["state"], "Pending");
    assert_eq!(waiting[0]["company"], "Acme Robotics");
    assert_eq!(waiting[0]["rateMbps"], 100);
    assert_eq!(waiting[0]["vlan"], 150, "the key's VLAN");
    assert_eq!(
        waiting[0]["reason"],
        "waiting for a person (no autoApprove rules)"
    );
    let pending = condition(&second, "ConnectionsPending")
        .cloned()
        .unwrap_or_default();
    assert_eq!(pending["status"], "True");
    assert!(
        pending["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&vxc),
        "{pending}"
    );
    assert_eq!(
        announced(&calls, "ConnectionRequested"),
        1,
        "announced when it arrives"
    );
    let (calls, _, _) = run(&fake, second.request.clone(), second.secret.clone()).await;
    assert_eq!(announced(&calls, "ConnectionRequested"), 0, "once");
    assert_eq!(
        fake.sim.counter("PUT /v3/product/vxc/{uid}"),
        0,
        "no policy: nothing sent"
    );
}

#[tokio::test]
async fn a_policy_approves_a_matching_connection_once_across_a_restart() {
    let fake = FakeMegaport::quantumgpu();
    let mut spec = on_ramp_spec();
    spec["connections"] = json!({"autoApprove": {"companies": [quantumgpu::CUSTOMER_COMPANY_UID]}});
    let (_, first, _) = run(&fake, request(spec.clone()), None).await;
    // Acme, within the key's speed and on its VLAN: every rule holds.
    let slow = customer_orders_with_the_key(&fake, 100).await;
    let (calls, second, result) = run(&fake, first.request.clone(), first.secret.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        fake.sim.counter("PUT /v3/product/vxc/{uid}"),
        1,
        "approved once"
    );
    assert_eq!(announced(&calls, "ConnectionApproved"), 1);
    let shown = second.request["status"]["connections"].clone();
    assert_eq!(shown[0]["vxcUid"], slow.as_str());
    assert_eq!(shown[0]["state"], "Approved");
    assert_eq!(shown[0]["decidedBy"], "Policy");
    let records = second.request["metadata"]["annotations"][crate::approvals::DECISIONS_ANNOTATION]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(records.contains(&slow), "recorded: {records}");
    // A restart (a new process, the records on the object): nothing is sent again.
    let (_, third, result) = run(&fake, second.request.clone(), second.secret.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        fake.sim.counter("PUT /v3/product/vxc/{uid}"),
        1,
        "not twice"
    );
    assert_eq!(
        third.request["status"]["connections"][0]["state"],
        "Approved"
    );
    assert!(condition(&third, "ConnectionsPending").is_none());
}

#[tokio::test]
async fn a_connection_no_rule_approves_is_rejected_at_the_deadline() {
    let fake = FakeMegaport::quantumgpu();
    let mut spec = on_ramp_spec();
    spec["connections"] = json!({"autoApprove": {"companies": ["Globex"]}, "rejectAfter": "1s"});
    let (_, first, _) = run(&fake, request(spec), None).await;
    let vxc = customer_orders_with_the_key(&fake, 100).await;
    let (_, second, _) = run(&fake, first.request.clone(), first.secret.clone()).await;
    assert_eq!(
        second.request["status"]["connections"][0]["state"],
        "Pending"
    );
    assert!(
        second.request["status"]["connections"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("is not in autoApprove.companies")
    );
    assert_eq!(fake.sim.counter("PUT /v3/product/vxc/{uid}"), 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (calls, third, result) = run(&fake, second.request.clone(), second.secret.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(fake.sim.counter("PUT /v3/product/vxc/{uid}"), 1);
    assert_eq!(announced(&calls, "ConnectionRejected"), 1);
    let shown = &third.request["status"]["connections"][0];
    assert_eq!(
        (shown["vxcUid"].as_str(), shown["state"].as_str()),
        (Some(vxc.as_str()), Some("Rejected"))
    );
    assert_eq!(shown["decidedBy"], "Deadline");
    let products = fake.list_products(None).await.unwrap_or_default();
    let gone = products
        .iter()
        .flat_map(|p| p.associated_vxcs.iter())
        .any(|v| v.product_uid == vxc && v.provisioning_status.is_decommissioned());
    assert!(gone, "a rejected VXC is decommissioned");
}

#[tokio::test]
async fn a_persons_decision_is_sent_once_and_recorded_as_theirs() {
    let fake = FakeMegaport::quantumgpu();
    let (_, first, _) = run(&fake, request(on_ramp_spec()), None).await;
    let vxc = customer_orders_with_the_key(&fake, 100).await;
    let approval = |name: &str, vxc: &str, decision: &str, by: &str, at: &str| {
        json!({"apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "ConnectionApproval",
               "metadata": {"name": name, "namespace": NS, "creationTimestamp": at},
               "spec": {"request": "customer-1", "vxcUid": vxc, "decision": decision,
                        "decidedBy": by, "reason": "known customer"}})
    };
    let approvals = vec![
        // For another request: not this one's to act on.
        json!({"apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "ConnectionApproval",
               "metadata": {"name": "other", "namespace": NS, "creationTimestamp": "2026-12-01T00:00:00Z"},
               "spec": {"request": "customer-2", "vxcUid": vxc, "decision": "Reject", "decidedBy": "mallory"}}),
        approval("later", &vxc, "Reject", "bob", "2026-12-01T00:05:00Z"),
        approval("first", &vxc, "Approve", "alice", "2026-12-01T00:01:00Z"),
    ];
    let (calls, second, result) = run_approved(
        &fake,
        first.request.clone(),
        first.secret.clone(),
        approvals.clone(),
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(fake.sim.counter("PUT /v3/product/vxc/{uid}"), 1);
    let shown = &second.request["status"]["connections"][0];
    assert_eq!(shown["state"], "Approved", "the first decision made counts");
    assert_eq!(
        (shown["decidedBy"].as_str(), shown["decider"].as_str()),
        (Some("Person"), Some("alice"))
    );
    assert_eq!(shown["reason"], "known customer");
    let event = calls
        .iter()
        .find(|c| c.body["reason"] == "ConnectionApproved")
        .map(|c| c.body["note"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    assert!(event.contains("alice") && event.contains(&vxc), "{event}");
    // Reconciled again (and after a restart): not sent again.
    let (_, _, result) = run_approved(
        &fake,
        second.request.clone(),
        second.secret.clone(),
        approvals,
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(fake.sim.counter("PUT /v3/product/vxc/{uid}"), 1, "once");
}

#[tokio::test]
async fn an_answer_megaport_refuses_is_recorded_and_not_sent_again() {
    let fake = FakeMegaport::quantumgpu();
    let mut spec = on_ramp_spec();
    spec["connections"] = json!({"autoApprove": {}});
    let (_, first, _) = run(&fake, request(spec), None).await;
    customer_orders_with_the_key(&fake, 100).await;
    fake.sim
        .inject_fault(
            FaultSpec::status(403)
                .method("PUT")
                .path("/v3/product/vxc/")
                .message("Forbidden")
                .times(1),
        )
        .unwrap_or_default();
    let (calls, second, result) = run(&fake, first.request.clone(), first.secret.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(announced(&calls, "ConnectionAnswerRefused"), 1);
    assert_eq!(
        second.request["status"]["connections"][0]["state"],
        "Refused"
    );
    // Still waiting in Megaport, but refused: never sent again.
    let (_, _, result) = run(&fake, second.request.clone(), second.secret.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        fake.sim.counter("PUT /v3/product/vxc/{uid}"),
        1,
        "not resent"
    );
}
