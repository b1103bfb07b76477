//! ServiceKeyRequest end to end: the operator (as its minimal ServiceAccount) issues keys in
//! the simulator's QuantumGPU world, delivers them in Secrets, and follows them through use,
//! expiry, drift and deletion.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::named_conditions as conditions;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use megaport_operator::crd::onramp_region::{
    OnRampMatch, OnRampRegion, OnRampRegionSpec, VlanRange,
};
use megaport_operator::crd::service_key_request::{KeyState, Phase, ServiceKeyRequest};
use megaport_operator::delivery::{Marker, fingerprint};
use megaport_operator::megaport::models::{
    OrderItem, ProductType, ServiceKey, UpdateServiceKey, VxcOrder,
};
use megaport_operator::megaport::prelude::*;
use megaport_sim::quantumgpu;
use serde_json::{Value, json};

use crate::support::{self, Identity, Operator, TestNamespace, eventually};

const WAIT: Duration = Duration::from_secs(45);

pub fn request(name: &str, spec: Value) -> ServiceKeyRequest {
    serde_json::from_value(json!({
        "apiVersion": "megaport.onramp.dev/v1alpha1",
        "kind": "ServiceKeyRequest",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

/// A US-West region (the two Los Angeles ports) with a unique name.
pub async fn us_west(admin: &Client) -> String {
    let name = format!(
        "us-west-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let region = OnRampRegion::new(
        &name,
        OnRampRegionSpec {
            display_name: Some("US-West".into()),
            match_: OnRampMatch {
                location_ids: Some(vec![59, 60]),
                ..OnRampMatch::default()
            },
            selection: None,
            vlan_range: Some(VlanRange { min: 100, max: 999 }),
            allowed_namespaces: None,
            connections: None,
        },
    );
    Api::<OnRampRegion>::all(admin.clone())
        .create(&PostParams::default(), &region)
        .await
        .unwrap();
    name
}

/// Waits until the request reports `phase` for its current generation.
pub async fn wait_phase(
    api: &Api<ServiceKeyRequest>,
    name: &str,
    phase: Phase,
) -> ServiceKeyRequest {
    eventually(&format!("{name} to be {phase:?}"), WAIT, || async {
        let r = api.get(name).await.ok()?;
        let status = r.status.as_ref()?;
        (status.phase == Some(phase) && status.observed_generation == r.metadata.generation)
            .then_some(r)
    })
    .await
}

pub fn condition<'a>(r: &'a ServiceKeyRequest, type_: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let c = conditions::find(&r.status.as_ref()?.conditions, type_)?;
    Some((c.status.as_str(), c.reason.as_str(), c.message.as_str()))
}

pub async fn secret_data(client: &Client, namespace: &str, name: &str) -> BTreeMap<String, String> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .unwrap();
    secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect()
}

/// The request's keys as Megaport has them (found by their marker).
pub async fn keys_of(provider: &dyn MegaportApi, r: &ServiceKeyRequest) -> Vec<ServiceKey> {
    let uid = r.uid().unwrap();
    provider
        .list_service_keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| {
            k.description
                .as_deref()
                .and_then(Marker::parse)
                .is_some_and(|m| m.request_uid == uid)
        })
        .collect()
}

/// Runs `megaport-operator keys ARGS` as the admin against the operator's simulator.
async fn keys_command(operator: &Operator, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_megaport-operator"));
    cmd.arg("keys")
        .args(args)
        .env("KUBECONFIG", std::env::var("KUBECONFIG_ADMIN").unwrap())
        .env("MEGAPORT_BASE_URL", operator.sim.base_url())
        .env("MEGAPORT_TOKEN_URL", operator.sim.token_url())
        .env("MEGAPORT_ACCESS_KEY", quantumgpu::PROVIDER_ADMIN_ID)
        .env("MEGAPORT_SECRET_KEY", quantumgpu::PROVIDER_ADMIN_SECRET)
        .env_remove("RUST_LOG");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "keys {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The customer company orders a VXC from its own port with `key`.
async fn customer_uses(customer: &dyn MegaportApi, key: &str, on_ramp: &str) -> String {
    let own = customer
        .list_products(Some("LIVE"))
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.product_type == ProductType::Megaport)
        .unwrap();
    let bought = customer
        .buy_network_design(
            &[OrderItem::Vxc(VxcOrder::with_service_key(
                &own.product_uid,
                "acme-to-quantumgpu",
                Some(123),
                megaport_operator::megaport::models::ServiceKeyValue::new(key),
                on_ramp,
                500,
            ))],
            &[],
        )
        .await
        .unwrap();
    bought[0].product_uid().unwrap().to_owned()
}

/// The seed's story: a diverse pair for US-West, two customers on one port with VLANs 100 and
/// 200, a customer using a key, and a key expiring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_scenario_issue_deliver_use_expire() {
    let admin = support::client(Identity::Admin).await;
    let operator = Operator::start(&admin, Operator::fast()).await;
    let provider = support::megaport_client(
        &operator.sim,
        quantumgpu::PROVIDER_ADMIN_ID,
        quantumgpu::PROVIDER_ADMIN_SECRET,
    );
    let customer = support::megaport_client(
        &operator.sim,
        quantumgpu::CUSTOMER_ADMIN_ID,
        quantumgpu::CUSTOMER_ADMIN_SECRET,
    );
    let region = us_west(&admin).await;
    let ns = TestNamespace::new(&admin, "seed").await;
    let api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns.name);
    let pp = PostParams::default();
    for (name, vlan) in [("customer-1", 100), ("customer-2", 200)] {
        api.create(
            &pp,
            &request(
                name,
                json!({"onRamp": {"productUid": quantumgpu::PORT_LAX_EQ1_BLUE}, "singleUse": true,
                       "vlan": vlan, "maxSpeedMbps": 500, "description": format!("{name} on LA1")}),
            ),
        )
        .await
        .unwrap();
    }
    api.create(
        &pp,
        &request(
            "diverse",
            json!({"regionRef": {"name": region}, "diversity": "Required", "singleUse": true,
                   "maxSpeedMbps": 1000, "validity": {"duration": "30d"},
                   "customer": {"name": "Acme Robotics"}}),
        ),
    )
    .await
    .unwrap();

    // The diverse pair: Los Angeles 1 (blue) and Los Angeles 2 (red), in one Secret.
    let diverse = wait_phase(&api, "diverse", Phase::Issued).await;
    let status = diverse.status.clone().unwrap();
    assert_eq!(status.key_count, Some(2));
    assert_eq!(status.zones.as_deref(), Some("blue,red"));
    let by_zone: BTreeMap<&str, &str> = status
        .keys
        .iter()
        .map(|k| (k.diversity_zone.as_deref().unwrap(), k.product_uid.as_str()))
        .collect();
    assert_eq!(
        by_zone,
        BTreeMap::from([
            ("blue", quantumgpu::PORT_LAX_EQ1_BLUE),
            ("red", quantumgpu::PORT_LAX_CS1_RED)
        ])
    );
    for k in &status.keys {
        assert_eq!(k.state, KeyState::Active);
        assert!(k.single_use && k.vlan.is_some());
        assert_eq!(k.max_speed_mbps, Some(1000));
        assert!(k.expires_at.is_some(), "30d validity");
    }
    assert_eq!(condition(&diverse, "Ready").unwrap().0, "True");
    assert_eq!(condition(&diverse, "SecretSynced").unwrap().0, "True");
    let data = secret_data(&admin, &ns.name, "diverse").await;
    let keys = keys_of(provider.as_ref(), &diverse).await;
    assert_eq!(keys.len(), 2, "one key per zone, no more");
    let blue = keys
        .iter()
        .find(|k| k.product_uid == quantumgpu::PORT_LAX_EQ1_BLUE)
        .unwrap();
    let red = keys
        .iter()
        .find(|k| k.product_uid == quantumgpu::PORT_LAX_CS1_RED)
        .unwrap();
    assert_eq!(data["serviceKey-blue"], blue.key.expose());
    assert_eq!(data["serviceKey-red"], red.key.expose());
    assert!([blue.key.expose(), red.key.expose()].contains(&data["serviceKey"].as_str()));
    let delivered: Vec<Value> = serde_json::from_str(&data["keys.json"]).unwrap();
    assert_eq!(delivered.len(), 2);
    for entry in &delivered {
        assert_eq!(entry["metro"], "Los Angeles");
        assert_eq!(entry["country"], "USA");
        assert_eq!(entry["maxSpeedMbps"], 1000);
        assert!(entry["expiresAt"].is_string());
    }
    // Status carries fingerprints, never the key nor a prefix of it.
    let status_text = serde_json::to_string(&diverse.status).unwrap();
    for k in &keys {
        assert!(!status_text.contains(&k.key.expose()[..8]));
        assert!(status_text.contains(&fingerprint(&k.key)));
    }
    let secret = Api::<Secret>::namespaced(admin.clone(), &ns.name)
        .get("diverse")
        .await
        .unwrap();
    assert_eq!(
        secret
            .labels()
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("megaport-operator")
    );
    assert_eq!(
        secret.owner_references()[0].uid,
        diverse.uid().unwrap(),
        "owned by the request"
    );

    // Two customers on the same port, VLANs 100 and 200.
    for (name, vlan) in [("customer-1", 100u16), ("customer-2", 200)] {
        let r = wait_phase(&api, name, Phase::Issued).await;
        let k = &r.status.as_ref().unwrap().keys[0];
        assert_eq!(
            (k.product_uid.as_str(), k.vlan),
            (quantumgpu::PORT_LAX_EQ1_BLUE, Some(vlan))
        );
        let megaport_keys = keys_of(provider.as_ref(), &r).await;
        assert_eq!(megaport_keys.len(), 1);
        assert_eq!(megaport_keys[0].vlan, Some(vlan));
        assert!(
            megaport_keys[0]
                .description
                .as_deref()
                .unwrap()
                .starts_with(&format!("{name} on LA1 "))
        );
    }
    // The diverse pair's automatic VLAN on LA1 avoided 100 and 200 and the VXCs' 101-103.
    let la1_vlan = status
        .keys
        .iter()
        .find(|k| k.product_uid == quantumgpu::PORT_LAX_EQ1_BLUE)
        .unwrap()
        .vlan
        .unwrap();
    assert!(![100, 101, 102, 103, 200].contains(&la1_vlan), "{la1_vlan}");

    // Issued as desired at once: no key needed a correcting PUT.
    let puts = operator
        .sim
        .control()
        .counter("PUT /v2/service/key")
        .await
        .unwrap();
    assert_eq!(puts, 0, "keys were updated right after being created");

    // `megaport-operator keys` lists them by request and region, without the keys.
    let listing = keys_command(&operator, &["-o", "json"]).await;
    let rows: Vec<Value> = serde_json::from_str(&listing).unwrap();
    let of = |request: &str| -> Vec<&Value> {
        rows.iter()
            .filter(|r| r["request"] == format!("{}/{request}", ns.name))
            .collect()
    };
    assert_eq!(of("diverse").len(), 2);
    assert!(of("diverse").iter().all(|r| r["region"] == region.as_str()));
    assert_eq!(of("customer-1")[0]["vlan"], 100);
    assert_eq!(of("customer-2")[0]["state"], "Active");
    let table = keys_command(&operator, &[]).await;
    assert!(table.starts_with("FINGERPRINT"), "{table}");
    for k in &keys {
        assert!(!listing.contains(&k.key.expose()[..8]) && !table.contains(&k.key.expose()[..8]));
    }

    // The customer orders a VXC with customer-1's key: the request becomes Used.
    let c1 = secret_data(&admin, &ns.name, "customer-1").await;
    let vxc = customer_uses(
        customer.as_ref(),
        &c1["serviceKey"],
        quantumgpu::PORT_LAX_EQ1_BLUE,
    )
    .await;
    let used = wait_phase(&api, "customer-1", Phase::Used).await;
    let k = &used.status.as_ref().unwrap().keys[0];
    assert_eq!(k.state, KeyState::Used);
    assert!(k.last_used_at.is_some());
    assert_eq!(k.used_by_vxc.as_deref(), Some(vxc.as_str()));
    assert!(k.used_by_company.is_some(), "{k:?}");
    assert_eq!(condition(&used, "Ready").unwrap().0, "True");

    // Past notAfter: the diverse pair expires (Ready False, Stalled True); customer-2 (no end)
    // stays Issued.
    operator
        .sim
        .control()
        .advance_clock(Duration::from_secs(31 * 86_400))
        .await
        .unwrap();
    let expired = wait_phase(&api, "diverse", Phase::Expired).await;
    assert_eq!(condition(&expired, "Ready").unwrap().0, "False");
    assert_eq!(condition(&expired, "Stalled").unwrap().1, "KeysExpired");
    assert!(
        expired
            .status
            .as_ref()
            .unwrap()
            .keys
            .iter()
            .all(|k| k.state == KeyState::Expired)
    );
    let c2 = api.get("customer-2").await.unwrap();
    assert_eq!(c2.status.unwrap().phase, Some(Phase::Issued));

    // Extending the validity brings it back.
    api.patch(
        "diverse",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"validity": {"duration": "90d"}}})),
    )
    .await
    .unwrap();
    let renewed = wait_phase(&api, "diverse", Phase::Issued).await;
    assert!(condition(&renewed, "Stalled").is_none());

    // Events name what happened and never carry a key.
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(admin.clone(), &ns.name)
        .list(&ListParams::default())
        .await
        .unwrap();
    let text = serde_json::to_string(&events.items).unwrap();
    assert!(text.contains("KeysExpired"), "{text}");
    for k in keys_of(provider.as_ref(), &diverse).await {
        assert!(!text.contains(k.key.expose()));
    }
    Api::<OnRampRegion>::all(admin.clone())
        .delete(&region, &DeleteParams::default())
        .await
        .unwrap();
    operator.stop_after_cleanup(&admin, &ns.name).await;
}

/// A foreign Secret is never overwritten; keys changed outside the operator are restored and
/// reported; spec changes update keys in place; an edited or deleted Secret is repaired;
/// deletion deactivates keys and garbage-collects an owned Secret, leaves an orphaned one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_drift_updates_and_deletion() {
    let admin = support::client(Identity::Admin).await;
    let operator = Operator::start(&admin, Operator::fast()).await;
    let provider = support::megaport_client(
        &operator.sim,
        quantumgpu::PROVIDER_ADMIN_ID,
        quantumgpu::PROVIDER_ADMIN_SECRET,
    );
    let ns = TestNamespace::new(&admin, "lifecycle").await;
    let api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns.name);
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns.name);
    let pp = PostParams::default();

    // A Secret somebody else made.
    let foreign: Secret = serde_json::from_value(json!({
        "metadata": {"name": "taken", "labels": {"team": "networking"}},
        "stringData": {"password": "hunter2"},
    }))
    .unwrap();
    let foreign = secrets.create(&pp, &foreign).await.unwrap();
    let la2 = json!({"productUid": quantumgpu::PORT_LAX_CS1_RED});
    api.create(
        &pp,
        &request(
            "conflict",
            json!({"onRamp": la2, "maxSpeedMbps": 100, "secret": {"name": "taken"}}),
        ),
    )
    .await
    .unwrap();
    let conflicted = eventually("SecretConflict", WAIT, || async {
        let r = api.get("conflict").await.ok()?;
        (condition(&r, "SecretSynced")?.1 == "SecretConflict").then_some(r)
    })
    .await;
    assert_eq!(condition(&conflicted, "Ready").unwrap().0, "False");
    assert_eq!(
        condition(&conflicted, "Stalled").unwrap().1,
        "SecretConflict"
    );
    assert!(
        condition(&conflicted, "SecretSynced")
            .unwrap()
            .2
            .contains("left untouched")
    );
    let after = secrets.get("taken").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        foreign.metadata.resource_version
    );
    assert_eq!(after.data, foreign.data);

    // A request with template labels, Owner policy.
    api.create(
        &pp,
        &request(
            "owned",
            json!({"onRamp": la2, "singleUse": false, "maxSpeedMbps": 200, "preApproved": true,
                   "secret": {"template": {"labels": {"tenant": "acme"}, "annotations": {"note": "x"}}}}),
        ),
    )
    .await
    .unwrap();
    let owned = wait_phase(&api, "owned", Phase::Issued).await;
    let secret = secrets.get("owned").await.unwrap();
    assert_eq!(
        secret.labels().get("tenant").map(String::as_str),
        Some("acme")
    );
    assert_eq!(
        secret.annotations().get("note").map(String::as_str),
        Some("x")
    );
    let key = keys_of(provider.as_ref(), &owned).await.remove(0);
    assert!(!key.single_use && key.vlan.is_none());
    assert_eq!((key.max_speed, key.pre_approved), (Some(200), Some(true)));

    // The operator's record annotation removed by hand comes back as it was.
    let record = owned.annotations()["megaport.onramp.dev/keys"].clone();
    api.patch(
        "owned",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"megaport.onramp.dev/keys": null}}})),
    )
    .await
    .unwrap();
    eventually("the record annotation to be restored", WAIT, || async {
        let r = api.get("owned").await.ok()?;
        (r.annotations().get("megaport.onramp.dev/keys") == Some(&record)).then_some(())
    })
    .await;

    // Deactivated and slowed in the Portal: Drifted, then restored.
    let mut outside = UpdateServiceKey::from_key(&key);
    outside.active = false;
    outside.max_speed = Some(50);
    provider.update_service_key(&outside).await.unwrap();
    // Drifted=True lasts until a key list read after the restore (about one poll period), so
    // the lasting record is the Warning event; either is the report.
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(admin.clone(), &ns.name);
    let message = eventually("Drifted=True or its event", WAIT, || async {
        let r = api.get("owned").await.ok()?;
        if let Some(("True", _, message)) = condition(&r, "Drifted") {
            return Some(message.to_owned());
        }
        let listed = events.list(&ListParams::default()).await.ok()?;
        listed
            .items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("DriftRestored")
                    && e.regarding.as_ref().and_then(|o| o.name.as_deref()) == Some("owned")
            })
            .and_then(|e| e.note)
    })
    .await;
    assert!(message.contains("active is false, want true"), "{message}");
    assert!(message.contains("maxSpeed is 50, want 200"), "{message}");
    let restored = keys_of(provider.as_ref(), &owned).await.remove(0);
    assert!(restored.active);
    assert_eq!(restored.max_speed, Some(200));
    assert_eq!(
        restored.description, key.description,
        "description restored, whole object PUT"
    );
    eventually("Drifted=False once in sync", WAIT, || async {
        let r = api.get("owned").await.ok()?;
        (condition(&r, "Drifted")?.0 == "False").then_some(())
    })
    .await;

    // Spec changes update the key in place, without a Drifted report.
    api.patch(
        "owned",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"maxSpeedMbps": 300, "suspend": true}})),
    )
    .await
    .unwrap();
    let suspended = wait_phase(&api, "owned", Phase::Suspended).await;
    assert_eq!(condition(&suspended, "Drifted").unwrap().0, "False");
    let k = keys_of(provider.as_ref(), &owned).await.remove(0);
    assert_eq!((k.active, k.max_speed), (false, Some(300)));
    assert_eq!(k.key, key.key, "updated in place, not replaced");
    api.patch(
        "owned",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": false}})),
    )
    .await
    .unwrap();
    wait_phase(&api, "owned", Phase::Issued).await;

    // A change Megaport refuses (faster than the port) is reported, not retried blindly.
    api.patch(
        "owned",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"maxSpeedMbps": 20000}})),
    )
    .await
    .unwrap();
    let refused = eventually("UpdateRejected", WAIT, || async {
        let r = api.get("owned").await.ok()?;
        (condition(&r, "Stalled")?.1 == "UpdateRejected").then_some(r)
    })
    .await;
    assert_eq!(condition(&refused, "Ready").unwrap().0, "False");
    assert_eq!(
        refused.status.as_ref().unwrap().key_count,
        Some(1),
        "the key is still shown"
    );
    api.patch(
        "owned",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"maxSpeedMbps": 300}})),
    )
    .await
    .unwrap();
    wait_phase(&api, "owned", Phase::Issued).await;

    // An edited Secret is repaired; a deleted one is recreated.
    let original = secret_data(&admin, &ns.name, "owned").await;
    secrets
        .patch(
            "owned",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"serviceKey": "tampered"}})),
        )
        .await
        .unwrap();
    eventually("the Secret to be repaired", WAIT, || async {
        let data = secret_data(&admin, &ns.name, "owned").await;
        (data == original).then_some(())
    })
    .await;
    secrets
        .delete("owned", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the Secret to be recreated", WAIT, || async {
        let s = secrets.get_opt("owned").await.ok()??;
        (s.metadata.deletion_timestamp.is_none()).then_some(())
    })
    .await;
    assert_eq!(secret_data(&admin, &ns.name, "owned").await, original);

    // An Orphan-policy request with Retain: its Secret and active key stay after deletion.
    api.create(
        &pp,
        &request(
            "kept",
            json!({"onRamp": la2, "singleUse": false, "maxSpeedMbps": 100,
                   "deletionPolicy": "Retain", "secret": {"policy": "Orphan"}}),
        ),
    )
    .await
    .unwrap();
    let kept = wait_phase(&api, "kept", Phase::Issued).await;

    // Deletion: keys deactivated (Deactivate is the default), owned Secret collected.
    for name in ["owned", "kept", "conflict"] {
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }
    eventually("the requests to be gone", WAIT, || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        list.items.is_empty().then_some(())
    })
    .await;
    let gone = keys_of(provider.as_ref(), &owned).await.remove(0);
    assert!(!gone.active, "Deactivate turned the key off");
    assert_eq!(
        gone.description, key.description,
        "and kept its other fields"
    );
    let retained = keys_of(provider.as_ref(), &kept).await.remove(0);
    assert!(retained.active, "Retain left the key alone");
    eventually("the owned Secret to be garbage-collected", WAIT, || async {
        secrets.get_opt("owned").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(
        secrets.get_opt("kept").await.unwrap().is_some(),
        "orphaned Secret stays"
    );
    assert_eq!(secrets.get("taken").await.unwrap().data, foreign.data);

    // Megaport refuses the operator (credentials revoked): deletion waits with a Warning event
    // until a human sets the abandon annotation; the key is then left as it is.
    api.create(
        &pp,
        &request(
            "stuck",
            json!({"onRamp": la2, "singleUse": false, "maxSpeedMbps": 100}),
        ),
    )
    .await
    .unwrap();
    let stuck = wait_phase(&api, "stuck", Phase::Issued).await;
    let control = operator.sim.control();
    control
        .inject_fault(
            &megaport_sim::FaultSpec::status(403)
                .path("/v2/service/key")
                .message("Forbidden"),
        )
        .await
        .unwrap();
    api.delete("stuck", &DeleteParams::default()).await.unwrap();
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(admin.clone(), &ns.name);
    eventually("a DeactivationFailed event", WAIT, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("DeactivationFailed"))
            .then_some(())
    })
    .await;
    assert!(
        api.get_opt("stuck").await.unwrap().is_some(),
        "deletion waits"
    );
    api.patch(
        "stuck",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"annotations": {"megaport.onramp.dev/abandon": "true"}}}),
        ),
    )
    .await
    .unwrap();
    eventually("the abandoned request to be gone", WAIT, || async {
        api.get_opt("stuck").await.ok()?.is_none().then_some(())
    })
    .await;
    control.clear_faults().await.unwrap();
    assert!(
        keys_of(provider.as_ref(), &stuck).await[0].active,
        "abandoned, not deactivated"
    );
    operator.stop_after_cleanup(&admin, &ns.name).await;
}

/// Many requests for one on-ramp at once: every VLAN handed out once; two requests for the
/// same explicit VLAN: one gets it, the other waits naming the holder and heals when the holder
/// is deleted. Polling stays at one key list and one product list per period however many
/// requests there are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_and_constant_polling() {
    let admin = support::client(Identity::Admin).await;
    let settings = Operator::fast();
    let period = settings.keys_refresh;
    let operator = Operator::start(&admin, settings).await;
    let control = operator.sim.control();
    let provider = support::megaport_client(
        &operator.sim,
        quantumgpu::PROVIDER_ADMIN_ID,
        quantumgpu::PROVIDER_ADMIN_SECRET,
    );
    let ns = TestNamespace::new(&admin, "concurrent").await;
    let api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns.name);
    let la1 = json!({"productUid": quantumgpu::PORT_LAX_EQ1_BLUE});

    let create_all = |names: Vec<String>| {
        let api = api.clone();
        let la1 = la1.clone();
        async move {
            let creates = names.iter().map(|name| {
                let api = api.clone();
                let r = request(name, json!({"onRamp": la1, "maxSpeedMbps": 10}));
                async move { api.create(&PostParams::default(), &r).await.unwrap() }
            });
            futures::future::join_all(creates).await;
            for name in &names {
                wait_phase(&api, name, Phase::Issued).await;
            }
        }
    };
    // Polling over `periods` periods: (key lists, product lists).
    let poll = |periods: u32| {
        let control = control.clone();
        async move {
            let keys = control.counter("GET /v2/service/key").await.unwrap();
            let products = control.counter("GET /v2/products").await.unwrap();
            tokio::time::sleep(period * periods).await;
            (
                control.counter("GET /v2/service/key").await.unwrap() - keys,
                control.counter("GET /v2/products").await.unwrap() - products,
            )
        }
    };

    // Two requests for VLAN 150 and eight without a VLAN, all at once.
    let vlan_150 = |name: &str| {
        request(
            name,
            json!({"onRamp": la1, "vlan": 150, "maxSpeedMbps": 10}),
        )
    };
    let pp = PostParams::default();
    let (ra, rb) = (vlan_150("vlan-a"), vlan_150("vlan-b"));
    let (a, b) = tokio::join!(api.create(&pp, &ra), api.create(&pp, &rb));
    a.unwrap();
    b.unwrap();
    create_all((0..8).map(|i| format!("auto-{i}")).collect()).await;
    let (winner, loser) = eventually("one holder of VLAN 150", WAIT, || async {
        let a = api.get("vlan-a").await.ok()?;
        let b = api.get("vlan-b").await.ok()?;
        let issued = |r: &ServiceKeyRequest| r.status.as_ref()?.phase;
        match (issued(&a), issued(&b)) {
            (Some(Phase::Issued), Some(Phase::Pending)) => Some((a, b)),
            (Some(Phase::Pending), Some(Phase::Issued)) => Some((b, a)),
            _ => None,
        }
    })
    .await;
    let (_, reason, message) = condition(&loser, "Reconciling").unwrap();
    assert_eq!(reason, "VlanInUse");
    assert!(
        message.contains(&format!(
            "ServiceKeyRequest {}/{}",
            ns.name,
            winner.name_any()
        )),
        "{message}"
    );

    // Every key on LA1 has its own VLAN, none of the VXCs' (101-103), one key per request.
    let keys = provider
        .list_service_keys_for_product(quantumgpu::PORT_LAX_EQ1_BLUE)
        .await
        .unwrap();
    let ours: Vec<&ServiceKey> = keys
        .iter()
        .filter(|k| k.active && k.description.as_deref().and_then(Marker::parse).is_some())
        .collect();
    let mut vlans: Vec<u16> = ours.iter().filter_map(|k| k.vlan).collect();
    vlans.sort_unstable();
    let unique: std::collections::BTreeSet<u16> = vlans.iter().copied().collect();
    assert_eq!(
        unique.len(),
        vlans.len(),
        "a VLAN was handed out twice: {vlans:?}"
    );
    assert!(
        vlans.iter().all(|v| ![101, 102, 103].contains(v)),
        "{vlans:?}"
    );
    let requests = api.list(&ListParams::default()).await.unwrap().items;
    for r in &requests {
        let n = ours
            .iter()
            .filter(|k| {
                k.description
                    .as_deref()
                    .and_then(Marker::parse)
                    .unwrap()
                    .request_uid
                    == r.uid().unwrap()
            })
            .count();
        let want = usize::from(r.name_any() != loser.name_any());
        assert_eq!(n, want, "{} has {n} keys", r.name_any());
    }

    // Steady state with 10 requests, then with 30: the same calls per period.
    let (keys_10, products_10) = poll(5).await;
    create_all((8..28).map(|i| format!("auto-{i}")).collect()).await;
    let (keys_30, products_30) = poll(5).await;
    for (what, n) in [
        ("key lists", keys_10),
        ("product lists", products_10),
        ("key lists", keys_30),
        ("product lists", products_30),
    ] {
        assert!((3..=7).contains(&n), "{n} {what} in 5 periods");
    }

    // The holder goes away: the waiting request gets VLAN 150.
    api.delete(&winner.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    let healed = wait_phase(&api, &loser.name_any(), Phase::Issued).await;
    assert_eq!(healed.status.unwrap().keys[0].vlan, Some(150));
    operator.stop_after_cleanup(&admin, &ns.name).await;
}

/// Requests that cannot be served as asked say why: a region that does not serve the
/// namespace, Required diversity with one zone, an unknown on-ramp; Preferred falls back to one
/// key with a note; a request for a region that does not exist yet waits and then proceeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_cannot_be_served_say_why() {
    let admin = support::client(Identity::Admin).await;
    let operator = Operator::start(&admin, Operator::fast()).await;
    let ns = TestNamespace::new(&admin, "refusals").await;
    let api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns.name);
    let regions: Api<OnRampRegion> = Api::all(admin.clone());
    let pp = PostParams::default();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let region = |name: &str, spec: Value| -> OnRampRegion {
        serde_json::from_value(json!({
            "apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "OnRampRegion",
            "metadata": {"name": format!("{name}-{suffix}")}, "spec": spec,
        }))
        .unwrap()
    };
    regions
        .create(
            &pp,
            &region("japan", json!({"match": {"countries": ["Japan"]}})),
        )
        .await
        .unwrap();
    regions
        .create(
            &pp,
            &region(
                "private",
                json!({"match": {"locationIds": [59, 60]},
                       "allowedNamespaces": {"matchLabels": {"megaport.onramp.dev/customer": "true"}}}),
            ),
        )
        .await
        .unwrap();
    let stalled = |name: &'static str| {
        let api = api.clone();
        async move {
            eventually(&format!("{name} to stall"), WAIT, || async {
                let r = api.get(name).await.ok()?;
                let (status, reason, message) = condition(&r, "Stalled")?;
                let (reason, message) = (reason.to_owned(), message.to_owned());
                (status == "True").then_some((reason, message, r))
            })
            .await
        }
    };

    let cases = [
        (
            "not-allowed",
            json!({"regionRef": {"name": format!("private-{suffix}")}, "maxSpeedMbps": 10}),
            "NamespaceNotAllowed",
        ),
        (
            "one-zone",
            json!({"regionRef": {"name": format!("japan-{suffix}")}, "diversity": "Required", "maxSpeedMbps": 10}),
            "DiversityUnavailable",
        ),
        (
            "no-such-port",
            json!({"onRamp": {"productUid": "00000000-0000-4000-8000-000000000000"}}),
            "OnRampNotFound",
        ),
        (
            "too-fast",
            json!({"regionRef": {"name": format!("japan-{suffix}")}, "maxSpeedMbps": 5000}),
            "NoFittingOnRamp",
        ),
    ];
    for (name, spec, _) in &cases {
        api.create(&pp, &request(name, spec.clone())).await.unwrap();
    }
    for (name, _, reason) in cases {
        let (got, message, r) = stalled(name).await;
        assert_eq!(got, reason, "{name}: {message}");
        assert_eq!(
            r.status.as_ref().unwrap().phase,
            Some(Phase::Failed),
            "{name}"
        );
        assert_eq!(condition(&r, "Ready").unwrap().0, "False");
        assert!(condition(&r, "Reconciling").is_none(), "{name}");
        assert!(!message.is_empty());
    }

    // A Failed request is evaluated again every period: labelling the namespace heals it.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
    namespaces
        .patch(
            &ns.name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"megaport.onramp.dev/customer": "true"}}}),
            ),
        )
        .await
        .unwrap();
    wait_phase(&api, "not-allowed", Phase::Issued).await;

    // Preferred with one zone: one key, and KeysIssued says why.
    api.create(
        &pp,
        &request(
            "preferred",
            json!({"regionRef": {"name": format!("japan-{suffix}")}, "diversity": "Preferred", "maxSpeedMbps": 10}),
        ),
    )
    .await
    .unwrap();
    let preferred = wait_phase(&api, "preferred", Phase::Issued).await;
    assert_eq!(preferred.status.as_ref().unwrap().key_count, Some(1));
    let (_, _, message) = condition(&preferred, "KeysIssued").unwrap();
    assert!(message.contains("diversity Preferred"), "{message}");

    // A region that does not exist yet: the request waits (not stalled), then proceeds.
    api.create(
        &pp,
        &request(
            "early",
            json!({"regionRef": {"name": format!("later-{suffix}")}, "maxSpeedMbps": 10}),
        ),
    )
    .await
    .unwrap();
    let waiting = eventually("early to wait for its region", WAIT, || async {
        let r = api.get("early").await.ok()?;
        (condition(&r, "Reconciling")?.1 == "RegionNotFound").then_some(r)
    })
    .await;
    assert_eq!(waiting.status.unwrap().phase, Some(Phase::Pending));
    regions
        .create(
            &pp,
            &region("later", json!({"match": {"countries": ["UK"]}})),
        )
        .await
        .unwrap();
    wait_phase(&api, "early", Phase::Issued).await;
    for name in ["japan", "private", "later"] {
        let _ = regions
            .delete(&format!("{name}-{suffix}"), &DeleteParams::default())
            .await;
    }
    operator.stop_after_cleanup(&admin, &ns.name).await;
}
