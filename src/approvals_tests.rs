//! Tables for [`super`]: attribution of waiting VXCs to keys, and the verdicts.

use super::*;
use crate::approvals::Outcome;
use crate::crd::connections::{AutoApprove, ConnectionPolicy, DecidedBy};
use serde_json::{Value, json};

const PORT: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001";
const CUSTOMER_PORT: &str = "2d3e4f00-7a6b-4c5d-9e00-1f2a3b4c0001";
const MINUTE: i64 = 60_000;

fn key(value: &str, single_use: bool, vlan: Option<u16>, last_used: Option<i64>) -> ServiceKey {
    serde_json::from_value(json!({
        "key": value, "productUid": PORT, "singleUse": single_use, "vlan": vlan,
        "maxSpeed": 1000, "active": true, "createDate": 0, "lastUsed": last_used,
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn vxc(uid: &str, vlan: i64, created: i64, rate: u32, approval: &str) -> Value {
    json!({
        "productUid": uid, "productName": "to QuantumGPU", "productType": "VXC",
        "rateLimit": rate, "provisioningStatus": "DEPLOYABLE", "createDate": created,
        "companyName": "Acme Robotics", "companyUid": "a2c9e7b4-3d1f-4e6a-8b2c-7f0e1d9c3a02",
        "aEnd": {"productUid": CUSTOMER_PORT, "vlan": 10},
        "bEnd": {"productUid": PORT, "vlan": vlan},
        "vxcApproval": {"status": approval, "type": "NEW"},
    })
}

fn port(vxcs: Vec<Value>) -> Product {
    serde_json::from_value(json!({
        "productUid": PORT, "productName": "qgpu-lax-eq1-blue", "productType": "MEGAPORT",
        "provisioningStatus": "LIVE", "associatedVxcs": vxcs,
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_waiting_vxc_is_attributed_only_when_that_is_certain() {
    let fixed = key(
        "aaaaaaaa-0000-4000-8000-000000000001",
        true,
        Some(100),
        Some(5 * MINUTE),
    );
    let multi = key(
        "bbbbbbbb-0000-4000-8000-000000000002",
        false,
        None,
        Some(20 * MINUTE),
    );
    let other_multi = key(
        "cccccccc-0000-4000-8000-000000000003",
        false,
        None,
        Some(22 * MINUTE),
    );
    let keys = vec![fixed.clone(), multi.clone()];
    let table: Vec<(&str, Value, &[ServiceKey], Option<&ServiceKey>)> = vec![
        (
            "single-use key on its VLAN",
            vxc("v1", 100, 5 * MINUTE, 500, "PENDING_EXTERNAL"),
            &keys,
            Some(&fixed),
        ),
        (
            "multi-use key used when the VXC was made",
            vxc("v2", 300, 21 * MINUTE, 500, "PENDING_EXTERNAL"),
            &keys,
            Some(&multi),
        ),
        (
            "no key used near it",
            vxc("v3", 300, 90 * MINUTE, 500, "PENDING_EXTERNAL"),
            &keys,
            None,
        ),
    ];
    for (case, v, keys, want) in table {
        let p = port(vec![v]);
        let got = key_of(&p.associated_vxcs[0], &p, keys);
        assert_eq!(
            got.map(|k| fingerprint(&k.key)),
            want.map(|k| fingerprint(&k.key)),
            "{case}"
        );
    }
    // A VXC no key ordered (a Marketplace request) on a single-use key's VLAN: the key was
    // never used, so it is nobody's; nor is a speed change of a live one.
    let unused = key(
        "eeeeeeee-0000-4000-8000-000000000005",
        true,
        Some(100),
        None,
    );
    let p = port(vec![vxc("m", 100, 5 * MINUTE, 500, "PENDING_EXTERNAL")]);
    assert!(
        key_of(&p.associated_vxcs[0], &p, std::slice::from_ref(&unused)).is_none(),
        "keyless"
    );
    let mut speed = vxc("s", 100, 5 * MINUTE, 500, "PENDING_EXTERNAL");
    speed["vxcApproval"]["type"] = json!("SPEED_CHANGE");
    let p = port(vec![speed]);
    assert!(
        !is_pending(&p.associated_vxcs[0]),
        "a speed change is not a new connection"
    );
    // Two multi-use keys used around the same time: nobody's.
    let both = vec![multi, other_multi];
    let p = port(vec![vxc("v4", 300, 21 * MINUTE, 500, "PENDING_EXTERNAL")]);
    assert!(
        key_of(&p.associated_vxcs[0], &p, &both).is_none(),
        "ambiguous"
    );
}

#[test]
fn only_pending_vxcs_on_the_requests_keys_wait() {
    let mine = key(
        "aaaaaaaa-0000-4000-8000-000000000001",
        true,
        Some(100),
        Some(5 * MINUTE),
    );
    let theirs = key(
        "dddddddd-0000-4000-8000-000000000004",
        true,
        Some(200),
        Some(5 * MINUTE),
    );
    let all = vec![mine.clone(), theirs];
    let products = vec![port(vec![
        vxc("pending-mine", 100, 5 * MINUTE, 500, "PENDING_EXTERNAL"),
        vxc("pending-theirs", 200, 5 * MINUTE, 500, "PENDING_EXTERNAL"),
        vxc("approved-mine", 100, 5 * MINUTE, 500, "APPROVED"),
    ])];
    let waiting = waiting(&[fingerprint(&mine.key)], &products, &all);
    let uids: Vec<&str> = waiting.iter().map(|w| w.vxc.product_uid.as_str()).collect();
    assert_eq!(uids, ["pending-mine"]);
    assert_eq!(waiting[0].vlan(), Some(100));
}

fn policy(auto: Option<AutoApprove>, reject_after: Option<&str>) -> ConnectionPolicy {
    ConnectionPolicy {
        auto_approve: auto,
        reject_after: reject_after.map(str::to_owned),
    }
}

#[test]
fn each_verdict_and_why() {
    let k = key(
        "aaaaaaaa-0000-4000-8000-000000000001",
        true,
        Some(100),
        Some(0),
    );
    let on_vlan = port(vec![vxc("v", 100, 0, 500, "PENDING_EXTERNAL")]);
    let too_fast = port(vec![vxc("v", 100, 0, 5000, "PENDING_EXTERNAL")]);
    let acme = AutoApprove {
        companies: vec!["a2c9e7b4-3d1f-4e6a-8b2c-7f0e1d9c3a02".into()],
        ..AutoApprove::default()
    };
    let by_name = AutoApprove {
        companies: vec!["Acme Robotics".into()],
        ..AutoApprove::default()
    };
    let multi = key("bbbbbbbb-0000-4000-8000-000000000002", false, None, Some(0));
    let person = Manual {
        approve: false,
        by: "alice".into(),
        reason: Some("not a customer yet".into()),
    };
    let decide = |approve: bool, by: DecidedBy| move |v: &Verdict| matches!(v, Verdict::Decide { approve: a, by: b, .. } if *a == approve && *b == by);
    type Check = Box<dyn Fn(&Verdict) -> bool>;
    let wait = |why: &'static str| -> Check {
        Box::new(move |v| matches!(v, Verdict::Wait(w) if w.contains(why)))
    };
    type Row<'a> = (
        &'a str,
        &'a Product,
        Option<ConnectionPolicy>,
        Option<&'a Manual>,
        i64,
        Check,
    );
    let table: Vec<Row> = vec![
        (
            "no policy: a person decides",
            &on_vlan,
            None,
            None,
            MINUTE,
            wait("no autoApprove rules"),
        ),
        (
            "a company on the list",
            &on_vlan,
            Some(policy(Some(acme.clone()), None)),
            None,
            MINUTE,
            Box::new(decide(true, DecidedBy::Policy)),
        ),
        (
            "a company named, not by its UID",
            &on_vlan,
            Some(policy(Some(by_name), None)),
            None,
            MINUTE,
            wait("(a2c9e7b4-3d1f-4e6a-8b2c-7f0e1d9c3a02) is not in autoApprove.companies"),
        ),
        (
            "faster than the key",
            &too_fast,
            Some(policy(Some(acme.clone()), None)),
            None,
            MINUTE,
            wait("exceeds the key's 1000 Mbps"),
        ),
        (
            "a person's decision wins",
            &on_vlan,
            Some(policy(Some(acme.clone()), None)),
            Some(&person),
            MINUTE,
            Box::new(decide(false, DecidedBy::Person)),
        ),
        (
            "before the deadline",
            &on_vlan,
            Some(policy(None, Some("1h"))),
            None,
            59 * MINUTE,
            wait("waiting for a person"),
        ),
        (
            "past the deadline",
            &on_vlan,
            Some(policy(None, Some("1h"))),
            None,
            60 * MINUTE,
            Box::new(decide(false, DecidedBy::Deadline)),
        ),
    ];
    // A multi-use key: which key ordered the VXC is not certain, so only a person decides.
    let w = Waiting {
        vxc: &on_vlan.associated_vxcs[0],
        product: &on_vlan,
        key: &multi,
    };
    let strict = policy(Some(acme.clone()), Some("1s"));
    let v = verdict(Some(&strict), &w, None, 60 * MINUTE);
    assert!(
        matches!(&v, Verdict::Wait(why) if why.contains("multi-use")),
        "{v:?}"
    );
    let v = verdict(Some(&strict), &w, Some(&person), MINUTE);
    assert!(
        matches!(
            v,
            Verdict::Decide {
                by: DecidedBy::Person,
                ..
            }
        ),
        "{v:?}"
    );
    for (case, product, policy, manual, now, check) in table {
        let w = Waiting {
            vxc: &product.associated_vxcs[0],
            product,
            key: &k,
        };
        let v = verdict(policy.as_ref(), &w, manual, now);
        assert!(check(&v), "{case}: {v:?}");
    }
}

#[test]
fn decisions_are_recorded_sealed_and_sent_once() {
    let seal = crate::issuance::RecordSeal::new([7; 32]);
    let record = DecisionRecord {
        vxc_uid: "v".into(),
        approve: true,
        by: DecidedBy::Policy,
        decider: "autoApprove".into(),
        reason: "meets every autoApprove rule".into(),
        at: MINUTE,
        outcome: Outcome::Unknown,
        key: "sha256:0123".into(),
        company: Some("Acme Robotics".into()),
        rate_mbps: Some(500),
        vlan: Some(100),
    };
    let annotations: std::collections::BTreeMap<String, String> =
        decision_annotations("uid", std::slice::from_ref(&record), &seal)
            .into_iter()
            .collect();
    let read = recorded_decisions(&annotations, "uid", &seal);
    assert_eq!(read, std::slice::from_ref(&record));
    assert!(
        recorded_decisions(&annotations, "other-uid", &seal).is_empty(),
        "copied"
    );
    let other = crate::issuance::RecordSeal::new([8; 32]);
    assert!(
        recorded_decisions(&annotations, "uid", &other).is_empty(),
        "not ours"
    );
    assert_eq!(send_state(&read, "w", 2 * MINUTE), Send::First);
    assert_eq!(
        send_state(&read, "v", MINUTE + 10_000),
        Send::Done,
        "lost moments ago"
    );
    assert_eq!(
        send_state(&read, "v", 2 * MINUTE),
        Send::Unconfirmed,
        "lost a minute ago"
    );
    for outcome in [Outcome::Sent, Outcome::Refused] {
        let settled = [DecisionRecord {
            outcome,
            ..record.clone()
        }];
        assert_eq!(
            send_state(&settled, "v", 60 * MINUTE),
            Send::Done,
            "{outcome:?}: never again"
        );
    }
}
