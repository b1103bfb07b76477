//! The pure core of a ServiceKeyRequest: what the operator recorded about its keys (the
//! annotation that survives a lost status), what each key should look like (the full object a
//! `PUT /v2/service/key` must carry), what changed outside the operator (drift), the state of
//! each key (Active, Used, Expired, Deactivated), and the request's phase and conditions.
//!
//! No IO: the controller observes Megaport and Kubernetes, calls these, and applies the result.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crd::conditions::{self, Desired, types};
use crate::crd::service_key_request::{
    Diversity, IssuedKey, KeyState, Phase, ServiceKeyRequestSpec, ServiceKeyRequestStatus,
};
use crate::delivery::Marker;
use crate::megaport::models::{EpochMillis, Product, ServiceKey, UpdateServiceKey, ValidFor};
use crate::onramp;

pub mod seal;

pub use seal::{RecordSeal, SEAL_ANNOTATION};

/// Annotation on the request: the keys planned and issued for it (JSON list of [`Record`]).
/// Written before a key is created and after, so the operator never loses track of a key,
/// whatever happens to the status.
pub const KEYS_ANNOTATION: &str = "megaport.onramp.dev/keys";
/// Annotation a human sets to `"true"` to let a request be deleted without touching its keys
/// (for when the Megaport credentials are gone).
pub const ABANDON_ANNOTATION: &str = "megaport.onramp.dev/abandon";

/// Condition types of a ServiceKeyRequest besides the shared ones.
pub mod condition {
    /// Every planned key exists in Megaport.
    pub const KEYS_ISSUED: &str = "KeysIssued";
    /// The Secret holds the keys.
    pub const SECRET_SYNCED: &str = "SecretSynced";
    /// A key was changed outside the operator (and restored).
    pub const DRIFTED: &str = "Drifted";
}

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

/// Whether a request asks for two keys.
pub fn wants_two(spec: &ServiceKeyRequestSpec) -> bool {
    spec.diversity.unwrap_or_default() != Diversity::None
}

// === desired key values ===

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
/// from `now`.
/// `deleting` turns the key off (deletion with policy Deactivate).
pub fn desired_key(
    spec: &ServiceKeyRequestSpec,
    record: &Record,
    request_uid: &str,
    created_at: Option<EpochMillis>,
    now: jiff::Timestamp,
    deleting: bool,
) -> DesiredKey {
    let validity = spec.validity.clone().unwrap_or_default();
    let from = validity.not_before.as_ref().map(|t| t.0.as_millisecond());
    let base = from
        .or(created_at.map(|c| c.0))
        .unwrap_or(now.as_millisecond());
    let until = match (&validity.not_after, &validity.duration) {
        (Some(t), _) => Some(t.0.as_millisecond()),
        (None, Some(d)) => parse_duration(d)
            .map(|d| base.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))),
        (None, None) => None,
    };
    DesiredKey {
        single_use: spec.single_use.unwrap_or(true),
        vlan: record.vlan,
        max_speed: spec.max_speed_mbps.unwrap_or(record.speed_mbps),
        active: !deleting && !spec.suspend.unwrap_or(false),
        pre_approved: spec.pre_approved.unwrap_or(false),
        description: record
            .marker(request_uid)
            .describe(spec.description.as_deref()),
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

/// What to do about one existing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyAction {
    /// Nothing: it matches.
    Keep,
    /// The spec changed since the last write: update in place.
    Update,
    /// It was changed outside the operator since the last write: restore, and say what changed.
    Restore(Vec<String>),
}

/// Decides what to do about a key given the desired values, what it looks like, and the digest
/// recorded at the last write. Used single-use keys are left alone (their use is final).
pub fn key_action(
    desired: &DesiredKey,
    observed: &ServiceKey,
    applied: Option<&str>,
    state: KeyState,
) -> KeyAction {
    if state == KeyState::Used && observed.single_use {
        return KeyAction::Keep;
    }
    let diffs = differences(desired, observed);
    if diffs.is_empty() {
        KeyAction::Keep
    } else if applied == Some(desired.digest().as_str()) {
        KeyAction::Restore(diffs)
    } else {
        KeyAction::Update
    }
}

// === candidates ===

/// A VLAN and capacity claimed by another request's records (planned or issued).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The on-ramp.
    pub product_uid: String,
    /// The VLAN claimed.
    pub vlan: Option<u16>,
    /// The speed planned.
    pub speed_mbps: u32,
    /// Whether its key exists (then the key itself counts, not the claim).
    pub issued: bool,
    /// Who holds it, for messages (`ServiceKeyRequest ns/name`).
    pub holder: String,
}

/// The selection's view of `on_ramps` (ranked): limits and capacity from the products, VLANs
/// taken by live VXCs, unused single-use keys and other requests' claims, and capacity
/// reserved by unused keys and unissued claims. `owners` maps request UIDs to names, so a
/// key's holder is named by its request when its marker says which.
pub fn candidates(
    on_ramps: &[crate::crd::onramp_region::OnRampStatus],
    products: &[Product],
    keys: &[ServiceKey],
    claims: &[Claim],
    owners: &BTreeMap<String, String>,
    now: EpochMillis,
) -> Vec<crate::selection::Candidate> {
    on_ramps
        .iter()
        .map(|status| {
            let uid = status.product_uid.as_str();
            let product = products.iter().find(|p| p.product_uid == uid);
            let limit = product.and_then(Product::max_connection_speed).unwrap_or(0);
            let capacity = product.and_then(|p| p.port_speed).unwrap_or(limit);
            let mut taken = BTreeMap::new();
            let mut reserved = 0u64;
            if let Some(product) = product {
                for vxc in onramp::live_vxcs(product) {
                    if let Some(vlan) = vxc
                        .end_on(uid)
                        .and_then(|end| end.vlan)
                        .and_then(|v| u16::try_from(v).ok())
                    {
                        taken.insert(
                            vlan,
                            format!("VXC {} ({})", vxc.product_name, vxc.product_uid),
                        );
                    }
                }
            }
            for key in keys.iter().filter(|k| k.product_uid == uid) {
                if key_state(key, now) != KeyState::Active {
                    continue;
                }
                reserved += u64::from(key.max_speed.unwrap_or(0));
                if let (true, Some(vlan)) = (key.single_use, key.vlan) {
                    let holder = key
                        .description
                        .as_deref()
                        .and_then(Marker::parse)
                        .and_then(|m| owners.get(&m.request_uid).cloned())
                        // Not a fingerprint: a tenant must not learn other keys' fingerprints.
                        .unwrap_or_else(|| "an unused single-use key".to_owned());
                    taken.entry(vlan).or_insert(holder);
                }
            }
            for claim in claims.iter().filter(|c| c.product_uid == uid) {
                if !claim.issued {
                    reserved += u64::from(claim.speed_mbps);
                }
                if let Some(vlan) = claim.vlan {
                    taken.entry(vlan).or_insert_with(|| claim.holder.clone());
                }
            }
            crate::selection::Candidate {
                status: status.clone(),
                limit_mbps: limit,
                capacity_mbps: capacity,
                reserved_mbps: reserved,
                taken_vlans: taken,
            }
        })
        .collect()
}

// === key state ===

/// The state of a key at `now`.
pub fn key_state(key: &ServiceKey, now: EpochMillis) -> KeyState {
    let ended = key
        .valid_for
        .as_ref()
        .and_then(|v| v.end)
        .is_some_and(|end| end.0 <= now.0);
    let expired = key.expired.unwrap_or(false) || ended;
    if key.single_use && key.last_used.is_some() {
        KeyState::Used
    } else if expired {
        KeyState::Expired
    } else if !key.active {
        KeyState::Deactivated
    } else if key.last_used.is_some() {
        KeyState::Used
    } else {
        KeyState::Active
    }
}

/// The VXC a used key was ordered into, when the provider's products show it: on the key's
/// product, on the key's VLAN for a single-use key (else created closest to `lastUsed`),
/// created no earlier than the key. Returns (VXC uid, the ordering company's name).
pub fn used_by(key: &ServiceKey, products: &[Product]) -> Option<(String, Option<String>)> {
    let last_used = key.last_used?;
    let product = products.iter().find(|p| p.product_uid == key.product_uid)?;
    let created = key.create_date.map_or(i64::MIN, |c| c.0);
    onramp::live_vxcs(product)
        .filter(|v| v.create_date.is_none_or(|c| c.0 >= created))
        .filter(|v| match key.vlan {
            Some(vlan) => v
                .end_on(&product.product_uid)
                .and_then(|end| end.vlan)
                .is_some_and(|x| x == i64::from(vlan)),
            None => true,
        })
        .min_by_key(|v| {
            v.create_date
                .map_or(i64::MAX, |c| (c.0 - last_used.0).abs())
        })
        .map(|v| (v.product_uid.clone(), v.company_name.clone()))
}

fn ms_time(ms: Option<EpochMillis>) -> Option<Time> {
    ms.and_then(EpochMillis::to_timestamp).map(Time)
}

/// The status entry of one key.
pub fn issued_key(
    key: &ServiceKey,
    fingerprint: String,
    on_ramp: Option<&crate::crd::onramp_region::OnRampStatus>,
    products: &[Product],
    now: EpochMillis,
) -> IssuedKey {
    let state = key_state(key, now);
    let (used_by_vxc, used_by_company) = match state {
        KeyState::Used => used_by(key, products).map_or((None, None), |(v, c)| (Some(v), c)),
        _ => (None, None),
    };
    IssuedKey {
        fingerprint,
        product_uid: key.product_uid.clone(),
        on_ramp: on_ramp
            .map(|o| o.name.clone())
            .or_else(|| key.product_name.clone()),
        location: on_ramp.and_then(|o| o.location.clone()),
        metro: on_ramp.and_then(|o| o.metro.clone()),
        diversity_zone: on_ramp.and_then(|o| o.diversity_zone.clone()),
        vlan: key.vlan,
        max_speed_mbps: key.max_speed,
        single_use: key.single_use,
        state,
        issued_at: ms_time(key.create_date),
        last_used_at: ms_time(key.last_used),
        expires_at: ms_time(key.valid_for.as_ref().and_then(|v| v.end)),
        used_by_vxc,
        used_by_company,
    }
}

// === phase and conditions ===

/// Where issuing stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Issuing {
    /// Every planned key exists. `note` explains fewer keys than asked (Preferred diversity).
    Done {
        /// Why one key instead of two.
        note: Option<String>,
    },
    /// Not (all) issued yet, and it can heal by itself (a VLAN holder going away, Megaport
    /// answering again, a region appearing).
    Waiting {
        /// CamelCase reason.
        reason: String,
        /// What is awaited.
        message: String,
    },
    /// Cannot be issued as asked: a human must change something.
    Blocked {
        /// CamelCase reason.
        reason: String,
        /// What is wrong.
        message: String,
    },
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
pub struct Observed {
    /// Issuing progress.
    pub issuing: Issuing,
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
}

/// The request's phase.
pub fn phase(observed: &Observed) -> Phase {
    let keys = &observed.keys;
    if keys.is_empty() {
        return match observed.issuing {
            Issuing::Blocked { .. } => Phase::Failed,
            _ => Phase::Pending,
        };
    }
    let count = |s: KeyState| keys.iter().filter(|k| k.state == s).count();
    if count(KeyState::Used) == keys.len() {
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

/// The status a request should have (pure). `previous` keeps transition times; a `Drifted`
/// condition raised earlier turns False once a later reconcile finds nothing to restore.
pub fn desired_status(
    previous: Option<&ServiceKeyRequestStatus>,
    generation: Option<i64>,
    observed: &Observed,
    now: jiff::Timestamp,
) -> ServiceKeyRequestStatus {
    let phase = phase(observed);
    let keys_issued = match &observed.issuing {
        Issuing::Done { note } => {
            let summary: Vec<String> = observed.keys.iter().map(key_summary).collect();
            let mut message = format!("{} key(s): {}", summary.len(), summary.join("; "));
            if let Some(note) = note {
                message.push_str(&format!(". {note}"));
            }
            Desired::yes(condition::KEYS_ISSUED, "Issued", message)
        }
        Issuing::Waiting { reason, message } | Issuing::Blocked { reason, message } => {
            Desired::no(condition::KEYS_ISSUED, reason.clone(), message.clone())
        }
    };
    let secret_synced = match &observed.secret {
        SecretState::Synced => Desired::yes(
            condition::SECRET_SYNCED,
            "Synced",
            format!(
                "Secret {} holds {} key(s)",
                observed.secret_name,
                observed.keys.len()
            ),
        ),
        SecretState::NoKeys => Desired::no(
            condition::SECRET_SYNCED,
            "NoKeys",
            format!("Secret {} is written once keys exist", observed.secret_name),
        ),
        SecretState::Conflict(why) => {
            Desired::no(condition::SECRET_SYNCED, "SecretConflict", why.clone())
        }
    };
    let earlier_drift = previous
        .and_then(|p| conditions::find(&p.conditions, condition::DRIFTED))
        // Condition times have whole seconds: a read in the second of the restore may predate it.
        .filter(|c| {
            let read = jiff::Timestamp::from_second(observed.keys_read_at.as_second())
                .unwrap_or(observed.keys_read_at);
            c.status == "True" && c.last_transition_time.0 >= read
        });
    let drifted = if let (true, Some(earlier)) = (observed.restored.is_empty(), earlier_drift) {
        // Restored after the keys were last read: True until a later read confirms it.
        Desired::yes(
            condition::DRIFTED,
            earlier.reason.clone(),
            earlier.message.clone(),
        )
    } else if observed.restored.is_empty() {
        Desired::no(
            condition::DRIFTED,
            "InSync",
            "the keys match the spec in Megaport",
        )
    } else {
        Desired::yes(
            condition::DRIFTED,
            "Restored",
            format!(
                "changed outside the operator, restored: {}",
                observed.restored.join("; ")
            ),
        )
    };

    let expired: Vec<&IssuedKey> = observed
        .keys
        .iter()
        .filter(|k| k.state == KeyState::Expired)
        .collect();
    let (ready, reconciling, stalled) = match (&observed.issuing, &observed.secret, phase) {
        (Issuing::Blocked { reason, message }, _, _) => (
            Desired::no(types::READY, reason.clone(), message.clone()),
            None,
            Some(Desired::yes(
                types::STALLED,
                reason.clone(),
                message.clone(),
            )),
        ),
        (Issuing::Waiting { reason, message }, _, _) => (
            Desired::no(types::READY, reason.clone(), message.clone()),
            Some(Desired::yes(
                types::RECONCILING,
                reason.clone(),
                message.clone(),
            )),
            None,
        ),
        (_, SecretState::Conflict(why), _) => (
            Desired::no(types::READY, "SecretConflict", why.clone()),
            None,
            Some(Desired::yes(types::STALLED, "SecretConflict", why.clone())),
        ),
        (_, _, Phase::Expired) => {
            let message = format!(
                "{} key(s) expired: {}; extend spec.validity or delete the request",
                expired.len(),
                expired
                    .iter()
                    .map(|k| key_summary(k))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            (
                Desired::no(types::READY, "KeysExpired", message.clone()),
                None,
                Some(Desired::yes(types::STALLED, "KeysExpired", message)),
            )
        }
        (_, _, phase) => (
            Desired::yes(
                types::READY,
                format!("{phase:?}"),
                match phase {
                    Phase::Used => "every key has been used".to_owned(),
                    Phase::PartiallyUsed => "some keys have been used".to_owned(),
                    Phase::Suspended => "keys are inactive (spec.suspend)".to_owned(),
                    _ => format!(
                        "{} key(s) issued and delivered in Secret {}",
                        observed.keys.len(),
                        observed.secret_name
                    ),
                },
            ),
            None,
            None,
        ),
    };
    let mut desired = vec![ready, keys_issued, secret_synced, drifted];
    desired.push(reconciling.unwrap_or_else(|| Desired::no(types::RECONCILING, "Done", "")));
    desired.push(stalled.unwrap_or_else(|| Desired::no(types::STALLED, "Done", "")));
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
    }
}

/// Whether two statuses differ in anything but condition transition times.
pub fn status_changed(a: &ServiceKeyRequestStatus, b: &ServiceKeyRequestStatus) -> bool {
    let strip = |s: &ServiceKeyRequestStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_transition_time = Time(jiff::Timestamp::UNIX_EPOCH);
        }
        s
    };
    strip(a) != strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::megaport::models::ServiceKeyValue;

    const UID: &str = "0b9f6c1e-52a4-4f0e-8e43-7d2a6c1b9e10";

    fn spec() -> ServiceKeyRequestSpec {
        serde_json::from_value(serde_json::json!({
            "onRamp": {"productUid": "p1"},
            "singleUse": true,
            "maxSpeedMbps": 500,
            "description": "Acme",
        }))
        .unwrap()
    }

    fn record() -> Record {
        Record {
            product_uid: "p1".into(),
            zone: "blue".into(),
            vlan: Some(100),
            speed_mbps: 10_000,
            fingerprint: None,
            applied: None,
        }
    }

    fn key_like(d: &DesiredKey) -> ServiceKey {
        serde_json::from_value(serde_json::json!({
            "key": "11111111-2222-4333-8444-555555555555",
            "productUid": "p1",
            "createDate": 1_000,
            "singleUse": d.single_use,
            "vlan": d.vlan,
            "maxSpeed": d.max_speed,
            "active": d.active,
            "preApproved": d.pre_approved,
            "description": d.description,
            "validFor": {"start": 1_000, "end": d.valid_until},
        }))
        .unwrap()
    }

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[test]
    fn records_round_trip_through_the_annotation() {
        let mut r = record();
        r.product_uid = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001".into();
        r.fingerprint = Some("sha256:0011223344556677".into());
        let text = render_records(std::slice::from_ref(&r));
        let annotations = BTreeMap::from([(KEYS_ANNOTATION.to_owned(), text)]);
        assert_eq!(parse_records(&annotations).unwrap(), vec![r.clone()]);
        // Hand-edited records of the wrong shape are refused, each saying which field.
        let edited = |f: &dyn Fn(&mut Record)| {
            let mut bad = r.clone();
            f(&mut bad);
            let text = render_records(&[bad]);
            parse_records(&BTreeMap::from([(KEYS_ANNOTATION.to_owned(), text)])).unwrap_err()
        };
        assert!(edited(&|b| b.product_uid = "p1".into()).contains("productUid"));
        assert!(edited(&|b| b.zone = "x]/[k8s:other".into()).contains("zone"));
        assert!(edited(&|b| b.fingerprint = Some("anything".into())).contains("fingerprint"));
        assert!(edited(&|b| b.vlan = Some(9000)).contains("vlan"));
        let three = render_records(&[r.clone(), r.clone(), r.clone()]);
        let three = BTreeMap::from([(KEYS_ANNOTATION.to_owned(), three)]);
        assert!(parse_records(&three).unwrap_err().contains("one or two"));
        assert!(parse_records(&BTreeMap::new()).unwrap().is_empty());
        let bad = BTreeMap::from([(KEYS_ANNOTATION.to_owned(), "{".to_owned())]);
        assert!(parse_records(&bad).unwrap_err().contains(KEYS_ANNOTATION));
    }

    #[test]
    fn a_key_marked_for_another_request_is_never_ours() {
        let mut key = key_like(&desired_key(
            &spec(),
            &record(),
            "victim",
            None,
            now(),
            false,
        ));
        let fp = crate::delivery::fingerprint(&key.key);
        let mut stolen = record();
        stolen.fingerprint = Some(fp.clone());
        let nobody = |_: &str| false;
        let victim_too = |f: &str| f == fp;
        let one = std::slice::from_ref(&key);
        assert!(may_take_by_fingerprint(&key, "victim", &nobody));
        assert!(!may_take_by_fingerprint(&key, "thief", &nobody));
        // A record naming the victim's key by fingerprint does not make it the thief's.
        assert!(keys_of_request("thief", std::slice::from_ref(&stolen), one, &nobody).is_empty());
        assert_eq!(keys_of_request("victim", &[], one, &nobody).len(), 1);
        // A key whose marker was removed in the Portal is found by its recorded fingerprint, by
        // its only claimant; when another request records it too, by neither.
        key.description = Some("edited in the Portal".into());
        let one = std::slice::from_ref(&key);
        assert_eq!(
            keys_of_request("victim", std::slice::from_ref(&stolen), one, &nobody).len(),
            1
        );
        assert!(
            keys_of_request("thief", std::slice::from_ref(&stolen), one, &victim_too).is_empty()
        );
    }

    #[test]
    fn desired_values_follow_the_spec() {
        let mut s = spec();
        let d = desired_key(&s, &record(), UID, None, now(), false);
        assert_eq!(d.max_speed, 500);
        assert!(d.active && d.single_use && !d.pre_approved);
        assert_eq!(d.vlan, Some(100));
        assert_eq!(Marker::parse(&d.description), Some(record().marker(UID)));
        assert!(d.description.starts_with("Acme "));
        assert_eq!((d.valid_from, d.valid_until), (None, None));

        s.max_speed_mbps = None;
        s.suspend = Some(true);
        s.validity = Some(crate::crd::service_key_request::Validity {
            not_before: None,
            not_after: None,
            duration: Some("2d".into()),
        });
        let d = desired_key(&s, &record(), UID, Some(EpochMillis(5_000)), now(), false);
        assert_eq!(
            d.max_speed, 10_000,
            "the planned speed when the spec names none"
        );
        assert!(!d.active, "suspend turns keys off");
        assert_eq!(d.valid_until, Some(5_000 + 2 * 86_400_000));
        let d = desired_key(&spec(), &record(), UID, None, now(), true);
        assert!(!d.active, "deletion turns keys off");
    }

    #[test]
    fn validity_counts_from_the_window_start_and_use_is_dated() {
        let d = desired_key(&spec(), &record(), UID, None, now(), false);
        let mut k = key_like(&d);
        assert_eq!(
            window_start(&k),
            Some(EpochMillis(1_000)),
            "validFor.start first"
        );
        k.valid_for = None;
        assert_eq!(
            window_start(&k),
            Some(EpochMillis(1_000)),
            "then the creation date"
        );
        let read = jiff::Timestamp::from_millisecond(5_000).unwrap();
        assert!(!used_since(&k, read));
        k.last_used = Some(EpochMillis(4_000));
        assert!(!used_since(&k, read));
        k.last_used = Some(EpochMillis(6_000));
        assert!(used_since(&k, read));
    }

    #[test]
    fn records_are_rebuilt_and_keys_found_by_marker_or_fingerprint() {
        let d = desired_key(&spec(), &record(), UID, None, now(), false);
        let mine = key_like(&d);
        let mut edited = key_like(&d);
        edited.key = ServiceKeyValue::new("22222222-2222-4333-8444-555555555555");
        edited.description = Some("edited in the Portal".into());
        let mut other = key_like(&d);
        other.key = ServiceKeyValue::new("33333333-2222-4333-8444-555555555555");
        other.description = Some(Marker::new("someone-else", Some("red")).describe(None));
        let keys = vec![mine.clone(), edited.clone(), other];

        let rebuilt = records_from_keys(UID, &keys);
        assert_eq!(rebuilt.len(), 1);
        assert_eq!(rebuilt[0].zone, "blue");
        assert_eq!(rebuilt[0].vlan, Some(100));
        assert_eq!(
            rebuilt[0].fingerprint,
            Some(crate::delivery::fingerprint(&mine.key))
        );

        let mut records = rebuilt;
        records.push(Record {
            fingerprint: Some(crate::delivery::fingerprint(&edited.key)),
            ..record()
        });
        let found = keys_of_request(UID, &records, &keys, &|_: &str| false);
        assert_eq!(
            found.len(),
            2,
            "marked, and named by a record despite the edit"
        );
        assert!(keys_of_request(UID, &[], &keys, &|_: &str| false).len() == 1);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("720h").unwrap().as_secs(), 720 * 3600);
        assert_eq!(parse_duration("30d").unwrap().as_secs(), 30 * 86_400);
        assert_eq!(parse_duration("90m").unwrap().as_secs(), 5_400);
        assert_eq!(parse_duration("45s").unwrap().as_secs(), 45);
        assert!(parse_duration("h").is_none());
        assert!(parse_duration("5w").is_none());
    }

    #[test]
    fn spec_changes_update_and_outside_changes_are_restored() {
        let d = desired_key(&spec(), &record(), UID, None, now(), false);
        let mut observed = key_like(&d);
        assert!(differences(&d, &observed).is_empty());
        assert_eq!(
            key_action(&d, &observed, Some(&d.digest()), KeyState::Active),
            KeyAction::Keep
        );

        // Deactivated and slowed down in the Portal.
        observed.active = false;
        observed.max_speed = Some(100);
        let action = key_action(&d, &observed, Some(&d.digest()), KeyState::Deactivated);
        assert_eq!(
            action,
            KeyAction::Restore(vec![
                "active is false, want true".into(),
                "maxSpeed is 100, want 500".into()
            ])
        );
        // The same difference after a spec change is an update, not drift.
        assert_eq!(
            key_action(&d, &observed, Some("0000"), KeyState::Deactivated),
            KeyAction::Update
        );
        // A used single-use key is left alone.
        assert_eq!(
            key_action(&d, &observed, Some(&d.digest()), KeyState::Used),
            KeyAction::Keep
        );
        // The PUT carries every field.
        let put = d.update_for(&observed);
        assert_eq!(put.max_speed, Some(500));
        assert!(put.active);
        assert_eq!(put.vlan, Some(100));
        assert_eq!(put.description.as_deref(), Some(d.description.as_str()));
        assert_eq!(put.valid_for.unwrap().start, Some(EpochMillis(1_000)));
    }

    #[test]
    fn differences_never_quote_the_key_or_description() {
        let d = desired_key(&spec(), &record(), UID, None, now(), false);
        let mut observed = key_like(&d);
        observed.description = Some("secret text".into());
        observed.key = ServiceKeyValue::new("99999999-2222-4333-8444-555555555555");
        let diffs = differences(&d, &observed).join(" ");
        assert_eq!(diffs, "description was changed");
    }

    #[test]
    fn key_states() {
        let d = desired_key(&spec(), &record(), UID, None, now(), false);
        let mut k = key_like(&d);
        let t = EpochMillis(10_000);
        assert_eq!(key_state(&k, t), KeyState::Active);
        k.active = false;
        assert_eq!(key_state(&k, t), KeyState::Deactivated);
        k.valid_for = Some(ValidFor {
            start: Some(EpochMillis(0)),
            end: Some(EpochMillis(9_000)),
        });
        assert_eq!(key_state(&k, t), KeyState::Expired);
        k.last_used = Some(EpochMillis(8_000));
        assert_eq!(
            key_state(&k, t),
            KeyState::Used,
            "a used single-use key stays Used"
        );
        k.single_use = false;
        assert_eq!(key_state(&k, t), KeyState::Expired);
        k.valid_for = None;
        k.active = true;
        assert_eq!(key_state(&k, t), KeyState::Used);
    }

    fn issued(state: KeyState, zone: &str) -> IssuedKey {
        IssuedKey {
            fingerprint: "sha256:0".into(),
            product_uid: "p".into(),
            on_ramp: Some(format!("LA {zone}")),
            location: None,
            metro: None,
            diversity_zone: Some(zone.into()),
            vlan: Some(100),
            max_speed_mbps: Some(500),
            single_use: true,
            state,
            issued_at: None,
            last_used_at: None,
            expires_at: None,
            used_by_vxc: None,
            used_by_company: None,
        }
    }

    fn observed(keys: Vec<IssuedKey>) -> Observed {
        Observed {
            issuing: Issuing::Done { note: None },
            keys,
            secret_name: "acme".into(),
            secret: SecretState::Synced,
            restored: vec![],
            suspended: false,
            keys_read_at: now(),
        }
    }

    fn condition<'a>(
        s: &'a ServiceKeyRequestStatus,
        t: &str,
    ) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
        conditions::find(&s.conditions, t)
    }

    #[test]
    fn phases_and_ready() {
        let cases = [
            (
                vec![KeyState::Active, KeyState::Active],
                Phase::Issued,
                true,
            ),
            (
                vec![KeyState::Used, KeyState::Active],
                Phase::PartiallyUsed,
                true,
            ),
            (vec![KeyState::Used, KeyState::Used], Phase::Used, true),
            (
                vec![KeyState::Expired, KeyState::Used],
                Phase::Expired,
                false,
            ),
        ];
        for (states, want, ready) in cases {
            let keys = states
                .iter()
                .zip(["blue", "red"])
                .map(|(s, z)| issued(*s, z))
                .collect();
            let status = desired_status(None, Some(3), &observed(keys), now());
            assert_eq!(status.phase, Some(want), "{states:?}");
            assert_eq!(
                conditions::is_true(&status.conditions, types::READY),
                ready,
                "{states:?}"
            );
            assert_eq!(
                condition(&status, types::STALLED).is_some(),
                want == Phase::Expired
            );
            assert_eq!(status.zones.as_deref(), Some("blue,red"));
            assert_eq!(status.key_count, Some(2));
            assert!(
                status
                    .conditions
                    .iter()
                    .all(|c| c.observed_generation == Some(3))
            );
        }
    }

    #[test]
    fn waiting_blocked_conflict_and_drift_conditions() {
        let mut o = observed(vec![]);
        o.issuing = Issuing::Waiting {
            reason: "VlanInUse".into(),
            message: "VLAN 100 on LA1 is held by VXC x".into(),
        };
        let s = desired_status(None, Some(1), &o, now());
        assert_eq!(s.phase, Some(Phase::Pending));
        assert_eq!(
            condition(&s, types::RECONCILING).unwrap().reason,
            "VlanInUse"
        );
        assert!(condition(&s, types::STALLED).is_none());
        assert!(
            condition(&s, types::READY)
                .unwrap()
                .message
                .contains("held by")
        );

        o.issuing = Issuing::Blocked {
            reason: "DiversityUnavailable".into(),
            message: "only blue".into(),
        };
        let s = desired_status(Some(&s), Some(1), &o, now());
        assert_eq!(s.phase, Some(Phase::Failed));
        assert!(condition(&s, types::RECONCILING).is_none());
        assert_eq!(condition(&s, types::STALLED).unwrap().status, "True");

        let mut o = observed(vec![issued(KeyState::Active, "blue")]);
        o.secret = SecretState::Conflict("Secret acme exists and is not managed".into());
        o.restored = vec!["sha256:0: active is false, want true".into()];
        let s = desired_status(None, Some(1), &o, now());
        let synced = condition(&s, condition::SECRET_SYNCED).unwrap();
        assert_eq!(
            (synced.status.as_str(), synced.reason.as_str()),
            ("False", "SecretConflict")
        );
        assert_eq!(
            condition(&s, types::READY).unwrap().reason,
            "SecretConflict"
        );
        assert_eq!(condition(&s, condition::DRIFTED).unwrap().status, "True");

        o.secret = SecretState::Synced;
        o.restored.clear();
        o.suspended = true;
        // Until the keys are read again, the restore is not confirmed.
        o.keys_read_at = now() - jiff::SignedDuration::from_secs(1);
        let pending = desired_status(Some(&s), Some(1), &o, now());
        assert_eq!(
            condition(&pending, condition::DRIFTED).unwrap().status,
            "True"
        );
        o.keys_read_at = now() + jiff::SignedDuration::from_secs(1);
        let s2 = desired_status(Some(&s), Some(1), &o, now());
        assert_eq!(s2.phase, Some(Phase::Suspended));
        assert_eq!(condition(&s2, condition::DRIFTED).unwrap().status, "False");
        assert!(status_changed(&s, &s2));
        assert!(!status_changed(
            &s2,
            &desired_status(Some(&s2), Some(1), &o, now())
        ));
    }
}
