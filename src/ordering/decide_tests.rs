//! Tables for [`super`]'s decisions.

use super::*;
use crate::crd::saved_configuration::KeySeen;
use crate::megaport::models::{ProvisioningStatus, Vxc, VxcApproval};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

const DAY: Duration = Duration::from_secs(86_400);

fn at(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000 + seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn checked(generation: i64, seconds: i64, keys: &[(&str, &str)]) -> SavedConfigurationStatus {
    SavedConfigurationStatus {
        validated_generation: Some(generation),
        validated_at: Some(Time(at(seconds))),
        service_keys: keys
            .iter()
            .map(|(s, f)| KeySeen {
                service: (*s).into(),
                fingerprint: (*f).into(),
                ..KeySeen::default()
            })
            .collect(),
        ..SavedConfigurationStatus::default()
    }
}

#[test]
fn validation_runs_on_change_and_once_per_interval_only() {
    let keys = BTreeMap::from([("to-provider".to_owned(), "fp-1".to_owned())]);
    let none = BTreeMap::new();
    let other = BTreeMap::from([("to-provider".to_owned(), "fp-2".to_owned())]);
    let fresh = checked(3, 0, &[("to-provider", "fp-1")]);
    type Row<'a> = (
        &'a str,
        Option<SavedConfigurationStatus>,
        i64,
        &'a BTreeMap<String, String>,
        i64,
        Option<Due>,
    );
    let table: Vec<Row> = vec![
        ("never checked", None, 3, &keys, 0, Some(Due::First)),
        (
            "checked this generation just now",
            Some(fresh.clone()),
            3,
            &keys,
            60,
            None,
        ),
        (
            "a minute short of a day",
            Some(fresh.clone()),
            3,
            &keys,
            86_340,
            None,
        ),
        (
            "a day later",
            Some(fresh.clone()),
            3,
            &keys,
            86_400,
            Some(Due::Stale),
        ),
        (
            "spec edited",
            Some(fresh.clone()),
            4,
            &keys,
            60,
            Some(Due::SpecChanged),
        ),
        (
            "the Secret holds another key",
            Some(fresh.clone()),
            3,
            &other,
            60,
            Some(Due::KeyChanged),
        ),
        (
            "the key can no longer be read",
            Some(fresh),
            3,
            &none,
            60,
            Some(Due::KeyChanged),
        ),
    ];
    for (case, previous, generation, fingerprints, now, want) in table {
        let due = validation_due(
            previous.as_ref(),
            Some(generation),
            fingerprints,
            at(now),
            DAY,
        );
        assert_eq!(due, want, "{case}");
    }
}

fn design(items: usize, waiting: &[&str]) -> Design {
    let spec: SavedConfigurationSpec = serde_json::from_value(json!({"services": {
        "ports": [{"name": "p", "locationId": 59, "speedMbps": 1000, "termMonths": 1}],
    }}))
    .unwrap_or_else(|e| panic!("{e}"));
    let mut d = crate::ordering::items(&spec, "uid", &BTreeMap::new(), &BTreeMap::new());
    d.items.truncate(items);
    d.services.truncate(items);
    d.waiting = waiting.iter().map(|s| (*s).to_owned()).collect();
    d
}

#[test]
fn the_next_step_of_an_order() {
    let empty = Ledger::default();
    let pending = Ledger {
        pending: BTreeMap::from([("p".to_owned(), 5)]),
        ..Ledger::default()
    };
    let bought = Ledger {
        bought: BTreeMap::from([("p".to_owned(), "p-uid".to_owned())]),
        ..Ledger::default()
    };
    let table: Vec<(&str, bool, bool, &Ledger, Design, Step)> = vec![
        (
            "saved only",
            false,
            false,
            &empty,
            design(1, &[]),
            Step::Saved,
        ),
        (
            "saved with problems",
            false,
            true,
            &empty,
            design(1, &[]),
            Step::Saved,
        ),
        (
            "ordered, problems, nothing bought",
            true,
            true,
            &empty,
            design(1, &[]),
            Step::Held,
        ),
        ("ordered", true, false, &empty, design(1, &[]), Step::Buy),
        (
            "an unknown outcome first",
            true,
            false,
            &pending,
            design(1, &[]),
            Step::Search(vec!["p".into()]),
        ),
        (
            "an unknown outcome, even with problems",
            true,
            true,
            &pending,
            design(1, &[]),
            Step::Search(vec!["p".into()]),
        ),
        (
            "second round",
            true,
            true,
            &bought,
            design(1, &[]),
            Step::Buy,
        ),
        (
            "a VXC waits for its key",
            true,
            false,
            &bought,
            design(0, &["v"]),
            Step::Waiting(vec!["v".into()]),
        ),
        (
            "all bought",
            true,
            false,
            &bought,
            design(0, &[]),
            Step::Follow,
        ),
    ];
    for (case, ordered, problems, ledger, d, want) in table {
        assert_eq!(step(ordered, problems, ledger, &d), want, "{case}");
    }
}

#[test]
fn a_search_adopts_what_it_finds_and_rebuys_only_after_the_settle_time() {
    let minute = 60_000;
    let ledger = Ledger {
        bought: BTreeMap::from([("a".to_owned(), "a-uid".to_owned())]),
        pending: BTreeMap::from([
            ("found".to_owned(), 0),
            ("old".to_owned(), 0),
            ("young".to_owned(), 4 * minute),
            ("confirmed".to_owned(), 0),
        ]),
        confirmed: std::collections::BTreeSet::from(["confirmed".to_owned()]),
    };
    let found = BTreeMap::from([("found".to_owned(), "f-uid".to_owned())]);
    // Six minutes after the first mark: past the settle time for "old", not for "young".
    let (next, wait) = settle(&ledger, &found, 6 * minute);
    assert_eq!(
        next.bought.keys().collect::<Vec<_>>(),
        ["a", "found"],
        "found is adopted"
    );
    assert_eq!(
        next.pending.keys().collect::<Vec<_>>(),
        ["confirmed", "young"],
        "old is dropped (bought again); young waits; a confirmed buy is never dropped"
    );
    assert_eq!(
        wait,
        Some(Duration::from_secs(60)),
        "searched again within a minute"
    );
    // A buy whose answer was lost a minute ago is not bought again on one empty search.
    let lost = Ledger {
        pending: BTreeMap::from([("p".to_owned(), 0)]),
        ..Ledger::default()
    };
    let (kept, _) = settle(&lost, &BTreeMap::new(), minute);
    assert_eq!(kept, lost, "a minute is within the settle time");
    let (later, wait) = settle(&next, &BTreeMap::new(), 10 * minute);
    assert_eq!(later.pending.keys().collect::<Vec<_>>(), ["confirmed"]);
    assert_eq!(wait, Some(Duration::from_secs(60)));
}

#[test]
fn a_buy_answer_maps_onto_the_services_lag_members_included() {
    let spec: SavedConfigurationSpec = serde_json::from_value(json!({"services": {
        "ports": [{"name": "lag", "locationId": 59, "speedMbps": 10000, "termMonths": 1, "lagPortCount": 2}],
        "mcrs": [{"name": "mcr", "locationId": 59, "speedMbps": 1000, "termMonths": 1}],
    }}))
    .unwrap_or_else(|e| panic!("{e}"));
    let item = |uid: &str| BoughtItem {
        technical_service_uid: Some(uid.into()),
        ..BoughtItem::default()
    };
    let services = ["lag".to_owned(), "mcr".to_owned()];
    let answer = [item("lag-1"), item("lag-2"), item("mcr-1")];
    let bought = bought_from_answer(&spec, &services, &answer);
    assert_eq!(
        bought,
        Some(BTreeMap::from([
            ("lag".to_owned(), "lag-1".to_owned()),
            ("mcr".to_owned(), "mcr-1".to_owned()),
        ]))
    );
    assert_eq!(
        bought_from_answer(&spec, &services, &answer[..2]),
        None,
        "a short answer is searched instead"
    );
    let no_uid = [item("lag-1"), item("lag-2"), BoughtItem::default()];
    assert_eq!(bought_from_answer(&spec, &services, &no_uid), None);
    // Named answers in another order than sent are matched by name.
    let two: SavedConfigurationSpec = serde_json::from_value(json!({"services": {
        "ports": [{"name": "p", "productName": "LA port", "locationId": 59, "speedMbps": 10000, "termMonths": 1}],
        "mcrs": [{"name": "m", "locationId": 59, "speedMbps": 1000, "termMonths": 1}],
    }}))
    .unwrap_or_else(|e| panic!("{e}"));
    let named = |uid: &str, name: &str| BoughtItem {
        technical_service_uid: Some(uid.into()),
        service_name: Some(name.into()),
        ..BoughtItem::default()
    };
    let sent = ["p".to_owned(), "m".to_owned()];
    let swapped = [named("m-uid", "m"), named("p-uid", "LA port")];
    assert_eq!(
        bought_from_answer(&two, &sent, &swapped),
        Some(BTreeMap::from([
            ("m".to_owned(), "m-uid".to_owned()),
            ("p".to_owned(), "p-uid".to_owned()),
        ]))
    );
    let strangers = [named("x", "other"), named("y", "LA port")];
    assert_eq!(
        bought_from_answer(&two, &sent, &strangers),
        None,
        "searched instead"
    );
}

#[test]
fn bought_services_are_found_in_the_products_list_vxcs_nested() {
    let ledger = Ledger {
        bought: BTreeMap::from([
            ("port".to_owned(), "p-uid".to_owned()),
            ("vxc".to_owned(), "v-uid".to_owned()),
            ("gone".to_owned(), "g-uid".to_owned()),
        ]),
        ..Ledger::default()
    };
    let products = vec![Product {
        product_uid: "p-uid".into(),
        provisioning_status: ProvisioningStatus("LIVE".into()),
        associated_vxcs: vec![Vxc {
            product_uid: "v-uid".into(),
            provisioning_status: ProvisioningStatus("DEPLOYABLE".into()),
            vxc_approval: Some(VxcApproval {
                status: Some("PENDING_EXTERNAL".into()),
                ..VxcApproval::default()
            }),
            ..Vxc::default()
        }],
        ..Product::default()
    }];
    let seen = where_bought(&ledger, &products);
    let view: Vec<(&str, Option<&str>, Option<&str>)> = seen
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.provisioning_status.as_deref(),
                s.approval.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            ("gone", None, None),
            ("port", Some("LIVE"), None),
            ("vxc", Some("DEPLOYABLE"), Some("PENDING_EXTERNAL")),
        ]
    );
    let spec: SavedConfigurationSpec = serde_json::from_value(json!({"services": {
        "ports": [{"name": "port", "locationId": 59, "speedMbps": 1000, "termMonths": 1}],
    }}))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !all_live(&spec, &seen),
        "three bought, one wanted, not all LIVE"
    );
    assert!(all_live(&spec, &seen[1..2]));
}

#[test]
fn a_refused_order_is_resent_only_for_a_new_generation_or_after_the_interval() {
    use crate::crd::saved_configuration::OrderRefusal;
    let refusal = OrderRefusal {
        generation: Some(2),
        at: Time(at(0)),
        message: "Credit limit exceeded".into(),
    };
    let table = [
        ("never refused", None, 2, 10, true),
        (
            "same generation, an hour later",
            Some(&refusal),
            2,
            3_600,
            false,
        ),
        (
            "same generation, a day later",
            Some(&refusal),
            2,
            86_400,
            true,
        ),
        ("a new generation", Some(&refusal), 3, 10, true),
    ];
    for (case, refusal, generation, now, want) in table {
        assert_eq!(
            may_resend(refusal, Some(generation), at(now), DAY),
            want,
            "{case}"
        );
    }
}
