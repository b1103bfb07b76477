//! Test support for end-to-end tests against the real control plane started by
//! `hack/control-plane/up.sh` (run them with `make e2e`, which sources its `env` file).
//!
//! It connects as any harness identity, creates a temporary namespace per test (deleted when
//! the guard drops, also when the test fails), installs CRDs and waits for conditions with
//! timeouts.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, Config};
use serde::Deserialize;

/// The field manager used by test setup.
pub const FIELD_MANAGER: &str = "megaport-e2e";

/// The identities `up.sh` creates, each with a kubeconfig in `KUBECONFIG_<NAME>`. The role
/// users are in the groups `megaport:<role>` the SavedConfiguration tests bind roles to.
#[derive(Clone, Copy, Debug)]
pub enum Identity {
    /// `system:masters`.
    Admin,
    /// The operator's ServiceAccount user, bound to nothing by the harness.
    Operator,
    /// A user without any binding.
    Nobody,
    /// Users in the role groups `megaport:tech-admin`, `megaport:tech-contact`, ...
    TechAdmin,
    TechContact,
    Finance,
    FinanceContact,
    ReadOnly,
}

impl Identity {
    fn env_var(self) -> &'static str {
        match self {
            Self::Admin => "KUBECONFIG_ADMIN",
            Self::Operator => "KUBECONFIG_OPERATOR",
            Self::Nobody => "KUBECONFIG_NOBODY",
            Self::TechAdmin => "KUBECONFIG_TECH_ADMIN",
            Self::TechContact => "KUBECONFIG_TECH_CONTACT",
            Self::Finance => "KUBECONFIG_FINANCE",
            Self::FinanceContact => "KUBECONFIG_FINANCE_CONTACT",
            Self::ReadOnly => "KUBECONFIG_READ_ONLY",
        }
    }
}

/// A client for `identity`, from the kubeconfig the harness wrote.
pub async fn client(identity: Identity) -> Client {
    let var = identity.env_var();
    let path = std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: run end-to-end tests with `make e2e` (it starts the control plane)"
        )
    });
    let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {path}: {e}"));
    Client::try_from(config).expect("kube client")
}

/// Polls `check` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Applies `crd` (server-side apply) and waits until it is Established.
pub async fn install_crd(admin: &Client, crd: &CustomResourceDefinition) {
    let api: Api<CustomResourceDefinition> = Api::all(admin.clone());
    let name = crd.metadata.name.clone().expect("CRD has a name");
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(crd),
    )
    .await
    .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(api, &name, conditions::is_crd_established()),
    )
    .await
    .unwrap_or_else(|_| panic!("CRD {name} not Established within 30s"))
    .expect("watching the CRD");
}

/// Every CRD under `crds/` (generated from the Rust types), installed and Established.
pub async fn install_project_crds(admin: &Client) -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
    let mut names = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return names;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(&path).expect("reading CRD file");
        let crd: CustomResourceDefinition =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        install_crd(admin, &crd).await;
        names.push(crd.metadata.name.unwrap_or_default());
    }
    names
}

/// A namespace that exists for one test and is deleted when dropped.
pub struct TestNamespace {
    pub name: String,
}

impl TestNamespace {
    /// Creates `e2e-<prefix>-<random>`.
    pub async fn new(admin: &Client, prefix: &str) -> Self {
        let name = format!(
            "e2e-{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let ns = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(admin.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        Self { name }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Drop cannot await; delete from a helper thread with its own runtime so cleanup also
        // happens when the test panicked. The thread builds its own client: a kube Client
        // serves requests from a task on the runtime that created it, which is blocked here.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let admin = client(Identity::Admin).await;
                let _ = Api::<Namespace>::all(admin)
                    .delete(&name, &DeleteParams::background())
                    .await;
            });
        })
        .join();
    }
}

/// Applies every document of a YAML file (paths relative to the repository) with server-side
/// apply as the admin, e.g. `deploy/rbac.yaml`.
pub async fn apply_file(admin: &Client, relative: &str) {
    use kube::api::DynamicObject;
    use kube::discovery::{ApiResource, Discovery, Scope};
    let path = format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let discovery = Discovery::new(admin.clone())
        .run()
        .await
        .expect("API discovery");
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_yaml::Value::deserialize(doc).expect("YAML document");
        if value.is_null() {
            continue;
        }
        let obj: DynamicObject = serde_yaml::from_value(value).expect("a Kubernetes object");
        let types = obj.types.clone().expect("apiVersion and kind");
        let gvk = kube::core::GroupVersionKind::try_from(&types).expect("group/version/kind");
        let (resource, caps): (ApiResource, _) = discovery.resolve_gvk(&gvk).expect("known kind");
        let name = obj.metadata.name.clone().expect("name");
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Cluster => Api::all_with(admin.clone(), &resource),
            Scope::Namespaced => Api::namespaced_with(
                admin.clone(),
                obj.metadata.namespace.as_deref().unwrap_or("default"),
                &resource,
            ),
        };
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {} {name}: {e}", types.kind));
    }
}

/// The message of an admission rejection (HTTP 422); panics when the call was admitted or
/// failed otherwise.
pub fn rejected<T>(result: Result<T, kube::Error>) -> String {
    match result {
        Ok(_) => panic!("the object was admitted"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

/// Installs the CRDs and `deploy/rbac.yaml` and waits until the operator's identity may list
/// what its controllers watch (RBAC bindings take effect asynchronously).
pub async fn grant_operator_role(admin: &Client) {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::ListParams;
    use megaport_operator::crd::{OnRampRegion, ServiceKeyRequest};
    install_project_crds(admin).await;
    apply_file(admin, "deploy/rbac.yaml").await;
    let operator = client(Identity::Operator).await;
    eventually(
        "the operator role to take effect",
        Duration::from_secs(15),
        || async {
            let lp = ListParams::default().limit(1);
            Api::<OnRampRegion>::all(operator.clone())
                .list(&lp)
                .await
                .ok()?;
            // Decoded one by one: an unreadable request elsewhere must not fail the check.
            Api::<kube::core::DeserializeGuard<ServiceKeyRequest>>::all(operator.clone())
                .list(&lp)
                .await
                .ok()?;
            Api::<Secret>::all(operator.clone()).list(&lp).await.ok()
        },
    )
    .await;
}

/// A Megaport client for one of the simulator's API keys.
pub fn megaport_client(
    sim: &megaport_sim::RunningSimulator,
    id: &str,
    secret: &str,
) -> std::sync::Arc<megaport_operator::megaport::MegaportClient> {
    use megaport_operator::megaport::{ClientConfig, Credentials, Environment, MegaportClient};
    let env = Environment::custom(&sim.base_url(), &sim.token_url()).expect("simulator URLs");
    let config = ClientConfig::new(env, Credentials::new(id, secret));
    std::sync::Arc::new(MegaportClient::new(config).expect("Megaport client"))
}

/// The simulator with the QuantumGPU world and the controllers running in-process as the
/// operator's ServiceAccount identity (bound only to `deploy/rbac.yaml`). Stops with the test.
pub struct Operator {
    /// The Megaport simulator the operator talks to.
    pub sim: megaport_sim::RunningSimulator,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Operator {
    /// Grants the role, starts the simulator and the controllers with `settings`.
    pub async fn start(admin: &Client, settings: megaport_operator::controller::Settings) -> Self {
        use megaport_sim::{Scenario, quantumgpu};
        // RUST_LOG=megaport_operator=debug shows the operator's logs with the test's output.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        grant_operator_role(admin).await;
        let sim = megaport_sim::spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("simulator");
        let megaport = megaport_client(
            &sim,
            quantumgpu::PROVIDER_ADMIN_ID,
            quantumgpu::PROVIDER_ADMIN_SECRET,
        );
        let operator = client(Identity::Operator).await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // The seal key the binary derives from the same secret: in-process and binary operators
        // trust each other's records.
        let seal = megaport_operator::issuance::RecordSeal::new(
            megaport_operator::megaport::Credentials::new(
                quantumgpu::PROVIDER_ADMIN_ID,
                quantumgpu::PROVIDER_ADMIN_SECRET,
            )
            .derive_key(megaport_operator::issuance::seal::PURPOSE),
        );
        let task = tokio::spawn(megaport_operator::controller::run(
            operator,
            megaport_operator::controller::Ports::of(megaport),
            settings,
            seal,
            megaport_operator::controller::Process::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            sim,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Short refresh periods, so tests see changes within seconds.
    pub fn fast() -> megaport_operator::controller::Settings {
        use megaport_operator::controller::Kind;
        megaport_operator::controller::Settings {
            products_refresh: Duration::from_secs(1),
            keys_refresh: Duration::from_secs(1),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(5),
            // The tests change specs faster than Megaport's pace allows.
            update_spacing: Duration::ZERO,
            provisioning_poll: Duration::from_secs(1),
            // Only the SavedConfiguration tests order: no other test's operator buys designs
            // another test left behind.
            controllers: vec![Kind::OnRampRegion, Kind::ServiceKeyRequest],
            ..megaport_operator::controller::Settings::default()
        }
    }

    /// Deletes the namespace's ServiceKeyRequests and waits until their finalizers ran, then
    /// stops: no request is left for the next test's operator (and simulator) to clean up.
    pub async fn stop_after_cleanup(self, admin: &Client, namespace: &str) {
        delete_requests(admin, namespace).await;
        self.stop().await;
    }

    /// Stops the controllers (graceful shutdown) and the simulator.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
        self.sim.shutdown().await;
    }
}

/// The operator's role granted, the project's CRDs installed and a simulator with the QuantumGPU
/// world: what tests that run the operator's binary against a simulator of their own need.
pub async fn simulator_for_binaries(admin: &Client) -> megaport_sim::RunningSimulator {
    grant_operator_role(admin).await;
    install_project_crds(admin).await;
    megaport_sim::spawn(
        megaport_sim::Scenario::quantumgpu(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("simulator")
}

/// Deletes every ServiceKeyRequest in `namespace` and waits until they are gone.
pub async fn delete_requests(admin: &Client, namespace: &str) {
    use kube::api::ListParams;
    use megaport_operator::crd::ServiceKeyRequest;
    let api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), namespace);
    let _ = api
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await;
    eventually(
        "the requests to be deleted",
        Duration::from_secs(30),
        || async {
            api.list(&ListParams::default())
                .await
                .ok()?
                .items
                .is_empty()
                .then_some(())
        },
    )
    .await;
}

/// `megaport-operator run` as a child process at debug level, its output in a log file (killed
/// with SIGKILL when dropped).
pub struct OperatorProcess {
    child: std::process::Child,
    /// Where its output goes.
    pub log: std::path::PathBuf,
}

impl OperatorProcess {
    /// Starts it as the operator's identity against `sim`, logging to `log`.
    pub fn start(sim: &megaport_sim::RunningSimulator, log: &std::path::Path) -> Self {
        let kubeconfig = std::env::var("KUBECONFIG_OPERATOR").expect("KUBECONFIG_OPERATOR");
        Self::start_with(sim, log, &kubeconfig)
    }

    /// Starts it with the kubeconfig at `kubeconfig`.
    pub fn start_with(
        sim: &megaport_sim::RunningSimulator,
        log: &std::path::Path,
        kubeconfig: &str,
    ) -> Self {
        Self::start_with_env(sim, log, kubeconfig, &[])
    }

    /// Starts it with the kubeconfig at `kubeconfig` and `env` on top of the test settings
    /// (probes and metrics on a free port, see [`Self::http_addr`]).
    pub fn start_with_env(
        sim: &megaport_sim::RunningSimulator,
        log: &std::path::Path,
        kubeconfig: &str,
        env: &[(&str, &str)],
    ) -> Self {
        use megaport_sim::quantumgpu;
        use std::process::{Command, Stdio};
        let out = std::fs::File::create(log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_megaport-operator"))
            .args(["--log-level", "debug", "run"])
            .env_remove("RUST_LOG")
            .env("KUBECONFIG", kubeconfig)
            .env("MEGAPORT_BASE_URL", sim.base_url())
            .env("MEGAPORT_TOKEN_URL", sim.token_url())
            .env("MEGAPORT_ACCESS_KEY", quantumgpu::PROVIDER_ADMIN_ID)
            .env("MEGAPORT_SECRET_KEY", quantumgpu::PROVIDER_ADMIN_SECRET)
            .env("KEYS_REFRESH_SECONDS", "1")
            .env("PRODUCTS_REFRESH_SECONDS", "1")
            .env("KEY_UPDATE_SPACING_SECONDS", "0")
            // As in Operator::fast: only the SavedConfiguration tests run that controller.
            .env("CONTROLLERS", "OnRampRegion,ServiceKeyRequest")
            .env("PROVISIONING_POLL_SECONDS", "1")
            .env("HTTP_ADDR", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("starting the operator binary");
        Self {
            child,
            log: log.to_owned(),
        }
    }

    /// The address of its probes and metrics, from its log (waits for the line).
    pub async fn http_addr(&self) -> std::net::SocketAddr {
        eventually(
            "the operator to serve its probes",
            Duration::from_secs(30),
            || async {
                let log = self.log_text();
                let line = log
                    .lines()
                    .find(|l| l.contains("serving /livez, /readyz and /metrics"))?;
                let addr = line.split("addr=").nth(1)?.split_whitespace().next()?;
                addr.parse().ok()
            },
        )
        .await
    }

    /// GETs `path` from its HTTP server: the status and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let url = format!("http://{}{path}", self.http_addr().await);
        let response = reqwest::get(&url).await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Its `/metrics`, parsed by a Prometheus text parser.
    pub async fn metrics(&self) -> prometheus_parse::Scrape {
        let (status, text) = self.get("/metrics").await;
        assert_eq!(status, 200, "{text}");
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .unwrap_or_else(|e| panic!("/metrics is not Prometheus text: {e}\n{text}"))
    }

    /// SIGKILL, and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and returns how long the process took to exit, or `None` if it still ran
    /// after `limit` (it is killed then).
    pub async fn terminate(&mut self, limit: Duration) -> Option<Duration> {
        let pid = self.child.id().to_string();
        let sent = tokio::time::Instant::now();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        while sent.elapsed() < limit {
            if self.child.try_wait().ok().flatten().is_some() {
                return Some(sent.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill();
        None
    }

    /// Everything it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of the sample `name` whose labels include `labels` (0 when there is none).
pub fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// A fresh log file path under the temporary directory.
pub fn log_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "megaport-e2e-{name}-{}.log",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ))
}

/// Conditions by their type's name, as a user reads them in `kubectl get -o yaml`.
pub mod named_conditions {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

    /// The condition named `type_`.
    pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
        conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether the condition named `type_` is present with status True.
    pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
        find(conditions, type_).is_some_and(|c| c.status == "True")
    }
}

/// Makes the simulator carry out the next key create and hold its answer for a minute (then
/// drop the connection): an operator waiting on it knows nothing of the key it made.
pub async fn hold_next_create(control: &megaport_sim::SimControl) {
    control
        .inject_fault(
            &megaport_sim::FaultSpec::lost_answer(60_000)
                .method("POST")
                .path("/v2/service/key")
                .times(1),
        )
        .await
        .unwrap();
}
