//! The status condition contract shared by every kind (kstatus / Flux / Argo CD friendly):
//! `Ready` always present; `Reconciling` and `Stalled` present only while True; every condition
//! carries the generation it describes; `lastTransitionTime` moves only when the status flips.
//!
//! Pure functions over `Vec<Condition>`; the controllers decide, these keep the rules.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition types used across kinds.
pub mod types {
    /// Always present: whether the object does what it is for.
    pub const READY: &str = "Ready";
    /// Present (True) only while the controller is working towards the spec.
    pub const RECONCILING: &str = "Reconciling";
    /// Present (True) only while progress needs a human (bad spec, impossible request).
    pub const STALLED: &str = "Stalled";
}

/// Condition types that must be absent unless True (the kstatus "abnormal-true" types).
const ABNORMAL_TRUE: [&str; 2] = [types::RECONCILING, types::STALLED];

/// A desired condition, before timestamps are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// Condition type.
    pub type_: &'static str,
    /// True or False (Unknown is not used: we always know).
    pub status: bool,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

impl Desired {
    /// A True condition.
    pub fn yes(type_: &'static str, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: true,
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// A False condition.
    pub fn no(type_: &'static str, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: false,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

fn status_str(status: bool) -> &'static str {
    if status { "True" } else { "False" }
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
        .filter(|c| !ABNORMAL_TRUE.contains(&c.type_.as_str()) || c.status == "True")
        .filter(|c| !desired.iter().any(|d| d.type_ == c.type_))
        .cloned()
        .collect();
    for d in desired {
        if ABNORMAL_TRUE.contains(&d.type_) && !d.status {
            continue;
        }
        let previous = current.iter().find(|c| c.type_ == d.type_);
        let last_transition_time = match previous {
            Some(p) if p.status == status_str(d.status) => p.last_transition_time.clone(),
            _ => now.clone(),
        };
        out.push(Condition {
            type_: d.type_.to_owned(),
            status: status_str(d.status).to_owned(),
            reason: d.reason.clone(),
            message: d.message.clone(),
            observed_generation: generation,
            last_transition_time,
        });
    }
    // Stable order: Ready first, then alphabetical, so status diffs stay small.
    out.sort_by(|a, b| {
        (a.type_ != types::READY, a.type_.as_str())
            .cmp(&(b.type_ != types::READY, b.type_.as_str()))
    });
    out
}

/// The condition of `type_`, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether condition `type_` is present and True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn ready_is_added_with_generation_and_time() {
        let out = merge(
            &[],
            &[Desired::yes(types::READY, "Resolved", "2 on-ramps")],
            Some(3),
            &at(10),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, "True");
        assert_eq!(out[0].observed_generation, Some(3));
        assert_eq!(out[0].last_transition_time, at(10));
    }

    #[test]
    fn transition_time_moves_only_on_a_status_change() {
        let first = merge(
            &[],
            &[Desired::yes(types::READY, "A", "a")],
            Some(1),
            &at(10),
        );
        let same = merge(
            &first,
            &[Desired::yes(types::READY, "B", "b")],
            Some(2),
            &at(20),
        );
        assert_eq!(same[0].last_transition_time, at(10));
        assert_eq!(same[0].reason, "B");
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = merge(
            &same,
            &[Desired::no(types::READY, "C", "c")],
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
                Desired::no(types::READY, "NoMatch", "m"),
                Desired::yes(types::STALLED, "NoMatch", "m"),
            ],
            Some(1),
            &at(1),
        );
        assert!(is_true(&stalled, types::STALLED));
        let healed = merge(
            &stalled,
            &[
                Desired::yes(types::READY, "Ok", "ok"),
                Desired::no(types::STALLED, "Ok", "ok"),
            ],
            Some(2),
            &at(2),
        );
        assert!(find(&healed, types::STALLED).is_none());
        assert!(is_true(&healed, types::READY));
        // A stale False Reconciling from elsewhere is dropped too.
        let mut odd = healed.clone();
        odd.push(Condition {
            type_: types::RECONCILING.into(),
            status: "False".into(),
            ..healed[0].clone()
        });
        let cleaned = merge(&odd, &[], Some(2), &at(3));
        assert!(find(&cleaned, types::RECONCILING).is_none());
    }

    #[test]
    fn unrelated_conditions_are_kept_and_ready_sorts_first() {
        let out = merge(
            &[],
            &[
                Desired::yes("DiversityAvailable", "Zones", "red, blue"),
                Desired::yes(types::READY, "Ok", "ok"),
            ],
            Some(1),
            &at(1),
        );
        assert_eq!(out[0].type_, types::READY);
        let kept = merge(
            &out,
            &[Desired::no(types::READY, "X", "x")],
            Some(2),
            &at(2),
        );
        assert!(find(&kept, "DiversityAvailable").is_some());
    }
}
