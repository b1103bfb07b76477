//! The command line: one binary, one subcommand per role. Parsing only: each command owns its
//! arguments (next to what it does) and this module only puts them together.

use clap::{Parser, Subcommand};

use crate::catalog::CatalogArgs;
use crate::crds::CrdArgs;
use crate::keys::KeysArgs;
use crate::run::RunArgs;
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
    /// Run the controllers (the operator).
    Run(RunArgs),
    /// Print the CustomResourceDefinitions as YAML (or write one file per CRD with --dir).
    Crd(CrdArgs),
    /// Where the provider can sell: countries → metros → on-ramps, from live Megaport products.
    Catalog(CatalogArgs),
    /// Issued service keys with state, on-ramp, zone, VLAN and request (never the key itself).
    Keys(KeysArgs),
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
