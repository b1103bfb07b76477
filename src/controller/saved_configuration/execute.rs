//! Carrying out an order step (IO): a search of the tagged products after an unknown outcome,
//! a buy with its pending record saved first (buys attaching VXCs to one product are
//! serialised), where the bought services are, and the cancellation on deletion.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::{ACTION, ORDERING_RETRY};
use crate::controller::{Error, Orders, Step, status};
use crate::crd::conditions::Reason;
use crate::crd::saved_configuration::{
    OrderRefusal, OrderedService, SavedConfiguration, SavedConfigurationSpec,
    ServicesDeletionPolicy,
};
use crate::megaport::MegaportApi;
use crate::megaport::models::{ProductAction, ProvisioningStatus};
use crate::ordering::design::{SERVICE_TAG, UID_TAG};
use crate::ordering::status::Progress;
use crate::ordering::{self, Design, Ledger, Step as OrderStep, decide, quote, records};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// What a step leaves: where the order is, the bought services, and when to look again (if
/// not the default for the progress).
pub type Done = (Progress, Vec<OrderedService>, Option<Duration>);

/// Carries `step` out.
pub async fn run(
    ctx: &Orders,
    obj: &SavedConfiguration,
    uid: &str,
    account: &dyn MegaportApi,
    ledger: Ledger,
    design: Design,
    step: OrderStep,
) -> Result<Done, Error> {
    let carried = carried(obj, &ledger);
    match step {
        OrderStep::Saved => Ok((Progress::Saved, Vec::new(), None)),
        OrderStep::Held => Ok((Progress::Held, carried, None)),
        OrderStep::Search(services) => {
            search_and_settle(ctx, obj, uid, account, ledger, &services).await
        }
        OrderStep::Buy => buy(ctx, obj, uid, account, ledger, &design).await,
        OrderStep::Waiting(vxcs) => {
            let note = format!(
                "{} wait for a service key: see problems (the Secret it is read from is missing or holds no key)",
                vxcs.join(", ")
            );
            Ok((Progress::Blocked(note), carried, None))
        }
        OrderStep::Follow => follow(ctx, obj, account, &ledger).await,
    }
}

/// The bought services as status showed them last (new ones not listed yet).
pub fn carried(obj: &SavedConfiguration, ledger: &Ledger) -> Vec<OrderedService> {
    let shown = obj
        .status
        .as_ref()
        .map(|s| s.services.as_slice())
        .unwrap_or_default();
    ledger
        .bought
        .iter()
        .map(|(name, product_uid)| {
            shown
                .iter()
                .find(|s| &s.name == name && s.product_uid.as_ref() == Some(product_uid))
                .cloned()
                .unwrap_or_else(|| OrderedService {
                    name: name.clone(),
                    product_uid: Some(product_uid.clone()),
                    ..OrderedService::default()
                })
        })
        .collect()
}

/// Writes the order records and their seal on the configuration (and remembers them).
async fn save_orders(
    ctx: &Orders,
    obj: &SavedConfiguration,
    uid: &str,
    ledger: &Ledger,
) -> Result<(), Error> {
    let written = ledger.records();
    let annotations: serde_json::Map<String, serde_json::Value> =
        records::annotations(uid, &written, &ctx.seal)
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect();
    let patch = json!({"metadata": {"annotations": annotations}});
    let api: Api<SavedConfiguration> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(|e| Error::kube(Step::SaveOrders, e))?;
    ctx.wrote(uid, &written);
    Ok(())
}

/// Finds `services` of configuration `uid` among the products: candidates by product name
/// (one list), confirmed by their tags (one read each). A LAG is found by its primary.
async fn search(
    account: &dyn MegaportApi,
    spec: &SavedConfigurationSpec,
    uid: &str,
    services: &[String],
    step: Step,
) -> Result<BTreeMap<String, String>, Error> {
    let wanted: BTreeSet<String> = ordering::design::product_names(spec)
        .into_iter()
        .filter(|(s, _)| services.contains(s))
        .map(|(_, product_name)| product_name)
        .collect();
    let products = account
        .list_products(None)
        .await
        .map_err(|e| Error::megaport(step, e))?;
    let mut candidates: Vec<(bool, String)> = Vec::new();
    for p in &products {
        if wanted.contains(&p.product_name) && !p.provisioning_status.is_decommissioned() {
            candidates.push((p.lag_primary != Some(true), p.product_uid.clone()));
        }
        let vxcs = p.associated_vxcs.iter();
        let vxcs = vxcs.filter(|v| {
            wanted.contains(&v.product_name) && !v.provisioning_status.is_decommissioned()
        });
        candidates.extend(vxcs.map(|v| (true, v.product_uid.clone())));
    }
    candidates.sort();
    candidates.dedup();
    let mut found = BTreeMap::new();
    for (_, candidate) in candidates {
        let tags = match account.get_product_tags(&candidate).await {
            Ok(tags) => tags,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(Error::megaport(step, e)),
        };
        let tag = |key: &str| tags.iter().find(|t| t.key == key).map(|t| t.value.clone());
        if tag(UID_TAG).as_deref() != Some(uid) {
            continue;
        }
        if let Some(service) = tag(SERVICE_TAG).filter(|s| services.contains(s)) {
            found.entry(service).or_insert(candidate);
        }
    }
    Ok(found)
}

/// After an unknown outcome: adopts what the search finds; what it does not is bought again
/// once [`decide::SETTLE`] has passed.
async fn search_and_settle(
    ctx: &Orders,
    obj: &SavedConfiguration,
    uid: &str,
    account: &dyn MegaportApi,
    ledger: Ledger,
    services: &[String],
) -> Result<Done, Error> {
    let found = search(account, &obj.spec, uid, services, Step::SearchOrders).await?;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let (next, wait) = decide::settle(&ledger, &found, now_ms);
    if next != ledger {
        save_orders(ctx, obj, uid, &next).await?;
    }
    if !found.is_empty() {
        let names: Vec<&str> = found.keys().map(String::as_str).collect();
        let note = format!(
            "found {} by their tags: an earlier buy made them (its answer was lost); they are not bought again",
            names.join(", ")
        );
        status::publish(
            ctx,
            obj,
            EventType::Normal,
            Reason::ServicesAdopted,
            &note,
            ACTION,
        )
        .await;
    }
    let note = match wait {
        Some(w) => format!(
            "waiting up to {} s for Megaport to list what an earlier buy may have made, before buying again",
            w.as_secs().max(1)
        ),
        None => "looked for what an earlier buy made; going on".to_owned(),
    };
    let carried = carried(obj, &next);
    Ok((
        Progress::Ordering(note),
        carried,
        Some(wait.unwrap_or(Duration::from_secs(1))),
    ))
}

/// Buys one round of the design: records the services as pending, buys, records what was
/// bought. An unknown outcome keeps them pending (searched next time); a refusal clears them.
async fn buy(
    ctx: &Orders,
    obj: &SavedConfiguration,
    uid: &str,
    account: &dyn MegaportApi,
    ledger: Ledger,
    design: &Design,
) -> Result<Done, Error> {
    let locks = ctx.product_locks(&ordering::products_touched(&design.items));
    let mut held = Vec::with_capacity(locks.len());
    for lock in &locks {
        held.push(lock.lock().await);
    }
    if !ctx.process.leadership.is_leader() {
        // Leadership ended while waiting (the process is stopping): buy nothing.
        return Ok((
            Progress::Ordering("waiting for the leader".into()),
            carried(obj, &ledger),
            Some(ORDERING_RETRY),
        ));
    }
    let mut marked = ledger.clone();
    let now_ms = jiff::Timestamp::now().as_millisecond();
    for service in &design.services {
        marked.pending.insert(service.clone(), now_ms);
    }
    save_orders(ctx, obj, uid, &marked).await?;
    tracing::info!(services = ?design.services, "buying");
    match account.buy_network_design(&design.items, &[]).await {
        Ok(answer) => {
            let Some(bought) = decide::bought_from_answer(&obj.spec, &design.services, &answer)
            else {
                let note = "bought; the answer does not say which product is which, so they are found by their tags".to_owned();
                return Ok((
                    Progress::Ordering(note),
                    carried(obj, &ledger),
                    Some(Duration::from_secs(1)),
                ));
            };
            let mut done = ledger;
            done.bought.extend(bought);
            save_orders(ctx, obj, uid, &done).await?;
            let note = format!("bought {}", design.services.join(", "));
            status::publish(
                ctx,
                obj,
                EventType::Normal,
                Reason::ServicesOrdered,
                &note,
                ACTION,
            )
            .await;
            let next = if design.services.len() < ordering::design::names(&obj.spec).len() {
                format!("{note}; the rest follows")
            } else {
                note
            };
            Ok((
                Progress::Ordering(next),
                carried(obj, &done),
                Some(Duration::from_secs(1)),
            ))
        }
        Err(e) if e.is_refusal() && e.status() != Some(408) => {
            // Megaport refused the whole buy: nothing was made.
            save_orders(ctx, obj, uid, &ledger).await?;
            let note = format!("Megaport refused the order: {}", quote::detail(&e));
            status::publish(
                ctx,
                obj,
                EventType::Warning,
                Reason::OrderRefused,
                &note,
                ACTION,
            )
            .await;
            let refusal = OrderRefusal {
                generation: obj.metadata.generation,
                at: Time(jiff::Timestamp::now()),
                message: note,
            };
            Ok((Progress::Refused(refusal), carried(obj, &ledger), None))
        }
        Err(e) => Err(Error::megaport(Step::Buy, e)),
    }
}

/// Where the bought services are: the shared products list (fresh within the provisioning
/// poll), or the managed account's own list.
async fn follow(
    ctx: &Orders,
    obj: &SavedConfiguration,
    account: &dyn MegaportApi,
    ledger: &Ledger,
) -> Result<Done, Error> {
    let products = if obj.spec.managed_account.is_some() {
        account
            .list_products(None)
            .await
            .map_err(|e| Error::megaport(Step::Follow, e))?
    } else {
        let poll = ctx.settings.provisioning_poll;
        let snapshot = ctx
            .products
            .get_fresher_than(poll)
            .await
            .map_err(|e| Error::megaport(Step::Follow, e))?;
        snapshot.items.clone()
    };
    let services = decide::where_bought(ledger, &products);
    let progress = if decide::all_live(&obj.spec, &services) {
        Progress::Live
    } else {
        Progress::Provisioning
    };
    Ok((progress, services, None))
}

/// Cancels the configuration's services as `policy` says (VXCs first); how many.
pub async fn cancel(
    obj: &SavedConfiguration,
    uid: &str,
    account: &dyn MegaportApi,
    mut ledger: Ledger,
    policy: ServicesDeletionPolicy,
) -> Result<usize, Error> {
    if !ledger.pending.is_empty() {
        let pending: Vec<String> = ledger.pending.keys().cloned().collect();
        let found = search(account, &obj.spec, uid, &pending, Step::Cancel).await?;
        ledger.bought.extend(found);
    }
    let products = account
        .list_products(None)
        .await
        .map_err(|e| Error::megaport(Step::Cancel, e))?;
    let action = match policy {
        ServicesDeletionPolicy::CancelNow => ProductAction::CancelNow,
        _ => ProductAction::Cancel,
    };
    let mut cancelled = 0;
    for (service, product_uid) in super::cancel_order(obj, &ledger) {
        let Some((Some(state), _)) = decide::state_of(&products, &product_uid) else {
            continue;
        };
        let state = ProvisioningStatus(state);
        let done = match action {
            ProductAction::CancelNow => state.is_decommissioned(),
            _ => state.is_inactive(),
        };
        if done {
            continue;
        }
        match account.product_action(&product_uid, action).await {
            Ok(()) => cancelled += 1,
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(Error::megaport(Step::Cancel, e)),
        }
        tracing::info!(%service, action = action.as_str(), "cancelled");
    }
    Ok(cancelled)
}
