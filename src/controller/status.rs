//! The one status writer of every controller: server-side apply of the whole status with the
//! operator's field manager, skipped when nothing but condition transition times would change;
//! one event when `Ready` changes status or reason; and the failure note a failed step leaves
//! (`Reconciling=True` with the step's reason, `Ready=False` unless the object is Ready and the
//! failure does not touch what it delivers), which keeps everything else status says.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Error, Shared, Step};
use crate::crd::FIELD_MANAGER;
use crate::crd::conditions::{self, ConditionType, Desired, Reason};
use crate::crd::onramp_region::OnRampRegionStatus;
use crate::crd::saved_configuration::SavedConfigurationStatus;
use crate::crd::service_key_request::ServiceKeyRequestStatus;

/// A status with conditions.
pub trait Conditioned: Serialize + Clone + Default {
    /// Its conditions.
    fn conditions(&self) -> &[Condition];
    /// Its conditions, to change.
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    /// Sets the generation it describes.
    fn set_observed_generation(&mut self, generation: Option<i64>);
}

impl Conditioned for ServiceKeyRequestStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }
    fn set_observed_generation(&mut self, generation: Option<i64>) {
        self.observed_generation = generation;
    }
}

impl Conditioned for SavedConfigurationStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }
    fn set_observed_generation(&mut self, generation: Option<i64>) {
        self.observed_generation = generation;
    }
}

impl Conditioned for OnRampRegionStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }
    fn set_observed_generation(&mut self, generation: Option<i64>) {
        self.observed_generation = generation;
    }
}

/// Whether `a` and `b` say the same, whatever their condition transition times.
pub fn same<S: Conditioned>(a: &S, b: &S) -> bool {
    let strip = |s: &S| {
        let mut value = serde_json::to_value(s).unwrap_or(Value::Null);
        if let Some(all) = value.get_mut("conditions").and_then(Value::as_array_mut) {
            for c in all {
                if let Some(c) = c.as_object_mut() {
                    c.remove("lastTransitionTime");
                }
            }
        }
        value
    };
    strip(a) == strip(b)
}

/// The status after a failed `step` (pure): everything `previous` says, plus `Reconciling=True`
/// with the step's reason, and `Ready=False` unless `previous` is Ready and the step leaves what
/// the object delivers alone (`delivery`: the step writes what users read, such as a Secret).
pub fn failure<S: Conditioned>(
    previous: Option<&S>,
    generation: Option<i64>,
    step: Step,
    message: &str,
    now: jiff::Timestamp,
) -> S {
    let mut status = previous.cloned().unwrap_or_default();
    let reason = step.reason();
    let mut desired = vec![
        Desired::yes(ConditionType::Reconciling, reason, message),
        Desired::no(ConditionType::Stalled, reason, ""),
    ];
    if !conditions::is_true(status.conditions(), ConditionType::Ready) || step.touches_delivery() {
        desired.push(Desired::no(ConditionType::Ready, reason, message));
    }
    *status.conditions_mut() =
        conditions::merge(status.conditions(), &desired, generation, &Time(now));
    status.set_observed_generation(generation);
    status
}

/// Writes `status` on `obj` through `api` (server-side apply of the whole status) unless it
/// says what `previous` says; then announces a change of `Ready`. `action` names what the
/// controller did, for events.
pub async fn write<K, S>(
    ctx: &Shared,
    api: &Api<K>,
    obj: &K,
    previous: Option<&S>,
    status: &S,
    action: &str,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Conditioned,
{
    apply(ctx, api, obj, previous, status).await?;
    announce(
        ctx,
        obj,
        previous.map(|p| p.conditions()),
        status.conditions(),
        action,
    )
    .await;
    Ok(())
}

/// Writes `status` on `obj` through `api` (server-side apply of the whole status) unless it
/// says what `previous` says; no event.
pub async fn apply<K, S>(
    _ctx: &Shared,
    api: &Api<K>,
    obj: &K,
    previous: Option<&S>,
    status: &S,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Conditioned,
{
    if previous.is_some_and(|p| same(p, status)) {
        return Ok(());
    }
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(|e| Error::kube(Step::PatchStatus, e))?;
    Ok(())
}

/// One event when `Ready` changes status or reason (not on every reconcile): Normal when it
/// became True, Warning otherwise.
async fn announce<K>(
    ctx: &Shared,
    obj: &K,
    before: Option<&[Condition]>,
    after: &[Condition],
    action: &str,
) where
    K: Resource<DynamicType = ()>,
{
    let Some(ready) = conditions::find(after, ConditionType::Ready) else {
        return;
    };
    let before = before.and_then(|b| conditions::find(b, ConditionType::Ready));
    if before.is_some_and(|b| b.status == ready.status && b.reason == ready.reason) {
        return;
    }
    let Some(reason) = Reason::parse(&ready.reason) else {
        return;
    };
    let kind = if conditions::status_of(ready) == Some(true) {
        EventType::Normal
    } else {
        EventType::Warning
    };
    publish(ctx, obj, kind, reason, &ready.message, action).await;
}

/// Publishes an event about `obj` (notes are shortened to 1000 characters; failures to publish
/// are logged, never fatal).
pub async fn publish<K>(
    ctx: &Shared,
    obj: &K,
    kind: EventType,
    reason: Reason,
    note: &str,
    action: &str,
) where
    K: Resource<DynamicType = ()>,
{
    let event = Event {
        type_: kind,
        reason: reason.as_str().to_owned(),
        note: Some(note.chars().take(1000).collect()),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %err, "could not publish event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(status: bool, reason: Reason) -> ServiceKeyRequestStatus {
        let desired = if status {
            Desired::yes(ConditionType::Ready, reason, "m")
        } else {
            Desired::no(ConditionType::Ready, reason, "m")
        };
        ServiceKeyRequestStatus {
            conditions: conditions::merge(
                &[],
                &[desired],
                Some(1),
                &Time(jiff::Timestamp::UNIX_EPOCH),
            ),
            ..ServiceKeyRequestStatus::default()
        }
    }

    #[test]
    fn equal_statuses_ignore_transition_times_only() {
        let a = ready(true, Reason::Issued);
        let mut b = a.clone();
        b.conditions[0].last_transition_time = Time(jiff::Timestamp::now());
        assert!(same(&a, &b));
        b.conditions[0].message = "other".into();
        assert!(!same(&a, &b));
    }

    #[test]
    fn a_failure_keeps_a_delivered_ready_unless_it_touches_delivery() {
        let issued = ready(true, Reason::Issued);
        let now = jiff::Timestamp::UNIX_EPOCH;
        let outage = failure(Some(&issued), Some(2), Step::ReadMegaport, "down", now);
        assert!(conditions::is_true(
            &outage.conditions,
            ConditionType::Ready
        ));
        assert_eq!(
            conditions::reason_of(&outage.conditions, ConditionType::Reconciling),
            Some(Reason::MegaportUnavailable)
        );
        let secret = failure(Some(&issued), Some(2), Step::WriteSecret, "quota", now);
        assert_eq!(
            conditions::reason_of(&secret.conditions, ConditionType::Ready),
            Some(Reason::SecretWriteFailed)
        );
        let first =
            failure::<ServiceKeyRequestStatus>(None, Some(1), Step::ReadMegaport, "down", now);
        assert!(!conditions::is_true(
            &first.conditions,
            ConditionType::Ready
        ));
        assert_eq!(first.observed_generation, Some(1));
    }
}
