//! What the operator records about a request's keys, and which keys are a request's: the
//! records annotation (planned on-ramp, zone and VLAN, and once issued the key's fingerprint),
//! sealed so that only the operator's own records are ever used ([`super::seal`]), rebuilt from
//! the keys' markers when lost; and the rules for finding a request's keys in Megaport's list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::seal::{RecordSeal, SEAL_ANNOTATION};
use crate::delivery::Marker;
use crate::megaport::models::ServiceKey;

/// Annotation on the request: the keys planned and issued for it (JSON list of [`Record`]).
/// Written before a key is created and after, so the operator never loses track of a key,
/// whatever happens to the status.
pub const KEYS_ANNOTATION: &str = "megaport.onramp.dev/keys";
/// Annotation a human sets to `"true"` to let a request be deleted without touching its keys
/// (for when the Megaport credentials are gone).
pub const ABANDON_ANNOTATION: &str = "megaport.onramp.dev/abandon";

/// One key of a request as the operator recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The on-ramp it is (to be) issued on.
    pub product_uid: String,
    /// The zone it serves, as in its marker (`-` when the on-ramp has none).
    pub zone: String,
    /// Its provider-side VLAN (single-use keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// Its max speed when the spec names none (the on-ramp's limit when it was chosen).
    pub speed_mbps: u32,
    /// The key's fingerprint once it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Digest of the desired values last written to the key (tells a spec change from drift).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<String>,
    /// When a create of its key was first sent (epoch ms), recorded before the create: a record
    /// with an attempt and no key has an unknown outcome, and its on-ramp is searched before
    /// creating again. Without one, the create goes straight out (one call per key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempted: Option<i64>,
    /// When the operator updated the key (epoch ms), the last 30 days: paces updates (one per
    /// spacing) and shows how much of Megaport's monthly allowance a key has used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub updates: Vec<i64>,
}

/// Thirty days in milliseconds: the span of [`Record::updates`].
pub const UPDATE_HISTORY_MS: i64 = 30 * 86_400_000;

impl Record {
    /// Notes an update at `now`, forgetting those older than thirty days.
    pub fn note_update(&mut self, now: jiff::Timestamp) {
        let now = now.as_millisecond();
        self.updates.retain(|t| *t > now - UPDATE_HISTORY_MS);
        self.updates.push(now);
    }

    /// Updates of the last thirty days at `now`.
    pub fn updates_last_30_days(&self, now: jiff::Timestamp) -> u32 {
        let now = now.as_millisecond();
        u32::try_from(
            self.updates
                .iter()
                .filter(|t| **t > now - UPDATE_HISTORY_MS)
                .count(),
        )
        .unwrap_or(u32::MAX)
    }

    /// When the next update is allowed, if not yet at `now` (`spacing_ms` after the last).
    pub fn next_update_at(&self, now: jiff::Timestamp, spacing_ms: i64) -> Option<i64> {
        let next = self.updates.iter().max()? + spacing_ms;
        (next > now.as_millisecond()).then_some(next)
    }
}

impl Record {
    /// The marker of this record's key for the request `uid`.
    pub fn marker(&self, request_uid: &str) -> Marker {
        Marker {
            request_uid: request_uid.to_owned(),
            zone: self.zone.clone(),
        }
    }

    /// The zone, `None` for the placeholder `-`.
    pub fn zone(&self) -> Option<&str> {
        (self.zone != "-").then_some(self.zone.as_str())
    }
}

/// The records in a request's annotations; an absent annotation is no records. The annotation
/// can be edited by whoever may edit the request, so every field is checked for shape here (and
/// what it names is checked against the spec before anything is issued).
pub fn parse_records(annotations: &BTreeMap<String, String>) -> Result<Vec<Record>, String> {
    let Some(text) = annotations.get(KEYS_ANNOTATION) else {
        return Ok(Vec::new());
    };
    let records: Vec<Record> = serde_json::from_str(text)
        .map_err(|e| format!("annotation {KEYS_ANNOTATION} is not a list of key records: {e}"))?;
    if records.len() > 2 {
        return Err(format!(
            "annotation {KEYS_ANNOTATION} lists {} keys; a request has one or two",
            records.len()
        ));
    }
    match records.iter().find_map(record_problem) {
        Some(problem) => Err(format!("annotation {KEYS_ANNOTATION}: {problem}")),
        None => Ok(records),
    }
}

/// The records in a request's annotations if the operator wrote them: absent is no records;
/// records whose seal does not verify for request `uid` (edited, copied from another request,
/// or sealed with another key) are `Err` with why, and must not be used.
pub fn sealed_records(
    annotations: &BTreeMap<String, String>,
    uid: &str,
    seal: &RecordSeal,
) -> Result<Vec<Record>, String> {
    let records = parse_records(annotations)?;
    if records.is_empty() && !annotations.contains_key(KEYS_ANNOTATION) {
        return Ok(records);
    }
    match annotations.get(SEAL_ANNOTATION) {
        Some(tag) if seal.verifies(uid, &records, tag) => Ok(records),
        Some(_) => Err(format!(
            "annotation {KEYS_ANNOTATION} does not match its seal: it was not written by this operator for this request"
        )),
        None => Err(format!(
            "annotation {KEYS_ANNOTATION} has no seal ({SEAL_ANNOTATION}): it was not written by this operator"
        )),
    }
}

fn record_problem(r: &Record) -> Option<&'static str> {
    let zone_ok = r.zone == "-"
        || (!r.zone.is_empty()
            && r.zone.len() <= 32
            && r.zone
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    let fingerprint_ok = r.fingerprint.as_deref().is_none_or(|f| {
        f.strip_prefix("sha256:")
            .is_some_and(|hex| hex.len() == 16 && hex.chars().all(|c| c.is_ascii_hexdigit()))
    });
    if !crate::crd::rules::is_uuid(&r.product_uid) {
        Some("productUid is not a product UID")
    } else if !zone_ok {
        Some("zone is not a diversity zone")
    } else if !fingerprint_ok {
        Some("fingerprint is not a key fingerprint")
    } else if r.vlan.is_some_and(|v| !(2..=4093).contains(&v)) {
        Some("vlan is not within 2..4093")
    } else {
        None
    }
}

/// Whether request `uid` may take `key` on the strength of a fingerprint in its records: only
/// when the key carries that request's marker, or carries no marker at all (edited away in the
/// Portal; its owner's next reconcile restores it) and no other request records the same
/// fingerprint (`claimed_elsewhere`). Records live in an annotation that whoever may edit the
/// request can change, so a record alone never makes another request's key this one's.
pub fn may_take_by_fingerprint(
    key: &ServiceKey,
    uid: &str,
    claimed_elsewhere: &dyn Fn(&str) -> bool,
) -> bool {
    match key.description.as_deref().and_then(Marker::parse) {
        Some(marker) => marker.request_uid == uid,
        None => !claimed_elsewhere(&crate::delivery::fingerprint(&key.key)),
    }
}

/// The annotation value for `records`.
pub fn render_records(records: &[Record]) -> String {
    serde_json::to_string(records).unwrap_or_else(|_| "[]".to_owned())
}

/// Records rebuilt from the keys carrying request `uid`'s marker (when its annotation was lost).
pub fn records_from_keys(uid: &str, keys: &[ServiceKey]) -> Vec<Record> {
    let mut records: Vec<Record> = keys
        .iter()
        .filter_map(|k| {
            let marker = k.description.as_deref().and_then(Marker::parse)?;
            (marker.request_uid == uid).then(|| Record {
                product_uid: k.product_uid.clone(),
                zone: marker.zone,
                vlan: k.vlan,
                speed_mbps: k.max_speed.unwrap_or(0),
                fingerprint: Some(crate::delivery::fingerprint(&k.key)),
                applied: None,
                attempted: None,
                updates: Vec::new(),
            })
        })
        .collect();
    records.sort_by(|a, b| (&a.zone, &a.product_uid).cmp(&(&b.zone, &b.product_uid)));
    records
}

/// Every key of request `uid`: carrying its marker, or named by its records' fingerprints (as
/// [`may_take_by_fingerprint`] allows).
pub fn keys_of_request<'a>(
    uid: &str,
    records: &[Record],
    keys: &'a [ServiceKey],
    claimed_elsewhere: &dyn Fn(&str) -> bool,
) -> Vec<&'a ServiceKey> {
    keys.iter()
        .filter(|k| {
            let marked = k
                .description
                .as_deref()
                .and_then(Marker::parse)
                .is_some_and(|m| m.request_uid == uid);
            marked || {
                let fp = crate::delivery::fingerprint(&k.key);
                may_take_by_fingerprint(k, uid, claimed_elsewhere)
                    && records
                        .iter()
                        .any(|r| r.fingerprint.as_deref() == Some(fp.as_str()))
            }
        })
        .collect()
}
