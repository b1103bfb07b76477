//! The reqwest implementation of the Megaport API traits ([`super::MegaportApi`]): envelopes, auth, rate limit and retries.
//!
//! Every request goes through one path ([`MegaportClient::call`]): wait for the shared
//! [`Limiter`], attach a cached token, send, then classify the answer:
//! - 2xx: decode `data` from the `{message, terms, data}` envelope;
//! - 401 (once per call): invalidate that token, fetch a new one, send again;
//! - 429: pause every caller for `Retry-After` (or a backoff delay), then send again;
//! - 502/503/504 and transport errors: jittered exponential backoff, idempotent calls only;
//! - anything else: a [`MegaportError::Api`] with status, message, data and trace id.
//!
//! Creates and buys are not idempotent: they are retried only when the request provably did
//! not run (429, or the connection was refused). After any other failure the caller must search
//! for what it tried to create before trying again.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::{Method, RequestBuilder, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::auth::{Token, TokenSource};
use super::config::{ClientConfig, RetryConfig};
use super::error::{ErrorData, MegaportError, decode_detail};
use super::models::{
    BillingMarket, BoughtItem, CreateServiceKey, Location, ManagedCompany, OrderItem, Product,
    ProductAction, ResourceTag, ResourceTags, ServiceKey, ServiceShape, UpdateServiceKey,
    ValidatedItem, VxcUpdate,
};
use super::ratelimit::{Limiter, parse_retry_after};
use super::{OrderingApi, ProductsApi, ServiceKeysApi};

/// A Megaport API client. Cheap to clone; clones share the token cache and the rate limiter.
#[derive(Clone)]
pub struct MegaportClient {
    inner: Arc<Inner>,
    /// The managed company every call acts for (`X-Call-Context`), if any.
    call_context: Option<Arc<str>>,
}

/// The header a partner sends on every call made for one of its managed companies (what
/// megaportgo's `WithCallContext` and the Terraform provider's `managed_account_uid` do).
const CALL_CONTEXT: &str = "X-Call-Context";

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    auth: TokenSource,
    limiter: Limiter,
    retry: RetryConfig,
    observer: Option<Arc<dyn super::Observer>>,
}

impl std::fmt::Debug for MegaportClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MegaportClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("call_context", &self.call_context)
            .finish()
    }
}

/// One API call, described before it is sent (possibly several times).
struct Call<'a> {
    method: Method,
    /// Route template for logs, metrics and errors; never contains ids or keys.
    endpoint: &'static str,
    segments: Vec<&'a str>,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    idempotent: bool,
    authenticated: bool,
    /// Service keys the request carries, removed (with their prefixes) from any error.
    redact: Vec<&'a str>,
}

impl<'a> Call<'a> {
    fn new(method: Method, endpoint: &'static str, segments: Vec<&'a str>) -> Self {
        let idempotent = matches!(method, Method::GET | Method::PUT | Method::DELETE);
        Self {
            method,
            endpoint,
            segments,
            query: Vec::new(),
            body: None,
            idempotent,
            authenticated: true,
            redact: Vec::new(),
        }
    }

    fn query(mut self, name: &'static str, value: impl ToString) -> Self {
        self.query.push((name, value.to_string()));
        self
    }

    fn json(mut self, body: &impl Serialize) -> Result<Self, MegaportError> {
        let value = serde_json::to_value(body).map_err(|e| MegaportError::Decode {
            endpoint: self.endpoint,
            detail: format!("cannot encode the request body: {}", decode_detail(&e)),
        })?;
        self.body = Some(value);
        Ok(self)
    }

    fn not_idempotent(mut self) -> Self {
        self.idempotent = false;
        self
    }

    fn unauthenticated(mut self) -> Self {
        self.authenticated = false;
        self
    }

    fn redacting(mut self, key: &'a str) -> Self {
        self.redact.push(key);
        self
    }

    fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }
}

/// What the loop does after a failed attempt.
enum Next {
    Retry(Duration),
    Fail(MegaportError),
}

impl MegaportClient {
    /// The same client acting for the managed company `company_uid`: every call carries
    /// `X-Call-Context: <company_uid>` and Megaport scopes it to that company (403 for a company
    /// the partner does not manage). Shares the token, the budget and the connections.
    pub fn acting_for(&self, company_uid: &str) -> Self {
        Self {
            inner: self.inner.clone(),
            call_context: Some(Arc::from(company_uid)),
        }
    }

    /// Requests this client may still send in the current rolling window (for metrics and
    /// diagnostics).
    pub fn budget_left(&self) -> usize {
        self.inner.limiter.remaining()
    }

    /// Builds a client; no request is made until the first call.
    pub fn new(config: ClientConfig) -> Result<Self, MegaportError> {
        crate::tls::install_default_provider();
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(config.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            // A redirect would resend a PUT or a buy somewhere else: never follow one.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| MegaportError::Config(format!("cannot build the HTTP client: {e}")))?;
        let mut base_url = config.environment.base_url();
        if base_url.cannot_be_a_base() {
            return Err(MegaportError::Config(format!(
                "{base_url} cannot be a base URL"
            )));
        }
        // Paths are appended segment by segment; drop a trailing empty segment.
        if let Ok(mut segments) = base_url.path_segments_mut() {
            segments.pop_if_empty();
        }
        let auth = TokenSource::new(
            http.clone(),
            config.environment.token_url(),
            config.credentials.clone(),
            config.token_refresh_fraction,
            config.observer.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                auth,
                limiter: Limiter::new(config.requests_per_window, config.window),
                retry: config.retry,
                observer: config.observer,
            }),
            call_context: None,
        })
    }

    fn url(&self, call: &Call<'_>) -> Url {
        let mut url = self.inner.base_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.extend(call.segments.iter());
        }
        if !call.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &call.query {
                pairs.append_pair(name, value);
            }
        }
        url
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> + use<> {
        let retry = &self.inner.retry;
        let max_delay = retry.max_delay;
        ExponentialBuilder::default()
            .with_min_delay(retry.min_delay)
            .with_max_delay(retry.max_delay)
            .with_factor(2.0)
            .with_max_times(retry.max_retries)
            .with_jitter()
            .build()
            // backon's jitter adds up to one more delay; keep the documented cap.
            .map(move |delay| delay.min(max_delay))
    }

    /// Sends `call` with auth, rate limiting and retries, and decodes the envelope's `data`.
    async fn call<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, MegaportError> {
        let url = self.url(&call);
        let mut backoff = self.backoff();
        let mut refreshed_after_401 = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            // Held until the answer has come (see the limiter): dropped at the end of the turn.
            let _place = self.place().await;
            let token = match call.authenticated {
                false => None,
                true => match self.inner.auth.token().await {
                    Ok(token) => Some(token),
                    // The token endpoint is rate limited and fails like any other: back off.
                    Err(err) if err.is_retryable() => match backoff.next() {
                        Some(delay) => {
                            if err.status() == Some(429) {
                                self.inner.limiter.pause_for(delay);
                            }
                            tokio::time::sleep(delay).await;
                            continue;
                        }
                        None => return Err(err),
                    },
                    Err(err) => return Err(err),
                },
            };
            let request = self.request(&call, &url, token.as_ref());
            let started = std::time::Instant::now();
            let sent = request.send().await;
            self.observe(&call, &sent, started);
            let next = match sent {
                Err(err) => Self::after_transport_error(&call, attempt, err, &mut backoff),
                Ok(response) => {
                    let status = response.status();
                    tracing::debug!(
                        endpoint = call.endpoint,
                        attempt,
                        status = status.as_u16(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "Megaport request"
                    );
                    if status.is_success() {
                        return self.decode(&call, response).await;
                    }
                    if status == StatusCode::UNAUTHORIZED
                        && !refreshed_after_401
                        && let Some(token) = &token
                    {
                        refreshed_after_401 = true;
                        self.inner.auth.invalidate(token.generation);
                        continue;
                    }
                    self.after_error(&call, response, &mut backoff).await
                }
            };
            match next {
                Next::Retry(delay) => {
                    tracing::debug!(
                        endpoint = call.endpoint,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        "retrying Megaport request"
                    );
                    tokio::time::sleep(delay).await;
                }
                Next::Fail(err) => {
                    return Err(call
                        .redact
                        .iter()
                        .fold(err, |err, key| err.redact_service_key(key)));
                }
            }
        }
    }

    /// A place in the rolling window (waiting for one if need be; the wait is observed).
    async fn place(&self) -> super::ratelimit::Place<'_> {
        let waiting = std::time::Instant::now();
        let place = self.inner.limiter.acquire().await;
        if let Some(observer) = &self.inner.observer {
            observer.waited(waiting.elapsed());
        }
        place
    }

    /// Tells the observer how an attempt of `call` sent at `started` ended.
    fn observe(
        &self,
        call: &Call<'_>,
        sent: &Result<reqwest::Response, reqwest::Error>,
        started: std::time::Instant,
    ) {
        if let Some(observer) = &self.inner.observer {
            let status = sent.as_ref().ok().map(|r| r.status().as_u16());
            observer.answered(call.endpoint, status, started.elapsed());
        }
    }

    /// The HTTP request for one attempt of `call`.
    fn request(&self, call: &Call<'_>, url: &Url, token: Option<&Token>) -> RequestBuilder {
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url.clone())
            .header(header::ACCEPT, "application/json");
        if let Some(token) = token {
            request = request.bearer_auth(token.bearer());
        }
        if let Some(company) = &self.call_context {
            request = request.header(CALL_CONTEXT, company.as_ref());
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        request
    }

    /// Classifies a transport failure: retry (after a delay) or fail.
    fn after_transport_error(
        call: &Call<'_>,
        attempt: u32,
        err: reqwest::Error,
        backoff: &mut impl Iterator<Item = Duration>,
    ) -> Next {
        tracing::debug!(endpoint = call.endpoint, attempt, error = %err.without_url_ref(), "Megaport request failed in transport");
        // A refused connection never reached the server: safe to retry any call.
        let retry = call.idempotent || err.is_connect();
        match backoff.next().filter(|_| retry) {
            Some(delay) => Next::Retry(delay),
            None => Next::Fail(MegaportError::Transport {
                endpoint: call.endpoint,
                source: Box::new(err.without_url()),
            }),
        }
    }

    /// Classifies a non-success answer: retry (after a delay) or fail with the API's error.
    async fn after_error(
        &self,
        call: &Call<'_>,
        response: reqwest::Response,
        backoff: &mut impl Iterator<Item = Duration>,
    ) -> Next {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()))
            .map(|d| d.min(self.inner.retry.max_delay));
        let header_trace = response
            .headers()
            .get("trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.unwrap_or_default();
        let error = api_error(call.endpoint, status.as_u16(), &body, header_trace);
        // 429 means the request was not processed, so even a create may go again.
        let retryable = match status.as_u16() {
            429 => true,
            502..=504 => call.idempotent,
            _ => false,
        };
        match backoff.next().filter(|_| retryable) {
            Some(delay) if status == StatusCode::TOO_MANY_REQUESTS => {
                let pause = retry_after.unwrap_or(delay);
                tracing::warn!(
                    endpoint = call.endpoint,
                    pause_ms = pause.as_millis() as u64,
                    "Megaport rate limit hit; pausing all requests"
                );
                self.inner.limiter.pause_for(pause);
                Next::Retry(Duration::ZERO)
            }
            Some(delay) => Next::Retry(delay.max(retry_after.unwrap_or_default())),
            None => Next::Fail(error),
        }
    }

    async fn decode<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
        response: reqwest::Response,
    ) -> Result<T, MegaportError> {
        let body = response
            .bytes()
            .await
            .map_err(|e| MegaportError::Transport {
                endpoint: call.endpoint,
                source: Box::new(e.without_url()),
            })?;
        let decode_err = |e: serde_json::Error| MegaportError::Decode {
            endpoint: call.endpoint,
            detail: decode_detail(&e),
        };
        // Straight into the typed data (a list of thousands of keys is never held as a JSON
        // tree as well); other envelope fields are skipped.
        #[derive(serde::Deserialize)]
        struct Envelope<T> {
            data: Option<T>,
        }
        let nothing = || serde_json::from_value(Value::Null).map_err(decode_err);
        if body.is_empty() {
            return nothing();
        }
        // `/v3/activity` answers with a bare array; accept bare data generally.
        if !body.trim_ascii_start().starts_with(b"{") {
            return serde_json::from_slice(&body).map_err(decode_err);
        }
        match serde_json::from_slice::<Envelope<T>>(&body).map_err(decode_err)? {
            Envelope { data: Some(data) } => Ok(data),
            Envelope { data: None } => nothing(),
        }
    }
}

/// Builds the error for a non-success answer from its body: Megaport's envelope when it is
/// one, else the raw text (bounded).
pub(super) fn api_error(
    endpoint: &'static str,
    status: u16,
    body: &[u8],
    header_trace: Option<String>,
) -> MegaportError {
    let raw = || -> String { String::from_utf8_lossy(body).chars().take(512).collect() };
    let mut map: serde_json::Map<String, Value> = serde_json::from_slice(body).unwrap_or_default();
    let (message, envelope) = match map.remove("message") {
        Some(Value::String(m)) => (m, true),
        // JSON that is not an envelope (e.g. `{"error": ...}`), or not JSON at all.
        _ => {
            let text = raw();
            let text = match text.trim().is_empty() {
                true => StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("error")
                    .to_owned(),
                false => text,
            };
            (text, false)
        }
    };
    let body_trace = map
        .remove("trace_id")
        .or_else(|| map.remove("traceId"))
        .and_then(|v| v.as_str().map(str::to_owned));
    MegaportError::Api {
        endpoint,
        status,
        message,
        data: map.remove("data").and_then(ErrorData::from_value),
        trace_id: header_trace.or(body_trace),
        envelope,
    }
}

/// The service keys in an order (VXCs ordered with a key), to keep them out of errors.
fn service_keys(items: &[OrderItem]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|item| match item {
            OrderItem::Vxc(order) => Some(order),
            _ => None,
        })
        .flat_map(|order| &order.associated_vxcs)
        .filter_map(|line| line.service_key.as_ref().map(|k| k.expose()))
        .collect()
}

/// `reqwest::Error::without_url` consumes the error; this is the by-reference equivalent for
/// logging.
trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let kind = if self.is_connect() {
            "connection failed"
        } else if self.is_timeout() {
            "timed out"
        } else if self.is_request() {
            "request error"
        } else if self.is_body() || self.is_decode() {
            "body error"
        } else {
            "transport error"
        };
        kind.to_owned()
    }
}

#[async_trait]
impl ProductsApi for MegaportClient {
    async fn list_products(
        &self,
        provisioning_status: Option<&str>,
    ) -> Result<Vec<Product>, MegaportError> {
        let mut call = Call::new(Method::GET, "GET /v2/products", vec!["v2", "products"]);
        if let Some(status) = provisioning_status {
            call = call.query("provisioningStatus", status);
        }
        let products: Vec<Product> = self.call(call).await?;
        // The filter's server-side semantics are undocumented: apply it here as well.
        Ok(match provisioning_status {
            Some(status) => products
                .into_iter()
                .filter(|p| p.provisioning_status.as_str().eq_ignore_ascii_case(status))
                .collect(),
            None => products,
        })
    }

    async fn get_product(&self, product_uid: &str) -> Result<Product, MegaportError> {
        self.call(Call::new(
            Method::GET,
            "GET /v2/product/{uid}",
            vec!["v2", "product", product_uid],
        ))
        .await
    }

    async fn list_locations(&self) -> Result<Vec<Location>, MegaportError> {
        self.call(
            Call::new(Method::GET, "GET /v3/locations", vec!["v3", "locations"]).unauthenticated(),
        )
        .await
    }
}

#[async_trait]
impl ServiceKeysApi for MegaportClient {
    async fn list_service_keys(&self) -> Result<Vec<ServiceKey>, MegaportError> {
        self.call(Call::new(
            Method::GET,
            "GET /v2/service/key",
            vec!["v2", "service", "key"],
        ))
        .await
    }

    async fn list_service_keys_for_product(
        &self,
        product_id_or_uid: &str,
    ) -> Result<Vec<ServiceKey>, MegaportError> {
        self.call(
            Call::new(
                Method::GET,
                "GET /v2/service/key",
                vec!["v2", "service", "key"],
            )
            .query("productIdOrUid", product_id_or_uid),
        )
        .await
    }

    async fn get_service_key(&self, key: &str) -> Result<ServiceKey, MegaportError> {
        self.call(
            Call::new(
                Method::GET,
                "GET /v2/service/key?key",
                vec!["v2", "service", "key"],
            )
            .query("key", key)
            .redacting(key),
        )
        .await
    }

    async fn create_service_key(
        &self,
        request: &CreateServiceKey,
    ) -> Result<ServiceKey, MegaportError> {
        self.call(
            Call::new(
                Method::POST,
                "POST /v2/service/key",
                vec!["v2", "service", "key"],
            )
            .json(request)?
            .not_idempotent(),
        )
        .await
    }

    async fn update_service_key(
        &self,
        request: &UpdateServiceKey,
    ) -> Result<ServiceKey, MegaportError> {
        self.call(
            Call::new(
                Method::PUT,
                "PUT /v2/service/key",
                vec!["v2", "service", "key"],
            )
            .json(request)?
            .redacting(request.key.expose()),
        )
        .await
    }

    async fn check_port_vlan(&self, port_uid: &str, vlan: u16) -> Result<bool, MegaportError> {
        let free: Vec<i64> = self
            .call(
                Call::new(
                    Method::GET,
                    "GET /v2/product/port/{uid}/vlan",
                    vec!["v2", "product", "port", port_uid, "vlan"],
                )
                .query("vlan", vlan),
            )
            .await?;
        Ok(free.contains(&i64::from(vlan)))
    }
}

#[async_trait]
impl OrderingApi for MegaportClient {
    async fn validate_network_design(
        &self,
        items: &[OrderItem],
    ) -> Result<Vec<ValidatedItem>, MegaportError> {
        // Validation commits nothing, so it is safe to retry.
        let mut call = Call::new(
            Method::POST,
            "POST /v3/networkdesign/validate",
            vec!["v3", "networkdesign", "validate"],
        )
        .json(&items)?
        .idempotent();
        call.redact.extend(service_keys(items));
        self.call(call).await
    }

    async fn buy_network_design(
        &self,
        items: &[OrderItem],
        discount_codes: &[String],
    ) -> Result<Vec<BoughtItem>, MegaportError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Buy<'a> {
            network_design: &'a [OrderItem],
            discount_codes: &'a [String],
        }
        let mut call = Call::new(
            Method::POST,
            "POST /v4/networkdesign/buy",
            vec!["v4", "networkdesign", "buy"],
        )
        .json(&Buy {
            network_design: items,
            discount_codes,
        })?
        .not_idempotent();
        call.redact.extend(service_keys(items));
        self.call(call).await
    }

    async fn product_action(
        &self,
        product_uid: &str,
        action: ProductAction,
        safe_delete: bool,
    ) -> Result<(), MegaportError> {
        let mut call = Call::new(
            Method::POST,
            "POST /v3/product/{uid}/action/{action}",
            vec!["v3", "product", product_uid, "action", action.as_str()],
        )
        .not_idempotent();
        if safe_delete {
            call = call.query("safeDelete", true);
        }
        let _: Value = self.call(call).await?;
        Ok(())
    }

    async fn get_product_tags(&self, product_uid: &str) -> Result<Vec<ResourceTag>, MegaportError> {
        let tags: ResourceTags = self
            .call(Call::new(
                Method::GET,
                "GET /v2/product/{uid}/tags",
                vec!["v2", "product", product_uid, "tags"],
            ))
            .await?;
        Ok(tags.resource_tags)
    }

    async fn put_product_tags(
        &self,
        product_uid: &str,
        tags: &[ResourceTag],
    ) -> Result<(), MegaportError> {
        let body = ResourceTags {
            resource_tags: tags.to_vec(),
        };
        let _: Value = self
            .call(
                Call::new(
                    Method::PUT,
                    "PUT /v2/product/{uid}/tags",
                    vec!["v2", "product", product_uid, "tags"],
                )
                .json(&body)?,
            )
            .await?;
        Ok(())
    }

    async fn list_billing_markets(&self) -> Result<Vec<BillingMarket>, MegaportError> {
        self.call(Call::new(
            Method::GET,
            "GET /v2/market",
            vec!["v2", "market"],
        ))
        .await
    }

    async fn list_managed_companies(&self) -> Result<Vec<ManagedCompany>, MegaportError> {
        self.call(Call::new(
            Method::GET,
            "GET /v2/managedCompanies",
            vec!["v2", "managedCompanies"],
        ))
        .await
    }

    async fn update_vxc(
        &self,
        vxc_uid: &str,
        update: &VxcUpdate,
    ) -> Result<ServiceShape, MegaportError> {
        self.call(
            Call::new(
                Method::PUT,
                "PUT /v3/product/vxc/{uid}",
                vec!["v3", "product", "vxc", vxc_uid],
            )
            .json(update)?
            // An approval carried out twice answers 4xx the second time: the controller
            // records the decision before the call and decides about sending it again.
            .not_idempotent(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_from_envelope_and_raw_bodies() {
        let err = api_error(
            "POST /v3/networkdesign/validate",
            400,
            br#"{"message":"Validation failed","terms":"t","data":"Missing markets: Sweden"}"#,
            Some("trace-9".into()),
        );
        match &err {
            MegaportError::Api {
                status,
                message,
                data,
                trace_id,
                ..
            } => {
                assert_eq!(*status, 400);
                assert_eq!(message, "Validation failed");
                assert_eq!(
                    data,
                    &Some(ErrorData::Text("Missing markets: Sweden".into()))
                );
                assert_eq!(trace_id.as_deref(), Some("trace-9"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let raw = api_error("GET /v2/products", 502, b"<html>Bad Gateway</html>", None);
        assert!(
            raw.to_string().contains("<html>Bad Gateway</html>"),
            "{raw}"
        );
        let empty = api_error("GET /v2/products", 503, b"", None);
        assert!(empty.to_string().contains("Service Unavailable"), "{empty}");
    }

    #[test]
    fn urls_are_built_from_segments() {
        let config = ClientConfig::new(
            super::super::Environment::custom("http://127.0.0.1:1/prefix/", "http://127.0.0.1:1/t")
                .unwrap(),
            super::super::Credentials::new("a", "b"),
        );
        let client = MegaportClient::new(config).unwrap();
        let call = Call::new(
            Method::GET,
            "GET /v2/product/{uid}",
            vec!["v2", "product", "a/b?c"],
        )
        .query("key", "k y");
        assert_eq!(
            client.url(&call).as_str(),
            "http://127.0.0.1:1/prefix/v2/product/a%2Fb%3Fc?key=k+y"
        );
    }
}
