//! The command line: one binary, one subcommand per role. Parsing only; no behaviour here.

use clap::{Args, Parser, Subcommand};

use crate::megaport::{ClientConfig, Credentials, Environment, MegaportError};
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

/// How to reach Megaport. Credentials come from MEGAPORT_ACCESS_KEY / MEGAPORT_SECRET_KEY.
#[derive(Clone, Debug, Args)]
pub struct MegaportArgs {
    /// Megaport environment (ignored when --megaport-base-url is given).
    #[arg(long, env = "MEGAPORT_ENVIRONMENT", value_enum, default_value_t = MegaportEnvironment::Production)]
    pub megaport_environment: MegaportEnvironment,
    /// A custom API base URL, e.g. the simulator's. Needs --megaport-token-url.
    #[arg(long, env = "MEGAPORT_BASE_URL", requires = "megaport_token_url")]
    pub megaport_base_url: Option<String>,
    /// The OAuth2 token URL that goes with --megaport-base-url.
    #[arg(long, env = "MEGAPORT_TOKEN_URL", requires = "megaport_base_url")]
    pub megaport_token_url: Option<String>,
    /// Sustained Megaport API requests per second, shared by every caller in the process.
    #[arg(long, env = "MEGAPORT_REQUESTS_PER_SECOND", default_value_t = 10)]
    pub megaport_requests_per_second: u32,
    /// Burst above the sustained rate.
    #[arg(long, env = "MEGAPORT_BURST", default_value_t = 20)]
    pub megaport_burst: u32,
}

/// Named Megaport environments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MegaportEnvironment {
    /// api.megaport.com
    Production,
    /// api-staging.megaport.com (reset from production every 24 h)
    Staging,
}

impl MegaportArgs {
    /// The client configuration these flags and the credential variables describe.
    pub fn client_config(&self) -> Result<ClientConfig, MegaportError> {
        let environment = match (&self.megaport_base_url, &self.megaport_token_url) {
            (Some(base), Some(token)) => Environment::custom(base, token)?,
            _ => match self.megaport_environment {
                MegaportEnvironment::Production => Environment::Production,
                MegaportEnvironment::Staging => Environment::Staging,
            },
        };
        let mut config = ClientConfig::new(environment, Credentials::from_env()?);
        config.requests_per_second = self.megaport_requests_per_second;
        config.burst = self.megaport_burst;
        Ok(config)
    }
}

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
}

/// Arguments of `megaport-operator catalog`.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// What to list.
    #[command(subcommand)]
    pub view: CatalogView,
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub megaport: MegaportArgs,
}

/// `keys` options. Kubernetes is reached through the usual kubeconfig / in-cluster config.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Also list keys the operator did not issue.
    #[arg(long)]
    pub all: bool,
    /// Do not read ServiceKeyRequests from Kubernetes (requests are shown by UID).
    #[arg(long)]
    pub no_kubernetes: bool,
    #[command(flatten)]
    pub megaport: MegaportArgs,
}

/// The catalog's views.
#[derive(Clone, Debug, Subcommand)]
pub enum CatalogView {
    /// Countries with live on-ramps.
    Countries,
    /// Metros with live on-ramps.
    Metros {
        /// Only metros in this country (as Megaport writes it, e.g. USA).
        #[arg(long)]
        country: Option<String>,
    },
    /// On-ramps with location, zone, speed, usage and whether they can take a connection.
    Onramps {
        /// Only on-ramps in this country.
        #[arg(long)]
        country: Option<String>,
        /// Only on-ramps in this metro.
        #[arg(long)]
        metro: Option<String>,
    },
}

/// Output formats of listing commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// JSON for programs.
    Json,
}

/// Arguments of `megaport-operator crd`.
#[derive(Debug, Args)]
pub struct CrdArgs {
    /// Write `<plural>.<group>.yaml` files into this directory instead of printing.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
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
