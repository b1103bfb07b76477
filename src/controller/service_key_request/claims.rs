//! What other requests hold, read from the ServiceKeyRequest store (trusted records only: the
//! operator's own, or sealed by it): their VLAN and capacity claims, the explicit VLANs they ask
//! for and have not been given yet, how to name a holder, and whether another request records a
//! key fingerprint.

use std::collections::BTreeMap;

use kube::core::DeserializeGuard;
use kube::{Resource, ResourceExt};

use crate::controller::Context;
use crate::crd::ServiceKeyRequest;
use crate::crd::onramp_region::OnRampStatus;
use crate::issuance::{Claim, Planning};
use crate::megaport::models::Product;

/// What planning a request needs to know about the others, with `products` read fresh.
pub fn planning(
    ctx: &Context,
    uid: &str,
    namespace: &str,
    explicit_vlan: bool,
    on_ramps: &[OnRampStatus],
    products: Vec<Product>,
) -> Planning {
    let (mut claims, owners) = claims_of_others(ctx, uid, namespace);
    if !explicit_vlan {
        claims.extend(explicit_wishes(ctx, uid, namespace, on_ramps));
    }
    Planning {
        products,
        claims,
        owners,
    }
}

/// Whether a request other than `own_uid` records the key fingerprint `fp`. Asked only for a
/// key that lost its marker (rare), so the scan of every request costs nothing in the common
/// case.
pub fn claimed_elsewhere(ctx: &Context, own_uid: &str, fp: &str) -> bool {
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
