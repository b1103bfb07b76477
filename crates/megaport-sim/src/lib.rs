//! megaport-sim: a stateful, faithful simulator of the Megaport API subset the operator uses
//! (`reference/megaport-api.md` §14, with the quirks of §15), for tests, demos and providers' CI.
//!
//! One address serves the API, its OAuth2 token endpoint (`/oauth2/token`) and the `/_sim/` test
//! controls. A [`Scenario`] (YAML; `quantumgpu` is built in) declares the world. See
//! `docs/simulator.md` for the scenario format, the built-in world and the controls.
//!
//! Module map:
//! - [`scenario`]: the YAML model, its checks and the built-in QuantumGPU world.
//! - [`state`]: the world and its rules (auth, clock, products, keys, actions) — pure logic.
//! - [`orders`]: network design validate/buy, service-key use, prices — pure logic.
//! - [`requests`]: lenient serde models of request bodies.
//! - [`json`]: rendering in the API's shapes.
//! - [`api`]: route table and thin HTTP handlers.
//! - [`faults`]: fault specs and matching.
//! - [`limits`]: Megaport's rate limit per client address (429 with `Retry-After`).
//! - [`calllog`]: call log and counters (secrets redacted).
//! - [`control`]: the `/_sim/` routes and the [`SimControl`] client.
//! - [`server`]: the hyper accept loop and the front service.
//! - [`inprocess`]: the same service without a network, for fakes in tests.

pub mod api;
pub mod calllog;
pub mod control;
pub mod faults;
pub mod inprocess;
pub mod json;
pub mod limits;
pub mod orders;
pub mod requests;
pub mod scenario;
pub mod server;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use calllog::CallRecord;
pub use control::SimControl;
pub use faults::{FaultKind, FaultSpec};
pub use inprocess::InProcess;
pub use scenario::Scenario;

/// Arguments of `megaport-sim`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "megaport-sim",
    version,
    about = "A stateful simulator of the Megaport API (and its OAuth2 token endpoint) for tests, demos and CI"
)]
pub struct SimulatorArgs {
    /// Address to listen on (API, `/oauth2/token` and `/_sim/` controls).
    #[arg(
        long,
        env = "MEGAPORT_SIMULATOR_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// Built-in scenario name (`quantumgpu`) or the path of a YAML scenario file.
    #[arg(
        long,
        env = "MEGAPORT_SIMULATOR_SCENARIO",
        default_value = "quantumgpu"
    )]
    pub scenario: String,
}

/// Installs the process's one TLS provider (rustls with ring) for the control client; a second
/// call keeps the first.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Errors of the simulator boundary.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// A scenario file could not be read.
    #[error("cannot read scenario file {path}: {source}")]
    ScenarioRead {
        /// The path.
        path: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A scenario is not valid YAML for the model.
    #[error("invalid scenario YAML: {0}")]
    ScenarioParse(String),
    /// A scenario is inconsistent.
    #[error("invalid scenario: {0}")]
    ScenarioInvalid(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A `/_sim/` control call failed.
    #[error("simulator control failed: {0}")]
    Control(String),
    /// Waiting for a shutdown signal failed.
    #[error("cannot wait for shutdown signals: {0}")]
    Signal(#[source] std::io::Error),
}

/// A simulator serving in the background (see [`spawn`]).
#[derive(Debug)]
pub struct RunningSimulator {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    control: SimControl,
}

impl RunningSimulator {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// `base_url() + "/oauth2/token"`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.base_url())
    }
    /// The address served.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// A typed client for the `/_sim/` controls.
    pub fn control(&self) -> SimControl {
        self.control.clone()
    }
    /// Stops serving and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts a simulator of `scenario` on `listen` (`127.0.0.1:0` = a free port).
pub async fn spawn(
    scenario: Scenario,
    listen: SocketAddr,
) -> Result<RunningSimulator, SimulatorError> {
    let shared = Arc::new(server::Shared::new(scenario)?);
    let (addr, stop, task) = server::start(shared, listen).await?;
    let control = SimControl::new(&format!("http://{addr}"));
    Ok(RunningSimulator {
        addr,
        stop,
        task,
        control,
    })
}

/// Serves the simulator until SIGINT/SIGTERM.
pub async fn run(args: SimulatorArgs) -> Result<(), SimulatorError> {
    let scenario = Scenario::load(&args.scenario)?;
    let client_ids: Vec<String> = scenario
        .companies
        .iter()
        .flat_map(|c| {
            c.api_keys
                .iter()
                .map(|k| format!("{} ({}, {:?})", k.client_id, c.name, k.role))
        })
        .collect();
    let name = scenario.name.clone();
    let sim = spawn(scenario, args.listen).await?;
    tracing::info!(
        base_url = %sim.base_url(),
        token_url = %sim.token_url(),
        scenario = %name,
        clients = ?client_ids,
        "Megaport API simulator listening (controls under /_sim/)"
    );
    wait_for_signal().await?;
    tracing::info!("shutting down the simulator");
    sim.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> Result<(), SimulatorError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(SimulatorError::Signal)?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(SimulatorError::Signal),
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> Result<(), SimulatorError> {
    tokio::signal::ctrl_c()
        .await
        .map_err(SimulatorError::Signal)
}

/// Credentials and product uids of the built-in `quantumgpu` scenario.
pub mod quantumgpu {
    /// QuantumGPU (the provider) company uid.
    pub const PROVIDER_COMPANY_UID: &str = "4f8e2a10-6b3c-4d1e-9a7f-2c5b8e0d1a01";
    /// Acme Robotics (the customer) company uid.
    pub const CUSTOMER_COMPANY_UID: &str = "a2c9e7b4-3d1f-4e6a-8b2c-7f0e1d9c3a02";
    /// Nebula Labs: a managed account of QuantumGPU (`X-Call-Context`), billing market USA only.
    pub const MANAGED_COMPANY_UID: &str = "c7d1f3a5-8e2b-4c9d-a1f0-3b6e9d2c5a03";
    /// Provider admin client id.
    pub const PROVIDER_ADMIN_ID: &str = "qgpu-admin";
    /// Provider admin secret.
    pub const PROVIDER_ADMIN_SECRET: &str = "qgpu-admin-secret-5f2a9c";
    /// Provider read-only client id.
    pub const PROVIDER_READONLY_ID: &str = "qgpu-readonly";
    /// Provider read-only secret.
    pub const PROVIDER_READONLY_SECRET: &str = "qgpu-readonly-secret-81d3e0";
    /// Customer admin client id.
    pub const CUSTOMER_ADMIN_ID: &str = "acme-admin";
    /// Customer admin secret.
    pub const CUSTOMER_ADMIN_SECRET: &str = "acme-admin-secret-3b7c11";

    /// `qgpu-lax-eq1-blue`: Equinix LA1 (59), blue, 10000, LIVE, 3 customer VXCs (3500 Mbps).
    pub const PORT_LAX_EQ1_BLUE: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001";
    /// `qgpu-lax-cs1-red`: CoreSite LA1 (60), red, 10000, LIVE, 2 live VXCs (1500 Mbps) + 1 decommissioned.
    pub const PORT_LAX_CS1_RED: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0002";
    /// `qgpu-nyc-thc-red`: Telehouse Chelsea (117), red, 10000, LIVE.
    pub const PORT_NYC_THC_RED: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0003";
    /// `qgpu-nyc-thc-blue`: Telehouse Chelsea (117), blue, 10000, CONFIGURED (not LIVE).
    pub const PORT_NYC_THC_BLUE: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0004";
    /// `qgpu-lon-thn-red`: Telehouse North (37), red, 10000, LIVE.
    pub const PORT_LON_THN_RED: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0005";
    /// `qgpu-osa-eq1-blue`: Equinix OS1 (142), blue, 1000, LIVE.
    pub const PORT_OSA_EQ1_BLUE: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0006";
    /// `qgpu-syd-gsw-red`: Global Switch Sydney West (3), red, 10000, LIVE.
    pub const PORT_SYD_GSW_RED: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0007";
    /// `qgpu-syd-gsw-mgmt`: Global Switch Sydney West (3), blue, 1000, LIVE, vxcPermitted false.
    pub const PORT_SYD_GSW_MGMT: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0008";
    /// `qgpu-lax-eq1-legacy`: Equinix LA1 (59), red, 1000, DECOMMISSIONED.
    pub const PORT_LAX_EQ1_LEGACY: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0009";
    /// `qgpu-mcr-lax`: MCR2 at Equinix LA1 (59), blue, 10000, maxVxcSpeed 5000, LIVE.
    pub const MCR_LAX: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0010";
    /// `acme-lax-cs1`: Acme's Port at CoreSite LA1 (60), red, 10000, LIVE (market USA enabled).
    pub const CUSTOMER_PORT_LAX: &str = "2d3e4f00-7a6b-4c5d-9e00-1f2a3b4c0001";
    /// `acme-lon-thn`: Acme's Port at Telehouse North (37), 1000, LIVE — Acme has no UK market.
    pub const CUSTOMER_PORT_LON: &str = "2d3e4f00-7a6b-4c5d-9e00-1f2a3b4c0002";
}
