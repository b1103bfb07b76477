//! Where the client talks to and as whom: environments, credentials and tuning knobs.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::error::MegaportError;

/// Environment variable holding the API key's client id (the name Megaport's CLI uses).
pub const ACCESS_KEY_ENV: &str = "MEGAPORT_ACCESS_KEY";
/// Environment variable holding the API key's client secret.
pub const SECRET_KEY_ENV: &str = "MEGAPORT_SECRET_KEY";

/// A Megaport environment: API base URL and OAuth2 token URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Environment {
    /// `https://api.megaport.com`.
    Production,
    /// `https://api-staging.megaport.com` (reset from production every 24 h).
    Staging,
    /// Any other pair, e.g. the simulator.
    Custom {
        /// API base URL.
        base_url: Url,
        /// OAuth2 token endpoint.
        token_url: Url,
    },
}

impl Environment {
    /// A custom environment from two URL strings.
    pub fn custom(base_url: &str, token_url: &str) -> Result<Self, MegaportError> {
        let parse = |what: &str, s: &str| {
            Url::parse(s).map_err(|e| MegaportError::Config(format!("invalid {what} {s:?}: {e}")))
        };
        Ok(Self::Custom {
            base_url: parse("base URL", base_url)?,
            token_url: parse("token URL", token_url)?,
        })
    }

    /// The API base URL.
    pub fn base_url(&self) -> Url {
        match self {
            Self::Production => fixed_url("https://api.megaport.com"),
            Self::Staging => fixed_url("https://api-staging.megaport.com"),
            Self::Custom { base_url, .. } => base_url.clone(),
        }
    }

    /// The OAuth2 token URL.
    pub fn token_url(&self) -> Url {
        match self {
            Self::Production => fixed_url("https://auth-m2m.megaport.com/oauth2/token"),
            Self::Staging => fixed_url("https://auth-m2m-staging.megaport.com/oauth2/token"),
            Self::Custom { token_url, .. } => token_url.clone(),
        }
    }
}

fn fixed_url(s: &str) -> Url {
    // The constants above are valid URLs; a failure here is a programming error.
    Url::parse(s).expect("built-in Megaport URL is valid")
}

/// An API key: client id and client secret, both kept out of `Debug` and logs.
#[derive(Clone)]
pub struct Credentials {
    access_key: SecretString,
    secret_key: SecretString,
}

impl Credentials {
    /// Credentials passed in directly.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: SecretString::from(access_key.into()),
            secret_key: SecretString::from(secret_key.into()),
        }
    }

    /// Credentials from `MEGAPORT_ACCESS_KEY` / `MEGAPORT_SECRET_KEY`.
    pub fn from_env() -> Result<Self, MegaportError> {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| MegaportError::Config(format!("{name} is not set")))
        };
        Ok(Self::new(read(ACCESS_KEY_ENV)?, read(SECRET_KEY_ENV)?))
    }

    pub(crate) fn access_key(&self) -> &str {
        self.access_key.expose_secret()
    }

    pub(crate) fn secret_key(&self) -> &str {
        self.secret_key.expose_secret()
    }

    /// A 32-byte key for `purpose`, derived from the secret key (HMAC-SHA256 of the purpose
    /// under the secret): stable for as long as the secret is, unrelated across purposes, and
    /// telling nothing about the secret.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.secret_key().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { access_key: <redacted>, secret_key: <redacted> }")
    }
}

/// Retry policy for idempotent calls.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryConfig {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: usize,
    /// First backoff delay.
    pub min_delay: Duration,
    /// Longest backoff delay, and the cap on an honoured `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// Requests per window by default: Megaport's documented 500, less headroom for other tools.
pub const DEFAULT_REQUESTS_PER_WINDOW: u32 = 450;
/// Megaport's documented rolling window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

/// Everything needed to build a [`super::MegaportClient`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Which Megaport.
    pub environment: Environment,
    /// As whom.
    pub credentials: Credentials,
    /// Most requests in any `window`, shared by every caller of the client. Megaport allows 500
    /// per rolling 5 minutes per source IP: the budget is per egress IP, shared with any
    /// Terraform or CLI runs behind the same NAT, so leave them headroom.
    pub requests_per_window: u32,
    /// The rolling window.
    pub window: Duration,
    /// Retries of idempotent calls.
    pub retry: RetryConfig,
    /// Per-request timeout (`/v2/products` can take tens of seconds for big companies).
    pub request_timeout: Duration,
    /// Refresh the token once this fraction of its lifetime has passed.
    pub token_refresh_fraction: f64,
    /// Sent as `User-Agent`.
    pub user_agent: String,
    /// Told about every request (metrics).
    pub observer: Option<std::sync::Arc<dyn super::Observer>>,
}

impl ClientConfig {
    /// Defaults for `environment` and `credentials`: 450 requests per rolling 300 s (headroom
    /// under Megaport's 500), four retries, 60 s timeout, token refresh at 80 % of its lifetime.
    pub fn new(environment: Environment, credentials: Credentials) -> Self {
        Self {
            environment,
            credentials,
            requests_per_window: DEFAULT_REQUESTS_PER_WINDOW,
            window: DEFAULT_WINDOW,
            retry: RetryConfig::default(),
            request_timeout: Duration::from_secs(60),
            token_refresh_fraction: 0.8,
            user_agent: format!("megaport-operator/{}", env!("CARGO_PKG_VERSION")),
            observer: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_resolve_urls() {
        assert_eq!(
            Environment::Production.base_url().as_str(),
            "https://api.megaport.com/"
        );
        assert_eq!(
            Environment::Staging.token_url().as_str(),
            "https://auth-m2m-staging.megaport.com/oauth2/token"
        );
        let custom = Environment::custom(
            "http://127.0.0.1:9000",
            "http://127.0.0.1:9000/oauth2/token",
        )
        .unwrap();
        assert_eq!(custom.base_url().as_str(), "http://127.0.0.1:9000/");
        assert!(Environment::custom("not a url", "http://x").is_err());
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let creds = Credentials::new("client-id-123", "super-secret-456");
        let config = ClientConfig::new(Environment::Production, creds);
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("client-id-123") && !shown.contains("super-secret-456"),
            "{shown}"
        );
    }
}
