//! The command line: one binary, one subcommand per role. Parsing only; no behaviour here.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

use crate::telemetry::LogFormat;

/// Kubernetes operator for Megaport service keys, on-ramp regions and saved configurations.
#[derive(Debug, Parser)]
#[command(name = "megaport-operator", version, about)]
pub struct Cli {
    /// Log filter when RUST_LOG is unset (tracing EnvFilter syntax).
    #[arg(
        long,
        global = true,
        env = "MEGAPORT_OPERATOR_LOG",
        default_value = "info"
    )]
    pub log_level: String,
    /// Log line format.
    #[arg(long, global = true, env = "MEGAPORT_OPERATOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions as YAML (or write one file per CRD with --dir).
    Crd(CrdArgs),
    /// Serve the Megaport API simulator (API and token endpoint on one address).
    Simulator(SimulatorArgs),
}

/// Arguments of `megaport-operator crd`.
#[derive(Debug, Args)]
pub struct CrdArgs {
    /// Write `<plural>.<group>.yaml` files into this directory instead of printing.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

/// Arguments of `megaport-operator simulator`.
#[derive(Debug, Args)]
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

/// `megaport-operator crd`: prints every CRD as a multi-document YAML stream, or writes one
/// file each into `--dir`.
pub fn print_crds(args: &CrdArgs) -> anyhow::Result<()> {
    for crd in crate::crd::all() {
        let yaml = crate::crd::to_yaml(&crd)?;
        match &args.dir {
            Some(dir) => std::fs::write(dir.join(crate::crd::file_name(&crd)), yaml)?,
            None => print!("---\n{yaml}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
