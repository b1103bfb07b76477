//! The Megaport API surface: the route table (method + template, used for dispatch and for the
//! `/_sim/counters` keys) and thin handlers that translate HTTP ↔ [`World`] calls: bearer/Basic
//! auth, query and JSON body parsing, envelopes and error bodies.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::json as render;
use super::orders::Created;
use super::requests::{BuyV4, KeyCreate, KeyUpdate, OrderItem, ProductUpdate, TagsPut, VxcUpdate};
use super::server::Shared;
use super::state::{ApiError, World};

/// The header a partner sends to act for one of its managed companies.
pub const CALL_CONTEXT: &str = "x-call-context";

/// Routes of the simulated API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    /// `POST /oauth2/token`.
    Token,
    /// `GET /v2/products`.
    Products,
    /// `GET /v2/product/{uid}`.
    Product,
    /// `GET /v2/product/{uid}/tags`.
    TagsGet,
    /// `PUT /v2/product/{uid}/tags`.
    TagsPut,
    /// `GET /v2/product/port/{uid}/vlan`.
    PortVlan,
    /// `PUT /v2/product/{type}/{uid}`.
    ProductModify,
    /// `POST /v2/product/{uid}/lock`.
    Lock,
    /// `DELETE /v2/product/{uid}/lock`.
    Unlock,
    /// `PUT /v3/product/vxc/{uid}`.
    VxcModify,
    /// `POST /v3/product/{uid}/action/{action}`.
    ProductAction,
    /// `GET /v3/locations`.
    Locations,
    /// `GET /v2/networkRegions`.
    NetworkRegions,
    /// `GET /v2/service/key`.
    KeysGet,
    /// `POST /v2/service/key`.
    KeyCreate,
    /// `PUT /v2/service/key`.
    KeyUpdate,
    /// `POST /v3/networkdesign/validate`.
    Validate,
    /// `POST /v3/networkdesign/buy`.
    BuyV3,
    /// `POST /v4/networkdesign/buy`.
    BuyV4,
    /// `GET /v2/market`.
    Market,
    /// `GET /v2/managedCompanies`.
    ManagedCompanies,
}

/// Route table; order matters (first match wins, static segments before parameters).
pub const ROUTES: &[(&str, &str, RouteId)] = &[
    ("POST", "/oauth2/token", RouteId::Token),
    ("GET", "/v2/products", RouteId::Products),
    ("GET", "/v2/product/{uid}", RouteId::Product),
    ("GET", "/v2/product/{uid}/tags", RouteId::TagsGet),
    ("PUT", "/v2/product/{uid}/tags", RouteId::TagsPut),
    ("GET", "/v2/product/port/{uid}/vlan", RouteId::PortVlan),
    ("PUT", "/v2/product/{type}/{uid}", RouteId::ProductModify),
    ("POST", "/v2/product/{uid}/lock", RouteId::Lock),
    ("DELETE", "/v2/product/{uid}/lock", RouteId::Unlock),
    ("PUT", "/v3/product/vxc/{uid}", RouteId::VxcModify),
    (
        "POST",
        "/v3/product/{uid}/action/{action}",
        RouteId::ProductAction,
    ),
    ("GET", "/v3/locations", RouteId::Locations),
    ("GET", "/v2/networkRegions", RouteId::NetworkRegions),
    ("GET", "/v2/service/key", RouteId::KeysGet),
    ("POST", "/v2/service/key", RouteId::KeyCreate),
    ("PUT", "/v2/service/key", RouteId::KeyUpdate),
    ("POST", "/v3/networkdesign/validate", RouteId::Validate),
    ("POST", "/v3/networkdesign/buy", RouteId::BuyV3),
    ("POST", "/v4/networkdesign/buy", RouteId::BuyV4),
    ("GET", "/v2/market", RouteId::Market),
    ("GET", "/v2/managedCompanies", RouteId::ManagedCompanies),
];

/// A matched route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// Which route.
    pub id: RouteId,
    /// Its template (`/v2/product/{uid}`).
    pub template: &'static str,
    /// Path parameters in order.
    pub params: Vec<String>,
}

/// Finds the route of a request; `Err(true)` when the path exists under another method.
pub fn find_route(method: &str, path: &str) -> Result<Matched, bool> {
    let segs: Vec<&str> = path.split('/').collect();
    let mut other_method = false;
    for (m, template, id) in ROUTES {
        let tsegs: Vec<&str> = template.split('/').collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut params = Vec::new();
        let fits = tsegs.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') {
                params.push((*s).to_string());
                !s.is_empty()
            } else {
                t == s
            }
        });
        if !fits {
            continue;
        }
        if *m == method {
            return Ok(Matched {
                id: *id,
                template,
                params,
            });
        }
        // 405 only for a path that exists as written under another method (DELETE of a key);
        // an unknown sub-path that merely fits a template's parameters is 404, as the real API
        // answers.
        other_method |= !template.contains('{');
    }
    Err(other_method)
}

/// An incoming API request, already normalised (`%3F` path form folded into the query).
pub struct ApiRequest<'a> {
    /// Method.
    pub method: &'a Method,
    /// Normalised path.
    pub path: &'a str,
    /// Normalised query string.
    pub query: Option<&'a str>,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// A JSON response with the API's headers.
pub fn json_response(status: u16, body: &Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("Trace-Id", v);
    }
    resp
}

/// `{message, terms, data?}` with 200.
pub fn ok(message: &str, data: Option<Value>) -> Response<Body> {
    json_response(200, &render::envelope(message, data))
}

/// The error envelope of an [`ApiError`].
pub fn error(e: &ApiError) -> Response<Body> {
    json_response(
        e.status,
        &render::envelope(&e.message, Some(e.data.clone())),
    )
}

/// Parsed query pairs (percent-decoded).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The bearer token of a request.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `(client id, secret)` of a Basic authorization header.
pub fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("A JSON request body is required"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))
}

/// Answers an API request (auth, state, rendering). Never awaits: the world lock is not held
/// across an await point.
pub fn dispatch(shared: &Shared, route: &Matched, req: &ApiRequest<'_>) -> Response<Body> {
    if route.id == RouteId::Token {
        return token(shared, req);
    }
    let mut world = shared.world();
    let now = world.now();
    world.tick(now);
    match handle(&mut world, now, route, req) {
        Ok(resp) => resp,
        Err(e) => error(&e),
    }
}

fn token(shared: &Shared, req: &ApiRequest<'_>) -> Response<Body> {
    let invalid_client = || json_response(401, &json!({"error": "invalid_client"}));
    let Some((id, secret)) = basic(req.headers) else {
        return invalid_client();
    };
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    pairs.extend(query_pairs(req.query));
    let mut world = shared.world();
    let now = world.now();
    let Some((token, lifetime)) = world.issue_token(&id, &secret, now) else {
        return invalid_client();
    };
    match param(&pairs, "grant_type") {
        Some("client_credentials") => {}
        Some(_) => {
            world.tokens.remove(&token);
            return json_response(400, &json!({"error": "unsupported_grant_type"}));
        }
        None => {
            world.tokens.remove(&token);
            return json_response(400, &json!({"error": "invalid_request"}));
        }
    }
    json_response(
        200,
        &json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}),
    )
}

fn handle(
    w: &mut World,
    now: i64,
    route: &Matched,
    req: &ApiRequest<'_>,
) -> Result<Response<Body>, ApiError> {
    let q = query_pairs(req.query);
    let p = |i: usize| route.params.get(i).map(String::as_str).unwrap_or_default();
    // Unauthenticated routes (megaport-cli calls them without a token).
    match route.id {
        RouteId::Locations => {
            let statuses: Vec<&str> = q
                .iter()
                .filter(|(k, _)| k == "locationStatuses")
                .flat_map(|(_, v)| v.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let data: Vec<Value> = w
                .locations
                .iter()
                .filter(|l| {
                    statuses.is_empty()
                        || statuses.iter().any(|s| s.eq_ignore_ascii_case(&l.status))
                })
                .map(render::location)
                .collect();
            return Ok(ok("List all public locations", Some(Value::Array(data))));
        }
        RouteId::NetworkRegions => {
            return Ok(ok("Network regions", Some(render::network_regions(w))));
        }
        _ => {}
    }
    let mut caller = w.authenticate(bearer(req.headers), now)?;
    // A partner acting for one of its managed companies.
    if let Some(context) = req
        .headers
        .get(CALL_CONTEXT)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        caller = w.act_for(caller, context)?;
    }
    match route.id {
        RouteId::ManagedCompanies => {
            let data: Vec<Value> = w
                .managed_companies(&caller.company_uid)
                .into_iter()
                .map(render::managed_company)
                .collect();
            Ok(ok(
                &format!("Found [{}] managed companies", data.len()),
                Some(Value::Array(data)),
            ))
        }
        RouteId::Products => {
            let statuses: Vec<String> = q
                .iter()
                .filter(|(k, _)| k == "provisioningStatus")
                .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
                .filter(|s| !s.is_empty())
                .collect();
            let mut data: Vec<Value> = w
                .list_products(&caller, &statuses)
                .into_iter()
                .map(|x| render::product(w, x))
                .collect();
            // Reads the real API gives now and then: a zoned product listed without its zone.
            for product in &mut data {
                let uid = product["productUid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if let Some(left) = w.empty_zone_reads.get_mut(&uid).filter(|n| **n > 0) {
                    *left -= 1;
                    product["diversityZone"] = Value::String(String::new());
                }
            }
            Ok(ok(
                &format!("Found [{}] products", data.len()),
                Some(Value::Array(data)),
            ))
        }
        RouteId::Product => {
            let product = w.readable(&caller, p(0))?;
            Ok(ok(
                &format!("Found Product {}", product.uid),
                Some(render::product(w, product)),
            ))
        }
        RouteId::TagsGet => {
            let tags = w.tags(&caller, p(0))?;
            Ok(ok(
                &format!("Found [{}] resource tags", tags.len()),
                Some(render::tags(tags)),
            ))
        }
        RouteId::TagsPut => {
            let req: TagsPut = body(&req.body)?;
            w.put_tags(&caller, p(0), req)?;
            let tags = w.tags(&caller, p(0))?;
            Ok(ok(
                &format!("Resource tags of product [{}] updated", p(0)),
                Some(render::tags(tags)),
            ))
        }
        RouteId::PortVlan => {
            let vlan = param(&q, "vlan")
                .ok_or_else(|| ApiError::bad_request("The vlan query parameter is required"))?;
            let vlan: i64 = vlan
                .trim()
                .parse()
                .map_err(|_| ApiError::bad_request(format!("Invalid VLAN {vlan:?}")))?;
            let free = w.vlan_free(&caller, p(0), vlan)?;
            let data = if free { json!([vlan]) } else { json!([]) };
            Ok(ok(
                &format!(
                    "VLAN {vlan} is {}",
                    if free { "available" } else { "not available" }
                ),
                Some(data),
            ))
        }
        RouteId::ProductModify => {
            let req: ProductUpdate = body(&req.body)?;
            let uid = p(1).to_owned();
            w.service_updates
                .check(&uid, &format!("Product {uid}"), now)
                .map_err(ApiError::validation)?;
            w.modify_product(&caller, p(0), p(1), req)?;
            w.service_updates.record(&uid, now);
            let product = w.readable(&caller, p(1))?;
            Ok(ok(
                &format!("Product [{}] has been updated", product.uid),
                Some(render::service_shape(w, product)),
            ))
        }
        RouteId::Lock | RouteId::Unlock => {
            let lock = route.id == RouteId::Lock;
            w.set_locked(&caller, p(0), lock)?;
            let message = if lock {
                "Service locked"
            } else {
                "Service unlocked"
            };
            let product = w.readable(&caller, p(0))?;
            Ok(ok(message, Some(render::service_shape(w, product))))
        }
        RouteId::VxcModify => {
            let req: VxcUpdate = body(&req.body)?;
            w.modify_vxc(&caller, p(0), req, now)?;
            let product = w.readable(&caller, p(0))?;
            Ok(ok(
                &format!("VXC {} has been updated", product.id),
                Some(render::service_shape(w, product)),
            ))
        }
        RouteId::ProductAction => {
            let safe = ["safeDelete", "safe_delete"]
                .iter()
                .any(|k| param(&q, k) == Some("true"));
            let message = w.product_action(&caller, p(0), &p(1).to_ascii_uppercase(), safe, now)?;
            Ok(ok(&message, None))
        }
        RouteId::KeysGet => {
            if let Some(key) = param(&q, "key") {
                let k = w.find_key(key.trim())?;
                let shown: String = key.chars().take(8).collect();
                return Ok(ok(
                    &format!("Found service key [{shown}]"),
                    Some(render::service_key(w, k, now, true)),
                ));
            }
            let product = param(&q, "productIdOrUid").filter(|s| !s.is_empty());
            let data: Vec<Value> = w
                .list_keys(&caller, product)
                .into_iter()
                .map(|k| render::service_key(w, k, now, false))
                .collect();
            let company_id = w.company(&caller.company_uid).map_or(0, |c| c.id);
            Ok(ok(
                &format!(
                    "Found [{}] service keys for company [{company_id}]",
                    data.len()
                ),
                Some(Value::Array(data)),
            ))
        }
        RouteId::KeyCreate => {
            let req: KeyCreate = body(&req.body)?;
            let key = w.create_key(&caller, req, now)?;
            let k = w.find_key(&key)?;
            Ok(ok(
                &format!("New service key [{key}] generated"),
                Some(render::service_key(w, k, now, true)),
            ))
        }
        RouteId::KeyUpdate => {
            let req: KeyUpdate = body(&req.body)?;
            // Named without the key: a refusal message must not carry the secret.
            let service = req.key.clone().unwrap_or_default();
            w.service_updates
                .check(&service, "This service key", now)
                .map_err(ApiError::validation)?;
            let key = w.update_key(&caller, req, now)?;
            w.service_updates.record(&service, now);
            let k = w.find_key(&key)?;
            Ok(ok(
                &format!("Service key [{key}] updated"),
                Some(render::service_key(w, k, now, true)),
            ))
        }
        RouteId::Validate => {
            let items: Vec<OrderItem> = order_items(&req.body, false)?;
            let plans = w.plan_order(&caller, &items, now)?;
            let data: Vec<Value> = plans.iter().map(|p| render::quote(&p.quote)).collect();
            Ok(ok("Validation passed", Some(Value::Array(data))))
        }
        RouteId::BuyV3 | RouteId::BuyV4 => {
            let items = order_items(&req.body, route.id == RouteId::BuyV4)?;
            let created = w.buy(&caller, &items, now)?;
            let mut messages = Vec::new();
            let mut data = Vec::new();
            for c in &created {
                match c {
                    Created::Service(uid) => {
                        let product = w.readable(&caller, uid)?;
                        messages.push(format!("{} [{uid}] created.", product.kind.api_name()));
                        data.push(render::service_shape(w, product));
                    }
                    Created::Vxc { uid, order_id, key } => {
                        let product = w.readable(&caller, uid)?;
                        messages.push(format!("VXC [{uid}] created. "));
                        data.push(render::vxc_order(w, product, *order_id, key.as_deref()));
                    }
                }
            }
            Ok(ok(&messages.join(" "), Some(Value::Array(data))))
        }
        RouteId::Market => {
            let company = w.company(&caller.company_uid);
            let data: Vec<Value> = company
                .map(|c| c.markets.iter().map(|m| render::market(c, m)).collect())
                .unwrap_or_default();
            Ok(ok(
                &format!("Found [{}] billing markets", data.len()),
                Some(Value::Array(data)),
            ))
        }
        RouteId::Token | RouteId::Locations | RouteId::NetworkRegions => Err(ApiError::new(
            500,
            "Internal Server Error",
            "route dispatched twice",
        )),
    }
}

fn order_items(bytes: &Bytes, v4: bool) -> Result<Vec<OrderItem>, ApiError> {
    if v4 {
        let wrapper: BuyV4 = match body::<Value>(bytes)? {
            Value::Object(_) => body(bytes)?,
            _ => {
                return Err(ApiError::bad_request(
                    "Expected {\"networkDesign\": [...], \"discountCodes\": [...]}",
                ));
            }
        };
        Ok(wrapper.network_design)
    } else {
        match body::<Value>(bytes)? {
            Value::Array(_) => body(bytes),
            _ => Err(ApiError::bad_request(
                "Expected a JSON array of order items",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_templates_and_methods() {
        let m = find_route("GET", "/v2/product/abc").expect("route");
        assert_eq!((m.id, m.template), (RouteId::Product, "/v2/product/{uid}"));
        assert_eq!(
            find_route("PUT", "/v2/product/abc/tags").expect("tags").id,
            RouteId::TagsPut
        );
        assert_eq!(
            find_route("PUT", "/v2/product/mcr2/abc")
                .expect("modify")
                .params,
            vec!["mcr2", "abc"]
        );
        assert_eq!(
            find_route("GET", "/v2/product/port/abc/vlan")
                .expect("vlan")
                .id,
            RouteId::PortVlan
        );
        assert_eq!(find_route("DELETE", "/v2/service/key"), Err(true));
        assert_eq!(find_route("GET", "/v9/nothing"), Err(false));
        assert_eq!(find_route("GET", "/v2/product/"), Err(false));
    }

    #[test]
    fn parses_auth_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YTpiOmM="),
        );
        assert_eq!(basic(&h), Some(("a".into(), "b:c".into())));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tok"),
        );
        assert_eq!(bearer(&h), Some("tok"));
    }
}
