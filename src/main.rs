//! Entry point: parse the command line, set up logging, dispatch. All wiring lives elsewhere.

use clap::Parser;
use megaport_operator::cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    megaport_operator::tls::install_default_provider();
    megaport_operator::telemetry::init(cli.log_format, &cli.log_level);
    match cli.command {
        Command::Run(args) => megaport_operator::run::run(args).await?,
        Command::Crd(args) => megaport_operator::cli::print_crds(&args)?,
        Command::Simulator(args) => megaport_operator::simulator::run(args).await?,
        Command::Catalog(args) => megaport_operator::catalog::run(args).await?,
        Command::Keys(args) => megaport_operator::keys::run(args).await?,
    }
    Ok(())
}
