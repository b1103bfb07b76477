//! The Secret a request's keys are delivered in: what it should hold (pure), whether one found
//! is the operator's own for the request, the check before any key is created (a server-side
//! dry run of the create), and the write (create when absent, server-side apply on the version
//! read when ours, never anyone else's).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};

use super::{MANAGED_BY_LABEL, MANAGER, REQUEST_LABEL, REQUEST_UID_ANNOTATION};
use crate::controller::{Context, Error, Step};
use crate::crd::FIELD_MANAGER;
use crate::crd::onramp_region::OnRampStatus;
use crate::crd::service_key_request::ServiceKeyRequest;
use crate::delivery::{self, DeliveredKey};
use crate::issuance::{SecretSeen, SecretState, ValidatedRequest};
use crate::megaport::models::{EpochMillis, ServiceKey};

/// Whether `secret` was written by the operator for the request `uid`.
pub fn is_ours(secret: &Secret, uid: &str) -> bool {
    secret.labels().get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGER)
        && secret
            .annotations()
            .get(REQUEST_UID_ANNOTATION)
            .map(String::as_str)
            == Some(uid)
}

/// What a customer reads about one key.
pub fn delivered_key(key: &ServiceKey, on_ramp: Option<&OnRampStatus>) -> DeliveredKey {
    DeliveredKey {
        key: key.key.clone(),
        product_uid: key.product_uid.clone(),
        on_ramp: on_ramp
            .map(|o| o.name.clone())
            .or_else(|| key.product_name.clone())
            .unwrap_or_default(),
        location: on_ramp.and_then(|o| o.location.clone()),
        metro: on_ramp.and_then(|o| o.metro.clone()),
        country: on_ramp.and_then(|o| o.country.clone()),
        zone: on_ramp.and_then(|o| o.diversity_zone.clone()),
        vlan: key.vlan,
        max_speed_mbps: key.max_speed.unwrap_or(0),
        single_use: key.single_use,
        pre_approved: key.pre_approved.unwrap_or(false),
        expires_at: key
            .valid_for
            .as_ref()
            .and_then(|v| v.end)
            .and_then(EpochMillis::to_timestamp)
            .map(|t| t.to_string()),
    }
}

/// The Secret the request should have, holding `keys` (pure): the template's labels and
/// annotations, then the operator's own (which the template cannot override), owned by the
/// request unless the policy is Orphan.
pub fn desired(
    request: &ValidatedRequest,
    keys: &[DeliveredKey],
) -> Result<Secret, serde_json::Error> {
    let target = &request.secret;
    let mut labels = target.labels.clone();
    labels.insert(MANAGED_BY_LABEL.into(), MANAGER.into());
    labels.insert(REQUEST_LABEL.into(), request.name.clone());
    let mut annotations = target.annotations.clone();
    annotations.insert(REQUEST_UID_ANNOTATION.into(), request.uid.clone());
    let owner = target.owned.then(|| OwnerReference {
        api_version: ServiceKeyRequest::api_version(&()).into_owned(),
        kind: ServiceKeyRequest::kind(&()).into_owned(),
        name: request.name.clone(),
        uid: request.uid.clone(),
        controller: Some(true),
        block_owner_deletion: None,
    });
    let data = delivery::secret_data(keys)?
        .into_iter()
        .map(|(k, v)| (k, ByteString(v.into_bytes())))
        .collect();
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(target.name.clone()),
            namespace: Some(request.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Secret::default()
    })
}

/// Whether `current` already carries everything in `desired` (pure).
pub fn matches(current: &Secret, desired: &Secret) -> bool {
    let contains = |have: &Option<BTreeMap<String, String>>,
                    want: &Option<BTreeMap<String, String>>| {
        want.iter()
            .flatten()
            .all(|(k, v)| have.as_ref().and_then(|h| h.get(k)) == Some(v))
    };
    current.data == desired.data
        && contains(&current.metadata.labels, &desired.metadata.labels)
        && contains(&current.metadata.annotations, &desired.metadata.annotations)
        && current
            .metadata
            .owner_references
            .clone()
            .unwrap_or_default()
            == desired
                .metadata
                .owner_references
                .clone()
                .unwrap_or_default()
}

/// The Secret before a key is created: the operator's, someone else's, or absent — and then
/// whether the apiserver would take it (a server-side dry run: name, labels, admission
/// policies, quotas).
pub async fn check(ctx: &Context, request: &ValidatedRequest) -> Result<SecretSeen, Error> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &request.namespace);
    match api
        .get_opt(&request.secret.name)
        .await
        .map_err(|e| Error::kube(Step::ReadSecret, e))?
    {
        Some(current) if is_ours(&current, &request.uid) => return Ok(SecretSeen::Ours),
        Some(_) => return Ok(SecretSeen::Foreign),
        None => {}
    }
    let placeholder = desired(request, &[])
        .map_err(|e| Error::kube(Step::CheckSecret, kube::Error::SerdeError(e)))?;
    let params = PostParams {
        dry_run: true,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    match api.create(&params, &placeholder).await {
        Ok(_) => Ok(SecretSeen::Absent { refusal: None }),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(SecretSeen::Foreign),
        Err(kube::Error::Api(status))
            if (400..500).contains(&status.code) && status.code != 429 =>
        {
            Ok(SecretSeen::Absent {
                refusal: Some(status.message),
            })
        }
        Err(err) => Err(Error::kube(Step::CheckSecret, err)),
    }
}

/// Writes the Secret holding `keys` unless a Secret of that name exists that the operator did
/// not write for this request; repairs edits of its own Secret.
pub async fn ensure(
    ctx: &Context,
    request: &ValidatedRequest,
    keys: &[DeliveredKey],
) -> Result<SecretState, Error> {
    let name = &request.secret.name;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &request.namespace);
    let current = api
        .get_opt(name)
        .await
        .map_err(|e| Error::kube(Step::ReadSecret, e))?;
    if let Some(current) = &current
        && !is_ours(current, &request.uid)
    {
        return Ok(SecretState::Conflict(conflict_message(request)));
    }
    let mut want = desired(request, keys)
        .map_err(|e| Error::kube(Step::WriteSecret, kube::Error::SerdeError(e)))?;
    match &current {
        Some(current) if matches(current, &want) => return Ok(SecretState::Synced),
        // Absent: create, which fails (and is retried, finding the conflict) if someone made
        // a Secret of that name since the read.
        None => {
            let params = PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            };
            api.create(&params, &want)
                .await
                .map_err(|e| Error::kube(Step::WriteSecret, e))?;
        }
        // Ours: apply on the version just read, so a replacement since is not overwritten.
        Some(current) => {
            want.metadata.resource_version = current.metadata.resource_version.clone();
            api.patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&want),
            )
            .await
            .map_err(|e| Error::kube(Step::WriteSecret, e))?;
        }
    }
    tracing::info!(secret = %name, repaired = current.is_some(), "wrote the keys' Secret");
    Ok(SecretState::Synced)
}

/// The message of a Secret of the request's name that is not the operator's.
pub fn conflict_message(request: &ValidatedRequest) -> String {
    crate::issuance::Blocker::SecretConflict {
        secret: request.secret.name.clone(),
        uid: request.uid.clone(),
    }
    .to_string()
}
