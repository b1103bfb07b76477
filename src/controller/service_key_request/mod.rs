//! The ServiceKeyRequest controller, as steps around one pure decision:
//!
//! 1. **validate** ([`ValidatedRequest`]): the spec checked, defaults applied once;
//! 2. **observe** ([`observe`], IO only): trusted records, the shared Megaport snapshots, and
//!    only when keys are to be planned or created, what the request may use, what others hold
//!    and the Secret;
//! 3. **decide** ([`issuance::decide`], pure): records, per key create / adopt / keep / update /
//!    restore / missing, and what stands in the way;
//! 4. **execute** ([`execute`], IO): records saved before any key exists, keys created (after a
//!    search of their on-ramp) or updated, the Secret written;
//! 5. **report**: the status (pure, [`issuance::desired_status`]) through the shared writer.
//!
//! Deletion goes through a finalizer and the same lifecycle ([`issuance::decide_deletion`]):
//! Deactivate turns keys off (Megaport cannot delete keys), Retain leaves them, and
//! `megaport.onramp.dev/abandon: "true"` lets go without Megaport. A failed step leaves its
//! reason in status ([`status::failure`]) before the error goes to the retry policy.

mod claims;
mod connections;
mod execute;
mod observe;
pub mod secret;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, Event as Finalize};
use kube::{Api, Resource, ResourceExt};
use tracing::Instrument;

use super::{Context, Error, Step, invalid, status};
use crate::crd::FIELD_MANAGER;
use crate::crd::conditions::Reason;
use crate::crd::service_key_request::{DeletionPolicy, ServiceKeyRequest};
use crate::delivery::fingerprint;
use crate::issuance::{
    self, Blocker, KeyAction, Observed, Progress, StatusInputs, ValidatedRequest,
};
use crate::megaport::models::EpochMillis;
use execute::Outcome;

/// The finalizer that holds a request until its keys are dealt with.
pub const FINALIZER: &str = "megaport.onramp.dev/service-keys";
/// The label every Secret the operator writes carries (and the operator watches).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Its value.
pub const MANAGER: &str = FIELD_MANAGER;
/// The label naming the request a Secret belongs to.
pub const REQUEST_LABEL: &str = "megaport.onramp.dev/request";
/// The annotation holding the UID of the request a Secret belongs to.
pub const REQUEST_UID_ANNOTATION: &str = "megaport.onramp.dev/request-uid";

/// How soon to look again while keys are being issued.
const ISSUING_RETRY: Duration = Duration::from_secs(2);
/// How soon to look again while waiting for something outside (a region, a VLAN holder).
const WAITING_RETRY: Duration = Duration::from_secs(10);
/// What the controller does, as events name it.
const ACTION: &str = "Reconcile";

/// Reconciles one request (through the finalizer). One the operator cannot read is reported on
/// itself; a failed step is reported in status before the error goes to the retry policy.
pub async fn reconcile(
    guard: Arc<DeserializeGuard<ServiceKeyRequest>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let obj = match &guard.0 {
        Ok(obj) => Arc::new(obj.clone()),
        Err(invalid) => {
            return invalid::report::<ServiceKeyRequest>(&ctx, invalid, FINALIZER).await;
        }
    };
    let span = tracing::info_span!("reconcile", request = %obj.name_any(), namespace = %obj.namespace().unwrap_or_default());
    async {
        let api = requests_api(&ctx, &obj);
        let result = finalizer::finalizer(&api, FINALIZER, obj.clone(), |event| async {
            match event {
                Finalize::Apply(obj) => apply(&obj, &ctx).await,
                Finalize::Cleanup(obj) => cleanup(&obj, &ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)));
        if let Err(err) = &result {
            report_failure(&ctx, &obj, err).await;
        }
        result
    }
    .instrument(span)
    .await
}

fn requests_api(ctx: &Context, obj: &ServiceKeyRequest) -> Api<ServiceKeyRequest> {
    Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default())
}

// === apply ===

async fn apply(obj: &ServiceKeyRequest, ctx: &Context) -> Result<Action, Error> {
    // Validate: admission refuses all of this; an object stored under a looser schema gets
    // nothing spent on it.
    let req = match ValidatedRequest::new(obj) {
        Ok(req) => req,
        Err(problems) => return report_blocked(ctx, obj, Blocker::InvalidSpec(problems)).await,
    };
    // Observe.
    let base = observe::base(&req, obj, ctx).await?;
    if let Some(why) = &base.ignored {
        // Not the operator's: never trusted. Keys are found by their marker (or planned anew)
        // and the annotation is written over with sealed records.
        tracing::warn!(%why, "ignoring the key records annotation");
        let note = format!("{why}; it is ignored and rewritten from the keys in Megaport");
        status::publish(
            ctx,
            obj,
            EventType::Warning,
            Reason::RecordsIgnored,
            &note,
            ACTION,
        )
        .await;
    }
    let (create, plan) = issuance::decide::reads(&req, &base.records, &base.keys.items);
    let mut seen = observe::rest(&req, ctx, base, create, plan).await?;
    // Plans are made one at a time, from reading the claims to claiming the plan in the ledger
    // (no IO under the lock: the save follows it).
    let planning = if plan {
        let lock = ctx.decisions.lock().await;
        if !ctx.process.leadership.is_leader() {
            // Leadership ended while waiting (the process is stopping): decide nothing.
            return Ok(Action::await_change());
        }
        observe::planning(&req, ctx, &mut seen);
        Some(lock)
    } else {
        None
    };
    // Decide.
    let now = jiff::Timestamp::now();
    let gone = decommissioned(&seen.base.products.items);
    let elsewhere = |fp: &str| claims::claimed_elsewhere(ctx, &req.uid, fp);
    let decision = issuance::decide(
        &Observed {
            request: &req,
            records: &seen.base.records,
            keys: &seen.base.keys.items,
            claimed_elsewhere: &elsewhere,
            scope: seen.scope.clone(),
            planning: seen.planning.clone(),
            secret: seen.secret.clone(),
            update_spacing_ms: i64::try_from(ctx.settings.update_spacing.as_millis())
                .unwrap_or(i64::MAX),
            gone_on_ramps: &gone,
        },
        now,
    );
    let note = decision.note.clone();
    // Execute, then report.
    let outcome = execute::run(ctx, obj, &req, &seen, decision, planning).await?;
    report(
        ctx,
        obj,
        &req,
        outcome,
        note,
        seen.base.keys.fetched_at_wall,
    )
    .await
}

/// A request never reported before says it is issuing before its first create, which may take
/// as long as Megaport does: without a status, kstatus (Flux, Helm `--wait`) takes the object
/// for Current before any key exists. Later generations need nothing: their status still
/// describes the previous one, which kstatus reads as InProgress. The keys to issue, if so.
pub(super) fn first_report(
    obj: &ServiceKeyRequest,
    decision: &issuance::Decision,
) -> Option<usize> {
    let reported = obj
        .status
        .as_ref()
        .is_some_and(|s| s.observed_generation.is_some());
    let creates = decision
        .steps
        .iter()
        .any(|s| matches!(s.action, KeyAction::Create { .. }));
    (!reported && creates).then_some(decision.records.len())
}

/// Writes the first status of a request that issues `planned` keys: Issuing (one status write
/// more per new request; no event, the report after the keys exist announces the outcome).
pub(super) async fn announce_issuing(
    ctx: &Context,
    obj: &ServiceKeyRequest,
    req: &ValidatedRequest,
    planned: usize,
) -> Result<(), Error> {
    let now = jiff::Timestamp::now();
    let inputs = StatusInputs {
        progress: Progress::Issuing { issued: 0, planned },
        keys: Vec::new(),
        secret_name: req.secret.name.clone(),
        secret: issuance::SecretState::NoKeys,
        restored: Vec::new(),
        suspended: req.suspend,
        keys_read_at: now,
        connections: previous_connections(obj),
    };
    let status = issuance::desired_status(None, obj.meta().generation, &inputs, now);
    status::apply(ctx, &requests_api(ctx, obj), obj, None, &status).await
}

/// The connections status showed last (kept while the request is blocked or issuing).
fn previous_connections(obj: &ServiceKeyRequest) -> Vec<crate::crd::connections::Connection> {
    obj.status
        .as_ref()
        .map(|s| s.connections.clone())
        .unwrap_or_default()
}

/// The on-ramps that were (or are being) decommissioned: their keys can no longer be used.
fn decommissioned(products: &[crate::megaport::models::Product]) -> Vec<String> {
    products
        .iter()
        .filter(|p| p.provisioning_status.is_decommissioned())
        .map(|p| p.product_uid.clone())
        .collect()
}

/// Computes the status from what execution did, writes it, and says when to look again.
async fn report(
    ctx: &Context,
    obj: &ServiceKeyRequest,
    req: &ValidatedRequest,
    outcome: Outcome,
    note: Option<String>,
    keys_read_at: jiff::Timestamp,
) -> Result<Action, Error> {
    let now = jiff::Timestamp::now();
    let planned = outcome.records.len();
    let issued = outcome.keys.len();
    let otherwise = if issued < planned {
        Progress::Issuing { issued, planned }
    } else {
        Progress::Done { note }
    };
    let keys = outcome
        .keys
        .iter()
        .map(|k| {
            let on_ramp = observe::on_ramp_of(&outcome.products, &k.product_uid);
            let fp = fingerprint(&k.key);
            let mut issued = issuance::issued_key(
                k,
                fp.clone(),
                on_ramp.as_ref(),
                &outcome.products,
                EpochMillis::from_timestamp(now),
            );
            issued.updates_last_30_days = outcome
                .records
                .iter()
                .find(|r| r.fingerprint.as_deref() == Some(fp.as_str()))
                .map(|r| r.updates_last_30_days(now));
            issued
        })
        .collect();
    let inputs = StatusInputs {
        progress: Progress::from_blockers(outcome.blockers, otherwise),
        keys,
        secret_name: req.secret.name.clone(),
        secret: outcome.secret,
        restored: outcome.restored,
        suspended: req.suspend,
        keys_read_at,
        connections: Vec::new(),
    };
    let answered = connections::answer(ctx, obj, &outcome.keys, &outcome.products).await?;
    let inputs = StatusInputs {
        connections: answered.shown,
        ..inputs
    };
    connections::announce_new(ctx, obj, &inputs.connections).await;
    write_status(ctx, obj, &inputs).await?;
    if let Some(err) = answered.error {
        // Every other connection was answered and the status written: retried by the policy.
        return Err(err);
    }
    // A key's validity ends on the clock, not by a change Megaport lists: look again then.
    let next_end = outcome
        .keys
        .iter()
        .filter_map(|k| k.valid_for.as_ref()?.end)
        .filter(|end| end.0 > now.as_millisecond())
        .min();
    ctx.process.metrics.set_next_expiry(
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
        next_end.and_then(EpochMillis::to_timestamp),
    );
    let next_end = next_end
        .and_then(|end| u64::try_from(end.0 - now.as_millisecond()).ok())
        .map(|ms| Duration::from_millis(ms + 1000));
    let again = requeue(ctx, &inputs.progress);
    // A restore is confirmed (Drifted cleared) by a key list read after it: look again then,
    // not at the resync (the operator's own write changes nothing the refresh would report).
    let drifted = !inputs.restored.is_empty()
        || obj.status.as_ref().is_some_and(|s| {
            crate::crd::conditions::is_true(
                &s.conditions,
                crate::crd::conditions::ConditionType::Drifted,
            )
        });
    let confirm = drifted.then(|| ctx.keys.refresh_period() + Duration::from_secs(1));
    let again = [Some(again), next_end, answered.next, confirm]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(again);
    Ok(Action::requeue(again))
}

/// The status for `inputs`, through the shared writer.
async fn write_status(
    ctx: &Context,
    obj: &ServiceKeyRequest,
    inputs: &StatusInputs,
) -> Result<(), Error> {
    let previous = obj.status.as_ref();
    let status = issuance::desired_status(
        previous,
        obj.meta().generation,
        inputs,
        jiff::Timestamp::now(),
    );
    status::write(ctx, &requests_api(ctx, obj), obj, previous, &status, ACTION).await?;
    tracing::debug!(phase = ?status.phase, keys = status.keys.len(), "reconciled ServiceKeyRequest");
    Ok(())
}

/// A request that cannot be served at all (before anything is observed).
async fn report_blocked(
    ctx: &Context,
    obj: &ServiceKeyRequest,
    blocker: Blocker,
) -> Result<Action, Error> {
    let inputs = StatusInputs {
        progress: Progress::Blocked(blocker, Vec::new()),
        keys: Vec::new(),
        secret_name: obj
            .spec
            .secret
            .as_ref()
            .and_then(|s| s.name.clone())
            .unwrap_or_else(|| obj.name_any()),
        secret: issuance::SecretState::NoKeys,
        restored: Vec::new(),
        suspended: false,
        keys_read_at: jiff::Timestamp::now(),
        connections: previous_connections(obj),
    };
    write_status(ctx, obj, &inputs).await?;
    Ok(Action::requeue(requeue(ctx, &inputs.progress)))
}

/// When to look again: soon while issuing or waiting for something that heals by itself, once
/// per poll period while blocked; once done, only at the resync (a change in Megaport brings
/// the request back through [`crate::controller::refresh`], a change of it or its Secret
/// through the watches).
fn requeue(ctx: &Context, progress: &Progress) -> Duration {
    match progress {
        Progress::Issuing { .. } => ISSUING_RETRY,
        Progress::Blocked(b, _) if b.heals_by_itself() => {
            WAITING_RETRY.min(ctx.keys.refresh_period())
        }
        Progress::Blocked(..) => ctx.keys.refresh_period(),
        Progress::Done { .. } => ctx.settings.resync,
    }
}

/// Leaves a failed step in status (everything else status says is kept). Written when a reason
/// or status changes only: a write brings the request back at once, so a message that differs
/// per attempt must not cause one. Best effort: if the status cannot be written either, the log
/// line of the retry policy is all there is.
async fn report_failure(ctx: &Context, obj: &ServiceKeyRequest, err: &Error) {
    let message: String = format!("{err}; retrying").chars().take(600).collect();
    let previous = obj.status.as_ref();
    let mut status = status::failure(
        previous,
        obj.meta().generation,
        err.step(),
        &message,
        jiff::Timestamp::now(),
    );
    if status.phase.is_none() {
        status.phase = Some(Default::default());
    }
    if previous
        .is_some_and(|p| crate::crd::conditions::same_reasons(&p.conditions, &status.conditions))
    {
        return;
    }
    // No event: a failure that heals should not leave a trail of Warnings.
    if let Err(e) = status::apply(ctx, &requests_api(ctx, obj), obj, previous, &status).await {
        tracing::warn!(error = %e, "could not record the failure in status");
    }
}

// === cleanup ===

/// Deletion: deactivate (or retain) the keys, then let the finalizer go.
async fn cleanup(obj: &ServiceKeyRequest, ctx: &Context) -> Result<Action, Error> {
    let uid = obj.uid().unwrap_or_default();
    let namespace = obj.namespace().unwrap_or_default();
    ctx.process
        .metrics
        .set_next_expiry(&namespace, &obj.name_any(), None);
    if issuance::request::is_abandoned(obj) {
        let note =
            "deleted with the abandon annotation: its keys were left as they are in Megaport";
        status::publish(
            ctx,
            obj,
            EventType::Warning,
            Reason::Abandoned,
            note,
            ACTION,
        )
        .await;
        ctx.ledger.forget(&uid);
        return Ok(Action::await_change());
    }
    let policy = issuance::request::deletion_policy(obj);
    if policy == DeletionPolicy::Retain {
        ctx.ledger.forget(&uid);
        return Ok(Action::await_change());
    }
    // The request's keys: those carrying its marker, and those its trusted records name. One
    // fresh list of every key; no per-on-ramp call, so an on-ramp that no longer exists does
    // not hold deletion up.
    let records = ctx
        .trusted_records(&uid, obj.annotations())
        .unwrap_or_default();
    let deactivated = match deactivate(ctx, &uid, policy, &records).await {
        Ok(n) => n,
        Err(err) => {
            let note = format!(
                "cannot deactivate the keys, deletion waits: {err}. If the Megaport credentials are gone for good, annotate the request {}=true to delete it and leave its keys as they are",
                issuance::ABANDON_ANNOTATION
            );
            status::publish(
                ctx,
                obj,
                EventType::Warning,
                Reason::DeactivationFailed,
                &note,
                ACTION,
            )
            .await;
            return Err(Error::megaport(Step::Deactivate, err));
        }
    };
    tracing::info!(deactivated, "deactivated keys of a deleted request");
    ctx.ledger.forget(&uid);
    Ok(Action::await_change())
}

/// Turns the request's keys off; returns how many.
async fn deactivate(
    ctx: &Context,
    uid: &str,
    policy: DeletionPolicy,
    records: &[issuance::Record],
) -> Result<usize, Arc<crate::megaport::MegaportError>> {
    let keys = ctx.keys.get_fresher_than(Duration::ZERO).await?;
    let fingerprints = records.iter().filter_map(|r| r.fingerprint.as_deref());
    let keys = keys.items.of_request(uid, fingerprints);
    let products = ctx.products.get().await?;
    let gone = decommissioned(&products.items);
    let elsewhere = |fp: &str| claims::claimed_elsewhere(ctx, uid, fp);
    let actions = issuance::decide_deletion(
        uid,
        policy,
        records,
        &keys,
        &elsewhere,
        &gone,
        jiff::Timestamp::now(),
    );
    let mut deactivated = 0;
    for action in actions {
        if let KeyAction::Deactivate { put, .. } = action {
            let updated = ctx.api.update_service_key(&put).await.map_err(Arc::new)?;
            ctx.keys.upsert(updated);
            deactivated += 1;
        }
    }
    Ok(deactivated)
}
