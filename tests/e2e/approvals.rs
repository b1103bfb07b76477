//! Connection approvals, the provider's side: a customer orders a VXC with a key that is not
//! pre-approved, and the provider's ServiceKeyRequest shows the connection waiting (from the
//! shared products snapshot: no Megaport call per request) within a poll period; a policy
//! declared on the request then approves it, once, and the VXC provisions.

use std::time::Duration;

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use megaport_operator::crd::connections::{Connection, ConnectionState, DecidedBy};
use megaport_operator::crd::service_key_request::{Phase, ServiceKeyRequest};
use megaport_operator::megaport::models::{OrderItem, VxcOrder};
use megaport_operator::megaport::prelude::*;
use megaport_sim::quantumgpu;
use serde_json::json;

use crate::issuing::{request, secret_data, wait_phase};
use crate::support::{
    self, Identity, Operator, OperatorProcess, TestNamespace, eventually, log_path,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_connection_shows_within_a_poll_period_and_a_policy_approves_it_once() {
    let admin = support::client(Identity::Admin).await;
    support::install_project_crds(&admin).await;
    let op = Operator::start(&admin, Operator::fast()).await;
    let ns = TestNamespace::new(&admin, "approvals").await;
    let requests = Api::<ServiceKeyRequest>::namespaced(admin.clone(), &ns.name);
    let key = issued(&admin, &requests, &ns.name, 300).await;
    // The customer orders with it; the key is not pre-approved, so the VXC waits.
    let (vxc, customer) = ordered_with(&op.sim, key, 200).await;
    let shown = eventually(
        "the request to show the waiting connection",
        // The poll periods are 1 s here (Operator::fast).
        Duration::from_secs(30),
        || async {
            let r = requests.get("acme-la").await.ok()?;
            let status = r.status?;
            let c = status.connections.first()?.clone();
            let pending = status
                .conditions
                .iter()
                .any(|c| c.type_ == "ConnectionsPending" && c.status == "True");
            pending.then_some(c)
        },
    )
    .await;
    assert_eq!(shown.vxc_uid, vxc);
    assert_eq!(shown.company.as_deref(), Some("Acme Robotics"));
    assert_eq!((shown.rate_mbps, shown.vlan), (Some(200), Some(300)));
    let control = op.sim.control();
    assert_eq!(
        control.counter("PUT /v3/product/vxc/{uid}").await.unwrap(),
        0,
        "no policy: nothing is answered"
    );

    // The provider declares that Acme's connections are approved: the waiting one is, once,
    // and provisions.
    requests
        .patch(
            "acme-la",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"connections": {"autoApprove": {"companies": [quantumgpu::CUSTOMER_COMPANY_UID]}}}}),
            ),
        )
        .await
        .unwrap();
    let approved = approved(&requests, &vxc).await;
    assert_eq!(approved.decided_by, Some(DecidedBy::Policy));
    goes_live(&control, &customer, &vxc).await;
    wait_phase(&requests, "acme-la", Phase::Used).await;
    assert_eq!(
        control.counter("PUT /v3/product/vxc/{uid}").await.unwrap(),
        1,
        "one answer, however often the request is reconciled"
    );
    op.stop_after_cleanup(&admin, &ns.name).await;
}

/// Issues request acme-la (one single-use key on LA 2 with `vlan`, not pre-approved); the key.
async fn issued(
    admin: &kube::Client,
    requests: &Api<ServiceKeyRequest>,
    namespace: &str,
    vlan: u16,
) -> String {
    let spec = json!({"onRamp": {"productUid": quantumgpu::PORT_LAX_CS1_RED}, "maxSpeedMbps": 500, "vlan": vlan});
    requests
        .create(&PostParams::default(), &request("acme-la", spec))
        .await
        .unwrap();
    wait_phase(requests, "acme-la", Phase::Issued).await;
    secret_data(admin, namespace, "acme-la")
        .await
        .get("serviceKey")
        .cloned()
        .unwrap()
}

/// Waits for the request to show `vxc` approved; the connection.
async fn approved(requests: &Api<ServiceKeyRequest>, vxc: &str) -> Connection {
    eventually(
        "the connection to be approved",
        Duration::from_secs(30),
        || async {
            let r = requests.get("acme-la").await.ok()?;
            let c = r
                .status?
                .connections
                .into_iter()
                .find(|c| c.vxc_uid == vxc)?;
            (c.state == ConnectionState::Approved).then_some(c)
        },
    )
    .await
}

/// Moves the simulator's clock past provisioning and waits for `vxc` to be LIVE.
async fn goes_live(
    control: &megaport_sim::SimControl,
    customer: &megaport_operator::megaport::MegaportClient,
    vxc: &str,
) {
    control
        .advance_clock(Duration::from_secs(61))
        .await
        .unwrap();
    vxc_becomes(customer, vxc, "LIVE", |s| s.is_live()).await;
}

/// Waits for the customer's VXC `vxc` to be in a state `is` accepts (`what` names it).
async fn vxc_becomes(
    customer: &megaport_operator::megaport::MegaportClient,
    vxc: &str,
    what: &str,
    is: impl Fn(&megaport_operator::megaport::models::ProvisioningStatus) -> bool,
) {
    eventually(
        &format!("the VXC to be {what}"),
        Duration::from_secs(30),
        || async {
            let vxcs = customer
                .get_product(quantumgpu::CUSTOMER_PORT_LAX)
                .await
                .ok()?
                .associated_vxcs;
            vxcs.iter()
                .any(|v| v.product_uid == vxc && is(&v.provisioning_status))
                .then_some(())
        },
    )
    .await;
}

/// A customer's VXC with the request's key, waiting; its UID.
async fn ordered_with(
    sim: &megaport_sim::RunningSimulator,
    key: String,
    rate: u32,
) -> (
    String,
    std::sync::Arc<megaport_operator::megaport::MegaportClient>,
) {
    let customer = support::megaport_client(
        sim,
        quantumgpu::CUSTOMER_ADMIN_ID,
        quantumgpu::CUSTOMER_ADMIN_SECRET,
    );
    let order = OrderItem::Vxc(VxcOrder::with_service_key(
        quantumgpu::CUSTOMER_PORT_LAX,
        "acme to QuantumGPU",
        None,
        megaport_operator::megaport::models::ServiceKeyValue::new(key),
        quantumgpu::PORT_LAX_CS1_RED,
        rate,
    ));
    let bought = customer.buy_network_design(&[order], &[]).await.unwrap();
    (bought[0].product_uid().unwrap().to_owned(), customer)
}

fn decision(name: &str, vxc: &str, by: &str) -> megaport_operator::crd::ConnectionApproval {
    serde_json::from_value(json!({
        "apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "ConnectionApproval",
        "metadata": {"name": name},
        "spec": {"request": "acme-la", "vxcUid": vxc, "decision": "Approve", "decidedBy": by,
                 "reason": "signed contract"},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_people_allowed_to_decide_approve_and_the_decision_is_theirs() {
    let admin = support::client(Identity::Admin).await;
    support::install_project_crds(&admin).await;
    support::apply_file(&admin, "deploy/ordering.yaml").await;
    let op = Operator::start(&admin, Operator::fast()).await;
    let ns = TestNamespace::new(&admin, "decide").await;
    for (role, group) in [
        ("megaport-tech-admin", "megaport:tech-admin"),
        ("megaport-tech-contact", "megaport:tech-contact"),
    ] {
        let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": role},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
        }))
        .unwrap();
        Api::namespaced(admin.clone(), &ns.name)
            .create(&PostParams::default(), &binding)
            .await
            .unwrap();
    }
    let requests = Api::<ServiceKeyRequest>::namespaced(admin.clone(), &ns.name);
    let key = issued(&admin, &requests, &ns.name, 310).await;
    let (vxc, customer) = ordered_with(&op.sim, key, 200).await;
    let api = |c: &kube::Client| {
        Api::<megaport_operator::crd::ConnectionApproval>::namespaced(c.clone(), &ns.name)
    };
    let (contact, tech_admin) = (
        support::client(Identity::TechContact).await,
        support::client(Identity::TechAdmin).await,
    );
    // The policy loads asynchronously: wait until it refuses a decision in someone else's name.
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let refused = eventually(
        "the decider policy to be in force",
        Duration::from_secs(30),
        || async {
            match api(&tech_admin)
                .create(&dry, &decision("probe", &vxc, "alice"))
                .await
            {
                Err(kube::Error::Api(s)) if s.message.contains("must be the user deciding") => {
                    Some(s.message)
                }
                _ => None,
            }
        },
    )
    .await;
    assert!(refused.contains("tech-admin"), "{refused}");
    // Someone who may edit the request but not decide may not make it decide either: a
    // policy in spec.connections is refused at admission.
    let role: k8s_openapi::api::rbac::v1::Role = serde_json::from_value(json!({
        "metadata": {"name": "request-editor"},
        "rules": [{"apiGroups": ["megaport.onramp.dev"], "resources": ["servicekeyrequests"], "verbs": ["get", "patch"]}],
    }))
    .unwrap();
    Api::namespaced(admin.clone(), &ns.name)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "request-editor"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "request-editor"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "nobody"}],
    }))
    .unwrap();
    Api::namespaced(admin.clone(), &ns.name)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let editor =
        Api::<ServiceKeyRequest>::namespaced(support::client(Identity::Nobody).await, &ns.name);
    let deciding = Patch::Merge(json!({"spec": {"connections": {"autoApprove": {}}}}));
    let dry_patch = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    let message = eventually(
        "the connection-policy policy to refuse the editor",
        Duration::from_secs(30),
        || async {
            match editor.patch("acme-la", &dry_patch, &deciding).await {
                Err(kube::Error::Api(s)) if s.message.contains("may not set spec.connections") => {
                    Some(s.message)
                }
                _ => None,
            }
        },
    )
    .await;
    assert!(message.contains("connectionapprovals"), "{message}");
    // The tech contact may not decide at all (RBAC).
    let denied = api(&contact)
        .create(
            &PostParams::default(),
            &decision("by-contact", &vxc, "tech-contact"),
        )
        .await;
    assert!(
        matches!(&denied, Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("connectionapprovals")),
        "{denied:?}"
    );
    // The tech admin approves, in its own name: sent once, recorded as theirs.
    api(&tech_admin)
        .create(
            &PostParams::default(),
            &decision("approve", &vxc, "tech-admin"),
        )
        .await
        .unwrap();
    let approved = approved(&requests, &vxc).await;
    assert_eq!(
        (approved.decided_by, approved.decider.as_deref()),
        (Some(DecidedBy::Person), Some("tech-admin"))
    );
    let control = op.sim.control();
    goes_live(&control, &customer, &vxc).await;
    wait_phase(&requests, "acme-la", Phase::Used).await;
    assert_eq!(
        control.counter("PUT /v3/product/vxc/{uid}").await.unwrap(),
        1
    );
    op.stop_after_cleanup(&admin, &ns.name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_connection_is_rejected_at_its_deadline_once_across_a_restart() {
    let admin = support::client(Identity::Admin).await;
    let sim = support::simulator_for_binaries(&admin).await;
    let control = sim.control();
    let mut first = OperatorProcess::start(&sim, &log_path("deadline-first"));
    let ns = TestNamespace::new(&admin, "deadline").await;
    let requests = Api::<ServiceKeyRequest>::namespaced(admin.clone(), &ns.name);
    let key = issued(&admin, &requests, &ns.name, 320).await;
    // A policy no connection meets (another company), and a deadline.
    requests
        .patch(
            "acme-la",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"connections": {
                "autoApprove": {"companies": [quantumgpu::PROVIDER_COMPANY_UID]},
                "rejectAfter": "5s"}}})),
        )
        .await
        .unwrap();
    let (vxc, customer) = ordered_with(&sim, key, 200).await;
    let rejected = eventually(
        "the forgotten connection to be rejected",
        Duration::from_secs(45),
        || async {
            let r = requests.get("acme-la").await.ok()?;
            let c = r
                .status?
                .connections
                .into_iter()
                .find(|c| c.vxc_uid == vxc)?;
            (c.state == ConnectionState::Rejected).then_some(c)
        },
    )
    .await;
    assert_eq!(rejected.decided_by, Some(DecidedBy::Deadline));
    // Megaport decommissions a rejected VXC.
    vxc_becomes(&customer, &vxc, "decommissioned", |s| s.is_decommissioned()).await;
    assert_eq!(
        control.counter("PUT /v3/product/vxc/{uid}").await.unwrap(),
        1
    );
    // Restarted, the operator reconciles the request again and sends nothing more.
    first.kill();
    let second = OperatorProcess::start(&sim, &log_path("deadline-second"));
    let (status, _) = eventually(
        "the new operator to be ready",
        Duration::from_secs(30),
        || async {
            let (code, body) = second.get("/readyz").await;
            (code == 200).then_some((code, body))
        },
    )
    .await;
    assert_eq!(status, 200);
    eventually(
        "the new operator to reconcile the request",
        Duration::from_secs(30),
        || async {
            let scrape = second.metrics().await;
            let n = support::sample(
                &scrape,
                "megaport_operator_reconciles_total",
                &[("controller", "ServiceKeyRequest")],
            );
            (n >= 1.0).then_some(())
        },
    )
    .await;
    assert_eq!(
        control.counter("PUT /v3/product/vxc/{uid}").await.unwrap(),
        1,
        "the decision is not sent again"
    );
    support::delete_requests(&admin, &ns.name).await;
    drop(second);
    sim.shutdown().await;
}
