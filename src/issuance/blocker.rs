//! Why a request is not (fully) served: one [`Blocker`] per cause, each with its stable reason,
//! its message, and whether it heals by itself (which decides between `Reconciling` and
//! `Stalled`, and how soon to look again).

use crate::crd::conditions::Reason;
use crate::selection::Unavailable;

/// What stands between a request and its keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// The spec is invalid (stored under a looser schema): every problem.
    InvalidSpec(Vec<String>),
    /// The OnRampRegion does not exist (yet).
    RegionNotFound {
        /// Its name.
        region: String,
    },
    /// The OnRampRegion cannot be used: unreadable, or an invalid `allowedNamespaces`.
    InvalidRegion {
        /// Its name.
        region: String,
        /// Why.
        why: String,
    },
    /// The region does not serve the request's namespace.
    NamespaceNotAllowed {
        /// The region.
        region: String,
        /// The namespace.
        namespace: String,
    },
    /// The explicit on-ramp is not one of the provider's Ports, MCRs or MVEs.
    OnRampNotFound {
        /// Its product uid.
        product_uid: String,
    },
    /// A planned key lies on an on-ramp the spec does not allow.
    RecordOutsideSpec {
        /// The on-ramp.
        product_uid: String,
    },
    /// Nothing fits (selection).
    Unavailable(Unavailable),
    /// A Secret of that name is not the operator's (it is left untouched; no key is issued).
    SecretConflict {
        /// Its name.
        secret: String,
        /// The request's UID (the annotation an operator's Secret would carry).
        uid: String,
    },
    /// The apiserver would refuse the Secret (a dry run said so before any key was created).
    SecretRefused {
        /// Its name.
        secret: String,
        /// The apiserver's words.
        why: String,
    },
    /// Megaport refused to create a key.
    KeyRejected {
        /// The on-ramp.
        on_ramp: String,
        /// Megaport's words.
        why: String,
    },
    /// Megaport refused to update a key.
    UpdateRejected {
        /// The key.
        fingerprint: String,
        /// Megaport's words.
        why: String,
    },
    /// An update (a spec change, or a restore of a change made outside) waits: Megaport allows
    /// one update per key per spacing.
    UpdatePaced {
        /// The key.
        fingerprint: String,
        /// When it is sent (epoch ms).
        at: i64,
        /// What changed outside, when it is a restore.
        restore: Vec<String>,
    },
    /// A key's on-ramp was decommissioned: the key is still listed and useless;
    /// no other key is issued in its place.
    OnRampGone {
        /// The key.
        fingerprint: String,
        /// Its on-ramp.
        on_ramp: String,
    },
    /// A key issued for the request is no longer listed; no other is issued in its place.
    KeyMissing {
        /// The key.
        fingerprint: String,
        /// Its on-ramp.
        on_ramp: String,
    },
}

impl Blocker {
    /// The condition reason.
    pub fn reason(&self) -> Reason {
        match self {
            Self::InvalidSpec(_) => Reason::InvalidSpec,
            Self::RegionNotFound { .. } => Reason::RegionNotFound,
            Self::InvalidRegion { .. } => Reason::InvalidRegion,
            Self::NamespaceNotAllowed { .. } => Reason::NamespaceNotAllowed,
            Self::OnRampNotFound { .. } => Reason::OnRampNotFound,
            Self::RecordOutsideSpec { .. } => Reason::RecordOutsideSpec,
            Self::Unavailable(Unavailable::NoOnRamps) => Reason::NoOnRamps,
            Self::Unavailable(Unavailable::NoFittingOnRamp(_)) => Reason::NoFittingOnRamp,
            Self::Unavailable(Unavailable::DiversityUnavailable(_)) => Reason::DiversityUnavailable,
            Self::Unavailable(Unavailable::VlanInUse(_)) => Reason::VlanInUse,
            Self::SecretConflict { .. } => Reason::SecretConflict,
            Self::SecretRefused { .. } => Reason::SecretRefused,
            Self::KeyRejected { .. } => Reason::KeyRejected,
            Self::UpdateRejected { .. } => Reason::UpdateRejected,
            Self::UpdatePaced { .. } => Reason::UpdatePaced,
            Self::KeyMissing { .. } => Reason::KeyMissing,
            Self::OnRampGone { .. } => Reason::OnRampGone,
        }
    }

    /// Whether it can go away without anyone changing the request: a region being created, a
    /// VLAN holder going away. Those are `Reconciling` and looked at again soon; the rest are
    /// `Stalled` and looked at once per poll period.
    pub fn heals_by_itself(&self) -> bool {
        matches!(
            self,
            Self::RegionNotFound { .. }
                | Self::Unavailable(Unavailable::VlanInUse(_))
                | Self::UpdatePaced { .. }
        )
    }
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidSpec(problems) => write!(
                f,
                "the spec is invalid, nothing is issued: {}",
                problems.join("; ")
            ),
            Self::RegionNotFound { region } => write!(f, "OnRampRegion {region} does not exist"),
            Self::InvalidRegion { region, why } => write!(f, "OnRampRegion {region} {why}"),
            Self::NamespaceNotAllowed { region, namespace } => write!(
                f,
                "OnRampRegion {region} does not serve namespace {namespace} (its allowedNamespaces does not match the namespace's labels)"
            ),
            Self::OnRampNotFound { product_uid } => write!(
                f,
                "the provider has no Port, MCR or MVE with productUid {product_uid}"
            ),
            Self::RecordOutsideSpec { product_uid } => write!(
                f,
                "a key is planned on {product_uid}, which this request may not use; nothing is issued there"
            ),
            Self::Unavailable(unavailable) => f.write_str(&unavailable.message()),
            Self::SecretConflict { secret, uid } => write!(
                f,
                "Secret {secret} exists and was not written by the operator for this request (it lacks app.kubernetes.io/managed-by=megaport-operator and megaport.onramp.dev/request-uid={uid}); it was left untouched and no key is issued: delete it or set spec.secret.name"
            ),
            Self::SecretRefused { secret, why } => write!(
                f,
                "the Secret {secret} cannot be written, so no key is issued: {why}"
            ),
            Self::KeyRejected { on_ramp, why } => {
                write!(f, "Megaport refused the key on {on_ramp}: {why}")
            }
            Self::UpdateRejected { fingerprint, why } => {
                write!(f, "Megaport refused the update of key {fingerprint}: {why}")
            }
            Self::UpdatePaced {
                fingerprint,
                at,
                restore,
            } => {
                let when = jiff::Timestamp::from_millisecond(*at)
                    .map_or_else(|_| at.to_string(), |t| t.to_string());
                let what = if restore.is_empty() {
                    "the spec change".to_owned()
                } else {
                    format!(
                        "the restore of a change made outside ({})",
                        restore.join(", ")
                    )
                };
                write!(
                    f,
                    "key {fingerprint}: {what} waits for Megaport's allowance of one update per key every few minutes; it is sent at {when}"
                )
            }
            Self::OnRampGone {
                fingerprint,
                on_ramp,
            } => write!(
                f,
                "key {fingerprint} is gone: its on-ramp {on_ramp} was decommissioned; no other key is issued in its place (delete the request to start over)"
            ),
            Self::KeyMissing {
                fingerprint,
                on_ramp,
            } => write!(
                f,
                "key {fingerprint} issued for this request is no longer listed on on-ramp {on_ramp}; no other key is issued in its place (delete the request to start over)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_others_can_resolve_heals_by_itself() {
        let region = Blocker::RegionNotFound {
            region: "us-west".into(),
        };
        let vlan = Blocker::Unavailable(Unavailable::VlanInUse("VLAN 150 is held".into()));
        let full = Blocker::Unavailable(Unavailable::NoFittingOnRamp("full".into()));
        assert!(region.heals_by_itself() && vlan.heals_by_itself());
        assert!(!full.heals_by_itself());
        assert_eq!(vlan.reason(), Reason::VlanInUse);
        assert_eq!(region.to_string(), "OnRampRegion us-west does not exist");
        let conflict = Blocker::SecretConflict {
            secret: "taken".into(),
            uid: "u1".into(),
        };
        assert!(conflict.to_string().contains("left untouched"));
        assert!(!conflict.heals_by_itself());
    }
}
