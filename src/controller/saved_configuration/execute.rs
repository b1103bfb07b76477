//! Carrying out an order step (IO): a search of the tagged products (after an unknown outcome,
//! and before the first buy a process makes for a configuration), a buy with its pending record
//! saved first (buys attaching VXCs to one product are serialised), where the bought services
//! are, and the cancellation on deletion.
//!
//! Two leaders never buy at once: a replica that loses its Lease exits before another can take
//! it (`crate::lease`), and a buy it left in flight is found by the new leader's search within
//! [`decide::SETTLE`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::events::EventType;

use super::{ACTION, ORDERING_RETRY};
use crate::controller::{Error, Orders, Step, status};
use crate::crd::conditions::Reason;
use crate::crd::saved_configuration::{
    OrderRefusal, OrderedService, SavedConfiguration, SavedConfigurationSpec,
    ServicesDeletionPolicy,
};
use crate::megaport::MegaportApi;
use crate::megaport::models::{Product, ProductAction, ProvisioningStatus};
use crate::ordering::design::{SERVICE_TAG, UID_TAG};
use crate::ordering::status::{Progress, Validation};
use crate::ordering::{self, Design, Ledger, Step as OrderStep, decide, quote, records};

/// What a step leaves: where the order is, the bought services, and when to look again (if
/// not the default for the progress).
pub type Done = (Progress, Vec<OrderedService>, Option<Duration>);

/// How soon the next round follows a step that changed the records.
const NEXT_ROUND: Duration = Duration::from_secs(1);

/// Carries `step` out (`validation`: what status says of the design, for the status written
/// before a buy).
pub async fn run(
    ctx: &Orders,
    obj: &SavedConfiguration,
    account: &dyn MegaportApi,
    ledger: Ledger,
    design: Design,
    step: OrderStep,
    validation: &Validation,
) -> Result<Done, Error> {
    let uid = obj.uid().unwrap_or_default();
    let carried = carried(obj, &ledger);
    match step {
        OrderStep::Saved => Ok((Progress::Saved, Vec::new(), None)),
        OrderStep::Held => Ok((Progress::Held, carried, None)),
        OrderStep::Search(services) => {
            search_and_settle(ctx, obj, &uid, account, ledger, &services).await
        }
        // A process that has not written this configuration's records yet searches before
        // its first buy: the annotation it read may be older than what was bought.
        OrderStep::Buy if ctx.written(&uid).is_none() => {
            look_before_buying(ctx, obj, &uid, account, ledger, &design.services).await
        }
        OrderStep::Buy => buy(ctx, obj, &uid, account, ledger, &design, validation).await,
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

/// Writes the order records and their seal on the configuration. This process remembers them
/// first: a write that fails leaves it knowing what it did (a restart searches instead).
async fn save_orders(
    ctx: &Orders,
    obj: &SavedConfiguration,
    uid: &str,
    ledger: &Ledger,
) -> Result<(), Error> {
    let written = ledger.records();
    ctx.wrote(uid, &written);
    let annotations = records::annotations(uid, &written, &ctx.seal);
    crate::controller::annotations::write(&ctx.client, obj, annotations, Step::SaveOrders).await?;
    Ok(())
}

/// The products that may be one of `services`: by product name, or created since `since_ms`
/// (a minute's slack; 0: by name only), not decommissioned. UIDs, a LAG's primary first.
fn candidates(
    products: &[Product],
    spec: &SavedConfigurationSpec,
    services: &[String],
    since_ms: i64,
) -> Vec<String> {
    let names: BTreeSet<String> = ordering::design::product_names(spec)
        .into_iter()
        .filter(|(s, _)| services.contains(s))
        .map(|(_, product_name)| product_name)
        .collect();
    let recent =
        |created: Option<i64>| since_ms > 0 && created.is_some_and(|c| c >= since_ms - 60_000);
    let mut found: Vec<(bool, String)> = Vec::new();
    for p in products {
        let created = p.create_date.map(|c| c.0);
        if (names.contains(&p.product_name) || recent(created))
            && !p.provisioning_status.is_decommissioned()
        {
            found.push((p.lag_primary != Some(true), p.product_uid.clone()));
        }
        let vxcs = p.associated_vxcs.iter().filter(|v| {
            (names.contains(&v.product_name) || recent(v.create_date.map(|c| c.0)))
                && !v.provisioning_status.is_decommissioned()
        });
        found.extend(vxcs.map(|v| (true, v.product_uid.clone())));
    }
    found.sort();
    found.dedup_by(|a, b| a.1 == b.1);
    found.into_iter().map(|(_, uid)| uid).collect()
}

/// Finds `services` of configuration `uid` among the products: one list, then the tags of
/// each candidate (see [`candidates`]).
async fn search(
    account: &dyn MegaportApi,
    spec: &SavedConfigurationSpec,
    uid: &str,
    services: &[String],
    since_ms: i64,
    step: Step,
) -> Result<BTreeMap<String, String>, Error> {
    let products = account
        .list_products(None)
        .await
        .map_err(|e| Error::megaport(step, e))?;
    let mut found = BTreeMap::new();
    for candidate in candidates(&products, spec, services, since_ms) {
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

/// Announces products found by their tags.
async fn adopted(ctx: &Orders, obj: &SavedConfiguration, found: &BTreeMap<String, String>) {
    if found.is_empty() {
        return;
    }
    let names: Vec<&str> = found.keys().map(String::as_str).collect();
    let note = format!(
        "found {} in Megaport by their tags (an earlier buy made them): not bought again",
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

/// After an unknown outcome: adopts what the search finds; what it does not is bought again
/// once [`decide::SETTLE`] has passed (searching again meanwhile).
async fn search_and_settle(
    ctx: &Orders,
    obj: &SavedConfiguration,
    uid: &str,
    account: &dyn MegaportApi,
    ledger: Ledger,
    services: &[String],
) -> Result<Done, Error> {
    let since = ledger.pending.values().copied().min().unwrap_or(0);
    let found = search(account, &obj.spec, uid, services, since, Step::SearchOrders).await?;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let (next, wait) = decide::settle(&ledger, &found, now_ms);
    if next != ledger || ctx.written(uid).is_none() {
        save_orders(ctx, obj, uid, &next).await?;
    }
    adopted(ctx, obj, &found).await;
    let note = match wait {
        Some(_) => format!(
            "looking for what an earlier buy may have made ({} not found yet) before buying again",
            next.pending.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        None => "looked for what an earlier buy made; going on".to_owned(),
    };
    let carried = carried(obj, &next);
    Ok((
        Progress::Ordering(note),
        carried,
        Some(wait.unwrap_or(NEXT_ROUND)),
    ))
}

/// The first buy of this process for the configuration: search the services first.
async fn look_before_buying(
    ctx: &Orders,
    obj: &SavedConfiguration,
    uid: &str,
    account: &dyn MegaportApi,
    mut ledger: Ledger,
    services: &[String],
) -> Result<Done, Error> {
    let found = search(account, &obj.spec, uid, services, 0, Step::SearchOrders).await?;
    ledger.bought.extend(found.clone());
    save_orders(ctx, obj, uid, &ledger).await?;
    adopted(ctx, obj, &found).await;
    let note = "checked Megaport for these services before buying".to_owned();
    Ok((
        Progress::Ordering(note),
        carried(obj, &ledger),
        Some(NEXT_ROUND),
    ))
}

/// Buys one round of the design: says so in status, records the services as pending, buys,
/// records what was bought. An unknown outcome keeps them pending (searched next time); a
/// refusal clears them.
async fn buy(
    ctx: &Orders,
    obj: &SavedConfiguration,
    uid: &str,
    account: &dyn MegaportApi,
    ledger: Ledger,
    design: &Design,
    validation: &Validation,
) -> Result<Done, Error> {
    let locks = ctx.product_locks(&ordering::products_touched(&design.items));
    let mut held = Vec::with_capacity(locks.len());
    for lock in &locks {
        held.push(lock.lock().await);
    }
    if !ctx.process.leadership.is_leader() {
        // Leadership ended while waiting (the process is stopping): buy nothing.
        let note = "waiting for the leader".to_owned();
        return Ok((
            Progress::Ordering(note),
            carried(obj, &ledger),
            Some(ORDERING_RETRY),
        ));
    }
    let note = format!("buying {}", design.services.join(", "));
    let progress = Progress::Ordering(note.clone());
    super::write_progress(ctx, obj, validation, &progress, carried(obj, &ledger)).await?;
    let mut marked = ledger.clone();
    let now_ms = jiff::Timestamp::now().as_millisecond();
    for service in &design.services {
        marked.pending.insert(service.clone(), now_ms);
    }
    save_orders(ctx, obj, uid, &marked).await?;
    tracing::info!(services = ?design.services, "buying");
    match account.buy_network_design(&design.items, &[]).await {
        Ok(answer) => {
            let mut done = marked;
            match decide::bought_from_answer(&obj.spec, &design.services, &answer) {
                Some(bought) => {
                    done.pending.retain(|s, _| !bought.contains_key(s));
                    done.bought.extend(bought);
                }
                // Bought, but not which product is which: found by their tags next.
                None => done.confirmed.extend(design.services.iter().cloned()),
            }
            recorded(ctx, obj, uid, &done, design).await
        }
        Err(e) if e.is_refusal() && e.status() != Some(408) => {
            // Megaport refused the whole buy: nothing was made.
            save_orders(ctx, obj, uid, &ledger).await?;
            let message = format!("Megaport refused the order: {}", quote::detail(&e));
            status::publish(
                ctx,
                obj,
                EventType::Warning,
                Reason::OrderRefused,
                &message,
                ACTION,
            )
            .await;
            let refusal = OrderRefusal {
                generation: obj.metadata.generation,
                at: Time(jiff::Timestamp::now()),
                message,
            };
            Ok((Progress::Refused(refusal), carried(obj, &ledger), None))
        }
        Err(e) => Err(Error::megaport(Step::Buy, e)),
    }
}

/// Records a round Megaport answered and announces it.
async fn recorded(
    ctx: &Orders,
    obj: &SavedConfiguration,
    uid: &str,
    done: &Ledger,
    design: &Design,
) -> Result<Done, Error> {
    save_orders(ctx, obj, uid, done).await?;
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
    Ok((
        Progress::Ordering(note),
        carried(obj, done),
        Some(NEXT_ROUND),
    ))
}

/// Where the bought services are: the shared products list (fresh within the provisioning
/// poll), or the managed account's own list. A service cancelled or decommissioned outside the
/// operator stalls the configuration.
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
    let gone: Vec<String> = services
        .iter()
        .filter_map(|s| {
            let state = ProvisioningStatus(s.provisioning_status.clone()?);
            state
                .is_inactive()
                .then(|| format!("{} is {state}", s.name))
        })
        .collect();
    let progress = if !gone.is_empty() {
        Progress::Lost(format!("{} (ended outside the operator)", gone.join(", ")))
    } else if decide::all_live(&obj.spec, &services) {
        Progress::Live
    } else {
        Progress::Provisioning
    };
    Ok((progress, services, None))
}

/// What a cancellation did.
pub struct Cancelled {
    /// Services cancelled now.
    pub count: usize,
    /// Buys whose outcome is still unknown: look again after this long before letting go.
    pub waiting: Option<Duration>,
}

/// The services of a ledger in the order to cancel them: VXCs first (a Port with VXCs attached
/// may refuse to go), each with whether it is a VXC.
fn cancel_order(obj: &SavedConfiguration, ledger: &Ledger) -> Vec<(String, String, bool)> {
    let vxcs: BTreeSet<&str> = obj
        .spec
        .services
        .vxcs
        .iter()
        .map(|v| v.common.name.as_str())
        .collect();
    let mut order: Vec<(String, String, bool)> = ledger
        .bought
        .iter()
        .map(|(s, uid)| (s.clone(), uid.clone(), vxcs.contains(s.as_str())))
        .collect();
    order.sort_by_key(|(_, _, vxc)| !vxc);
    order
}

/// Cancels the configuration's services as `policy` says (VXCs first; Ports, MCRs and MVEs
/// with `safeDelete`, so a VXC that is not this configuration's is never taken with them).
pub async fn cancel(
    obj: &SavedConfiguration,
    uid: &str,
    account: &dyn MegaportApi,
    mut ledger: Ledger,
    policy: ServicesDeletionPolicy,
) -> Result<Cancelled, Error> {
    let mut waiting = None;
    if !ledger.pending.is_empty() {
        let pending: Vec<String> = ledger.pending.keys().cloned().collect();
        let since = ledger.pending.values().copied().min().unwrap_or(0);
        let found = search(account, &obj.spec, uid, &pending, since, Step::Cancel).await?;
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let (settled, wait) = decide::settle(&ledger, &found, now_ms);
        ledger = settled;
        waiting = wait;
    }
    let products = account
        .list_products(None)
        .await
        .map_err(|e| Error::megaport(Step::Cancel, e))?;
    let action = match policy {
        ServicesDeletionPolicy::CancelNow => ProductAction::CancelNow,
        _ => ProductAction::Cancel,
    };
    let mut count = 0;
    for (service, product_uid, vxc) in cancel_order(obj, &ledger) {
        let state = decide::state_of(&products, &product_uid).and_then(|(s, _)| s);
        let done = state.map(ProvisioningStatus).is_some_and(|s| match action {
            ProductAction::CancelNow => s.is_decommissioned(),
            _ => s.is_inactive(),
        });
        if done {
            continue;
        }
        // Not listed is no proof it is gone: the action says (404 is).
        match account.product_action(&product_uid, action, !vxc).await {
            Ok(()) => count += 1,
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(Error::megaport(Step::Cancel, e)),
        }
        tracing::info!(%service, action = action.as_str(), "cancelled");
    }
    Ok(Cancelled { count, waiting })
}
