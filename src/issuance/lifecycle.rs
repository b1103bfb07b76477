//! The one key lifecycle, for apply and for deletion (pure): per record of a request, given the
//! keys Megaport lists, what to do — create, adopt (found by its marker: issued before a crash or
//! a lost answer), keep, update (the spec changed), restore (changed outside, with what changed),
//! deactivate (deleting), or missing (recorded, no longer listed: never replaced).

use super::desired::{Convergence, convergence, desired_key, window_start};
use super::records::{Record, may_take_by_fingerprint};
use super::request::ValidatedRequest;
use super::state::key_state;
use crate::crd::service_key_request::{DeletionPolicy, KeyState};
use crate::delivery::{Marker, fingerprint};
use crate::megaport::models::{CreateServiceKey, EpochMillis, ServiceKey, UpdateServiceKey};

/// What to do about one key.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyAction {
    /// No key listed and none recorded: create it. `search`: an earlier create's outcome is
    /// unknown (an attempt is recorded), so the on-ramp's keys are searched for it first; else
    /// the create goes straight out (one call per key).
    Create {
        /// The create.
        create: CreateServiceKey,
        /// Search the on-ramp first.
        search: bool,
    },
    /// It matches: nothing to do.
    Keep(ServiceKey),
    /// The spec changed since the last write: full-object PUT.
    Update {
        /// The key as listed.
        key: ServiceKey,
        /// The PUT.
        put: UpdateServiceKey,
    },
    /// Changed outside the operator: full-object PUT back, saying what changed.
    Restore {
        /// The key as listed.
        key: ServiceKey,
        /// The PUT.
        put: UpdateServiceKey,
        /// What had changed, one phrase per field.
        changes: Vec<String>,
    },
    /// Deleting with policy Deactivate: `active: false`, every other field kept.
    Deactivate {
        /// The key as listed.
        key: ServiceKey,
        /// The PUT.
        put: UpdateServiceKey,
    },
    /// Deleting with policy Retain, or nothing left to turn off: leave it as it is.
    Leave(ServiceKey),
    /// Recorded but not listed: its on-ramp is searched; if it is not there either, it is
    /// missing, and no other key is issued in its place.
    Missing {
        /// The recorded fingerprint.
        fingerprint: String,
    },
}

/// One record's step.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyStep {
    /// The record's index.
    pub record: usize,
    /// Found by its marker rather than its recorded fingerprint.
    pub adopted: bool,
    /// The digest of the values the key should have (recorded after a write).
    pub digest: String,
    /// What to do.
    pub action: KeyAction,
}

/// The key among `keys` that `record` stands for, and whether it was found by its marker
/// rather than by the recorded fingerprint (as far as [`may_take_by_fingerprint`] allows).
pub fn locate<'a>(
    record: &Record,
    uid: &str,
    keys: &'a [ServiceKey],
    claimed_elsewhere: &dyn Fn(&str) -> bool,
) -> Option<(&'a ServiceKey, bool)> {
    let on_ramp = || keys.iter().filter(|k| k.product_uid == record.product_uid);
    let by_fingerprint = record.fingerprint.as_ref().and_then(|fp| {
        on_ramp().find(|k| {
            &fingerprint(&k.key) == fp && may_take_by_fingerprint(k, uid, claimed_elsewhere)
        })
    });
    if let Some(key) = by_fingerprint {
        return Some((key, false));
    }
    let marker = record.marker(uid);
    on_ramp()
        .find(|k| k.description.as_deref().and_then(Marker::parse).as_ref() == Some(&marker))
        .map(|key| {
            (
                key,
                record.fingerprint.as_deref() != Some(&fingerprint(&key.key)),
            )
        })
}

/// What to do for record `index` while applying the spec: its key if listed (`found`, from
/// [`locate`]), else create it or look for the recorded one.
pub fn on_apply(
    request: &ValidatedRequest,
    index: usize,
    record: &Record,
    found: Option<(&ServiceKey, bool)>,
    now: jiff::Timestamp,
) -> KeyStep {
    let Some((key, adopted)) = found else {
        let desired = desired_key(request, record, None, now, false);
        let action = match &record.fingerprint {
            Some(fp) => KeyAction::Missing {
                fingerprint: fp.clone(),
            },
            None => KeyAction::Create {
                create: desired.create_on(&record.product_uid, now),
                search: record.attempted.is_some(),
            },
        };
        return KeyStep {
            record: index,
            adopted: false,
            digest: desired.digest(),
            action,
        };
    };
    let desired = desired_key(request, record, window_start(key), now, false);
    let state = key_state(key, EpochMillis::from_timestamp(now));
    let action = match convergence(&desired, key, record.applied.as_deref(), state) {
        Convergence::Keep => KeyAction::Keep(key.clone()),
        Convergence::Update => KeyAction::Update {
            key: key.clone(),
            put: desired.update_for(key),
        },
        Convergence::Restore(changes) => KeyAction::Restore {
            key: key.clone(),
            put: desired.update_for(key),
            changes,
        },
    };
    KeyStep {
        record: index,
        adopted,
        digest: desired.digest(),
        action,
    }
}

/// What to do for one of a deleted request's keys: deactivate it (policy Deactivate), unless
/// it is already off or a used single-use key (its use is final); leave it with policy Retain.
pub fn on_delete(policy: DeletionPolicy, key: &ServiceKey, now: jiff::Timestamp) -> KeyAction {
    let state = key_state(key, EpochMillis::from_timestamp(now));
    let done = !key.active || (key.single_use && state == KeyState::Used);
    if policy == DeletionPolicy::Retain || done {
        return KeyAction::Leave(key.clone());
    }
    let mut put = UpdateServiceKey::from_key(key);
    put.active = false;
    KeyAction::Deactivate {
        key: key.clone(),
        put,
    }
}
