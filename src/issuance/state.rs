//! The state of one key (Active, Used, Expired, Deactivated), the VXC it was used for, and its
//! entry in status (never the key itself: a fingerprint).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::onramp_region::OnRampStatus;
use crate::crd::service_key_request::{IssuedKey, KeyState};
use crate::megaport::models::{EpochMillis, Product, ServiceKey};
use crate::onramp;

/// The state of a key at `now`.
pub fn key_state(key: &ServiceKey, now: EpochMillis) -> KeyState {
    let ended = key
        .valid_for
        .as_ref()
        .and_then(|v| v.end)
        .is_some_and(|end| end.0 <= now.0);
    let expired = key.expired.unwrap_or(false) || ended;
    if key.single_use && key.last_used.is_some() {
        KeyState::Used
    } else if expired {
        KeyState::Expired
    } else if !key.active {
        KeyState::Deactivated
    } else if key.last_used.is_some() {
        KeyState::Used
    } else {
        KeyState::Active
    }
}

/// The VXC a used key was ordered into, when the provider's products show it: on the key's
/// product, on the key's VLAN for a single-use key (else created closest to `lastUsed`),
/// created no earlier than the key. Returns (VXC uid, the ordering company's name).
pub fn used_by(key: &ServiceKey, products: &[Product]) -> Option<(String, Option<String>)> {
    let last_used = key.last_used?;
    let product = products.iter().find(|p| p.product_uid == key.product_uid)?;
    let created = key.create_date.map_or(i64::MIN, |c| c.0);
    onramp::live_vxcs(product)
        .filter(|v| v.create_date.is_none_or(|c| c.0 >= created))
        .filter(|v| match key.vlan {
            Some(vlan) => v
                .end_on(&product.product_uid)
                .and_then(|end| end.vlan)
                .is_some_and(|x| x == i64::from(vlan)),
            None => true,
        })
        .min_by_key(|v| {
            v.create_date
                .map_or(i64::MAX, |c| (c.0 - last_used.0).abs())
        })
        .map(|v| (v.product_uid.clone(), v.company_name.clone()))
}

fn ms_time(ms: Option<EpochMillis>) -> Option<Time> {
    ms.and_then(EpochMillis::to_timestamp).map(Time)
}

/// The status entry of one key.
pub fn issued_key(
    key: &ServiceKey,
    fingerprint: String,
    on_ramp: Option<&OnRampStatus>,
    products: &[Product],
    now: EpochMillis,
) -> IssuedKey {
    let gone = products
        .iter()
        .find(|p| p.product_uid == key.product_uid)
        .is_some_and(|p| p.provisioning_status.is_decommissioned());
    let state = if gone {
        KeyState::Gone
    } else {
        key_state(key, now)
    };
    let (used_by_vxc, used_by_company) = match state {
        KeyState::Used => used_by(key, products).map_or((None, None), |(v, c)| (Some(v), c)),
        _ => (None, None),
    };
    IssuedKey {
        fingerprint,
        product_uid: key.product_uid.clone(),
        on_ramp: on_ramp
            .map(|o| o.name.clone())
            .or_else(|| key.product_name.clone()),
        location: on_ramp.and_then(|o| o.location.clone()),
        metro: on_ramp.and_then(|o| o.metro.clone()),
        diversity_zone: on_ramp.and_then(|o| o.diversity_zone.clone()),
        vlan: key.vlan,
        max_speed_mbps: key.max_speed,
        single_use: key.single_use,
        state,
        issued_at: ms_time(key.create_date),
        last_used_at: ms_time(key.last_used),
        expires_at: ms_time(key.valid_for.as_ref().and_then(|v| v.end)),
        used_by_vxc,
        used_by_company,
        updates_last_30_days: None,
    }
}
