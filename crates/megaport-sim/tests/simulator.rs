//! Integration tests of the Megaport API simulator over real HTTP (raw reqwest, as a client
//! speaks it), including the `%3Fkey=` path form megaportgo sends.

use std::time::{Duration, Instant};

use megaport_sim::quantumgpu::*;
use megaport_sim::{FaultSpec, RunningSimulator, Scenario, spawn};
use serde_json::{Value, json};

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(sim: &RunningSimulator) -> Api {
        megaport_sim::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Api {
            http,
            base: sim.base_url(),
        }
    }

    async fn token(&self, id: &str, secret: &str) -> String {
        let resp = self
            .http
            .post(format!("{}/oauth2/token", self.base))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .expect("token request");
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.expect("json");
        v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }
    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }
    async fn put(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(token), Some(body))
            .await
    }
}

async fn start() -> (RunningSimulator, Api) {
    let sim = spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("spawn");
    let api = Api::new(&sim);
    (sim, api)
}

fn assert_envelope(v: &Value) {
    assert!(v["message"].is_string(), "message in {v}");
    assert!(
        v["terms"]
            .as_str()
            .is_some_and(|t| t.contains("Acceptable Use Policy")),
        "terms in {v}"
    );
}

fn find<'a>(list: &'a Value, uid: &str) -> &'a Value {
    list.as_array()
        .and_then(|a| a.iter().find(|p| p["productUid"] == uid))
        .unwrap_or(&Value::Null)
}

async fn create_key(api: &Api, t: &str, body: Value) -> String {
    let (s, v) = api.post("/v2/service/key", t, body).await;
    assert_eq!(s, 200, "{v}");
    v["data"]["key"].as_str().expect("key").to_string()
}

fn use_key_order(key: &str, from: &str, to: &str, rate: u32, b_vlan: Option<u32>) -> Value {
    let mut b_end = json!({"productUid": to});
    if let Some(v) = b_vlan {
        b_end["vlan"] = json!(v);
    }
    json!([{ "productUid": from, "associatedVxcs": [{
        "productName": "acme-to-qgpu", "rateLimit": rate, "term": 1, "shutdown": false,
        "serviceKey": key, "aEnd": {"vlan": 120}, "bEnd": b_end }]}])
}

#[tokio::test]
async fn token_in_body_or_query_and_bad_credentials() {
    let (sim, api) = start().await;
    let url = sim.token_url();
    // megaportgo style: grant_type in the query, empty body.
    let resp = api
        .http
        .post(format!("{url}?grant_type=client_credentials"))
        .basic_auth(PROVIDER_ADMIN_ID, Some(PROVIDER_ADMIN_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 86400);
    // Docs style: grant_type in the form body.
    let ro = api
        .token(PROVIDER_READONLY_ID, PROVIDER_READONLY_SECRET)
        .await;
    assert!(!ro.is_empty());
    let resp = api
        .http
        .post(&url)
        .basic_auth(PROVIDER_ADMIN_ID, Some("wrong"))
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.expect("json"),
        json!({"error": "invalid_client"})
    );
    let resp = api
        .http
        .post(&url)
        .basic_auth(PROVIDER_ADMIN_ID, Some(PROVIDER_ADMIN_SECRET))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400, "grant_type missing");
    let (s, v) = api.get("/v2/products", None).await;
    assert_eq!(s, 401);
    assert_envelope(&v);
    let (s, _) = api.get("/v2/products", Some("not-a-token")).await;
    assert_eq!(s, 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn tokens_expire_on_the_simulated_clock_and_can_be_revoked() {
    let (sim, api) = start().await;
    let ctl = sim.control();
    let ro = api
        .token(PROVIDER_READONLY_ID, PROVIDER_READONLY_SECRET)
        .await;
    assert_eq!(api.get("/v2/products", Some(&ro)).await.0, 200);
    let before = ctl.now().await.expect("now");
    let after = ctl
        .advance_clock(Duration::from_secs(3601))
        .await
        .expect("advance");
    assert!(after - before >= 3_601_000);
    assert_eq!(
        api.get("/v2/products", Some(&ro)).await.0,
        401,
        "read-only tokens live 3600 s"
    );
    ctl.set_token_lifetime(CUSTOMER_ADMIN_ID, 2)
        .await
        .expect("lifetime");
    let t = api.token(CUSTOMER_ADMIN_ID, CUSTOMER_ADMIN_SECRET).await;
    assert_eq!(api.get("/v2/products", Some(&t)).await.0, 200);
    ctl.advance_clock(Duration::from_secs(2))
        .await
        .expect("advance");
    assert_eq!(api.get("/v2/products", Some(&t)).await.0, 401);
    let admin = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    ctl.revoke_tokens().await.expect("revoke");
    assert_eq!(api.get("/v2/products", Some(&admin)).await.0, 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn products_have_the_api_shapes_and_quirks() {
    let (sim, api) = start().await;
    let t = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    let (s, v) = api.get("/v2/products", Some(&t)).await;
    assert_eq!(s, 200);
    assert_envelope(&v);
    let all = v["data"].as_array().expect("array");
    assert_eq!(
        all.len(),
        10,
        "ports + MCR, incl. CONFIGURED and DECOMMISSIONED"
    );
    let port = find(&v["data"], PORT_LAX_EQ1_BLUE);
    assert_eq!(port["productType"], "MEGAPORT");
    assert_eq!(port["vxcpermitted"], true);
    assert!(
        port.get("vxcPermitted").is_none(),
        "ports spell it lower case"
    );
    assert!(port["createDate"].is_i64() && port["terminateDate"].is_null());
    assert!(port["resources"]["interface"].is_object());
    assert_eq!(port["attributeTags"], json!({}));
    assert_eq!(port["diversityZone"], "blue");
    assert_eq!(port["locationId"], 59);
    assert_eq!(port["locationDetail"]["name"], "Equinix LA1");
    let mcr = find(&v["data"], MCR_LAX);
    assert_eq!(mcr["productType"], "MCR2");
    assert_eq!(mcr["vxcPermitted"], true);
    assert_eq!(mcr["maxVxcSpeed"], 5000);
    assert_eq!(find(&v["data"], PORT_SYD_GSW_MGMT)["vxcpermitted"], false);
    // A VXC between two own products is nested under both ends.
    let backbone = "3e4f5a00-8b7c-4d6e-a000-2a3b4c5d0005";
    assert_eq!(find(&mcr["associatedVxcs"], backbone)["productType"], "VXC");
    let nested = find(
        &find(&v["data"], PORT_LAX_CS1_RED)["associatedVxcs"],
        backbone,
    );
    assert_eq!(nested["rateLimit"], 1000);
    assert!(nested["vxcApproval"].is_object() && nested["vxcApproval"]["status"].is_null());
    assert!(nested["resources"]["vll"].is_object());
    // Utilisation differs between the two LA ports.
    let live = |p: &Value| {
        p["associatedVxcs"].as_array().map_or(0, |a| {
            a.iter()
                .filter(|x| x["provisioningStatus"] == "LIVE")
                .count()
        })
    };
    assert_eq!(
        (live(port), live(find(&v["data"], PORT_LAX_CS1_RED))),
        (3, 2)
    );
    // The seed's world: countries and metros of LIVE ports.
    let (_, v) = api
        .get("/v2/products?provisioningStatus=LIVE", Some(&t))
        .await;
    let mut countries: Vec<&str> = v["data"]
        .as_array()
        .expect("a")
        .iter()
        .filter_map(|p| p["locationDetail"]["country"].as_str())
        .collect();
    countries.sort_unstable();
    countries.dedup();
    assert_eq!(countries, ["Australia", "Japan", "UK", "USA"]);
    let mut metros: Vec<&str> = v["data"]
        .as_array()
        .expect("a")
        .iter()
        .filter(|p| p["locationDetail"]["country"] == "USA")
        .filter_map(|p| p["locationDetail"]["metro"].as_str())
        .collect();
    metros.dedup();
    metros.sort_unstable();
    metros.dedup();
    assert_eq!(metros, ["Los Angeles", "New York"]);
    assert!(
        find(&v["data"], PORT_NYC_THC_BLUE).is_null(),
        "CONFIGURED filtered out"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_products_404_and_decommissioned_stay_readable() {
    let (sim, api) = start().await;
    let t = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    let (s, v) = api
        .get("/v2/product/00000000-0000-4000-8000-000000000000", Some(&t))
        .await;
    assert_eq!(s, 404);
    assert_envelope(&v);
    assert!(v["data"].is_string());
    let (s, v) = api
        .get(&format!("/v2/product/{PORT_LAX_EQ1_LEGACY}"), Some(&t))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["provisioningStatus"], "DECOMMISSIONED");
    assert!(v["data"]["terminateDate"].is_i64());
    let (s, v) = api.get("/v9/nothing", Some(&t)).await;
    assert_eq!(s, 404);
    assert_envelope(&v);
    // Another company's port is not visible.
    let acme = api.token(CUSTOMER_ADMIN_ID, CUSTOMER_ADMIN_SECRET).await;
    assert_eq!(
        api.get(&format!("/v2/product/{PORT_LAX_EQ1_BLUE}"), Some(&acme))
            .await
            .0,
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn locations_and_network_regions_need_no_token() {
    let (sim, api) = start().await;
    let (s, v) = api.get("/v3/locations", None).await;
    assert_eq!(s, 200);
    assert_envelope(&v);
    let all = v["data"].as_array().expect("array").len();
    let (_, v) = api
        .get(
            "/v3/locations?locationStatuses=Active&locationStatuses=New",
            None,
        )
        .await;
    let active = v["data"].as_array().expect("array");
    assert_eq!(active.len(), all - 1, "Equinix LA3 is in Deployment");
    let la1 = active.iter().find(|l| l["id"] == 59).expect("59");
    assert_eq!(la1["status"], "Active");
    assert_eq!(la1["market"], "US");
    assert_eq!(
        la1["diversityZones"]["blue"]["megaportSpeedMbps"],
        json!([1000, 10000, 100000])
    );
    for id in [59, 60, 117, 37, 142, 3] {
        assert!(active.iter().any(|l| l["id"] == id), "location {id}");
    }
    let (s, v) = api.get("/v2/networkRegions", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"][0]["networkRegion"], "MP1");
    sim.shutdown().await;
}

#[tokio::test]
async fn service_keys_create_list_lookup() {
    let (sim, api) = start().await;
    let t = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    // megaportgo's body: omitempty fields missing, a stray `ValidFor`.
    let (s, v) = api
        .post(
            "/v2/service/key",
            &t,
            json!({"productUid": PORT_LAX_EQ1_BLUE, "singleUse": true, "maxSpeed": 1000, "vlan": 310,
                   "description": "acme blue", "validFor": {"start": 1_717_000_000_000_i64, "end": null},
                   "ValidFor": {"StartTime": "2024-05-29T16:26:40Z", "EndTime": null}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_envelope(&v);
    let key = v["data"]["key"].as_str().expect("key").to_string();
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("generated"))
    );
    assert_eq!(
        uuid::Uuid::parse_str(&key).expect("uuid").get_version_num(),
        4
    );
    assert_eq!(v["data"]["active"], true, "active defaults to true");
    assert!(v["data"]["createDate"].is_i64());
    assert!(v["data"]["validFor"]["end"].is_null());
    assert_eq!(v["data"]["productDto"]["vxcpermitted"], true);
    // Duplicate VLAN on the same port is accepted (megaportgo staging test).
    let key2 = create_key(
        &api,
        &t,
        json!({"productUid": PORT_LAX_EQ1_BLUE, "singleUse": true, "vlan": 310}),
    )
    .await;
    assert_ne!(key, key2);
    let _other = create_key(
        &api,
        &t,
        json!({"productUid": PORT_LAX_CS1_RED, "singleUse": false, "maxSpeed": 500}),
    )
    .await;
    // List: array, all keys of the company; by product.
    let (s, v) = api.get("/v2/service/key", Some(&t)).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"].as_array().map(Vec::len), Some(3));
    assert!(v["data"][0].get("productDto").is_none());
    let (_, v) = api
        .get(
            &format!("/v2/service/key?productIdOrUid={PORT_LAX_EQ1_BLUE}"),
            Some(&t),
        )
        .await;
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
    let (_, v) = api
        .get("/v2/service/key?productIdOrUid=110002", Some(&t))
        .await;
    assert_eq!(
        v["data"].as_array().map(Vec::len),
        Some(1),
        "numeric product id"
    );
    // Lookup: object; full key, 8-char prefix, and the %3F path form.
    let (s, v) = api
        .get(&format!("/v2/service/key?key={key}"), Some(&t))
        .await;
    assert_eq!(s, 200);
    assert!(v["data"].is_object());
    assert_eq!(v["data"]["vlan"], 310);
    let (s, v) = api
        .get(&format!("/v2/service/key?key={}", &key[..8]), Some(&t))
        .await;
    assert_eq!((s, v["data"]["key"].as_str()), (200, Some(key.as_str())));
    let (s, v) = api
        .get(&format!("/v2/service/key%3Fkey={key}"), Some(&t))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["key"], key.as_str());
    let (s, v) = api
        .get(&format!("/v2/service/key%3fkey={}", &key[..8]), Some(&t))
        .await;
    assert_eq!((s, v["data"]["key"].as_str()), (200, Some(key.as_str())));
    // What went on the wire really was the %3F form.
    let calls = sim.control().calls().await.expect("calls");
    assert!(
        calls
            .iter()
            .any(|c| c.path == "/v2/service/key%3Fkey=<redacted>" && c.query.is_none()),
        "{calls:?}"
    );
    // Not found.
    let (s, v) = api.get("/v2/service/key?key=ffffffff", Some(&t)).await;
    assert_eq!(s, 404);
    assert_envelope(&v);
    // Another company can look the key up but not list it.
    let acme = api.token(CUSTOMER_ADMIN_ID, CUSTOMER_ADMIN_SECRET).await;
    let (s, v) = api
        .get(&format!("/v2/service/key%3Fkey={key}"), Some(&acme))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["companyName"], "QuantumGPU");
    assert_eq!(v["data"]["productDto"]["productUid"], PORT_LAX_EQ1_BLUE);
    let (_, v) = api.get("/v2/service/key", Some(&acme)).await;
    assert_eq!(v["data"], json!([]));
    // No delete.
    assert_eq!(
        api.call(reqwest::Method::DELETE, "/v2/service/key", Some(&t), None)
            .await
            .0,
        405
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn service_key_rules_roles_and_put_reset() {
    let (sim, api) = start().await;
    let t = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    for (body, why) in [
        (
            json!({"productUid": PORT_LAX_EQ1_BLUE, "singleUse": true}),
            "single-use needs a VLAN",
        ),
        (
            json!({"productUid": PORT_LAX_EQ1_BLUE, "singleUse": true, "vlan": 1}),
            "VLAN 1",
        ),
        (
            json!({"productUid": PORT_LAX_EQ1_BLUE, "singleUse": true, "vlan": 4094}),
            "VLAN 4094",
        ),
        (
            json!({"productUid": PORT_LAX_EQ1_BLUE, "maxSpeed": 10001}),
            "above port speed",
        ),
        (
            json!({"productUid": PORT_LAX_EQ1_BLUE, "maxSpeed": 0}),
            "zero speed",
        ),
        (
            json!({"productUid": MCR_LAX, "maxSpeed": 6000}),
            "above maxVxcSpeed",
        ),
        (
            json!({"productUid": PORT_LAX_EQ1_BLUE, "productId": 110001}),
            "both uid and id",
        ),
    ] {
        let (s, v) = api.post("/v2/service/key", &t, body).await;
        assert_eq!(s, 400, "{why}: {v}");
        assert_envelope(&v);
        assert!(v["data"].is_string());
    }
    // maxSpeed as a string (the docs' example) is accepted.
    let k = create_key(
        &api,
        &t,
        json!({"productId": 110001, "maxSpeed": "500", "description": "d", "preApproved": true,
                                        "singleUse": true, "vlan": 42}),
    )
    .await;
    // Read Only: 403 on writes, 200 on reads.
    let ro = api
        .token(PROVIDER_READONLY_ID, PROVIDER_READONLY_SECRET)
        .await;
    let (s, v) = api
        .post(
            "/v2/service/key",
            &ro,
            json!({"productUid": PORT_LAX_EQ1_BLUE}),
        )
        .await;
    assert_eq!(s, 403);
    assert_envelope(&v);
    assert_eq!(
        api.put("/v2/service/key", &ro, json!({"key": k, "active": false}))
            .await
            .0,
        403
    );
    assert_eq!(api.get("/v2/service/key", Some(&ro)).await.0, 200);
    // PUT resets what it omits.
    let (s, v) = api.put("/v2/service/key", &t, json!({"key": k, "productUid": PORT_LAX_EQ1_BLUE, "singleUse": true, "active": false,
                                                         "validFor": {"start": 1_717_000_000_000_i64, "end": null}})).await;
    assert_eq!(s, 200, "{v}");
    let d = &v["data"];
    assert_eq!(
        (
            d["description"].clone(),
            d["maxSpeed"].clone(),
            d["vlan"].clone(),
            d["preApproved"].clone()
        ),
        (Value::Null, json!(10000), Value::Null, Value::Null)
    );
    assert_eq!(
        (d["active"].clone(), d["valid"].clone()),
        (json!(false), json!(false))
    );
    // Full-object PUT restores them.
    let (_, v) = api.put("/v2/service/key", &t, json!({"key": k, "productUid": PORT_LAX_EQ1_BLUE, "singleUse": true, "active": true,
        "maxSpeed": 500, "vlan": 42, "description": "d", "preApproved": true, "validFor": {"start": 1_717_000_000_000_i64, "end": null}})).await;
    assert_eq!(
        (
            v["data"]["maxSpeed"].clone(),
            v["data"]["vlan"].clone(),
            v["data"]["description"].clone()
        ),
        (json!(500), json!(42), json!("d"))
    );
    // Only the owner may update.
    let acme = api.token(CUSTOMER_ADMIN_ID, CUSTOMER_ADMIN_SECRET).await;
    assert_eq!(
        api.put("/v2/service/key", &acme, json!({"key": k, "active": false}))
            .await
            .0,
        403
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn key_validity_follows_the_simulated_clock() {
    let (sim, api) = start().await;
    let ctl = sim.control();
    let t = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    let now = ctl.now().await.expect("now");
    let k = create_key(&api, &t, json!({"productUid": PORT_LAX_EQ1_BLUE, "validFor": {"start": now + 60_000, "end": now + 3_600_000}})).await;
    let (_, v) = api.get(&format!("/v2/service/key?key={k}"), Some(&t)).await;
    assert_eq!(
        (v["data"]["valid"].clone(), v["data"]["expired"].clone()),
        (json!(false), json!(false)),
        "not yet valid"
    );
    let acme = api.token(CUSTOMER_ADMIN_ID, CUSTOMER_ADMIN_SECRET).await;
    let (s, v) = api
        .post(
            "/v3/networkdesign/validate",
            &acme,
            use_key_order(&k, CUSTOMER_PORT_LAX, PORT_LAX_EQ1_BLUE, 100, None),
        )
        .await;
    assert_eq!(
        (s, v["data"].as_str()),
        (400, Some("Service key is not valid yet"))
    );
    ctl.advance_clock(Duration::from_secs(120))
        .await
        .expect("advance");
    let (_, v) = api.get(&format!("/v2/service/key?key={k}"), Some(&t)).await;
    assert_eq!(v["data"]["valid"], true);
    let (s, v) = api
        .post(
            "/v3/networkdesign/validate",
            &acme,
            use_key_order(&k, CUSTOMER_PORT_LAX, PORT_LAX_EQ1_BLUE, 100, None),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["message"], "Validation passed");
    ctl.advance_clock(Duration::from_secs(3600))
        .await
        .expect("advance");
    let (_, v) = api.get(&format!("/v2/service/key?key={k}"), Some(&t)).await;
    assert_eq!(
        (v["data"]["valid"].clone(), v["data"]["expired"].clone()),
        (json!(false), json!(true))
    );
    let (s, v) = api
        .post(
            "/v3/networkdesign/validate",
            &acme,
            use_key_order(&k, CUSTOMER_PORT_LAX, PORT_LAX_EQ1_BLUE, 100, None),
        )
        .await;
    assert_eq!(
        (s, v["data"].as_str()),
        (400, Some("Service key has expired"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn customer_uses_a_single_use_key() {
    let (sim, api) = start().await;
    let ctl = sim.control();
    let qgpu = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    let acme = api.token(CUSTOMER_ADMIN_ID, CUSTOMER_ADMIN_SECRET).await;
    let k = create_key(
        &api,
        &qgpu,
        json!({"productUid": PORT_LAX_EQ1_BLUE, "singleUse": true, "vlan": 310, "maxSpeed": 1000}),
    )
    .await;
    // Validate performs the checks without effects.
    let (s, v) = api
        .post(
            "/v3/networkdesign/validate",
            &acme,
            use_key_order(&k, CUSTOMER_PORT_LAX, PORT_LAX_EQ1_BLUE, 2000, None),
        )
        .await;
    assert_eq!(s, 400, "rate above maxSpeed: {v}");
    let (s, _) = api
        .post(
            "/v3/networkdesign/validate",
            &acme,
            use_key_order(&k, CUSTOMER_PORT_LAX, PORT_LAX_EQ1_BLUE, 500, None),
        )
        .await;
    assert_eq!(s, 200);
    // Buy (v4 wrapper).
    let order = json!({"networkDesign": use_key_order(&k, CUSTOMER_PORT_LAX, PORT_LAX_EQ1_BLUE, 500, None), "discountCodes": []});
    let (s, v) = api
        .post("/v4/networkdesign/buy", &acme, order.clone())
        .await;
    assert_eq!(s, 200, "{v}");
    let o = &v["data"][0];
    let vxc_uid = o["vxcJTechnicalServiceUid"]
        .as_str()
        .expect("uid")
        .to_string();
    assert_eq!(
        (
            o["payerVlanId"].clone(),
            o["nonPayerVlanId"].clone(),
            o["fullyApproved"].clone()
        ),
        (json!(120), json!(310), json!(false))
    );
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("VXC ["))
    );
    // The key is consumed but stays listed and active.
    let (_, v) = api
        .get(&format!("/v2/service/key?key={k}"), Some(&qgpu))
        .await;
    assert_eq!(
        (v["data"]["valid"].clone(), v["data"]["active"].clone()),
        (json!(false), json!(true))
    );
    assert!(v["data"]["lastUsed"].is_i64());
    let (s, v) = api.post("/v4/networkdesign/buy", &acme, order).await;
    assert_eq!(
        (s, v["message"].as_str(), v["data"].as_str()),
        (
            400,
            Some("Validation failed"),
            Some("Service key has already been used")
        )
    );
    // The provider sees the VXC under the keyed port, pending its approval.
    let (_, v) = api.get("/v2/products", Some(&qgpu)).await;
    let vxc = find(
        &find(&v["data"], PORT_LAX_EQ1_BLUE)["associatedVxcs"],
        &vxc_uid,
    )
    .clone();
    assert_eq!(vxc["aEnd"]["ownerUid"], CUSTOMER_COMPANY_UID);
    assert_eq!(vxc["bEnd"]["ownerUid"], PROVIDER_COMPANY_UID);
    assert_eq!(vxc["bEnd"]["vlan"], 310);
    assert_eq!(vxc["companyName"], "Acme Robotics");
    assert_eq!(vxc["vxcApproval"]["status"], "PENDING_EXTERNAL");
    assert_eq!(vxc["provisioningStatus"], "DEPLOYABLE");
    // ... and the customer sees it under its own port.
    let (_, v) = api.get("/v2/products", Some(&acme)).await;
    assert_eq!(
        find(
            &find(&v["data"], CUSTOMER_PORT_LAX)["associatedVxcs"],
            &vxc_uid
        )["productType"],
        "VXC"
    );
    // The buyer cannot approve; the provider can; then it provisions on the clock.
    assert_eq!(
        api.put(
            &format!("/v3/product/vxc/{vxc_uid}"),
            &acme,
            json!({"isApproved": true})
        )
        .await
        .0,
        403
    );
    let (s, v) = api
        .put(
            &format!("/v3/product/vxc/{vxc_uid}"),
            &qgpu,
            json!({"isApproved": true}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["technicalServiceUid"], vxc_uid.as_str());
    ctl.advance_clock(Duration::from_secs(61))
        .await
        .expect("advance");
    let (_, v) = api
        .get(&format!("/v2/product/{vxc_uid}"), Some(&qgpu))
        .await;
    assert_eq!(v["data"]["provisioningStatus"], "LIVE");
    assert!(v["data"]["vxcApproval"]["status"].is_null());
    // The customer modifies the rate limit.
    let (s, v) = api
        .put(
            &format!("/v3/product/vxc/{vxc_uid}"),
            &acme,
            json!({"rateLimit": 800, "name": "renamed"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = api
        .get(&format!("/v2/product/{vxc_uid}"), Some(&acme))
        .await;
    assert_eq!(
        (
            v["data"]["rateLimit"].clone(),
            v["data"]["productName"].clone()
        ),
        (json!(800), json!("renamed"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn key_use_rejections_vlan_taken_markets_and_permissions() {
    let (sim, api) = start().await;
    let ctl = sim.control();
    let qgpu = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    let acme = api.token(CUSTOMER_ADMIN_ID, CUSTOMER_ADMIN_SECRET).await;
    // A single-use key whose VLAN is already used by an existing VXC on the port.
    let clash = create_key(
        &api,
        &qgpu,
        json!({"productUid": PORT_LAX_EQ1_BLUE, "singleUse": true, "vlan": 101}),
    )
    .await;
    let (s, v) = api
        .post(
            "/v3/networkdesign/buy",
            &acme,
            use_key_order(&clash, CUSTOMER_PORT_LAX, PORT_LAX_EQ1_BLUE, 100, None),
        )
        .await;
    assert_eq!((s, v["message"].as_str()), (400, Some("Validation failed")));
    assert!(
        v["data"].as_str().is_some_and(|d| d.contains("VLAN 101")),
        "{v}"
    );
    // Multi-use, pre-approved: explicit B-end VLAN taken → 400; auto-assigned otherwise.
    let multi = create_key(
        &api,
        &qgpu,
        json!({"productUid": PORT_LAX_EQ1_BLUE, "preApproved": true, "maxSpeed": 1000}),
    )
    .await;
    let (s, _) = api
        .post(
            "/v3/networkdesign/buy",
            &acme,
            use_key_order(&multi, CUSTOMER_PORT_LAX, PORT_LAX_EQ1_BLUE, 100, Some(102)),
        )
        .await;
    assert_eq!(s, 400);
    let (s, v) = api
        .post(
            "/v3/networkdesign/buy",
            &acme,
            use_key_order(&multi, CUSTOMER_PORT_LAX, PORT_LAX_EQ1_BLUE, 100, Some(555)),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["data"][0]["nonPayerVlanId"].clone(),
            v["data"][0]["fullyApproved"].clone()
        ),
        (json!(555), json!(true))
    );
    // Same A-end VLAN again on the customer's port → 400; A-end auto (0) → next free.
    let (s, v) = api
        .post(
            "/v3/networkdesign/buy",
            &acme,
            use_key_order(&multi, CUSTOMER_PORT_LAX, PORT_LAX_EQ1_BLUE, 100, None),
        )
        .await;
    assert_eq!(s, 400, "A-End VLAN 120 is taken: {v}");
    let mut order = use_key_order(&multi, CUSTOMER_PORT_LAX, PORT_LAX_EQ1_BLUE, 100, None);
    order[0]["associatedVxcs"][0]["aEnd"]["vlan"] = json!(0);
    let (s, v) = api.post("/v3/networkdesign/buy", &acme, order).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["nonPayerVlanId"], 2, "auto-assigned");
    assert_eq!(v["data"][0]["payerVlanId"], 2, "auto-assigned");
    // The customer has no UK market.
    let (s, v) = api
        .post(
            "/v3/networkdesign/buy",
            &acme,
            use_key_order(&multi, CUSTOMER_PORT_LON, PORT_LAX_EQ1_BLUE, 100, None),
        )
        .await;
    assert_eq!((s, v["data"].as_str()), (400, Some("Missing markets: UK")));
    // vxcPermitted false on the B end.
    ctl.set_vxc_permitted(PORT_LAX_EQ1_BLUE, false)
        .await
        .expect("set");
    let (s, v) = api
        .post(
            "/v3/networkdesign/validate",
            &acme,
            use_key_order(&multi, CUSTOMER_PORT_LAX, PORT_LAX_EQ1_BLUE, 100, None),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    ctl.set_vxc_permitted(PORT_LAX_EQ1_BLUE, true)
        .await
        .expect("set");
    // Deactivated keys cannot be used.
    api.put(
        "/v2/service/key",
        &qgpu,
        json!({"key": multi, "productUid": PORT_LAX_EQ1_BLUE, "singleUse": false, "active": false}),
    )
    .await;
    let (s, v) = api
        .post(
            "/v3/networkdesign/validate",
            &acme,
            use_key_order(&multi, CUSTOMER_PORT_LAX, PORT_LAX_EQ1_BLUE, 100, None),
        )
        .await;
    assert_eq!(
        (s, v["data"].as_str()),
        (400, Some("Service key is not active"))
    );
    // No key, foreign B end → 400.
    let order = json!([{ "productUid": CUSTOMER_PORT_LAX, "associatedVxcs": [{"productName": "x", "rateLimit": 100, "term": 1,
        "aEnd": {"vlan": 0}, "bEnd": {"productUid": PORT_LAX_EQ1_BLUE}}]}]);
    assert_eq!(
        api.post("/v3/networkdesign/validate", &acme, order).await.0,
        400
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn network_design_validate_buy_and_provisioning() {
    let (sim, api) = start().await;
    let ctl = sim.control();
    let t = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    let port = json!({"productName": "qgpu-lax-eq1-red-2", "productType": "MEGAPORT", "term": 12, "portSpeed": 10000,
        "locationId": 59, "market": "US", "marketplaceVisibility": true, "virtual": false, "createDate": 0,
        "config": {"diversityZone": "red"}, "resourceTags": [{"key": "k8s-uid", "value": "abc"}]});
    let (s, v) = api
        .post("/v3/networkdesign/validate", &t, json!([port.clone()]))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["message"], "Validation passed");
    let q = &v["data"][0];
    assert_eq!(
        (
            q["price"]["monthlyRackRate"].clone(),
            q["price"]["monthlyRate"].clone()
        ),
        (json!(1000.0), json!(950.0))
    );
    assert_eq!(
        (
            q["price"]["currency"].clone(),
            q["string"].clone(),
            q["market"].clone()
        ),
        (json!("USD"), json!("Los Angeles"), json!("US"))
    );
    // v4 requires the wrapper, v3 the bare array.
    assert_eq!(
        api.post("/v4/networkdesign/buy", &t, json!([port.clone()]))
            .await
            .0,
        400
    );
    let (s, v) = api
        .post(
            "/v4/networkdesign/buy",
            &t,
            json!({"networkDesign": [port], "discountCodes": []}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let uid = v["data"][0]["technicalServiceUid"]
        .as_str()
        .expect("uid")
        .to_string();
    assert_eq!(v["data"][0]["provisioningStatus"], "DEPLOYABLE");
    assert_eq!(v["message"], format!("MEGAPORT [{uid}] created."));
    let status = |v: &Value| {
        v["data"]["provisioningStatus"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        status(&api.get(&format!("/v2/product/{uid}"), Some(&t)).await.1),
        "DEPLOYABLE"
    );
    ctl.advance_clock(Duration::from_secs(30))
        .await
        .expect("advance");
    assert_eq!(
        status(&api.get(&format!("/v2/product/{uid}"), Some(&t)).await.1),
        "CONFIGURED"
    );
    ctl.advance_clock(Duration::from_secs(30))
        .await
        .expect("advance");
    let (_, v) = api.get(&format!("/v2/product/{uid}"), Some(&t)).await;
    assert_eq!(status(&v), "LIVE");
    assert!(v["data"]["liveDate"].is_i64());
    let (_, v) = api.get(&format!("/v2/product/{uid}/tags"), Some(&t)).await;
    assert_eq!(
        v["data"],
        json!({"resourceTags": [{"key": "k8s-uid", "value": "abc"}]})
    );
    // v3 buy of an MCR and a VXC between own products.
    let mcr = json!([{"productName": "qgpu-mcr-lax-2", "productType": "MCR2", "term": 1, "portSpeed": 2500, "locationId": 60,
                      "config": {"mcrAsn": 64999}}]);
    let (s, v) = api.post("/v3/networkdesign/buy", &t, mcr).await;
    assert_eq!(s, 200, "{v}");
    let mcr_uid = v["data"][0]["technicalServiceUid"]
        .as_str()
        .expect("uid")
        .to_string();
    let vxc = json!([{"productUid": mcr_uid, "associatedVxcs": [{"productName": "mcr-to-port", "rateLimit": 1000, "term": 1,
        "aEnd": {"vlan": 0}, "bEnd": {"productUid": uid, "vlan": 700}}]}]);
    let (s, v) = api.post("/v3/networkdesign/buy", &t, vxc).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["fullyApproved"], true);
    let vxc_uid = v["data"][0]["vxcJTechnicalServiceUid"]
        .as_str()
        .expect("uid")
        .to_string();
    let (_, v) = api.get("/v2/products", Some(&t)).await;
    assert_eq!(
        find(&find(&v["data"], &uid)["associatedVxcs"], &vxc_uid)["bEnd"]["vlan"],
        700
    );
    assert_eq!(
        find(&find(&v["data"], &mcr_uid)["associatedVxcs"], &vxc_uid)["aEnd"]["vlan"],
        2
    );
    // Validation failures.
    let bad = json!([{"productName": "p", "productType": "MEGAPORT", "term": 7, "portSpeed": 10000, "locationId": 59}]);
    assert_eq!(api.post("/v3/networkdesign/validate", &t, bad).await.0, 400);
    let acme = api.token(CUSTOMER_ADMIN_ID, CUSTOMER_ADMIN_SECRET).await;
    let london = json!([{"productName": "p", "productType": "MEGAPORT", "term": 1, "portSpeed": 10000, "locationId": 37}]);
    let (s, v) = api.post("/v3/networkdesign/validate", &acme, london).await;
    assert_eq!(
        (s, v["message"].as_str(), v["data"].as_str()),
        (400, Some("Validation failed"), Some("Missing markets: UK"))
    );
    let ro = api
        .token(PROVIDER_READONLY_ID, PROVIDER_READONLY_SECRET)
        .await;
    assert_eq!(
        api.post("/v3/networkdesign/buy", &ro, json!([])).await.0,
        403
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn actions_tags_modify_vlan_and_markets() {
    let (sim, api) = start().await;
    let t = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    // Actions: message only, no data.
    let (s, v) = api
        .post(
            &format!("/v3/product/{PORT_LON_THN_RED}/action/CANCEL"),
            &t,
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    assert_envelope(&v);
    assert!(v.get("data").is_none());
    let get_status = |v: Value| {
        v["data"]["provisioningStatus"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        get_status(
            api.get(&format!("/v2/product/{PORT_LON_THN_RED}"), Some(&t))
                .await
                .1
        ),
        "CANCELLED"
    );
    api.post(
        &format!("/v3/product/{PORT_LON_THN_RED}/action/UN_CANCEL"),
        &t,
        json!({}),
    )
    .await;
    assert_eq!(
        get_status(
            api.get(&format!("/v2/product/{PORT_LON_THN_RED}"), Some(&t))
                .await
                .1
        ),
        "LIVE"
    );
    let (s, _) = api
        .post(
            &format!("/v3/product/{PORT_LON_THN_RED}/action/CANCEL_NOW"),
            &t,
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        get_status(
            api.get(&format!("/v2/product/{PORT_LON_THN_RED}"), Some(&t))
                .await
                .1
        ),
        "DECOMMISSIONED"
    );
    let (_, v) = api.get("/v2/products", Some(&t)).await;
    assert_eq!(
        find(&v["data"], PORT_LON_THN_RED)["provisioningStatus"],
        "DECOMMISSIONED"
    );
    assert_eq!(
        api.post(
            &format!("/v3/product/{PORT_LAX_EQ1_BLUE}/action/CANCEL_NOW?safeDelete=true"),
            &t,
            json!({})
        )
        .await
        .0,
        400
    );
    // Tags: PUT replaces the set.
    let path = format!("/v2/product/{PORT_SYD_GSW_RED}/tags");
    let (s, _) = api
        .put(
            &path,
            &t,
            json!({"resourceTags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]}),
        )
        .await;
    assert_eq!(s, 200);
    api.put(
        &path,
        &t,
        json!({"resourceTags": [{"key": "c", "value": "3"}]}),
    )
    .await;
    assert_eq!(
        api.get(&path, Some(&t)).await.1["data"],
        json!({"resourceTags": [{"key": "c", "value": "3"}]})
    );
    // Modify a port (service shape back).
    let (s, v) = api.put(&format!("/v2/product/megaport/{PORT_SYD_GSW_RED}"), &t,
        json!({"name": "qgpu-syd-renamed", "costCentre": "cc-1", "marketplaceVisibility": false, "ProductID": 1})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["data"]["technicalServiceUid"].as_str(),
            v["data"]["vxcPermitted"].as_bool()
        ),
        (Some(PORT_SYD_GSW_RED), Some(true))
    );
    let (_, v) = api
        .get(&format!("/v2/product/{PORT_SYD_GSW_RED}"), Some(&t))
        .await;
    assert_eq!(
        (
            v["data"]["productName"].clone(),
            v["data"]["costCentre"].clone()
        ),
        (json!("qgpu-syd-renamed"), json!("cc-1"))
    );
    assert_eq!(
        api.put(
            &format!("/v2/product/mcr2/{PORT_SYD_GSW_RED}"),
            &t,
            json!({"name": "x"})
        )
        .await
        .0,
        404
    );
    // VLAN check.
    let (_, v) = api
        .get(
            &format!("/v2/product/port/{PORT_LAX_EQ1_BLUE}/vlan?vlan=101"),
            Some(&t),
        )
        .await;
    assert_eq!(v["data"], json!([]));
    let (_, v) = api
        .get(
            &format!("/v2/product/port/{PORT_LAX_EQ1_BLUE}/vlan?vlan=310"),
            Some(&t),
        )
        .await;
    assert_eq!(v["data"], json!([310]));
    // Billing markets.
    let (_, v) = api.get("/v2/market", Some(&t)).await;
    assert_eq!(v["data"].as_array().map(Vec::len), Some(4));
    // Test controls change the world.
    sim.control()
        .set_product_status(PORT_NYC_THC_BLUE, "LIVE")
        .await
        .expect("status");
    assert_eq!(
        get_status(
            api.get(&format!("/v2/product/{PORT_NYC_THC_BLUE}"), Some(&t))
                .await
                .1
        ),
        "LIVE"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_status_retry_after_latency_drop_and_times() {
    let (sim, api) = start().await;
    let ctl = sim.control();
    let t = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    ctl.inject_fault(
        &FaultSpec::status(429)
            .path("/v2/products")
            .retry_after("2")
            .times(1),
    )
    .await
    .expect("fault");
    let resp = api
        .http
        .get(format!("{}/v2/products", api.base))
        .bearer_auth(&t)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 429);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|h| h.to_str().ok()),
        Some("2")
    );
    let v: Value = resp.json().await.expect("json");
    assert_envelope(&v);
    assert_eq!(
        api.get("/v2/products", Some(&t)).await.0,
        200,
        "times: 1 ran out"
    );
    // 503 with custom data, on one method only.
    ctl.inject_fault(
        &FaultSpec::status(503)
            .method("POST")
            .path("/v2/service/key")
            .data(json!({"detail": "maintenance"})),
    )
    .await
    .expect("fault");
    let (s, v) = api
        .post(
            "/v2/service/key",
            &t,
            json!({"productUid": PORT_LAX_EQ1_BLUE}),
        )
        .await;
    assert_eq!(
        (s, v["data"].clone()),
        (503, json!({"detail": "maintenance"}))
    );
    assert_eq!(api.get("/v2/service/key", Some(&t)).await.0, 200);
    ctl.clear_faults().await.expect("clear");
    // Latency.
    ctl.inject_fault(&FaultSpec::latency(300).path("/v2/market").times(1))
        .await
        .expect("fault");
    let started = Instant::now();
    assert_eq!(api.get("/v2/market", Some(&t)).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Drop: no response at all; the token endpoint can be faulted too.
    ctl.inject_fault(&FaultSpec::drop_connection().path("/oauth2/token").times(1))
        .await
        .expect("fault");
    let r = api
        .http
        .post(sim.token_url())
        .basic_auth(PROVIDER_ADMIN_ID, Some(PROVIDER_ADMIN_SECRET))
        .body("grant_type=client_credentials")
        .send()
        .await;
    assert!(r.is_err(), "connection dropped");
    let _ = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    // Lost answer: the key is created, the caller gets no answer.
    let keys_before = api
        .get(
            &format!("/v2/service/key?productIdOrUid={PORT_LAX_CS1_RED}"),
            Some(&t),
        )
        .await
        .1["data"]
        .as_array()
        .map_or(0, Vec::len);
    ctl.inject_fault(
        &FaultSpec::lost_answer(100)
            .method("POST")
            .path("/v2/service/key")
            .times(1),
    )
    .await
    .expect("fault");
    let r = api
        .http
        .post(format!("{}/v2/service/key", api.base))
        .bearer_auth(&t)
        .json(&json!({"productUid": PORT_LAX_CS1_RED, "singleUse": false, "maxSpeed": 100}))
        .send()
        .await;
    assert!(r.is_err(), "the answer is lost");
    let keys_after = api
        .get(
            &format!("/v2/service/key?productIdOrUid={PORT_LAX_CS1_RED}"),
            Some(&t),
        )
        .await
        .1["data"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(keys_after, keys_before + 1, "but the key was created");
    // Every request that reached a route is counted, faulted ones included; /_sim is never faulted.
    ctl.inject_fault(&FaultSpec::status(500))
        .await
        .expect("fault");
    assert_eq!(ctl.counter("GET /v2/products").await.expect("counter"), 2);
    ctl.clear_faults().await.expect("clear");
    let calls = ctl.calls().await.expect("calls");
    assert!(
        calls
            .iter()
            .any(|c| c.path == "/oauth2/token" && c.status == 0),
        "drop recorded with status 0"
    );
    assert!(calls.iter().any(|c| c.path == "/v2/products"
        && c.status == 429
        && c.client_id.as_deref() == Some(PROVIDER_ADMIN_ID)));
    assert_eq!(ctl.counter("POST /oauth2/token").await.expect("counter"), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn counters_and_call_log_hold_no_secrets() {
    let (sim, api) = start().await;
    let ctl = sim.control();
    let t = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    let k = create_key(&api, &t, json!({"productUid": PORT_LAX_EQ1_BLUE})).await;
    api.get(&format!("/v2/service/key?key={k}"), Some(&t)).await;
    api.get(&format!("/v2/service/key%3Fkey={}", &k[..8]), Some(&t))
        .await;
    api.get(&format!("/v2/product/{PORT_LAX_EQ1_BLUE}"), Some(&t))
        .await;
    api.get(&format!("/v2/product/{PORT_LAX_CS1_RED}"), Some(&t))
        .await;
    let counters = ctl.counters().await.expect("counters");
    assert_eq!(counters.get("GET /v2/product/{uid}"), Some(&2));
    assert_eq!(counters.get("GET /v2/service/key"), Some(&2));
    assert_eq!(counters.get("POST /v2/service/key"), Some(&1));
    let calls = ctl.calls().await.expect("calls");
    let text = serde_json::to_string(&calls).expect("json");
    for secret in [PROVIDER_ADMIN_SECRET, t.as_str(), k.as_str(), &k[..8]] {
        assert!(!text.contains(secret), "call log leaks a secret: {text}");
    }
    assert!(calls.windows(2).all(|w| w[0].seq < w[1].seq));
    ctl.reset().await.expect("reset");
    assert!(ctl.calls().await.expect("calls").is_empty());
    assert_eq!(
        api.get("/v2/products", Some(&t)).await.0,
        401,
        "reset forgets tokens"
    );
    let t = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    assert_eq!(
        api.get("/v2/service/key", Some(&t)).await.1["data"],
        json!([]),
        "reset reloads the scenario"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn example_scenario_file_serves() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/simulator/scenario.yaml"
    );
    let scenario = Scenario::load(path).expect("example scenario");
    let sim = spawn(scenario, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("spawn");
    let api = Api::new(&sim);
    let t = api.token("sp-admin", "sp-admin-secret").await;
    let (_, v) = api.get("/v2/service/key", Some(&t)).await;
    assert_eq!(v["data"][0]["key"], "5d3c2b1a-0f9e-4d8c-b7a6-112233445566");
    let (_, v) = api.get("/v2/products", Some(&t)).await;
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
    let c = api.token("cust-admin", "cust-admin-secret").await;
    let (s, v) = api
        .post(
            "/v3/networkdesign/buy",
            &c,
            use_key_order(
                "5d3c2b1a-0f9e-4d8c-b7a6-112233445566",
                "33333333-3333-4333-8333-333333333333",
                "11111111-1111-4111-8111-111111111111",
                500,
                None,
            ),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["fullyApproved"], true, "pre-approved key");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_locked_port_refuses_modification_and_unknown_sub_paths_are_404() {
    let (sim, api) = start().await;
    let t = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    let lock = format!("/v2/product/{PORT_LAX_EQ1_BLUE}/lock");
    let (s, _) = api.call(reqwest::Method::POST, &lock, Some(&t), None).await;
    assert_eq!(s, 200);
    let (_, v) = api
        .get(&format!("/v2/product/{PORT_LAX_EQ1_BLUE}"), Some(&t))
        .await;
    assert_eq!(v["data"]["locked"], true);
    let rename = json!({"name": "renamed"});
    let (s, v) = api
        .put(
            &format!("/v2/product/megaport/{PORT_LAX_EQ1_BLUE}"),
            &t,
            rename.clone(),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap_or_default().contains("locked")
            || v["data"].to_string().contains("locked"),
        "{v}"
    );
    let (s, _) = api
        .call(reqwest::Method::DELETE, &lock, Some(&t), None)
        .await;
    assert_eq!(s, 200);
    let (s, v) = api
        .put(
            &format!("/v2/product/megaport/{PORT_LAX_EQ1_BLUE}"),
            &t,
            rename,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // An unknown sub-path of a known prefix is 404 (not 405 because it fits a template).
    let (s, v) = api
        .call(
            reqwest::Method::POST,
            &format!("/v2/product/{PORT_LAX_EQ1_BLUE}/nonsense"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 404, "{v}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_key_without_validity_lists_none_and_updates_per_service_are_limited() {
    let (sim, api) = start().await;
    let t = api.token(PROVIDER_ADMIN_ID, PROVIDER_ADMIN_SECRET).await;
    // Created without validFor: listed with `validFor: null`, valid from now on.
    let key = create_key(
        &api,
        &t,
        json!({"productUid": PORT_LAX_EQ1_BLUE, "singleUse": false, "maxSpeed": 100}),
    )
    .await;
    let (_, v) = api
        .get(&format!("/v2/service/key?key={key}"), Some(&t))
        .await;
    assert!(v["data"]["validFor"].is_null(), "{v}");
    assert_eq!(v["data"]["valid"], true);
    // The limit on updates per service: off by default, then on (one per 300 s).
    let update =
        json!({"key": key, "productUid": PORT_LAX_EQ1_BLUE, "singleUse": false, "maxSpeed": 200});
    let (s, _) = api.put("/v2/service/key", &t, update.clone()).await;
    assert_eq!(s, 200);
    let control = sim.control();
    control
        .set_limits(json!({"serviceUpdates": {"enabled": true}}))
        .await
        .unwrap();
    let (s, _) = api.put("/v2/service/key", &t, update.clone()).await;
    assert_eq!(s, 200, "the first update counted");
    let (s, v) = api.put("/v2/service/key", &t, update.clone()).await;
    assert_eq!(s, 400, "{v}");
    let message = v.to_string();
    assert!(message.contains("once every 300s"), "{message}");
    assert!(
        !message.contains(&key),
        "the refusal names no key: {message}"
    );
    let rename = json!({"name": "renamed"});
    let port = format!("/v2/product/megaport/{PORT_LAX_EQ1_BLUE}");
    assert_eq!(
        api.put(&port, &t, rename.clone()).await.0,
        200,
        "per service"
    );
    assert_eq!(api.put(&port, &t, rename.clone()).await.0, 400);
    // Five simulated minutes later both may change again.
    control
        .advance_clock(Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(api.put("/v2/service/key", &t, update).await.0, 200);
    assert_eq!(api.put(&port, &t, rename).await.0, 200);
    let limits = control.limits().await.unwrap();
    assert_eq!(limits["serviceUpdates"]["refused"], 2, "{limits}");
    sim.shutdown().await;
}
