//! Reconcile tests: the whole SavedConfiguration reconcile over the in-process Megaport fake
//! (the simulator's world: its prices, rules, tags and faults) and a mock apiserver holding the
//! configuration and its Secret. A "round" feeds what the apiserver holds back in, as the
//! watch would.

use std::sync::Arc;
use std::time::Duration;

use http::Response;
use kube::client::Body;
use kube::core::DeserializeGuard;
use megaport_sim::{FaultSpec, quantumgpu};
use serde_json::{Value, json};

use super::{FINALIZER, reconcile};
use crate::controller::mock_api::{self, Call, merge, not_found, respond};
use crate::controller::{Orders, Settings, Shared};
use crate::crd::saved_configuration::SavedConfiguration;
use crate::issuance::RecordSeal;
use crate::megaport::fake::FakeMegaport;
use crate::megaport::prelude::*;
use crate::ordering::records::ORDERS_ANNOTATION;

const NS: &str = "acme";
const UID: &str = "5a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";

/// What the mock apiserver holds, and the calls of the current round.
#[derive(Clone, Default)]
struct ApiState {
    config: Value,
    secret: Option<Value>,
    calls: Vec<Call>,
}

type Shared_ = Arc<std::sync::Mutex<ApiState>>;

fn answer_shared(state: &mut Shared_, call: &Call) -> Response<Body> {
    let mut state = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    state.calls.push(call.clone());
    answer(&mut state, call)
}

fn answer(state: &mut ApiState, call: &Call) -> Response<Body> {
    let configs = format!("/apis/megaport.onramp.dev/v1alpha1/namespaces/{NS}/savedconfigurations");
    match (call.method.as_str(), call.path.as_str()) {
        ("GET", p) if p.contains("/secrets/") => state
            .secret
            .as_ref()
            .map_or_else(not_found, |s| respond(200, s)),
        ("PATCH", p) if p.starts_with(&configs) && p.ends_with("/status") => {
            // Server-side apply of the whole status by one manager: what it leaves out goes.
            state.config["status"] = call.body["status"].clone();
            respond(200, &state.config)
        }
        ("PATCH", p) if p.starts_with(&configs) => {
            if let Some(ops) = call.body.as_array() {
                if ops.iter().any(|op| op["op"] == "remove") {
                    state.config["metadata"]["finalizers"] = json!([]);
                }
            } else {
                merge(&mut state.config, &call.body);
            }
            respond(200, &state.config)
        }
        ("POST", p) if p.contains("/events") => respond(201, &call.body),
        _ => not_found(),
    }
}

type Outcome = (
    Vec<Call>,
    ApiState,
    Result<kube::runtime::controller::Action, crate::controller::Error>,
);

/// One operator process (its context and memory) over the fake and a mock apiserver; rounds
/// of reconciles feed what the apiserver holds back in, as the watch would.
struct Harness {
    fake: FakeMegaport,
    settings: Settings,
    state: Shared_,
    ctx: Arc<Orders>,
}

impl Harness {
    fn new(fake: &FakeMegaport, settings: Settings) -> Self {
        let state: Shared_ = Arc::default();
        let ctx = Self::process(fake, &settings, &state);
        Self {
            fake: fake.clone(),
            settings,
            state,
            ctx,
        }
    }

    fn process(fake: &FakeMegaport, settings: &Settings, state: &Shared_) -> Arc<Orders> {
        let (client, _server) = mock_api::serve(state.clone(), answer_shared);
        let shared = Arc::new(Shared::new(
            client,
            Arc::new(fake.clone()),
            settings.clone(),
        ));
        Arc::new(Orders::new(
            shared,
            Arc::new(fake.clone()),
            RecordSeal::new([7; 32]),
        ))
    }

    /// A new process (what a restart keeps is what the apiserver holds).
    fn restart(&mut self) {
        self.ctx = Self::process(&self.fake, &self.settings, &self.state);
    }

    /// One reconcile of `config` (with `secret`); the round's calls, the state and the result.
    async fn round(&self, config: Value, secret: Option<Value>) -> Outcome {
        {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state.config = config.clone();
            state.secret = secret;
            state.calls.clear();
        }
        let obj: SavedConfiguration =
            serde_json::from_value(config).unwrap_or_else(|e| panic!("{e}"));
        let result = reconcile(Arc::new(DeserializeGuard(Ok(obj))), self.ctx.clone()).await;
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        (state.calls.clone(), state, result)
    }

    /// `n` rounds, each from what the apiserver held after the last, each `Ok`; the state.
    async fn rounds(&self, config: Value, n: usize) -> ApiState {
        let mut config = config;
        let mut last = ApiState::default();
        for _ in 0..n {
            let (_, state, result) = self.round(config, last.secret.clone()).await;
            assert!(result.is_ok(), "{result:?}");
            config = state.config.clone();
            last = state;
        }
        last
    }
}

fn config(spec: Value) -> Value {
    json!({
        "apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "SavedConfiguration",
        "metadata": {"name": "la-uplink", "namespace": NS, "uid": UID, "generation": 1,
                     "resourceVersion": "1", "finalizers": [FINALIZER]},
        "spec": spec,
    })
}

fn la_port(order: bool) -> Value {
    json!({
        "services": {
            "ports": [{"name": "la-port", "locationId": 59, "speedMbps": 10000, "termMonths": 12, "diversityZone": "blue"}],
            "vxcs": [{"name": "to-gpu", "rateLimitMbps": 500, "termMonths": 1,
                      "aEnd": {"service": "la-port"}, "bEnd": {"productUid": quantumgpu::PORT_LAX_EQ1_BLUE}}],
        },
        "order": order,
    })
}

fn ready(state: &ApiState) -> (String, String, String) {
    let status = &state.config["status"];
    let ready = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned())
        .unwrap_or_default();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        text(&status["phase"]),
        text(&ready["reason"]),
        text(&ready["message"]),
    )
}

#[tokio::test]
async fn a_saved_design_is_priced_once_and_again_only_when_it_changes() {
    let fake = FakeMegaport::quantumgpu();
    let h = Harness::new(&fake, Settings::default());
    let (_, state, result) = h.round(config(la_port(false)), None).await;
    assert!(result.is_ok(), "{result:?}");
    let (phase, reason, message) = ready(&state);
    assert_eq!(
        (phase.as_str(), reason.as_str()),
        ("Quoted", "Quoted"),
        "{message}"
    );
    // The simulator's price: rack 200 + 0.08 × 10000 = 1000, 12 months 5 % off. The VXC from
    // the Port is priced once the Port exists.
    let quote = &state.config["status"]["quote"];
    assert_eq!(quote["services"][0]["monthlyRate"], "950.00");
    assert_eq!(quote["services"][0]["monthlyRackRate"], "1000.00");
    assert_eq!(quote["monthlyTotal"], "950.00");
    assert_eq!(quote["currency"], "USD");
    assert_eq!(quote["unpriced"], json!(["to-gpu"]));
    assert!(message.contains("950.00 USD a month"), "{message}");
    assert_eq!(fake.sim.counter("POST /v3/networkdesign/validate"), 1);
    // Reconciled again (a resync): nothing is asked of Megaport.
    let before = fake.sim.counter("GET /v2/market");
    let (_, again, _) = h.round(state.config.clone(), None).await;
    assert_eq!(
        fake.sim.counter("POST /v3/networkdesign/validate"),
        1,
        "not validated again"
    );
    assert_eq!(fake.sim.counter("GET /v2/market"), before);
    assert_eq!(ready(&again).0, "Quoted");
    // A new generation is checked again.
    let mut edited = again.config.clone();
    edited["metadata"]["generation"] = json!(2);
    edited["spec"]["services"]["ports"][0]["termMonths"] = json!(1);
    let (_, third, _) = h.round(edited, None).await;
    assert_eq!(fake.sim.counter("POST /v3/networkdesign/validate"), 2);
    assert_eq!(third.config["status"]["quote"]["monthlyTotal"], "1000.00");
    assert_eq!(third.config["status"]["validatedGeneration"], 2);
    assert_eq!(
        fake.sim.counter("POST /v4/networkdesign/buy"),
        0,
        "saved only: nothing bought"
    );
}

#[tokio::test]
async fn each_account_rule_refuses_before_megaport_validates() {
    let fake = FakeMegaport::quantumgpu();
    let h = Harness::new(&fake, Settings::default());
    let table = [
        (
            "no MVEs in that zone",
            json!({"services": {"mves": [{"name": "edge", "locationId": 60, "vendor": "Cisco", "imageId": 1, "size": "SMALL", "termMonths": 1, "diversityZone": "blue"}]}}),
            "edge: MVEs cannot be ordered at CoreSite LA1 in the blue zone",
        ),
        (
            "speed not offered",
            json!({"services": {"ports": [{"name": "la3", "locationId": 412, "speedMbps": 1000, "termMonths": 1}]}}),
            "la3: Port speed 1000 Mbps is not offered at",
        ),
        (
            "no such location",
            json!({"services": {"mcrs": [{"name": "r", "locationId": 9999, "speedMbps": 1000, "termMonths": 1}]}}),
            "r: location 9999 does not exist",
        ),
    ];
    for (case, spec, want) in table {
        let (_, state, result) = h.round(config(spec), None).await;
        assert!(result.is_ok(), "{case}: {result:?}");
        let (phase, reason, message) = ready(&state);
        assert_eq!(
            (phase.as_str(), reason.as_str()),
            ("Invalid", "DesignInvalid"),
            "{case}: {}",
            state.config["status"]
        );
        assert!(message.contains(want), "{case}: {message}");
        let stalled = state.config["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Stalled").cloned());
        assert_eq!(
            stalled.map(|s| s["status"].clone()),
            Some(json!("True")),
            "{case}"
        );
    }
    assert_eq!(
        fake.sim.counter("POST /v3/networkdesign/validate"),
        0,
        "refused before any validation"
    );
}

#[tokio::test]
async fn a_managed_account_orders_only_in_its_markets_and_only_if_managed() {
    let fake = FakeMegaport::quantumgpu();
    let h = Harness::new(&fake, Settings::default());
    let london = json!({"services": {"ports": [{"name": "lon", "locationId": 37, "speedMbps": 10000, "termMonths": 1}]},
                        "managedAccount": quantumgpu::MANAGED_COMPANY_UID});
    let (_, state, _) = h.round(config(london), None).await;
    let message = ready(&state).2;
    assert!(
        message.contains("lon: the managed account has no billing market for UK"),
        "{message}"
    );
    let stranger = json!({"services": {"ports": [{"name": "la", "locationId": 59, "speedMbps": 10000, "termMonths": 1}]},
                          "managedAccount": quantumgpu::CUSTOMER_COMPANY_UID});
    let (_, state, result) = h.round(config(stranger), None).await;
    assert!(
        result.is_ok(),
        "a refusal is a problem of the design, not a retry: {result:?}"
    );
    let (phase, _, message) = ready(&state);
    assert_eq!(phase, "Invalid");
    assert!(
        message.contains("not a managed account of your company"),
        "{message}"
    );
    let managed = json!({"services": {"ports": [{"name": "la", "locationId": 59, "speedMbps": 10000, "termMonths": 1}]},
                         "managedAccount": quantumgpu::MANAGED_COMPANY_UID});
    let (_, state, _) = h.round(config(managed), None).await;
    assert_eq!(ready(&state).0, "Quoted", "{:?}", ready(&state));
}

#[tokio::test]
async fn an_order_buys_services_then_vxcs_and_follows_them_to_live() {
    let fake = FakeMegaport::quantumgpu();
    // The products list is read afresh each round (the simulator's clock moves, not ours).
    let settings = Settings {
        provisioning_poll: Duration::ZERO,
        ..Settings::default()
    };
    let h = Harness::new(&fake, settings);
    // Validate + buy the Port; buy the VXC; follow.
    // Validate and look for the services (a process's first buy); buy the Port; buy the VXC;
    // follow.
    let state = h.rounds(config(la_port(true)), 4).await;
    assert_eq!(
        fake.sim.counter("POST /v4/networkdesign/buy"),
        2,
        "one round each"
    );
    let records = state.config["metadata"]["annotations"][ORDERS_ANNOTATION]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        records.contains("la-port") && records.contains("to-gpu"),
        "{records}"
    );
    assert!(!records.contains("pendingSince"), "{records}");
    let (phase, reason, message) = ready(&state);
    assert_eq!(
        (phase.as_str(), reason.as_str()),
        ("Provisioning", "Provisioning"),
        "{message}"
    );
    let services = state.config["status"]["services"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(services.len(), 2);
    // The products carry the configuration's tags.
    let port = services[0]["productUid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let tags = fake.get_product_tags(&port).await.unwrap_or_default();
    assert!(tags.iter().any(|t| t.value == UID), "{tags:?}");
    fake.sim.advance_clock(61_000);
    let live = h.rounds(state.config.clone(), 1).await;
    assert_eq!(ready(&live).0, "Live", "{:?}", ready(&live));
    assert_eq!(
        fake.sim.counter("POST /v4/networkdesign/buy"),
        2,
        "nothing bought again"
    );
}

#[tokio::test]
async fn a_lost_buy_answer_is_found_by_its_tags_and_not_bought_again() {
    let fake = FakeMegaport::quantumgpu();
    let h = Harness::new(&fake, Settings::default());
    fake.sim
        .inject_fault(
            FaultSpec::lost_answer(10)
                .method("POST")
                .path("/v4/networkdesign/buy")
                .times(1),
        )
        .unwrap_or_default();
    let state = h.rounds(config(la_port(true)), 1).await;
    let (_, state, result) = h.round(state.config, None).await;
    assert!(result.is_err(), "the buy's outcome is unknown");
    assert_eq!(ready(&state).0, "Ordering", "status said so before the buy");
    let records = state.config["metadata"]["annotations"][ORDERS_ANNOTATION]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        records.contains("pendingSince"),
        "recorded before the buy: {records}"
    );
    assert_eq!(fake.sim.counter("POST /v4/networkdesign/buy"), 1);
    // The operator crashes. The next one searches, adopts the Port, and buys only the VXC.
    let mut h = h;
    h.restart();
    let (calls, state, result) = h.round(state.config, None).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(
        calls.iter().any(|c| c.body["reason"] == "ServicesAdopted"),
        "an event says so"
    );
    let state = h.rounds(state.config, 2).await;
    assert_eq!(
        fake.sim.counter("POST /v4/networkdesign/buy"),
        2,
        "the Port once, the VXC once"
    );
    let products = fake.list_products(None).await.unwrap_or_default();
    let ports = products
        .iter()
        .filter(|p| p.product_name == "la-port")
        .count();
    assert_eq!(ports, 1, "exactly one Port");
    assert_eq!(ready(&state).0, "Provisioning");
}

#[tokio::test]
async fn a_refused_order_fails_once_and_is_not_sent_again() {
    let fake = FakeMegaport::quantumgpu();
    let h = Harness::new(&fake, Settings::default());
    fake.sim
        .inject_fault(
            FaultSpec::status(400)
                .method("POST")
                .path("/v4/networkdesign/buy")
                .message("Order failed")
                .data(json!("Credit limit exceeded"))
                .times(1),
        )
        .unwrap_or_default();
    let state = h.rounds(config(la_port(true)), 3).await;
    let (phase, reason, message) = ready(&state);
    assert_eq!(
        (phase.as_str(), reason.as_str()),
        ("Failed", "OrderRefused")
    );
    assert!(message.contains("Credit limit exceeded"), "{message}");
    assert_eq!(
        fake.sim.counter("POST /v4/networkdesign/buy"),
        1,
        "not sent again"
    );
    assert!(
        !state.config["metadata"]["annotations"][ORDERS_ANNOTATION]
            .as_str()
            .unwrap_or_default()
            .contains("pendingSince")
    );
    assert_eq!(state.config["status"]["orderRefusal"]["generation"], 1);
    // A new generation sends it again (and it goes through now).
    let mut edited = state.config.clone();
    edited["metadata"]["generation"] = json!(2);
    edited["spec"]["description"] = json!("again, please");
    let state = h.rounds(edited, 1).await;
    assert_eq!(fake.sim.counter("POST /v4/networkdesign/buy"), 2);
    assert_eq!(ready(&state).0, "Ordering", "{:?}", ready(&state));
    assert!(
        state.config["status"]
            .get("orderRefusal")
            .is_none_or(Value::is_null)
    );
}

#[tokio::test]
async fn deletion_cancels_as_the_policy_says_vxcs_first() {
    let fake = FakeMegaport::quantumgpu();
    let h = Harness::new(&fake, Settings::default());
    let mut spec = la_port(true);
    spec["deletionPolicy"] = json!("CancelNow");
    let state = h.rounds(config(spec), 4).await;
    let mut deleting = state.config.clone();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
    let (calls, after, result) = h.round(deleting, None).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        fake.sim.counter("POST /v3/product/{uid}/action/{action}"),
        2
    );
    assert_eq!(
        after.config["metadata"]["finalizers"],
        json!([]),
        "released"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.body["reason"] == "ServicesCancelled")
    );
    let products = fake.list_products(None).await.unwrap_or_default();
    let port = products.iter().find(|p| p.product_name == "la-port");
    assert!(
        port.is_some_and(|p| p.provisioning_status.is_decommissioned()),
        "{port:?}"
    );
    // Retain lets go without a call.
    let mut retain = state.config.clone();
    retain["spec"]["deletionPolicy"] = json!("Retain");
    retain["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
    let (_, _, result) = h.round(retain, None).await;
    assert!(result.is_ok());
    assert_eq!(
        fake.sim.counter("POST /v3/product/{uid}/action/{action}"),
        2
    );
}

#[tokio::test]
async fn forged_order_records_are_ignored_and_the_tags_decide() {
    let fake = FakeMegaport::quantumgpu();
    let h = Harness::new(&fake, Settings::default());
    let mut forged = config(la_port(true));
    forged["metadata"]["annotations"] = json!({
        ORDERS_ANNOTATION: format!(r#"[{{"service":"la-port","productUid":"{}"}}]"#, quantumgpu::PORT_LAX_CS1_RED),
    });
    forged["status"] = json!({"phase": "Provisioning"});
    let (calls, state, result) = h.round(forged, None).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(calls.iter().any(|c| c.body["reason"] == "RecordsIgnored"));
    // Nothing found under the tags yet: nothing adopted, the provider's Port untouched.
    let records = state.config["metadata"]["annotations"][ORDERS_ANNOTATION]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!records.contains(quantumgpu::PORT_LAX_CS1_RED), "{records}");
    // Every service is unknown from now on: searched, and not bought again within the settle
    // time however often it is reconciled.
    assert!(records.contains("pendingSince"), "{records}");
    let state = h.rounds(state.config, 3).await;
    assert_eq!(fake.sim.counter("POST /v4/networkdesign/buy"), 0);
    assert_eq!(ready(&state).0, "Ordering");
}

#[tokio::test]
async fn an_unusable_key_is_looked_up_once_not_on_every_reconcile() {
    let fake = FakeMegaport::quantumgpu();
    let h = Harness::new(&fake, Settings::default());
    let secret = key_secret(b"0badc0de-0000-4000-8000-000000000000");
    let spec = json!({"services": {
        "vxcs": [{"name": "to-qgpu", "rateLimitMbps": 500, "termMonths": 1,
                  "aEnd": {"productUid": quantumgpu::PORT_LAX_EQ1_BLUE}, "bEnd": {"secretKeyRef": {"name": "qgpu-key"}}}],
    }});
    let (_, state, result) = h.round(config(spec), Some(secret.clone())).await;
    assert!(result.is_ok(), "{result:?}");
    let (phase, _, message) = ready(&state);
    assert_eq!(phase, "Invalid");
    assert!(
        message.contains("to-qgpu: the service key in its Secret cannot be used"),
        "{message}"
    );
    let calls = |f: &FakeMegaport| {
        [
            "GET /v2/service/key?key",
            "GET /v3/locations",
            "GET /v2/market",
        ]
        .map(|route| f.sim.counter(route))
    };
    let before = calls(&fake);
    for _ in 0..3 {
        let (_, _, result) = h.round(state.config.clone(), Some(secret.clone())).await;
        assert!(result.is_ok(), "{result:?}");
    }
    assert_eq!(
        calls(&fake),
        before,
        "no Megaport call until the key or the spec changes"
    );
}

#[tokio::test]
async fn deletion_waits_for_a_buy_whose_outcome_is_unknown() {
    let fake = FakeMegaport::quantumgpu();
    let h = Harness::new(&fake, Settings::default());
    let mut spec = la_port(true);
    spec["deletionPolicy"] = json!("CancelNow");
    let mut deleting = config(spec);
    // A buy was about to be sent a moment ago; nothing is listed yet.
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let records = [crate::ordering::OrderRecord::pending("la-port", now_ms)];
    let annotations: serde_json::Map<String, Value> =
        crate::ordering::records::annotations(UID, &records, &RecordSeal::new([7; 32]))
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect();
    deleting["metadata"]["annotations"] = Value::Object(annotations);
    deleting["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
    let (_, after, result) = h.round(deleting, None).await;
    let err = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("a buy's outcome is not known yet"), "{err}");
    assert_eq!(
        after.config["metadata"]["finalizers"],
        json!([FINALIZER]),
        "not let go while the buy may have made something"
    );
}

#[tokio::test]
async fn a_vxc_ordered_with_a_key_from_a_secret_shows_the_key_without_it() {
    let fake = FakeMegaport::quantumgpu();
    let h = Harness::new(&fake, Settings::default());
    let key = fake
        .create_service_key(&crate::megaport::models::CreateServiceKey {
            product_uid: quantumgpu::PORT_LAX_CS1_RED.into(),
            single_use: true,
            max_speed: 1000,
            vlan: Some(321),
            pre_approved: true,
            active: true,
            description: Some("for acme".into()),
            valid_for: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let value = key.key.expose().to_owned();
    let secret = key_secret(value.as_bytes());
    let spec = json!({"services": {
        "vxcs": [{"name": "to-qgpu", "rateLimitMbps": 500, "termMonths": 1,
                  "aEnd": {"productUid": quantumgpu::PORT_LAX_EQ1_BLUE}, "bEnd": {"secretKeyRef": {"name": "qgpu-key"}}}],
    }});
    let (calls, state, result) = h.round(config(spec), Some(secret)).await;
    assert!(result.is_ok(), "{result:?}");
    let seen = &state.config["status"]["serviceKeys"][0];
    assert_eq!(seen["onRamp"], quantumgpu::PORT_LAX_CS1_RED);
    assert_eq!(seen["vlan"], 321);
    assert_eq!(seen["maxSpeedMbps"], 1000);
    assert_eq!(ready(&state).0, "Quoted");
    let written = serde_json::to_string(&calls.iter().map(|c| &c.body).collect::<Vec<_>>())
        .unwrap_or_default();
    assert!(
        !written.contains(&value),
        "the key is never written to Kubernetes"
    );
}

#[tokio::test]
async fn validation_runs_again_after_the_interval() {
    let fake = FakeMegaport::quantumgpu();
    let settings = Settings {
        validation_interval: Duration::from_secs(60),
        ..Settings::default()
    };
    let h = Harness::new(&fake, settings);
    let (_, state, _) = h.round(config(la_port(false)), None).await;
    let mut aged = state.config.clone();
    aged["status"]["validatedAt"] = json!("2026-01-01T00:00:00Z");
    let (_, _, _) = h.round(aged, None).await;
    assert_eq!(fake.sim.counter("POST /v3/networkdesign/validate"), 2);
}

#[tokio::test]
async fn a_configuration_another_operator_ordered_is_left_alone() {
    let fake = FakeMegaport::quantumgpu();
    let h = Harness::new(&fake, Settings::default());
    let mut theirs = config(la_port(true));
    theirs["metadata"]["annotations"] =
        json!({crate::ordering::records::ORDERED_BY_ANNOTATION: "0123456789abcdef"});
    let before = fake.sim.counter("POST /oauth2/token") + fake.sim.counter("GET /v2/products");
    let (calls, state, result) = h.round(theirs.clone(), None).await;
    assert!(result.is_ok(), "{result:?}");
    let writes: Vec<String> = calls.iter().map(Call::short).collect();
    assert_eq!(writes.len(), 1, "one event, nothing else: {writes:?}");
    assert!(
        calls[0].body["note"]
            .as_str()
            .unwrap_or_default()
            .contains("ordered by another operator")
    );
    assert!(
        state.config.get("status").is_none_or(Value::is_null),
        "no status"
    );
    assert_eq!(fake.sim.counter("POST /v3/networkdesign/validate"), 0);
    assert_eq!(fake.sim.counter("POST /v4/networkdesign/buy"), 0);
    let after = fake.sim.counter("POST /oauth2/token") + fake.sim.counter("GET /v2/products");
    assert_eq!(before, after, "no Megaport call");
    // Announced once per generation.
    let (calls, _, _) = h.round(theirs, None).await;
    assert!(
        calls.is_empty(),
        "{:?}",
        calls.iter().map(Call::short).collect::<Vec<_>>()
    );
}

/// The Secret `qgpu-key` holding `key` under serviceKey, as the apiserver would return it.
fn key_secret(key: &[u8]) -> Value {
    let secret = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("qgpu-key".into()),
            namespace: Some(NS.into()),
            ..Default::default()
        },
        data: Some(
            [(
                "serviceKey".to_owned(),
                k8s_openapi::ByteString(key.to_vec()),
            )]
            .into(),
        ),
        ..Default::default()
    };
    serde_json::to_value(&secret).unwrap_or_default()
}
