//! The Helm chart (`charts/megaport-operator`) and the plain manifests rendered from it
//! (`deploy/`) on the real apiserver, with the helm and kubectl that `hack/tools/build.sh`
//! builds: both pass a server-side dry run under Pod Security "restricted" without a single
//! warning; `helm install` installs the chart (no pods run: the harness has no kubelet), and the
//! operator binary, run with the Deployment's own environment and a token of the chart's
//! ServiceAccount (TokenRequest API), issues a key: the chart's RBAC suffices. `helm uninstall`
//! keeps the CRDs. The checks that need no cluster are `make chart` (hack/chart/check.sh).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use megaport_operator::crd::service_key_request::{Phase, ServiceKeyRequest};
use megaport_sim::{Scenario, quantumgpu};
use serde_json::json;

use crate::issuing::{request, secret_data, wait_phase};
use crate::support::{self, Identity, TestNamespace, eventually, log_path};

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/megaport-operator");
const CRDS: [&str; 4] = [
    "onrampregions.megaport.onramp.dev",
    "servicekeyrequests.megaport.onramp.dev",
    "savedconfigurations.megaport.onramp.dev",
    "connectionapprovals.megaport.onramp.dev",
];

/// The cluster-wide objects of the chart's ordering permission (`deploy/ordering.yaml`, which
/// other tests apply without Helm).
const USER_ROLES: [&str; 7] = [
    "megaport-company-admin",
    "megaport-tech-admin",
    "megaport-finance",
    "megaport-tech-contact",
    "megaport-finance-contact",
    "megaport-read-only",
    "megaport-connection-approver",
];
/// The chart's admission policies (each with a binding of the same name).
const POLICIES: [&str; 3] = [
    "megaport-order-permission",
    "megaport-connection-decider",
    "megaport-connection-policy",
];

/// Deletes each object `names` of `api` that exists.
async fn delete_all<K>(api: &Api<K>, names: &[&str])
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    for name in names {
        if api.get_opt(name).await.unwrap().is_some() {
            api.delete(name, &DeleteParams::default()).await.unwrap();
        }
    }
}

/// The directory with helm and kubectl (built from the Go module proxy on first use; cached).
fn tools() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/hack/tools/build.sh");
        let out = Command::new("bash")
            .arg(script)
            .output()
            .expect("running hack/tools/build.sh");
        assert!(
            out.status.success(),
            "hack/tools/build.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// Runs a tool of `tools()` as the harness admin; returns its output whatever the exit status.
fn tool(name: &str, args: &[&str]) -> Output {
    Command::new(tools().join(name))
        .args(args)
        .env("KUBECONFIG", std::env::var("KUBECONFIG_ADMIN").unwrap())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"))
}

/// Runs it and returns stdout and stderr together; panics when it fails.
fn ok(name: &str, args: &[&str]) -> String {
    let out = tool(name, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} {}: {text}", args.join(" "));
    text
}

/// `helm template` of the chart as release `release` in `namespace`, written to a file.
fn render(release: &str, namespace: &str, set: &[&str]) -> TempFile {
    let mut args = vec!["template", release, CHART, "--namespace", namespace];
    for s in set {
        args.extend(["--set", s]);
    }
    let out = tool("helm", &args);
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    write_temp(&out.stdout)
}

/// A file under the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn to_str(&self) -> Option<&str> {
        self.0.to_str()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn write_temp(bytes: &[u8]) -> TempFile {
    let path = log_path("manifest").with_extension("yaml");
    std::fs::write(&path, bytes).unwrap();
    TempFile(path)
}

/// Server-side dry run of `files` as the admin; returns every `Warning:` line (the apiserver
/// sends Pod Security violations of workloads as warnings).
fn dry_run_warnings(files: &[&str]) -> Vec<String> {
    let mut args = vec![
        "apply",
        "--server-side",
        "--dry-run=server",
        "--force-conflicts",
        "--field-manager=megaport-e2e-dry-run",
    ];
    for f in files {
        args.extend(["-f", f]);
    }
    let text = ok("kubectl", &args);
    text.lines()
        .filter(|l| l.contains("Warning:"))
        .map(str::to_owned)
        .collect()
}

/// Labels `namespace` for Pod Security "restricted" (enforce, warn and audit, latest version).
async fn restrict(admin: &Client, namespace: &str) {
    let labels = json!({"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }}});
    Api::<Namespace>::all(admin.clone())
        .patch(namespace, &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_and_deploy_pass_restricted_pod_security_without_warnings() {
    let admin = support::client(Identity::Admin).await;
    let ns = TestNamespace::new(&admin, "psa").await;
    restrict(&admin, &ns.name).await;

    // The chart with its defaults, and with every optional object the harness has the kinds
    // for (a created Secret, PodDisruptionBudget, NetworkPolicy; not the ServiceMonitor).
    let defaults = render(
        "psa-defaults",
        &ns.name,
        &["megaport.credentials.existingSecret=megaport-credentials"],
    );
    let options = render(
        "psa-options",
        &ns.name,
        &[
            "megaport.credentials.accessKey=a,megaport.credentials.secretKey=b",
            "podDisruptionBudget.enabled=true,networkPolicy.enabled=true",
            "megaport.environment=staging,logging.format=json",
        ],
    );
    let warnings = dry_run_warnings(&[defaults.to_str().unwrap(), options.to_str().unwrap()]);
    assert!(warnings.is_empty(), "the chart: {warnings:#?}");

    // The check can fail: a container that may escalate privileges is reported.
    let bad = render(
        "psa-bad",
        &ns.name,
        &[
            "megaport.credentials.existingSecret=megaport-credentials",
            "securityContext.allowPrivilegeEscalation=true",
        ],
    );
    let warnings = dry_run_warnings(&[bad.to_str().unwrap()]);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("PodSecurity") && w.contains("allowPrivilegeEscalation")),
        "no Pod Security warning for a non-compliant Deployment: {warnings:?}"
    );

    // deploy/: its namespace (labelled restricted) for real, then everything as a dry run.
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let existed = namespaces
        .get_opt("megaport-system")
        .await
        .unwrap()
        .is_some();
    let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");
    let namespace_file = format!("{deploy}/00-namespace.yaml");
    let created = ok(
        "kubectl",
        &[
            "apply",
            "--server-side",
            "--field-manager=megaport-e2e",
            "-f",
            &namespace_file,
        ],
    );
    assert!(!created.contains("Warning:"), "{created}");
    let system = namespaces.get("megaport-system").await.unwrap();
    assert_eq!(
        system.metadata.labels.unwrap()["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let warnings = dry_run_warnings(&[deploy]);
    if !existed {
        let _ = namespaces
            .delete("megaport-system", &DeleteParams::background())
            .await;
    }
    assert!(warnings.is_empty(), "deploy/: {warnings:#?}");
}

/// The operator as a child process, killed (SIGKILL) when dropped; when that happens because
/// the test failed, the end of its log is printed.
struct Killed {
    child: Child,
    log: PathBuf,
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "--- the operator's log (last 60 lines of {}):\n{}",
                self.log.display(),
                lines[lines.len().saturating_sub(60)..].join("\n")
            );
        }
    }
}

/// A kubeconfig for the harness apiserver that authenticates with `token`.
fn token_kubeconfig(token: &str) -> TempFile {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "harness", "cluster": {
            "server": std::env::var("KUBE_APISERVER_URL").unwrap(),
            "certificate-authority": std::env::var("HARNESS_CA_CERT").unwrap(),
        }}],
        "users": [{"name": "chart-sa", "user": {"token": token}}],
        "contexts": [{"name": "chart-sa", "context": {"cluster": "harness", "user": "chart-sa"}}],
        "current-context": "chart-sa",
    });
    write_temp(serde_json::to_string(&config).unwrap().as_bytes())
}

/// The installed Deployment's container environment as the operator process gets it: plain
/// values as they are, Secret references resolved, the downward API as a pod would see it.
async fn deployment_env(admin: &Client, namespace: &str, name: &str) -> BTreeMap<String, String> {
    let deployment = Api::<Deployment>::namespaced(admin.clone(), namespace)
        .get(name)
        .await
        .unwrap();
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    let container = &pod.containers[0];
    let mut env = BTreeMap::new();
    for var in container.env.clone().unwrap_or_default() {
        let value = if let Some(value) = var.value {
            value
        } else {
            let from = var.value_from.unwrap();
            if let Some(field) = from.field_ref {
                match field.field_path.as_str() {
                    "metadata.name" => "x".to_owned(),
                    "metadata.namespace" => namespace.to_owned(),
                    other => panic!("unexpected downward API field {other}"),
                }
            } else {
                let key = from.secret_key_ref.unwrap();
                secret_data(admin, namespace, &key.name).await[&key.key].clone()
            }
        };
        env.insert(var.name, value);
    }
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_gives_the_operator_what_it_needs_and_uninstall_keeps_the_crds() {
    let admin = support::client(Identity::Admin).await;
    let sim = megaport_sim::spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let release_ns = TestNamespace::new(&admin, "chart").await;
    restrict(&admin, &release_ns.name).await;
    let customer = TestNamespace::new(&admin, "chart-customer").await;
    let release = "chart-e2e";
    let fullname = "chart-e2e-megaport-operator";

    // Other tests install the CRDs without Helm: hand them to this release, the way a user
    // adopts objects that exist (`helm install` refuses objects it does not own). The ordering
    // permission they apply from deploy/ordering.yaml (as release megaport-operator, which
    // conflicts with this release's labels) goes: the saved-configuration tests apply it again.
    let adopt = json!({"metadata": {
        "labels": {"app.kubernetes.io/managed-by": "Helm"},
        "annotations": {
            "meta.helm.sh/release-name": release,
            "meta.helm.sh/release-namespace": release_ns.name,
        },
    }});
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    for name in CRDS {
        if crds.get_opt(name).await.unwrap().is_some() {
            crds.patch(name, &PatchParams::default(), &Patch::Merge(&adopt))
                .await
                .unwrap();
        }
    }
    delete_all(&Api::<ClusterRole>::all(admin.clone()), &USER_ROLES).await;
    delete_all(
        &Api::<ValidatingAdmissionPolicy>::all(admin.clone()),
        &POLICIES,
    )
    .await;
    delete_all(
        &Api::<ValidatingAdmissionPolicyBinding>::all(admin.clone()),
        &POLICIES,
    )
    .await;

    let base_url = format!("megaport.baseUrl={}", sim.base_url());
    let token_url = format!("megaport.tokenUrl={}", sim.token_url());
    let access = format!(
        "megaport.credentials.accessKey={}",
        quantumgpu::PROVIDER_ADMIN_ID
    );
    let secret = format!(
        "megaport.credentials.secretKey={}",
        quantumgpu::PROVIDER_ADMIN_SECRET
    );
    let installed = ok(
        "helm",
        &[
            "install",
            release,
            CHART,
            "--namespace",
            &release_ns.name,
            "--timeout=60s",
            "--set",
            &base_url,
            "--set",
            &token_url,
            "--set",
            &access,
            "--set",
            &secret,
            "--set",
            "controller.keysRefreshSeconds=1,controller.productsRefreshSeconds=1",
            "--set",
            "controller.keyUpdateSpacingSeconds=0,logging.level=debug",
        ],
    );
    assert!(installed.contains("STATUS: deployed"), "{installed}");
    assert!(installed.contains("kubectl get orr"), "NOTES: {installed}");
    for name in CRDS {
        let crd = crds.get(name).await.unwrap();
        assert_eq!(
            crd.metadata.annotations.unwrap()["helm.sh/resource-policy"],
            "keep"
        );
    }

    // The chart's ServiceAccount, as a pod would be: a token from the TokenRequest API.
    let token = ok(
        "kubectl",
        &[
            "create",
            "token",
            fullname,
            "--namespace",
            &release_ns.name,
            "--duration=1h",
        ],
    );
    let kubeconfig = token_kubeconfig(token.trim());
    let whoami = ok(
        "kubectl",
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(
        whoami.trim(),
        format!("system:serviceaccount:{}:{fullname}", release_ns.name)
    );

    // The operator with the Deployment's environment (its Megaport endpoints, credentials,
    // periods, leader election and Lease), on a free local port instead of the pod's.
    let mut env = deployment_env(&admin, &release_ns.name, fullname).await;
    assert_eq!(env["LEADER_ELECT"], "true");
    assert_eq!(env["LEASE_NAME"], fullname);
    assert_eq!(env["MEGAPORT_BASE_URL"], sim.base_url());
    env.insert("HTTP_ADDR".into(), "127.0.0.1:0".into());
    let log = log_path("chart-operator");
    let out = std::fs::File::create(&log).unwrap();
    let operator = Killed {
        child: Command::new(env!("CARGO_BIN_EXE_megaport-operator"))
            .arg("run")
            .env_clear()
            .envs(&env)
            .env("KUBECONFIG", kubeconfig.to_str().unwrap())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("starting the operator binary"),
        log: log.clone(),
    };

    let api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &customer.name);
    api.create(
        &PostParams::default(),
        &request(
            "via-chart",
            json!({"onRamp": {"productUid": quantumgpu::PORT_LAX_CS1_RED}, "maxSpeedMbps": 100}),
        ),
    )
    .await
    .unwrap();
    let issued = wait_phase(&api, "via-chart", Phase::Issued).await;
    let conditions = &issued.status.as_ref().unwrap().conditions;
    assert!(
        support::named_conditions::is_true(conditions, "Ready"),
        "{conditions:?}"
    );
    let delivered = secret_data(&admin, &customer.name, "via-chart").await;
    assert!(!delivered["serviceKey"].is_empty());

    // Leader election on (the chart's default): the process holds the chart's Lease as "x", so
    // the chart's Role for it suffices.
    let lease = eventually("the Lease", Duration::from_secs(20), || async {
        let lease = Api::<Lease>::namespaced(admin.clone(), &release_ns.name)
            .get_opt(fullname)
            .await
            .ok()??;
        let holder = lease.spec.as_ref()?.holder_identity.clone()?;
        Some(holder)
    })
    .await;
    assert_eq!(lease, "x");
    // Deleting the request runs the finalizer (deactivation) under the chart's identity too.
    support::delete_requests(&admin, &customer.name).await;
    drop(operator);
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !logs.contains(quantumgpu::PROVIDER_ADMIN_SECRET),
        "the client secret is in the log"
    );
    let _ = std::fs::remove_file(&log);

    // An upgrade with one value changed: the CRD templates apply again, the Deployment follows.
    let upgraded = ok(
        "helm",
        &[
            "upgrade",
            release,
            CHART,
            "--namespace",
            &release_ns.name,
            "--reuse-values",
            "--set",
            "logging.format=json",
        ],
    );
    assert!(upgraded.contains("STATUS: deployed"), "{upgraded}");
    let env = deployment_env(&admin, &release_ns.name, fullname).await;
    assert_eq!(env["MEGAPORT_OPERATOR_LOG_FORMAT"], "json");

    // Uninstall: the release's objects go, the CRDs (and so every request) stay.
    let uninstalled = ok(
        "helm",
        &["uninstall", release, "--namespace", &release_ns.name],
    );
    assert!(
        uninstalled.contains("These resources were kept due to the resource policy"),
        "{uninstalled}"
    );
    for name in CRDS {
        assert!(
            crds.get_opt(name).await.unwrap().is_some(),
            "{name} was deleted"
        );
    }
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &release_ns.name);
    assert!(deployments.get_opt(fullname).await.unwrap().is_none());
    let roles: Api<ClusterRole> = Api::all(admin.clone());
    assert!(roles.get_opt(fullname).await.unwrap().is_none());
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &release_ns.name);
    assert!(
        secrets
            .get_opt(&format!("{fullname}-credentials"))
            .await
            .unwrap()
            .is_none()
    );
    sim.shutdown().await;
}
