//! SavedConfiguration admission as the harness's users, under the ClusterRoles and the
//! order-permission policy of `deploy/ordering.yaml`: the tech contact saves and edits but may
//! not order; the tech admin and finance order; the finance contact and read-only user only
//! read; an ordered configuration's services are immutable; deleting an ordered configuration
//! that would cancel its services needs the permission to order too.

use std::time::Duration;

use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use megaport_operator::crd::SavedConfiguration;
use serde_json::{Value, json};

use crate::support::{self, Identity, TestNamespace, eventually, rejected};

/// A design: a Port in Los Angeles and a VXC from it to an existing product.
fn design(name: &str, order: bool) -> SavedConfiguration {
    serde_json::from_value(json!({
        "apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "SavedConfiguration",
        "metadata": {"name": name},
        "spec": {
            "description": "GPU cluster uplink",
            "order": order,
            "services": {
                "ports": [{"name": "la-port", "locationId": 59, "speedMbps": 10000, "termMonths": 12}],
                "vxcs": [{"name": "to-cloud", "rateLimitMbps": 1000, "termMonths": 1,
                          "aEnd": {"service": "la-port"},
                          "bEnd": {"productUid": "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0002"}}],
            },
        },
    }))
    .unwrap()
}

/// The status and message of a refused call.
fn refused<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn bind(admin: &Client, namespace: &str, role: &str, group: &str) {
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), namespace)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
}

fn merge(value: Value) -> Patch<Value> {
    Patch::Merge(value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_people_allowed_to_order_may_order() {
    let admin = support::client(Identity::Admin).await;
    support::install_project_crds(&admin).await;
    support::apply_file(&admin, "deploy/ordering.yaml").await;
    let ns = TestNamespace::new(&admin, "order").await;
    for (role, group) in [
        ("megaport-tech-admin", "megaport:tech-admin"),
        ("megaport-tech-contact", "megaport:tech-contact"),
        ("megaport-finance", "megaport:finance"),
        ("megaport-finance-contact", "megaport:finance-contact"),
        ("megaport-read-only", "megaport:read-only"),
    ] {
        bind(&admin, &ns.name, role, group).await;
    }
    let api = |client: &Client| Api::<SavedConfiguration>::namespaced(client.clone(), &ns.name);
    let (tech_contact, tech_admin, finance) = (
        support::client(Identity::TechContact).await,
        support::client(Identity::TechAdmin).await,
        support::client(Identity::Finance).await,
    );
    let (finance_contact, read_only) = (
        support::client(Identity::FinanceContact).await,
        support::client(Identity::ReadOnly).await,
    );
    let pp = PostParams::default();
    let patch = PatchParams::default();

    // The tech contact saves and edits a design (RBAC takes effect asynchronously).
    eventually(
        "the tech contact's role",
        Duration::from_secs(15),
        || async {
            api(&tech_contact)
                .create(&pp, &design("la", false))
                .await
                .ok()
        },
    )
    .await;
    api(&tech_contact)
        .patch(
            "la",
            &patch,
            &merge(json!({"spec": {"description": "GPU cluster uplink, 10G"}})),
        )
        .await
        .unwrap();
    // ... but ordering it is refused at admission, naming the missing permission. The policy
    // is loaded asynchronously: wait for it with dry runs (a real attempt admitted too early
    // would order the design and prove nothing).
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    eventually(
        "the order policy to be in force",
        Duration::from_secs(30),
        || async {
            let result = api(&tech_contact)
                .create(&dry, &design("probe", true))
                .await;
            match result {
                Err(kube::Error::Api(status)) if status.message.contains("may not order") => {
                    Some(())
                }
                _ => None,
            }
        },
    )
    .await;
    let (code, message) = refused(
        api(&tech_contact)
            .patch("la", &patch, &merge(json!({"spec": {"order": true}})))
            .await,
    );
    assert_eq!(code, 403, "{message}");
    for needle in [
        "tech-contact may not order SavedConfiguration",
        "verb \"order\" on savedconfigurations.megaport.onramp.dev",
        "megaport-tech-admin",
    ] {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
    let (code, message) = refused(
        api(&tech_contact)
            .create(&pp, &design("la-now", true))
            .await,
    );
    assert_eq!(code, 403, "creating it ordered is ordering too: {message}");

    // The tech admin orders it; finance creates one ordered.
    api(&tech_admin)
        .patch(
            "la",
            &patch,
            &merge(json!({"spec": {"order": true, "deletionPolicy": "CancelNow"}})),
        )
        .await
        .unwrap();
    api(&finance)
        .create(&pp, &design("la-finance", true))
        .await
        .unwrap();

    // An ordered configuration: services immutable, order not undone, for anyone.
    let message = rejected(
        api(&tech_admin)
            .patch(
                "la",
                &patch,
                &merge(json!({"spec": {"services": {"ports": [{"name": "la-port", "locationId": 59, "speedMbps": 100000, "termMonths": 12}]}}})),
            )
            .await,
    );
    assert!(
        message.contains("the services of an ordered configuration are immutable"),
        "{message}"
    );
    let message = rejected(
        api(&tech_admin)
            .patch("la", &patch, &merge(json!({"spec": {"order": false}})))
            .await,
    );
    assert!(
        message.contains("an ordered configuration stays ordered"),
        "{message}"
    );
    // What deleting it costs is the order's too: the tech contact may not change it.
    let (code, message) = refused(
        api(&tech_contact)
            .patch(
                "la",
                &patch,
                &merge(json!({"spec": {"deletionPolicy": "Retain"}})),
            )
            .await,
    );
    assert_eq!(code, 403, "{message}");
    assert!(
        message.contains("may not change the deletionPolicy of SavedConfiguration"),
        "{message}"
    );
    // Editing what is not the order (the description) stays open to the tech contact.
    api(&tech_contact)
        .patch(
            "la",
            &patch,
            &merge(json!({"spec": {"description": "renamed"}})),
        )
        .await
        .unwrap();

    // The finance contact and read-only user read, and nothing else.
    for (who, client) in [
        ("finance-contact", &finance_contact),
        ("read-only", &read_only),
    ] {
        api(client)
            .get("la")
            .await
            .unwrap_or_else(|e| panic!("{who} cannot read: {e}"));
        let (code, message) = refused(
            api(client)
                .create(&pp, &design(&format!("by-{who}"), false))
                .await,
        );
        assert_eq!(code, 403, "{who}: {message}");
        assert!(
            message.contains("cannot create resource \"savedconfigurations\""),
            "{who}: {message}"
        );
        let (code, _) = refused(
            api(client)
                .patch("la", &patch, &merge(json!({"spec": {"description": "x"}})))
                .await,
        );
        assert_eq!(code, 403, "{who} edited");
    }

    // Deleting an ordered configuration whose policy cancels its services is cancelling them:
    // refused to the tech contact, allowed to the tech admin.
    let (code, message) = refused(
        api(&tech_contact)
            .delete("la", &DeleteParams::default())
            .await,
    );
    assert_eq!(code, 403, "{message}");
    assert!(
        message.contains("may not cancel the services of SavedConfiguration"),
        "{message}"
    );
    api(&tech_admin)
        .delete("la", &DeleteParams::default())
        .await
        .unwrap();
    // A saved (unordered) design is the tech contact's to delete.
    api(&tech_contact)
        .create(&pp, &design("scratch", false))
        .await
        .unwrap();
    api(&tech_contact)
        .delete("scratch", &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_designs_are_refused_with_clear_messages() {
    let admin = support::client(Identity::Admin).await;
    support::install_project_crds(&admin).await;
    let ns = TestNamespace::new(&admin, "design").await;
    let api = Api::<SavedConfiguration>::namespaced(admin.clone(), &ns.name);
    let pp = PostParams::default();
    let mut base = serde_json::to_value(design("bad", false)).unwrap();
    base["spec"]["order"] = json!(false);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "a term Megaport does not sell",
            json!({"ports": [{"name": "p", "locationId": 59, "speedMbps": 10000, "termMonths": 6}]}),
            "termMonths must be 1, 12, 24, 36, 48 or 60",
        ),
        (
            "a Port speed that does not exist",
            json!({"ports": [{"name": "p", "locationId": 59, "speedMbps": 2500, "termMonths": 12}]}),
            "speedMbps of a Port must be",
        ),
        (
            "two services with one name",
            json!({"ports": [{"name": "p", "locationId": 59, "speedMbps": 10000, "termMonths": 12}], "mcrs": [{"name": "p", "locationId": 59, "speedMbps": 1000, "termMonths": 12}]}),
            "service names must be unique",
        ),
        (
            "a VXC end naming nothing",
            json!({"ports": [{"name": "p", "locationId": 59, "speedMbps": 10000, "termMonths": 12}], "vxcs": [{"name": "v", "rateLimitMbps": 100, "termMonths": 1, "aEnd": {"service": "q"}, "bEnd": {"productUid": "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0002"}}]}),
            "must name a Port, MCR or MVE of this configuration",
        ),
        (
            "a VXC end naming two things",
            json!({"ports": [{"name": "p", "locationId": 59, "speedMbps": 10000, "termMonths": 12}], "vxcs": [{"name": "v", "rateLimitMbps": 100, "termMonths": 1, "aEnd": {"service": "p", "productUid": "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0002"}, "bEnd": {"productUid": "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0002"}}]}),
            "exactly one of service, productUid and secretKeyRef",
        ),
        (
            "a service key as the A end",
            json!({"ports": [{"name": "p", "locationId": 59, "speedMbps": 10000, "termMonths": 12}], "vxcs": [{"name": "v", "rateLimitMbps": 100, "termMonths": 1, "aEnd": {"secretKeyRef": {"name": "k"}}, "bEnd": {"service": "p"}}]}),
            "aEnd cannot be a service key",
        ),
        (
            "no service at all",
            json!({}),
            "a configuration needs at least one service",
        ),
    ];
    for (what, services, needle) in cases {
        let mut obj = base.clone();
        obj["spec"]["services"] = services;
        let obj: SavedConfiguration = serde_json::from_value(obj).unwrap();
        let message = rejected(api.create(&pp, &obj).await);
        assert!(
            message.contains(needle),
            "{what}: {needle:?} not in {message}"
        );
    }
    // Managed accounts: no public Port, no promo code.
    let mut managed = base.clone();
    managed["spec"]["managedAccount"] = json!("8a1d3c2e-1111-4222-8333-444455556666");
    managed["spec"]["services"]["ports"][0]["marketplaceVisibility"] = json!(true);
    let message = rejected(
        api.create(&pp, &serde_json::from_value(managed.clone()).unwrap())
            .await,
    );
    assert!(
        message.contains("a managed account cannot make a Port public"),
        "{message}"
    );
    managed["spec"]["services"]["ports"][0]["marketplaceVisibility"] = json!(false);
    managed["spec"]["services"]["vxcs"][0]["promoCode"] = json!("GPU2026");
    let message = rejected(
        api.create(&pp, &serde_json::from_value(managed).unwrap())
            .await,
    );
    assert!(
        message.contains("a managed account cannot use promo codes"),
        "{message}"
    );
    // A good one is admitted.
    api.create(&pp, &design("good", false)).await.unwrap();
}
