//! OAuth2 client-credentials tokens: fetched with Basic auth, cached, refreshed before expiry,
//! shared by every caller, with one refresh in flight at a time.
//!
//! Megaport tokens live between 5 minutes and 24 hours (the API key's setting) and there is no
//! refresh token. The cache refreshes once `refresh_fraction` of the lifetime has passed; a
//! failed early refresh keeps serving the old token while it is still valid. A 401 from the API
//! invalidates exactly the token that failed (by generation), so a burst of 401s from one stale
//! token causes one refresh, not one per caller.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::config::Credentials;
use super::error::MegaportError;

/// A bearer token and the generation it belongs to.
#[derive(Clone)]
pub(crate) struct Token {
    value: SecretString,
    pub(crate) generation: u64,
}

impl Token {
    pub(crate) fn bearer(&self) -> &str {
        self.value.expose_secret()
    }
}

struct Cached {
    token: Token,
    refresh_at: Instant,
    expires_at: Instant,
}

/// The token endpoint's answer. `error` is set by some 2xx failures.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
}

/// Fetches and caches tokens for one set of credentials.
pub(crate) struct TokenSource {
    http: reqwest::Client,
    token_url: Url,
    credentials: Credentials,
    refresh_fraction: f64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    generation: u64,
}

impl TokenSource {
    pub(crate) fn new(
        http: reqwest::Client,
        token_url: Url,
        credentials: Credentials,
        refresh_fraction: f64,
    ) -> Self {
        Self {
            http,
            token_url,
            credentials,
            refresh_fraction: refresh_fraction.clamp(0.1, 1.0),
            state: Mutex::new(State::default()),
        }
    }

    /// A valid token: the cached one, or a fresh one when the cache is empty or due for refresh.
    /// Holding the lock across the fetch makes concurrent callers share one refresh.
    pub(crate) async fn token(&self) -> Result<Token, MegaportError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(cached) = &state.cached
            && now < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        match self.fetch().await {
            Ok((value, lifetime)) => {
                state.generation += 1;
                let token = Token {
                    value,
                    generation: state.generation,
                };
                let refresh_after = lifetime.mul_f64(self.refresh_fraction);
                state.cached = Some(Cached {
                    token: token.clone(),
                    refresh_at: now + refresh_after,
                    expires_at: now + lifetime,
                });
                tracing::debug!(
                    lifetime_s = lifetime.as_secs(),
                    refresh_in_s = refresh_after.as_secs(),
                    generation = token.generation,
                    "obtained Megaport access token"
                );
                Ok(token)
            }
            Err(err) => match &state.cached {
                // An early refresh failed, but the old token is still good: keep using it.
                Some(cached) if now < cached.expires_at && err.is_retryable() => {
                    tracing::warn!(error = %err, "Megaport token refresh failed; using the current token until it expires");
                    Ok(cached.token.clone())
                }
                _ => Err(err),
            },
        }
    }

    /// Drops the cached token if it is still the one of `generation` (the one that got a 401).
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state
            .cached
            .as_ref()
            .is_some_and(|c| c.token.generation == generation)
        {
            state.cached = None;
            tracing::debug!(
                generation,
                "Megaport access token rejected; will fetch a new one"
            );
        }
    }

    async fn fetch(&self) -> Result<(SecretString, Duration), MegaportError> {
        let response = self
            .http
            .post(self.token_url.clone())
            .basic_auth(
                self.credentials.access_key(),
                Some(self.credentials.secret_key()),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| MegaportError::Transport {
                endpoint: "POST /oauth2/token",
                source: e.without_url(),
            })?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| MegaportError::Transport {
                endpoint: "POST /oauth2/token",
                source: e.without_url(),
            })?;
        let parsed: Option<TokenResponse> = serde_json::from_slice(&body).ok();
        if !(200..300).contains(&status) {
            let message = parsed
                .and_then(|p| p.error)
                .unwrap_or_else(|| format!("token endpoint answered HTTP {status}"));
            return Err(MegaportError::Auth { status, message });
        }
        let parsed = parsed.ok_or_else(|| MegaportError::Auth {
            status: 0,
            message: "token endpoint answered with a body that is not a token response".into(),
        })?;
        if let Some(error) = parsed.error.filter(|e| !e.is_empty()) {
            return Err(MegaportError::Auth {
                status: 0,
                message: error,
            });
        }
        let token = parsed
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| MegaportError::Auth {
                status: 0,
                message: "token response has no access_token".into(),
            })?;
        // Megaport keys allow 5 min to 24 h; assume the shortest when the field is missing.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(300).max(1));
        Ok((SecretString::from(token), lifetime))
    }
}
