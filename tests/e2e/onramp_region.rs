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
        },
    )
}

fn la() -> OnRampMatch {
    OnRampMatch {
        metros: Some(vec!["Los Angeles".into()]),
        ..OnRampMatch::default()
    }
}

async fn rejection(api: &Api<OnRampRegion>, obj: &OnRampRegion) -> String {
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => panic!("{:?} was admitted", obj.metadata.name),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message
        }
        Err(other) => panic!("unexpected error {other}"),
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
        let message = rejection(&api, obj).await;
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
