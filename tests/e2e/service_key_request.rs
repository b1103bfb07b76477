//! ServiceKeyRequest admission on a real apiserver: shape rules and immutability (CEL), with
//! the messages users read.

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use megaport_operator::crd::ServiceKeyRequest;
use megaport_operator::crd::service_key_request::{
    Diversity, OnRampRef, RegionRef, ServiceKeyRequestSpec, Validity,
};
use serde_json::json;

use crate::support::{self, Identity, TestNamespace};

fn spec() -> ServiceKeyRequestSpec {
    ServiceKeyRequestSpec {
        region_ref: Some(RegionRef {
            name: "us-west".into(),
        }),
        on_ramp: None,
        diversity: Some(Diversity::Required),
        single_use: Some(true),
        vlan: Some(100),
        max_speed_mbps: Some(500),
        validity: None,
        pre_approved: None,
        description: None,
        customer: None,
        secret: None,
        deletion_policy: None,
        suspend: None,
        connections: None,
    }
}

#[tokio::test]
async fn shape_rules_and_immutable_fields() {
    let admin = support::client(Identity::Admin).await;
    support::install_project_crds(&admin).await;
    let ns = TestNamespace::new(&admin, "skr-admission").await;
    let api: Api<ServiceKeyRequest> = Api::namespaced(admin.clone(), &ns.name);
    let create = |name: &str, spec: ServiceKeyRequestSpec| {
        let api = api.clone();
        let obj = ServiceKeyRequest::new(name, spec);
        async move { api.create(&PostParams::default(), &obj).await }
    };

    let both = ServiceKeyRequestSpec {
        on_ramp: Some(OnRampRef {
            product_uid: "p".into(),
        }),
        ..spec()
    };
    assert!(
        support::rejected(create("both", both).await)
            .contains("set exactly one of regionRef and onRamp")
    );
    let neither = ServiceKeyRequestSpec {
        region_ref: None,
        ..spec()
    };
    assert!(
        support::rejected(create("neither", neither).await)
            .contains("set exactly one of regionRef and onRamp")
    );
    let multi_vlan = ServiceKeyRequestSpec {
        single_use: Some(false),
        ..spec()
    };
    assert!(
        support::rejected(create("multi", multi_vlan).await)
            .contains("vlan applies to single-use keys only")
    );
    let bad_vlan = ServiceKeyRequestSpec {
        vlan: Some(4094),
        ..spec()
    };
    assert!(
        support::rejected(create("vlan", bad_vlan).await).contains("vlan must be within 2..4093")
    );
    let window = ServiceKeyRequestSpec {
        validity: Some(Validity {
            not_after: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                jiff::Timestamp::now(),
            )),
            duration: Some("30d".into()),
            ..Validity::default()
        }),
        ..spec()
    };
    assert!(
        support::rejected(create("window", window).await)
            .contains("notAfter or duration, not both")
    );
    let duration = ServiceKeyRequestSpec {
        validity: Some(Validity {
            duration: Some("a month".into()),
            ..Validity::default()
        }),
        ..spec()
    };
    assert!(
        support::rejected(create("duration", duration).await)
            .contains("duration is a whole number")
    );

    // A good request is admitted unchanged (no schema defaults).
    let good = create("customer-1", spec()).await.unwrap();
    assert_eq!(good.spec, spec());

    // Mutable fields change in place; the identity of the keys does not.
    let patch = |body: serde_json::Value| {
        let api = api.clone();
        async move {
            api.patch("customer-1", &PatchParams::default(), &Patch::Merge(body))
                .await
        }
    };
    patch(json!({"spec": {"maxSpeedMbps": 1000, "suspend": true, "description": "moved"}}))
        .await
        .unwrap();
    for (body, message) in [
        (
            json!({"spec": {"diversity": "None"}}),
            "diversity is immutable",
        ),
        (json!({"spec": {"vlan": 200}}), "vlan is immutable"),
        (json!({"spec": {"vlan": null}}), "vlan is immutable"),
        (
            json!({"spec": {"singleUse": null}}),
            "singleUse is immutable",
        ),
        (
            json!({"spec": {"regionRef": {"name": "uk"}}}),
            "regionRef is immutable",
        ),
    ] {
        let message_seen = support::rejected(patch(body.clone()).await);
        assert!(message_seen.contains(message), "{body}: {message_seen}");
    }
}
