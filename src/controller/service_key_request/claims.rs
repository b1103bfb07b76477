//! What other requests hold, from the claim ledger ([`crate::controller::ledger`]) and the
//! shared keys snapshot: the scope's on-ramps as a plan sees them, and whether another request
//! records a key fingerprint.

use crate::controller::Context;
use crate::crd::onramp_region::OnRampStatus;
use crate::issuance::claims::key_holder;
use crate::issuance::{Planning, candidates};
use crate::megaport::models::Product;

/// What planning request `uid` (in `namespace`, naming `vlan` or not) on `on_ramps` needs to
/// know about the others, with `products` read fresh: per on-ramp, what the keys there and
/// other requests' records hold (both kept summed by their stores, so this costs the same
/// with ten requests or ten thousand). An automatic VLAN also avoids the VLANs other requests
/// ask for explicitly and have not been given yet, so applying several requests at once does
/// not depend on which is decided first.
pub fn planning(
    ctx: &Context,
    uid: &str,
    namespace: &str,
    vlan: Option<u16>,
    on_ramps: &[OnRampStatus],
    products: &[Product],
) -> Planning {
    let with_wishes = vlan.is_none();
    let mut usage = ctx.ledger.usage(uid, on_ramps, with_wishes);
    let snapshot = ctx.keys.last();
    if let Some(snapshot) = &snapshot {
        for (on_ramp, used) in &mut usage {
            if let Some(keys) = snapshot.items.usage(on_ramp) {
                used.absorb(&keys);
            }
        }
    }
    let name_of = |other: &str| ctx.ledger.name_of(other, namespace);
    let holder_of = |on_ramp: &str, vlan: u16| {
        let key = snapshot
            .as_ref()
            .and_then(|s| s.items.vlan_holder(on_ramp, vlan));
        match key {
            Some(key) => Some(key_holder(&key, &name_of)),
            None => ctx
                .ledger
                .vlan_holder(uid, namespace, on_ramp, vlan, with_wishes),
        }
    };
    Planning {
        candidates: candidates(on_ramps, products, &usage, &holder_of, vlan),
    }
}

/// Whether a request other than `own_uid` records the key fingerprint `fp`.
pub fn claimed_elsewhere(ctx: &Context, own_uid: &str, fp: &str) -> bool {
    ctx.ledger.claimed_elsewhere(own_uid, fp)
}
