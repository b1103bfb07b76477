//! The Megaport client against the simulator (in-process, random port): every endpoint, token
//! refresh and 401 recovery, 429 + Retry-After, 5xx retries, error shapes, not-found forms,
//! PUT full-object semantics, and that no secret reaches `Debug` output or errors.

// Test helpers unwrap freely: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use megaport_operator::megaport::models::{
    CreateServiceKey, OrderConfig, OrderItem, PortOrder, ProductAction, ProductType, ResourceTag,
    ServiceKeyValue, UpdateServiceKey, ValidFor, VxcOrder, VxcOrderEnd, VxcOrderLine, VxcUpdate,
};
use megaport_operator::megaport::prelude::*;
use megaport_operator::megaport::{
    ClientConfig, Credentials, Environment, ErrorData, MegaportClient, MegaportError, RetryConfig,
};
use megaport_sim::{FaultSpec, RunningSimulator, Scenario, quantumgpu};
use serde_json::json;

const TOKEN: &str = "POST /oauth2/token";
const PRODUCTS: &str = "GET /v2/products";

async fn sim() -> RunningSimulator {
    megaport_sim::spawn(Scenario::quantumgpu(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn config(sim: &RunningSimulator, id: &str, secret: &str) -> ClientConfig {
    let env = Environment::custom(&sim.base_url(), &sim.token_url()).unwrap();
    let mut config = ClientConfig::new(env, Credentials::new(id, secret));
    config.requests_per_window = 100_000;
    config.retry = RetryConfig {
        max_retries: 3,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(5),
    };
    config
}

/// The provider's configuration with no retries (a refusal is seen as it is).
fn provider_config_once(sim: &RunningSimulator) -> ClientConfig {
    let mut cfg = config(
        sim,
        quantumgpu::PROVIDER_ADMIN_ID,
        quantumgpu::PROVIDER_ADMIN_SECRET,
    );
    cfg.retry.max_retries = 0;
    cfg
}

fn provider(sim: &RunningSimulator) -> MegaportClient {
    MegaportClient::new(config(
        sim,
        quantumgpu::PROVIDER_ADMIN_ID,
        quantumgpu::PROVIDER_ADMIN_SECRET,
    ))
    .unwrap()
}

fn customer(sim: &RunningSimulator) -> MegaportClient {
    MegaportClient::new(config(
        sim,
        quantumgpu::CUSTOMER_ADMIN_ID,
        quantumgpu::CUSTOMER_ADMIN_SECRET,
    ))
    .unwrap()
}

fn fault(path: &str, status: u16) -> FaultSpec {
    FaultSpec::status(status).path(path)
}

/// The provider's LIVE Los Angeles port at `location_id`.
async fn la_port(
    client: &MegaportClient,
    location_id: i64,
) -> megaport_operator::megaport::models::Product {
    client
        .list_products(None)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.location_id == Some(location_id) && p.provisioning_status.is_live())
        .unwrap_or_else(|| panic!("no LIVE port at location {location_id}"))
}

fn key_request(port_uid: &str, vlan: u16, description: &str) -> CreateServiceKey {
    let now = jiff::Timestamp::now().as_millisecond();
    CreateServiceKey {
        product_uid: port_uid.into(),
        single_use: true,
        max_speed: 500,
        active: true,
        pre_approved: true,
        description: Some(description.into()),
        vlan: Some(vlan),
        valid_for: Some(ValidFor {
            start: Some(megaport_operator::megaport::models::EpochMillis(now - 1000)),
            end: Some(megaport_operator::megaport::models::EpochMillis(
                now + 86_400_000,
            )),
        }),
    }
}

#[tokio::test]
async fn products_locations_and_the_seed_world() {
    let sim = sim().await;
    let client = provider(&sim);
    let products = client.list_products(None).await.unwrap();
    let ports: Vec<_> = products
        .iter()
        .filter(|p| p.product_type == ProductType::Megaport)
        .collect();
    assert!(
        ports.len() >= 6,
        "expected the seed's ports, got {}",
        ports.len()
    );
    // The quirks decode: lower-case vxcpermitted on ports, nested VXCs, epoch-ms dates.
    assert!(
        ports.iter().all(|p| p.vxc_permitted().is_some()),
        "vxcpermitted missing"
    );
    assert!(ports.iter().any(|p| p.vxc_permitted() == Some(false)));
    assert!(ports.iter().any(|p| !p.provisioning_status.is_live()));
    assert!(ports.iter().any(|p| !p.associated_vxcs.is_empty()));
    assert!(ports.iter().all(|p| p.create_date.is_some()));

    let la1 = la_port(&client, 59).await;
    assert_eq!(la1.diversity_zone.as_deref(), Some("blue"));
    let la2 = la_port(&client, 60).await;
    assert_eq!(la2.diversity_zone.as_deref(), Some("red"));

    let live = client.list_products(Some("LIVE")).await.unwrap();
    assert!(live.iter().all(|p| p.provisioning_status.is_live()));
    assert!(live.len() < products.len());

    let one = client.get_product(&la1.product_uid).await.unwrap();
    assert_eq!(one.product_uid, la1.product_uid);
    assert_eq!(
        one.location_detail.and_then(|d| d.metro).as_deref(),
        Some("Los Angeles")
    );

    let locations = client.list_locations().await.unwrap();
    for id in [59, 60] {
        let loc = locations
            .iter()
            .find(|l| l.id == id)
            .expect("location listed");
        assert_eq!(loc.metro.as_deref(), Some("Los Angeles"));
    }

    let markets = client.list_billing_markets().await.unwrap();
    assert!(!markets.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn not_found_in_both_forms() {
    let sim = sim().await;
    let client = provider(&sim);
    let err = client
        .get_product("00000000-0000-4000-8000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(err.is_not_found() && !err.is_retryable(), "{err}");

    // The older form: 400 with "Could not find a service with UID" in the message.
    let mut old = fault("/v2/product/", 400);
    old.message = Some("Could not find a service with UID 1234".into());
    sim.control().inject_fault(&old).await.unwrap();
    let err = client
        .get_product("00000000-0000-4000-8000-000000000001")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.is_not_found(), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn service_key_lifecycle_and_full_object_put() {
    let sim = sim().await;
    let client = provider(&sim);
    let port = la_port(&client, 59).await;

    let created = client
        .create_service_key(&key_request(&port.product_uid, 100, "marker-1"))
        .await
        .unwrap();
    assert_eq!(created.vlan, Some(100));
    assert_eq!(created.max_speed, Some(500));
    assert!(created.active && created.single_use);

    let all = client.list_service_keys().await.unwrap();
    assert!(all.iter().any(|k| k.key == created.key));
    let for_port = client
        .list_service_keys_for_product(&port.product_uid)
        .await
        .unwrap();
    assert!(for_port.iter().all(|k| k.product_uid == port.product_uid));
    assert!(
        for_port
            .iter()
            .any(|k| k.description.as_deref() == Some("marker-1"))
    );

    // Lookup answers with an object, by full key and by 8-character prefix.
    let found = client.get_service_key(created.key.expose()).await.unwrap();
    assert_eq!(found.key, created.key);
    let by_prefix = client
        .get_service_key(&created.key.expose()[..8])
        .await
        .unwrap();
    assert_eq!(by_prefix.key, created.key);

    // Deactivate with the whole object: nothing else changes.
    let mut update = UpdateServiceKey::from_key(&found);
    update.active = false;
    let updated = client.update_service_key(&update).await.unwrap();
    assert!(!updated.active);
    assert_eq!(updated.description.as_deref(), Some("marker-1"));
    assert_eq!(updated.max_speed, Some(500));
    assert_eq!(updated.vlan, Some(100));
    assert_eq!(updated.pre_approved, Some(true));
    sim.shutdown().await;
}

#[tokio::test]
async fn customer_uses_a_key_and_the_provider_sees_it() {
    let sim = sim().await;
    let provider = provider(&sim);
    let customer = customer(&sim);
    let port = la_port(&provider, 60).await;
    assert!(
        provider
            .check_port_vlan(&port.product_uid, 200)
            .await
            .unwrap()
    );
    // Not pre-approved: the provider approves the customer's connection below.
    let request = CreateServiceKey {
        pre_approved: false,
        ..key_request(&port.product_uid, 200, "c2")
    };
    let key = provider.create_service_key(&request).await.unwrap();

    let own_port = customer
        .list_products(Some("LIVE"))
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.product_type == ProductType::Megaport)
        .expect("customer has a port");
    let order = vec![OrderItem::Vxc(VxcOrder {
        product_uid: own_port.product_uid.clone(),
        associated_vxcs: vec![VxcOrderLine {
            product_name: "acme-to-quantumgpu".into(),
            rate_limit: 200,
            term: 1,
            shutdown: false,
            service_key: Some(ServiceKeyValue::new(key.key.expose())),
            a_end: VxcOrderEnd {
                vlan: Some(123),
                ..VxcOrderEnd::default()
            },
            b_end: VxcOrderEnd {
                product_uid: Some(port.product_uid.clone()),
                ..VxcOrderEnd::default()
            },
            cost_centre: None,
            promo_code: None,
            resource_tags: vec![],
        }],
    })];
    customer.validate_network_design(&order).await.unwrap();
    let bought = customer.buy_network_design(&order, &[]).await.unwrap();
    let vxc_uid = bought[0].product_uid().expect("VXC uid").to_owned();

    let used = provider.get_service_key(key.key.expose()).await.unwrap();
    assert!(used.last_used.is_some());
    assert!(
        !provider
            .check_port_vlan(&port.product_uid, 200)
            .await
            .unwrap()
    );
    let port_now = provider.get_product(&port.product_uid).await.unwrap();
    let vxc = port_now
        .associated_vxcs
        .iter()
        .find(|v| v.product_uid == vxc_uid)
        .expect("the customer's VXC is nested under the provider's port");
    assert_eq!(
        vxc.end_on(&port.product_uid).and_then(|e| e.vlan),
        Some(200)
    );
    assert_ne!(
        vxc.a_end.as_ref().and_then(|e| e.owner_uid.clone()),
        port.company_uid
    );

    // A single-use key works once.
    let err = customer.buy_network_design(&order, &[]).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    // Megaport echoes keys (or their 8-character prefix) in messages; a rejected order must
    // not carry the key into the error.
    let echo = format!(
        "Service key [{}] is not valid (prefix {})",
        key.key.expose(),
        &key.key.expose()[..8]
    );
    let spec = fault("/v4/networkdesign/buy", 400)
        .message(&echo)
        .data(json!([echo.clone()]))
        .times(1);
    sim.control().inject_fault(&spec).await.unwrap();
    let err = customer.buy_network_design(&order, &[]).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(
        !shown.contains(&key.key.expose()[..8]),
        "key leaked into an error: {shown}"
    );

    // The provider approves the pending connection; modify calls answer with the service shape.
    let shape = provider
        .update_vxc(
            &vxc_uid,
            &VxcUpdate {
                is_approved: Some(true),
                ..VxcUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        shape.technical_service_uid.as_deref(),
        Some(vxc_uid.as_str())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn design_validate_buy_tags_and_actions() {
    let sim = sim().await;
    let client = provider(&sim);
    let tag = ResourceTag {
        key: "k8s-uid".into(),
        value: "5c1f".into(),
    };
    let order = vec![OrderItem::Port(PortOrder {
        product_name: "qgpu-la-3".into(),
        product_type: ProductType::Megaport,
        term: 12,
        port_speed: 10000,
        location_id: 59,
        marketplace_visibility: false,
        is_virtual: false,
        config: OrderConfig {
            diversity_zone: Some("red".into()),
            mcr_asn: None,
        },
        cost_centre: None,
        promo_code: None,
        lag_port_count: None,
        resource_tags: vec![tag.clone()],
    })];
    let quote = client.validate_network_design(&order).await.unwrap();
    assert_eq!(quote.len(), 1);
    assert!(quote[0].price.monthly_rate.unwrap_or(0.0) > 0.0);
    assert_eq!(quote[0].metro.as_deref(), Some("Los Angeles"));
    // Deterministic prices (the productUid of a quote is a design-time id, new each time).
    let again = client.validate_network_design(&order).await.unwrap();
    assert_eq!(again[0].price, quote[0].price);

    let bought = client.buy_network_design(&order, &[]).await.unwrap();
    let uid = bought[0].product_uid().expect("new product uid").to_owned();
    let product = client.get_product(&uid).await.unwrap();
    assert_eq!(product.provisioning_status.as_str(), "DEPLOYABLE");
    assert_eq!(client.get_product_tags(&uid).await.unwrap(), vec![tag]);

    let tags = vec![ResourceTag {
        key: "team".into(),
        value: "net".into(),
    }];
    client.put_product_tags(&uid, &tags).await.unwrap();
    assert_eq!(client.get_product_tags(&uid).await.unwrap(), tags);

    client
        .product_action(&uid, ProductAction::Cancel, false)
        .await
        .unwrap();
    assert_eq!(
        client
            .get_product(&uid)
            .await
            .unwrap()
            .provisioning_status
            .as_str(),
        "CANCELLED"
    );
    client
        .product_action(&uid, ProductAction::UnCancel, false)
        .await
        .unwrap();
    client
        .product_action(&uid, ProductAction::CancelNow, false)
        .await
        .unwrap();
    let gone = client.get_product(&uid).await.unwrap();
    assert!(
        gone.provisioning_status.is_inactive(),
        "{}",
        gone.provisioning_status
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn missing_market_is_a_clear_error() {
    let sim = sim().await;
    let client = customer(&sim);
    // The customer company has no billing market in Japan (Osaka, the provider's port there).
    let provider_products = provider(&sim).list_products(None).await.unwrap();
    let osaka = provider_products
        .iter()
        .find(|p| p.location_detail.as_ref().and_then(|d| d.metro.as_deref()) == Some("Osaka"))
        .and_then(|p| p.location_id)
        .expect("Osaka port");
    let order = vec![OrderItem::Port(PortOrder {
        product_name: "acme-osaka".into(),
        product_type: ProductType::Megaport,
        term: 1,
        port_speed: 1000,
        location_id: osaka,
        marketplace_visibility: false,
        is_virtual: false,
        config: OrderConfig::default(),
        cost_centre: None,
        promo_code: None,
        lag_port_count: None,
        resource_tags: vec![],
    })];
    let err = client.validate_network_design(&order).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    match &err {
        MegaportError::Api {
            message,
            data: Some(ErrorData::Text(detail)),
            ..
        } => {
            assert_eq!(message, "Validation failed");
            assert!(detail.starts_with("Missing markets: "), "{detail}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn error_data_shapes_are_kept() {
    let sim = sim().await;
    let client = provider(&sim);
    let control = sim.control();
    let shapes = [
        (json!("Missing markets: Sweden"), "text"),
        (
            json!([{"field": "vlan", "message": "taken"}, "speed too high"]),
            "list",
        ),
        (json!({"vlan": "taken"}), "object"),
    ];
    for (data, shape) in shapes {
        control.clear_faults().await.unwrap();
        let mut spec = fault("/v2/products", 400);
        spec.message = Some("Validation failed".into());
        spec.data = Some(data.clone());
        control.inject_fault(&spec).await.unwrap();
        let err = client.list_products(None).await.unwrap_err();
        let ok = match (&err, shape) {
            (
                MegaportError::Api {
                    data: Some(ErrorData::Text(_)),
                    ..
                },
                "text",
            ) => true,
            (
                MegaportError::Api {
                    data: Some(ErrorData::List(items)),
                    ..
                },
                "list",
            ) => items.len() == 2,
            (
                MegaportError::Api {
                    data: Some(ErrorData::Object(map)),
                    ..
                },
                "object",
            ) => map.contains_key("vlan"),
            _ => false,
        };
        assert!(ok, "{shape}: {err:?}");
        assert!(!err.is_retryable());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn token_is_cached_shared_and_refreshed_before_expiry() {
    let sim = sim().await;
    let control = sim.control();
    let client = provider(&sim);
    // Ten concurrent first calls share one token request.
    let calls: Vec<_> = (0..10).map(|_| client.list_products(None)).collect();
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(control.counter(TOKEN).await.unwrap(), 1);

    // A short-lived token is refreshed before it expires: no 401 is ever seen.
    control
        .set_token_lifetime(quantumgpu::PROVIDER_ADMIN_ID, 2)
        .await
        .unwrap();
    let short = provider(&sim);
    short.list_products(None).await.unwrap();
    let before = control.counter(TOKEN).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1700)).await; // past 80 % of 2 s
    short.list_products(None).await.unwrap();
    assert_eq!(control.counter(TOKEN).await.unwrap(), before + 1);
    let calls = control.calls().await.unwrap();
    assert!(
        calls.iter().all(|c| c.status != 401),
        "a refresh-ahead client never sees 401"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_401_triggers_one_refresh_and_one_retry() {
    let sim = sim().await;
    let control = sim.control();
    let client = provider(&sim);
    client.list_products(None).await.unwrap();
    control.revoke_tokens().await.unwrap();
    client.list_products(None).await.unwrap();
    assert_eq!(control.counter(TOKEN).await.unwrap(), 2);
    assert_eq!(control.counter(PRODUCTS).await.unwrap(), 3);
    let statuses: Vec<u16> = control
        .calls()
        .await
        .unwrap()
        .iter()
        .filter(|c| c.path == "/v2/products")
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![200, 401, 200]);

    // A 401 that persists after the refresh is returned, not looped on.
    control
        .inject_fault(&fault("/v2/products", 401))
        .await
        .unwrap();
    let err = client.list_products(None).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(err.is_auth());
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_429_honours_retry_after_for_everyone() {
    let sim = sim().await;
    let control = sim.control();
    let client = provider(&sim);
    client.list_products(None).await.unwrap(); // token fetched outside the measurement

    let mut spec = fault("/v2/products", 429);
    spec.retry_after = Some("1".into());
    spec.times = Some(1);
    control.inject_fault(&spec).await.unwrap();
    let started = Instant::now();
    let (a, b) = tokio::join!(client.list_products(None), async {
        // Once the first call has seen its 429, a second caller must wait too.
        while !control
            .calls()
            .await
            .unwrap()
            .iter()
            .any(|c| c.status == 429)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let t = Instant::now();
        client.list_locations().await.map(|_| t.elapsed())
    });
    a.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After not honoured"
    );
    assert!(
        b.unwrap() >= Duration::from_millis(500),
        "other callers were not paused"
    );

    // HTTP-date form.
    let mut spec = fault("/v2/products", 429);
    spec.retry_after = Some(httpdate::fmt_http_date(
        std::time::SystemTime::now() + Duration::from_secs(3),
    ));
    spec.times = Some(1);
    control.inject_fault(&spec).await.unwrap();
    let started = Instant::now();
    client.list_products(None).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "HTTP-date Retry-After ignored"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn idempotent_calls_retry_5xx_and_dropped_connections_but_creates_do_not() {
    let sim = sim().await;
    let control = sim.control();
    let client = provider(&sim);
    let port = la_port(&client, 59).await;
    let base = control.counter(PRODUCTS).await.unwrap();

    let mut spec = fault("/v2/products", 503);
    spec.times = Some(2);
    control.inject_fault(&spec).await.unwrap();
    client.list_products(None).await.unwrap();
    assert_eq!(control.counter(PRODUCTS).await.unwrap(), base + 3);

    let drop = FaultSpec::drop_connection().path("/v2/products").times(1);
    control.inject_fault(&drop).await.unwrap();
    client.list_products(None).await.unwrap();

    // 500 is not retried automatically.
    let mut spec = fault("/v2/products", 500);
    spec.times = Some(1);
    control.inject_fault(&spec).await.unwrap();
    let before = control.counter(PRODUCTS).await.unwrap();
    assert_eq!(
        client.list_products(None).await.unwrap_err().status(),
        Some(500)
    );
    assert_eq!(control.counter(PRODUCTS).await.unwrap(), before + 1);

    // Retries are bounded.
    control
        .inject_fault(&fault("/v2/products", 503))
        .await
        .unwrap();
    let before = control.counter(PRODUCTS).await.unwrap();
    let err = client.list_products(None).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(control.counter(PRODUCTS).await.unwrap(), before + 4); // 1 + max_retries
    control.clear_faults().await.unwrap();

    // A create that fails with 503 may have run: the client must not repeat it.
    let mut spec = FaultSpec {
        method: Some("POST".into()),
        ..fault("/v2/service/key", 503)
    };
    spec.times = Some(1);
    control.inject_fault(&spec).await.unwrap();
    let creates = control.counter("POST /v2/service/key").await.unwrap();
    let err = client
        .create_service_key(&key_request(&port.product_uid, 300, "x"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        control.counter("POST /v2/service/key").await.unwrap(),
        creates + 1
    );

    // ...but a 429 provably did not run, so it is retried.
    let mut spec = FaultSpec {
        method: Some("POST".into()),
        ..fault("/v2/service/key", 429)
    };
    spec.retry_after = Some("0".into());
    spec.times = Some(1);
    control.inject_fault(&spec).await.unwrap();
    client
        .create_service_key(&key_request(&port.product_uid, 301, "y"))
        .await
        .unwrap();

    // A dropped connection may have created the key: not repeated either.
    let drop = FaultSpec::drop_connection()
        .method("POST")
        .path("/v2/service/key")
        .times(1);
    control.inject_fault(&drop).await.unwrap();
    let creates = control.counter("POST /v2/service/key").await.unwrap();
    let err = client
        .create_service_key(&key_request(&port.product_uid, 302, "z"))
        .await
        .unwrap_err();
    assert!(matches!(err, MegaportError::Transport { .. }), "{err:?}");
    assert_eq!(
        control.counter("POST /v2/service/key").await.unwrap(),
        creates + 1
    );

    // The token endpoint fails like any other: a fresh client backs off and recovers.
    control
        .inject_fault(&fault("/oauth2/token", 503).times(1))
        .await
        .unwrap();
    let fresh = provider(&sim);
    let tokens = control.counter(TOKEN).await.unwrap();
    fresh.list_products(None).await.unwrap();
    assert_eq!(control.counter(TOKEN).await.unwrap(), tokens + 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_shared_window_limits_the_rate() {
    let sim = sim().await;
    let mut cfg = config(
        &sim,
        quantumgpu::PROVIDER_ADMIN_ID,
        quantumgpu::PROVIDER_ADMIN_SECRET,
    );
    cfg.requests_per_window = 2;
    cfg.window = Duration::from_millis(500);
    let client = MegaportClient::new(cfg).unwrap();
    let started = Instant::now();
    let calls: Vec<_> = (0..6).map(|_| client.list_locations()).collect();
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(client.budget_left(), 0, "the window is full");
    // 2 at once, 2 when the window moves on, 2 more a window later.
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn no_secret_in_debug_or_errors() {
    let sim = sim().await;
    let secret = quantumgpu::PROVIDER_ADMIN_SECRET;
    let client = provider(&sim);
    let shown = format!(
        "{client:?} {:?}",
        config(&sim, quantumgpu::PROVIDER_ADMIN_ID, secret)
    );
    assert!(!shown.contains(secret), "{shown}");

    // Wrong credentials: the auth error does not carry the secret.
    let bad = MegaportClient::new(config(&sim, "qgpu-admin", "wrong-secret-value")).unwrap();
    let err = bad.list_products(None).await.unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("wrong-secret-value"), "{shown}");

    // A lookup of an unknown key: the key is not echoed.
    let unknown = "0badc0de-1111-4222-8333-444455556666";
    let err = client.get_service_key(unknown).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(unknown) && !shown.contains("0badc0de"),
        "{shown}"
    );

    // A transport failure on a key lookup does not carry the URL (with the key in it).
    let dead = {
        let env = Environment::custom("http://127.0.0.1:9", &sim.token_url()).unwrap();
        let mut cfg =
            ClientConfig::new(env, Credentials::new(quantumgpu::PROVIDER_ADMIN_ID, secret));
        cfg.retry.max_retries = 0;
        MegaportClient::new(cfg).unwrap()
    };
    let err = dead.get_service_key(unknown).await.unwrap_err();
    assert!(matches!(err, MegaportError::Transport { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(unknown), "{shown}");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_simulator_answers_429_past_the_documented_window() {
    let sim = sim().await;
    let control = sim.control();
    control
        .set_limits(serde_json::json!({"requests": 5, "windowSeconds": 60}))
        .await
        .unwrap();
    let client = MegaportClient::new(provider_config_once(&sim)).unwrap();
    for _ in 0..5 {
        client.list_locations().await.unwrap();
    }
    let err = client.list_locations().await.unwrap_err();
    assert_eq!(err.status(), Some(429), "{err}");
    let limits = control.limits().await.unwrap();
    assert_eq!(limits["refused"], 1);
    assert_eq!(limits["used"]["127.0.0.1"], 5);
    assert_eq!(control.counter("429 rate limited").await.unwrap(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_client_never_exceeds_the_window_over_a_burst_of_1000_calls() {
    let sim = sim().await;
    let control = sim.control();
    // The documented limit, scaled to a second: 200 per 1 s (Megaport: 500 per 300 s).
    control
        .set_limits(serde_json::json!({"requests": 200, "windowSeconds": 1.0}))
        .await
        .unwrap();
    let mut cfg = provider_config_once(&sim);
    cfg.requests_per_window = 180;
    cfg.window = Duration::from_secs(1);
    let client = MegaportClient::new(cfg).unwrap();
    let calls: Vec<_> = (0..1000).map(|_| client.list_locations()).collect();
    let results = futures::future::join_all(calls).await;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| e.to_string())
        .take(3)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        control.counter("429 rate limited").await.unwrap(),
        0,
        "a 429 from the simulator"
    );
    assert_eq!(control.counter("GET /v3/locations").await.unwrap(), 1000);
    sim.shutdown().await;
}

/// Records what the client reports to its observer.
#[derive(Debug, Default)]
struct Recorder {
    answered: std::sync::Mutex<Vec<(&'static str, Option<u16>)>>,
    waits: std::sync::atomic::AtomicUsize,
}

impl megaport_operator::megaport::Observer for Recorder {
    fn answered(&self, route: &'static str, status: Option<u16>, _elapsed: Duration) {
        self.answered.lock().unwrap().push((route, status));
    }
    fn waited(&self, _elapsed: Duration) {
        self.waits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[tokio::test]
async fn the_observer_sees_every_attempt_by_route_template_and_status() {
    let sim = sim().await;
    let recorder = std::sync::Arc::new(Recorder::default());
    let mut config = provider_config_once(&sim);
    config.observer = Some(recorder.clone());
    let client = MegaportClient::new(config).unwrap();
    client.list_service_keys().await.unwrap();
    let missing = "00000000-0000-4000-8000-00000000dead";
    assert!(
        client
            .get_product(missing)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let answered = recorder.answered.lock().unwrap().clone();
    assert_eq!(
        answered,
        [
            ("POST /oauth2/token", Some(200)),
            ("GET /v2/service/key", Some(200)),
            ("GET /v2/product/{uid}", Some(404)),
        ]
    );
    assert!(
        answered.iter().all(|(route, _)| !route.contains(missing)),
        "ids never reach the labels"
    );
    assert_eq!(
        recorder.waits.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "one budget wait per API request"
    );
    sim.shutdown().await;
}

/// A Port order at `location` for the managed-account tests.
fn port_at(
    location: i64,
    public: bool,
    promo: Option<&str>,
) -> megaport_operator::megaport::models::OrderItem {
    use megaport_operator::megaport::models::{OrderConfig, OrderItem, PortOrder, ProductType};
    OrderItem::Port(PortOrder {
        product_name: "managed-port".into(),
        product_type: ProductType::Megaport,
        term: 12,
        port_speed: 10_000,
        location_id: location,
        marketplace_visibility: public,
        is_virtual: false,
        config: OrderConfig {
            diversity_zone: Some("blue".into()),
            mcr_asn: None,
        },
        cost_centre: None,
        promo_code: promo.map(str::to_owned),
        lag_port_count: None,
        resource_tags: Vec::new(),
    })
}

#[tokio::test]
async fn a_partner_acts_for_its_managed_company_only_and_under_its_rules() {
    let sim = sim().await;
    let partner = MegaportClient::new(provider_config_once(&sim)).unwrap();
    let managed = partner.list_managed_companies().await.unwrap();
    assert_eq!(managed.len(), 1, "{managed:?}");
    assert_eq!(managed[0].company_uid, quantumgpu::MANAGED_COMPANY_UID);
    assert_eq!(managed[0].account_ref.as_deref(), Some("NEB-0001"));

    // Acting for it, the company's own markets apply: USA only (the partner has four).
    let nebula = partner.acting_for(quantumgpu::MANAGED_COMPANY_UID);
    assert_eq!(partner.list_billing_markets().await.unwrap().len(), 4);
    let markets = nebula.list_billing_markets().await.unwrap();
    let countries: Vec<_> = markets
        .iter()
        .filter_map(|m| m.country.as_deref())
        .collect();
    assert_eq!(countries, ["USA"]);
    // Its products, not the partner's.
    assert!(
        nebula
            .list_products(None)
            .await
            .unwrap()
            .iter()
            .all(|p| p.product_uid != quantumgpu::PORT_LAX_EQ1_BLUE)
    );

    // A Port in Los Angeles validates; in London it has no market; public or promo: refused.
    nebula
        .validate_network_design(&[port_at(59, false, None)])
        .await
        .unwrap();
    let refusal = |e: MegaportError| format!("{e}");
    let london = refusal(
        nebula
            .validate_network_design(&[port_at(37, false, None)])
            .await
            .unwrap_err(),
    );
    assert!(london.contains("Missing markets: UK"), "{london}");
    let public = refusal(
        nebula
            .validate_network_design(&[port_at(59, true, None)])
            .await
            .unwrap_err(),
    );
    assert!(
        public.contains("cannot make a Port public on the Marketplace"),
        "{public}"
    );
    let promo = refusal(
        nebula
            .validate_network_design(&[port_at(59, false, Some("GPU2026"))])
            .await
            .unwrap_err(),
    );
    assert!(promo.contains("cannot use promo codes"), "{promo}");
    // The partner itself may do both.
    partner
        .validate_network_design(&[port_at(59, true, Some("GPU2026"))])
        .await
        .unwrap();

    // A company that is not one of the partner's: 403, whatever the call.
    let stranger = partner.acting_for(quantumgpu::CUSTOMER_COMPANY_UID);
    let err = stranger.list_products(None).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(format!("{err}").contains("not a managed account"), "{err}");
    // The header went on the wire (the simulator's log names the route, counted once per call).
    assert!(
        sim.control()
            .counter("GET /v2/managedCompanies")
            .await
            .unwrap()
            >= 1
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_designs_order_items_are_what_the_simulator_validates() {
    use megaport_operator::crd::saved_configuration::SavedConfigurationSpec;
    use std::collections::BTreeMap;
    let sim = sim().await;
    let customer = MegaportClient::new(config(
        &sim,
        quantumgpu::CUSTOMER_ADMIN_ID,
        quantumgpu::CUSTOMER_ADMIN_SECRET,
    ))
    .unwrap();
    let spec: SavedConfigurationSpec = serde_json::from_value(json!({"services": {
        "ports": [{"name": "la-port", "locationId": 60, "speedMbps": 10000, "termMonths": 12, "diversityZone": "red"}],
        "mcrs": [{"name": "la-mcr", "locationId": 59, "speedMbps": 1000, "termMonths": 1}],
        "vxcs": [{"name": "to-own-port", "rateLimitMbps": 100, "termMonths": 1,
                  "aEnd": {"service": "la-mcr"}, "bEnd": {"productUid": quantumgpu::CUSTOMER_PORT_LAX}}],
    }}))
    .unwrap();
    let uid = "5a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    let design = megaport_operator::ordering::items(&spec, uid, &BTreeMap::new(), &BTreeMap::new());
    assert_eq!(design.waiting, ["to-own-port"]);
    let quotes = customer
        .validate_network_design(&design.items)
        .await
        .unwrap();
    assert_eq!(quotes.len(), 2, "{quotes:?}");
    // With the MCR bought (here: an existing product of the customer), the VXC goes too.
    let bought = BTreeMap::from([(
        "la-mcr".to_owned(),
        quantumgpu::CUSTOMER_PORT_LAX.to_owned(),
    )]);
    let spec_vxc_only: SavedConfigurationSpec = serde_json::from_value(json!({"services": {
        "vxcs": [{"name": "to-own-port", "rateLimitMbps": 100, "termMonths": 1,
                  "aEnd": {"service": "la-mcr"}, "bEnd": {"productUid": quantumgpu::CUSTOMER_PORT_LON}}],
    }}))
    .unwrap();
    let design = megaport_operator::ordering::items(&spec_vxc_only, uid, &bought, &BTreeMap::new());
    assert!(design.waiting.is_empty());
    let quotes = customer
        .validate_network_design(&design.items)
        .await
        .unwrap();
    assert_eq!(quotes.len(), 1, "{quotes:?}");
    assert_eq!(quotes[0].service_name.as_deref(), Some("to-own-port"));
    sim.shutdown().await;
}
