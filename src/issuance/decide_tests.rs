//! Table tests of [`super::decide`] and the key lifecycle: one case per situation a reconcile
//! meets, each naming what it proves.

use serde_json::{Value, json};

use super::claims::{Hold, Usage, key_holder};
use super::decide::{Planning, decide_deletion, reads};
use super::tests::req_of;
use super::*;
use crate::crd::onramp_region::VlanRange;
use crate::crd::service_key_request::{DeletionPolicy, ServiceKeyRequestSpec};
use crate::delivery::{Marker, fingerprint};
use crate::megaport::models::{EpochMillis, Product, ServiceKey, ServiceKeyValue};
use crate::onramp::on_ramp_status;
use std::collections::BTreeMap;

// What the keys snapshot and the claim ledger keep summed, computed here from lists.

/// A VLAN and capacity claimed by another request's records (planned or issued).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Claim {
    /// The on-ramp.
    product_uid: String,
    /// The VLAN claimed.
    vlan: Option<u16>,
    /// The speed planned.
    speed_mbps: u32,
    /// Whether its key exists (then the key itself counts, not the claim).
    issued: bool,
    /// Who holds it, for messages (`ServiceKeyRequest ns/name`).
    holder: String,
}

/// The usage of `keys` and `claims` per on-ramp at `now` (what the stores keep up to date,
/// computed from lists).
fn usage_of(keys: &[&ServiceKey], claims: &[Claim], now: EpochMillis) -> BTreeMap<String, Usage> {
    let mut usage: BTreeMap<String, Usage> = BTreeMap::new();
    for key in keys {
        if let Some(hold) = Hold::of_key(key, now) {
            usage.entry(key.product_uid.clone()).or_default().add(hold);
        }
    }
    for c in claims {
        let hold = Hold::of_record(c.vlan, c.speed_mbps, c.issued);
        usage.entry(c.product_uid.clone()).or_default().add(hold);
    }
    usage
}

/// Who holds `vlan` on `on_ramp` among `keys` and `claims` (a key's holder is named by its
/// marker's request through `name_of`; never by a fingerprint: a tenant must not learn other
/// keys' fingerprints).
fn holder_in(
    keys: &[&ServiceKey],
    claims: &[Claim],
    on_ramp: &str,
    vlan: u16,
    name_of: &dyn Fn(&str) -> Option<String>,
    now: EpochMillis,
) -> Option<String> {
    let key = keys.iter().find(|k| {
        k.product_uid == on_ramp && Hold::of_key(k, now).is_some_and(|h| h.vlan == Some(vlan))
    });
    if let Some(key) = key {
        return Some(key_holder(key, name_of));
    }
    claims
        .iter()
        .find(|c| c.product_uid == on_ramp && c.vlan == Some(vlan))
        .map(|c| c.holder.clone())
}

const UID: &str = "0b9f6c1e-52a4-4f0e-8e43-7d2a6c1b9e10";
const LA1: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001";
const LA2: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0002";

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000).unwrap_or_default()
}

fn port(uid: &str, zone: &str, vlans: &[i64]) -> Product {
    let vxcs: Vec<Value> = vlans
        .iter()
        .map(|v| json!({"productUid": format!("vxc-{v}"), "productName": format!("vxc {v}"), "productType": "VXC",
            "rateLimit": 100, "provisioningStatus": "LIVE",
            "aEnd": {"productUid": "customer", "vlan": 10}, "bEnd": {"productUid": uid, "vlan": v}}))
        .collect();
    serde_json::from_value(json!({
        "productUid": uid, "productName": format!("port-{zone}"), "productType": "MEGAPORT",
        "provisioningStatus": "LIVE", "portSpeed": 10000, "locationId": 59, "vxcpermitted": true,
        "diversityZone": zone, "locationDetail": {"name": "Equinix LA1", "metro": "Los Angeles", "country": "USA"},
        "associatedVxcs": vxcs,
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn scope(products: &[Product]) -> Scope {
    Scope {
        on_ramps: products
            .iter()
            .map(|p| on_ramp_status(p, VlanRange::FULL))
            .collect(),
        vlan_range: VlanRange { min: 100, max: 999 },
    }
}

fn spec(value: Value) -> ServiceKeyRequestSpec {
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
}

fn region_spec() -> ServiceKeyRequestSpec {
    spec(json!({"regionRef": {"name": "us-west"}, "maxSpeedMbps": 500, "description": "Acme"}))
}

fn record(product: &str, zone: &str, vlan: u16) -> Record {
    Record {
        product_uid: product.into(),
        zone: zone.into(),
        vlan: Some(vlan),
        speed_mbps: 10_000,
        fingerprint: None,
        applied: None,
        attempted: None,
        updates: Vec::new(),
    }
}

/// The key Megaport would hold for `record` of `request`, as created (n distinguishes keys).
fn key_for(request: &ValidatedRequest, record: &Record, n: u8) -> ServiceKey {
    let d = desired_key(request, record, None, now(), false);
    serde_json::from_value(json!({
        "key": format!("{n}{n}{n}{n}{n}{n}{n}{n}-2222-4333-8444-555555555555"),
        "productUid": record.product_uid, "createDate": 1_000, "singleUse": d.single_use,
        "vlan": d.vlan, "maxSpeed": d.max_speed, "active": d.active, "preApproved": d.pre_approved,
        "description": d.description, "validFor": {"start": 1_000, "end": d.valid_until},
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A record as the operator saves it once its key exists (fingerprint and applied digest).
fn issued(request: &ValidatedRequest, record: &Record, key: &ServiceKey) -> Record {
    let d = desired_key(request, record, Some(EpochMillis(1_000)), now(), false);
    Record {
        fingerprint: Some(fingerprint(&key.key)),
        applied: Some(d.digest()),
        ..record.clone()
    }
}

/// One situation.
struct Case {
    request: ValidatedRequest,
    records: Vec<Record>,
    keys: Vec<ServiceKey>,
    products: Vec<Product>,
    claims: Vec<Claim>,
    secret: SecretSeen,
    gone: Vec<String>,
}

impl Case {
    fn new(request: ValidatedRequest) -> Self {
        Self {
            request,
            records: Vec::new(),
            keys: Vec::new(),
            // Ranked as the region ranks them: the least used first.
            products: vec![port(LA2, "red", &[]), port(LA1, "blue", &[101])],
            claims: Vec::new(),
            secret: SecretSeen::Absent { refusal: None },
            gone: Vec::new(),
        }
    }

    /// What the observer gives a plan: the scope's on-ramps as the selection sees them.
    fn planning(&self) -> Planning {
        let keys: Vec<&ServiceKey> = self.keys.iter().collect();
        let at = crate::megaport::models::EpochMillis::from_timestamp(now());
        let usage = usage_of(&keys, &self.claims, at);
        let holder_of =
            |on_ramp: &str, vlan: u16| holder_in(&keys, &self.claims, on_ramp, vlan, &|_| None, at);
        Planning {
            candidates: candidates(
                &scope(&self.products).on_ramps,
                &self.products,
                &usage,
                &holder_of,
                self.request.vlan,
            ),
        }
    }

    /// Decides, reading what the observer would read.
    fn decide(&self) -> Decision {
        let (create, plan) = reads(&self.request, &self.records, &self.keys);
        let nobody = |_: &str| false;
        decide(
            &Observed {
                request: &self.request,
                records: &self.records,
                keys: &self.keys,
                claimed_elsewhere: &nobody,
                scope: create.then(|| Ok(scope(&self.products))),
                planning: plan.then(|| self.planning()),
                secret: if create {
                    self.secret.clone()
                } else {
                    SecretSeen::NotRead
                },
                update_spacing_ms: 300_000,
                gone_on_ramps: &self.gone,
            },
            now(),
        )
    }
}

fn actions(d: &Decision) -> Vec<&'static str> {
    d.steps
        .iter()
        .map(|s| match s.action {
            KeyAction::Create { .. } => "create",
            KeyAction::Keep(_) => "keep",
            KeyAction::Update { .. } => "update",
            KeyAction::Restore { .. } => "restore",
            KeyAction::Deactivate { .. } => "deactivate",
            KeyAction::Leave(_) => "leave",
            KeyAction::Missing { .. } => "missing",
        })
        .collect()
}

fn reasons(d: &Decision) -> Vec<crate::crd::conditions::Reason> {
    d.blockers.iter().map(Blocker::reason).collect()
}

/// A request with one issued key on LA1 VLAN 100, as the operator left it.
fn issued_case(spec: ServiceKeyRequestSpec) -> (Case, ServiceKey) {
    let mut case = Case::new(req_of(&spec, UID));
    let r = record(LA1, "blue", 100);
    let key = key_for(&case.request, &r, 1);
    case.records = vec![issued(&case.request, &r, &key)];
    case.keys = vec![key.clone()];
    (case, key)
}

#[test]
fn first_plan_picks_the_best_ranked_on_ramp_and_a_free_vlan() {
    let d = Case::new(req_of(&region_spec(), UID)).decide();
    assert!(d.save_first, "the plan is saved before any key exists");
    assert_eq!(d.records.len(), 1);
    assert_eq!(d.records[0].product_uid, LA2, "ranked first (no VXC)");
    assert_eq!(d.records[0].vlan, Some(100));
    assert_eq!(actions(&d), ["create"]);
    assert!(d.blockers.is_empty() && d.note.is_none());
}

#[test]
fn the_create_carries_the_marker_speed_and_vlan() {
    let d = Case::new(req_of(&region_spec(), UID)).decide();
    let KeyAction::Create { create, .. } = &d.steps[0].action else {
        panic!("{:?}", d.steps)
    };
    assert_eq!(create.max_speed, 500);
    assert_eq!(create.vlan, Some(100));
    let marker = create.description.as_deref().and_then(Marker::parse);
    assert_eq!(marker.map(|m| m.request_uid), Some(UID.to_owned()));
    assert!(create.single_use && create.active && !create.pre_approved);
}

#[test]
fn an_automatic_vlan_avoids_vxcs_and_other_requests_claims() {
    let mut case = Case::new(req_of(&region_spec(), UID));
    case.products = vec![port(LA1, "blue", &[100, 101])];
    case.claims = vec![Claim {
        product_uid: LA1.into(),
        vlan: Some(102),
        speed_mbps: 100,
        issued: false,
        holder: "ServiceKeyRequest tenant/other".into(),
    }];
    let d = case.decide();
    assert_eq!(d.records[0].vlan, Some(103));
}

#[test]
fn a_diverse_request_plans_one_key_per_zone() {
    let spec = spec(
        json!({"regionRef": {"name": "us-west"}, "diversity": "Required", "maxSpeedMbps": 500}),
    );
    let d = Case::new(req_of(&spec, UID)).decide();
    let zones: Vec<&str> = d.records.iter().map(|r| r.zone.as_str()).collect();
    assert_eq!(zones, ["red", "blue"]);
    assert_eq!(actions(&d), ["create", "create"]);
}

#[test]
fn preferred_with_one_zone_plans_one_key_with_the_note() {
    let spec = spec(
        json!({"regionRef": {"name": "us-west"}, "diversity": "Preferred", "maxSpeedMbps": 500}),
    );
    let mut case = Case::new(req_of(&spec, UID));
    case.products = vec![port(LA1, "blue", &[])];
    let d = case.decide();
    assert_eq!(d.records.len(), 1);
    assert!(d.blockers.is_empty());
    assert!(
        d.note
            .as_deref()
            .is_some_and(|n| n.contains("only zone blue")),
        "{:?}",
        d.note
    );
}

#[test]
fn required_with_one_zone_is_blocked_and_stalls() {
    let spec = spec(
        json!({"regionRef": {"name": "us-west"}, "diversity": "Required", "maxSpeedMbps": 500}),
    );
    let mut case = Case::new(req_of(&spec, UID));
    case.products = vec![port(LA1, "blue", &[])];
    let d = case.decide();
    assert!(d.records.is_empty() && d.steps.is_empty());
    assert_eq!(
        reasons(&d),
        [crate::crd::conditions::Reason::DiversityUnavailable]
    );
    assert!(!d.blockers[0].heals_by_itself());
}

#[test]
fn an_explicit_vlan_held_by_another_request_waits_naming_it() {
    let spec = spec(json!({"onRamp": {"productUid": LA1}, "vlan": 150, "maxSpeedMbps": 100}));
    let mut case = Case::new(req_of(&spec, UID));
    case.request.target = Target::OnRamp(LA1.into());
    case.products = vec![port(LA1, "blue", &[])];
    case.claims = vec![Claim {
        product_uid: LA1.into(),
        vlan: Some(150),
        speed_mbps: 100,
        issued: false,
        holder: "ServiceKeyRequest tenant/first".into(),
    }];
    let d = case.decide();
    assert_eq!(reasons(&d), [crate::crd::conditions::Reason::VlanInUse]);
    assert!(
        d.blockers[0].heals_by_itself(),
        "it heals when the holder goes"
    );
    assert!(
        d.blockers[0]
            .to_string()
            .contains("ServiceKeyRequest tenant/first")
    );
}

#[test]
fn an_explicit_vlan_freed_by_its_holder_is_planned() {
    let spec = spec(json!({"onRamp": {"productUid": LA1}, "vlan": 150, "maxSpeedMbps": 100}));
    let mut case = Case::new(req_of(&spec, UID));
    case.request.target = Target::OnRamp(LA1.into());
    case.products = vec![port(LA1, "blue", &[])];
    let d = case.decide();
    assert_eq!(d.records[0].vlan, Some(150));
    assert_eq!(actions(&d), ["create"]);
}

#[test]
fn an_explicit_vlan_on_a_vxc_waits_naming_the_vxc() {
    let spec = spec(json!({"onRamp": {"productUid": LA1}, "vlan": 101, "maxSpeedMbps": 100}));
    let mut case = Case::new(req_of(&spec, UID));
    case.request.target = Target::OnRamp(LA1.into());
    case.products = vec![port(LA1, "blue", &[101])];
    let d = case.decide();
    assert_eq!(reasons(&d), [crate::crd::conditions::Reason::VlanInUse]);
    assert!(
        d.blockers[0].to_string().contains("VXC"),
        "{}",
        d.blockers[0]
    );
}

#[test]
fn a_speed_no_on_ramp_carries_is_blocked() {
    let spec = spec(json!({"regionRef": {"name": "us-west"}, "maxSpeedMbps": 40000}));
    let d = Case::new(req_of(&spec, UID)).decide();
    assert_eq!(
        reasons(&d),
        [crate::crd::conditions::Reason::NoFittingOnRamp]
    );
}

#[test]
fn a_region_that_does_not_exist_waits() {
    let case = Case::new(req_of(&region_spec(), UID));
    let nobody = |_: &str| false;
    let d = decide(
        &Observed {
            request: &case.request,
            records: &[],
            keys: &[],
            claimed_elsewhere: &nobody,
            scope: Some(Err(Blocker::RegionNotFound {
                region: "us-west".into(),
            })),
            planning: Some(Planning::default()),
            secret: SecretSeen::NotRead,
            update_spacing_ms: 300_000,
            gone_on_ramps: &[],
        },
        now(),
    );
    assert_eq!(
        reasons(&d),
        [crate::crd::conditions::Reason::RegionNotFound]
    );
    assert!(d.blockers[0].heals_by_itself());
}

#[test]
fn a_foreign_secret_refuses_every_create() {
    let spec = spec(
        json!({"regionRef": {"name": "us-west"}, "diversity": "Required", "maxSpeedMbps": 500}),
    );
    let mut case = Case::new(req_of(&spec, UID));
    case.secret = SecretSeen::Foreign;
    let d = case.decide();
    assert_eq!(d.records.len(), 2, "two keys planned, in two zones");
    assert!(
        d.steps.is_empty(),
        "no key for a request that cannot receive it"
    );
    assert_eq!(
        reasons(&d),
        [crate::crd::conditions::Reason::SecretConflict]
    );
    assert!(
        d.save_first,
        "the plan is still recorded (its VLAN stays claimed)"
    );
}

#[test]
fn a_secret_the_apiserver_refuses_refuses_every_create() {
    let mut case = Case::new(req_of(&region_spec(), UID));
    case.secret = SecretSeen::Absent {
        refusal: Some("exceeded quota: no-secrets".into()),
    };
    let d = case.decide();
    assert!(d.steps.is_empty());
    assert_eq!(reasons(&d), [crate::crd::conditions::Reason::SecretRefused]);
    assert!(d.blockers[0].to_string().contains("exceeded quota"));
}

#[test]
fn a_record_outside_the_scope_is_never_created() {
    let mut case = Case::new(req_of(&region_spec(), UID));
    case.records = vec![record("1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0099", "-", 100)];
    let d = case.decide();
    assert!(d.steps.is_empty());
    assert_eq!(
        reasons(&d),
        [crate::crd::conditions::Reason::RecordOutsideSpec]
    );
}

#[test]
fn a_planned_key_is_created_from_its_record_after_recording_the_attempt() {
    let mut case = Case::new(req_of(&region_spec(), UID));
    case.records = vec![record(LA1, "blue", 300)];
    let d = case.decide();
    let KeyAction::Create { create, search } = &d.steps[0].action else {
        panic!("{:?}", d.steps)
    };
    assert_eq!((create.product_uid.as_str(), create.vlan), (LA1, Some(300)));
    assert!(!search, "no earlier attempt: straight out, one call");
    assert!(
        d.save_first && d.records[0].attempted.is_some(),
        "the attempt is saved first"
    );
}

#[test]
fn a_first_plan_records_its_attempt_with_the_plan() {
    let d = Case::new(req_of(&region_spec(), UID)).decide();
    assert!(d.save_first);
    assert_eq!(d.records[0].attempted, Some(now().as_millisecond()));
    assert!(matches!(
        d.steps[0].action,
        KeyAction::Create { search: false, .. }
    ));
}

#[test]
fn an_attempt_of_unknown_outcome_is_searched_before_creating_again() {
    let mut case = Case::new(req_of(&region_spec(), UID));
    case.records = vec![Record {
        attempted: Some(1_000),
        ..record(LA1, "blue", 300)
    }];
    let d = case.decide();
    assert!(matches!(
        d.steps[0].action,
        KeyAction::Create { search: true, .. }
    ));
    assert!(!d.save_first, "the attempt is recorded already");
}

#[test]
fn a_refused_secret_records_no_attempt() {
    let mut case = Case::new(req_of(&region_spec(), UID));
    case.secret = SecretSeen::Foreign;
    let d = case.decide();
    assert!(
        d.records.iter().all(|r| r.attempted.is_none()),
        "nothing is sent"
    );
}

#[test]
fn a_key_created_before_a_lost_answer_is_adopted_by_its_marker() {
    let mut case = Case::new(req_of(&region_spec(), UID));
    let r = record(LA1, "blue", 300);
    case.keys = vec![key_for(&case.request, &r, 1)];
    case.records = vec![r];
    let d = case.decide();
    assert_eq!(actions(&d), ["keep"]);
    assert!(
        d.steps[0].adopted,
        "found by its marker, not by a recorded fingerprint"
    );
}

#[test]
fn lost_records_are_rebuilt_from_the_markers_and_nothing_is_created() {
    let request = req_of(&region_spec(), UID);
    let mut case = Case::new(request.clone());
    let r = record(LA1, "blue", 300);
    case.keys = vec![key_for(&request, &r, 1)];
    let (create, plan) = reads(&case.request, &case.records, &case.keys);
    assert!(
        !create && !plan,
        "nothing to plan or create: no region, Secret or claims read"
    );
    let d = case.decide();
    assert!(d.save_first, "the rebuilt records are written back");
    assert_eq!(
        d.records[0].fingerprint,
        Some(fingerprint(&case.keys[0].key))
    );
    assert_eq!(actions(&d), ["keep"]);
}

#[test]
fn an_issued_key_that_matches_is_kept() {
    let (case, _) = issued_case(region_spec());
    let d = case.decide();
    assert_eq!(actions(&d), ["keep"]);
    assert!(!d.steps[0].adopted && !d.save_first && d.blockers.is_empty());
}

#[test]
fn a_spec_change_updates_the_key_in_place() {
    let (mut case, _) = issued_case(region_spec());
    case.request.max_speed_mbps = Some(1000);
    let d = case.decide();
    let KeyAction::Update { put, .. } = &d.steps[0].action else {
        panic!("{:?}", actions(&d))
    };
    assert_eq!(put.max_speed, Some(1000));
    assert_eq!(put.vlan, Some(100), "the PUT carries every field");
    assert!(put.description.is_some());
}

#[test]
fn a_change_made_in_the_portal_is_restored_saying_what_changed() {
    let (mut case, _) = issued_case(region_spec());
    case.keys[0].active = false;
    case.keys[0].max_speed = Some(100);
    let d = case.decide();
    let KeyAction::Restore { put, changes, .. } = &d.steps[0].action else {
        panic!("{:?}", actions(&d))
    };
    assert!(put.active && put.max_speed == Some(500));
    assert_eq!(
        changes,
        &["active is false, want true", "maxSpeed is 100, want 500"]
    );
}

#[test]
fn suspend_turns_the_key_off_as_a_spec_change() {
    let (mut case, _) = issued_case(region_spec());
    case.request.suspend = true;
    let d = case.decide();
    let KeyAction::Update { put, .. } = &d.steps[0].action else {
        panic!("{:?}", actions(&d))
    };
    assert!(!put.active);
}

#[test]
fn a_used_single_use_key_is_left_alone() {
    let (mut case, _) = issued_case(region_spec());
    case.keys[0].last_used = Some(EpochMillis(2_000));
    case.keys[0].max_speed = Some(100);
    let d = case.decide();
    assert_eq!(
        actions(&d),
        ["keep"],
        "its use is final, even if it differs"
    );
}

#[test]
fn an_expired_key_is_kept_and_reported_by_its_state() {
    let (mut case, _) = issued_case(spec(
        json!({"regionRef": {"name": "us-west"}, "maxSpeedMbps": 500,
        "description": "Acme", "validity": {"notAfter": "2026-01-01T00:00:00Z"}}),
    ));
    let end = case.request.not_after;
    case.keys[0].valid_for = Some(crate::megaport::models::ValidFor {
        start: Some(EpochMillis(1_000)),
        end: end.map(EpochMillis),
    });
    case.records[0].applied = Some(
        desired_key(
            &case.request,
            &case.records[0],
            Some(EpochMillis(1_000)),
            now(),
            false,
        )
        .digest(),
    );
    let d = case.decide();
    assert_eq!(actions(&d), ["keep"]);
    assert_eq!(
        key_state(&case.keys[0], EpochMillis::from_timestamp(now())),
        crate::crd::service_key_request::KeyState::Expired
    );
}

#[test]
fn a_recorded_key_gone_from_the_list_is_searched_and_never_replaced() {
    let (mut case, _) = issued_case(region_spec());
    case.keys.clear();
    let d = case.decide();
    assert_eq!(
        actions(&d),
        ["missing"],
        "no create: a customer may hold the key"
    );
    let (create, _) = reads(&case.request, &case.records, &case.keys);
    assert!(!create);
}

#[test]
fn another_requests_key_is_not_taken_by_a_copied_fingerprint() {
    let (victim, key) = issued_case(region_spec());
    let mut thief = Case::new(req_of(&region_spec(), "thief"));
    thief.records = victim.records.clone();
    thief.keys = vec![key];
    let d = thief.decide();
    assert_eq!(
        actions(&d),
        ["missing"],
        "the victim's marker makes it the victim's"
    );
}

#[test]
fn deletion_deactivates_active_keys_with_policy_deactivate() {
    let (case, key) = issued_case(region_spec());
    let nobody = |_: &str| false;
    let actions = decide_deletion(
        UID,
        DeletionPolicy::Deactivate,
        &case.records,
        &case.keys,
        &nobody,
        &[],
        now(),
    );
    let [KeyAction::Deactivate { put, .. }] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    assert!(!put.active);
    assert_eq!(
        (put.max_speed, put.vlan),
        (key.max_speed, key.vlan),
        "every other field kept"
    );
}

#[test]
fn deletion_leaves_keys_with_policy_retain_or_nothing_to_turn_off() {
    let (mut case, _) = issued_case(region_spec());
    let nobody = |_: &str| false;
    let retain = decide_deletion(
        UID,
        DeletionPolicy::Retain,
        &case.records,
        &case.keys,
        &nobody,
        &[],
        now(),
    );
    assert!(matches!(retain.as_slice(), [KeyAction::Leave(_)]));
    case.keys[0].active = false;
    let off = decide_deletion(
        UID,
        DeletionPolicy::Deactivate,
        &case.records,
        &case.keys,
        &nobody,
        &[],
        now(),
    );
    assert!(matches!(off.as_slice(), [KeyAction::Leave(_)]));
    // A key on a decommissioned on-ramp is left as it is (Megaport refuses to change it).
    case.keys[0].active = true;
    let gone = [case.keys[0].product_uid.clone()];
    let left = decide_deletion(
        UID,
        DeletionPolicy::Deactivate,
        &case.records,
        &case.keys,
        &nobody,
        &gone,
        now(),
    );
    assert!(matches!(left.as_slice(), [KeyAction::Leave(_)]));
}

#[test]
fn deletion_finds_keys_by_marker_without_records_and_ignores_others() {
    let (case, _) = issued_case(region_spec());
    let mut other = case.keys[0].clone();
    other.key = ServiceKeyValue::new("99999999-2222-4333-8444-555555555555");
    other.description = Some(Marker::new("someone-else", Some("blue")).describe(None));
    let nobody = |_: &str| false;
    let actions = decide_deletion(
        UID,
        DeletionPolicy::Deactivate,
        &[],
        &[case.keys[0].clone(), other],
        &nobody,
        &[],
        now(),
    );
    let [KeyAction::Deactivate { put, .. }] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    assert_eq!(
        put.key, case.keys[0].key,
        "its own key by marker; the other request's left"
    );
}

#[test]
fn abandon_is_read_from_the_annotation_even_with_an_invalid_spec() {
    let mut obj = crate::crd::ServiceKeyRequest::new("bad", spec(json!({})));
    assert!(!request::is_abandoned(&obj));
    obj.metadata.annotations = Some([(ABANDON_ANNOTATION.to_owned(), "true".to_owned())].into());
    assert!(request::is_abandoned(&obj));
    assert!(
        ValidatedRequest::new(&obj).is_err(),
        "the spec is invalid, deletion still lets go"
    );
}

#[test]
fn a_spec_change_soon_after_an_update_waits_for_the_pace_and_keeps_the_key() {
    let (mut case, _) = issued_case(region_spec());
    case.records[0].updates = vec![now().as_millisecond() - 60_000];
    case.request.max_speed_mbps = Some(1000);
    let d = case.decide();
    assert_eq!(actions(&d), ["keep"], "no PUT yet");
    let [Blocker::UpdatePaced { at, restore, .. }] = d.blockers.as_slice() else {
        panic!("{:?}", d.blockers)
    };
    assert_eq!(
        *at,
        now().as_millisecond() - 60_000 + 300_000,
        "one update per 5 minutes"
    );
    assert!(restore.is_empty());
    assert!(d.blockers[0].heals_by_itself(), "Reconciling, not Stalled");
    assert_eq!(
        d.steps[0].digest,
        case.records[0].applied.clone().unwrap_or_default(),
        "still the last values written"
    );
}

#[test]
fn a_restore_that_cannot_happen_yet_says_so_and_happens_when_allowed() {
    let (mut case, _) = issued_case(region_spec());
    case.keys[0].active = false;
    case.records[0].updates = vec![now().as_millisecond() - 60_000];
    let d = case.decide();
    let [Blocker::UpdatePaced { restore, .. }] = d.blockers.as_slice() else {
        panic!("{:?}", d.blockers)
    };
    assert_eq!(restore, &["active is false, want true"]);
    assert!(
        d.blockers[0].to_string().contains("restore"),
        "{}",
        d.blockers[0]
    );
    // Five minutes after the last update, the restore goes out.
    case.records[0].updates = vec![now().as_millisecond() - 300_000];
    assert_eq!(actions(&case.decide()), ["restore"]);
}

#[test]
fn update_history_keeps_thirty_days() {
    let mut r = record(LA1, "blue", 100);
    let day = 86_400_000;
    r.updates = vec![
        now().as_millisecond() - 31 * day,
        now().as_millisecond() - 2 * day,
    ];
    assert_eq!(r.updates_last_30_days(now()), 1);
    r.note_update(now());
    assert_eq!(r.updates.len(), 2, "the old one is forgotten");
    assert_eq!(r.updates_last_30_days(now()), 2);
    assert_eq!(
        r.next_update_at(now(), 300_000),
        Some(now().as_millisecond() + 300_000)
    );
}

#[test]
fn a_key_whose_on_ramp_is_gone_is_kept_reported_and_never_replaced() {
    let (mut case, key) = issued_case(region_spec());
    case.gone = vec![LA1.to_owned()];
    // Even with a change made outside, nothing is sent to a key on a decommissioned port.
    case.keys[0].active = false;
    let d = case.decide();
    assert_eq!(actions(&d), ["keep"]);
    let [
        Blocker::OnRampGone {
            fingerprint: fp,
            on_ramp,
        },
    ] = d.blockers.as_slice()
    else {
        panic!("{:?}", d.blockers)
    };
    assert_eq!(
        (fp.as_str(), on_ramp.as_str()),
        (fingerprint(&key.key).as_str(), LA1)
    );
    assert!(
        !d.blockers[0].heals_by_itself(),
        "Stalled: a human must act"
    );
    assert!(d.blockers[0].to_string().contains("decommissioned"));
}
