//! The ServiceKeyRequest controller, in named phases around the pure core in
//! [`crate::issuance`] and [`crate::selection`]:
//!
//! 1. **observe**: the shared products and keys snapshots (one call each per period for the
//!    whole operator), the request's records (annotation, or this process's newer copy);
//! 2. **plan** (once per request, under the decision lock): region → candidates → selection;
//!    the picks are written to the annotation *before* any key exists, so every later step —
//!    after a crash too — works from the same plan;
//! 3. **issue**: per planned key, under the on-ramp's lock, list that on-ramp's keys and adopt
//!    one carrying the request's marker, else create it; record its fingerprint;
//! 4. **converge**: full-object PUT where the spec changed (update) or someone else changed a
//!    key (drift, restored and reported);
//! 5. **deliver**: the Secret, written only if absent or the operator's own;
//! 6. **status**: phase and conditions (pure), patched when they changed; an event when Ready
//!    changes reason.
//!
//! Deletion goes through a finalizer: Deactivate turns keys off (Megaport cannot delete keys),
//! Retain leaves them, and `megaport.onramp.dev/abandon: "true"` lets go without Megaport.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference, Time};
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::core::{DeserializeGuard, Selector, SelectorExt};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{self, Event as Finalize};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::Instrument;

use super::{Context, Error, Step, invalid};
use crate::crd::conditions::{self, types};
use crate::crd::onramp_region::{OnRampStatus, VlanRange};
use crate::crd::service_key_request::{
    DeletionPolicy, SecretPolicy, ServiceKeyRequest, ServiceKeyRequestStatus,
};
use crate::crd::{FIELD_MANAGER, OnRampRegion};
use crate::delivery::{self, DeliveredKey, Marker};
use crate::issuance::{
    self, ABANDON_ANNOTATION, Claim, Issuing, KEYS_ANNOTATION, KeyAction, Observed, Record,
    SecretState,
};
use crate::megaport::MegaportError;
use crate::megaport::models::{
    CreateServiceKey, EpochMillis, Product, ServiceKey, UpdateServiceKey,
};
use crate::onramp;
use crate::selection::{self, Needs, Outcome};

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

/// Reconciles one request (through the finalizer). One the operator cannot read is reported on
/// itself; a failed step is reported in status before the error goes to the retry policy.
pub async fn reconcile(
    guard: Arc<DeserializeGuard<ServiceKeyRequest>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let req = match &guard.0 {
        Ok(req) => Arc::new(req.clone()),
        Err(invalid) => {
            return invalid::report::<ServiceKeyRequest>(&ctx, invalid, FINALIZER).await;
        }
    };
    let span = tracing::info_span!("reconcile", request = %req.name_any(), namespace = %req.namespace().unwrap_or_default());
    async {
        let namespace = req.namespace().unwrap_or_default();
        let api: Api<ServiceKeyRequest> = Api::namespaced(ctx.client.clone(), &namespace);
        let result = finalizer::finalizer(&api, FINALIZER, req.clone(), |event| async {
            match event {
                Finalize::Apply(req) => apply(&req, &ctx).await,
                Finalize::Cleanup(req) => cleanup(&req, &ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)));
        if let Err(err) = &result {
            report_failure(&Request::new(&req, &ctx), err).await;
        }
        result
    }
    .instrument(span)
    .await
}

/// What one reconcile works with.
struct Request<'a> {
    obj: &'a ServiceKeyRequest,
    uid: String,
    name: String,
    namespace: String,
    api: Api<ServiceKeyRequest>,
}

impl<'a> Request<'a> {
    fn new(obj: &'a ServiceKeyRequest, ctx: &Context) -> Self {
        let namespace = obj.namespace().unwrap_or_default();
        Self {
            obj,
            uid: obj.uid().unwrap_or_default(),
            name: obj.name_any(),
            namespace: namespace.clone(),
            api: Api::namespaced(ctx.client.clone(), &namespace),
        }
    }

    fn secret_name(&self) -> String {
        self.obj
            .spec
            .secret
            .as_ref()
            .and_then(|s| s.name.clone())
            .unwrap_or_else(|| self.name.clone())
    }

    /// The newest records: this process's copy if it wrote one, else the annotation if its seal
    /// verifies (else `Err` with why: the annotation is not the operator's and is not used).
    fn records(&self, ctx: &Context) -> Result<Vec<Record>, String> {
        ctx.trusted_records(&self.uid, self.obj.annotations())
    }

    /// Writes the records and their seal to the annotations (and remembers them).
    async fn save_records(&self, ctx: &Context, records: &[Record]) -> Result<(), Error> {
        let patch = json!({"metadata": {"annotations": {
            KEYS_ANNOTATION: issuance::render_records(records),
            issuance::SEAL_ANNOTATION: ctx.seal.seal(&self.uid, records),
        }}});
        self.api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| Error::kube(Step::SaveRecords, e))?;
        ctx.remember(&self.uid, records.to_vec());
        Ok(())
    }
}

// === apply ===

async fn apply(obj: &ServiceKeyRequest, ctx: &Context) -> Result<Action, Error> {
    let req = Request::new(obj, ctx);
    // Admission refuses all of this; an object stored under a looser schema gets nothing spent.
    let problems = obj.spec.problems();
    if !problems.is_empty() {
        let issuing = Issuing::Blocked {
            reason: "InvalidSpec".into(),
            message: format!(
                "the spec is invalid, nothing is issued: {}",
                problems.join("; ")
            ),
        };
        return finish(&req, ctx, observed_without_keys(&req, issuing), 0).await;
    }
    let mut records = match req.records(ctx) {
        Ok(records) => records,
        Err(why) => {
            // Not the operator's: never trusted. The keys are found by their marker (or
            // planned anew) and the annotation is written over with sealed records.
            tracing::warn!(%why, "ignoring the key records annotation");
            publish(
                ctx,
                obj,
                EventType::Warning,
                "RecordsIgnored",
                &format!("{why}; it is ignored and rewritten from the keys in Megaport"),
            )
            .await;
            Vec::new()
        }
    };

    // Observe.
    let snapshots = tokio::try_join!(ctx.products.get(), ctx.keys.get());
    let (products, keys) = match snapshots {
        Ok(s) => s,
        // The failure report says so (Reconciling; Ready=False unless the keys are delivered).
        Err(err) => return Err(Error::megaport(Step::ReadMegaport, err)),
    };

    // Plan: the records; else the keys carrying this request's marker (the annotation was
    // lost or removed: its keys are not issued again); else decide now.
    let mut products = products;
    if records.is_empty() {
        records = issuance::records_from_keys(&req.uid, &keys.items);
        if !records.is_empty() {
            tracing::warn!(request = %req.name, namespace = %req.namespace, keys = records.len(), "rebuilt the key records from Megaport: the annotation was missing");
            req.save_records(ctx, &records).await?;
        }
    }
    if records.is_empty() {
        // Decisions are rare and VLANs must be current: no older product list than a poll.
        let max_age = ctx.settings.keys_refresh.min(ctx.settings.products_refresh);
        products = ctx
            .products
            .get_fresher_than(max_age)
            .await
            .map_err(|e| Error::megaport(Step::ReadMegaport, e))?;
        match plan(&req, ctx, &products.items, &keys.items).await? {
            Ok(planned) => records = planned,
            Err(issuing) => {
                let action = finish(&req, ctx, observed_without_keys(&req, issuing), 0).await?;
                return Ok(action);
            }
        }
    }

    // Issue (or adopt) every planned key. `found` pairs a record's index with its key.
    let now = jiff::Timestamp::now();
    let mut found: Vec<(usize, ServiceKey)> = Vec::new();
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut changed_records = false;
    // Checked once, before the first create: a key is never created for a request that cannot
    // receive it.
    let mut refusal: Option<Option<(String, String)>> = None;
    for i in 0..records.len() {
        match locate(&records[i], &req.uid, &keys.items, ctx) {
            Some(key) => {
                let fingerprint = delivery::fingerprint(&key.key);
                if records[i].fingerprint.as_ref() != Some(&fingerprint) {
                    // Found by its marker: issued before a crash or a lost answer.
                    tracing::info!(request = %req.name, namespace = %req.namespace, key = %fingerprint, "adopted a key issued earlier");
                    records[i].fingerprint = Some(fingerprint);
                    changed_records = true;
                }
                found.push((i, key));
            }
            None => {
                if refusal.is_none() {
                    refusal =
                        Some(check_before_issuing(&req, ctx, &products.items, &records).await?);
                }
                if let Some(Some(why)) = &refusal {
                    problems.push(why.clone());
                    continue;
                }
                match issue(&req, ctx, &mut records, i, now).await {
                    Ok(key) => found.push((i, key)),
                    Err(IssueError::Blocked(reason, message)) => {
                        problems.push((reason.to_owned(), message));
                    }
                    Err(IssueError::Other(err)) => return Err(err),
                }
            }
        }
    }

    // Converge: updates and drift. A refused update is reported, the other keys go on.
    let mut restored = Vec::new();
    for (i, key) in &mut found {
        let record = &mut records[*i];
        let desired = issuance::desired_key(
            &obj.spec,
            record,
            &req.uid,
            issuance::window_start(key),
            now,
            false,
        );
        let state = issuance::key_state(key, EpochMillis::from_timestamp(now));
        let action = issuance::key_action(&desired, key, record.applied.as_deref(), state);
        if action == KeyAction::Keep {
            if record.applied.is_none() {
                record.applied = Some(desired.digest());
                changed_records = true;
            }
            continue;
        }
        let fingerprint = delivery::fingerprint(&key.key);
        let updated = match ctx.api.update_service_key(&desired.update_for(key)).await {
            Ok(updated) => updated,
            Err(err) if is_rejection(&err) => {
                problems.push((
                    "UpdateRejected".to_owned(),
                    format!("Megaport refused the update of key {fingerprint}: {err}"),
                ));
                continue;
            }
            Err(err) => return Err(Error::megaport(Step::Update, err)),
        };
        if let KeyAction::Restore(changes) = &action {
            restored.push(format!("{fingerprint}: {}", changes.join(", ")));
            tracing::info!(request = %req.name, namespace = %req.namespace, key = %fingerprint, changes = %changes.join(", "), "restored a key changed outside the operator");
        } else {
            tracing::info!(request = %req.name, namespace = %req.namespace, key = %fingerprint, "updated a key to the spec");
        }
        ctx.keys.upsert(updated.clone());
        *key = updated;
        record.applied = Some(desired.digest());
        changed_records = true;
    }
    let found: Vec<ServiceKey> = found.into_iter().map(|(_, key)| key).collect();
    // Also when the annotation on the object differs (removed or edited by hand): it is the
    // operator's record and must survive a restart.
    let on_object = issuance::sealed_records(obj.annotations(), &req.uid, &ctx.seal).ok();
    if changed_records || on_object.as_ref() != Some(&records) {
        req.save_records(ctx, &records).await?;
    }
    if !restored.is_empty() {
        publish(
            ctx,
            obj,
            EventType::Warning,
            "DriftRestored",
            &format!(
                "keys changed outside the operator were restored: {}",
                restored.join("; ")
            ),
        )
        .await;
    }

    // A key used since the products were read: read them again (shared, single flight) so the
    // VXC it was used for can be named. Bounded: only while the products are older than keys.
    let products = if found
        .iter()
        .any(|k| issuance::used_since(k, products.fetched_at_wall))
        && products.fetched_at < keys.fetched_at
    {
        let age = products.fetched_at.elapsed();
        ctx.products
            .get_fresher_than(age.saturating_sub(Duration::from_millis(1)))
            .await
            .unwrap_or(products)
    } else {
        products
    };

    // Deliver.
    let on_ramps: Vec<Option<OnRampStatus>> = found
        .iter()
        .map(|k| on_ramp_of(&products.items, &k.product_uid))
        .collect();
    let secret = if found.is_empty() {
        match problems
            .iter()
            .find(|(reason, _)| reason == SECRET_CONFLICT)
        {
            Some((_, why)) => SecretState::Conflict(why.clone()),
            None => SecretState::NoKeys,
        }
    } else {
        let delivered: Vec<DeliveredKey> = found
            .iter()
            .zip(&on_ramps)
            .map(|(k, o)| delivered_key(k, o.as_ref()))
            .collect();
        ensure_secret(&req, ctx, &delivered).await?
    };

    // Status.
    let issuing = if let Some((reason, _)) = problems.first() {
        Issuing::Blocked {
            reason: reason.clone(),
            message: problems
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        }
    } else {
        if found.len() < records.len() {
            Issuing::Waiting {
                reason: "Issuing".into(),
                message: format!("{} of {} key(s) issued", found.len(), records.len()),
            }
        } else {
            Issuing::Done {
                note: (issuance::wants_two(&obj.spec) && records.len() == 1).then(|| {
                    "diversity Preferred, but only one zone had an on-ramp that fits: one key"
                        .to_owned()
                }),
            }
        }
    };
    let observed = Observed {
        issuing,
        keys: found
            .iter()
            .zip(&on_ramps)
            .map(|(k, o)| {
                issuance::issued_key(
                    k,
                    delivery::fingerprint(&k.key),
                    o.as_ref(),
                    &products.items,
                    EpochMillis::from_timestamp(now),
                )
            })
            .collect(),
        secret_name: req.secret_name(),
        secret,
        restored,
        suspended: obj.spec.suspend.unwrap_or(false),
        keys_read_at: keys.fetched_at_wall,
    };
    finish(&req, ctx, observed, records.len()).await
}

fn observed_without_keys(req: &Request<'_>, issuing: Issuing) -> Observed {
    Observed {
        issuing,
        keys: Vec::new(),
        secret_name: req.secret_name(),
        secret: SecretState::NoKeys,
        restored: Vec::new(),
        suspended: req.obj.spec.suspend.unwrap_or(false),
        keys_read_at: jiff::Timestamp::now(),
    }
}

/// The on-ramp's details for status and the Secret.
fn on_ramp_of(products: &[Product], uid: &str) -> Option<OnRampStatus> {
    products
        .iter()
        .find(|p| p.product_uid == uid)
        .map(|p| onramp::on_ramp_status(p, VlanRange::FULL))
}

/// The key among `keys` that `record` stands for: by fingerprint (as far as
/// [`issuance::may_take_by_fingerprint`] allows), else by marker on its on-ramp.
fn locate(
    record: &Record,
    request_uid: &str,
    keys: &[ServiceKey],
    ctx: &Context,
) -> Option<ServiceKey> {
    let marker = record.marker(request_uid);
    let elsewhere = |fp: &str| claimed_elsewhere(ctx, request_uid, fp);
    let by_fingerprint = record.fingerprint.as_ref().and_then(|fp| {
        keys.iter().find(|k| {
            k.product_uid == record.product_uid
                && &delivery::fingerprint(&k.key) == fp
                && issuance::may_take_by_fingerprint(k, request_uid, &elsewhere)
        })
    });
    by_fingerprint
        .or_else(|| {
            keys.iter().find(|k| {
                k.product_uid == record.product_uid
                    && k.description.as_deref().and_then(Marker::parse).as_ref() == Some(&marker)
            })
        })
        .cloned()
}

/// Whether a request other than `own_uid` records the key fingerprint `fp`. Asked only for a
/// key that lost its marker (rare), so the scan of every request costs nothing in the common
/// case.
fn claimed_elsewhere(ctx: &Context, own_uid: &str, fp: &str) -> bool {
    ctx.requests.state().iter().any(|other| {
        let Some(uid) = other.uid() else { return false };
        uid != own_uid
            && ctx
                .trusted_records(&uid, other.annotations())
                .unwrap_or_default()
                .iter()
                .any(|r| r.fingerprint.as_deref() == Some(fp))
    })
}

// === plan ===

/// Decides the request's on-ramps and VLANs and writes them to the annotation, or says why not.
async fn plan(
    req: &Request<'_>,
    ctx: &Context,
    products: &[Product],
    keys: &[ServiceKey],
) -> Result<Result<Vec<Record>, Issuing>, Error> {
    let spec = &req.obj.spec;
    let (on_ramps, vlan_range) = match allowed_on_ramps(req, ctx, products).await? {
        Ok(allowed) => allowed,
        Err(issuing) => return Ok(Err(issuing)),
    };
    let needs = Needs {
        speed_mbps: spec.max_speed_mbps,
        diversity: spec.diversity.unwrap_or_default(),
        single_use: spec.single_use.unwrap_or(true),
        vlan: spec.vlan,
        vlan_range,
    };

    let _decision = ctx.decisions.lock().await;
    let (mut claims, owners) = claims_of_others(ctx, &req.uid, &req.namespace);
    if spec.vlan.is_none() {
        claims.extend(explicit_wishes(ctx, &req.uid, &req.namespace, &on_ramps));
    }
    let candidates = issuance::candidates(
        &on_ramps,
        products,
        keys,
        &claims,
        &owners,
        EpochMillis::now(),
    );
    match selection::select(&candidates, &needs) {
        Outcome::Picked { picks, .. } => {
            let records: Vec<Record> = picks
                .into_iter()
                .map(|p| Record {
                    zone: Marker::new(&req.uid, p.zone.as_deref()).zone,
                    product_uid: p.product_uid,
                    vlan: p.vlan,
                    speed_mbps: p.speed_mbps,
                    fingerprint: None,
                    applied: None,
                })
                .collect();
            req.save_records(ctx, &records).await?;
            tracing::info!(request = %req.name, namespace = %req.namespace, keys = records.len(), "planned keys");
            Ok(Ok(records))
        }
        Outcome::Unavailable {
            reason,
            stalled,
            code,
        } => Ok(Err(if stalled {
            Issuing::Blocked {
                reason: code.into(),
                message: reason,
            }
        } else {
            Issuing::Waiting {
                reason: code.into(),
                message: reason,
            }
        })),
    }
}

/// The on-ramps the request may use (its region's, when the region serves its namespace, or
/// its one explicit on-ramp) and the VLAN range to pick from; or why there are none.
async fn allowed_on_ramps(
    req: &Request<'_>,
    ctx: &Context,
    products: &[Product],
) -> Result<Result<(Vec<OnRampStatus>, VlanRange), Issuing>, Error> {
    let spec = &req.obj.spec;
    Ok(Ok(match (&spec.region_ref, &spec.on_ramp) {
        (Some(region_ref), _) => {
            let regions: Api<DeserializeGuard<OnRampRegion>> = Api::all(ctx.client.clone());
            let Some(guard) = regions
                .get_opt(&region_ref.name)
                .await
                .map_err(|e| Error::kube(Step::ReadRegion, e))?
            else {
                return Ok(Err(Issuing::Waiting {
                    reason: "RegionNotFound".into(),
                    message: format!("OnRampRegion {} does not exist", region_ref.name),
                }));
            };
            let Ok(region) = guard.0 else {
                return Ok(Err(Issuing::Blocked {
                    reason: "InvalidRegion".into(),
                    message: format!(
                        "OnRampRegion {} cannot be read by the operator (see its status)",
                        region_ref.name
                    ),
                }));
            };
            if let Some(selector) = &region.spec.allowed_namespaces
                && let Some(refusal) =
                    namespace_refusal(ctx, &req.namespace, &region_ref.name, selector).await?
            {
                return Ok(Err(refusal));
            }
            let view = onramp::evaluate(&region.spec, products);
            (view.on_ramps, view.effective.vlan_range)
        }
        (None, Some(on_ramp)) => match on_ramp_of(products, &on_ramp.product_uid) {
            Some(status) if status.product_type.is_some() => (vec![status], VlanRange::FULL),
            _ => {
                return Ok(Err(Issuing::Blocked {
                    reason: "OnRampNotFound".into(),
                    message: format!(
                        "the provider has no Port, MCR or MVE with productUid {}",
                        on_ramp.product_uid
                    ),
                }));
            }
        },
        (None, None) => {
            return Ok(Err(Issuing::Blocked {
                reason: "InvalidSpec".into(),
                message: "set regionRef or onRamp".into(),
            }));
        }
    }))
}

/// Why the region refuses this namespace, if it does.
async fn namespace_refusal(
    ctx: &Context,
    namespace: &str,
    region: &str,
    selector: &crate::crd::onramp_region::NamespaceSelector,
) -> Result<Option<Issuing>, Error> {
    let selector = match Selector::try_from(selector.to_label_selector()) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Some(Issuing::Blocked {
                reason: "InvalidRegion".into(),
                message: format!("OnRampRegion {region} has an invalid allowedNamespaces: {e}"),
            }));
        }
    };
    let ns = Api::<Namespace>::all(ctx.client.clone())
        .get(namespace)
        .await
        .map_err(|e| Error::kube(Step::ReadNamespace, e))?;
    let labels = ns.metadata.labels.unwrap_or_default();
    Ok((!selector.matches(&labels)).then(|| Issuing::Blocked {
        reason: "NamespaceNotAllowed".into(),
        message: format!(
            "OnRampRegion {region} does not serve namespace {namespace} (its allowedNamespaces does not match the namespace's labels)"
        ),
    }))
}

/// VLAN and capacity claims of every other request, and request names by UID.
fn claims_of_others(
    ctx: &Context,
    own_uid: &str,
    own_namespace: &str,
) -> (Vec<Claim>, BTreeMap<String, String>) {
    let mut claims = Vec::new();
    let mut owners = BTreeMap::new();
    for other in ctx.requests.state() {
        let Some(uid) = other.uid() else { continue };
        let holder = holder_name(other.as_ref(), own_namespace);
        owners.insert(uid.clone(), holder.clone());
        if uid == own_uid {
            continue;
        }
        let records = ctx
            .trusted_records(&uid, other.annotations())
            .unwrap_or_default();
        claims.extend(records.into_iter().map(|r| Claim {
            issued: r.fingerprint.is_some(),
            product_uid: r.product_uid,
            vlan: r.vlan,
            speed_mbps: r.speed_mbps,
            holder: holder.clone(),
        }));
    }
    (claims, owners)
}

/// How a request holding something is named to another: by name in the same namespace; from
/// another namespace, without naming the tenant.
fn holder_name(other: &DeserializeGuard<ServiceKeyRequest>, own_namespace: &str) -> String {
    let namespace = other.namespace().unwrap_or_default();
    if namespace == own_namespace {
        format!("ServiceKeyRequest {namespace}/{}", other.name_any())
    } else {
        "a ServiceKeyRequest in another namespace".to_owned()
    }
}

/// VLANs other requests ask for explicitly and have not been given yet: an automatic pick on
/// the on-ramps they may land on leaves them alone, so applying several requests at once does
/// not depend on which is decided first.
fn explicit_wishes(
    ctx: &Context,
    own_uid: &str,
    own_namespace: &str,
    on_ramps: &[OnRampStatus],
) -> Vec<Claim> {
    let mut wishes = Vec::new();
    for guard in ctx.requests.state() {
        // An unreadable request asks for nothing (its records, metadata, still count as claims).
        let Ok(other) = &guard.0 else { continue };
        let (Some(uid), Some(vlan)) = (other.uid(), other.spec.vlan) else {
            continue;
        };
        let planned = ctx
            .trusted_records(&uid, other.annotations())
            .is_ok_and(|r| !r.is_empty());
        if uid == own_uid || planned || other.meta().deletion_timestamp.is_some() {
            continue;
        }
        let holder = format!("{} (asks for it)", holder_name(&guard, own_namespace));
        let targets = on_ramps.iter().filter(|o| {
            other
                .spec
                .on_ramp
                .as_ref()
                .is_none_or(|explicit| explicit.product_uid == o.product_uid)
        });
        wishes.extend(targets.map(|o| Claim {
            product_uid: o.product_uid.clone(),
            vlan: Some(vlan),
            speed_mbps: 0,
            issued: true,
            holder: holder.clone(),
        }));
    }
    wishes
}

// === issue ===

enum IssueError {
    /// A human must act (reason, message): Megaport refused the key, the on-ramp is gone, or a
    /// key issued earlier has disappeared (it is not issued again).
    Blocked(&'static str, String),
    /// Anything else: retried with backoff, searching before creating again.
    Other(Error),
}

/// Adopts the planned key `records[i]` if Megaport already has it (a crash after the create),
/// else creates it; records its fingerprint either way.
async fn issue(
    req: &Request<'_>,
    ctx: &Context,
    records: &mut [Record],
    i: usize,
    now: jiff::Timestamp,
) -> Result<ServiceKey, IssueError> {
    let record = records[i].clone();
    let lock = ctx.on_ramp_lock(&record.product_uid);
    let _on_ramp = lock.lock().await;
    // Search first: the snapshot may predate a key created before a crash or a lost answer.
    let existing = match ctx
        .api
        .list_service_keys_for_product(&record.product_uid)
        .await
    {
        Ok(keys) => keys,
        Err(err) if err.is_not_found() => {
            return Err(IssueError::Blocked(
                "OnRampNotFound",
                format!(
                    "on-ramp {} no longer exists in Megaport",
                    record.product_uid
                ),
            ));
        }
        Err(err) => return Err(IssueError::Other(Error::megaport(Step::Issue, err))),
    };
    let key = match locate(&record, &req.uid, &existing, ctx) {
        Some(key) => {
            tracing::info!(request = %req.name, namespace = %req.namespace, key = %delivery::fingerprint(&key.key), "adopted a key issued earlier");
            key
        }
        None if record.fingerprint.is_some() => {
            // Issued before and now gone: never replace a key a customer may hold.
            return Err(IssueError::Blocked(
                "KeyMissing",
                format!(
                    "key {} issued for this request is no longer listed on on-ramp {}; no other key is issued in its place (delete the request to start over)",
                    record.fingerprint.as_deref().unwrap_or_default(),
                    record.product_uid
                ),
            ));
        }
        None => {
            let desired = issuance::desired_key(&req.obj.spec, &record, &req.uid, None, now, false);
            let create = CreateServiceKey {
                product_uid: record.product_uid.clone(),
                single_use: desired.single_use,
                max_speed: desired.max_speed,
                active: desired.active,
                pre_approved: desired.pre_approved,
                description: Some(desired.description.clone()),
                vlan: desired.vlan,
                valid_for: (desired.valid_from.is_some() || desired.valid_until.is_some()).then(
                    || crate::megaport::models::ValidFor {
                        start: Some(EpochMillis(
                            desired.valid_from.unwrap_or(now.as_millisecond()),
                        )),
                        end: desired.valid_until.map(EpochMillis),
                    },
                ),
            };
            match ctx.api.create_service_key(&create).await {
                Ok(key) => {
                    tracing::info!(request = %req.name, namespace = %req.namespace, key = %delivery::fingerprint(&key.key), on_ramp = %record.product_uid, vlan = ?record.vlan, "issued a key");
                    key
                }
                Err(err) if is_rejection(&err) => {
                    return Err(IssueError::Blocked(
                        "KeyRejected",
                        format!("Megaport refused the key on {}: {err}", record.product_uid),
                    ));
                }
                Err(err) => return Err(IssueError::Other(Error::megaport(Step::Issue, err))),
            }
        }
    };
    ctx.keys.upsert(key.clone());
    records[i].fingerprint = Some(delivery::fingerprint(&key.key));
    req.save_records(ctx, records)
        .await
        .map_err(IssueError::Other)?;
    Ok(key)
}

/// A clear refusal (bad request, forbidden, conflict) rather than an outage.
fn is_rejection(err: &MegaportError) -> bool {
    matches!(err, MegaportError::Api { status, .. } if (400..500).contains(status) && *status != 401 && *status != 429)
}

/// The reason of a Secret of the request's name that is not the operator's.
const SECRET_CONFLICT: &str = "SecretConflict";

fn conflict_message(req: &Request<'_>) -> String {
    format!(
        "Secret {} exists and was not written by the operator for this request (it lacks {MANAGED_BY_LABEL}={MANAGER} and {REQUEST_UID_ANNOTATION}={}); it was left untouched and no key is issued: delete it or set spec.secret.name",
        req.secret_name(),
        req.uid
    )
}

/// Everything that can fail on this side, checked before a key is created, so that no key is
/// ever created for a request that cannot receive it: the records stay within what the spec
/// allows (the annotation can be edited by hand), the region still serves the namespace, and
/// the Secret is absent and writable (a server-side dry run: name, labels, admission, quota) or
/// already the operator's. Returns the refusal (reason, message), if any.
async fn check_before_issuing(
    req: &Request<'_>,
    ctx: &Context,
    products: &[Product],
    records: &[Record],
) -> Result<Option<(String, String)>, Error> {
    let on_ramps = match allowed_on_ramps(req, ctx, products).await? {
        Ok((on_ramps, _)) => on_ramps,
        Err(Issuing::Waiting { reason, message } | Issuing::Blocked { reason, message }) => {
            return Ok(Some((reason, message)));
        }
        Err(Issuing::Done { .. }) => Vec::new(),
    };
    if let Some(outside) = records
        .iter()
        .filter(|r| r.fingerprint.is_none())
        .find(|r| !on_ramps.iter().any(|o| o.product_uid == r.product_uid))
    {
        return Ok(Some((
            "RecordOutsideSpec".to_owned(),
            format!(
                "annotation {KEYS_ANNOTATION} plans a key on {}, which this request may not use; nothing is issued (remove the annotation to plan again)",
                outside.product_uid
            ),
        )));
    }
    let name = req.secret_name();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &req.namespace);
    match api
        .get_opt(&name)
        .await
        .map_err(|e| Error::kube(Step::ReadSecret, e))?
    {
        Some(current) if !is_ours(&current, &req.uid) => {
            return Ok(Some((SECRET_CONFLICT.to_owned(), conflict_message(req))));
        }
        Some(_) => return Ok(None),
        None => {}
    }
    let placeholder = desired_secret(req, &[])
        .map_err(|e| Error::kube(Step::CheckSecret, kube::Error::SerdeError(e)))?;
    let params = kube::api::PostParams {
        dry_run: true,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    match api.create(&params, &placeholder).await {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            Ok(Some((SECRET_CONFLICT.to_owned(), conflict_message(req))))
        }
        Err(kube::Error::Api(status))
            if (400..500).contains(&status.code) && status.code != 429 =>
        {
            Ok(Some((
                "SecretRefused".to_owned(),
                format!(
                    "the Secret {name} cannot be written, so no key is issued: {}",
                    status.message
                ),
            )))
        }
        Err(err) => Err(Error::kube(Step::CheckSecret, err)),
    }
}

// === deliver ===

fn delivered_key(key: &ServiceKey, on_ramp: Option<&OnRampStatus>) -> DeliveredKey {
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

/// Whether `secret` was written by the operator for the request `uid`.
fn is_ours(secret: &Secret, uid: &str) -> bool {
    secret.labels().get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGER)
        && secret
            .annotations()
            .get(REQUEST_UID_ANNOTATION)
            .map(String::as_str)
            == Some(uid)
}

/// The Secret the request should have.
fn desired_secret(req: &Request<'_>, keys: &[DeliveredKey]) -> Result<Secret, serde_json::Error> {
    let spec = req.obj.spec.secret.clone().unwrap_or_default();
    let template = spec.template.unwrap_or_default();
    let mut labels = template.labels.unwrap_or_default();
    labels.insert(MANAGED_BY_LABEL.into(), MANAGER.into());
    labels.insert(REQUEST_LABEL.into(), req.name.clone());
    let mut annotations = template.annotations.unwrap_or_default();
    annotations.insert(REQUEST_UID_ANNOTATION.into(), req.uid.clone());
    let owner = (spec.policy.unwrap_or_default() == SecretPolicy::Owner).then(|| OwnerReference {
        api_version: ServiceKeyRequest::api_version(&()).into_owned(),
        kind: ServiceKeyRequest::kind(&()).into_owned(),
        name: req.name.clone(),
        uid: req.uid.clone(),
        controller: Some(true),
        block_owner_deletion: None,
    });
    let data = delivery::secret_data(keys)?
        .into_iter()
        .map(|(k, v)| (k, ByteString(v.into_bytes())))
        .collect();
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(req.secret_name()),
            namespace: Some(req.namespace.clone()),
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

/// Whether `current` already carries everything in `desired`.
fn secret_matches(current: &Secret, desired: &Secret) -> bool {
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

/// Writes the Secret unless a Secret of that name exists that the operator did not write for
/// this request; repairs edits of its own Secret.
async fn ensure_secret(
    req: &Request<'_>,
    ctx: &Context,
    keys: &[DeliveredKey],
) -> Result<SecretState, Error> {
    let name = req.secret_name();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &req.namespace);
    let current = api
        .get_opt(&name)
        .await
        .map_err(|e| Error::kube(Step::ReadSecret, e))?;
    if let Some(current) = &current
        && !is_ours(current, &req.uid)
    {
        return Ok(SecretState::Conflict(conflict_message(req)));
    }
    let mut desired = desired_secret(req, keys)
        .map_err(|e| Error::kube(Step::WriteSecret, kube::Error::SerdeError(e)))?;
    match &current {
        Some(current) if secret_matches(current, &desired) => return Ok(SecretState::Synced),
        // Absent: create, which fails (and is retried, finding the conflict) if someone made
        // a Secret of that name since the read.
        None => {
            let params = kube::api::PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            };
            api.create(&params, &desired)
                .await
                .map_err(|e| Error::kube(Step::WriteSecret, e))?;
        }
        // Ours: apply on the version just read, so a replacement since is not overwritten.
        Some(current) => {
            desired.metadata.resource_version = current.metadata.resource_version.clone();
            api.patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&desired),
            )
            .await
            .map_err(|e| Error::kube(Step::WriteSecret, e))?;
        }
    }
    tracing::info!(request = %req.name, namespace = %req.namespace, secret = %name, repaired = current.is_some(), "wrote the keys' Secret");
    Ok(SecretState::Synced)
}

// === status ===

/// Computes and writes the status; returns when to look again.
async fn finish(
    req: &Request<'_>,
    ctx: &Context,
    observed: Observed,
    planned: usize,
) -> Result<Action, Error> {
    let previous = req.obj.status.as_ref();
    let status = issuance::desired_status(
        previous,
        req.obj.meta().generation,
        &observed,
        jiff::Timestamp::now(),
    );
    if previous.is_none_or(|p| issuance::status_changed(p, &status)) {
        // A merge patch leaves out what serialises as nothing: clear those fields explicitly.
        let mut body = serde_json::to_value(&status)
            .map_err(|e| Error::kube(Step::PatchStatus, kube::Error::SerdeError(e)))?;
        if let Some(fields) = body.as_object_mut() {
            for field in [
                "phase",
                "keyCount",
                "zones",
                "secretName",
                "observedGeneration",
            ] {
                fields.entry(field).or_insert(serde_json::Value::Null);
            }
        }
        req.api
            .patch_status(
                &req.name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": body })),
            )
            .await
            .map_err(|e| Error::kube(Step::PatchStatus, e))?;
    }
    announce(ctx, req.obj, previous, &status).await;
    tracing::debug!(request = %req.name, namespace = %req.namespace, phase = ?status.phase, keys = status.keys.len(), planned, "reconciled ServiceKeyRequest");
    Ok(Action::requeue(match observed.issuing {
        Issuing::Done { .. } => ctx.keys.refresh_period(),
        Issuing::Waiting { ref reason, .. } if reason == "Issuing" => ISSUING_RETRY,
        Issuing::Waiting { .. } => WAITING_RETRY.min(ctx.keys.refresh_period()),
        Issuing::Blocked { .. } => ctx.keys.refresh_period(),
    }))
}

/// One event when Ready changes status or reason (not on every reconcile).
async fn announce(
    ctx: &Context,
    obj: &ServiceKeyRequest,
    previous: Option<&ServiceKeyRequestStatus>,
    status: &ServiceKeyRequestStatus,
) {
    let Some(ready) = conditions::find(&status.conditions, types::READY) else {
        return;
    };
    let before = previous.and_then(|p| conditions::find(&p.conditions, types::READY));
    if before.is_some_and(|b| b.status == ready.status && b.reason == ready.reason) {
        return;
    }
    let kind = if ready.status == "True" {
        EventType::Normal
    } else {
        EventType::Warning
    };
    publish(ctx, obj, kind, &ready.reason, &ready.message).await;
}

async fn publish(
    ctx: &Context,
    obj: &ServiceKeyRequest,
    kind: EventType,
    reason: &str,
    note: &str,
) {
    let event = Event {
        type_: kind,
        reason: reason.to_owned(),
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(request = %obj.name_any(), error = %err, "could not publish event");
    }
}

/// Leaves a failed step in status: `Reconciling=True` with the step's reason and the error, and
/// `Ready=False` unless the request is Ready and the failure leaves its Secret alone. Written when
/// a reason or status changes (a write brings the request back at once, so a message that
/// differs per attempt must not cause one). Best effort: if the status cannot be written
/// either, the log line of the retry policy is all there is.
async fn report_failure(req: &Request<'_>, err: &Error) {
    let step = err.step();
    let message: String = format!("{err}; retrying").chars().take(600).collect();
    let previous = req.obj.status.clone().unwrap_or_default();
    let ready = conditions::is_true(&previous.conditions, types::READY);
    let secret_step = matches!(
        step,
        Step::ReadSecret | Step::CheckSecret | Step::WriteSecret
    );
    let mut desired = vec![
        conditions::Desired::yes(types::RECONCILING, step.reason(), message.clone()),
        conditions::Desired::no(types::STALLED, step.reason(), ""),
    ];
    if !ready || secret_step {
        desired.push(conditions::Desired::no(
            types::READY,
            step.reason(),
            message,
        ));
    }
    let generation = req.obj.meta().generation;
    let merged = conditions::merge(
        &previous.conditions,
        &desired,
        generation,
        &Time(jiff::Timestamp::now()),
    );
    if req.obj.status.is_some() && same_reasons(&previous.conditions, &merged) {
        return;
    }
    let body = json!({"status": {
        "conditions": merged,
        "observedGeneration": generation,
        "phase": previous.phase.unwrap_or_default(),
    }});
    if let Err(e) = req
        .api
        .patch_status(&req.name, &PatchParams::default(), &Patch::Merge(&body))
        .await
    {
        tracing::warn!(error = %e, "could not record the failure in status");
    }
}

/// Whether two condition lists have the same types, statuses and reasons.
fn same_reasons(a: &[Condition], b: &[Condition]) -> bool {
    let key = |c: &Condition| (c.type_.clone(), c.status.clone(), c.reason.clone());
    let mut a: Vec<_> = a.iter().map(key).collect();
    let mut b: Vec<_> = b.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}

// === cleanup ===

/// Deletion: deactivate (or retain) the keys, then let the finalizer go.
async fn cleanup(obj: &ServiceKeyRequest, ctx: &Context) -> Result<Action, Error> {
    let req = Request::new(obj, ctx);
    if obj
        .annotations()
        .get(ABANDON_ANNOTATION)
        .map(String::as_str)
        == Some("true")
    {
        publish(
            ctx,
            obj,
            EventType::Warning,
            "Abandoned",
            "deleted with the abandon annotation: its keys were left as they are in Megaport",
        )
        .await;
        ctx.forget(&req.uid);
        return Ok(Action::await_change());
    }
    if obj.spec.deletion_policy.unwrap_or_default() == DeletionPolicy::Retain {
        ctx.forget(&req.uid);
        return Ok(Action::await_change());
    }
    // The request's keys: those carrying its marker, and those its records name (a marker may
    // have been edited away in the Portal). One fresh list of every key; no per-on-ramp call,
    // so an on-ramp that no longer exists does not hold deletion up.
    let records = req.records(ctx).unwrap_or_else(|why| {
        tracing::warn!(request = %req.name, namespace = %req.namespace, %why, "deleting with unreadable records: finding its keys by their marker");
        Vec::new()
    });
    let now = jiff::Timestamp::now();
    let mut deactivated = 0;
    let result = async {
        let keys = ctx.keys.get_fresher_than(Duration::ZERO).await?;
        let elsewhere = |fp: &str| claimed_elsewhere(ctx, &req.uid, fp);
        for key in issuance::keys_of_request(&req.uid, &records, &keys.items, &elsewhere) {
            let state = issuance::key_state(key, EpochMillis::from_timestamp(now));
            if !key.active
                || (key.single_use && state == crate::crd::service_key_request::KeyState::Used)
            {
                continue;
            }
            let mut update = UpdateServiceKey::from_key(key);
            update.active = false;
            let updated = ctx
                .api
                .update_service_key(&update)
                .await
                .map_err(Arc::new)?;
            ctx.keys.upsert(updated);
            deactivated += 1;
        }
        Ok::<_, Arc<MegaportError>>(())
    }
    .await;
    if let Err(err) = result {
        publish(
            ctx,
            obj,
            EventType::Warning,
            "DeactivationFailed",
            &format!(
                "cannot deactivate the keys, deletion waits: {err}. If the Megaport credentials are gone for good, annotate the request {ABANDON_ANNOTATION}=true to delete it and leave its keys as they are"
            ),
        )
        .await;
        return Err(Error::megaport(Step::Deactivate, err));
    }
    tracing::info!(request = %req.name, namespace = %req.namespace, deactivated, "deactivated keys of a deleted request");
    ctx.forget(&req.uid);
    Ok(Action::await_change())
}
