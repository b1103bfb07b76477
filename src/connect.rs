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
    /// Most Megaport API requests in any rolling window, shared by every caller in the process.
    /// Megaport allows 500 per 5 minutes per source IP: the budget is per egress IP, shared
    /// with any Terraform or CLI runs behind the same NAT (lower it if they run too).
    #[arg(long, env = "MEGAPORT_REQUESTS_PER_WINDOW", default_value_t = crate::megaport::DEFAULT_REQUESTS_PER_WINDOW)]
    pub megaport_requests_per_window: u32,
    /// The rolling window, in seconds.
    #[arg(long, env = "MEGAPORT_WINDOW_SECONDS", default_value_t = 300)]
    pub megaport_window_seconds: u64,
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
        config.requests_per_window = self.megaport_requests_per_window;
        config.window = std::time::Duration::from_secs(self.megaport_window_seconds.max(1));
        Ok(config)
    }
}
