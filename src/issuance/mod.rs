//! The pure core of a ServiceKeyRequest. No IO: the controller observes Megaport and
//! Kubernetes, hands what it saw to [`decide`], carries the decision out, and computes the status
//! with [`status::desired_status`].
//!
//! - [`request`]: the request with its spec checked and defaults applied once.
//! - [`records`]: what the operator records about the keys, and which keys are a request's.
//! - [`seal`]: the HMAC that tells the operator's records from anyone else's.
//! - [`desired`]: what a key should look like, drift versus a spec change.
//! - [`claims`]: what is taken on each on-ramp when keys are planned.
//! - [`state`]: the state of one key and its status entry.
//! - [`blocker`]: why a request is not served, typed.
//! - [`lifecycle`]: per key, what to do (create, adopt, keep, update, restore, deactivate, missing).
//! - [`decide`]: the one decision of a reconcile.
//! - [`status`]: phase and conditions.

pub mod blocker;
pub mod claims;
pub mod decide;
pub mod desired;
pub mod lifecycle;
pub mod records;
pub mod request;
pub mod seal;
pub mod state;
pub mod status;

#[cfg(test)]
mod decide_tests;
#[cfg(test)]
mod tests;

pub use blocker::Blocker;
pub use claims::candidates;
pub use decide::{
    Decision, Observed, Planning, Scope, SecretSeen, decide, decide_deletion, preferred_note, reads,
};
pub use desired::{
    Convergence, DesiredKey, convergence, desired_key, differences, parse_duration, used_since,
    window_start,
};
pub use lifecycle::{KeyAction, KeyStep};
pub use records::{
    ABANDON_ANNOTATION, KEYS_ANNOTATION, Record, keys_of_request, may_take_by_fingerprint,
    parse_records, records_from_keys, render_records, sealed_records,
};
pub use request::{SecretTarget, Target, ValidatedRequest};
pub use seal::{RecordSeal, SEAL_ANNOTATION};
pub use state::{issued_key, key_state, used_by};
pub use status::{Progress, SecretState, StatusInputs, desired_status, phase, status_changed};
