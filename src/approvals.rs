//! Connection approvals, the provider's side (pure, no IO): which VXCs waiting for the
//! provider's answer were ordered with which of the operator's keys, and what a request's
//! policy (or a person's decision) answers for each.
//!
//! Megaport lists a VXC ordered with a key that is not pre-approved under the key's product,
//! DEPLOYABLE with `vxcApproval` pending (type NEW), and does not say which key ordered it. A
//! VXC is attributed to a key that was used within [`ATTRIBUTION_WINDOW_MS`] of the VXC's
//! creation (a VXC no key ordered — a Marketplace request — is nobody's): a single-use key with
//! a fixed VLAN and the VXC on that VLAN of its product; otherwise the one such key of the
//! product — two, and the VXC is nobody's. Only the first is certain: policies (automatic
//! rules, deadlines) decide only connections of single-use keys with a fixed VLAN; others wait
//! for a person, who names the VXC.

use crate::crd::connections::{AutoApprove, ConnectionPolicy, DecidedBy};
use crate::crd::service_key_request::duration_seconds;
use crate::delivery::fingerprint;
use crate::megaport::models::{Product, ServiceKey, Vxc};

/// How close a key's last use must be to a VXC's creation to attribute the VXC to it.
pub const ATTRIBUTION_WINDOW_MS: i64 = 2 * 60 * 1000;

/// A VXC waiting for the provider's answer, and the key it was ordered with.
#[derive(Clone, Copy, Debug)]
pub struct Waiting<'a> {
    /// The VXC.
    pub vxc: &'a Vxc,
    /// The key's product (the provider's on-ramp).
    pub product: &'a Product,
    /// The key.
    pub key: &'a ServiceKey,
}

impl Waiting<'_> {
    /// The VLAN on the provider's side.
    pub fn vlan(&self) -> Option<i64> {
        self.vxc.end_on(&self.product.product_uid)?.vlan
    }
}

/// Whether `vxc` is a new connection waiting for the provider's answer (not a speed change of
/// a live one).
pub fn is_pending(vxc: &Vxc) -> bool {
    let Some(approval) = vxc.vxc_approval.as_ref() else {
        return false;
    };
    let pending = approval
        .status
        .as_deref()
        .is_some_and(|s| s.to_ascii_uppercase().starts_with("PENDING"));
    let new = approval
        .kind
        .as_deref()
        .is_none_or(|k| k.eq_ignore_ascii_case("NEW"));
    pending && new && !vxc.provisioning_status.is_inactive()
}

/// Whether the operator's policies may decide `w`: its key is single-use with a fixed VLAN,
/// the one case where which key ordered the VXC is certain.
pub fn decided_by_policy(w: &Waiting<'_>) -> bool {
    w.key.single_use && w.key.vlan.is_some()
}

/// The key of `keys` (every key of the operator) that ordered `vxc` on `product`, when that is
/// certain enough to act on (see the module docs).
pub fn key_of<'a>(vxc: &Vxc, product: &Product, keys: &'a [ServiceKey]) -> Option<&'a ServiceKey> {
    let created = vxc.create_date?.0;
    // Keys of the product used when the VXC was made (a key's lastUsed is its latest use).
    let used = || {
        keys.iter()
            .filter(|k| k.product_uid == product.product_uid)
            .filter(|k| k.create_date.is_none_or(|c| c.0 <= created))
            .filter(|k| {
                k.last_used
                    .is_some_and(|used| (used.0 - created).abs() <= ATTRIBUTION_WINDOW_MS)
            })
    };
    let vlan = vxc.end_on(&product.product_uid).and_then(|e| e.vlan);
    let fixed: Vec<&ServiceKey> = used()
        .filter(|k| k.single_use && k.vlan.is_some_and(|v| Some(i64::from(v)) == vlan))
        .collect();
    if let [key] = fixed.as_slice() {
        return Some(key);
    }
    let near: Vec<&ServiceKey> = used()
        .filter(|k| !(k.single_use && k.vlan.is_some()))
        .collect();
    match near.as_slice() {
        [key] => Some(key),
        _ => None,
    }
}

/// The VXCs waiting on the keys whose fingerprints are `mine` (one request's), from the
/// products list and every key of the operator (`all`, which decides attribution).
pub fn waiting<'a>(
    mine: &[String],
    products: &'a [Product],
    all: &'a [ServiceKey],
) -> Vec<Waiting<'a>> {
    let mut out = Vec::new();
    for product in products {
        for vxc in product.associated_vxcs.iter().filter(|v| is_pending(v)) {
            // The provider's side is the B end (a VXC between two of its own products is
            // listed under both).
            let b_end = vxc.b_end.as_ref().and_then(|b| b.product_uid.as_deref());
            if b_end != Some(product.product_uid.as_str()) {
                continue;
            }
            if let Some(key) = key_of(vxc, product, all)
                && mine.contains(&fingerprint(&key.key))
            {
                out.push(Waiting { vxc, product, key });
            }
        }
    }
    out
}

/// A person's decision on a connection (a ConnectionApproval).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manual {
    /// Approve (true) or reject.
    pub approve: bool,
    /// Who decided.
    pub by: String,
    /// Why, if given.
    pub reason: Option<String>,
}

/// What to answer for a waiting connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send `isApproved: approve`.
    Decide {
        /// Approve or reject.
        approve: bool,
        /// Who or what decided.
        by: DecidedBy,
        /// The person, or the rule.
        decider: String,
        /// Why.
        reason: String,
    },
    /// Leave it waiting (why: which rule did not hold, or none is set).
    Wait(String),
}

/// What the rules of `auto` say of `w`: `Ok` when every one holds, else the first that does not.
fn rules(auto: &AutoApprove, w: &Waiting<'_>) -> Result<(), String> {
    let company = w
        .vxc
        .company_name
        .as_deref()
        .unwrap_or("an unknown company");
    // By company UID: a name is whatever the customer calls itself.
    if !auto.companies.is_empty()
        && !auto
            .companies
            .iter()
            .any(|c| Some(c.as_str()) == w.vxc.company_uid.as_deref())
    {
        return Err(format!(
            "{company} ({}) is not in autoApprove.companies",
            w.vxc.company_uid.as_deref().unwrap_or("no company UID")
        ));
    }
    if auto.rate_within_key != Some(false) {
        match (w.vxc.rate_limit, w.key.max_speed) {
            (Some(rate), Some(max)) if rate > max => {
                return Err(format!("its rate {rate} Mbps exceeds the key's {max} Mbps"));
            }
            (Some(_), Some(_)) => {}
            _ => return Err("its rate or the key's speed is not known".into()),
        }
    }
    Ok(())
}

/// The answer for `w` under `policy` at `now_ms`: a person's decision first, then the
/// automatic rules, then the deadline; otherwise it waits.
pub fn verdict(
    policy: Option<&ConnectionPolicy>,
    w: &Waiting<'_>,
    manual: Option<&Manual>,
    now_ms: i64,
) -> Verdict {
    if let Some(m) = manual {
        return Verdict::Decide {
            approve: m.approve,
            by: DecidedBy::Person,
            decider: m.by.clone(),
            reason: m.reason.clone().unwrap_or_else(|| "decided by hand".into()),
        };
    }
    if !decided_by_policy(w) {
        return Verdict::Wait(
            "waiting for a person: a multi-use key's connection is decided by a ConnectionApproval"
                .into(),
        );
    }
    let auto = policy.and_then(|p| p.auto_approve.as_ref());
    let why_waiting = match auto.map(|a| rules(a, w)) {
        Some(Ok(())) => {
            return Verdict::Decide {
                approve: true,
                by: DecidedBy::Policy,
                decider: "autoApprove".into(),
                reason: "meets every autoApprove rule".into(),
            };
        }
        Some(Err(why)) => format!("waiting for a person: {why}"),
        None => "waiting for a person (no autoApprove rules)".to_owned(),
    };
    let deadline = policy
        .and_then(|p| p.reject_after.as_deref())
        .and_then(duration_seconds)
        .map(|s| s.saturating_mul(1000));
    let requested = w.vxc.create_date.map(|c| c.0);
    if let (Some(limit), Some(at)) = (deadline, requested)
        && now_ms.saturating_sub(at) >= limit
    {
        let after = policy
            .and_then(|p| p.reject_after.clone())
            .unwrap_or_default();
        return Verdict::Decide {
            approve: false,
            by: DecidedBy::Deadline,
            decider: format!("rejectAfter {after}"),
            reason: format!("not decided within {after}"),
        };
    }
    Verdict::Wait(why_waiting)
}

/// The annotation recording the decisions the operator sent (JSON, sealed).
pub const DECISIONS_ANNOTATION: &str = "megaport.onramp.dev/connection-decisions";
/// Its seal.
pub const DECISIONS_SEAL_ANNOTATION: &str = "megaport.onramp.dev/connection-decisions-seal";
/// How many decisions a request keeps (the newest; older VXCs are long decided).
pub const KEPT_DECISIONS: usize = 50;

/// What became of a decision sent to Megaport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// Recorded, the answer not known (about to be sent, or its answer was lost).
    #[default]
    Unknown,
    /// Megaport took it.
    Sent,
    /// Megaport refused it (decided elsewhere, or the credentials may not): never resent.
    Refused,
}

/// A decision the operator sent (or is about to send) for a connection: recorded before the
/// `isApproved` call, so that it is sent once, with what status shows of the connection.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    /// The VXC.
    pub vxc_uid: String,
    /// Approve or reject.
    pub approve: bool,
    /// Who or what decided.
    pub by: DecidedBy,
    /// The person, or the rule.
    pub decider: String,
    /// Why.
    pub reason: String,
    /// When it was (last) sent, epoch ms.
    pub at: i64,
    /// What became of it.
    #[serde(default)]
    pub outcome: Outcome,
    /// The fingerprint of the key the VXC was ordered with.
    #[serde(default)]
    pub key: String,
    /// The requesting company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Its rate, Mbps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_mbps: Option<u32>,
    /// The VLAN on the provider's side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i64>,
}

/// The annotations recording `records` on request `uid` under `seal`.
pub fn decision_annotations(
    uid: &str,
    records: &[DecisionRecord],
    seal: &crate::issuance::RecordSeal,
) -> [(String, String); 2] {
    let text = serde_json::to_string(records).unwrap_or_else(|_| "[]".into());
    let sealed = seal.seal_text(uid, &text);
    [
        (DECISIONS_ANNOTATION.to_owned(), text),
        (DECISIONS_SEAL_ANNOTATION.to_owned(), sealed),
    ]
}

/// The decisions recorded on request `uid`, when sealed by `seal` (anything else, e.g. after
/// the credentials the seal derives from were rotated: none; a connection Megaport still lists
/// as waiting is then decided afresh — one it took an answer for is no longer listed).
pub fn recorded_decisions(
    annotations: &std::collections::BTreeMap<String, String>,
    uid: &str,
    seal: &crate::issuance::RecordSeal,
) -> Vec<DecisionRecord> {
    let Some(text) = annotations.get(DECISIONS_ANNOTATION) else {
        return Vec::new();
    };
    let sealed = annotations
        .get(DECISIONS_SEAL_ANNOTATION)
        .is_some_and(|s| seal.verifies_text(uid, text, s));
    if !sealed {
        return Vec::new();
    }
    serde_json::from_str(text).unwrap_or_default()
}

/// What to do about a waiting connection, given what was recorded for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Send {
    /// Nothing was recorded: decide and send now.
    First,
    /// The recorded decision's answer was lost a minute ago or more: send *it* again if a fresh
    /// products list still shows the VXC waiting (the first call never took effect).
    Unconfirmed,
    /// Sent, refused, or its answer lost moments ago: nothing to send.
    Done,
}

/// Whether (and how) to send the decision for `vxc_uid` at `now_ms`.
pub fn send_state(records: &[DecisionRecord], vxc_uid: &str, now_ms: i64) -> Send {
    match records.iter().find(|r| r.vxc_uid == vxc_uid) {
        None => Send::First,
        Some(r) if r.outcome == Outcome::Unknown && now_ms.saturating_sub(r.at) >= 60_000 => {
            Send::Unconfirmed
        }
        Some(_) => Send::Done,
    }
}

/// Every VXC waiting on one of `keys`, wherever it is listed (the `keys` command).
pub fn waiting_all<'a>(products: &'a [Product], keys: &'a [ServiceKey]) -> Vec<Waiting<'a>> {
    let all: Vec<String> = keys.iter().map(|k| fingerprint(&k.key)).collect();
    waiting(&all, products, keys)
}

/// When something about `w` is due (at most a minute ahead of it): the resend check of a
/// recorded answer that was lost, or the deadline of the policy. `None`: nothing is.
pub fn next_due(
    policy: Option<&ConnectionPolicy>,
    w: &Waiting<'_>,
    records: &[DecisionRecord],
    now_ms: i64,
) -> Option<std::time::Duration> {
    let left = |at: i64| u64::try_from(at.saturating_sub(now_ms).max(1_000)).ok();
    let due = match records.iter().find(|r| r.vxc_uid == w.vxc.product_uid) {
        Some(r) if r.outcome == Outcome::Unknown => left(r.at + 60_000),
        Some(_) => None,
        None if decided_by_policy(w) => {
            let limit = policy
                .and_then(|p| p.reject_after.as_deref())
                .and_then(duration_seconds)?
                .saturating_mul(1000);
            left(w.vxc.create_date?.0.saturating_add(limit))
        }
        None => None,
    };
    due.map(std::time::Duration::from_millis)
}

#[cfg(test)]
#[path = "approvals_tests.rs"]
mod tests;
