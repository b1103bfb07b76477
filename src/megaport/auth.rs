//! OAuth2 client-credentials tokens: fetched with Basic auth, cached, refreshed before expiry,
//! shared by every caller, with one refresh in flight at a time.
//!
//! Megaport tokens live between 5 minutes and 24 hours (the API key's setting) and there is no
//! refresh token. The cache refreshes once `refresh_fraction` of the lifetime has passed; a
//! failed early refresh keeps serving the old token while it is still valid. A 401 from the API
//! invalidates exactly the token that failed (by generation), so a burst of 401s from one stale
//! token causes one refresh, not one per caller.

use crate::sync::Locked;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::config::Credentials;
use super::error::MegaportError;

/// The token endpoint as errors and metrics name it.
const TOKEN_ROUTE: &str = "POST /oauth2/token";

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

/// After a failed early refresh, callers keep the current token this long before trying again.
const REFRESH_RETRY: Duration = Duration::from_secs(10);

/// Fetches and caches tokens for one set of credentials.
pub(crate) struct TokenSource {
    http: reqwest::Client,
    token_url: Url,
    credentials: Credentials,
    refresh_fraction: f64,
    state: std::sync::Mutex<State>,
    /// Held by the one caller that is fetching a token.
    refreshing: Mutex<()>,
    observer: Option<std::sync::Arc<dyn super::Observer>>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    generation: u64,
    /// Set after a failed early refresh: until then, keep serving the cached token.
    retry_refresh_at: Option<Instant>,
}

/// What the cache can offer right now.
enum Cache {
    /// Fresh: use it.
    Fresh(Token),
    /// Due for refresh but still valid: usable while someone refreshes.
    Stale(Token),
    /// Nothing usable.
    Empty,
}

impl TokenSource {
    pub(crate) fn new(
        http: reqwest::Client,
        token_url: Url,
        credentials: Credentials,
        refresh_fraction: f64,
        observer: Option<std::sync::Arc<dyn super::Observer>>,
    ) -> Self {
        let refresh_fraction = match refresh_fraction.is_finite() {
            true => refresh_fraction.clamp(0.1, 1.0),
            false => 0.8,
        };
        Self {
            http,
            token_url,
            credentials,
            refresh_fraction,
            state: std::sync::Mutex::new(State::default()),
            refreshing: Mutex::new(()),
            observer,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.locked()
    }

    fn lookup(&self) -> Cache {
        let state = self.state();
        let now = Instant::now();
        match &state.cached {
            Some(c) if now < c.refresh_at => Cache::Fresh(c.token.clone()),
            Some(c) if now < c.expires_at => match state.retry_refresh_at {
                // A refresh failed recently: do not hammer the token endpoint.
                Some(at) if now < at => Cache::Fresh(c.token.clone()),
                _ => Cache::Stale(c.token.clone()),
            },
            _ => Cache::Empty,
        }
    }

    /// A valid token: the cached one, or a fresh one when the cache is empty or due for
    /// refresh. One caller fetches at a time; while a still-valid token exists the others keep
    /// using it instead of waiting.
    pub(crate) async fn token(&self) -> Result<Token, MegaportError> {
        let stale = match self.lookup() {
            Cache::Fresh(token) => return Ok(token),
            Cache::Stale(token) => Some(token),
            Cache::Empty => None,
        };
        let _refreshing = match &stale {
            Some(token) => match self.refreshing.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(token.clone()),
            },
            None => self.refreshing.lock().await,
        };
        // Someone else may have refreshed while this caller waited for the lock.
        if let Cache::Fresh(token) = self.lookup() {
            return Ok(token);
        }
        match self.fetch().await {
            Ok((value, lifetime)) => {
                let now = Instant::now();
                let mut state = self.state();
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
                state.retry_refresh_at = None;
                tracing::debug!(
                    lifetime_s = lifetime.as_secs(),
                    refresh_in_s = refresh_after.as_secs(),
                    generation = token.generation,
                    "obtained Megaport access token"
                );
                Ok(token)
            }
            Err(err) => match stale {
                // An early refresh failed, but the current token is still good: keep using it.
                Some(token) if err.is_retryable() => {
                    tracing::warn!(error = %err, "Megaport token refresh failed; using the current token until it expires");
                    self.state().retry_refresh_at = Some(Instant::now() + REFRESH_RETRY);
                    Ok(token)
                }
                _ => Err(err),
            },
        }
    }

    /// Drops the cached token if it is still the one of `generation` (the one that got a 401).
    pub(crate) fn invalidate(&self, generation: u64) {
        let mut state = self.state();
        if state
            .cached
            .as_ref()
            .is_some_and(|c| c.token.generation == generation)
        {
            state.cached = None;
            state.retry_refresh_at = None;
            tracing::debug!(
                generation,
                "Megaport access token rejected; will fetch a new one"
            );
        }
    }

    async fn fetch(&self) -> Result<(SecretString, Duration), MegaportError> {
        let started = Instant::now();
        let sent = self
            .http
            .post(self.token_url.clone())
            .basic_auth(
                self.credentials.access_key(),
                Some(self.credentials.secret_key()),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await;
        if let Some(observer) = &self.observer {
            let status = sent.as_ref().ok().map(|r| r.status().as_u16());
            observer.answered(TOKEN_ROUTE, status, started.elapsed());
        }
        let response = sent.map_err(|e| MegaportError::Transport {
            endpoint: TOKEN_ROUTE,
            source: Box::new(e.without_url()),
        })?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| MegaportError::Transport {
                endpoint: TOKEN_ROUTE,
                source: Box::new(e.without_url()),
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
        // Megaport keys allow 5 min to 24 h; assume the shortest when the field is missing, and
        // bound what we accept so a nonsensical value cannot overflow the clock.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(300).clamp(1, 2 * 86_400));
        Ok((SecretString::from(token), lifetime))
    }
}
