//! The one decision of a ServiceKeyRequest reconcile (pure): from what was observed — the
//! request, its trusted records, Megaport's keys (and products when planning), what the request
//! may use, the Secret — the records to keep, per record what to do about its key, and what
//! stands in the way. No clock, no client: `now` is passed in.

use super::blocker::Blocker;
use super::lifecycle::{KeyAction, KeyStep, locate, on_apply, on_delete};
use super::records::{Record, keys_of_request, records_from_keys};
use super::request::ValidatedRequest;
use crate::crd::onramp_region::{OnRampStatus, VlanRange};
use crate::crd::service_key_request::DeletionPolicy;
use crate::delivery::Marker;
use crate::megaport::models::ServiceKey;
use crate::selection::{self, Candidate, Needs, Outcome};

/// What the request may use: its region's on-ramps (the region serving its namespace) or its
/// one explicit on-ramp, and the VLANs to pick from.
#[derive(Clone, Debug, PartialEq)]
pub struct Scope {
    /// The on-ramps, ranked.
    pub on_ramps: Vec<OnRampStatus>,
    /// Where automatic VLANs come from.
    pub vlan_range: VlanRange,
}

/// The Secret, as far as it matters before a key is created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSeen {
    /// Not read (no key is to be created).
    NotRead,
    /// Absent; `refusal` is the apiserver's answer to a dry-run create, when it refused.
    Absent {
        /// Why it cannot be written.
        refusal: Option<String>,
    },
    /// The operator's own, for this request.
    Ours,
    /// Someone else's.
    Foreign,
}

/// What planning needs: fresh products and what other requests hold.
#[derive(Clone, Debug, Default)]
pub struct Planning {
    /// The scope's on-ramps as the selection sees them ([`super::candidates`]: from products no older
    /// than one poll, the keys on them, and other requests' claims), ranked.
    pub candidates: Vec<Candidate>,
}

/// Everything a decision is made from.
pub struct Observed<'a> {
    /// The request.
    pub request: &'a ValidatedRequest,
    /// Its records, when trusted (the operator's own); empty when lost or not the operator's.
    pub records: &'a [Record],
    /// Every key of the company (the shared snapshot).
    pub keys: &'a [ServiceKey],
    /// Whether another request records a fingerprint (see `may_take_by_fingerprint`).
    pub claimed_elsewhere: &'a dyn Fn(&str) -> bool,
    /// What the request may use, read when keys are to be planned or created.
    pub scope: Option<Result<Scope, Blocker>>,
    /// What planning needs, read when there is nothing to go on.
    pub planning: Option<Planning>,
    /// The Secret, read when keys are to be created.
    pub secret: SecretSeen,
    /// Least time between two updates of one key, ms.
    pub update_spacing_ms: i64,
    /// On-ramps that were decommissioned (their keys can no longer be used).
    pub gone_on_ramps: &'a [String],
}

/// What one reconcile does.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The records after this decision (planned, rebuilt from markers, or as they were).
    pub records: Vec<Record>,
    /// The records are new (planned or rebuilt): saved before anything else is done.
    pub save_first: bool,
    /// Per record, what to do about its key.
    pub steps: Vec<KeyStep>,
    /// What stands in the way.
    pub blockers: Vec<Blocker>,
    /// Why one key where two were asked for (Preferred diversity with one zone).
    pub note: Option<String>,
}

/// What the observer must read for [`decide`]: (scope and the Secret, planning data).
pub fn reads(request: &ValidatedRequest, records: &[Record], keys: &[ServiceKey]) -> (bool, bool) {
    let rebuilt = records.is_empty() && !records_from_keys(&request.uid, keys).is_empty();
    let plan = records.is_empty() && !rebuilt;
    let create = plan
        || records.iter().any(|r| {
            r.fingerprint.is_none() && locate(r, &request.uid, keys, &|_| false).is_none()
        });
    (create, plan)
}

/// Decides a reconcile of a request that is not being deleted.
pub fn decide(o: &Observed<'_>, now: jiff::Timestamp) -> Decision {
    let request = o.request;
    let mut decision = Decision {
        records: o.records.to_vec(),
        save_first: false,
        steps: Vec::new(),
        blockers: Vec::new(),
        note: None,
    };
    if decision.records.is_empty() {
        // Lost or not the operator's: the keys carrying this request's marker are its own.
        decision.records = records_from_keys(&request.uid, o.keys);
        decision.save_first = !decision.records.is_empty();
    }
    if decision.records.is_empty() {
        match plan(o) {
            Ok(records) => {
                decision.records = records;
                decision.save_first = true;
            }
            Err(blocker) => {
                decision.blockers.push(blocker);
                return decision;
            }
        }
    }
    let refusal = refusal(o, &decision.records);
    let mut first_attempts = Vec::new();
    for (i, record) in decision.records.iter().enumerate() {
        let found = locate(record, &request.uid, o.keys, o.claimed_elsewhere);
        let step = on_apply(request, i, record, found, now);
        match (&step.action, &refusal) {
            (KeyAction::Create { .. }, Some(why)) => {
                if !decision.blockers.contains(why) {
                    decision.blockers.push(why.clone());
                }
            }
            (KeyAction::Create { search: false, .. }, None) => {
                first_attempts.push(i);
                decision.steps.push(step);
            }
            _ => {
                let (step, held) = match gone(step, record, o.gone_on_ramps) {
                    (step, Some(gone)) => (step, Some(gone)),
                    (step, None) => pace(step, record, o.update_spacing_ms, now),
                };
                decision.blockers.extend(held);
                decision.steps.push(step);
            }
        }
    }
    // A first create is recorded as attempted before it is sent (with the plan, when there is
    // one): if its answer is lost, the next reconcile knows to search before creating again.
    for i in first_attempts {
        decision.records[i].attempted = Some(now.as_millisecond());
        decision.save_first = true;
    }
    decision.note = preferred_note(request, &decision.records);
    decision
}

/// Decides the deletion of request `uid` (its spec may be unreadable: only its deletion policy
/// matters): per key of the request (by marker, or by a trusted record's fingerprint),
/// deactivate or leave it. A key on a decommissioned on-ramp (`gone_on_ramps`) is left: it can
/// no longer be used, and Megaport refuses to change it.
pub fn decide_deletion(
    uid: &str,
    policy: DeletionPolicy,
    records: &[Record],
    keys: &[ServiceKey],
    claimed_elsewhere: &dyn Fn(&str) -> bool,
    gone_on_ramps: &[String],
    now: jiff::Timestamp,
) -> Vec<KeyAction> {
    keys_of_request(uid, records, keys, claimed_elsewhere)
        .into_iter()
        .map(|key| {
            if gone_on_ramps.contains(&key.product_uid) {
                KeyAction::Leave(key.clone())
            } else {
                on_delete(policy, key, now)
            }
        })
        .collect()
}

/// A key whose on-ramp is gone is kept as it is (no update can help it) and reported.
fn gone(step: KeyStep, record: &Record, gone_on_ramps: &[String]) -> (KeyStep, Option<Blocker>) {
    if !gone_on_ramps.contains(&record.product_uid) {
        return (step, None);
    }
    let key = match &step.action {
        KeyAction::Keep(key) | KeyAction::Update { key, .. } | KeyAction::Restore { key, .. } => {
            key.clone()
        }
        _ => return (step, None),
    };
    let blocker = Blocker::OnRampGone {
        fingerprint: crate::delivery::fingerprint(&key.key),
        on_ramp: record.product_uid.clone(),
    };
    let kept = KeyStep {
        action: KeyAction::Keep(key),
        digest: record.applied.clone().unwrap_or_default(),
        ..step
    };
    (kept, Some(blocker))
}

/// Holds back an update or restore that comes too soon after the key's last update: the key is
/// kept as it is for now, and a [`Blocker::UpdatePaced`] says when it is sent (spec changes made
/// in between are coalesced into that one update).
fn pace(
    step: KeyStep,
    record: &Record,
    spacing_ms: i64,
    now: jiff::Timestamp,
) -> (KeyStep, Option<Blocker>) {
    let (key, restore) = match &step.action {
        KeyAction::Update { key, .. } => (key, Vec::new()),
        KeyAction::Restore { key, changes, .. } => (key, changes.clone()),
        _ => return (step, None),
    };
    let Some(at) = record.next_update_at(now, spacing_ms) else {
        return (step, None);
    };
    let blocker = Blocker::UpdatePaced {
        fingerprint: crate::delivery::fingerprint(&key.key),
        at,
        restore,
    };
    let kept = KeyStep {
        action: KeyAction::Keep(key.clone()),
        digest: record.applied.clone().unwrap_or_default(),
        ..step
    };
    (kept, Some(blocker))
}

/// The on-ramps and VLANs for a request with nothing recorded.
fn plan(o: &Observed<'_>) -> Result<Vec<Record>, Blocker> {
    let scope = match &o.scope {
        Some(Ok(scope)) => scope,
        Some(Err(blocker)) => return Err(blocker.clone()),
        None => return Err(Blocker::InvalidSpec(vec!["nothing to plan from".into()])),
    };
    let planning = o.planning.clone().unwrap_or_default();
    let request = o.request;
    let needs = Needs {
        speed_mbps: request.max_speed_mbps,
        diversity: request.diversity,
        single_use: request.single_use,
        vlan: request.vlan,
        vlan_range: scope.vlan_range,
    };
    match selection::select(&planning.candidates, &needs) {
        Outcome::Picked(picks) => Ok(picks
            .into_iter()
            .map(|p| Record {
                zone: Marker::new(&request.uid, p.zone.as_deref()).zone,
                product_uid: p.product_uid,
                vlan: p.vlan,
                speed_mbps: p.speed_mbps,
                fingerprint: None,
                applied: None,
                attempted: None,
                updates: Vec::new(),
            })
            .collect()),
        Outcome::Unavailable(why) => Err(Blocker::Unavailable(why)),
    }
}

/// Why no key may be created now, if so: checked before anything is spent. The records must lie
/// within what the request may use, and the Secret must be the operator's or absent and
/// writable.
fn refusal(o: &Observed<'_>, records: &[Record]) -> Option<Blocker> {
    match &o.scope {
        Some(Err(blocker)) => return Some(blocker.clone()),
        Some(Ok(scope)) => {
            if let Some(outside) = records
                .iter()
                .filter(|r| r.fingerprint.is_none())
                .find(|r| {
                    !scope
                        .on_ramps
                        .iter()
                        .any(|s| s.product_uid == r.product_uid)
                })
            {
                return Some(Blocker::RecordOutsideSpec {
                    product_uid: outside.product_uid.clone(),
                });
            }
        }
        None => {}
    }
    let secret = o.request.secret.name.clone();
    match &o.secret {
        SecretSeen::Foreign => Some(Blocker::SecretConflict {
            secret,
            uid: o.request.uid.clone(),
        }),
        SecretSeen::Absent { refusal: Some(why) } => Some(Blocker::SecretRefused {
            secret,
            why: why.clone(),
        }),
        // Fail closed: a create is never sent for a Secret nobody looked at.
        SecretSeen::NotRead => Some(Blocker::SecretRefused {
            secret,
            why: "it was not checked before this create; retrying".into(),
        }),
        SecretSeen::Absent { refusal: None } | SecretSeen::Ours => None,
    }
}

/// The note on a Preferred request served with one key: the one place it is worded.
pub fn preferred_note(request: &ValidatedRequest, records: &[Record]) -> Option<String> {
    match records {
        [only] if request.wants_two() => Some(format!(
            "diversity Preferred, but only {} has an on-ramp that fits: issued one key",
            match only.zone() {
                Some(zone) => format!("zone {zone}"),
                None => "an on-ramp without a diversity zone".to_owned(),
            }
        )),
        _ => None,
    }
}
