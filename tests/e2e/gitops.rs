//! GitOps health of live objects: what Flux (and Helm 4 `--wait`) and Argo CD make of the
//! operator's objects in each phase, read from the real apiserver while the operator (the
//! binary; in-process with every controller for SavedConfigurations) works against the
//! simulator. kstatus is `sigs.k8s.io/cli-utils`' `status.Compute`; Argo CD
//! is `gitops/argocd/<group>/<Kind>/health.lua` in Argo CD's argocd-cm Lua runtime (no string
//! library), after Argo CD's own deletion rule. Both through `hack/gitops-check` (Go, built and
//! cached by `hack/gitops-check/build.sh`).
//!
//! `GITOPS_DUMP_DIR=<dir>` writes every object checked to `<dir>/<kind>-<label>.json`, the
//! source of the fixtures under `gitops/argocd/*/*/testdata/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use megaport_operator::controller::{Kind, Settings};
use megaport_operator::crd::onramp_region::OnRampRegion;
use megaport_operator::crd::saved_configuration::{ConfigurationPhase, SavedConfiguration};
use megaport_operator::crd::service_key_request::{Phase, ServiceKeyRequest};
use megaport_sim::{FaultSpec, Scenario, quantumgpu};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::issuing::{request, us_west};
use crate::ordering::{configuration, uplink};
use crate::support::{
    self, Identity, Operator, OperatorProcess, TestNamespace, eventually, log_path,
};

/// How long a phase may take to show. Generous: during the simulated outage each read retries
/// its 503s for up to ~15 s before the failure is reported, and CI machines are loaded.
const WAIT: Duration = Duration::from_secs(90);

/// A finalizer of the test's own, to keep an OnRampRegion (which has none) in deletion.
const HOLD: &str = "e2e.megaport.onramp.dev/hold";

/// One tool's verdict on one object.
#[derive(Debug, serde::Deserialize)]
struct Verdict {
    status: String,
    message: String,
}

/// The checker binary, built once per test run.
fn checker() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new("bash")
            .arg("hack/gitops-check/build.sh")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("running hack/gitops-check/build.sh");
        assert!(
            out.status.success(),
            "hack/gitops-check/build.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// Runs `gitops-check ARGS -o json` with `obj` on stdin.
fn check(args: &[&str], obj: &Value) -> Verdict {
    use std::io::Write;
    let mut child = Command::new(checker())
        .args(args)
        .args(["-o", "json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting gitops-check");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(obj.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "gitops-check {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("gitops-check {args:?} printed no verdict ({e})"))
}

/// What each tool says about one live object.
struct Health {
    kstatus: Verdict,
    /// What Argo CD shows (a deleted object is "Pending deletion" before any script runs).
    argocd: Verdict,
    /// What the health script alone says.
    script: Verdict,
}

/// Injects `spec` into the simulator.
async fn fault(control: &megaport_sim::SimControl, spec: FaultSpec) {
    control.inject_fault(&spec).await.unwrap();
}

/// Both tools' verdicts on `obj`, which is also dumped when `GITOPS_DUMP_DIR` is set.
fn health(label: &str, obj: &Value) -> Health {
    if let Some(dir) = std::env::var_os("GITOPS_DUMP_DIR") {
        let kind = obj["kind"].as_str().unwrap_or("object");
        let path = Path::new(&dir).join(format!("{kind}-{label}.json"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(obj).unwrap()).unwrap();
    }
    let seen = Health {
        kstatus: check(&["kstatus"], obj),
        argocd: check(&["lua-live", "--dir", "gitops/argocd"], obj),
        script: check(
            &["lua-live", "--dir", "gitops/argocd", "--script-only"],
            obj,
        ),
    };
    eprintln!(
        "{label}: kstatus {} ({}); Argo CD {} ({}); script {} ({})",
        seen.kstatus.status,
        seen.kstatus.message,
        seen.argocd.status,
        seen.argocd.message,
        seen.script.status,
        seen.script.message
    );
    seen
}

/// Asserts both verdicts; each message must contain its `…_says` text.
fn expect(
    label: &str,
    seen: &Health,
    (kstatus, kstatus_says): (&str, &str),
    (argocd, argocd_says): (&str, &str),
) {
    assert_eq!(
        (seen.kstatus.status.as_str(), seen.argocd.status.as_str()),
        (kstatus, argocd),
        "{label}: (kstatus, Argo CD) says ({:?}, {:?})",
        seen.kstatus.message,
        seen.argocd.message
    );
    assert!(
        seen.kstatus.message.contains(kstatus_says),
        "{label}: kstatus message {:?} lacks {kstatus_says:?}",
        seen.kstatus.message
    );
    assert!(
        seen.argocd.message.contains(argocd_says),
        "{label}: Argo CD message {:?} lacks {argocd_says:?}",
        seen.argocd.message
    );
    if seen.argocd.message != "Pending deletion" {
        assert_eq!(
            (&seen.script.status, &seen.script.message),
            (&seen.argocd.status, &seen.argocd.message),
            "{label}: Argo CD's view is the script's"
        );
    }
}

/// The object as the apiserver serves it (what Argo CD and Flux read), once `ready` holds for
/// its typed form.
async fn live_when<K: DeserializeOwned>(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    ready: impl Fn(&K) -> bool,
) -> Value {
    eventually(what, WAIT, || async {
        let obj = serde_json::to_value(api.get(name).await.ok()?).unwrap();
        let typed: K = serde_json::from_value(obj.clone()).ok()?;
        ready(&typed).then_some(obj)
    })
    .await
}

fn phase_is(phase: Phase) -> impl Fn(&ServiceKeyRequest) -> bool {
    move |r| {
        r.status.as_ref().is_some_and(|s| {
            s.phase == Some(phase) && s.observed_generation == r.metadata.generation
        })
    }
}

fn condition_reason<'a>(
    conditions: Option<&'a Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>,
    type_: &str,
) -> Option<&'a str> {
    let c = support::named_conditions::find(conditions?, type_)?;
    (c.status == "True").then_some(c.reason.as_str())
}

fn requests(admin: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        admin.clone(),
        namespace,
        &ApiResource::erase::<ServiceKeyRequest>(&()),
    )
}

fn regions(admin: &Client) -> Api<DynamicObject> {
    Api::all_with(admin.clone(), &ApiResource::erase::<OnRampRegion>(&()))
}

fn configurations(admin: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        admin.clone(),
        namespace,
        &ApiResource::erase::<SavedConfiguration>(&()),
    )
}

/// The configuration reports `phase` for its current generation.
fn configuration_is(phase: ConfigurationPhase) -> impl Fn(&SavedConfiguration) -> bool {
    move |c| {
        c.status.as_ref().is_some_and(|s| {
            s.phase == Some(phase) && s.observed_generation == c.metadata.generation
        })
    }
}

/// The status contract of a SavedConfiguration that has a status: `Ready` always there,
/// `Reconciling` and `Stalled` only while True, never both.
/// Waits for configuration `name` to be in `phase` (for its generation), checks the status
/// contract and that kstatus and Argo CD read it as `kstatus` and `argocd` (dumped as `label`).
async fn configuration_reads(
    api: &Api<DynamicObject>,
    (name, phase): (&str, ConfigurationPhase),
    (label, what): (&str, &str),
    kstatus: (&str, &str),
    argocd: (&str, &str),
) -> Value {
    let obj = live_when(
        api,
        name,
        &format!("{name} to be {phase:?}"),
        configuration_is(phase),
    )
    .await;
    assert_configuration_contract(label, &obj);
    expect(what, &health(label, &obj), kstatus, argocd);
    obj
}

fn assert_configuration_contract(label: &str, obj: &Value) {
    let conditions = obj["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let of = |type_: &str| conditions.iter().find(|c| c["type"] == type_).cloned();
    assert!(of("Ready").is_some(), "{label}: no Ready condition: {obj}");
    for type_ in ["Reconciling", "Stalled"] {
        if let Some(c) = of(type_) {
            assert_eq!(
                c["status"], "True",
                "{label}: {type_} is present but not True: {obj}"
            );
        }
    }
    assert!(
        of("Reconciling").is_none() || of("Stalled").is_none(),
        "{label}: both Reconciling and Stalled: {obj}"
    );
}

async fn merge(api: &Api<DynamicObject>, name: &str, body: Value) {
    api.patch(name, &PatchParams::default(), &Patch::Merge(body))
        .await
        .unwrap_or_else(|e| panic!("patching {name}: {e}"));
}

/// The generated argocd-cm is a ConfigMap the apiserver takes, carrying each script as is.
#[tokio::test]
async fn argocd_cm_is_a_config_map_carrying_the_scripts() {
    let admin = support::client(Identity::Admin).await;
    let ns = TestNamespace::new(&admin, "argocd-cm").await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("gitops/argocd/argocd-cm.yaml")).unwrap();
    let cm: ConfigMap = serde_yaml::from_str(&text).unwrap();
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    Api::<ConfigMap>::namespaced(admin.clone(), &ns.name)
        .create(&dry_run, &cm)
        .await
        .unwrap();
    // Every kind the operator serves has its script there, and nothing else is.
    let data = cm.data.unwrap_or_default();
    let mut kinds = Vec::new();
    for crd in megaport_operator::crd::all() {
        let (group, kind) = (crd.spec.group, crd.spec.names.kind);
        let path = format!("gitops/argocd/{group}/{kind}/health.lua");
        let script = std::fs::read_to_string(root.join(&path))
            .unwrap_or_else(|e| panic!("{kind} has no Argo CD health check ({path}: {e})"));
        let key = format!("resource.customizations.health.{group}_{kind}");
        assert!(
            data.get(&key) == Some(&script),
            "{key} of gitops/argocd/argocd-cm.yaml is not {path}: run `UPDATE=1 make gitops`"
        );
        kinds.push(kind);
    }
    assert_eq!(
        data.len(),
        kinds.len(),
        "argocd-cm has keys for kinds we do not serve"
    );
}

/// Every phase the CRDs define, on live objects: no status yet; Ready and Issued; Stalled
/// (impossible, expired); a region resolving to nothing; waiting for a VLAN; issuing while
/// Megaport fails, and with a create in flight; Suspended; a Megaport outage; just after a spec
/// edit and while deleting, with the operator stopped (finalizer held).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_objects_read_as_flux_and_argo_cd_expect_in_every_phase() {
    let admin = support::client(Identity::Admin).await;
    support::grant_operator_role(&admin).await;
    let sim = megaport_sim::spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();
    let ns = TestNamespace::new(&admin, "gitops").await;
    let skr = requests(&admin, &ns.name);
    let orr = regions(&admin);
    let typed: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns.name);
    let pp = PostParams::default();
    let la2 = json!({"productUid": quantumgpu::PORT_LAX_CS1_RED});

    // Before any operator runs: no status at all. kstatus cannot tell such an object from one
    // that needs no status (its README says so) and calls it Current; Argo CD waits.
    let region = us_west(&admin).await;
    typed
        .create(
            &pp,
            &request("fresh", json!({"onRamp": la2, "maxSpeedMbps": 100})),
        )
        .await
        .unwrap();
    let obj = serde_json::to_value(orr.get(&region).await.unwrap()).unwrap();
    expect(
        "region without status",
        &health("no-status", &obj),
        ("Current", "Resource is current"),
        (
            "Progressing",
            "Waiting for the operator to resolve this region",
        ),
    );
    let obj = serde_json::to_value(skr.get("fresh").await.unwrap()).unwrap();
    expect(
        "request without status",
        &health("no-status", &obj),
        ("Current", "Resource is current"),
        (
            "Progressing",
            "Waiting for the operator to report on this request",
        ),
    );

    let mut operator = OperatorProcess::start(&sim, &log_path("gitops"));

    // Ready region, Issued request: Current and Healthy.
    let obj = live_when(
        &orr,
        &region,
        "the region to be Ready",
        |r: &OnRampRegion| {
            r.status.as_ref().is_some_and(|s| {
                s.observed_generation == r.metadata.generation
                    && support::named_conditions::is_true(&s.conditions, "Ready")
            })
        },
    )
    .await;
    expect(
        "Ready region",
        &health("ready", &obj),
        ("Current", "Resource is Ready"),
        ("Healthy", "OnRampsAvailable: 2 eligible on-ramp(s)"),
    );
    let obj = live_when(&skr, "fresh", "fresh to be Issued", phase_is(Phase::Issued)).await;
    expect(
        "Issued request",
        &health("issued", &obj),
        ("Current", "Resource is Ready"),
        (
            "Healthy",
            "Issued: 1 key(s) issued and delivered in Secret fresh",
        ),
    );

    // An impossible request: Stalled, so Failed and Degraded, at once (not after a timeout).
    typed
        .create(
            &pp,
            &request(
                "impossible",
                json!({"onRamp": {"productUid": "00000000-0000-4000-8000-000000000000"}}),
            ),
        )
        .await
        .unwrap();
    let obj = live_when(
        &skr,
        "impossible",
        "impossible to fail",
        phase_is(Phase::Failed),
    )
    .await;
    expect(
        "impossible request",
        &health("stalled", &obj),
        (
            "Failed",
            "the provider has no Port, MCR or MVE with productUid",
        ),
        ("Degraded", "OnRampNotFound: the provider has no Port"),
    );

    // A region that resolves to nothing: Stalled (its selectors need a human), so kstatus
    // says Failed at once instead of Flux waiting out its timeout, and Argo CD Degraded.
    let nowhere = format!("{region}-nowhere");
    Api::<OnRampRegion>::all(admin.clone())
        .create(
            &pp,
            &serde_json::from_value(json!({
                "apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "OnRampRegion",
                "metadata": {"name": nowhere}, "spec": {"match": {"countries": ["Atlantis"]}},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let obj = live_when(&orr, &nowhere, "nowhere to resolve", |r: &OnRampRegion| {
        r.status.as_ref().is_some_and(|s| {
            s.observed_generation == r.metadata.generation
                && support::named_conditions::find(&s.conditions, "Ready")
                    .is_some_and(|c| c.status == "False")
        })
    })
    .await;
    expect(
        "region matching nothing",
        &health("no-matching-on-ramps", &obj),
        ("Failed", "matches the region's selectors"),
        (
            "Degraded",
            "NoMatchingOnRamps: no Port of the provider matches",
        ),
    );
    orr.delete(&nowhere, &DeleteParams::default())
        .await
        .unwrap();

    // An explicit VLAN another request holds: Reconciling (it heals when the holder goes).
    for name in ["holder", "contender"] {
        typed
            .create(
                &pp,
                &request(
                    name,
                    json!({"onRamp": la2, "vlan": 150, "maxSpeedMbps": 100}),
                ),
            )
            .await
            .unwrap();
        live_when(
            &skr,
            name,
            &format!("{name} to be looked at"),
            |r: &ServiceKeyRequest| r.status.is_some(),
        )
        .await;
    }
    let obj = live_when(
        &skr,
        "contender",
        "contender to wait for its VLAN",
        |r: &ServiceKeyRequest| {
            condition_reason(r.status.as_ref().map(|s| &s.conditions), "Reconciling")
                == Some("VlanInUse")
        },
    )
    .await;
    expect(
        "request waiting for a VLAN",
        &health("vlan-in-use", &obj),
        ("InProgress", "VLAN 150"),
        ("Progressing", "VlanInUse: "),
    );

    // Issuing while Megaport fails every create: Reconciling, so InProgress and Progressing.
    fault(
        &control,
        FaultSpec::status(503)
            .method("POST")
            .path("/v2/service/key")
            .message("Service Unavailable"),
    )
    .await;
    typed
        .create(
            &pp,
            &request("retrying", json!({"onRamp": la2, "maxSpeedMbps": 100})),
        )
        .await
        .unwrap();
    let obj = live_when(
        &skr,
        "retrying",
        "retrying to report the outage",
        |r: &ServiceKeyRequest| {
            condition_reason(r.status.as_ref().map(|s| &s.conditions), "Reconciling")
                == Some("MegaportUnavailable")
        },
    )
    .await;
    expect(
        "issuing, Megaport failing",
        &health("issuing-retrying", &obj),
        ("InProgress", "Megaport"),
        ("Progressing", "MegaportUnavailable: "),
    );
    control.clear_faults().await.unwrap();
    live_when(
        &skr,
        "retrying",
        "retrying to be Issued",
        phase_is(Phase::Issued),
    )
    .await;

    // A create in flight (carried out, its answer held): the operator said Issuing before its
    // first create (Reconciling=True), so kstatus says InProgress while the key is being made,
    // never Current before a key exists; Argo CD Progressing.
    let creates = control.counter("POST /v2/service/key").await.unwrap();
    fault(
        &control,
        FaultSpec::lost_answer(3_000)
            .method("POST")
            .path("/v2/service/key")
            .times(1),
    )
    .await;
    typed
        .create(
            &pp,
            &request("in-flight", json!({"onRamp": la2, "maxSpeedMbps": 100})),
        )
        .await
        .unwrap();
    eventually("the held create", WAIT, || async {
        (control.counter("POST /v2/service/key").await.ok()? > creates).then_some(())
    })
    .await;
    let obj = serde_json::to_value(skr.get("in-flight").await.unwrap()).unwrap();
    assert_eq!(obj["status"]["phase"], "Pending", "{obj}");
    expect(
        "issuing, create in flight",
        &health("issuing-in-flight", &obj),
        ("InProgress", "0 of 1 key(s) issued"),
        ("Progressing", "Issuing: 0 of 1 key(s) issued"),
    );

    // Suspended by spec: Current for kstatus (Ready), Suspended for Argo CD.
    merge(&skr, "fresh", json!({"spec": {"suspend": true}})).await;
    let obj = live_when(
        &skr,
        "fresh",
        "fresh to be Suspended",
        phase_is(Phase::Suspended),
    )
    .await;
    expect(
        "Suspended request",
        &health("suspended", &obj),
        ("Current", "Resource is Ready"),
        ("Suspended", "Suspended: keys are inactive (spec.suspend)"),
    );
    merge(&skr, "fresh", json!({"spec": {"suspend": false}})).await;
    live_when(&skr, "fresh", "fresh to be Issued", phase_is(Phase::Issued)).await;

    // Expired: Stalled with KeysExpired, so Failed and Degraded.
    typed
        .create(
            &pp,
            &request(
                "expiring",
                json!({"onRamp": la2, "maxSpeedMbps": 100, "validity": {"duration": "1d"}}),
            ),
        )
        .await
        .unwrap();
    live_when(
        &skr,
        "expiring",
        "expiring to be Issued",
        phase_is(Phase::Issued),
    )
    .await;
    control
        .advance_clock(Duration::from_secs(2 * 86_400))
        .await
        .unwrap();
    let obj = live_when(
        &skr,
        "expiring",
        "expiring to expire",
        phase_is(Phase::Expired),
    )
    .await;
    expect(
        "Expired request",
        &health("expired", &obj),
        ("Failed", "expired"),
        ("Degraded", "KeysExpired: 1 key(s) expired"),
    );
    live_when(
        &skr,
        "in-flight",
        "the request whose create was held to be Issued",
        phase_is(Phase::Issued),
    )
    .await;

    // Megaport unreadable. The region says so: Reconciling, still Ready (its last resolution
    // serves), so kstatus InProgress and Argo CD Progressing, "still Ready". The request, done,
    // is not looked at again until something changes: it stays Current and Healthy, the keys
    // in its Secret still work.
    for path in ["/v2/products", "/v2/service/key"] {
        control
            .inject_fault(&FaultSpec::status(503).method("GET").path(path))
            .await
            .unwrap();
    }
    let reconciling_but_ready = |conditions: &Vec<_>| {
        condition_reason(Some(conditions), "Reconciling") == Some("MegaportUnavailable")
            && support::named_conditions::is_true(conditions, "Ready")
    };
    let obj = live_when(
        &orr,
        &region,
        "the region to note the outage",
        |r: &OnRampRegion| {
            r.status
                .as_ref()
                .is_some_and(|s| reconciling_but_ready(&s.conditions))
        },
    )
    .await;
    expect(
        "Ready region, Megaport unreadable",
        &health("ready-megaport-unavailable", &obj),
        ("InProgress", "cannot read Megaport products"),
        (
            "Progressing",
            "; still Ready: OnRampsAvailable: 2 eligible on-ramp(s)",
        ),
    );
    let obj = serde_json::to_value(skr.get("fresh").await.unwrap()).unwrap();
    expect(
        "Issued request, Megaport unreadable",
        &health("issued-megaport-unavailable-untouched", &obj),
        ("Current", "Resource is Ready"),
        ("Healthy", "Issued: "),
    );
    // A spec edit during the outage: the operator takes the new generation and cannot act on
    // it yet, so Reconciling, still Ready.
    merge(
        &skr,
        "fresh",
        json!({"spec": {"description": "edited during an outage"}}),
    )
    .await;
    let obj = live_when(
        &skr,
        "fresh",
        "fresh to note the outage on its edit",
        |r: &ServiceKeyRequest| {
            r.status.as_ref().is_some_and(|s| {
                s.observed_generation == r.metadata.generation
                    && reconciling_but_ready(&s.conditions)
            })
        },
    )
    .await;
    expect(
        "Issued request edited, Megaport unreadable",
        &health("issued-megaport-unavailable-edited", &obj),
        ("InProgress", "HTTP 503"),
        (
            "Progressing",
            "; still Ready: Issued: 1 key(s) issued and delivered in Secret fresh",
        ),
    );
    control.clear_faults().await.unwrap();

    // With the operator stopped: a spec edit leaves observedGeneration behind (InProgress,
    // Progressing), and deletion waits on the finalizer (Terminating, Pending deletion).
    let took = operator.terminate(Duration::from_secs(20)).await;
    assert!(took.is_some(), "the operator did not stop on SIGTERM");
    merge(&skr, "fresh", json!({"spec": {"maxSpeedMbps": 200}})).await;
    let obj = serde_json::to_value(skr.get("fresh").await.unwrap()).unwrap();
    expect(
        "request just after a spec edit",
        &health("spec-edited", &obj),
        (
            "InProgress",
            "ServiceKeyRequest generation is 5, but latest observed generation is 4",
        ),
        (
            "Progressing",
            "Waiting for the operator to act on generation 5 (the status describes generation 4)",
        ),
    );
    merge(
        &orr,
        &region,
        json!({"spec": {"displayName": "US-West (LA)"}}),
    )
    .await;
    let obj = serde_json::to_value(orr.get(&region).await.unwrap()).unwrap();
    expect(
        "region just after a spec edit",
        &health("spec-edited", &obj),
        (
            "InProgress",
            "OnRampRegion generation is 2, but latest observed generation is 1",
        ),
        (
            "Progressing",
            "Waiting for the operator to resolve generation 2",
        ),
    );

    skr.delete("fresh", &DeleteParams::default()).await.unwrap();
    let obj = serde_json::to_value(skr.get("fresh").await.unwrap()).unwrap();
    let seen = health("deleting", &obj);
    expect(
        "request being deleted",
        &seen,
        ("Terminating", "Resource scheduled for deletion"),
        ("Progressing", "Pending deletion"),
    );
    assert_eq!(
        (seen.script.status.as_str(), seen.script.message.as_str()),
        (
            "Progressing",
            "Being deleted: the operator applies spec.deletionPolicy to the keys, then releases its finalizer"
        )
    );
    merge(&orr, &region, json!({"metadata": {"finalizers": [HOLD]}})).await;
    orr.delete(&region, &DeleteParams::default()).await.unwrap();
    let obj = serde_json::to_value(orr.get(&region).await.unwrap()).unwrap();
    let seen = health("deleting", &obj);
    expect(
        "region being deleted",
        &seen,
        ("Terminating", "Resource scheduled for deletion"),
        ("Progressing", "Pending deletion"),
    );
    assert_eq!(
        (seen.script.status.as_str(), seen.script.message.as_str()),
        ("Progressing", "Being deleted")
    );

    // Clean up with an operator: the keys are deactivated and the finalizers released.
    merge(&orr, &region, json!({"metadata": {"finalizers": null}})).await;
    let mut operator = OperatorProcess::start(&sim, &log_path("gitops-cleanup"));
    support::delete_requests(&admin, &ns.name).await;
    operator.kill();
    let _ = std::fs::remove_file(&operator.log);
    sim.shutdown().await;
}

/// SavedConfigurations in every phase, on live objects, with the operator (every controller,
/// in-process) ordering from the simulator: no status yet; Quoted; Invalid (a speed the location
/// does not offer); Pending while Megaport fails the validation; just after a spec edit (its
/// validation held); Ordering with a buy in flight; Provisioning; Live; Failed (Megaport refuses
/// the buy); being deleted while the cancellation is held (finalizer still there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_configurations_read_as_flux_and_argo_cd_expect_in_every_phase() {
    let admin = support::client(Identity::Admin).await;
    support::install_project_crds(&admin).await;
    let ns = TestNamespace::new(&admin, "gitops-config").await;
    let api = configurations(&admin, &ns.name);
    let typed: Api<SavedConfiguration> = Api::namespaced(admin.clone(), &ns.name);
    let pp = PostParams::default();

    // Before any operator runs: no status. kstatus calls it Current; Argo CD waits.
    typed
        .create(&pp, &configuration("uplink", uplink(false)))
        .await
        .unwrap();
    let obj = serde_json::to_value(api.get("uplink").await.unwrap()).unwrap();
    expect(
        "configuration without status",
        &health("no-status", &obj),
        ("Current", "Resource is current"),
        (
            "Progressing",
            "Waiting for the operator to price this configuration",
        ),
    );

    let op = Operator::start(
        &admin,
        Settings {
            controllers: Kind::ALL.to_vec(),
            ..Operator::fast()
        },
    )
    .await;
    let control = op.sim.control();

    // Saved and priced: Ready, so Current and Healthy.
    configuration_reads(
        &api,
        ("uplink", ConfigurationPhase::Quoted),
        ("quoted", "Quoted configuration"),
        ("Current", "Resource is Ready"),
        ("Healthy", "Quoted: priced at 950.00 USD a month"),
    )
    .await;

    // A Port speed the location does not offer: Stalled, so Failed and Degraded at once.
    typed
        .create(
            &pp,
            &configuration(
                "la3",
                json!({"services": {"ports": [{"name": "la3", "locationId": 412, "speedMbps": 1000, "termMonths": 1}]}}),
            ),
        )
        .await
        .unwrap();
    configuration_reads(
        &api,
        ("la3", ConfigurationPhase::Invalid),
        ("invalid", "Invalid configuration"),
        (
            "Failed",
            "la3: Port speed 1000 Mbps is not offered at Equinix LA3",
        ),
        (
            "Degraded",
            "DesignInvalid: the design cannot be ordered as it is: la3: ",
        ),
    )
    .await;

    // Megaport fails every validation: not priced yet (phase Pending), Reconciling with the
    // failure's reason, so InProgress and Progressing.
    fault(
        &control,
        FaultSpec::status(503)
            .method("POST")
            .path("/v3/networkdesign/validate")
            .message("Service Unavailable"),
    )
    .await;
    typed
        .create(&pp, &configuration("flaky", uplink(false)))
        .await
        .unwrap();
    let obj = live_when(
        &api,
        "flaky",
        "flaky to report the outage",
        |c: &SavedConfiguration| {
            configuration_is(ConfigurationPhase::Pending)(c)
                && condition_reason(c.status.as_ref().map(|s| &s.conditions), "Reconciling")
                    .is_some()
        },
    )
    .await;
    assert_configuration_contract("pending-megaport-unavailable", &obj);
    expect(
        "Pending configuration, Megaport failing",
        &health("pending-megaport-unavailable", &obj),
        (
            "InProgress",
            "checking and pricing the design failed: Megaport: Megaport API POST /v3/networkdesign/validate returned HTTP 503",
        ),
        (
            "Progressing",
            "MegaportUnavailable: checking and pricing the design failed: ",
        ),
    );
    control.clear_faults().await.unwrap();
    live_when(
        &api,
        "flaky",
        "flaky to be Quoted",
        configuration_is(ConfigurationPhase::Quoted),
    )
    .await;

    // A spec edit whose validation is held: the status still describes generation 1.
    let validations = control
        .counter("POST /v3/networkdesign/validate")
        .await
        .unwrap();
    fault(
        &control,
        FaultSpec::lost_answer(5_000)
            .method("POST")
            .path("/v3/networkdesign/validate")
            .times(1),
    )
    .await;
    merge(
        &api,
        "uplink",
        json!({"spec": {"description": "GPU cluster uplink, 10G"}}),
    )
    .await;
    eventually("the held validation", WAIT, || async {
        (control
            .counter("POST /v3/networkdesign/validate")
            .await
            .ok()?
            > validations)
            .then_some(())
    })
    .await;
    let obj = serde_json::to_value(api.get("uplink").await.unwrap()).unwrap();
    assert_configuration_contract("spec-edited", &obj);
    expect(
        "configuration just after a spec edit",
        &health("spec-edited", &obj),
        (
            "InProgress",
            "SavedConfiguration generation is 2, but latest observed generation is 1",
        ),
        (
            "Progressing",
            "Waiting for the operator to act on generation 2 (the status describes generation 1)",
        ),
    );
    live_when(
        &api,
        "uplink",
        "uplink to be Quoted again",
        configuration_is(ConfigurationPhase::Quoted),
    )
    .await;

    // Ordered, the Port's buy carried out and its answer held: the operator said Ordering
    // (Reconciling=True) for the ordered generation before it sent the buy.
    let buys = control.counter("POST /v4/networkdesign/buy").await.unwrap();
    fault(
        &control,
        FaultSpec::lost_answer(30_000)
            .method("POST")
            .path("/v4/networkdesign/buy")
            .times(1),
    )
    .await;
    merge(&api, "uplink", json!({"spec": {"order": true}})).await;
    eventually("the held buy", WAIT, || async {
        (control.counter("POST /v4/networkdesign/buy").await.ok()? > buys).then_some(())
    })
    .await;
    let obj = serde_json::to_value(api.get("uplink").await.unwrap()).unwrap();
    assert_eq!(
        (
            &obj["status"]["phase"],
            &obj["status"]["observedGeneration"]
        ),
        (&json!("Ordering"), &obj["metadata"]["generation"]),
        "{obj}"
    );
    assert_configuration_contract("ordering-buy-held", &obj);
    expect(
        "configuration ordered, its first buy held",
        &health("ordering-buy-held", &obj),
        ("InProgress", "buying la-port"),
        ("Progressing", "Ordering: buying la-port"),
    );
    // The answer is lost; the operator finds the Port by its tags and goes on with the VXC,
    // whose buy is slowed: meanwhile the status says Ordering (Reconciling=True).
    fault(
        &control,
        FaultSpec::latency(5_000)
            .method("POST")
            .path("/v4/networkdesign/buy")
            .times(1),
    )
    .await;
    let obj = live_when(
        &api,
        "uplink",
        "uplink to be buying its VXC",
        |c: &SavedConfiguration| {
            configuration_is(ConfigurationPhase::Ordering)(c)
                && c.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|k| k.type_ == "Reconciling" && k.message.contains("buying to-gpu"))
                })
        },
    )
    .await;
    assert_configuration_contract("ordering", &obj);
    expect(
        "configuration being bought",
        &health("ordering", &obj),
        ("InProgress", "buying to-gpu"),
        ("Progressing", "Ordering: buying to-gpu"),
    );

    // Bought, not LIVE yet: Reconciling, so InProgress and Progressing.
    configuration_reads(
        &api,
        ("uplink", ConfigurationPhase::Provisioning),
        ("provisioning", "configuration provisioning"),
        ("InProgress", "provisioning: la-port "),
        ("Progressing", "Provisioning: provisioning: la-port "),
    )
    .await;

    // Every service LIVE: Ready, so Current and Healthy.
    control
        .advance_clock(Duration::from_secs(61))
        .await
        .unwrap();
    configuration_reads(
        &api,
        ("uplink", ConfigurationPhase::Live),
        ("live", "Live configuration"),
        ("Current", "Resource is Ready"),
        ("Healthy", "Live: all 2 services are LIVE"),
    )
    .await;

    // Megaport refuses the buy: Stalled until a new generation, so Failed and Degraded.
    fault(
        &control,
        FaultSpec::status(400)
            .method("POST")
            .path("/v4/networkdesign/buy")
            .message("Order failed")
            .data(json!("Credit limit exceeded"))
            .times(1),
    )
    .await;
    typed
        .create(&pp, &configuration("refused", uplink(true)))
        .await
        .unwrap();
    configuration_reads(
        &api,
        ("refused", ConfigurationPhase::Failed),
        ("failed", "Failed configuration"),
        (
            "Failed",
            "Megaport refused the order: Order failed: Credit limit exceeded",
        ),
        (
            "Degraded",
            "OrderRefused: Megaport refused the order: Order failed: Credit limit exceeded",
        ),
    )
    .await;

    // Deleted with CancelNow while the cancellation is held: the finalizer is still there
    // (Terminating, Pending deletion).
    let cancels = control
        .counter("POST /v3/product/{uid}/action/{action}")
        .await
        .unwrap();
    fault(
        &control,
        FaultSpec::lost_answer(20_000)
            .method("POST")
            .path("/v3/product/")
            .times(1),
    )
    .await;
    api.delete("uplink", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the held cancellation", WAIT, || async {
        (control
            .counter("POST /v3/product/{uid}/action/{action}")
            .await
            .ok()?
            > cancels)
            .then_some(())
    })
    .await;
    let obj = serde_json::to_value(api.get("uplink").await.unwrap()).unwrap();
    assert_eq!(
        obj["metadata"]["finalizers"],
        json!(["megaport.onramp.dev/services"]),
        "{obj}"
    );
    assert_configuration_contract("deleting", &obj);
    let seen = health("deleting", &obj);
    expect(
        "configuration being deleted",
        &seen,
        ("Terminating", "Resource scheduled for deletion"),
        ("Progressing", "Pending deletion"),
    );
    assert_eq!(
        (seen.script.status.as_str(), seen.script.message.as_str()),
        (
            "Progressing",
            "Being deleted: the operator applies spec.deletionPolicy to the ordered services, then releases its finalizer"
        )
    );

    // Clean up: let go without Megaport, before the operator stops.
    for c in typed.list(&Default::default()).await.unwrap() {
        let name = c.metadata.name.clone().unwrap();
        merge(
            &api,
            &name,
            json!({"metadata": {"annotations": {"megaport.onramp.dev/abandon": "true"}}}),
        )
        .await;
        let _ = api.delete(&name, &DeleteParams::default()).await;
    }
    eventually("the configurations to go", WAIT, || async {
        typed
            .list(&Default::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    op.stop().await;
}
