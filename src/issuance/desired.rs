//! What one key should look like in Megaport (the full object a `PUT /v2/service/key` must
//! carry, since the API resets what a PUT leaves out), how a key differs from it, and whether a
//! difference is a spec change to apply or a change made outside the operator to restore.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::records::Record;
use super::request::ValidatedRequest;
use crate::crd::service_key_request::KeyState;
use crate::megaport::models::{
    CreateServiceKey, EpochMillis, ServiceKey, UpdateServiceKey, ValidFor,
};

/// What one key should look like in Megaport.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredKey {
    /// Single-use.
    pub single_use: bool,
    /// Provider-side VLAN.
    pub vlan: Option<u16>,
    /// Highest VXC rate.
    pub max_speed: u32,
    /// On/off.
    pub active: bool,
    /// Approval skipped.
    pub pre_approved: bool,
    /// Description with the marker.
    pub description: String,
    /// Start of validity; `None`: whatever Megaport set at creation.
    pub valid_from: Option<i64>,
    /// End of validity; `None`: open-ended.
    pub valid_until: Option<i64>,
}

impl DesiredKey {
    /// A short digest of these values, recorded after each write.
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&json);
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The create of this key on `product_uid` (validity from `now` when only an end is set).
    pub fn create_on(&self, product_uid: &str, now: jiff::Timestamp) -> CreateServiceKey {
        CreateServiceKey {
            product_uid: product_uid.to_owned(),
            single_use: self.single_use,
            max_speed: self.max_speed,
            active: self.active,
            pre_approved: self.pre_approved,
            description: Some(self.description.clone()),
            vlan: self.vlan,
            valid_for: (self.valid_from.is_some() || self.valid_until.is_some()).then(|| {
                ValidFor {
                    start: Some(EpochMillis(self.valid_from.unwrap_or(now.as_millisecond()))),
                    end: self.valid_until.map(EpochMillis),
                }
            }),
        }
    }

    /// The full-object PUT that makes `current` look like this (fields are never omitted:
    /// the API resets what a PUT leaves out).
    pub fn update_for(&self, current: &ServiceKey) -> UpdateServiceKey {
        UpdateServiceKey {
            key: current.key.clone(),
            product_uid: current.product_uid.clone(),
            single_use: self.single_use,
            active: self.active,
            max_speed: Some(self.max_speed),
            vlan: self.vlan,
            description: Some(self.description.clone()),
            pre_approved: self.pre_approved,
            valid_for: Some(ValidFor {
                start: self
                    .valid_from
                    .map(EpochMillis)
                    .or_else(|| current.valid_for.as_ref().and_then(|v| v.start)),
                end: self.valid_until.map(EpochMillis),
            }),
        }
    }
}

/// Parses a duration like `720h`, `30d`, `90m`, `45s` (the CRD admits only these shapes).
pub fn parse_duration(text: &str) -> Option<jiff::SignedDuration> {
    crate::crd::service_key_request::duration_seconds(text).map(jiff::SignedDuration::from_secs)
}

/// The desired values of a record's key. `created_at` is where the existing key's validity
/// counts from ([`window_start`]); a `duration` counts from `notBefore`, else from that, else
/// from `now`. `deleting` turns the key off (deletion with policy Deactivate).
pub fn desired_key(
    request: &ValidatedRequest,
    record: &Record,
    created_at: Option<EpochMillis>,
    now: jiff::Timestamp,
    deleting: bool,
) -> DesiredKey {
    let from = request.not_before;
    let base = from
        .or(created_at.map(|c| c.0))
        .unwrap_or(now.as_millisecond());
    let until = match (request.not_after, request.duration) {
        (Some(end), _) => Some(end),
        (None, Some(d)) => {
            Some(base.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
        }
        (None, None) => None,
    };
    DesiredKey {
        single_use: request.single_use,
        vlan: record.vlan,
        max_speed: request.max_speed_mbps.unwrap_or(record.speed_mbps),
        active: !deleting && !request.suspend,
        pre_approved: request.pre_approved,
        description: record
            .marker(&request.uid)
            .describe(request.description.as_deref()),
        valid_from: from,
        valid_until: until,
    }
}

/// Where a key's validity counts from: the start of its window, else its creation.
pub fn window_start(key: &ServiceKey) -> Option<EpochMillis> {
    key.valid_for
        .as_ref()
        .and_then(|v| v.start)
        .or(key.create_date)
}

/// Whether `key` was used after `read_at` (then a product list read at `read_at` cannot show
/// the VXC it was used for).
pub fn used_since(key: &ServiceKey, read_at: jiff::Timestamp) -> bool {
    key.last_used
        .is_some_and(|used| used.0 > read_at.as_millisecond())
}

fn show_time(ms: Option<i64>) -> String {
    ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| "none".to_owned(), |t| t.to_string())
}

/// How `observed` differs from `desired`, one phrase per field (empty: in sync). Never shows
/// the key; descriptions are compared, not quoted.
pub fn differences(desired: &DesiredKey, observed: &ServiceKey) -> Vec<String> {
    let mut out = Vec::new();
    if observed.active != desired.active {
        out.push(format!(
            "active is {}, want {}",
            observed.active, desired.active
        ));
    }
    if observed.max_speed != Some(desired.max_speed) {
        out.push(format!(
            "maxSpeed is {}, want {}",
            observed
                .max_speed
                .map_or_else(|| "unset".to_owned(), |s| s.to_string()),
            desired.max_speed
        ));
    }
    if observed.pre_approved.unwrap_or(false) != desired.pre_approved {
        out.push(format!(
            "preApproved is {}, want {}",
            observed.pre_approved.unwrap_or(false),
            desired.pre_approved
        ));
    }
    if observed.single_use != desired.single_use {
        out.push(format!(
            "singleUse is {}, want {}",
            observed.single_use, desired.single_use
        ));
    }
    if observed.vlan != desired.vlan {
        out.push(format!(
            "vlan is {}, want {}",
            observed
                .vlan
                .map_or_else(|| "unset".to_owned(), |v| v.to_string()),
            desired
                .vlan
                .map_or_else(|| "unset".to_owned(), |v| v.to_string())
        ));
    }
    if observed.description.as_deref() != Some(desired.description.as_str()) {
        out.push("description was changed".to_owned());
    }
    let window = observed.valid_for.clone().unwrap_or_default();
    if let Some(from) = desired.valid_from
        && window.start.map(|s| s.0) != Some(from)
    {
        out.push(format!(
            "validFor.start is {}, want {}",
            show_time(window.start.map(|s| s.0)),
            show_time(Some(from))
        ));
    }
    if window.end.map(|e| e.0) != desired.valid_until {
        out.push(format!(
            "validFor.end is {}, want {}",
            show_time(window.end.map(|e| e.0)),
            show_time(desired.valid_until)
        ));
    }
    out
}

/// How an existing key compares with what it should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Convergence {
    /// Nothing: it matches.
    Keep,
    /// The spec changed since the last write: update in place.
    Update,
    /// It was changed outside the operator since the last write: restore, and say what changed.
    Restore(Vec<String>),
}

/// Compares a key with the desired values and the digest recorded at the last write: a
/// difference after a write of exactly these values was made outside the operator (restore);
/// any other difference is a spec change (update). Used single-use keys are left alone (their
/// use is final).
pub fn convergence(
    desired: &DesiredKey,
    observed: &ServiceKey,
    applied: Option<&str>,
    state: KeyState,
) -> Convergence {
    if state == KeyState::Used && observed.single_use {
        return Convergence::Keep;
    }
    let diffs = differences(desired, observed);
    if diffs.is_empty() {
        Convergence::Keep
    } else if applied == Some(desired.digest().as_str()) {
        Convergence::Restore(diffs)
    } else {
        Convergence::Update
    }
}
