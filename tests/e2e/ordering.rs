//! SavedConfigurations ordered for real: against the apiserver (with the order policy and the
//! role ClusterRoles) and the simulator. A design is quoted at the simulator's prices, the tech
//! contact's order is refused, the tech admin's is bought once and followed to LIVE; deletion
//! cancels as the policy says. A crash between the buy and its record buys nothing twice. A
//! customer's operator orders a VXC with the key a provider's ServiceKeyRequest delivered, and
//! the provider's request turns Used.

use std::time::Duration;

use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use megaport_operator::controller::{Kind, Settings};
use megaport_operator::crd::saved_configuration::{ConfigurationPhase, SavedConfiguration};
use megaport_operator::crd::service_key_request::{Phase, ServiceKeyRequest};
use megaport_operator::megaport::prelude::*;
use megaport_sim::quantumgpu;
use serde_json::{Value, json};

use crate::issuing::{request, wait_phase};
use crate::support::{
    self, Identity, Operator, OperatorProcess, TestNamespace, eventually, log_path,
};

const WAIT: Duration = Duration::from_secs(60);

/// A SavedConfiguration named `name` with `spec`.
pub fn configuration(name: &str, spec: Value) -> SavedConfiguration {
    serde_json::from_value(json!({
        "apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "SavedConfiguration",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap()
}

/// A Port in Los Angeles and a VXC from it to one of the company's Ports.
pub fn uplink(order: bool) -> Value {
    json!({
        "description": "GPU cluster uplink",
        "order": order,
        "deletionPolicy": "CancelNow",
        "services": {
            "ports": [{"name": "la-port", "locationId": 59, "speedMbps": 10000, "termMonths": 12, "diversityZone": "blue"}],
            "vxcs": [{"name": "to-gpu", "rateLimitMbps": 500, "termMonths": 1,
                      "aEnd": {"service": "la-port"}, "bEnd": {"productUid": quantumgpu::PORT_LAX_EQ1_BLUE}}],
        },
    })
}

/// Every controller, polling fast.
fn ordering_settings() -> Settings {
    Settings {
        controllers: Kind::ALL.to_vec(),
        ..Operator::fast()
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

/// Waits until `name` reports `phase` for its current generation.
async fn wait_for(
    api: &Api<SavedConfiguration>,
    name: &str,
    phase: ConfigurationPhase,
) -> SavedConfiguration {
    eventually(&format!("{name} to be {phase:?}"), WAIT, || async {
        let c = api.get(name).await.ok()?;
        let status = c.status.as_ref()?;
        (status.phase == Some(phase) && status.observed_generation == c.metadata.generation)
            .then_some(c)
    })
    .await
}

/// How many of the company's products are named `name` and not decommissioned.
async fn live_named(provider: &dyn MegaportApi, name: &str) -> usize {
    let products = provider.list_products(None).await.unwrap();
    let ports = products
        .iter()
        .filter(|p| p.product_name == name && !p.provisioning_status.is_decommissioned());
    let vxcs = products
        .iter()
        .flat_map(|p| p.associated_vxcs.iter())
        .filter(|v| v.product_name == name && !v.provisioning_status.is_decommissioned())
        .map(|v| v.product_uid.clone())
        .collect::<std::collections::BTreeSet<_>>();
    ports.count() + vxcs.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_design_is_quoted_ordered_by_the_tech_admin_goes_live_and_is_cancelled() {
    let admin = support::client(Identity::Admin).await;
    support::install_project_crds(&admin).await;
    support::apply_file(&admin, "deploy/ordering.yaml").await;
    let op = Operator::start(&admin, ordering_settings()).await;
    let control = op.sim.control();
    let provider = support::megaport_client(
        &op.sim,
        quantumgpu::PROVIDER_ADMIN_ID,
        quantumgpu::PROVIDER_ADMIN_SECRET,
    );
    let ns = TestNamespace::new(&admin, "ordering").await;
    bind(
        &admin,
        &ns.name,
        "megaport-tech-contact",
        "megaport:tech-contact",
    )
    .await;
    bind(
        &admin,
        &ns.name,
        "megaport-tech-admin",
        "megaport:tech-admin",
    )
    .await;
    let api = |c: &Client| Api::<SavedConfiguration>::namespaced(c.clone(), &ns.name);
    let (contact, tech_admin) = (
        support::client(Identity::TechContact).await,
        support::client(Identity::TechAdmin).await,
    );

    // The tech contact saves the design; the operator prices it at the simulator's prices.
    eventually(
        "the tech contact's role",
        Duration::from_secs(15),
        || async {
            api(&contact)
                .create(
                    &PostParams::default(),
                    &configuration("uplink", uplink(false)),
                )
                .await
                .ok()
        },
    )
    .await;
    let quoted = wait_for(&api(&admin), "uplink", ConfigurationPhase::Quoted).await;
    let quote = quoted
        .status
        .as_ref()
        .and_then(|s| s.quote.clone())
        .unwrap();
    // Rack 200 + 0.08 × 10000 = 1000 USD, 12 months 5 % off; the VXC is priced once the Port exists.
    assert_eq!(
        (quote.monthly_total.as_str(), quote.currency.as_str()),
        ("950.00", "USD")
    );
    assert_eq!(
        quote.services[0].monthly_rack_rate.as_deref(),
        Some("1000.00")
    );
    assert_eq!(quote.unpriced, ["to-gpu"]);
    assert_eq!(
        control
            .counter("POST /v3/networkdesign/validate")
            .await
            .unwrap(),
        1
    );

    // The tech contact may not order it. The policy loads asynchronously: wait for it with
    // dry runs (a real attempt admitted too early would order the design).
    let order = Patch::Merge(json!({"spec": {"order": true}}));
    let dry = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    eventually(
        "the order policy to be in force",
        Duration::from_secs(30),
        || async {
            match api(&contact).patch("uplink", &dry, &order).await {
                Err(kube::Error::Api(status)) if status.message.contains("may not order") => {
                    Some(())
                }
                _ => None,
            }
        },
    )
    .await;
    let refused = match api(&contact)
        .patch("uplink", &PatchParams::default(), &order)
        .await
    {
        Err(kube::Error::Api(status)) => status.message,
        other => panic!("the tech contact's order was not refused: {other:?}"),
    };
    assert!(refused.contains("verb \"order\""), "{refused}");
    // The tech admin orders it: bought once (the Port, then the VXC), followed to LIVE.
    api(&tech_admin)
        .patch("uplink", &PatchParams::default(), &order)
        .await
        .unwrap();
    wait_for(&api(&admin), "uplink", ConfigurationPhase::Provisioning).await;
    control
        .advance_clock(Duration::from_secs(61))
        .await
        .unwrap();
    let live = wait_for(&api(&admin), "uplink", ConfigurationPhase::Live).await;
    let services = live
        .status
        .as_ref()
        .map(|s| s.services.clone())
        .unwrap_or_default();
    assert_eq!(services.len(), 2);
    assert!(
        services
            .iter()
            .all(|s| s.provisioning_status.as_deref() == Some("LIVE")),
        "{services:?}"
    );
    assert_eq!(
        control.counter("POST /v4/networkdesign/buy").await.unwrap(),
        2,
        "two rounds, once each"
    );
    assert_eq!(live_named(provider.as_ref(), "la-port").await, 1);
    assert_eq!(live_named(provider.as_ref(), "to-gpu").await, 1);
    // Validation ran when the design was saved and again for the generation that ordered it
    // (just before the buy); not on every reconcile, and not once anything was bought.
    assert_eq!(
        control
            .counter("POST /v3/networkdesign/validate")
            .await
            .unwrap(),
        2
    );

    // Deleting it with CancelNow needs the order permission too; the tech admin has it.
    let delete = DeleteParams::default();
    let denied = api(&contact).delete("uplink", &delete).await;
    assert!(
        matches!(denied, Err(kube::Error::Api(ref s)) if s.code == 403 || s.message.contains("may not")),
        "{denied:?}"
    );
    api(&tech_admin).delete("uplink", &delete).await.unwrap();
    eventually("the configuration to go", WAIT, || async {
        api(&admin)
            .get_opt("uplink")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(
        live_named(provider.as_ref(), "la-port").await,
        0,
        "cancelled now"
    );
    assert_eq!(live_named(provider.as_ref(), "to-gpu").await, 0);
    op.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_buy_and_record_buys_each_service_once() {
    let admin = support::client(Identity::Admin).await;
    let sim = support::simulator_for_binaries(&admin).await;
    let control = sim.control();
    let provider = support::megaport_client(
        &sim,
        quantumgpu::PROVIDER_ADMIN_ID,
        quantumgpu::PROVIDER_ADMIN_SECRET,
    );
    let ns = TestNamespace::new(&admin, "buy-crash").await;
    let api = Api::<SavedConfiguration>::namespaced(admin.clone(), &ns.name);
    // The first buy is carried out, its answer held for a minute: the operator is killed
    // while it waits, before it can record what it bought.
    control
        .inject_fault(
            &megaport_sim::FaultSpec::lost_answer(60_000)
                .method("POST")
                .path("/v4/networkdesign/buy")
                .times(1),
        )
        .await
        .unwrap();
    let env = [("CONTROLLERS", "SavedConfiguration")];
    let kubeconfig = std::env::var("KUBECONFIG_OPERATOR").unwrap();
    let mut first =
        OperatorProcess::start_with_env(&sim, &log_path("buy-first"), &kubeconfig, &env);
    api.create(
        &PostParams::default(),
        &configuration("uplink", uplink(true)),
    )
    .await
    .unwrap();
    eventually("the buy", WAIT, || async {
        (control.counter("POST /v4/networkdesign/buy").await.ok()? == 1).then_some(())
    })
    .await;
    eventually("the Port to exist", Duration::from_secs(10), || async {
        (live_named(provider.as_ref(), "la-port").await == 1).then_some(())
    })
    .await;
    first.kill();
    let second = OperatorProcess::start_with_env(&sim, &log_path("buy-second"), &kubeconfig, &env);
    let done = wait_for(&api, "uplink", ConfigurationPhase::Provisioning).await;
    assert_eq!(
        live_named(provider.as_ref(), "la-port").await,
        1,
        "the Port is adopted, not bought again"
    );
    assert_eq!(live_named(provider.as_ref(), "to-gpu").await, 1);
    assert_eq!(
        control.counter("POST /v4/networkdesign/buy").await.unwrap(),
        2,
        "the Port's buy and the VXC's"
    );
    let uids: Vec<Option<String>> = done
        .status
        .unwrap()
        .services
        .into_iter()
        .map(|s| s.product_uid)
        .collect();
    assert!(uids.iter().all(Option::is_some), "{uids:?}");
    // Retain on the way out: nothing of the simulator's is left to the next test.
    api.patch(
        "uplink",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"annotations": {"megaport.onramp.dev/abandon": "true"}}}),
        ),
    )
    .await
    .unwrap();
    api.delete("uplink", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the configuration to go", WAIT, || async {
        api.get_opt("uplink").await.ok()?.is_none().then_some(())
    })
    .await;
    drop(second);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_orders_with_the_key_in_its_secret_and_the_providers_request_turns_used() {
    let admin = support::client(Identity::Admin).await;
    support::install_project_crds(&admin).await;
    // The provider's operator issues keys (not its SavedConfiguration controller)...
    let op = Operator::start(&admin, Operator::fast()).await;
    let ns = TestNamespace::new(&admin, "customer").await;
    let requests = Api::<ServiceKeyRequest>::namespaced(admin.clone(), &ns.name);
    requests
        .create(
            &PostParams::default(),
            &request("acme-la", json!({"onRamp": {"productUid": quantumgpu::PORT_LAX_CS1_RED}, "maxSpeedMbps": 1000})),
        )
        .await
        .unwrap();
    wait_phase(&requests, "acme-la", Phase::Issued).await;
    // ... and the customer's (Acme's credentials, SavedConfiguration only) orders with the
    // Secret the request delivered.
    let kubeconfig = std::env::var("KUBECONFIG_OPERATOR").unwrap();
    let customer = OperatorProcess::start_with_env(
        &op.sim,
        &log_path("customer"),
        &kubeconfig,
        &[
            ("CONTROLLERS", "SavedConfiguration"),
            ("MEGAPORT_ACCESS_KEY", quantumgpu::CUSTOMER_ADMIN_ID),
            ("MEGAPORT_SECRET_KEY", quantumgpu::CUSTOMER_ADMIN_SECRET),
        ],
    );
    let configs = Api::<SavedConfiguration>::namespaced(admin.clone(), &ns.name);
    let spec = json!({
        "order": true,
        "services": {"vxcs": [{"name": "to-quantumgpu", "rateLimitMbps": 500, "termMonths": 1,
            "aEnd": {"productUid": quantumgpu::CUSTOMER_PORT_LAX},
            "bEnd": {"secretKeyRef": {"name": "acme-la"}}}]},
    });
    configs
        .create(
            &PostParams::default(),
            &configuration("to-quantumgpu", spec),
        )
        .await
        .unwrap();
    let ordered = wait_for(&configs, "to-quantumgpu", ConfigurationPhase::Provisioning).await;
    let seen = ordered
        .status
        .as_ref()
        .map(|s| s.service_keys.clone())
        .unwrap_or_default();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].on_ramp.as_deref(),
        Some(quantumgpu::PORT_LAX_CS1_RED)
    );
    assert_eq!(seen[0].owner.as_deref(), Some("QuantumGPU"));
    wait_phase(&requests, "acme-la", Phase::Used).await;
    // The key is in no status, event or log of the customer's operator.
    let secret = crate::issuing::secret_data(&admin, &ns.name, "acme-la").await;
    let key = secret.get("serviceKey").cloned().unwrap_or_default();
    assert!(!key.is_empty());
    let shown = serde_json::to_string(&configs.get("to-quantumgpu").await.unwrap()).unwrap();
    assert!(!shown.contains(&key), "the key is not in the configuration");
    assert!(
        !customer.log_text().contains(&key),
        "nor in the customer's log"
    );
    // Deleted (Retain: the VXC stays), so no finalizer outlives the customer's operator.
    configs
        .delete("to-quantumgpu", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the configuration to go", WAIT, || async {
        configs
            .get_opt("to-quantumgpu")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    drop(customer);
    op.stop_after_cleanup(&admin, &ns.name).await;
}
