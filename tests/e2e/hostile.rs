//! Hostile input, tried as a user with create rights in one namespace would try it, against the
//! operator's real binary at debug level:
//! - the catalogue of `docs/hostile-input.md`, case by case: refused at admission with the
//!   message listed, or admitted and answered with the condition listed, with no key spent;
//! - objects the operator cannot decode (stored under a looser schema) that must blind nothing,
//!   before and after a restart;
//! - SIGTERM with the apiserver gone and a Megaport create in flight: the process ends within
//!   10 s.
//!
//! No log line may carry a Kubernetes object or a response body: every object the operator
//! reads carries a canary string, and the logs are searched for it.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ResourceQuota, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, CustomResourceExt, ResourceExt};
use megaport_operator::crd::service_key_request::{
    Phase, ServiceKeyRequest, ServiceKeyRequestSpec,
};
use megaport_operator::megaport::prelude::*;
use megaport_sim::{RunningSimulator, Scenario, quantumgpu};
use serde_json::{Value, json};

use crate::issuing::{condition, keys_of, request, us_west, wait_phase};
use crate::support::{self, Identity, OperatorProcess, TestNamespace, eventually, log_path};

const WAIT: Duration = Duration::from_secs(45);
const NYC: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0003";

/// What a case must produce.
enum Expect {
    /// Refused at admission; the message contains this.
    Refused(&'static str),
}

/// A ServiceKeyRequest spec: a valid base with `overrides` merged in (null removes a field).
fn skr_spec(overrides: Value) -> Value {
    let mut spec =
        json!({"onRamp": {"productUid": quantumgpu::PORT_LAX_CS1_RED}, "maxSpeedMbps": 100});
    for (k, v) in overrides.as_object().cloned().unwrap_or_default() {
        if v.is_null() {
            spec.as_object_mut().unwrap().remove(&k);
        } else {
            spec[k] = v;
        }
    }
    spec
}

/// An OnRampRegion spec: Los Angeles with `overrides` merged in.
fn orr_spec(overrides: Value) -> Value {
    let mut spec = json!({"match": {"metros": ["Los Angeles"]}});
    for (k, v) in overrides.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    spec
}

fn labels(n: usize) -> Value {
    Value::Object((0..n).map(|i| (format!("l{i}"), json!("v"))).collect())
}

/// The admission half of the catalogue: (id, kind, spec, expectation).
fn admission_cases() -> Vec<(&'static str, &'static str, Value, Expect)> {
    use Expect::Refused;
    let long = |n: usize| "a".repeat(n);
    let uid = quantumgpu::PORT_LAX_CS1_RED;
    vec![
        (
            "skr-speed-huge",
            "skr",
            skr_spec(json!({"maxSpeedMbps": 1_000_000_000_000u64})),
            Refused("maxSpeedMbps must be within 1..400000"),
        ),
        (
            "skr-speed-zero",
            "skr",
            skr_spec(json!({"maxSpeedMbps": 0})),
            Refused("maxSpeedMbps must be within 1..400000"),
        ),
        (
            "skr-speed-negative",
            "skr",
            skr_spec(json!({"maxSpeedMbps": -5})),
            Refused("maxSpeedMbps"),
        ),
        (
            "skr-speed-text",
            "skr",
            skr_spec(json!({"maxSpeedMbps": "fast"})),
            Refused("must be of type integer"),
        ),
        (
            "skr-vlan-one",
            "skr",
            skr_spec(json!({"vlan": 1})),
            Refused("vlan must be within 2..4093"),
        ),
        (
            "skr-vlan-4094",
            "skr",
            skr_spec(json!({"vlan": 4094})),
            Refused("vlan must be within 2..4093"),
        ),
        (
            "skr-vlan-huge",
            "skr",
            skr_spec(json!({"vlan": 70000})),
            Refused("vlan must be within 2..4093"),
        ),
        (
            "skr-vlan-multi-use",
            "skr",
            skr_spec(json!({"vlan": 100, "singleUse": false})),
            Refused("vlan applies to single-use keys only"),
        ),
        (
            "skr-both-targets",
            "skr",
            skr_spec(json!({"regionRef": {"name": "us-west"}})),
            Refused("set exactly one of regionRef and onRamp"),
        ),
        (
            "skr-no-target",
            "skr",
            skr_spec(json!({"onRamp": null})),
            Refused("set exactly one of regionRef and onRamp"),
        ),
        (
            "skr-region-empty",
            "skr",
            skr_spec(json!({"onRamp": null, "regionRef": {"name": ""}})),
            Refused("regionRef.name must be a DNS-1123 subdomain"),
        ),
        (
            "skr-region-bad-name",
            "skr",
            skr_spec(json!({"onRamp": null, "regionRef": {"name": "US_West!"}})),
            Refused("regionRef.name must be a DNS-1123 subdomain"),
        ),
        (
            "skr-uid-empty",
            "skr",
            skr_spec(json!({"onRamp": {"productUid": ""}})),
            Refused("onRamp.productUid must be a Megaport product UID"),
        ),
        (
            "skr-uid-not-uuid",
            "skr",
            skr_spec(json!({"onRamp": {"productUid": "port-1"}})),
            Refused("onRamp.productUid must be a Megaport product UID"),
        ),
        (
            "skr-diversity-one-onramp",
            "skr",
            skr_spec(json!({"diversity": "Required"})),
            Refused("diversity Preferred or Required needs a regionRef"),
        ),
        (
            "skr-preferred-one-onramp",
            "skr",
            skr_spec(json!({"diversity": "Preferred"})),
            Refused("diversity Preferred or Required needs a regionRef"),
        ),
        (
            "skr-diversity-unknown",
            "skr",
            skr_spec(json!({"diversity": "Maybe"})),
            Refused("supported values: \"None\", \"Preferred\", \"Required\""),
        ),
        (
            "skr-window-inverted",
            "skr",
            skr_spec(
                json!({"validity": {"notBefore": "2027-02-01T00:00:00Z", "notAfter": "2027-01-01T00:00:00Z"}}),
            ),
            Refused("validity.notAfter must be later than validity.notBefore"),
        ),
        (
            "skr-window-both-ends",
            "skr",
            skr_spec(json!({"validity": {"notAfter": "2027-01-01T00:00:00Z", "duration": "30d"}})),
            Refused("validity takes notAfter or duration, not both"),
        ),
        (
            "skr-duration-words",
            "skr",
            skr_spec(json!({"validity": {"duration": "a month"}})),
            Refused("duration is a whole number of s, m, h or d"),
        ),
        (
            "skr-duration-zero",
            "skr",
            skr_spec(json!({"validity": {"duration": "0d"}})),
            Refused("duration must be more than zero and at most 3650d"),
        ),
        (
            "skr-duration-huge",
            "skr",
            skr_spec(json!({"validity": {"duration": "99999999999d"}})),
            Refused("duration must be more than zero and at most 3650d"),
        ),
        (
            "skr-not-a-time",
            "skr",
            skr_spec(json!({"validity": {"notBefore": "tomorrow"}})),
            Refused("notBefore in body must be of type date-time"),
        ),
        (
            "skr-description-10000",
            "skr",
            skr_spec(json!({"description": long(10_000)})),
            Refused("spec.description: Too long"),
        ),
        (
            "skr-description-marker",
            "skr",
            skr_spec(json!({"description": format!("mine [k8s:{}/-]", uuid::Uuid::new_v4())})),
            Refused("description must not contain '[k8s:'"),
        ),
        (
            "skr-description-escape",
            "skr",
            skr_spec(json!({"description": "a\u{1b}[31m red\nline"})),
            Refused("description must not contain control characters"),
        ),
        (
            "skr-customer-10000",
            "skr",
            skr_spec(json!({"customer": {"name": long(10_000)}})),
            Refused("spec.customer.name: Too long"),
        ),
        (
            "skr-customer-escape",
            "skr",
            skr_spec(json!({"customer": {"reference": "x\u{7}y"}})),
            Refused("customer.reference must not contain control characters"),
        ),
        (
            "skr-secret-bad-name",
            "skr",
            skr_spec(json!({"secret": {"name": "Bad_Name!"}})),
            Refused("secret.name must be a DNS-1123 subdomain"),
        ),
        (
            "skr-secret-empty-name",
            "skr",
            skr_spec(json!({"secret": {"name": ""}})),
            Refused("secret.name must be a DNS-1123 subdomain"),
        ),
        (
            "skr-secret-long-name",
            "skr",
            skr_spec(json!({"secret": {"name": long(254)}})),
            Refused("spec.secret.name: Too long"),
        ),
        (
            "skr-label-bad-key",
            "skr",
            skr_spec(json!({"secret": {"template": {"labels": {"bad key!": "x"}}}})),
            Refused("every key of secret.template.labels must be a label key"),
        ),
        (
            "skr-label-bad-value",
            "skr",
            skr_spec(json!({"secret": {"template": {"labels": {"tenant": "not ok!"}}}})),
            Refused("every value of secret.template.labels must be a label value"),
        ),
        (
            "skr-label-managed-by",
            "skr",
            skr_spec(
                json!({"secret": {"template": {"labels": {"app.kubernetes.io/managed-by": "someone-else"}}}}),
            ),
            Refused("must not set the operator's own app.kubernetes.io/managed-by"),
        ),
        (
            "skr-label-request",
            "skr",
            skr_spec(
                json!({"secret": {"template": {"labels": {"megaport.onramp.dev/request": "other"}}}}),
            ),
            Refused("must not set the operator's own"),
        ),
        (
            "skr-annotation-request-uid",
            "skr",
            skr_spec(
                json!({"secret": {"template": {"annotations": {"megaport.onramp.dev/request-uid": uid}}}}),
            ),
            Refused("secret.template.annotations must not set the operator's own keys"),
        ),
        (
            "skr-annotation-bad-key",
            "skr",
            skr_spec(json!({"secret": {"template": {"annotations": {"a/b/c": "x"}}}})),
            Refused("every key of secret.template.annotations must be a label key"),
        ),
        (
            "skr-annotation-huge",
            "skr",
            skr_spec(json!({"secret": {"template": {"annotations": {"note": long(5000)}}}})),
            Refused("Too long"),
        ),
        (
            "skr-labels-65",
            "skr",
            skr_spec(json!({"secret": {"template": {"labels": labels(65)}}})),
            Refused("must have at most 64 items"),
        ),
        (
            "skr-secret-policy-unknown",
            "skr",
            skr_spec(json!({"secret": {"policy": "Keep"}})),
            Refused("supported values: \"Owner\", \"Orphan\""),
        ),
        (
            "skr-deletion-policy-unknown",
            "skr",
            skr_spec(json!({"deletionPolicy": "Delete"})),
            Refused("supported values: \"Deactivate\", \"Retain\""),
        ),
        (
            "skr-suspend-text",
            "skr",
            skr_spec(json!({"suspend": "yes"})),
            Refused("must be of type boolean"),
        ),
        (
            "orr-no-selector",
            "orr",
            json!({"match": {}}),
            Refused("match needs at least one selector"),
        ),
        (
            "orr-display-escape",
            "orr",
            orr_spec(json!({"displayName": "US\nWest"})),
            Refused("displayName must not contain control characters"),
        ),
        (
            "orr-display-long",
            "orr",
            orr_spec(json!({"displayName": long(129)})),
            Refused("spec.displayName: Too long"),
        ),
        (
            "orr-country-empty",
            "orr",
            json!({"match": {"countries": [""]}}),
            Refused("countries must not contain an empty name"),
        ),
        (
            "orr-metro-empty",
            "orr",
            json!({"match": {"metros": ["Los Angeles", ""]}}),
            Refused("metros must not contain an empty name"),
        ),
        (
            "orr-location-negative",
            "orr",
            json!({"match": {"locationIds": [-1]}}),
            Refused("locationIds must be Megaport location ids"),
        ),
        (
            "orr-location-huge",
            "orr",
            json!({"match": {"locationIds": [9_999_999_999u64]}}),
            Refused("locationIds must be Megaport location ids"),
        ),
        (
            "orr-product-not-uuid",
            "orr",
            json!({"match": {"productUids": ["port-1"]}}),
            Refused("productUids must be Megaport product UIDs"),
        ),
        (
            "orr-product-type-unknown",
            "orr",
            json!({"match": {"metros": ["Los Angeles"], "productTypes": ["Router"]}}),
            Refused("supported values: \"Port\", \"MCR\", \"MVE\""),
        ),
        (
            "orr-vlan-inverted",
            "orr",
            orr_spec(json!({"vlanRange": {"min": 300, "max": 200}})),
            Refused("vlanRange.min must not be greater than vlanRange.max"),
        ),
        (
            "orr-vlan-outside",
            "orr",
            orr_spec(json!({"vlanRange": {"min": 1, "max": 5000}})),
            Refused("VLANs must be within 2..4093"),
        ),
        (
            "orr-selector-operator",
            "orr",
            orr_spec(
                json!({"allowedNamespaces": {"matchExpressions": [{"key": "tier", "operator": "Like", "values": ["a"]}]}}),
            ),
            Refused("supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\""),
        ),
        (
            "orr-selector-in-without-values",
            "orr",
            orr_spec(
                json!({"allowedNamespaces": {"matchExpressions": [{"key": "tier", "operator": "In"}]}}),
            ),
            Refused("values must be non-empty for In and NotIn"),
        ),
        (
            "orr-selector-exists-with-values",
            "orr",
            orr_spec(
                json!({"allowedNamespaces": {"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["a"]}]}}),
            ),
            Refused("absent or empty for Exists and DoesNotExist"),
        ),
        (
            "orr-selector-bad-key",
            "orr",
            orr_spec(json!({"allowedNamespaces": {"matchLabels": {"bad key": "x"}}})),
            Refused("every key of allowedNamespaces.matchLabels must be a label key"),
        ),
        (
            "orr-selector-bad-value",
            "orr",
            orr_spec(json!({"allowedNamespaces": {"matchLabels": {"tier": "gold plated"}}})),
            Refused("every value of allowedNamespaces.matchLabels must be a label value"),
        ),
    ]
}

/// The ids of the cases answered by a condition (each checked in the catalogue test below).
const CONDITION_CASES: [&str; 10] = [
    "cond-region-missing",
    "cond-namespace-not-allowed",
    "cond-onramp-unknown",
    "cond-secret-foreign",
    "cond-secret-quota",
    "cond-secret-write-fails",
    "cond-records-garbage",
    "cond-records-outside-spec",
    "cond-records-copied",
    "cond-unreadable",
];

fn dynamic(kind: &str, name: &str, spec: Value) -> (ApiResource, DynamicObject) {
    let (resource, kind_name) = match kind {
        "skr" => (
            ApiResource::erase::<ServiceKeyRequest>(&()),
            "ServiceKeyRequest",
        ),
        _ => (
            ApiResource::erase::<megaport_operator::crd::OnRampRegion>(&()),
            "OnRampRegion",
        ),
    };
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "megaport.onramp.dev/v1alpha1",
        "kind": kind_name,
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap();
    (resource, obj)
}

/// The documented catalogue lists every case, with what the user sees.
fn documented() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/hostile-input.md"
    ))
    .unwrap()
}

/// A request as the hostile tenant writes it: with the canary in what the operator reads.
fn tenant_request(name: &str, canary: &str, spec: Value) -> ServiceKeyRequest {
    let mut spec = spec;
    spec["customer"] = json!({"name": "Tenant", "reference": canary});
    request(name, spec)
}

async fn blocked_with(api: &Api<ServiceKeyRequest>, name: &str, reason: &str) -> ServiceKeyRequest {
    eventually(&format!("{name} to say {reason}"), WAIT, || async {
        let r = api.get(name).await.ok()?;
        let blocked = condition(&r, "Ready").is_some_and(|c| c.0 == "False" && c.1 == reason);
        blocked.then_some(r)
    })
    .await
}

/// Ready=False and Stalled=True with `reason`: a human must act.
async fn stalled_with(api: &Api<ServiceKeyRequest>, name: &str, reason: &str) -> ServiceKeyRequest {
    let r = blocked_with(api, name, reason).await;
    assert_eq!(
        condition(&r, "Stalled").map(|c| (c.0, c.1)),
        Some(("True", reason)),
        "{name}"
    );
    r
}

/// Ready=False and Reconciling=True with `reason`: it heals by itself.
async fn waits_with(api: &Api<ServiceKeyRequest>, name: &str, reason: &str) -> ServiceKeyRequest {
    let r = blocked_with(api, name, reason).await;
    assert_eq!(
        condition(&r, "Reconciling").map(|c| (c.0, c.1)),
        Some(("True", reason)),
        "{name}"
    );
    r
}

/// The row of the catalogue's case `id` (panics when the page does not list it).
fn doc_row<'a>(doc: &'a str, id: &str) -> &'a str {
    doc.lines()
        .find(|l| l.starts_with(&format!("| `{id}` |")))
        .unwrap_or_else(|| panic!("{id} is not in docs/hostile-input.md"))
}

fn region_named(name: &str, spec: Value) -> megaport_operator::crd::OnRampRegion {
    serde_json::from_value(json!({"apiVersion": "megaport.onramp.dev/v1alpha1",
        "kind": "OnRampRegion", "metadata": {"name": name}, "spec": spec}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_catalogue() {
    let admin = support::client(Identity::Admin).await;
    support::grant_operator_role(&admin).await;
    let doc = documented();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let ns = TestNamespace::new(&admin, "hostile").await;

    // Admission: each refused with its message, as a tenant (admin here: RBAC is not the test).
    let cases = admission_cases();
    assert!(cases.len() + CONDITION_CASES.len() >= 40);
    for (id, kind, spec, Expect::Refused(expected)) in &cases {
        let row = doc_row(&doc, id);
        assert!(
            row.contains(expected),
            "{id}: its row in docs/hostile-input.md lacks {expected:?}: {row}"
        );
        let name = format!("{id}-{suffix}");
        let (resource, obj) = dynamic(kind, &name, spec.clone());
        let api: Api<DynamicObject> = if *kind == "skr" {
            Api::namespaced_with(admin.clone(), &ns.name, &resource)
        } else {
            Api::all_with(admin.clone(), &resource)
        };
        let message = support::rejected(api.create(&PostParams::default(), &obj).await);
        assert!(message.contains(expected), "{id}: {message}");
        // The operator's own check refuses it too, whenever it decodes at all (an object
        // stored under a looser schema gets InvalidSpec, not a key).
        if *kind == "skr"
            && let Ok(decoded) = serde_json::from_value::<ServiceKeyRequestSpec>(spec.clone())
        {
            assert!(
                !decoded.problems().is_empty(),
                "{id}: admitted by the operator's own check"
            );
        }
    }
    for id in CONDITION_CASES {
        doc_row(&doc, id);
    }

    // Conditions: admitted, answered on the object, and nothing spent on them.
    let sim = megaport_sim::spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();
    let provider = support::megaport_client(
        &sim,
        quantumgpu::PROVIDER_ADMIN_ID,
        quantumgpu::PROVIDER_ADMIN_SECRET,
    );
    let mut operator = OperatorProcess::start(&sim, &log_path("hostile"));
    let canary = format!("canary-{}", uuid::Uuid::new_v4().simple());
    let api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns.name);
    let pp = PostParams::default();
    let regions = Api::<megaport_operator::crd::OnRampRegion>::all(admin.clone());
    let region = us_west(&admin).await;
    let locked = format!("locked-{suffix}");
    let missing = format!("later-{suffix}");
    regions
        .create(
            &pp,
            &region_named(
                &locked,
                json!({"match": {"locationIds": [59, 60]},
            "allowedNamespaces": {"matchLabels": {"tier": "gold"}}}),
            ),
        )
        .await
        .unwrap();

    let create = |name: &str, spec: Value| {
        let api = api.clone();
        let r = tenant_request(name, &canary, spec);
        async move { api.create(&PostParams::default(), &r).await.unwrap() }
    };
    create(
        "region-missing",
        json!({"regionRef": {"name": missing}, "maxSpeedMbps": 10}),
    )
    .await;
    create(
        "not-allowed",
        json!({"regionRef": {"name": locked}, "maxSpeedMbps": 10}),
    )
    .await;
    create(
        "unknown-onramp",
        skr_spec(json!({"onRamp": {"productUid": "00000000-0000-4000-8000-000000000000"}})),
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns.name);
    secrets
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": "taken"},
            "stringData": {"mine": "do not touch"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    create(
        "foreign-secret",
        skr_spec(json!({"secret": {"name": "taken"}})),
    )
    .await;

    let waiting = waits_with(&api, "region-missing", "RegionNotFound").await;
    assert!(condition(&waiting, "Stalled").is_none());
    stalled_with(&api, "not-allowed", "NamespaceNotAllowed").await;
    stalled_with(&api, "unknown-onramp", "OnRampNotFound").await;
    let conflict = stalled_with(&api, "foreign-secret", "SecretConflict").await;
    assert_eq!(
        condition(&conflict, "SecretSynced").unwrap().1,
        "SecretConflict"
    );
    assert_eq!(secrets.get("taken").await.unwrap().data.unwrap().len(), 1);
    assert_eq!(
        control.counter("POST /v2/service/key").await.unwrap(),
        0,
        "a key was spent"
    );
    // Both heal: the region appears, the namespace is labelled.
    regions
        .create(
            &pp,
            &region_named(&missing, json!({"match": {"locationIds": [59, 60]}})),
        )
        .await
        .unwrap();
    Api::<k8s_openapi::api::core::v1::Namespace>::all(admin.clone())
        .patch(
            &ns.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "gold"}}})),
        )
        .await
        .unwrap();
    wait_phase(&api, "region-missing", Phase::Issued).await;
    wait_phase(&api, "not-allowed", Phase::Issued).await;

    // A Secret the namespace cannot hold (a quota of none): refused before any key exists.
    let quota_ns = TestNamespace::new(&admin, "hostile-quota").await;
    let quotas: Api<ResourceQuota> = Api::namespaced(admin.clone(), &quota_ns.name);
    quotas
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": "no-secrets"},
            "spec": {"hard": {"secrets": "0"}}}))
            .unwrap(),
        )
        .await
        .unwrap();
    eventually("the quota to be counted", WAIT, || async {
        let q = quotas.get("no-secrets").await.ok()?;
        q.status?.used?.contains_key("secrets").then_some(())
    })
    .await;
    let quota_api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &quota_ns.name);
    quota_api
        .create(&pp, &tenant_request("quota", &canary, skr_spec(json!({}))))
        .await
        .unwrap();
    let refused = stalled_with(&quota_api, "quota", "SecretRefused").await;
    assert!(
        condition(&refused, "Ready")
            .unwrap()
            .2
            .contains("no key is issued")
    );
    assert_eq!(
        control.counter("POST /v2/service/key").await.unwrap(),
        2,
        "a key was spent"
    );

    // Records the operator did not write are never used: garbage, a plan on a Port outside the
    // spec, and a victim's records and seal copied over whole. Each request is served from its
    // own plan; the victim's key is not adopted, delivered, changed or deactivated.
    create(
        "victim",
        json!({"regionRef": {"name": region}, "maxSpeedMbps": 100,
        "secret": {"template": {"annotations": {"note": canary}}}}),
    )
    .await;
    let victim = wait_phase(&api, "victim", Phase::Issued).await;
    let victim_key = keys_of(provider.as_ref(), &victim).await.remove(0);
    let with_records = |name: &str, spec: Value, annotations: Vec<(String, String)>| {
        let mut r = tenant_request(name, &canary, spec);
        r.annotations_mut().extend(annotations);
        r
    };
    let keys_annotation = "megaport.onramp.dev/keys".to_owned();
    let seal_annotation = "megaport.onramp.dev/keys-seal".to_owned();
    let copied: Vec<(String, String)> = [&keys_annotation, &seal_annotation]
        .into_iter()
        .map(|k| (k.clone(), victim.annotations()[k].clone()))
        .collect();
    for r in [
        with_records(
            "records-garbage",
            skr_spec(json!({})),
            vec![(keys_annotation.clone(), "{not json".into())],
        ),
        with_records(
            "records-outside",
            skr_spec(json!({})),
            vec![(
                keys_annotation.clone(),
                json!([{"productUid": NYC, "zone": "-", "speedMbps": 100}]).to_string(),
            )],
        ),
        with_records(
            "thief",
            json!({"regionRef": {"name": region}, "maxSpeedMbps": 100}),
            copied,
        ),
    ] {
        api.create(&pp, &r).await.unwrap();
    }
    for name in ["records-garbage", "records-outside", "thief"] {
        let served = wait_phase(&api, name, Phase::Issued).await;
        let keys = keys_of(provider.as_ref(), &served).await;
        assert_eq!(keys.len(), 1, "{name}");
        assert_ne!(keys[0].key, victim_key.key, "{name} got the victim's key");
        assert_ne!(
            keys[0].product_uid, NYC,
            "{name} got a key where its records said"
        );
        let data = crate::issuing::secret_data(&admin, &ns.name, name).await;
        assert_ne!(
            data["serviceKey"],
            victim_key.key.expose(),
            "{name}'s Secret has the victim's key"
        );
    }
    let events = Api::<Event>::namespaced(admin.clone(), &ns.name)
        .list(&ListParams::default())
        .await
        .unwrap();
    for name in ["records-garbage", "records-outside", "thief"] {
        assert!(
            events
                .items
                .iter()
                .any(|e| e.reason.as_deref() == Some("RecordsIgnored")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)),
            "no RecordsIgnored event for {name}"
        );
    }
    // Every request got exactly one key of its own: region-missing, not-allowed, victim and
    // the three whose records were ignored.
    assert_eq!(control.counter("POST /v2/service/key").await.unwrap(), 6);

    // The thief deleted (policy Deactivate): the victim's key is left exactly as it was.
    let puts = control.counter("PUT /v2/service/key").await.unwrap();
    api.delete("thief", &Default::default()).await.unwrap();
    eventually("the thief to be gone", WAIT, || async {
        api.get_opt("thief").await.ok()?.is_none().then_some(())
    })
    .await;
    assert_eq!(
        control.counter("PUT /v2/service/key").await.unwrap(),
        puts + 1,
        "one PUT: the thief's own key"
    );
    let now_key = provider
        .list_service_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.key == victim_key.key)
        .unwrap();
    assert!(now_key.active && now_key.description == victim_key.description);

    // The quota raised: the refused request heals and gets its key. Then its Secret is deleted
    // while the quota allows none: the repair fails, and the request says so.
    quotas
        .patch(
            "no-secrets",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"hard": {"secrets": "1"}}})),
        )
        .await
        .unwrap();
    wait_phase(&quota_api, "quota", Phase::Issued).await;
    quotas
        .patch(
            "no-secrets",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"hard": {"secrets": "0"}}})),
        )
        .await
        .unwrap();
    eventually("the quota to be lowered", WAIT, || async {
        let q = quotas.get("no-secrets").await.ok()?;
        (q.status?.hard?.get("secrets")?.0 == "0").then_some(())
    })
    .await;
    Api::<Secret>::namespaced(admin.clone(), &quota_ns.name)
        .delete("quota", &Default::default())
        .await
        .unwrap();
    let failing = blocked_with(&quota_api, "quota", "SecretWriteFailed").await;
    assert!(condition(&failing, "Stalled").is_none());
    let (reconciling, reason, message) = condition(&failing, "Reconciling").unwrap();
    assert_eq!((reconciling, reason), ("True", "SecretWriteFailed"));
    assert!(message.contains("writing the Secret failed"), "{message}");
    assert!(message.contains("exceeded quota"), "{message}");
    support::delete_requests(&admin, &quota_ns.name).await;
    support::delete_requests(&admin, &ns.name).await;
    operator.kill();
    let logs = operator.log_text();
    no_bodies_in(&logs, &canary);
    let _ = std::fs::remove_file(&operator.log);
    for name in [region, locked, missing] {
        let _ = Api::<megaport_operator::crd::OnRampRegion>::all(admin.clone())
            .delete(&name, &Default::default())
            .await;
    }
    sim.shutdown().await;
}

/// The debug logs carry no Kubernetes object and no response body.
fn no_bodies_in(logs: &str, canary: &str) {
    assert!(logs.contains("DEBUG"), "debug logging was not on");
    for (what, needle) in [
        ("an object the operator read (its canary)", canary),
        ("an object's managedFields", "managedFields"),
        ("an object's metadata", "\"metadata\":{"),
        ("an object's apiVersion", "\"apiVersion\":"),
        ("a Secret's data", "\"data\":{"),
    ] {
        let line = logs.lines().find(|l| l.contains(needle));
        assert!(line.is_none(), "the logs contain {what}: {line:?}");
    }
}

/// The ServiceKeyRequest CRD with a spec that takes anything (an older, looser schema).
fn loose_crd()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    let mut crd = ServiceKeyRequest::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_mut()
        .unwrap()
        .open_api_v3_schema
        .as_mut()
        .unwrap();
    schema.properties.as_mut().unwrap().insert(
        "spec".into(),
        JSONSchemaProps {
            type_: Some("object".into()),
            x_kubernetes_preserve_unknown_fields: Some(true),
            ..JSONSchemaProps::default()
        },
    );
    crd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_object_blinds_nothing() {
    let admin = support::client(Identity::Admin).await;
    support::grant_operator_role(&admin).await;
    let ns_a = TestNamespace::new(&admin, "poison-a").await;
    let ns_b = TestNamespace::new(&admin, "poison-b").await;
    let canary = format!("canary-{}", uuid::Uuid::new_v4().simple());
    let resource = ApiResource::erase::<ServiceKeyRequest>(&());
    let raw_a: Api<DynamicObject> = Api::namespaced_with(admin.clone(), &ns_a.name, &resource);

    // Stored under a looser schema: a speed no u32 holds, and a Secret name no Secret can have.
    support::install_crd(&admin, &loose_crd()).await;
    let pp = PostParams::default();
    for (name, spec) in [
        (
            "poison",
            skr_spec(
                json!({"maxSpeedMbps": 1_000_000_000_000u64, "customer": {"reference": canary}}),
            ),
        ),
        (
            "bad-secret",
            skr_spec(json!({"secret": {"name": "Bad_Name!"}, "customer": {"reference": canary}})),
        ),
    ] {
        let (_, obj) = dynamic("skr", name, spec);
        raw_a.create(&pp, &obj).await.unwrap();
    }
    support::install_project_crds(&admin).await;

    let sim = megaport_sim::spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();
    let api_a: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns_a.name);
    let api_b: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns_b.name);
    api_a
        .create(&pp, &tenant_request("good-a", &canary, skr_spec(json!({}))))
        .await
        .unwrap();
    api_b
        .create(
            &pp,
            &tenant_request(
                "good-b",
                &canary,
                skr_spec(json!({"onRamp": {"productUid": quantumgpu::PORT_LAX_EQ1_BLUE}})),
            ),
        )
        .await
        .unwrap();

    let mut first = OperatorProcess::start(&sim, &log_path("poison-first"));
    wait_phase(&api_a, "good-a", Phase::Issued).await;
    wait_phase(&api_b, "good-b", Phase::Issued).await;
    let poison = unreadable_reported(&raw_a, "poison").await;
    assert!(
        poison.contains("maxSpeedMbps") || poison.contains("u32"),
        "{poison}"
    );
    let bad = blocked_with(&api_a, "bad-secret", "InvalidSpec").await;
    assert!(condition(&bad, "Ready").unwrap().2.contains("secret.name"));
    assert_eq!(condition(&bad, "Stalled").unwrap().0, "True");
    assert_eq!(
        control.counter("POST /v2/service/key").await.unwrap(),
        2,
        "a key was spent on a bad request"
    );
    let events = Api::<Event>::namespaced(admin.clone(), &ns_a.name)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("InvalidSpec")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("poison")),
        "no InvalidSpec event on the unreadable request"
    );
    first.kill();

    // Restarted: the first LIST holds the unreadable object and still serves every other one.
    api_b.create(&pp, &tenant_request("after-restart", &canary, skr_spec(json!({"onRamp": {"productUid": quantumgpu::PORT_LAX_EQ1_BLUE}, "maxSpeedMbps": 50})))).await.unwrap();
    let mut second = OperatorProcess::start(&sim, &log_path("poison-second"));
    wait_phase(&api_b, "after-restart", Phase::Issued).await;
    unreadable_reported(&raw_a, "poison").await;
    assert_eq!(control.counter("POST /v2/service/key").await.unwrap(), 3);
    support::delete_requests(&admin, &ns_b.name).await;
    support::delete_requests(&admin, &ns_a.name).await;
    second.kill();

    for process in [&first, &second] {
        let logs = process.log_text();
        no_bodies_in(&logs, &canary);
        let reports = logs
            .lines()
            .filter(|l| l.contains("cannot read an object") && l.contains(&ns_a.name))
            .count();
        assert_eq!(
            reports, 1,
            "the unreadable object is logged once per process:\n{logs}"
        );
        let _ = std::fs::remove_file(&process.log);
    }
    sim.shutdown().await;
}

/// Waits until the unreadable request `name` says InvalidSpec; returns the message.
async fn unreadable_reported(api: &Api<DynamicObject>, name: &str) -> String {
    eventually(
        &format!("{name} to be reported unreadable"),
        WAIT,
        || async {
            let obj = api.get(name).await.ok()?;
            let conditions = obj.data["status"]["conditions"].as_array()?.clone();
            let ready = conditions.iter().find(|c| c["type"] == "Ready")?;
            let stalled = conditions.iter().find(|c| c["type"] == "Stalled")?;
            (ready["reason"] == "InvalidSpec"
                && ready["status"] == "False"
                && stalled["status"] == "True")
                .then(|| ready["message"].as_str().unwrap_or_default().to_owned())
        },
    )
    .await
}

/// A TCP proxy to the apiserver that can be cut, as if the apiserver were gone.
struct Proxy {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn to(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { port, task }
    }

    /// Stops listening and drops every connection (the JoinSet aborts them).
    fn cut(&self) {
        self.task.abort();
    }
}

/// The operator's kubeconfig and the apiserver URL in it.
fn operator_kubeconfig() -> (String, String) {
    let path = std::env::var("KUBECONFIG_OPERATOR").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .unwrap()
        .trim()
        .trim_matches('"')
        .to_owned();
    (text, server)
}

/// A copy of the operator's kubeconfig that reaches the apiserver through `port` on loopback
/// (the apiserver's certificate names 127.0.0.1, so TLS still verifies).
fn kubeconfig_via(port: u16) -> std::path::PathBuf {
    let (text, server) = operator_kubeconfig();
    let out = log_path("kubeconfig").with_extension("yaml");
    std::fs::write(
        &out,
        text.replace(&server, &format!("https://127.0.0.1:{port}")),
    )
    .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_apiserver_gone_stops_within_ten_seconds() {
    let admin = support::client(Identity::Admin).await;
    support::grant_operator_role(&admin).await;
    let ns = TestNamespace::new(&admin, "sigterm").await;
    let sim: RunningSimulator =
        megaport_sim::spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let control = sim.control();
    let (_, server) = operator_kubeconfig();
    let proxy = Proxy::to(server.trim_start_matches("https://").to_owned()).await;
    let kubeconfig = kubeconfig_via(proxy.port);
    let mut operator =
        OperatorProcess::start_with(&sim, &log_path("sigterm"), kubeconfig.to_str().unwrap());
    let api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns.name);
    let pp = PostParams::default();
    api.create(&pp, &request("first", skr_spec(json!({}))))
        .await
        .unwrap();
    wait_phase(&api, "first", Phase::Issued).await;

    // A create that Megaport carries out but does not answer, then the apiserver goes away.
    support::hold_next_create(&control).await;
    api.create(
        &pp,
        &request(
            "second",
            skr_spec(json!({"onRamp": {"productUid": quantumgpu::PORT_LAX_EQ1_BLUE}})),
        ),
    )
    .await
    .unwrap();
    eventually("the second create to be in flight", WAIT, || async {
        (control.counter("POST /v2/service/key").await.ok()? == 2).then_some(())
    })
    .await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let took = operator.terminate(Duration::from_secs(10)).await;
    let logs = operator.log_text();
    let took = took.unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{logs}"));
    eprintln!("SIGTERM to exit with the apiserver gone and a create in flight: {took:?}");
    assert!(logs.contains("shutdown requested"), "{logs}");
    let _ = std::fs::remove_file(&operator.log);
    let _ = std::fs::remove_file(&kubeconfig);

    // The next process adopts the key created in flight; then the requests are cleaned up.
    let mut next = OperatorProcess::start(&sim, &log_path("sigterm-next"));
    wait_phase(&api, "second", Phase::Issued).await;
    assert_eq!(control.counter("POST /v2/service/key").await.unwrap(), 2);
    support::delete_requests(&admin, &ns.name).await;
    next.kill();
    let _ = std::fs::remove_file(&next.log);
    sim.shutdown().await;
}
