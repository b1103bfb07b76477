//! What other requests hold, from the claim ledger ([`crate::controller::ledger`]): what a plan
//! must avoid, and whether another request records a key fingerprint.

use crate::controller::Context;
use crate::crd::onramp_region::OnRampStatus;
use crate::issuance::Planning;
use crate::megaport::models::Product;

/// What planning request `uid` (in `namespace`) on `on_ramps` needs to know about the others,
/// with `products` read fresh. An automatic VLAN also avoids the VLANs other requests ask for
/// explicitly and have not been given yet, so applying several requests at once does not depend
/// on which is decided first.
pub fn planning(
    ctx: &Context,
    uid: &str,
    namespace: &str,
    explicit_vlan: bool,
    on_ramps: &[OnRampStatus],
    products: Vec<Product>,
) -> Planning {
    let (claims, owners) = ctx.ledger.claims(uid, namespace, on_ramps, !explicit_vlan);
    Planning {
        products,
        claims,
        owners,
    }
}

/// Whether a request other than `own_uid` records the key fingerprint `fp`.
pub fn claimed_elsewhere(ctx: &Context, own_uid: &str, fp: &str) -> bool {
    ctx.ledger.claimed_elsewhere(own_uid, fp)
}
