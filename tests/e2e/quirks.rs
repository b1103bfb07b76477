//! Behaviour the real Megaport API shows, handled end to end: a product list that now and then
//! shows a Port without its diversity zone must not flip diversity, and a key whose Port was
//! decommissioned (Megaport keeps listing it) is reported as gone, not retried.

use std::time::Duration;

use kube::Api;
use kube::api::PostParams;
use megaport_operator::crd::OnRampRegion;
use megaport_operator::crd::service_key_request::{KeyState, Phase, ServiceKeyRequest};
use megaport_sim::quantumgpu;
use serde_json::json;

use crate::issuing::{condition, request, us_west, wait_phase};
use crate::support::named_conditions as conditions;
use crate::support::{self, Identity, Operator, TestNamespace, eventually};

const WAIT: Duration = Duration::from_secs(45);

#[tokio::test]
async fn empty_zone_reads_keep_diversity_and_decommissioned_on_ramps_are_reported() {
    let admin = support::client(Identity::Admin).await;
    let operator = Operator::start(&admin, Operator::fast()).await;
    let control = operator.sim.control();
    let ns = TestNamespace::new(&admin, "quirks").await;
    let region = us_west(&admin).await;
    let regions: Api<OnRampRegion> = Api::all(admin.clone());
    let diverse = || {
        let regions = regions.clone();
        let region = region.clone();
        async move {
            let r = regions.get(&region).await.ok()?;
            let status = r.status?;
            conditions::is_true(&status.conditions, "DiversityAvailable").then_some(status)
        }
    };
    eventually("the region to offer diversity", WAIT, diverse).await;
    let api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns.name);
    let spec = json!({"regionRef": {"name": region}, "diversity": "Required", "maxSpeedMbps": 100});
    api.create(&PostParams::default(), &request("pair", spec))
        .await
        .unwrap();
    let issued = wait_phase(&api, "pair", Phase::Issued).await;
    let blue = issued
        .status
        .as_ref()
        .unwrap()
        .keys
        .iter()
        .find(|k| k.diversity_zone.as_deref() == Some("blue"))
        .cloned()
        .expect("a blue key");

    // The next product lists show the blue Port without its zone: the region keeps offering
    // diversity and keeps the zone, read after read.
    let reads_before = control.counter("GET /v2/products").await.unwrap();
    control
        .empty_zone_reads(quantumgpu::PORT_LAX_EQ1_BLUE, 3)
        .await
        .unwrap();
    let watched = tokio::time::Instant::now();
    while watched.elapsed() < Duration::from_secs(6) {
        let status = diverse().await.expect("DiversityAvailable stayed True");
        let zone = status
            .on_ramps
            .iter()
            .find(|o| o.product_uid == quantumgpu::PORT_LAX_EQ1_BLUE)
            .and_then(|o| o.diversity_zone.clone());
        assert_eq!(zone.as_deref(), Some("blue"), "the zone was kept");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reads = control.counter("GET /v2/products").await.unwrap() - reads_before;
    assert!(
        reads >= 3,
        "the operator read the empty zones ({reads} lists)"
    );

    // The blue key's Port is decommissioned: the key is reported gone, the request stalls with
    // the reason, the region drops the on-ramp, and nothing is created or updated for it.
    let posts = control.counter("POST /v2/service/key").await.unwrap();
    let puts = control.counter("PUT /v2/service/key").await.unwrap();
    control
        .set_product_status(&blue.product_uid, "DECOMMISSIONED")
        .await
        .unwrap();
    let gone = eventually("the key to be reported gone", WAIT, || async {
        let r = api.get("pair").await.ok()?;
        let key = r
            .status
            .as_ref()?
            .keys
            .iter()
            .find(|k| k.product_uid == blue.product_uid)?;
        (key.state == KeyState::Gone).then_some(r)
    })
    .await;
    let (stalled, reason, message) = condition(&gone, "Stalled").expect("Stalled");
    assert_eq!((stalled, reason), ("True", "OnRampGone"), "{message}");
    assert!(message.contains(&blue.product_uid), "{message}");
    assert_eq!(gone.status.as_ref().unwrap().phase, Some(Phase::Failed));
    eventually("the region to drop the on-ramp", WAIT, || async {
        let r = regions.get(&region).await.ok()?;
        let status = r.status?;
        (!status
            .on_ramps
            .iter()
            .any(|o| o.product_uid == blue.product_uid))
        .then_some(())
    })
    .await;
    // A few polls later still nothing was spent on the gone key.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        control.counter("POST /v2/service/key").await.unwrap(),
        posts
    );
    assert_eq!(control.counter("PUT /v2/service/key").await.unwrap(), puts);
    operator.stop_after_cleanup(&admin, &ns.name).await;
}
