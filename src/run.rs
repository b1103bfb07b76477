//! `megaport-operator run`: builds the Kubernetes and Megaport clients from the flags, serves
//! the probes and metrics, takes part in leader election when asked, and runs the controllers
//! until SIGTERM or Ctrl-C. All wiring, no decisions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use clap::Args;

use crate::connect::MegaportArgs;
use crate::controller::{self, Process, Settings};
use crate::health::Health;
use crate::issuance::{self, RecordSeal};
use crate::lease::{Elector, Leadership, LeaseConfig, Timing};
use crate::megaport::MegaportClient;
use crate::metrics::Metrics;

/// Arguments of `megaport-operator run`. Kubernetes access comes from the in-cluster
/// ServiceAccount or KUBECONFIG.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub megaport: MegaportArgs,
    /// Longest age of the shared Megaport products snapshot before one refresh is made
    /// (one `GET /v2/products` per period for the whole operator).
    #[arg(long, env = "PRODUCTS_REFRESH_SECONDS", default_value_t = 300)]
    pub products_refresh_seconds: u64,
    /// Poll period of key states: longest age of the shared service keys snapshot (one
    /// `GET /v2/service/key` per period for every request together).
    #[arg(long, env = "KEYS_REFRESH_SECONDS", default_value_t = 60)]
    pub keys_refresh_seconds: u64,
    /// Reconciles running at once per controller.
    #[arg(long, env = "CONCURRENCY", default_value_t = 4)]
    pub concurrency: u16,
    /// After SIGTERM, how long in-flight reconciles may take to finish before the process
    /// exits anyway (an interrupted key create is adopted by its marker on the next start).
    /// At most 9: the process is gone within 10 s of SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE_SECONDS", default_value_t = 8)]
    pub shutdown_grace_seconds: u64,
    /// Least time between two updates of one key: Megaport allows one update per service per
    /// 5 minutes (and 100 per month); spec changes in between are coalesced, restores wait.
    #[arg(long, env = "KEY_UPDATE_SPACING_SECONDS", default_value_t = 300)]
    pub key_update_spacing_seconds: u64,
    /// How often an issued request is looked at again when nothing changed (changes in
    /// Megaport, to the request or to its Secret bring it back at once): a safety net.
    #[arg(long, env = "RESYNC_SECONDS", default_value_t = 3600)]
    pub resync_seconds: u64,
    /// Where `/livez`, `/readyz` and `/metrics` are served (port 0: any free port; the address
    /// is logged).
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// How often a saved configuration is checked and priced again when nothing changed (a
    /// change of it, or of a key it reads, checks it at once). Each check is a few Megaport
    /// calls: markets, key lookups, validate.
    #[arg(long, env = "VALIDATION_INTERVAL_SECONDS", default_value_t = 86_400)]
    pub validation_interval_seconds: u64,
    /// How often an ordered configuration looks at its services while they provision (one
    /// shared products list per period, or the managed account's own).
    #[arg(long, env = "PROVISIONING_POLL_SECONDS", default_value_t = 30)]
    pub provisioning_poll_seconds: u64,
    /// The controllers to run, comma-separated (default: all). A customer that only orders
    /// VXCs to a provider's keys runs SavedConfiguration alone.
    #[arg(long, env = "CONTROLLERS", value_enum, value_delimiter = ',', default_values_t = controller::Kind::ALL)]
    pub controllers: Vec<controller::Kind>,
    /// Only SavedConfigurations matching this label selector are this operator's (e.g.
    /// `megaport.onramp.dev/account=acme`): a cluster that orders for several Megaport
    /// accounts runs one operator per account. Default: every SavedConfiguration.
    #[arg(long, env = "CONFIGURATION_SELECTOR")]
    pub configuration_selector: Option<String>,
    #[command(flatten)]
    pub election: ElectionArgs,
}

/// Leader election: with it, several replicas run; all keep their watches and snapshots warm,
/// only the holder of the Lease reconciles and writes.
#[derive(Debug, Args)]
pub struct ElectionArgs {
    /// Take part in leader election on a Lease (needed with more than one replica).
    #[arg(long, env = "LEADER_ELECT")]
    pub leader_elect: bool,
    /// The Lease's name.
    #[arg(long, env = "LEASE_NAME", default_value = "megaport-operator")]
    pub lease_name: String,
    /// The Lease's namespace (default: the pod's, else the kubeconfig's).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// This replica's identity in the Lease (default: the host name and process id).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// How long standbys wait on an unrenewed Lease before one takes over.
    #[arg(long, env = "LEASE_DURATION_SECONDS", default_value_t = 10)]
    pub lease_duration_seconds: u64,
    /// How long after its last successful renewal the leader stops writing (and exits, to
    /// restart as a standby). Less than the lease duration.
    #[arg(long, env = "LEASE_RENEW_DEADLINE_SECONDS", default_value_t = 7)]
    pub lease_renew_deadline_seconds: u64,
    /// How often the leader renews and standbys look.
    #[arg(long, env = "LEASE_RETRY_SECONDS", default_value_t = 2)]
    pub lease_retry_seconds: u64,
}

impl ElectionArgs {
    /// The Lease to contend for, when election is on.
    fn lease(&self, client: &kube::Client) -> anyhow::Result<Option<LeaseConfig>> {
        if !self.leader_elect {
            return Ok(None);
        }
        let timing = Timing::new(
            Duration::from_secs(self.lease_duration_seconds),
            Duration::from_secs(self.lease_renew_deadline_seconds),
            Duration::from_secs(self.lease_retry_seconds),
        )
        .map_err(anyhow::Error::msg)?;
        let identity = self.identity.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "megaport-operator".into());
            format!("{host}-{}", std::process::id())
        });
        Ok(Some(LeaseConfig {
            name: self.lease_name.clone(),
            namespace: self
                .lease_namespace
                .clone()
                .unwrap_or_else(|| client.default_namespace().to_owned()),
            identity,
            timing,
        }))
    }
}

/// Runs the operator.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes")?;
    let metrics = Metrics::new();
    let mut config = args.megaport.client_config()?;
    config.observer = Some(Arc::new(metrics.clone()));
    let seal = RecordSeal::new(config.credentials.derive_key(issuance::seal::PURPOSE));
    let megaport = MegaportClient::new(config)?;
    let budget = megaport.clone();
    metrics.budget_from(move || budget.budget_left());
    let settings = settings(&args);
    let lease = args.election.lease(&client)?;
    let leadership = match lease {
        Some(_) => Leadership::elected(),
        None => Leadership::always(),
    };
    tracing::info!(
        products_refresh_s = settings.products_refresh.as_secs(),
        keys_refresh_s = settings.keys_refresh.as_secs(),
        concurrency = settings.concurrency,
        leader_election = lease.is_some(),
        "starting megaport-operator"
    );
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown_signal()));
    let health = Health::new();
    start_probes(&args, &health, &metrics, &leadership, shutdown.clone()).await?;
    let (stop_renewing, renewing) = tokio::sync::oneshot::channel::<()>();
    let mut elector = lease.map(|lease| {
        let elector = Elector::new(client.clone(), lease, leadership.clone());
        tokio::spawn(elector.run(async {
            let _ = renewing.await;
        }))
    });
    let process = Process {
        metrics,
        health,
        leadership,
    };
    // Bounded shutdown: after the signal, in-flight reconciles get the grace period, then the
    // process stops whatever the apiserver or Megaport is doing. Crash safety does not depend on
    // finishing: a key created but not yet recorded carries its marker and is adopted.
    // At most 9 s: the process must be gone within 10 s of the signal whatever is configured.
    let grace = Duration::from_secs(args.shutdown_grace_seconds.min(9));
    let ports = controller::Ports::of(Arc::new(megaport));
    let controllers = controller::run(client, ports, settings, seal, process, shutdown.clone());
    let deadline = async {
        shutdown.await;
        tokio::time::sleep(grace).await;
    };
    let lost = leadership_lost(elector.as_mut());
    tokio::select! {
        () = controllers => tracing::info!("megaport-operator stopped"),
        () = deadline => {
            tracing::warn!(
                grace_s = grace.as_secs(),
                "in-flight work did not finish within the shutdown grace; stopping anyway"
            );
            return Ok(());
        }
        lost = lost => stop_writing(&lost),
    }
    release_lease(stop_renewing, elector).await;
    Ok(())
}

/// Serves `/livez`, `/readyz` and `/metrics` on `--http-addr` (a bind failure stops the start),
/// beats the liveness heartbeat and keeps the leader gauge in step, until `shutdown`.
async fn start_probes(
    args: &RunArgs,
    health: &Health,
    metrics: &Metrics,
    leadership: &Leadership,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = crate::serve::bind(args.http_addr)
        .await
        .with_context(|| format!("serving probes and metrics on {}", args.http_addr))?;
    tokio::spawn(crate::serve::serve(
        listener,
        health.clone(),
        metrics.clone(),
        shutdown,
    ));
    tokio::spawn(health.clone().heartbeat());
    tokio::spawn(leader_gauge(leadership.clone(), metrics.clone()));
    Ok(())
}

/// The election task, while it runs until told to stop.
type ElectionTask = tokio::task::JoinHandle<Result<Elector, crate::lease::Lost>>;

/// Resolves (with why) when the elector ends before it is told to stop: leadership is gone
/// (lost, or its task failed), so this replica may no longer write. Never without election.
async fn leadership_lost(elector: Option<&mut ElectionTask>) -> String {
    match elector {
        Some(handle) => match handle.await {
            Ok(Err(lost)) => lost.to_string(),
            Ok(Ok(_)) => "leader election ended unexpectedly".to_owned(),
            Err(failed) => format!("the leader election task failed: {failed}"),
        },
        None => std::future::pending().await,
    }
}

/// Everything stopped: stops renewing and releases the Lease, so a standby takes over at once.
/// Bounded: the process must be gone within 10 s of SIGTERM (an unreleased Lease only makes the
/// standby wait it out).
async fn release_lease(stop: tokio::sync::oneshot::Sender<()>, elector: Option<ElectionTask>) {
    let _ = stop.send(());
    let Some(handle) = elector else { return };
    let release = async {
        if let Ok(Ok(elector)) = handle.await {
            elector.release().await;
        }
    };
    if tokio::time::timeout(RELEASE_LIMIT, release).await.is_err() {
        tracing::warn!(
            "could not release the leader Lease in time; a standby takes over when it expires"
        );
    }
}

/// Longest wait for the Lease's release after the controllers stopped.
const RELEASE_LIMIT: Duration = Duration::from_secs(1);

/// Leadership lost: no write may follow, so the process ends here and now (in-flight
/// reconciles included); Kubernetes restarts it as a standby.
fn stop_writing(why: &str) -> ! {
    tracing::error!(error = %why, "stopping at once so that no two replicas write; restarting as a standby");
    std::process::exit(1)
}

/// Keeps the leader gauge in step with leadership.
async fn leader_gauge(leadership: Leadership, metrics: Metrics) {
    let mut changes = leadership.changes();
    loop {
        metrics.set_leader(*changes.borrow_and_update());
        if changes.changed().await.is_err() {
            return;
        }
    }
}

fn settings(args: &RunArgs) -> Settings {
    Settings {
        products_refresh: Duration::from_secs(args.products_refresh_seconds.max(1)),
        keys_refresh: Duration::from_secs(args.keys_refresh_seconds.max(1)),
        concurrency: args.concurrency.max(1),
        update_spacing: Duration::from_secs(args.key_update_spacing_seconds),
        resync: Duration::from_secs(args.resync_seconds.max(1)),
        validation_interval: Duration::from_secs(args.validation_interval_seconds.max(60)),
        provisioning_poll: Duration::from_secs(args.provisioning_poll_seconds.max(1)),
        controllers: args.controllers.clone(),
        configuration_selector: args
            .configuration_selector
            .clone()
            .filter(|s| !s.is_empty()),
        ..Settings::default()
    }
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}
