//! `make bench`: how fast and how frugally the operator issues keys, measured against a real
//! control plane and the simulator — a benchmark, not a test: it prints numbers and asserts
//! nothing about them.
//!
//! Each run starts its own control plane (`hack/control-plane/up.sh`), the simulator in this
//! process (the QuantumGPU world with extra Ports, so VLANs never run out) and the release
//! operator binary as a child process, applies `ServiceKeyRequest`s and watches until every one
//! is Issued with its Secret. Runs (`BENCH_RUNS`, comma-separated, default `off,steady,real`):
//!
//! - `off`: `BENCH_N` requests (default 1,000) applied at once, Megaport's limits off in the
//!   simulator and the operator (the operator's own cost), then calls at rest;
//! - `steady`: `BENCH_RATE` requests/s (default 10) for `BENCH_STEADY_SECONDS` (default 30),
//!   limits off: apply→Secret latency;
//! - `real`: `BENCH_N` requests at once with Megaport's documented window (500 requests; the
//!   operator's budget 450) over `BENCH_WINDOW_SECONDS` (default 30: the documented 300 s
//!   scaled down ten times, the same shape in a tenth of the time).
//!
//! Other knobs: `BENCH_POLL_SECONDS` (the operator's refresh periods, default 10), `BENCH_LOG`
//! (the operator's log filter, default `info`; its log is in the temporary directory),
//! `BENCH_WRAP` (a command the operator runs under, e.g. `heaptrack -o /tmp/op`),
//! `BENCH_CONCURRENCY` (reconciles at once, default the operator's), `BENCH_TIMEOUT_SECONDS`.
//! The request mix, by index: 30 % diverse (two keys, zones red and blue), 10 % multi-use
//! (no VLAN), the rest single-use single-zone; alternately in a Los Angeles and a New York
//! region.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../tests/e2e/support.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Config, ResourceExt};
use megaport_operator::crd::{OnRampRegion, ServiceKeyRequest};
use megaport_sim::scenario::ProductSpec;
use megaport_sim::{RunningSimulator, Scenario, SimControl, quantumgpu};
use serde_json::json;

const NAMESPACE: &str = "bench";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How requests arrive.
#[derive(Clone, Copy, Debug)]
enum Arrival {
    /// All at once.
    Burst(usize),
    /// `rate` per second for `seconds`.
    Steady { rate: f64, seconds: u64 },
}

/// Megaport's limits in the run.
#[derive(Clone, Copy, Debug)]
enum Limits {
    Off,
    /// The documented 500 per window at the simulator, 450 per window for the operator.
    Real {
        window_seconds: u64,
    },
}

#[derive(Clone, Debug)]
struct RunSpec {
    name: String,
    arrival: Arrival,
    limits: Limits,
    /// Measure Megaport calls at rest afterwards.
    at_rest: bool,
}

fn runs() -> Vec<RunSpec> {
    let n: usize = env_or("BENCH_N", 1000);
    let names = std::env::var("BENCH_RUNS").unwrap_or_else(|_| "off,steady,real".into());
    names
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| match name {
            "off" => RunSpec {
                name: format!("limits=off N={n}"),
                arrival: Arrival::Burst(n),
                limits: Limits::Off,
                at_rest: true,
            },
            "steady" => {
                let rate: f64 = env_or("BENCH_RATE", 10.0);
                let seconds = env_or("BENCH_STEADY_SECONDS", 30);
                RunSpec {
                    name: format!("limits=off {rate}/s for {seconds}s"),
                    arrival: Arrival::Steady { rate, seconds },
                    limits: Limits::Off,
                    at_rest: false,
                }
            }
            "real" => {
                let window_seconds = env_or("BENCH_WINDOW_SECONDS", 30);
                RunSpec {
                    name: format!("limits=real/{window_seconds}s N={n}"),
                    arrival: Arrival::Burst(n),
                    limits: Limits::Real { window_seconds },
                    at_rest: true,
                }
            }
            other => panic!("unknown run {other:?} in BENCH_RUNS (off, steady, real)"),
        })
        .collect()
}

// === the control plane ===

/// A control plane of its own for one run, stopped when dropped.
struct ControlPlane {
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl ControlPlane {
    fn up() -> Self {
        let root = env!("CARGO_MANIFEST_DIR");
        let dir = std::env::temp_dir().join(format!("megaport-bench-cp.{}", std::process::id()));
        let status = std::process::Command::new("bash")
            .arg(format!("{root}/hack/control-plane/up.sh"))
            .arg(&dir)
            // No audit log: it would cost the apiserver CPU the numbers are about.
            .env("AUDIT_LOG", "0")
            .stdout(std::process::Stdio::null())
            .status()
            .expect("running up.sh");
        assert!(status.success(), "the control plane did not start");
        let text = std::fs::read_to_string(dir.join("env")).expect("the control plane's env");
        let env = text
            .lines()
            .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches(['"', '\'']).to_owned()))
            .collect();
        Self { dir, env }
    }

    fn kubeconfig(&self, identity: &str) -> String {
        self.env
            .get(&format!("KUBECONFIG_{identity}"))
            .unwrap_or_else(|| panic!("KUBECONFIG_{identity} in the control plane's env"))
            .clone()
    }

    async fn client(&self, identity: &str) -> Client {
        let kubeconfig = Kubeconfig::read_from(self.kubeconfig(identity)).unwrap();
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap();
        Client::try_from(config).unwrap()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let root = env!("CARGO_MANIFEST_DIR");
        let _ = std::process::Command::new("bash")
            .arg(format!("{root}/hack/control-plane/down.sh"))
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The apiserver's request counts by (resource[/subresource], verb), from its `/metrics`.
async fn apiserver_requests(admin: &Client) -> BTreeMap<(String, String), f64> {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = admin.request_text(request).await.unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let Some((labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_owned()
        };
        let resource = match label("subresource").as_str() {
            "" => label("resource"),
            sub => format!("{}/{sub}", label("resource")),
        };
        if !matches!(
            label("resource").as_str(),
            "servicekeyrequests" | "secrets" | "events" | "onrampregions" | "namespaces"
        ) {
            continue;
        }
        *counts.entry((resource, label("verb"))).or_insert(0.0) += value.parse().unwrap_or(0.0);
    }
    counts
}

// === the simulator ===

/// The QuantumGPU world with extra provider Ports in Los Angeles and New York.
fn scenario() -> Scenario {
    let mut scenario = Scenario::quantumgpu();
    let template = scenario
        .products
        .iter()
        .find(|p| p.uid == quantumgpu::PORT_LAX_EQ1_BLUE)
        .cloned()
        .expect("the LA1 blue port");
    let extra = [
        (59, "blue", 3),
        (60, "red", 3),
        (117, "red", 2),
        (117, "blue", 2),
    ];
    let mut n = 0;
    for (location, zone, count) in extra {
        for _ in 0..count {
            n += 1;
            scenario.products.push(ProductSpec {
                uid: format!("b0000000-0000-4000-8000-0000000000{n:02}"),
                id: None,
                name: format!("bench-{location}-{zone}-{n}"),
                location_id: location,
                diversity_zone: Some(zone.into()),
                ..template.clone()
            });
        }
    }
    scenario
}

// === the operator ===

/// The release operator binary, as the operator's identity.
struct OperatorProcess {
    child: std::process::Child,
}

impl OperatorProcess {
    fn start(cp: &ControlPlane, sim: &RunningSimulator, limits: Limits, log: &Path) -> Self {
        let poll: u64 = env_or("BENCH_POLL_SECONDS", 10);
        let out = std::fs::File::create(log).unwrap();
        let err = out.try_clone().unwrap();
        let binary = env!("CARGO_BIN_EXE_megaport-operator");
        // BENCH_WRAP runs the operator under a profiler (e.g. `heaptrack -o /tmp/op`); its
        // numbers are then the wrapper's.
        let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
        let mut words = wrap.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut c = std::process::Command::new(program);
                c.args(words).arg(binary);
                c
            }
            None => std::process::Command::new(binary),
        };
        command
            .arg("--log-level")
            .arg(std::env::var("BENCH_LOG").unwrap_or_else(|_| "info".into()))
            .arg("run")
            .env_remove("RUST_LOG")
            .env("KUBECONFIG", cp.kubeconfig("OPERATOR"))
            .env("MEGAPORT_BASE_URL", sim.base_url())
            .env("MEGAPORT_TOKEN_URL", sim.token_url())
            .env("MEGAPORT_ACCESS_KEY", quantumgpu::PROVIDER_ADMIN_ID)
            .env("MEGAPORT_SECRET_KEY", quantumgpu::PROVIDER_ADMIN_SECRET)
            .env("KEYS_REFRESH_SECONDS", poll.to_string())
            .env("PRODUCTS_REFRESH_SECONDS", poll.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Ok(concurrency) = std::env::var("BENCH_CONCURRENCY") {
            command.env("CONCURRENCY", concurrency);
        }
        match limits {
            Limits::Off => command.env("MEGAPORT_REQUESTS_PER_WINDOW", "1000000"),
            Limits::Real { window_seconds } => command
                .env("MEGAPORT_REQUESTS_PER_WINDOW", "450")
                .env("MEGAPORT_WINDOW_SECONDS", window_seconds.to_string()),
        };
        Self {
            child: command.spawn().expect("starting the operator"),
        }
    }

    /// (peak RSS in MiB, CPU seconds so far).
    fn usage(&self) -> (f64, f64) {
        process_usage(self.child.id())
    }
}

/// A process's (peak RSS in MiB, CPU seconds so far), from `/proc`.
fn process_usage(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are the 12th
    // and 13th, in clock ticks.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    (hwm_kib / 1024.0, ticks / clock_ticks())
}

impl ControlPlane {
    /// CPU seconds used so far by the apiserver and etcd.
    fn cpu(&self) -> (f64, f64) {
        let of = |var: &str| {
            self.env
                .get(var)
                .and_then(|p| p.parse().ok())
                .map_or(0.0, |pid| process_usage(pid).1)
        };
        (of("KUBE_APISERVER_PID"), of("ETCD_PID"))
    }
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// === requests ===

/// Request `i` of the mix, and how many keys it asks for.
fn request(i: usize) -> (ServiceKeyRequest, u64) {
    let region = if i.is_multiple_of(2) {
        "bench-la"
    } else {
        "bench-ny"
    };
    let mut spec = json!({"regionRef": {"name": region}, "maxSpeedMbps": 1});
    let keys = match i % 10 {
        0..=2 => {
            spec["diversity"] = json!("Required");
            2
        }
        3 => {
            spec["singleUse"] = json!(false);
            1
        }
        _ => 1,
    };
    let object = json!({
        "apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "ServiceKeyRequest",
        "metadata": {"name": format!("r{i:05}"), "namespace": NAMESPACE},
        "spec": spec,
    });
    (serde_json::from_value(object).unwrap(), keys)
}

/// When each request was applied, was first seen Issued, and its Secret first seen.
#[derive(Default)]
struct Times {
    applied: HashMap<String, Instant>,
    issued: HashMap<String, Instant>,
    secret: HashMap<String, Instant>,
}

impl Times {
    /// Requests Issued with their Secret.
    fn done(&self) -> usize {
        self.issued
            .keys()
            .filter(|n| self.secret.contains_key(*n))
            .count()
    }

    /// apply→Secret latencies, sorted, in seconds.
    fn latencies(&self) -> Vec<f64> {
        let mut l: Vec<f64> = self
            .applied
            .iter()
            .filter_map(|(n, at)| {
                let done = self.issued.get(n)?.max(self.secret.get(n)?);
                Some(done.saturating_duration_since(*at).as_secs_f64())
            })
            .collect();
        l.sort_by(f64::total_cmp);
        l
    }
}

/// Watches the requests and Secrets of the namespace into `times`.
fn watch(client: &Client, times: Arc<Mutex<Times>>) -> Vec<tokio::task::JoinHandle<()>> {
    let requests: Api<ServiceKeyRequest> = Api::namespaced(client.clone(), NAMESPACE);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let t = times.clone();
    let a = tokio::spawn(async move {
        let mut stream = watcher::watcher(requests, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Ok(Some(event)) = stream.try_next().await {
            if let watcher::Event::Apply(r) | watcher::Event::InitApply(r) = event {
                let issued = r.status.as_ref().and_then(|s| s.phase)
                    == Some(megaport_operator::crd::service_key_request::Phase::Issued);
                if issued {
                    t.lock()
                        .unwrap()
                        .issued
                        .entry(r.name_any())
                        .or_insert_with(Instant::now);
                }
            }
        }
    });
    let b = tokio::spawn(async move {
        let mut stream = watcher::watcher(secrets, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Ok(Some(event)) = stream.try_next().await {
            if let watcher::Event::Apply(s) | watcher::Event::InitApply(s) = event {
                times
                    .lock()
                    .unwrap()
                    .secret
                    .entry(s.name_any())
                    .or_insert_with(Instant::now);
            }
        }
    });
    vec![a, b]
}

/// Creates the requests as they arrive; returns how many and how many keys they ask for.
async fn apply(client: &Client, arrival: Arrival, times: &Arc<Mutex<Times>>) -> (usize, u64) {
    let api: Api<ServiceKeyRequest> = Api::namespaced(client.clone(), NAMESPACE);
    let create = |i: usize| {
        let api = api.clone();
        let times = times.clone();
        async move {
            let (object, keys) = request(i);
            let name = object.name_any();
            let at = Instant::now();
            api.create(&PostParams::default(), &object).await.unwrap();
            times.lock().unwrap().applied.insert(name, at);
            keys
        }
    };
    match arrival {
        Arrival::Burst(n) => {
            let keys: Vec<u64> = futures::stream::iter(0..n)
                .map(create)
                .buffer_unordered(32)
                .collect()
                .await;
            (n, keys.iter().sum())
        }
        Arrival::Steady { rate, seconds } => {
            let n = (rate * seconds as f64).round() as usize;
            let start = tokio::time::Instant::now();
            let mut tasks = Vec::new();
            for i in 0..n {
                tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
                tasks.push(tokio::spawn(create(i)));
            }
            let mut keys = 0;
            for t in tasks {
                keys += t.await.unwrap();
            }
            (n, keys)
        }
    }
}

// === one run ===

/// What a run measured.
struct Row {
    name: String,
    requests: usize,
    keys: u64,
    seconds: f64,
    complete: bool,
    latency: Vec<f64>,
    calls: BTreeMap<String, u64>,
    at_rest_per_poll: Option<f64>,
    refused: u64,
    apiserver: BTreeMap<(String, String), f64>,
    rss_mib: f64,
    cpu_s: f64,
    /// CPU seconds of the apiserver and etcd during the run.
    control_plane_cpu_s: (f64, f64),
    window: Option<u64>,
}

async fn regions(admin: &Client) {
    let api: Api<OnRampRegion> = Api::all(admin.clone());
    for (name, matcher) in [
        ("bench-la", json!({"locationIds": [59, 60]})),
        ("bench-ny", json!({"metros": ["New York"]})),
    ] {
        let region: OnRampRegion = serde_json::from_value(json!({
            "apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "OnRampRegion",
            "metadata": {"name": name},
            "spec": {"match": matcher, "vlanRange": {"min": 2, "max": 4093}},
        }))
        .unwrap();
        api.create(&PostParams::default(), &region).await.unwrap();
    }
    let ns = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(NAMESPACE.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

/// Waits until the operator's identity may list what it watches (RBAC takes a moment).
async fn operator_may_list(cp: &ControlPlane) {
    let operator = cp.client("OPERATOR").await;
    for _ in 0..150 {
        let lp = ListParams::default().limit(1);
        let requests = Api::<ServiceKeyRequest>::all(operator.clone())
            .list(&lp)
            .await;
        let secrets = Api::<Secret>::all(operator.clone()).list(&lp).await;
        if requests.is_ok() && secrets.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the operator's role did not take effect");
}

async fn set_limits(control: &SimControl, limits: Limits) {
    let change = match limits {
        Limits::Off => json!({"enabled": false}),
        Limits::Real { window_seconds } => {
            json!({"enabled": true, "requests": 500, "windowSeconds": window_seconds})
        }
    };
    control.set_limits(change).await.unwrap();
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// A control plane with the CRDs, the operator's role and the regions; the simulator; and the
/// operator, once it serves the regions (so the clock measures issuing only).
struct World {
    cp: ControlPlane,
    admin: Client,
    sim: RunningSimulator,
    operator: OperatorProcess,
}

async fn world(spec: &RunSpec) -> World {
    eprintln!("bench: {} — starting a control plane", spec.name);
    let cp = ControlPlane::up();
    let admin = cp.client("ADMIN").await;
    support::install_project_crds(&admin).await;
    support::apply_file(&admin, "deploy/rbac.yaml").await;
    operator_may_list(&cp).await;
    regions(&admin).await;
    let sim = megaport_sim::spawn(scenario(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    set_limits(&sim.control(), spec.limits).await;
    let log = std::env::temp_dir().join(format!("megaport-bench-{}.log", std::process::id()));
    let operator = OperatorProcess::start(&cp, &sim, spec.limits, &log);
    let regions_api: Api<OnRampRegion> = Api::all(admin.clone());
    for _ in 0..300 {
        let listed = regions_api.list(&ListParams::default()).await.unwrap();
        if listed.items.iter().all(|r| r.status.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    World {
        cp,
        admin,
        sim,
        operator,
    }
}

/// Waits until `requests` are done (or the timeout passes), reporting progress; whether all
/// were.
async fn wait_done(name: &str, requests: usize, start: Instant, times: &Mutex<Times>) -> bool {
    let timeout = Duration::from_secs(env_or(
        "BENCH_TIMEOUT_SECONDS",
        (requests as u64 / 5).max(600),
    ));
    let mut last_report = Instant::now();
    loop {
        let done = times.lock().unwrap().done();
        if done >= requests {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        if last_report.elapsed() > Duration::from_secs(15) {
            let after = start.elapsed().as_secs_f64();
            eprintln!("bench: {name} — {done}/{requests} after {after:.0}s");
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Megaport calls per poll period once everything is issued (three periods).
async fn at_rest(control: &SimControl) -> f64 {
    let poll: u64 = env_or("BENCH_POLL_SECONDS", 10);
    let periods = 3;
    let before = control.counters().await.unwrap();
    tokio::time::sleep(Duration::from_secs(poll * periods)).await;
    let rest = diff(&control.counters().await.unwrap(), &before);
    rest.values().sum::<u64>() as f64 / periods as f64
}

async fn run(spec: &RunSpec) -> Row {
    let w = world(spec).await;
    let control = w.sim.control();
    let times = Arc::new(Mutex::new(Times::default()));
    let watchers = watch(&w.admin, times.clone());
    let calls_before = control.counters().await.unwrap();
    let api_before = apiserver_requests(&w.admin).await;
    let cp_before = w.cp.cpu();
    eprintln!("bench: {} — applying", spec.name);
    let start = Instant::now();
    let (requests, keys) = apply(&w.admin, spec.arrival, &times).await;
    let complete = wait_done(&spec.name, requests, start, &times).await;
    let seconds = start.elapsed().as_secs_f64();
    let (rss_mib, cpu_s) = w.operator.usage();
    let cp_after = w.cp.cpu();
    let calls = diff(&control.counters().await.unwrap(), &calls_before);
    let api_after = apiserver_requests(&w.admin).await;
    let apiserver = api_after
        .iter()
        .map(|(k, v)| (k.clone(), v - api_before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    let at_rest_per_poll = if spec.at_rest && complete {
        Some(at_rest(&control).await)
    } else {
        None
    };
    for watcher in watchers {
        watcher.abort();
    }
    let latency = times.lock().unwrap().latencies();
    drop(w.operator);
    w.sim.shutdown().await;
    Row {
        name: spec.name.clone(),
        requests,
        keys,
        seconds,
        complete,
        latency,
        refused: calls.get("429 rate limited").copied().unwrap_or(0),
        calls,
        at_rest_per_poll,
        apiserver,
        rss_mib,
        cpu_s,
        control_plane_cpu_s: (cp_after.0 - cp_before.0, cp_after.1 - cp_before.1),
        window: match spec.limits {
            Limits::Real { window_seconds } => Some(window_seconds),
            Limits::Off => None,
        },
    }
}

// === the table ===

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn print(rows: &[Row]) {
    println!();
    println!(
        "| run | requests | keys | all Issued + Secret | keys/s | apply→Secret p50 / p95 / p99 | Megaport calls per key | at rest per poll | 429s | vs physical bound | peak RSS | CPU-s per 1,000 keys |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let total: u64 = r
            .calls
            .iter()
            .filter(|(k, _)| !k.starts_with("429"))
            .map(|(_, v)| v)
            .sum();
        let bound = r
            .window
            .map(|w| {
                let physical = r.keys as f64 / (450.0 / w as f64);
                format!("{:.2}×", r.seconds / physical)
            })
            .unwrap_or_else(|| "-".into());
        println!(
            "| {} | {} | {} | {:.1} s{} | {:.1} | {:.2} / {:.2} / {:.2} s | {:.2} | {} | {} | {} | {:.0} MiB | {:.1} |",
            r.name,
            r.requests,
            r.keys,
            r.seconds,
            if r.complete { "" } else { " (timed out)" },
            r.keys as f64 / r.seconds,
            percentile(&r.latency, 0.5),
            percentile(&r.latency, 0.95),
            percentile(&r.latency, 0.99),
            total as f64 / r.keys as f64,
            r.at_rest_per_poll
                .map_or_else(|| "-".into(), |c| format!("{c:.1}")),
            r.refused,
            bound,
            r.rss_mib,
            r.cpu_s * 1000.0 / r.keys as f64,
        );
    }
    println!();
    for r in rows {
        println!(
            "{} — CPU-s per 1,000 keys: operator {:.1}, kube-apiserver {:.1}, etcd {:.1}",
            r.name,
            r.cpu_s * 1000.0 / r.keys as f64,
            r.control_plane_cpu_s.0 * 1000.0 / r.keys as f64,
            r.control_plane_cpu_s.1 * 1000.0 / r.keys as f64,
        );
        println!("{} — Megaport calls by route:", r.name);
        for (route, count) in &r.calls {
            println!("    {route}: {count}");
        }
        println!(
            "{} — apiserver requests per key (all clients, less the bench's own creates):",
            r.name
        );
        for ((resource, verb), count) in &r.apiserver {
            let own = if resource == "servicekeyrequests" && verb == "POST" {
                r.requests as f64
            } else {
                0.0
            };
            let per_key = (count - own) / r.keys as f64;
            if per_key > 0.005 {
                println!("    {verb} {resource}: {per_key:.2}");
            }
        }
    }
}

#[tokio::main]
async fn main() {
    megaport_sim::install_tls_provider();
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let mut rows = Vec::new();
    for spec in runs() {
        let row = run(&spec).await;
        eprintln!(
            "bench: {} — {} requests in {:.1}s",
            row.name, row.requests, row.seconds
        );
        rows.push(row);
    }
    print(&rows);
}
