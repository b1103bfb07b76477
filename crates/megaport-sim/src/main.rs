//! `megaport-sim`: serves the Megaport API simulator until SIGTERM or Ctrl-C.

use clap::Parser;
use megaport_sim::SimulatorArgs;

#[tokio::main]
async fn main() -> Result<(), megaport_sim::SimulatorError> {
    let args = SimulatorArgs::parse();
    megaport_sim::install_tls_provider();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    megaport_sim::run(args).await
}
