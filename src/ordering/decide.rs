//! The decisions of a SavedConfiguration reconcile (pure, no IO): whether the design is due to
//! be checked and priced again, what the order does next, how a search after an unknown outcome
//! settles the pending records, how a buy's answer maps onto the services, and where the
//! bought services are.

use std::collections::BTreeMap;
use std::time::Duration;

use super::design::Design;
use super::records::Ledger;
use crate::crd::saved_configuration::{
    OrderRefusal, OrderedService, SavedConfigurationSpec, SavedConfigurationStatus,
};
use crate::megaport::models::{BoughtItem, Product};

/// How long a pending buy that no search finds is given to show up in Megaport's lists before
/// it is taken as never made (and bought again): longer than a buy may take to answer (the
/// client's 60 s timeout), a leader hand-over (the old leader's buy may still be in flight)
/// and Megaport's lists catching up, with room to spare. Several searches run in it.
pub const SETTLE: Duration = Duration::from_secs(300);

/// Why the design is checked and priced again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Never checked.
    First,
    /// The spec changed since.
    SpecChanged,
    /// A service key read from a Secret changed since.
    KeyChanged,
    /// The last check is older than the interval.
    Stale,
}

/// Whether to check and price again, and why: on a new generation, when a key read from a
/// Secret is not the one checked (`fingerprints`: VXC → fingerprint of the key read now), and
/// once the last check is `interval` old. Never more often: validation is one Megaport call
/// (plus markets and key lookups), and reconciles are many.
pub fn validation_due(
    previous: Option<&SavedConfigurationStatus>,
    generation: Option<i64>,
    fingerprints: &BTreeMap<String, String>,
    now: jiff::Timestamp,
    interval: Duration,
) -> Option<Due> {
    let Some((checked, at)) =
        previous.and_then(|p| Some((p.validated_generation, p.validated_at.as_ref()?)))
    else {
        return Some(Due::First);
    };
    if checked != generation {
        return Some(Due::SpecChanged);
    }
    let seen: BTreeMap<&str, &str> = previous
        .map(|p| p.service_keys.iter())
        .into_iter()
        .flatten()
        .map(|k| (k.service.as_str(), k.fingerprint.as_str()))
        .collect();
    let now_read: BTreeMap<&str, &str> = fingerprints
        .iter()
        .map(|(s, f)| (s.as_str(), f.as_str()))
        .collect();
    if seen != now_read {
        return Some(Due::KeyChanged);
    }
    let age = now.duration_since(at.0);
    (age >= jiff::SignedDuration::try_from(interval).unwrap_or(jiff::SignedDuration::MAX))
        .then_some(Due::Stale)
}

/// Whether an order Megaport refused (`refusal`) may be sent again: for a new generation, or
/// once `interval` has passed since.
pub fn may_resend(
    refusal: Option<&OrderRefusal>,
    generation: Option<i64>,
    now: jiff::Timestamp,
    interval: Duration,
) -> bool {
    refusal.is_none_or(|r| {
        let age = Duration::try_from(now.duration_since(r.at.0)).unwrap_or(Duration::ZERO);
        r.generation != generation || age >= interval
    })
}

/// What the order does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Not ordered: saved and priced only.
    Saved,
    /// Ordered, but the design has problems: nothing is bought until they are gone.
    Held,
    /// A buy's outcome is unknown for these services: search their tags before buying again.
    Search(Vec<String>),
    /// Buy the design's items now.
    Buy,
    /// These VXCs wait for something only a person can supply (a key Secret).
    Waiting(Vec<String>),
    /// Everything is bought: follow it to LIVE.
    Follow,
}

/// The next step of the order, from the records and the design of what is left.
pub fn step(ordered: bool, has_problems: bool, ledger: &Ledger, design: &Design) -> Step {
    if !ordered {
        return Step::Saved;
    }
    if !ledger.pending.is_empty() {
        return Step::Search(ledger.pending.keys().cloned().collect());
    }
    if has_problems && ledger.bought.is_empty() {
        return Step::Held;
    }
    if !design.items.is_empty() {
        return Step::Buy;
    }
    if !design.waiting.is_empty() {
        return Step::Waiting(design.waiting.clone());
    }
    Step::Follow
}

/// The ledger after a search found `found` (service → product UID) at `now_ms`: found services
/// are bought; pending ones found nowhere are dropped (to be bought again) once [`SETTLE`] has
/// passed, and kept until then — those Megaport confirmed buying are never dropped. Also when
/// to search again (within a minute).
pub fn settle(
    ledger: &Ledger,
    found: &BTreeMap<String, String>,
    now_ms: i64,
) -> (Ledger, Option<Duration>) {
    let settle_ms = i64::try_from(SETTLE.as_millis()).unwrap_or(i64::MAX);
    let mut next = Ledger {
        bought: ledger.bought.clone(),
        ..Ledger::default()
    };
    let mut wait: Option<i64> = None;
    for (service, since) in &ledger.pending {
        let confirmed = ledger.confirmed.contains(service);
        if let Some(uid) = found.get(service) {
            next.bought.insert(service.clone(), uid.clone());
        } else if confirmed || now_ms.saturating_sub(*since) < settle_ms {
            next.pending.insert(service.clone(), *since);
            if confirmed {
                next.confirmed.insert(service.clone());
            }
            // Searched again within a minute (a confirmed buy past the settle time: each minute).
            let left = settle_ms - now_ms.saturating_sub(*since);
            let left = if left <= 0 {
                60_000
            } else {
                left.clamp(1_000, 60_000)
            };
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
    }
    let wait = wait
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis);
    (next, wait)
}

/// The product UID of each service a buy of `services` created, from its answer: in order
/// (a LAG Port answers once per member: the first, its primary, names it) when the names the
/// answer gives agree, else by name. `None` when the answer does not line up with what was
/// sent: the tags are searched instead.
pub fn bought_from_answer(
    spec: &SavedConfigurationSpec,
    services: &[String],
    answer: &[BoughtItem],
) -> Option<BTreeMap<String, String>> {
    let members = |name: &str| {
        spec.services
            .ports
            .iter()
            .find(|p| p.common.name == name)
            .and_then(|p| p.lag_port_count)
            .map_or(1, usize::from)
    };
    let expected: usize = services.iter().map(|s| members(s)).sum();
    if expected != answer.len() {
        return None;
    }
    let product_names: BTreeMap<String, String> =
        super::design::product_names(spec).into_iter().collect();
    let named = |item: &BoughtItem, service: &str| {
        item.service_name.is_none() || item.service_name.as_ref() == product_names.get(service)
    };
    let mut bought = BTreeMap::new();
    let mut entries = answer.iter();
    let mut in_order = true;
    for service in services {
        let first = entries.next()?;
        in_order &= named(first, service);
        bought.insert(service.clone(), first.product_uid()?.to_owned());
        for _ in 1..members(service) {
            entries.next()?;
        }
    }
    if in_order {
        return Some(bought);
    }
    // Out of order: by name, each exactly once (not for LAGs, whose members share a name).
    if expected != services.len() {
        return None;
    }
    services
        .iter()
        .map(|service| {
            let wanted = product_names.get(service)?;
            let mut matches = answer
                .iter()
                .filter(|a| a.service_name.as_ref() == Some(wanted));
            match (matches.next(), matches.next()) {
                (Some(item), None) => Some((service.clone(), item.product_uid()?.to_owned())),
                _ => None,
            }
        })
        .collect()
}

/// Where each bought service is, from a products list (VXCs are nested under their A end).
pub fn where_bought(ledger: &Ledger, products: &[Product]) -> Vec<OrderedService> {
    ledger
        .bought
        .iter()
        .map(|(name, uid)| {
            let (status, approval) = state_of(products, uid).unwrap_or_default();
            OrderedService {
                name: name.clone(),
                product_uid: Some(uid.clone()),
                provisioning_status: status,
                approval,
            }
        })
        .collect()
}

/// The provisioning status (and a pending approval) of product `uid` in `products`, a Port,
/// MCR or MVE, or a VXC nested under one; `None` when it is not listed.
pub fn state_of(products: &[Product], uid: &str) -> Option<(Option<String>, Option<String>)> {
    if let Some(p) = products.iter().find(|p| p.product_uid == uid) {
        return Some((Some(p.provisioning_status.0.clone()), None));
    }
    let vxc = products
        .iter()
        .flat_map(|p| p.associated_vxcs.iter())
        .find(|v| v.product_uid == uid)?;
    let approval = vxc
        .vxc_approval
        .as_ref()
        .and_then(|a| a.status.clone())
        .filter(|s| s.to_ascii_uppercase().starts_with("PENDING"));
    Some((Some(vxc.provisioning_status.0.clone()), approval))
}

/// Whether every service of `spec` is bought and LIVE.
pub fn all_live(spec: &SavedConfigurationSpec, services: &[OrderedService]) -> bool {
    let wanted = spec.services.ports.len()
        + spec.services.mcrs.len()
        + spec.services.mves.len()
        + spec.services.vxcs.len();
    services.len() == wanted
        && services
            .iter()
            .all(|s| s.provisioning_status.as_deref() == Some("LIVE"))
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
