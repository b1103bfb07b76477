//! `megaport-operator run`: builds the Kubernetes and Megaport clients from the flags and runs
//! the controllers until SIGTERM or Ctrl-C. All wiring, no decisions.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use clap::Args;

use crate::connect::MegaportArgs;
use crate::controller::{self, Settings};
use crate::issuance::{self, RecordSeal};
use crate::megaport::MegaportClient;

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
}

/// Runs the operator.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes")?;
    let config = args.megaport.client_config()?;
    let seal = RecordSeal::new(config.credentials.derive_key(issuance::seal::PURPOSE));
    let megaport = MegaportClient::new(config)?;
    let settings = Settings {
        products_refresh: Duration::from_secs(args.products_refresh_seconds.max(1)),
        keys_refresh: Duration::from_secs(args.keys_refresh_seconds.max(1)),
        concurrency: args.concurrency.max(1),
        update_spacing: Duration::from_secs(args.key_update_spacing_seconds),
        resync: Duration::from_secs(args.resync_seconds.max(1)),
        ..Settings::default()
    };
    tracing::info!(
        products_refresh_s = settings.products_refresh.as_secs(),
        keys_refresh_s = settings.keys_refresh.as_secs(),
        concurrency = settings.concurrency,
        "starting megaport-operator"
    );
    // Bounded shutdown: after the signal, in-flight reconciles get the grace period, then the
    // process stops whatever the apiserver or Megaport is doing. Crash safety does not depend on
    // finishing: a key created but not yet recorded carries its marker and is adopted.
    // At most 9 s: the process must be gone within 10 s of the signal whatever is configured.
    let grace = Duration::from_secs(args.shutdown_grace_seconds.min(9));
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown_signal()));
    let ports = controller::Ports::of(Arc::new(megaport));
    let controllers = controller::run(client, ports, settings, seal, shutdown.clone());
    let deadline = async {
        shutdown.await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        () = controllers => tracing::info!("megaport-operator stopped"),
        () = deadline => tracing::warn!(
            grace_s = grace.as_secs(),
            "in-flight work did not finish within the shutdown grace; stopping anyway"
        ),
    }
    Ok(())
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
