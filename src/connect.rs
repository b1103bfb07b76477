//! The flags that say how to reach Megaport, shared by every command that calls it; they build
//! the client configuration (credentials come from MEGAPORT_ACCESS_KEY / MEGAPORT_SECRET_KEY).

use clap::Args;

use crate::megaport::{ClientConfig, Credentials, Environment, MegaportError};

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
