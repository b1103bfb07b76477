//! Entry point: parse the command line, set up logging, dispatch. All wiring lives elsewhere.

use std::time::Duration;

use clap::Parser;
use megaport_operator::cli::{Cli, Command};

/// How long the runtime waits for stray tasks (blocking DNS lookups, say) once `main` is done.
const RUNTIME_STOP: Duration = Duration::from_secs(1);

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    megaport_operator::tls::install_default_provider();
    megaport_operator::telemetry::init(cli.log_format, &cli.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(dispatch(cli));
    // Never wait on what is left behind: a stop must be bounded whatever is still in flight.
    runtime.shutdown_timeout(RUNTIME_STOP);
    result
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => megaport_operator::run::run(args).await?,
        Command::Crd(args) => megaport_operator::crds::run(&args)?,
        Command::Catalog(args) => megaport_operator::catalog::run(args).await?,
        Command::Keys(args) => megaport_operator::keys::run(args).await?,
    }
    Ok(())
}
