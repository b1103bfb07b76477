//! The request's phase and conditions from what one reconcile found (pure): `Ready` always,
//! `KeysIssued`, `SecretSynced`, `Drifted`, and `Reconciling`/`Stalled` only while True.

use crate::crd::connections::{Connection, ConnectionState};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::blocker::Blocker;
use crate::crd::conditions::{self, ConditionType, Desired, Reason};
use crate::crd::service_key_request::{IssuedKey, KeyState, Phase, ServiceKeyRequestStatus};

/// Where issuing stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Every planned key exists. `note` explains fewer keys than asked (Preferred diversity).
    Done {
        /// Why one key instead of two.
        note: Option<String>,
    },
    /// Keys are being created: `issued` of `planned` exist.
    Issuing {
        /// Keys that exist.
        issued: usize,
        /// Keys planned.
        planned: usize,
    },
    /// Something stands in the way (the first; `also` are the others).
    Blocked(Blocker, Vec<Blocker>),
}

impl Progress {
    /// Blocked by `blockers` (the first leads), or done/issuing when there are none.
    pub fn from_blockers(mut blockers: Vec<Blocker>, otherwise: Progress) -> Self {
        if blockers.is_empty() {
            otherwise
        } else {
            let first = blockers.remove(0);
            Self::Blocked(first, blockers)
        }
    }

    /// Whether a human must act (a blocker that does not heal by itself).
    pub fn stalled(&self) -> bool {
        matches!(self, Self::Blocked(b, _) if !b.heals_by_itself())
    }

    /// The reason and message of a blocked progress (every blocker's message, joined).
    fn blocked(&self) -> Option<(Reason, String)> {
        let Self::Blocked(first, also) = self else {
            return None;
        };
        let mut messages = vec![first.to_string()];
        messages.extend(also.iter().map(ToString::to_string));
        Some((first.reason(), messages.join("; ")))
    }
}

/// Where the Secret stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretState {
    /// Nothing to write yet.
    NoKeys,
    /// It holds every issued key.
    Synced,
    /// A Secret of that name exists and is not the operator's: untouched.
    Conflict(String),
}

/// Everything the status is computed from.
#[derive(Clone, Debug)]
pub struct StatusInputs {
    /// Issuing progress.
    pub progress: Progress,
    /// The keys, in record order.
    pub keys: Vec<IssuedKey>,
    /// The Secret's name.
    pub secret_name: String,
    /// The Secret.
    pub secret: SecretState,
    /// Changes made outside the operator and restored in this reconcile (`key: change`).
    pub restored: Vec<String>,
    /// spec.suspend.
    pub suspended: bool,
    /// When Megaport's key list behind `keys` was read (a `Drifted` raised later stays until
    /// a newer read confirms the restore).
    pub keys_read_at: jiff::Timestamp,
    /// Connections ordered with the keys, waiting for the provider's answer.
    pub connections: Vec<Connection>,
}

/// The request's phase.
pub fn phase(observed: &StatusInputs) -> Phase {
    let keys = &observed.keys;
    if keys.is_empty() {
        return if observed.progress.stalled() {
            Phase::Failed
        } else {
            Phase::Pending
        };
    }
    let count = |s: KeyState| keys.iter().filter(|k| k.state == s).count();
    if count(KeyState::Gone) > 0 {
        Phase::Failed
    } else if count(KeyState::Used) == keys.len() {
        Phase::Used
    } else if count(KeyState::Expired) > 0 {
        Phase::Expired
    } else if observed.suspended {
        Phase::Suspended
    } else if count(KeyState::Used) > 0 {
        Phase::PartiallyUsed
    } else {
        Phase::Issued
    }
}

fn key_summary(k: &IssuedKey) -> String {
    let mut parts = Vec::new();
    if let Some(zone) = &k.diversity_zone {
        parts.push(zone.clone());
    }
    if let Some(vlan) = k.vlan {
        parts.push(format!("VLAN {vlan}"));
    }
    if let Some(speed) = k.max_speed_mbps {
        parts.push(format!("{speed} Mbps"));
    }
    format!(
        "{} ({}) {:?}",
        k.on_ramp.as_deref().unwrap_or(&k.product_uid),
        parts.join(", "),
        k.state
    )
}

/// The Ready condition of a request whose keys are all issued, by phase.
fn ready_by_phase(observed: &StatusInputs, phase: Phase) -> Desired {
    let ready = ConditionType::Ready;
    match phase {
        Phase::Used => Desired::yes(ready, Reason::Used, "every key has been used"),
        Phase::PartiallyUsed => {
            Desired::yes(ready, Reason::PartiallyUsed, "some keys have been used")
        }
        Phase::Suspended => {
            Desired::yes(ready, Reason::Suspended, "keys are inactive (spec.suspend)")
        }
        _ => Desired::yes(
            ready,
            Reason::Issued,
            format!(
                "{} key(s) issued and delivered in Secret {}",
                observed.keys.len(),
                observed.secret_name
            ),
        ),
    }
}

/// Ready, and Reconciling or Stalled when True: blocked first, then a Secret conflict, then
/// expiry, else by phase.
fn readiness(observed: &StatusInputs, phase: Phase) -> (Desired, Option<Desired>) {
    use ConditionType::{Ready, Reconciling, Stalled};
    if let Some((reason, message)) = observed.progress.blocked() {
        let follow = if observed.progress.stalled() {
            Stalled
        } else {
            Reconciling
        };
        return (
            Desired::no(Ready, reason, message.clone()),
            Some(Desired::yes(follow, reason, message)),
        );
    }
    if let Progress::Issuing { issued, planned } = observed.progress {
        let message = format!("{issued} of {planned} key(s) issued");
        return (
            Desired::no(Ready, Reason::Issuing, message.clone()),
            Some(Desired::yes(Reconciling, Reason::Issuing, message)),
        );
    }
    if let SecretState::Conflict(why) = &observed.secret {
        return (
            Desired::no(Ready, Reason::SecretConflict, why.clone()),
            Some(Desired::yes(Stalled, Reason::SecretConflict, why.clone())),
        );
    }
    if phase == Phase::Expired {
        let expired: Vec<String> = observed
            .keys
            .iter()
            .filter(|k| k.state == KeyState::Expired)
            .map(key_summary)
            .collect();
        let message = format!(
            "{} key(s) expired: {}; extend spec.validity or delete the request",
            expired.len(),
            expired.join("; ")
        );
        return (
            Desired::no(Ready, Reason::KeysExpired, message.clone()),
            Some(Desired::yes(Stalled, Reason::KeysExpired, message)),
        );
    }
    (ready_by_phase(observed, phase), None)
}

fn keys_issued(observed: &StatusInputs) -> Desired {
    let keys_issued = ConditionType::KeysIssued;
    match &observed.progress {
        Progress::Done { note } => {
            let summary: Vec<String> = observed.keys.iter().map(key_summary).collect();
            let mut message = format!("{} key(s): {}", summary.len(), summary.join("; "));
            if let Some(note) = note {
                message.push_str(&format!(". {note}"));
            }
            Desired::yes(keys_issued, Reason::Issued, message)
        }
        Progress::Issuing { issued, planned } => Desired::no(
            keys_issued,
            Reason::Issuing,
            format!("{issued} of {planned} key(s) issued"),
        ),
        progress @ Progress::Blocked(..) => {
            let (reason, message) = progress
                .blocked()
                .unwrap_or((Reason::Issuing, String::new()));
            Desired::no(keys_issued, reason, message)
        }
    }
}

fn secret_synced(observed: &StatusInputs) -> Desired {
    let synced = ConditionType::SecretSynced;
    match &observed.secret {
        SecretState::Synced => Desired::yes(
            synced,
            Reason::Synced,
            format!(
                "Secret {} holds {} key(s)",
                observed.secret_name,
                observed.keys.len()
            ),
        ),
        SecretState::NoKeys => Desired::no(
            synced,
            Reason::NoKeys,
            format!("Secret {} is written once keys exist", observed.secret_name),
        ),
        SecretState::Conflict(why) => Desired::no(synced, Reason::SecretConflict, why.clone()),
    }
}

/// Drifted: True when this reconcile restored something, and kept True after that until a key
/// list read after the restore confirms it (condition times have whole seconds: a read in the
/// second of the restore may predate it).
fn drifted(previous: Option<&ServiceKeyRequestStatus>, observed: &StatusInputs) -> Desired {
    let drifted = ConditionType::Drifted;
    if !observed.restored.is_empty() {
        return Desired::yes(
            drifted,
            Reason::Restored,
            format!(
                "changed outside the operator, restored: {}",
                observed.restored.join("; ")
            ),
        );
    }
    let read = jiff::Timestamp::from_second(observed.keys_read_at.as_second())
        .unwrap_or(observed.keys_read_at);
    let earlier = previous
        .and_then(|p| conditions::find(&p.conditions, drifted))
        .filter(|c| conditions::status_of(c) == Some(true) && c.last_transition_time.0 >= read);
    match earlier {
        Some(c) => Desired::yes(drifted, Reason::Restored, c.message.clone()),
        None => Desired::no(
            drifted,
            Reason::InSync,
            "the keys match the spec in Megaport",
        ),
    }
}

/// The status a request should have (pure). `previous` keeps transition times.
pub fn desired_status(
    previous: Option<&ServiceKeyRequestStatus>,
    generation: Option<i64>,
    observed: &StatusInputs,
    now: jiff::Timestamp,
) -> ServiceKeyRequestStatus {
    let phase = phase(observed);
    let (ready, follow) = readiness(observed, phase);
    let mut desired = vec![
        ready,
        keys_issued(observed),
        secret_synced(observed),
        drifted(previous, observed),
        connections_pending(observed),
    ];
    for type_ in [ConditionType::Reconciling, ConditionType::Stalled] {
        match &follow {
            Some(d) if d.type_ == type_ => desired.push(d.clone()),
            _ => desired.push(Desired::no(type_, Reason::Done, "")),
        }
    }
    let zones: Vec<&str> = observed
        .keys
        .iter()
        .filter_map(|k| k.diversity_zone.as_deref())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    ServiceKeyRequestStatus {
        observed_generation: generation,
        phase: Some(phase),
        conditions: conditions::merge(
            previous
                .map(|p| p.conditions.as_slice())
                .unwrap_or_default(),
            &desired,
            generation,
            &Time(now),
        ),
        key_count: Some(u32::try_from(observed.keys.len()).unwrap_or(u32::MAX)),
        zones: (!zones.is_empty()).then(|| zones.join(",")),
        keys: observed.keys.clone(),
        secret_name: Some(observed.secret_name.clone()),
        connections: observed.connections.clone(),
    }
}

/// `ConnectionsPending`: True (present) while a connection waits for the provider's answer.
fn connections_pending(observed: &StatusInputs) -> Desired {
    let waiting: Vec<String> = observed
        .connections
        .iter()
        .filter(|c| c.state == ConnectionState::Pending)
        .map(|c| {
            let who = c.company.as_deref().unwrap_or("a customer");
            let why = c
                .reason
                .as_deref()
                .unwrap_or("waiting for the provider's answer");
            format!("{} from {who} ({why})", c.vxc_uid)
        })
        .collect();
    if waiting.is_empty() {
        return Desired::no(ConditionType::ConnectionsPending, Reason::Done, "");
    }
    Desired::yes(
        ConditionType::ConnectionsPending,
        Reason::ConnectionRequested,
        format!(
            "{} connection(s) wait for the provider's answer: {}",
            waiting.len(),
            waiting.join("; ")
        ),
    )
}

/// Whether two statuses differ in anything but condition transition times.
pub fn status_changed(a: &ServiceKeyRequestStatus, b: &ServiceKeyRequestStatus) -> bool {
    let strip = |s: &ServiceKeyRequestStatus| {
        let mut s = s.clone();
        s.conditions.clear();
        s
    };
    strip(a) != strip(b) || !conditions::same_ignoring_times(&a.conditions, &b.conditions)
}
