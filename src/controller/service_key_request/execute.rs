//! Execute (IO): carries a [`Decision`] out — the records saved before any key is created (so
//! that a crash at any later point finds the plan), each key created (after a search of its
//! on-ramp), adopted, updated or restored, the records saved again, and the Secret written.
//! What Megaport refuses becomes a [`Blocker`]; anything else is an error of its step.

use std::time::Duration;

use kube::runtime::events::EventType;

use super::observe::{Seen, on_ramp_of};
use super::{ACTION, secret};
use crate::controller::{Context, Error, Step, status};
use crate::crd::ServiceKeyRequest;
use crate::crd::conditions::Reason;
use crate::delivery::{DeliveredKey, fingerprint};
use crate::issuance::lifecycle::locate;
use crate::issuance::{
    self, Blocker, Decision, KEYS_ANNOTATION, KeyAction, KeyStep, Record, SEAL_ANNOTATION,
    SecretState, ValidatedRequest,
};
use crate::megaport::models::{CreateServiceKey, Product, ServiceKey, UpdateServiceKey};

/// What execution did.
pub struct Outcome {
    /// The records as saved.
    pub records: Vec<Record>,
    /// The keys that exist, in record order.
    pub keys: Vec<ServiceKey>,
    /// What stands in the way (the decision's, and Megaport's refusals).
    pub blockers: Vec<Blocker>,
    /// Changes made outside the operator and restored (`key: change`).
    pub restored: Vec<String>,
    /// The Secret.
    pub secret: SecretState,
    /// The products the status names on-ramps and VXCs from.
    pub products: Vec<Product>,
}

/// Writes `records` and their seal to the request's annotations (and remembers them).
pub async fn save_records(
    ctx: &Context,
    obj: &ServiceKeyRequest,
    req: &ValidatedRequest,
    records: &[Record],
) -> Result<(), Error> {
    let annotations = [
        (
            KEYS_ANNOTATION.to_owned(),
            issuance::render_records(records),
        ),
        (SEAL_ANNOTATION.to_owned(), ctx.seal.seal(&req.uid, records)),
    ];
    crate::controller::annotations::write(&ctx.client, obj, annotations, Step::SaveRecords).await?;
    ctx.ledger.wrote(&req.uid, records);
    Ok(())
}

/// Carries `decision` out. `planning` (the decision lock, when the records were just planned)
/// is released once they are claimed in the ledger (before they are saved).
pub async fn run<G>(
    ctx: &Context,
    obj: &ServiceKeyRequest,
    req: &ValidatedRequest,
    seen: &Seen,
    decision: Decision,
    planning: Option<G>,
) -> Result<Outcome, Error> {
    let first_report = super::first_report(obj, &decision);
    let mut records = decision.records;
    // A plan is claimed in the ledger at once, so the next plan (free to start when the lock
    // goes) avoids its VLANs while it is saved; no key exists before the save. If the save
    // fails the claim stays: the save may have happened all the same (a lost answer), and the
    // next reconcile carries the same plan out, saving it before any create.
    if decision.save_first && planning.is_some() {
        ctx.ledger.wrote(&req.uid, &records);
    }
    drop(planning);
    if let Some(planned) = first_report {
        super::announce_issuing(ctx, obj, req, planned).await?;
    }
    if decision.save_first {
        save_records(ctx, obj, req, &records).await?;
        tracing::info!(keys = records.len(), "recorded the keys' plan");
    }
    let mut blockers = decision.blockers;
    let mut keys = Vec::new();
    let mut restored = Vec::new();
    let mut saved = if decision.save_first {
        Some(records.clone())
    } else {
        seen.base.on_object.clone()
    };
    for step in decision.steps {
        let i = step.record;
        let (key, refused, created) =
            carry_out(ctx, req, &mut records, step, &mut restored).await?;
        if created {
            // A key Megaport now holds is recorded before anything else happens.
            save_records(ctx, obj, req, &records).await?;
            saved = Some(records.clone());
            tracing::debug!(record = i, "recorded a key just issued");
        }
        keys.extend(key);
        blockers.extend(refused);
    }
    // Also when the annotation on the object differs (removed or edited by hand): it is the
    // operator's record and must survive a restart.
    if saved.as_ref() != Some(&records) {
        save_records(ctx, obj, req, &records).await?;
    }
    if !restored.is_empty() {
        let note = format!(
            "keys changed outside the operator were restored: {}",
            restored.join("; ")
        );
        status::publish(
            ctx,
            obj,
            EventType::Warning,
            Reason::DriftRestored,
            &note,
            ACTION,
        )
        .await;
    }
    let products = products_naming_users(ctx, seen, &keys).await;
    let secret = deliver(ctx, req, &keys, &products, &blockers).await?;
    Ok(Outcome {
        records,
        keys,
        blockers,
        restored,
        secret,
        products,
    })
}

/// One record's step: the key after it (if there is one), what Megaport refused (a refused
/// update keeps the key as it was), and whether a key was found or made on the on-ramp (to be
/// recorded at once). Every key found is recorded by its fingerprint, whatever happens next.
async fn carry_out(
    ctx: &Context,
    req: &ValidatedRequest,
    records: &mut [Record],
    step: KeyStep,
    restored: &mut Vec<String>,
) -> Result<(Option<ServiceKey>, Option<Blocker>, bool), Error> {
    let i = step.record;
    let (key, put, changes) = match step.action {
        KeyAction::Create { create, search } => {
            return Ok(
                match issue(ctx, req, &records[i], Some(create), search).await? {
                    // A key just created has the values it was created with; one found on the
                    // on-ramp (a create whose answer was lost) is compared on the next reconcile.
                    Ok((key, created)) => {
                        let applied = created.then_some(step.digest);
                        record_key(&mut records[i], &key, applied, created);
                        (Some(key), None, true)
                    }
                    Err(refused) => {
                        // Refused: the outcome is known and no key exists; no search next time.
                        records[i].attempted = None;
                        (None, Some(refused), false)
                    }
                },
            );
        }
        KeyAction::Missing { .. } => {
            return Ok(match issue(ctx, req, &records[i], None, true).await? {
                Ok((key, _)) => {
                    record_key(&mut records[i], &key, None, false);
                    (Some(key), None, true)
                }
                Err(missing) => (None, Some(missing), false),
            });
        }
        KeyAction::Keep(key) | KeyAction::Leave(key) => {
            record_key(&mut records[i], &key, Some(step.digest), false);
            return Ok((Some(key), None, false));
        }
        KeyAction::Update { key, put } | KeyAction::Deactivate { key, put } => (key, put, None),
        KeyAction::Restore { key, put, changes } => (key, put, Some(changes)),
    };
    record_key(&mut records[i], &key, None, false);
    match update(ctx, &key, &put, changes, restored).await? {
        Ok(updated) => {
            records[i].note_update(jiff::Timestamp::now());
            record_key(&mut records[i], &updated, Some(step.digest), false);
            Ok((Some(updated), None, false))
        }
        Err(refused) => Ok((Some(key), Some(refused), false)),
    }
}

/// Records `key` as the record's key (its fingerprint; the attempt is settled) and, when known,
/// the digest of the values it now has; `created` when this reconcile just made it.
fn record_key(record: &mut Record, key: &ServiceKey, applied: Option<String>, created: bool) {
    let fp = fingerprint(&key.key);
    if record.fingerprint.as_ref() != Some(&fp) {
        // Any key but one this reconcile created was found (by its marker, after a lost
        // answer or lost records).
        if !created {
            tracing::info!(key = %fp, "adopted a key issued earlier");
        }
        record.fingerprint = Some(fp);
    }
    record.attempted = None;
    if let Some(digest) = applied.filter(|d| !d.is_empty()) {
        record.applied = Some(digest);
    }
}

/// With `search`, finds the record's key on its on-ramp first (a create whose outcome is
/// unknown, or a recorded key the snapshot lacks); then creates it (`create`), or reports it
/// missing (no `create`: it was issued before, and is never replaced). Without `search` the
/// create goes straight out: one Megaport call per key. Serialised per on-ramp.
async fn issue(
    ctx: &Context,
    req: &ValidatedRequest,
    record: &Record,
    create: Option<CreateServiceKey>,
    search: bool,
) -> Result<Result<(ServiceKey, bool), Blocker>, Error> {
    let lock = ctx.on_ramp_lock(&record.product_uid);
    let _on_ramp = lock.lock().await;
    let listed = if search {
        match ctx
            .api
            .list_service_keys_for_product(&record.product_uid)
            .await
        {
            Ok(keys) => keys,
            Err(err) if err.is_not_found() => {
                return Ok(Err(Blocker::OnRampNotFound {
                    product_uid: record.product_uid.clone(),
                }));
            }
            Err(err) => return Err(Error::megaport(Step::Issue, err)),
        }
    } else {
        Vec::new()
    };
    let elsewhere = |fp: &str| super::claims::claimed_elsewhere(ctx, &req.uid, fp);
    let (key, created) = match (locate(record, &req.uid, &listed, &elsewhere), create) {
        (Some((key, _)), _) => (key.clone(), false),
        (None, None) => {
            return Ok(Err(Blocker::KeyMissing {
                fingerprint: record.fingerprint.clone().unwrap_or_default(),
                on_ramp: record.product_uid.clone(),
            }));
        }
        (None, Some(create)) => match ctx.api.create_service_key(&create).await {
            Ok(key) => {
                tracing::info!(key = %fingerprint(&key.key), on_ramp = %record.product_uid, vlan = ?record.vlan, "issued a key");
                (key, true)
            }
            Err(err) if err.is_refusal() => {
                return Ok(Err(Blocker::KeyRejected {
                    on_ramp: record.product_uid.clone(),
                    why: err.to_string(),
                }));
            }
            Err(err) => return Err(Error::megaport(Step::Issue, err)),
        },
    };
    ctx.keys.upsert(key.clone());
    Ok(Ok((key, created)))
}

/// A full-object PUT (a spec change, or with `changes` a restore); a refusal keeps the key as
/// it was and says so.
async fn update(
    ctx: &Context,
    key: &ServiceKey,
    put: &UpdateServiceKey,
    changes: Option<Vec<String>>,
    restored: &mut Vec<String>,
) -> Result<Result<ServiceKey, Blocker>, Error> {
    let fp = fingerprint(&key.key);
    let updated = match ctx.api.update_service_key(put).await {
        Ok(updated) => updated,
        Err(err) if err.is_refusal() => {
            return Ok(Err(Blocker::UpdateRejected {
                fingerprint: fp,
                why: err.to_string(),
            }));
        }
        Err(err) => return Err(Error::megaport(Step::Update, err)),
    };
    match changes {
        Some(changes) => {
            tracing::info!(key = %fp, changes = %changes.join(", "), "restored a key changed outside the operator");
            restored.push(format!("{fp}: {}", changes.join(", ")));
        }
        None => tracing::info!(key = %fp, "updated a key to the spec"),
    }
    ctx.keys.upsert(updated.clone());
    Ok(Ok(updated))
}

/// The products to name on-ramps and VXCs from: read again (shared, single flight) when a key
/// was used after they were read, so the VXC it was used for can be named. Bounded: only while
/// the products are older than the keys.
async fn products_naming_users(ctx: &Context, seen: &Seen, keys: &[ServiceKey]) -> Vec<Product> {
    let products = &seen.base.products;
    let stale = keys
        .iter()
        .any(|k| issuance::used_since(k, products.fetched_at_wall))
        && products.fetched_at < seen.base.keys.fetched_at;
    if !stale {
        return products.items.clone();
    }
    let age = products.fetched_at.elapsed();
    match ctx
        .products
        .get_fresher_than(age.saturating_sub(Duration::from_millis(1)))
        .await
    {
        Ok(fresh) => fresh.items.clone(),
        Err(_) => products.items.clone(),
    }
}

/// Writes the Secret when there are keys; a Secret conflict found before any key was created is
/// reported as such.
async fn deliver(
    ctx: &Context,
    req: &ValidatedRequest,
    keys: &[ServiceKey],
    products: &[Product],
    blockers: &[Blocker],
) -> Result<SecretState, Error> {
    if keys.is_empty() {
        return Ok(
            match blockers
                .iter()
                .find(|b| matches!(b, Blocker::SecretConflict { .. }))
            {
                Some(conflict) => SecretState::Conflict(conflict.to_string()),
                None => SecretState::NoKeys,
            },
        );
    }
    let delivered: Vec<DeliveredKey> = keys
        .iter()
        .map(|k| secret::delivered_key(k, on_ramp_of(products, &k.product_uid).as_ref()))
        .collect();
    secret::ensure(ctx, req, &delivered).await
}
