//! What is taken on each on-ramp when a request's keys are planned: VLANs held by live VXCs,
//! unused single-use keys and other requests' records, and capacity reserved by keys not used
//! yet — the selection's view ([`crate::selection::Candidate`]).

use std::collections::BTreeMap;

use super::state::key_state;
use crate::crd::onramp_region::OnRampStatus;
use crate::crd::service_key_request::KeyState;
use crate::delivery::Marker;
use crate::megaport::models::{EpochMillis, Product, ServiceKey};
use crate::onramp;

/// A VLAN and capacity claimed by another request's records (planned or issued).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The on-ramp.
    pub product_uid: String,
    /// The VLAN claimed.
    pub vlan: Option<u16>,
    /// The speed planned.
    pub speed_mbps: u32,
    /// Whether its key exists (then the key itself counts, not the claim).
    pub issued: bool,
    /// Who holds it, for messages (`ServiceKeyRequest ns/name`).
    pub holder: String,
}

/// The selection's view of `on_ramps` (ranked): limits and capacity from the products, VLANs
/// taken by live VXCs, unused single-use keys and other requests' claims, and capacity
/// reserved by unused keys and unissued claims. `owners` maps request UIDs to names, so a
/// key's holder is named by its request when its marker says which.
pub fn candidates(
    on_ramps: &[OnRampStatus],
    products: &[Product],
    keys: &[ServiceKey],
    claims: &[Claim],
    owners: &BTreeMap<String, String>,
    now: EpochMillis,
) -> Vec<crate::selection::Candidate> {
    on_ramps
        .iter()
        .map(|status| {
            let uid = status.product_uid.as_str();
            let product = products.iter().find(|p| p.product_uid == uid);
            let limit = product.and_then(Product::max_connection_speed).unwrap_or(0);
            let capacity = product.and_then(|p| p.port_speed).unwrap_or(limit);
            let mut taken = BTreeMap::new();
            let mut reserved = 0u64;
            if let Some(product) = product {
                for vxc in onramp::live_vxcs(product) {
                    if let Some(vlan) = vxc
                        .end_on(uid)
                        .and_then(|end| end.vlan)
                        .and_then(|v| u16::try_from(v).ok())
                    {
                        taken.insert(
                            vlan,
                            format!("VXC {} ({})", vxc.product_name, vxc.product_uid),
                        );
                    }
                }
            }
            for key in keys.iter().filter(|k| k.product_uid == uid) {
                if key_state(key, now) != KeyState::Active {
                    continue;
                }
                reserved += u64::from(key.max_speed.unwrap_or(0));
                if let (true, Some(vlan)) = (key.single_use, key.vlan) {
                    let holder = key
                        .description
                        .as_deref()
                        .and_then(Marker::parse)
                        .and_then(|m| owners.get(&m.request_uid).cloned())
                        // Not a fingerprint: a tenant must not learn other keys' fingerprints.
                        .unwrap_or_else(|| "an unused single-use key".to_owned());
                    taken.entry(vlan).or_insert(holder);
                }
            }
            for claim in claims.iter().filter(|c| c.product_uid == uid) {
                if !claim.issued {
                    reserved += u64::from(claim.speed_mbps);
                }
                if let Some(vlan) = claim.vlan {
                    taken.entry(vlan).or_insert_with(|| claim.holder.clone());
                }
            }
            crate::selection::Candidate {
                status: status.clone(),
                limit_mbps: limit,
                capacity_mbps: capacity,
                reserved_mbps: reserved,
                taken_vlans: taken,
            }
        })
        .collect()
}
