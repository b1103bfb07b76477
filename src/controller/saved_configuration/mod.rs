//! The SavedConfiguration controller, as steps around the pure decisions of
//! [`crate::ordering`]:
//!
//! 1. **observe** ([`observe`]): the order records (sealed, or this process's last write), the
//!    service keys the VXCs read from Secrets;
//! 2. **validate** only when due ([`decide::validation_due`]: a new generation, a key that
//!    changed, or the interval, default 24 h): the account rules over Megaport's locations and
//!    the account's billing markets, the keys looked up, `POST /v3/networkdesign/validate`;
//! 3. **decide** the order's next step ([`decide::step`]);
//! 4. **execute** ([`execute`]): search the tagged products after an unknown outcome, or buy one
//!    round (services, then the VXCs between them) with a pending record saved first and buys
//!    on one product serialised, or read where the bought services are;
//! 5. **report**: the status ([`ordering::status::desired_status`]) through the shared writer.
//!
//! Deletion goes through a finalizer: `deletionPolicy` Retain leaves the services, Cancel and
//! CancelNow cancel them (VXCs first), and `megaport.onramp.dev/abandon: "true"` lets go
//! without Megaport. A failed step leaves its reason in status before the retry policy.

mod execute;
mod observe;
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

use super::{Error, Orders, invalid, status};
use crate::crd::conditions::Reason;
use crate::crd::saved_configuration::{
    ConfigurationPhase, SavedConfiguration, ServicesDeletionPolicy,
};
use crate::issuance::ABANDON_ANNOTATION;
use crate::ordering::status::{Inputs, Progress, Validation};
use crate::ordering::{self, Ledger, Step, decide};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The finalizer that holds a configuration until its services are dealt with.
pub const FINALIZER: &str = "megaport.onramp.dev/services";
/// What the controller does, as events name it.
const ACTION: &str = "Order";
/// How soon to look again while an order is under way.
const ORDERING_RETRY: Duration = Duration::from_secs(2);
/// How soon to look again while a VXC waits for a person (a Secret is not watched).
const BLOCKED_RETRY: Duration = Duration::from_secs(30);

/// Reconciles one configuration (through the finalizer). One the operator cannot read is
/// reported on itself; a failed step is reported in status before the error goes on.
pub async fn reconcile(
    guard: Arc<DeserializeGuard<SavedConfiguration>>,
    ctx: Arc<Orders>,
) -> Result<Action, Error> {
    let obj = match &guard.0 {
        Ok(obj) => Arc::new(obj.clone()),
        Err(invalid) => {
            return invalid::report::<SavedConfiguration>(&ctx, invalid, FINALIZER).await;
        }
    };
    let span = tracing::info_span!("reconcile", configuration = %obj.name_any(), namespace = %obj.namespace().unwrap_or_default());
    async {
        let api = configurations_api(&ctx, &obj);
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

fn configurations_api(ctx: &Orders, obj: &SavedConfiguration) -> Api<SavedConfiguration> {
    Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default())
}

fn is_ordered(obj: &SavedConfiguration) -> bool {
    obj.spec.order == Some(true)
}

fn service_count(obj: &SavedConfiguration) -> u32 {
    let s = &obj.spec.services;
    let n = s.ports.len() + s.mcrs.len() + s.mves.len() + s.vxcs.len();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A Warning event on `obj`.
async fn warn(ctx: &Orders, obj: &SavedConfiguration, reason: Reason, note: &str) {
    status::publish(ctx, obj, EventType::Warning, reason, note, ACTION).await;
}

// === apply ===

async fn apply(obj: &SavedConfiguration, ctx: &Orders) -> Result<Action, Error> {
    let uid = obj.uid().unwrap_or_default();
    if let Some(other) = claimed_elsewhere(ctx, obj).await {
        tracing::warn!(%other, "ordered by another operator; not touched");
        return Ok(Action::await_change());
    }
    let account = ctx.accounts.account(obj.spec.managed_account.as_deref());
    // Observe.
    let (ledger, ignored) = observe::ledger(ctx, obj, &uid);
    if let Some(why) = ignored {
        let note = format!(
            "{why}: the services are searched in Megaport by their tags before anything is bought"
        );
        tracing::warn!(%note, "ignoring the order records");
        warn(ctx, obj, Reason::RecordsIgnored, &note).await;
    }
    let keys = observe::keys(ctx, obj).await?;
    let now = jiff::Timestamp::now();
    let validation = checked(ctx, obj, &uid, account.as_ref(), &ledger, &keys, now).await?;
    // Decide.
    let key_ends = keys.ends(&validation.keys);
    let design = ordering::items(&obj.spec, &uid, &ledger.bought, &key_ends);
    let step = decide::step(
        is_ordered(obj),
        !validation.problems.is_empty(),
        &ledger,
        &design,
    );
    // A refused order is sent again only for a new generation or after the interval.
    let refusal = obj.status.as_ref().and_then(|s| s.order_refusal.clone());
    let interval = ctx.settings.validation_interval;
    let resend = decide::may_resend(refusal.as_ref(), obj.meta().generation, now, interval);
    // Execute, then report.
    let (progress, services, again) = match (step, refusal) {
        (Step::Buy, Some(refusal)) if !resend => {
            let services = execute::carried(obj, &ledger);
            (Progress::Refused(refusal), services, None)
        }
        (step, _) => {
            let account = account.as_ref();
            execute::run(ctx, obj, account, ledger, design, step, &validation).await?
        }
    };
    let inputs = Inputs {
        validation,
        progress,
        services,
        service_count: service_count(obj),
    };
    write_status(ctx, obj, &inputs).await?;
    let again = again.unwrap_or_else(|| next_look(ctx, &inputs, now));
    // A key Secret that is missing is looked for again soon (Secrets are not watched).
    let again = if keys.problems.is_empty() {
        again
    } else {
        again.min(BLOCKED_RETRY)
    };
    Ok(Action::requeue(again))
}

/// The validation status carries, brought up to date where due: all of it (account rules,
/// keys, Megaport's validation) before anything is bought; once the order is under way, only
/// the keys that changed for VXCs not bought yet (every buy checks itself).
async fn checked(
    ctx: &Orders,
    obj: &SavedConfiguration,
    uid: &str,
    account: &dyn crate::megaport::MegaportApi,
    ledger: &Ledger,
    keys: &observe::Keys,
    now: jiff::Timestamp,
) -> Result<Validation, Error> {
    let previous = obj.status.as_ref();
    let interval = ctx.settings.validation_interval;
    let due = decide::validation_due(
        previous,
        obj.meta().generation,
        &keys.fingerprints,
        now,
        interval,
    );
    let started = !ledger.bought.is_empty() || !ledger.pending.is_empty();
    let mut validation = Validation::carried(previous);
    match due {
        None => {}
        Some(why) if !started => {
            tracing::info!(?why, "checking and pricing the design");
            validation = observe::validate(obj, uid, account, keys, now).await?;
        }
        Some(_) => {
            let stale: Vec<String> = keys
                .fingerprints
                .iter()
                .filter(|(vxc, fp)| {
                    !ledger.bought.contains_key(*vxc)
                        && !validation
                            .keys
                            .iter()
                            .any(|k| &k.service == *vxc && &k.fingerprint == *fp)
                })
                .map(|(vxc, _)| vxc.clone())
                .collect();
            if !stale.is_empty() {
                let looked = observe::lookup_keys(obj, account, keys, Some(&stale)).await?;
                let concerns = |s: &Option<String>| s.as_ref().is_some_and(|s| stale.contains(s));
                validation.keys.retain(|k| !stale.contains(&k.service));
                validation.keys.extend(looked.seen);
                validation.problems.retain(|p| !concerns(&p.service));
                validation.problems.extend(looked.problems);
            }
        }
    }
    Ok(validation)
}

/// When to look again after `inputs` were reported.
fn next_look(ctx: &Orders, inputs: &Inputs, now: jiff::Timestamp) -> Duration {
    match &inputs.progress {
        Progress::Saved | Progress::Held => until_due(ctx, inputs.validation.at.as_ref(), now),
        Progress::Refused(r) => until_due(ctx, Some(&r.at), now),
        Progress::Ordering(_) => ORDERING_RETRY,
        Progress::Blocked(_) => BLOCKED_RETRY,
        Progress::Provisioning => ctx.settings.provisioning_poll,
        Progress::Lost(_) => ctx.settings.products_refresh,
        Progress::Live => ctx.settings.resync,
    }
}

/// Until an interval from `since` has passed (at most the resync period).
fn until_due(ctx: &Orders, since: Option<&Time>, now: jiff::Timestamp) -> Duration {
    let interval = ctx.settings.validation_interval;
    let left = since.map_or(Duration::ZERO, |at| {
        let age = now.duration_since(at.0);
        let age = Duration::try_from(age).unwrap_or(Duration::ZERO);
        interval.saturating_sub(age)
    });
    left.clamp(Duration::from_secs(1), ctx.settings.resync)
}

/// Writes where the order is before a step that may take long (a buy), so that status never
/// says Quoted while a buy is in flight.
pub(super) async fn write_progress(
    ctx: &Orders,
    obj: &SavedConfiguration,
    validation: &Validation,
    progress: &Progress,
    services: Vec<crate::crd::saved_configuration::OrderedService>,
) -> Result<(), Error> {
    let inputs = Inputs {
        validation: validation.clone(),
        progress: progress.clone(),
        services,
        service_count: service_count(obj),
    };
    write_status(ctx, obj, &inputs).await
}

/// The status for `inputs`, through the shared writer.
async fn write_status(
    ctx: &Orders,
    obj: &SavedConfiguration,
    inputs: &Inputs,
) -> Result<(), Error> {
    let previous = obj.status.as_ref();
    let status = ordering::status::desired_status(
        previous,
        obj.meta().generation,
        inputs,
        jiff::Timestamp::now(),
    );
    let api = configurations_api(ctx, obj);
    status::write(ctx, &api, obj, previous, &status, ACTION).await?;
    tracing::debug!(phase = ?status.phase, "reconciled SavedConfiguration");
    Ok(())
}

/// Leaves a failed step in status (everything else status says is kept), when its reason is
/// new. Best effort.
async fn report_failure(ctx: &Orders, obj: &SavedConfiguration, err: &Error) {
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
        status.phase = Some(ConfigurationPhase::default());
    }
    if previous
        .is_some_and(|p| crate::crd::conditions::same_reasons(&p.conditions, &status.conditions))
    {
        return;
    }
    let api = configurations_api(ctx, obj);
    if let Err(e) = status::apply(ctx, &api, obj, previous, &status).await {
        tracing::warn!(error = %e, "could not record the failure in status");
    }
}

/// The operator that ordered `obj`, when it is another (other Megaport credentials): this one
/// writes nothing on it — not even status, which the other writes — and says so once per
/// generation in an event. Removing the annotation hands the configuration over.
async fn claimed_elsewhere(ctx: &Orders, obj: &SavedConfiguration) -> Option<String> {
    let other = ordering::records::claimed_by_another(obj.annotations(), &ctx.seal)?;
    let uid = obj.uid().unwrap_or_default();
    let generation = obj.meta().generation.unwrap_or_default();
    if ctx.newly_foreign(&uid, generation) {
        let note = format!(
            "ordered by another operator (seal {other}: other Megaport credentials, or this operator's before they were rotated); this one ({}) leaves it alone. To hand it over, remove the annotation {}",
            ctx.seal.id(),
            ordering::records::ORDERED_BY_ANNOTATION
        );
        warn(ctx, obj, Reason::RecordsIgnored, &note).await;
    }
    Some(other)
}

// === cleanup ===

/// Deletion: cancel (or retain) the services as `deletionPolicy` says, then let go.
async fn cleanup(obj: &SavedConfiguration, ctx: &Orders) -> Result<Action, Error> {
    let uid = obj.uid().unwrap_or_default();
    let abandoned = obj
        .annotations()
        .get(ABANDON_ANNOTATION)
        .is_some_and(|v| v == "true");
    let policy = obj.spec.deletion_policy.unwrap_or_default();
    if abandoned {
        let note =
            "deleted with the abandon annotation: its services were left as they are in Megaport";
        status::publish(
            ctx,
            obj,
            EventType::Warning,
            Reason::Abandoned,
            note,
            ACTION,
        )
        .await;
    }
    if abandoned || policy == ServicesDeletionPolicy::Retain || !is_ordered(obj) {
        ctx.forget(&uid);
        return Ok(Action::await_change());
    }
    if let Some(other) = claimed_elsewhere(ctx, obj).await {
        // Its services are the other operator's to cancel.
        return Err(Error::Waiting {
            step: super::Step::Cancel,
            why: format!("ordered by another operator ({other}), which cancels its services"),
        });
    }
    let account = ctx.accounts.account(obj.spec.managed_account.as_deref());
    let (ledger, _) = observe::ledger(ctx, obj, &uid);
    let cancelled = execute::cancel(obj, &uid, account.as_ref(), ledger, policy).await;
    finish_cleanup(ctx, obj, &uid, policy, cancelled).await
}

/// Announces what the cancellation did, and lets go once nothing is unknown.
async fn finish_cleanup(
    ctx: &Orders,
    obj: &SavedConfiguration,
    uid: &str,
    policy: ServicesDeletionPolicy,
    cancelled: Result<execute::Cancelled, Error>,
) -> Result<Action, Error> {
    match cancelled {
        Ok(done) => {
            if done.count > 0 {
                let how = match policy {
                    ServicesDeletionPolicy::CancelNow => "now (CANCEL_NOW)",
                    _ => "at the end of their terms (CANCEL)",
                };
                let note = format!(
                    "cancelled {} services {how}, as deletionPolicy {policy:?} says",
                    done.count
                );
                status::publish(
                    ctx,
                    obj,
                    EventType::Normal,
                    Reason::ServicesCancelled,
                    &note,
                    ACTION,
                )
                .await;
            }
            if done.waiting.is_some() {
                // A buy's outcome is still unknown: not let go before it is known (the
                // finalizer holds while cleanup fails).
                return Err(Error::Waiting {
                    step: super::Step::Cancel,
                    why: "a buy's outcome is not known yet; looking for what it made before letting go".into(),
                });
            }
            ctx.forget(uid);
            Ok(Action::await_change())
        }
        Err(err) => {
            let note = format!(
                "cannot cancel the services, deletion waits: {err}. To delete the configuration and leave its services as they are, annotate it {ABANDON_ANNOTATION}=true"
            );
            warn(ctx, obj, Reason::CancellationFailed, &note).await;
            Err(err)
        }
    }
}
