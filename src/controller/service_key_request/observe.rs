//! Observe (IO only): what one reconcile of a request decides from — its trusted records, the
//! shared Megaport snapshots, and, only when keys are to be planned or created, what the request
//! may use (its region serving its namespace, or its on-ramp), what other requests hold, and the
//! Secret.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::core::{DeserializeGuard, Selector, SelectorExt};
use kube::{Api, ResourceExt};

use super::{claims, secret};
use crate::controller::cache::Snapshot;
use crate::controller::{Context, Error, Step};
use crate::crd::onramp_region::{NamespaceSelector, OnRampStatus, VlanRange};
use crate::crd::{OnRampRegion, ServiceKeyRequest};
use crate::issuance::{
    self, Blocker, Planning, Record, Scope, SecretSeen, Target, ValidatedRequest,
};
use crate::megaport::models::{Product, ServiceKey};
use crate::onramp;

/// The first look: records and snapshots.
pub struct Base {
    /// The records, when trusted; else empty.
    pub records: Vec<Record>,
    /// Why the annotation was not trusted, when it was not.
    pub ignored: Option<String>,
    /// The sealed records on the object itself (to tell whether they must be written back).
    pub on_object: Option<Vec<Record>>,
    /// The provider's products.
    pub products: Arc<Snapshot<Vec<Product>>>,
    /// The service keys that may be the request's (by its marker or its recorded
    /// fingerprints), read from the shared snapshot, not all of it (planning reads the keys
    /// on the scope's on-ramps in place).
    pub keys: Snapshot<Vec<ServiceKey>>,
}

/// Everything a decision is made from.
pub struct Seen {
    /// The first look.
    pub base: Base,
    /// What the request may use (read when keys are to be planned or created).
    pub scope: Option<Result<Scope, Blocker>>,
    /// What planning needs (read under the decision lock when there is nothing to go on).
    pub planning: Option<Planning>,
    /// The Secret (read when keys are to be created).
    pub secret: SecretSeen,
}

/// Records and snapshots.
pub async fn base(
    req: &ValidatedRequest,
    obj: &ServiceKeyRequest,
    ctx: &Context,
) -> Result<Base, Error> {
    let (records, ignored) = match ctx.trusted_records(&req.uid, obj.annotations()) {
        Ok(records) => (records, None),
        Err(why) => (Vec::new(), Some(why)),
    };
    let on_object = issuance::sealed_records(obj.annotations(), &req.uid, &ctx.seal).ok();
    let (products, keys) = tokio::try_join!(ctx.products.get(), ctx.keys.get())
        .map_err(|e| Error::megaport(Step::ReadMegaport, e))?;
    let fingerprints = records.iter().filter_map(|r| r.fingerprint.as_deref());
    let keys = Snapshot {
        items: keys.items.of_request(&req.uid, fingerprints),
        fetched_at: keys.fetched_at,
        fetched_at_wall: keys.fetched_at_wall,
    };
    Ok(Base {
        records,
        ignored,
        on_object,
        products,
        keys,
    })
}

/// The rest, as far as `create` (keys may be created) and `plan` (nothing recorded) need it.
pub async fn rest(
    req: &ValidatedRequest,
    ctx: &Context,
    mut base: Base,
    create: bool,
    plan: bool,
) -> Result<Seen, Error> {
    if plan {
        // Decisions are rare and VLANs must be current: no older product list than a poll.
        let max_age = ctx.settings.keys_refresh.min(ctx.settings.products_refresh);
        base.products = ctx
            .products
            .get_fresher_than(max_age)
            .await
            .map_err(|e| Error::megaport(Step::ReadMegaport, e))?;
    }
    let scope = if create {
        Some(scope(req, ctx, &base.products.items).await?)
    } else {
        None
    };

    let secret = match &scope {
        Some(Ok(_)) => secret::check(ctx, req).await?,
        _ => SecretSeen::NotRead,
    };
    Ok(Seen {
        base,
        scope,
        planning: None,
        secret,
    })
}

/// What other requests hold, for planning on the scope (no IO: the claim ledger). Read under
/// the decision lock, so that two plans never see the same free VLAN.
pub fn planning(req: &ValidatedRequest, ctx: &Context, seen: &mut Seen) {
    if let Some(Ok(scope)) = &seen.scope {
        seen.planning = Some(claims::planning(
            ctx,
            &req.uid,
            &req.namespace,
            req.vlan,
            &scope.on_ramps,
            &seen.base.products.items,
        ));
    }
}

/// The on-ramp's details for status and the Secret.
pub fn on_ramp_of(products: &[Product], uid: &str) -> Option<OnRampStatus> {
    products
        .iter()
        .find(|p| p.product_uid == uid)
        .map(|p| onramp::on_ramp_status(p, VlanRange::FULL))
}

/// What the request may use: its region's on-ramps when the region serves its namespace, or
/// its one explicit on-ramp; or why none.
async fn scope(
    req: &ValidatedRequest,
    ctx: &Context,
    products: &[Product],
) -> Result<Result<Scope, Blocker>, Error> {
    let region_name = match &req.target {
        Target::OnRamp(uid) => {
            return Ok(match on_ramp_of(products, uid) {
                Some(status) if status.product_type.is_some() => Ok(Scope {
                    on_ramps: vec![status],
                    vlan_range: VlanRange::FULL,
                }),
                _ => Err(Blocker::OnRampNotFound {
                    product_uid: uid.clone(),
                }),
            });
        }
        Target::Region(name) => name,
    };
    let regions: Api<DeserializeGuard<OnRampRegion>> = Api::all(ctx.client.clone());
    let Some(guard) = regions
        .get_opt(region_name)
        .await
        .map_err(|e| Error::kube(Step::ReadRegion, e))?
    else {
        return Ok(Err(Blocker::RegionNotFound {
            region: region_name.clone(),
        }));
    };
    let Ok(region) = guard.0 else {
        return Ok(Err(Blocker::InvalidRegion {
            region: region_name.clone(),
            why: "cannot be read by the operator (see its status)".into(),
        }));
    };
    if let Some(selector) = &region.spec.allowed_namespaces
        && let Some(refusal) = namespace_refusal(ctx, &req.namespace, region_name, selector).await?
    {
        return Ok(Err(refusal));
    }
    let view = onramp::evaluate(&region.spec, products);
    Ok(Ok(Scope {
        on_ramps: view.on_ramps,
        vlan_range: view.effective.vlan_range,
    }))
}

/// Why the region refuses this namespace, if it does.
async fn namespace_refusal(
    ctx: &Context,
    namespace: &str,
    region: &str,
    selector: &NamespaceSelector,
) -> Result<Option<Blocker>, Error> {
    let selector = match Selector::try_from(selector.to_label_selector()) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Some(Blocker::InvalidRegion {
                region: region.to_owned(),
                why: format!("has an invalid allowedNamespaces: {e}"),
            }));
        }
    };
    let ns = Api::<Namespace>::all(ctx.client.clone())
        .get(namespace)
        .await
        .map_err(|e| Error::kube(Step::ReadNamespace, e))?;
    let labels = ns.metadata.labels.unwrap_or_default();
    Ok(
        (!selector.matches(&labels)).then(|| Blocker::NamespaceNotAllowed {
            region: region.to_owned(),
            namespace: namespace.to_owned(),
        }),
    )
}
