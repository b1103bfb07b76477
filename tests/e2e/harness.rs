//! Proves the harness itself: CRDs install and become Established, objects round-trip through
//! the status subresource, ownerReference garbage collection and namespace deletion run (the
//! controller-manager is up), and RBAC denies identities without rights.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, CustomResource, CustomResourceExt, Resource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::support::{self, Identity, TestNamespace, eventually};

/// A throw-away kind that exercises the same CRD machinery as the operator's kinds.
#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "e2e.megaport.onramp.dev",
    version = "v1",
    kind = "Probe",
    namespaced,
    status = "ProbeStatus"
)]
pub struct ProbeSpec {
    message: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeStatus {
    observed_generation: Option<i64>,
    echo: Option<String>,
}

fn is_forbidden(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 403)
}

#[tokio::test]
async fn crds_install_and_objects_round_trip_through_status() {
    let admin = support::client(Identity::Admin).await;
    support::install_crd(&admin, &Probe::crd()).await;
    // The operator's own CRDs, once they exist, install the same way.
    support::install_project_crds(&admin).await;
    let ns = TestNamespace::new(&admin, "status").await;
    let api: Api<Probe> = Api::namespaced(admin.clone(), &ns.name);

    let probe = Probe::new(
        "p1",
        ProbeSpec {
            message: "hello".into(),
        },
    );
    let created = api.create(&PostParams::default(), &probe).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.status.is_none());

    // The status subresource takes status and ignores spec.
    let patch = json!({"spec": {"message": "ignored"}, "status": {"observedGeneration": 1, "echo": "hello"}});
    api.patch_status("p1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let read = api.get("p1").await.unwrap();
    assert_eq!(read.spec.message, "hello");
    let status = read.status.expect("status written");
    assert_eq!(status.echo.as_deref(), Some("hello"));
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(
        read.metadata.generation,
        Some(1),
        "a status write must not bump the generation"
    );

    // A spec change bumps the generation; status stays.
    api.patch(
        "p1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"message": "v2"}})),
    )
    .await
    .unwrap();
    let read = api.get("p1").await.unwrap();
    assert_eq!(read.metadata.generation, Some(2));
    assert_eq!(read.status.and_then(|s| s.echo).as_deref(), Some("hello"));
}

#[tokio::test]
async fn owned_secrets_are_garbage_collected_with_their_owner() {
    let admin = support::client(Identity::Admin).await;
    let ns = TestNamespace::new(&admin, "gc").await;
    let maps: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns.name);
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns.name);

    let owner = maps
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("owner".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let owner_ref = OwnerReference {
        api_version: ConfigMap::api_version(&()).into(),
        kind: ConfigMap::kind(&()).into(),
        name: "owner".into(),
        uid: owner.metadata.uid.clone().expect("uid"),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    for name in ["owned", "unowned"] {
        let mut meta = ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        };
        if name == "owned" {
            meta.owner_references = Some(vec![owner_ref.clone()]);
        }
        secrets
            .create(
                &PostParams::default(),
                &Secret {
                    metadata: meta,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }

    maps.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    eventually(
        "the owned Secret to be garbage-collected",
        Duration::from_secs(60),
        || async {
            secrets
                .get_opt("owned")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    assert!(
        secrets.get_opt("unowned").await.unwrap().is_some(),
        "GC removed an unowned Secret"
    );
}

#[tokio::test]
async fn namespaces_are_deleted_completely() {
    let admin = support::client(Identity::Admin).await;
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let ns = TestNamespace::new(&admin, "nsdel").await;
    let maps: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns.name);
    maps.create(
        &PostParams::default(),
        &ConfigMap {
            metadata: ObjectMeta {
                name: Some("content".into()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let name = ns.name.clone();
    drop(ns);
    eventually(
        "the namespace to be gone",
        Duration::from_secs(60),
        || async {
            namespaces
                .get_opt(&name)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn identities_without_rights_are_denied() {
    let admin = support::client(Identity::Admin).await;
    let ns = TestNamespace::new(&admin, "rbac").await;
    for identity in [Identity::Nobody, Identity::Operator, Identity::ReadOnly] {
        let client = support::client(identity).await;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
        if matches!(identity, Identity::Operator) {
            // The operator writes Secrets but never deletes them (garbage collection does).
            let err = secrets
                .delete("any", &Default::default())
                .await
                .unwrap_err();
            assert!(is_forbidden(&err), "{identity:?} deleting a Secret: {err}");
        } else {
            let err = secrets.list(&ListParams::default()).await.unwrap_err();
            assert!(is_forbidden(&err), "{identity:?} listing Secrets: {err}");
        }
        let maps: Api<ConfigMap> = Api::namespaced(client, &ns.name);
        let err = maps
            .create(
                &PostParams::default(),
                &ConfigMap {
                    metadata: ObjectMeta {
                        name: Some("x".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(
            is_forbidden(&err),
            "{identity:?} creating a ConfigMap: {err}"
        );
    }
    // The admin can, so the denial above is RBAC and not a broken connection.
    let secrets: Api<Secret> = Api::namespaced(admin, &ns.name);
    secrets.list(&ListParams::default()).await.unwrap();
}
