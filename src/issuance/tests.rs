//! Table tests of the pure core.

use std::collections::BTreeMap;

use super::*;
use crate::crd::conditions::{self, ConditionType, Reason};
use crate::crd::service_key_request::{
    IssuedKey, KeyState, Phase, ServiceKeyRequest, ServiceKeyRequestSpec, ServiceKeyRequestStatus,
};
use crate::delivery::Marker;
use crate::megaport::models::{EpochMillis, ServiceKey, ServiceKeyValue, ValidFor};
use crate::selection::Unavailable;

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

/// The request a fixture spec makes, with `uid`. Fixtures name their on-ramp "p1"; the
/// validation of uids is tested with the CRD.
pub(super) fn req_of(spec: &ServiceKeyRequestSpec, uid: &str) -> ValidatedRequest {
    let mut valid = spec.clone();
    if let Some(on_ramp) = valid.on_ramp.as_mut() {
        on_ramp.product_uid = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001".into();
    }
    let mut obj = ServiceKeyRequest::new("acme", valid);
    obj.metadata.uid = Some(uid.into());
    obj.metadata.namespace = Some("tenant".into());
    obj.metadata.generation = Some(1);
    let mut request = ValidatedRequest::new(&obj).unwrap_or_else(|p| panic!("{p:?}"));
    if let Some(on_ramp) = &spec.on_ramp {
        request.target = Target::OnRamp(on_ramp.product_uid.clone());
    }
    request
}

fn record() -> Record {
    Record {
        product_uid: "p1".into(),
        zone: "blue".into(),
        vlan: Some(100),
        speed_mbps: 10_000,
        fingerprint: None,
        applied: None,
        attempted: None,
        updates: Vec::new(),
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
        &req_of(&spec(), "victim"),
        &record(),
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
    assert!(keys_of_request("thief", std::slice::from_ref(&stolen), one, &victim_too).is_empty());
}

#[test]
fn desired_values_follow_the_spec() {
    let mut s = spec();
    let d = desired_key(&req_of(&s, UID), &record(), None, now(), false);
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
    let d = desired_key(
        &req_of(&s, UID),
        &record(),
        Some(EpochMillis(5_000)),
        now(),
        false,
    );
    assert_eq!(
        d.max_speed, 10_000,
        "the planned speed when the spec names none"
    );
    assert!(!d.active, "suspend turns keys off");
    assert_eq!(d.valid_until, Some(5_000 + 2 * 86_400_000));
    let d = desired_key(&req_of(&spec(), UID), &record(), None, now(), true);
    assert!(!d.active, "deletion turns keys off");
}

#[test]
fn validity_counts_from_the_window_start_and_use_is_dated() {
    let d = desired_key(&req_of(&spec(), UID), &record(), None, now(), false);
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
    let d = desired_key(&req_of(&spec(), UID), &record(), None, now(), false);
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
    let d = desired_key(&req_of(&spec(), UID), &record(), None, now(), false);
    let mut observed = key_like(&d);
    assert!(differences(&d, &observed).is_empty());
    assert_eq!(
        convergence(&d, &observed, Some(&d.digest()), KeyState::Active),
        Convergence::Keep
    );

    // Deactivated and slowed down in the Portal.
    observed.active = false;
    observed.max_speed = Some(100);
    let action = convergence(&d, &observed, Some(&d.digest()), KeyState::Deactivated);
    assert_eq!(
        action,
        Convergence::Restore(vec![
            "active is false, want true".into(),
            "maxSpeed is 100, want 500".into()
        ])
    );
    // The same difference after a spec change is an update, not drift.
    assert_eq!(
        convergence(&d, &observed, Some("0000"), KeyState::Deactivated),
        Convergence::Update
    );
    // A used single-use key is left alone.
    assert_eq!(
        convergence(&d, &observed, Some(&d.digest()), KeyState::Used),
        Convergence::Keep
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
    let d = desired_key(&req_of(&spec(), UID), &record(), None, now(), false);
    let mut observed = key_like(&d);
    observed.description = Some("secret text".into());
    observed.key = ServiceKeyValue::new("99999999-2222-4333-8444-555555555555");
    let diffs = differences(&d, &observed).join(" ");
    assert_eq!(diffs, "description was changed");
}

#[test]
fn key_states() {
    let d = desired_key(&req_of(&spec(), UID), &record(), None, now(), false);
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
        updates_last_30_days: None,
    }
}

fn observed(keys: Vec<IssuedKey>) -> StatusInputs {
    StatusInputs {
        progress: Progress::Done { note: None },
        keys,
        secret_name: "acme".into(),
        secret: SecretState::Synced,
        restored: vec![],
        suspended: false,
        keys_read_at: now(),
        connections: vec![],
    }
}

/// (status, reason, message) of condition `t`, when present.
fn condition(
    s: &ServiceKeyRequestStatus,
    t: ConditionType,
) -> Option<(Option<bool>, Option<Reason>, String)> {
    conditions::find(&s.conditions, t).map(|c| {
        (
            conditions::status_of(c),
            Reason::parse(&c.reason),
            c.message.clone(),
        )
    })
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
            conditions::is_true(&status.conditions, ConditionType::Ready),
            ready,
            "{states:?}"
        );
        assert_eq!(
            condition(&status, ConditionType::Stalled).is_some(),
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
    o.progress = Progress::Blocked(
        Blocker::Unavailable(Unavailable::VlanInUse(
            "VLAN 100 on LA1 is held by VXC x".into(),
        )),
        vec![],
    );
    let s = desired_status(None, Some(1), &o, now());
    assert_eq!(s.phase, Some(Phase::Pending));
    assert_eq!(
        condition(&s, ConditionType::Reconciling).unwrap().1,
        Some(Reason::VlanInUse)
    );
    assert!(condition(&s, ConditionType::Stalled).is_none());
    assert!(
        condition(&s, ConditionType::Ready)
            .unwrap()
            .2
            .contains("held by")
    );

    o.progress = Progress::Blocked(
        Blocker::Unavailable(Unavailable::DiversityUnavailable("only blue".into())),
        vec![],
    );
    let s = desired_status(Some(&s), Some(1), &o, now());
    assert_eq!(s.phase, Some(Phase::Failed));
    assert!(condition(&s, ConditionType::Reconciling).is_none());
    assert_eq!(condition(&s, ConditionType::Stalled).unwrap().0, Some(true));

    let mut o = observed(vec![issued(KeyState::Active, "blue")]);
    o.secret = SecretState::Conflict("Secret acme exists and is not managed".into());
    o.restored = vec!["sha256:0: active is false, want true".into()];
    let s = desired_status(None, Some(1), &o, now());
    let synced = condition(&s, ConditionType::SecretSynced).unwrap();
    assert_eq!(
        (synced.0, synced.1),
        (Some(false), Some(Reason::SecretConflict))
    );
    assert_eq!(
        condition(&s, ConditionType::Ready).unwrap().1,
        Some(Reason::SecretConflict)
    );
    assert_eq!(condition(&s, ConditionType::Drifted).unwrap().0, Some(true));

    o.secret = SecretState::Synced;
    o.restored.clear();
    o.suspended = true;
    // Until the keys are read again, the restore is not confirmed.
    o.keys_read_at = now() - jiff::SignedDuration::from_secs(1);
    let pending = desired_status(Some(&s), Some(1), &o, now());
    assert_eq!(
        condition(&pending, ConditionType::Drifted).unwrap().0,
        Some(true)
    );
    o.keys_read_at = now() + jiff::SignedDuration::from_secs(1);
    let s2 = desired_status(Some(&s), Some(1), &o, now());
    assert_eq!(s2.phase, Some(Phase::Suspended));
    assert_eq!(
        condition(&s2, ConditionType::Drifted).unwrap().0,
        Some(false)
    );
    assert!(status_changed(&s, &s2));
    assert!(!status_changed(
        &s2,
        &desired_status(Some(&s2), Some(1), &o, now())
    ));
}

#[test]
fn a_gone_key_fails_the_request() {
    let mut o = observed(vec![
        issued(KeyState::Gone, "blue"),
        issued(KeyState::Active, "red"),
    ]);
    o.progress = Progress::Blocked(
        Blocker::OnRampGone {
            fingerprint: "sha256:0".into(),
            on_ramp: "la1".into(),
        },
        vec![],
    );
    let s = desired_status(None, Some(1), &o, now());
    assert_eq!(s.phase, Some(Phase::Failed));
    assert_eq!(
        condition(&s, ConditionType::Ready).unwrap().1,
        Some(Reason::OnRampGone)
    );
    assert_eq!(condition(&s, ConditionType::Stalled).unwrap().0, Some(true));
}
