//! The status condition contract shared by every kind (kstatus / Flux / Argo CD friendly):
//! `Ready` always present; `Reconciling` and `Stalled` present only while True; every condition
//! carries the generation it describes; `lastTransitionTime` moves only when the status flips.
//!
//! Condition types and reasons are typed here, end to end: [`ConditionType`] and [`Reason`] are
//! the only places their strings are spelled. Pure functions over `Vec<Condition>`; the
//! controllers decide, these keep the rules.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Every condition type of every kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConditionType {
    /// Always present: whether the object does what it is for.
    Ready,
    /// Present (True) only while the controller is working towards the spec.
    Reconciling,
    /// Present (True) only while progress needs a human (bad spec, impossible request).
    Stalled,
    /// ServiceKeyRequest: every planned key exists in Megaport.
    KeysIssued,
    /// ServiceKeyRequest: the Secret holds the keys.
    SecretSynced,
    /// ServiceKeyRequest: a key was changed outside the operator (and restored).
    Drifted,
    /// OnRampRegion: eligible on-ramps in two or more diversity zones.
    DiversityAvailable,
    /// ServiceKeyRequest: connections ordered with its keys wait for the provider's answer
    /// (present only while True).
    ConnectionsPending,
}

impl ConditionType {
    /// The type as written in status.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Reconciling => "Reconciling",
            Self::Stalled => "Stalled",
            Self::KeysIssued => "KeysIssued",
            Self::SecretSynced => "SecretSynced",
            Self::Drifted => "Drifted",
            Self::DiversityAvailable => "DiversityAvailable",
            Self::ConnectionsPending => "ConnectionsPending",
        }
    }

    /// The types present only while True: kstatus's "abnormal-true" ones, and
    /// ConnectionsPending.
    const fn abnormal_true(self) -> bool {
        matches!(
            self,
            Self::Reconciling | Self::Stalled | Self::ConnectionsPending
        )
    }
}

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {
        /// Every condition and event reason the operator writes, with its stable string (the
        /// variant's name). Adding one here is the only way to use a new reason.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[$doc])* $name),+
        }

        impl Reason {
            /// The CamelCase string written in status and events.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name)),+
                }
            }

            /// The reason a status string names, if it is one of ours.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $(stringify!($name) => Some(Self::$name),)+
                    _ => None,
                }
            }
        }
    };
}

reasons! {
    /// Progress or healthy states.
    Resolved,
    /// Region: at least one eligible on-ramp.
    OnRampsAvailable,
    /// Region: nothing matches its selectors.
    NoMatchingOnRamps,
    /// Region: on-ramps match but none can take a connection.
    NoEligibleOnRamps,
    /// Region: one diversity zone only.
    SingleZone,
    /// Region: two or more zones.
    MultipleZones,
    /// Request: keys exist (KeysIssued), or the Ready reason of phase Issued.
    Issued,
    /// Request: some keys used.
    PartiallyUsed,
    /// Request: every key used.
    Used,
    /// Request: keys inactive by spec.suspend.
    Suspended,
    /// Request: keys are being created.
    Issuing,
    /// Request: the Secret holds the keys.
    Synced,
    /// Request: no keys yet, so no Secret.
    NoKeys,
    /// Request: keys match the spec in Megaport.
    InSync,
    /// Request: keys changed outside the operator were restored (also the event reason).
    Restored,
    /// Request: a key's validity ended.
    KeysExpired,
    /// A cleared Reconciling/Stalled.
    Done,
    /// The spec cannot be served as written (or cannot be read at all).
    InvalidSpec,
    /// The named OnRampRegion does not exist.
    RegionNotFound,
    /// The named OnRampRegion cannot be used (unreadable, or a bad selector).
    InvalidRegion,
    /// The region does not serve the request's namespace.
    NamespaceNotAllowed,
    /// The explicit on-ramp is not the provider's.
    OnRampNotFound,
    /// A planned key lies outside what the spec allows.
    RecordOutsideSpec,
    /// The region has no on-ramps.
    NoOnRamps,
    /// No on-ramp fits the request.
    NoFittingOnRamp,
    /// Diversity Required, one zone only.
    DiversityUnavailable,
    /// The explicit VLAN is held by someone else.
    VlanInUse,
    /// A Secret of that name is not the operator's.
    SecretConflict,
    /// The apiserver would refuse the Secret (checked before any key is created).
    SecretRefused,
    /// Megaport refused to create the key.
    KeyRejected,
    /// Megaport refused to update the key.
    UpdateRejected,
    /// An update waits for Megaport's allowance (one per key per spacing).
    UpdatePaced,
    /// A key issued for the request is no longer listed.
    KeyMissing,
    /// A key's on-ramp was decommissioned.
    OnRampGone,
    /// Megaport could not be reached or failed.
    MegaportUnavailable,
    /// Kubernetes could not be read.
    KubernetesUnavailable,
    /// The Secret could not be read or written.
    SecretWriteFailed,
    /// The key records could not be saved on the request.
    RecordsNotSaved,
    /// The status could not be written.
    StatusNotWritten,
    /// The finalizer could not be added or removed.
    FinalizerNotUpdated,
    /// Event: keys changed outside the operator were restored.
    DriftRestored,
    /// Event: a records annotation the operator did not write was ignored.
    RecordsIgnored,
    /// Event: deleted with the abandon annotation.
    Abandoned,
    /// Event: keys could not be deactivated on deletion.
    DeactivationFailed,
    /// Configuration: being checked and priced for the first time.
    Validating,
    /// Configuration: saved and priced (Ready while not ordered).
    Quoted,
    /// Configuration: an account rule or Megaport refuses the design.
    DesignInvalid,
    /// Configuration: being bought (also the event when a round is bought).
    Ordering,
    /// Configuration: Megaport refused the order.
    OrderRefused,
    /// Configuration: a VXC waits for a service key only a person can supply.
    OrderBlocked,
    /// Configuration: bought, not every service LIVE yet.
    Provisioning,
    /// Configuration: every service LIVE.
    Live,
    /// Configuration: a bought service was cancelled or decommissioned outside the operator.
    ServiceGone,
    /// Event: services bought (one round of the order).
    ServicesOrdered,
    /// Event: products found by their tags after a buy with an unknown outcome.
    ServicesAdopted,
    /// Event: services cancelled on deletion, as the deletion policy says.
    ServicesCancelled,
    /// Event: services could not be cancelled on deletion.
    CancellationFailed,
    /// Request: connections ordered with its keys wait for the provider (ConnectionsPending);
    /// also the event when one arrives.
    ConnectionRequested,
    /// Event: a connection approved (by policy, a person).
    ConnectionApproved,
    /// Event: a connection rejected (by a person, the deadline).
    ConnectionRejected,
    /// Event: Megaport refused the operator's answer to a connection.
    ConnectionAnswerRefused,
}

/// A desired condition, before timestamps are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// Condition type.
    pub type_: ConditionType,
    /// True or False (Unknown is not used: we always know).
    pub status: bool,
    /// Why.
    pub reason: Reason,
    /// Human-readable message.
    pub message: String,
}

impl Desired {
    /// A True condition.
    pub fn yes(type_: ConditionType, reason: Reason, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: true,
            reason,
            message: message.into(),
        }
    }

    /// A False condition.
    pub fn no(type_: ConditionType, reason: Reason, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: false,
            reason,
            message: message.into(),
        }
    }
}

const fn status_str(status: bool) -> &'static str {
    if status { "True" } else { "False" }
}

/// The status of a condition as a bool (`None` for Unknown or anything else).
pub fn status_of(condition: &Condition) -> Option<bool> {
    match condition.status.as_str() {
        "True" => Some(true),
        "False" => Some(false),
        _ => None,
    }
}

fn is_abnormal_true(type_: &str) -> bool {
    [
        ConditionType::Reconciling,
        ConditionType::Stalled,
        ConditionType::ConnectionsPending,
    ]
    .iter()
    .any(|t| t.as_str() == type_)
}

/// Merges `desired` into `current` for an object at `generation`, at time `now`.
///
/// Conditions not mentioned in `desired` are kept as they are, except `Reconciling` and
/// `Stalled`, which are removed unless desired True. A desired False `Reconciling`/`Stalled`
/// removes the condition. `lastTransitionTime` is kept when the status did not change.
pub fn merge(
    current: &[Condition],
    desired: &[Desired],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = current
        .iter()
        .filter(|c| !is_abnormal_true(&c.type_) || status_of(c) == Some(true))
        .filter(|c| !desired.iter().any(|d| d.type_.as_str() == c.type_))
        .cloned()
        .collect();
    for d in desired {
        if d.type_.abnormal_true() && !d.status {
            continue;
        }
        let previous = find(current, d.type_);
        let last_transition_time = match previous {
            Some(p) if status_of(p) == Some(d.status) => p.last_transition_time.clone(),
            _ => now.clone(),
        };
        out.push(Condition {
            type_: d.type_.as_str().to_owned(),
            status: status_str(d.status).to_owned(),
            reason: d.reason.as_str().to_owned(),
            message: d.message.clone(),
            observed_generation: generation,
            last_transition_time,
        });
    }
    // Stable order: Ready first, then alphabetical, so status diffs stay small.
    let ready = ConditionType::Ready.as_str();
    out.sort_by(|a, b| {
        (a.type_ != ready, a.type_.as_str()).cmp(&(b.type_ != ready, b.type_.as_str()))
    });
    out
}

/// The condition of `type_`, if present.
pub fn find(conditions: &[Condition], type_: ConditionType) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == type_.as_str())
}

/// Whether condition `type_` is present and True.
pub fn is_true(conditions: &[Condition], type_: ConditionType) -> bool {
    find(conditions, type_).and_then(status_of) == Some(true)
}

/// The reason of condition `type_`, when present and one of ours.
pub fn reason_of(conditions: &[Condition], type_: ConditionType) -> Option<Reason> {
    find(conditions, type_).and_then(|c| Reason::parse(&c.reason))
}

/// Whether two condition lists have the same types, statuses and reasons (messages aside).
pub fn same_reasons(a: &[Condition], b: &[Condition]) -> bool {
    let key = |c: &Condition| (c.type_.clone(), c.status.clone(), c.reason.clone());
    let mut a: Vec<_> = a.iter().map(key).collect();
    let mut b: Vec<_> = b.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}

/// Whether two condition lists say the same (types, statuses, reasons, messages), whatever
/// their transition times.
pub fn same_ignoring_times(a: &[Condition], b: &[Condition]) -> bool {
    let key = |c: &Condition| {
        (
            c.type_.clone(),
            c.status.clone(),
            c.reason.clone(),
            c.message.clone(),
            c.observed_generation,
        )
    };
    a.len() == b.len() && a.iter().map(key).eq(b.iter().map(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConditionType::{DiversityAvailable, Ready, Reconciling, Stalled};

    fn at(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).unwrap_or_default())
    }

    #[test]
    fn ready_is_added_with_generation_and_time() {
        let out = merge(
            &[],
            &[Desired::yes(Ready, Reason::Resolved, "2 on-ramps")],
            Some(3),
            &at(10),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(status_of(&out[0]), Some(true));
        assert_eq!(out[0].observed_generation, Some(3));
        assert_eq!(out[0].last_transition_time, at(10));
    }

    #[test]
    fn transition_time_moves_only_on_a_status_change() {
        let first = merge(
            &[],
            &[Desired::yes(Ready, Reason::Issued, "a")],
            Some(1),
            &at(10),
        );
        let same = merge(
            &first,
            &[Desired::yes(Ready, Reason::Used, "b")],
            Some(2),
            &at(20),
        );
        assert_eq!(same[0].last_transition_time, at(10));
        assert_eq!(reason_of(&same, Ready), Some(Reason::Used));
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = merge(
            &same,
            &[Desired::no(Ready, Reason::KeysExpired, "c")],
            Some(2),
            &at(30),
        );
        assert_eq!(flipped[0].last_transition_time, at(30));
    }

    #[test]
    fn reconciling_and_stalled_exist_only_while_true() {
        let stalled = merge(
            &[],
            &[
                Desired::no(Ready, Reason::NoFittingOnRamp, "m"),
                Desired::yes(Stalled, Reason::NoFittingOnRamp, "m"),
            ],
            Some(1),
            &at(1),
        );
        assert!(is_true(&stalled, Stalled));
        let healed = merge(
            &stalled,
            &[
                Desired::yes(Ready, Reason::Issued, "ok"),
                Desired::no(Stalled, Reason::Done, ""),
            ],
            Some(2),
            &at(2),
        );
        assert!(find(&healed, Stalled).is_none());
        assert!(is_true(&healed, Ready));
        // A stale False Reconciling from elsewhere is dropped too.
        let mut odd = healed.clone();
        odd.push(Condition {
            type_: Reconciling.as_str().into(),
            status: status_str(false).into(),
            ..healed[0].clone()
        });
        let cleaned = merge(&odd, &[], Some(2), &at(3));
        assert!(find(&cleaned, Reconciling).is_none());
    }

    #[test]
    fn unrelated_conditions_are_kept_and_ready_sorts_first() {
        let out = merge(
            &[],
            &[
                Desired::yes(DiversityAvailable, Reason::MultipleZones, "red, blue"),
                Desired::yes(Ready, Reason::OnRampsAvailable, "ok"),
            ],
            Some(1),
            &at(1),
        );
        assert_eq!(out[0].type_, Ready.as_str());
        let kept = merge(
            &out,
            &[Desired::no(Ready, Reason::NoEligibleOnRamps, "x")],
            Some(2),
            &at(2),
        );
        assert!(find(&kept, DiversityAvailable).is_some());
        assert!(same_ignoring_times(
            &kept,
            &merge(&kept, &[], Some(2), &at(9))
        ));
    }

    #[test]
    fn reasons_round_trip_through_their_strings() {
        for reason in [
            Reason::VlanInUse,
            Reason::InvalidSpec,
            Reason::DriftRestored,
        ] {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(Reason::parse("SomethingElse"), None);
    }
}
