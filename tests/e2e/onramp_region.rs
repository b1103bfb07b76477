//! OnRampRegion admission on a real apiserver: the CRD's CEL rules reject bad specs with the
//! messages users will read, and accept good ones.

use kube::Api;
use kube::api::PostParams;
use megaport_operator::crd::OnRampRegion;
use megaport_operator::crd::onramp_region::{OnRampMatch, OnRampRegionSpec, VlanRange};

use crate::support::{self, Identity};

fn region(name: &str, match_: OnRampMatch, vlan_range: Option<VlanRange>) -> OnRampRegion {
    OnRampRegion::new(
        name,
        OnRampRegionSpec {
            display_name: Some("Test".into()),
            match_,
            selection: None,
            vlan_range,
            allowed_namespaces: None,
            connections: None,
        },
    )
}

fn la() -> OnRampMatch {
    OnRampMatch {
        metros: Some(vec!["Los Angeles".into()]),
        ..OnRampMatch::default()
    }
}

#[tokio::test]
async fn bad_specs_are_rejected_with_clear_messages() {
    let admin = support::client(Identity::Admin).await;
    support::install_project_crds(&admin).await;
    let api: Api<OnRampRegion> = Api::all(admin);
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];

    let cases = [
        (
            region(
                &format!("no-selector-{suffix}"),
                OnRampMatch::default(),
                None,
            ),
            "match needs at least one selector",
        ),
        (
            region(
                &format!("empty-list-{suffix}"),
                OnRampMatch {
                    countries: Some(vec![]),
                    ..OnRampMatch::default()
                },
                None,
            ),
            "countries must not be empty",
        ),
        (
            region(
                &format!("inverted-{suffix}"),
                la(),
                Some(VlanRange { min: 300, max: 200 }),
            ),
            "vlanRange.min must not be greater than vlanRange.max",
        ),
        (
            region(
                &format!("vlan-one-{suffix}"),
                la(),
                Some(VlanRange { min: 1, max: 200 }),
            ),
            "VLANs must be within 2..4093",
        ),
        (
            region(
                &format!("vlan-big-{suffix}"),
                la(),
                Some(VlanRange { min: 2, max: 4094 }),
            ),
            "VLANs must be within 2..4093",
        ),
    ];
    for (obj, expected) in &cases {
        let message = support::rejected(api.create(&PostParams::default(), obj).await);
        assert!(
            message.contains(expected),
            "{:?}: {message}",
            obj.metadata.name
        );
    }

    let good = region(
        &format!("us-west-{suffix}"),
        la(),
        Some(VlanRange { min: 100, max: 199 }),
    );
    let created = api.create(&PostParams::default(), &good).await.unwrap();
    assert_eq!(
        created.spec, good.spec,
        "the apiserver added defaults to the spec"
    );
    api.delete(&created.metadata.name.unwrap(), &Default::default())
        .await
        .unwrap();
}

/// The controller, run in-process as the operator's ServiceAccount identity bound only to
/// `deploy/rbac.yaml`, against the simulator's QuantumGPU world.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_resolve_to_live_on_ramps_under_the_operator_role() {
    use std::time::Duration;

    use crate::support::named_conditions as conditions;
    use kube::api::ListParams;
    use megaport_operator::controller::Settings;
    use megaport_sim::quantumgpu;

    use crate::support::{Operator, eventually};

    let admin = support::client(Identity::Admin).await;
    let settings = Settings {
        products_refresh: Duration::from_secs(1),
        ..Settings::default()
    };
    let operator = Operator::start(&admin, settings).await;
    let sim = &operator.sim;

    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let api: Api<OnRampRegion> = Api::all(admin.clone());
    let name = |base: &str| format!("{base}-{suffix}");
    let locations = |ids: &[i64]| OnRampMatch {
        location_ids: Some(ids.to_vec()),
        ..OnRampMatch::default()
    };
    let countries = |c: &[&str]| OnRampMatch {
        countries: Some(c.iter().map(|s| s.to_string()).collect()),
        ..OnRampMatch::default()
    };
    let regions = [
        region(&name("us-west"), locations(&[59, 60]), None),
        region(&name("us"), countries(&["USA"]), None),
        region(&name("anz"), countries(&["Australia"]), None),
        region(&name("nowhere"), countries(&["Narnia"]), None),
        region(&name("us-west-b"), locations(&[59, 60]), None),
        region(&name("us-west-c"), locations(&[59, 60]), None),
    ];
    for r in &regions {
        api.create(&PostParams::default(), r).await.unwrap();
    }
    let status_of = |base: &'static str| {
        let api = api.clone();
        let full = name(base);
        move || {
            let api = api.clone();
            let full = full.clone();
            async move {
                api.get(&full)
                    .await
                    .ok()
                    .and_then(|r| r.status)
                    .filter(|s| s.observed_generation.is_some())
            }
        }
    };

    // US-West: the two Los Angeles ports, blue and red.
    let us_west = eventually(
        "US-West to resolve",
        Duration::from_secs(30),
        status_of("us-west"),
    )
    .await;
    assert!(
        conditions::is_true(&us_west.conditions, "Ready"),
        "{:?}",
        us_west.conditions
    );
    assert!(conditions::is_true(
        &us_west.conditions,
        "DiversityAvailable"
    ));
    let mut found: Vec<(i64, String)> = us_west
        .on_ramps
        .iter()
        .map(|o| (o.location_id.unwrap(), o.diversity_zone.clone().unwrap()))
        .collect();
    found.sort();
    assert_eq!(found, [(59, "blue".to_string()), (60, "red".to_string())]);
    assert_eq!(us_west.diversity_zones, ["blue", "red"]);

    // The transition to Ready was announced once with an event (cluster-scoped objects' events
    // land in the default namespace).
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(admin.clone(), "default");
    let event = eventually("an event for US-West", Duration::from_secs(15), || async {
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref())
                    == Some(name("us-west").as_str())
            })
    })
    .await;
    assert_eq!(event.reason.as_deref(), Some("OnRampsAvailable"));
    assert_eq!(event.type_.as_deref(), Some("Normal"));

    // The not-LIVE port and the vxcPermitted=false port are listed, not eligible, with the reason.
    let us = eventually("USA to resolve", Duration::from_secs(30), status_of("us")).await;
    let ny_blue = us
        .on_ramps
        .iter()
        .find(|o| o.product_uid == quantumgpu::PORT_NYC_THC_BLUE)
        .unwrap();
    assert!(!ny_blue.eligible);
    assert!(ny_blue.reason.as_deref().unwrap().contains("not LIVE"));
    let anz = eventually("ANZ to resolve", Duration::from_secs(30), status_of("anz")).await;
    let mgmt = anz
        .on_ramps
        .iter()
        .find(|o| o.product_uid == quantumgpu::PORT_SYD_GSW_MGMT)
        .unwrap();
    assert!(
        !mgmt.eligible
            && mgmt
                .reason
                .as_deref()
                .unwrap()
                .contains("vxcPermitted is false")
    );

    // A region matching nothing says so.
    let nowhere = eventually(
        "the empty region to resolve",
        Duration::from_secs(30),
        status_of("nowhere"),
    )
    .await;
    let ready = conditions::find(&nowhere.conditions, "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "NoMatchingOnRamps")
    );

    // Products are read once per refresh period for all six regions, not once per region.
    let control = sim.control();
    let before = control.counter("GET /v2/products").await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let calls = control.counter("GET /v2/products").await.unwrap() - before;
    assert!(
        calls <= 7,
        "{calls} product lists in 5 s for 6 regions at a 1 s period"
    );

    // The status follows Megaport: LA1 leaves LIVE, US-West loses diversity.
    control
        .set_product_status(quantumgpu::PORT_LAX_EQ1_BLUE, "CONFIGURED")
        .await
        .unwrap();
    let changed = eventually(
        "US-West to notice LA1 is not LIVE",
        Duration::from_secs(30),
        || async {
            let s = status_of("us-west")().await?;
            (!conditions::is_true(&s.conditions, "DiversityAvailable")).then_some(s)
        },
    )
    .await;
    assert!(
        conditions::is_true(&changed.conditions, "Ready"),
        "CoreSite LA1 is still eligible"
    );
    let la1 = changed
        .on_ramps
        .iter()
        .find(|o| o.location_id == Some(59))
        .unwrap();
    assert!(!la1.eligible);

    // Megaport down: the region says so (Reconciling) and keeps what it knew; recovery clears it.
    control
        .inject_fault(&megaport_sim::FaultSpec::status(503).path("/v2/products"))
        .await
        .unwrap();
    let outage = eventually(
        "US-West to report the outage",
        Duration::from_secs(60),
        || async {
            let s = status_of("us-west")().await?;
            conditions::is_true(&s.conditions, "Reconciling").then_some(s)
        },
    )
    .await;
    let reconciling = conditions::find(&outage.conditions, "Reconciling").unwrap();
    assert_eq!(reconciling.reason, "MegaportUnavailable");
    assert!(
        reconciling.message.contains("503"),
        "{}",
        reconciling.message
    );
    assert_eq!(outage.on_ramps.len(), 2);
    control.clear_faults().await.unwrap();
    eventually("US-West to recover", Duration::from_secs(90), || async {
        let s = status_of("us-west")().await?;
        conditions::find(&s.conditions, "Reconciling")
            .is_none()
            .then_some(())
    })
    .await;

    for r in &regions {
        let _ = api
            .delete(r.metadata.name.as_deref().unwrap(), &Default::default())
            .await;
    }
    operator.stop().await;
}
