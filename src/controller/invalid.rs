//! Objects the operator cannot decode (stored under an older or looser schema, or written
//! straight to etcd): each watch decodes objects one by one ([`DeserializeGuard`]), so one such
//! object never hides the others; this module reports it on the object itself — `Ready=False`
//! and `Stalled=True` with reason `InvalidSpec`, one Warning event, one log line without the
//! object's body — once per generation, and lets a deleted one go when it carries the abandon
//! annotation (its spec, and so its deletion policy, cannot be read).

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::error_boundary::InvalidObject;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource};
use serde_json::json;

use super::{Error, Shared, Step};
use crate::crd::conditions::{self, ConditionType, Desired, Reason};
use crate::issuance::ABANDON_ANNOTATION;

/// The longest decode error shown (it names the field and value, never the whole object).
const MAX_ERROR: usize = 300;

/// Reports `invalid` (an object of kind `K` that does not decode) on the object, once per
/// generation; removes `finalizer` from a deleted one that carries the abandon annotation.
pub async fn report<K>(
    ctx: &Shared,
    invalid: &InvalidObject,
    finalizer: &str,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()>,
{
    let meta = &invalid.metadata;
    let (Some(name), Some(uid)) = (meta.name.clone(), meta.uid.clone()) else {
        return Ok(Action::await_change());
    };
    let resource = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = match &meta.namespace {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &resource),
        None => Api::all_with(ctx.client.clone(), &resource),
    };
    let deleting = meta.deletion_timestamp.is_some();
    if deleting && let_go_if_abandoned(&api, invalid, &name, finalizer).await? {
        return Ok(Action::await_change());
    }
    // Reported once per generation, and once more when deletion starts.
    let generation = meta.generation.unwrap_or_default();
    let memo = if deleting {
        -1 - generation
    } else {
        generation
    };
    if ctx.invalid_reported(&uid, memo) {
        return Ok(Action::await_change());
    }
    // The decode error quotes the offending value: shortened, and without control characters.
    let error: String = invalid
        .error
        .chars()
        .take(MAX_ERROR)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    let waits = if deleting {
        format!(
            " Its deletion waits: its deletion policy cannot be read; annotate it {ABANDON_ANNOTATION}=true to let it go and leave its keys as they are"
        )
    } else {
        String::new()
    };
    let message = format!(
        "the operator cannot read this {}: {error}. Nothing is done for it until the spec is fixed (admission refuses such values; it was stored under a looser schema).{waits}",
        resource.kind
    );
    // The object's own status cannot be read either: these conditions replace its list.
    let conditions = conditions::merge(
        &[],
        &[
            Desired::no(ConditionType::Ready, Reason::InvalidSpec, message.clone()),
            Desired::yes(ConditionType::Stalled, Reason::InvalidSpec, message.clone()),
        ],
        Some(generation),
        &Time(jiff::Timestamp::now()),
    );
    let status = json!({"status": {
        "observedGeneration": generation,
        "conditions": conditions,
    }});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map_err(|e| Error::kube(Step::PatchStatus, e))?;
    announce(ctx, &resource, invalid, &message).await;
    tracing::warn!(kind = %resource.kind, namespace = ?meta.namespace, name = %name, %error, "cannot read an object; reported on it");
    ctx.remember_invalid(&uid, memo);
    Ok(Action::await_change())
}

/// One Warning event on the unreadable object.
async fn announce(ctx: &Shared, resource: &ApiResource, invalid: &InvalidObject, message: &str) {
    let meta = &invalid.metadata;
    let reference = ObjectReference {
        api_version: Some(resource.api_version.clone()),
        kind: Some(resource.kind.clone()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        ..ObjectReference::default()
    };
    let event = Event {
        type_: EventType::Warning,
        reason: Reason::InvalidSpec.as_str().into(),
        note: Some(message.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&event, &reference).await {
        tracing::warn!(error = %err, "could not publish event");
    }
}

/// A deleted object the operator cannot read: its deletion policy is unknown, so its keys are
/// left alone and the finalizer stays until a human says to abandon them. Returns whether it
/// was let go (or holds no finalizer of ours).
async fn let_go_if_abandoned(
    api: &Api<DynamicObject>,
    invalid: &InvalidObject,
    name: &str,
    finalizer: &str,
) -> Result<bool, Error> {
    let meta = &invalid.metadata;
    let finalizers = meta.finalizers.clone().unwrap_or_default();
    let abandoned = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(ABANDON_ANNOTATION))
        .is_some_and(|v| v == "true");
    if !finalizers.iter().any(|f| f == finalizer) {
        return Ok(true);
    }
    if !abandoned {
        return Ok(false);
    }
    let kept: Vec<&String> = finalizers.iter().filter(|f| *f != finalizer).collect();
    // The resourceVersion makes the patch fail if the list changed since it was read.
    let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": meta.resource_version}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::kube(Step::Finalize, e))?;
    tracing::warn!(
        name,
        "let an unreadable object go: it carried the abandon annotation; its keys were left as they are"
    );
    Ok(true)
}
