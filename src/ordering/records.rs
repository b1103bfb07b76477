//! What a configuration has bought, as the operator records it on the object (pure): one
//! record per ordered service, written **before** the buy as a pending marker and completed
//! with the product UID after it. A pending record left by a crash or a lost answer means "this
//! may have been bought": the tagged products are searched before anything is bought again.
//!
//! The records live in an annotation that whoever may edit the configuration can change; they
//! are trusted only under the operator's seal (the key records' [`RecordSeal`], over the
//! configuration's UID), so nobody can point the operator at someone else's product (and have
//! it cancelled on deletion). Records that do not verify are treated as unknown: every service
//! is searched by its tags.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::issuance::RecordSeal;

/// The annotation holding the order records (JSON).
pub const ORDERS_ANNOTATION: &str = "megaport.onramp.dev/orders";
/// The annotation holding their seal.
pub const ORDERS_SEAL_ANNOTATION: &str = "megaport.onramp.dev/orders-seal";
/// The annotation naming the operator (its seal's id, [`RecordSeal::id`]) that ordered: no
/// other operator touches the configuration while it is there.
pub const ORDERED_BY_ANNOTATION: &str = "megaport.onramp.dev/ordered-by";

/// One ordered service: pending (a buy was or is about to be sent) or bought.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRecord {
    /// The service's name in the configuration.
    pub service: String,
    /// Its product UID once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_uid: Option<String>,
    /// When the buy that may have created it was about to be sent (epoch ms): set while the
    /// outcome is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_since: Option<i64>,
    /// Megaport confirmed the buy but its answer did not say which product is this service:
    /// searched for until found, never bought again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmed: bool,
}

impl OrderRecord {
    /// A service about to be bought at `now_ms`.
    pub fn pending(service: &str, now_ms: i64) -> Self {
        Self {
            service: service.to_owned(),
            product_uid: None,
            pending_since: Some(now_ms),
            confirmed: false,
        }
    }

    /// A service bought as `product_uid`.
    pub fn bought(service: &str, product_uid: &str) -> Self {
        Self {
            service: service.to_owned(),
            product_uid: Some(product_uid.to_owned()),
            pending_since: None,
            confirmed: false,
        }
    }
}

/// What the records say: the services bought (name → product UID) and those whose buy has an
/// unknown outcome (name → since when, epoch ms; 0 when nothing trusted says).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Bought services.
    pub bought: BTreeMap<String, String>,
    /// Services that may have been bought.
    pub pending: BTreeMap<String, i64>,
    /// Of those, the ones Megaport confirmed buying (never bought again).
    pub confirmed: std::collections::BTreeSet<String>,
}

impl Ledger {
    /// The ledger of `records`.
    pub fn of(records: &[OrderRecord]) -> Self {
        let mut ledger = Self::default();
        for r in records {
            match (&r.product_uid, r.pending_since) {
                (Some(uid), _) => {
                    ledger.bought.insert(r.service.clone(), uid.clone());
                }
                (None, Some(since)) => {
                    ledger.pending.insert(r.service.clone(), since);
                    if r.confirmed {
                        ledger.confirmed.insert(r.service.clone());
                    }
                }
                (None, None) => {}
            }
        }
        ledger
    }

    /// The records of this ledger (sorted by service).
    pub fn records(&self) -> Vec<OrderRecord> {
        let mut records: Vec<OrderRecord> = self
            .bought
            .iter()
            .map(|(s, uid)| OrderRecord::bought(s, uid))
            .chain(self.pending.iter().map(|(s, t)| OrderRecord {
                confirmed: self.confirmed.contains(s),
                ..OrderRecord::pending(s, *t)
            }))
            .collect();
        records.sort_by(|a, b| a.service.cmp(&b.service));
        records
    }
}

/// The records as written in the annotation.
pub fn render(records: &[OrderRecord]) -> String {
    serde_json::to_string(records).unwrap_or_else(|_| "[]".into())
}

/// The annotations that record `records` for configuration `uid` under `seal`, claiming it.
pub fn annotations(uid: &str, records: &[OrderRecord], seal: &RecordSeal) -> [(String, String); 3] {
    let text = render(records);
    let sealed = seal.seal_text(uid, &text);
    [
        (ORDERS_ANNOTATION.to_owned(), text),
        (ORDERS_SEAL_ANNOTATION.to_owned(), sealed),
        (ORDERED_BY_ANNOTATION.to_owned(), seal.id()),
    ]
}

/// The operator that claimed the configuration, when it is not the one sealing with `seal`.
pub fn claimed_by_another(
    annotations: &BTreeMap<String, String>,
    seal: &RecordSeal,
) -> Option<String> {
    annotations
        .get(ORDERED_BY_ANNOTATION)
        .filter(|id| **id != seal.id())
        .cloned()
}

/// What the annotations record for configuration `uid`: `Ok(None)` when there are none,
/// `Err(why)` when they are not the operator's (unsealed, edited, copied from another object).
pub fn trusted(
    annotations: &BTreeMap<String, String>,
    uid: &str,
    seal: &RecordSeal,
) -> Result<Option<Vec<OrderRecord>>, String> {
    let Some(text) = annotations.get(ORDERS_ANNOTATION) else {
        return Ok(None);
    };
    let verified = annotations
        .get(ORDERS_SEAL_ANNOTATION)
        .is_some_and(|s| seal.verifies_text(uid, text, s));
    if !verified {
        return Err(format!(
            "the {ORDERS_ANNOTATION} annotation does not carry the operator's seal"
        ));
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| format!("the {ORDERS_ANNOTATION} annotation does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "5a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";

    fn seal() -> RecordSeal {
        RecordSeal::new([7; 32])
    }

    fn written(records: &[OrderRecord]) -> BTreeMap<String, String> {
        annotations(UID, records, &seal()).into_iter().collect()
    }

    #[test]
    fn records_round_trip_under_the_seal_and_make_a_ledger() {
        let records = vec![
            OrderRecord {
                confirmed: true,
                ..OrderRecord::pending("la-mcr", 1_700_000_000_000)
            },
            OrderRecord::bought("la-port", "p-uid"),
            OrderRecord::pending("to-provider", 1_700_000_000_000),
        ];
        let read = trusted(&written(&records), UID, &seal());
        assert_eq!(read, Ok(Some(records.clone())));
        let ledger = Ledger::of(&records);
        assert_eq!(
            ledger.bought.get("la-port").map(String::as_str),
            Some("p-uid")
        );
        assert_eq!(ledger.pending.get("to-provider"), Some(&1_700_000_000_000));
        assert!(ledger.confirmed.contains("la-mcr") && !ledger.confirmed.contains("to-provider"));
        assert_eq!(ledger.records(), records);
        assert_eq!(trusted(&BTreeMap::new(), UID, &seal()), Ok(None));
    }

    #[test]
    fn records_edited_copied_or_sealed_by_another_key_are_not_trusted() {
        let records = vec![OrderRecord::bought("la-port", "p-uid")];
        let table: Vec<(&str, BTreeMap<String, String>, &str)> = vec![
            (
                "edited product uid",
                {
                    let mut a = written(&records);
                    a.insert(
                        ORDERS_ANNOTATION.into(),
                        render(&[OrderRecord::bought("la-port", "someone-elses")]),
                    );
                    a
                },
                UID,
            ),
            (
                "copied to another object",
                written(&records),
                "0000-other-uid",
            ),
            (
                "no seal",
                BTreeMap::from([(ORDERS_ANNOTATION.to_owned(), render(&records))]),
                UID,
            ),
        ];
        for (case, annotations, uid) in table {
            assert!(trusted(&annotations, uid, &seal()).is_err(), "{case}");
        }
        let other = RecordSeal::new([8; 32]);
        assert!(
            trusted(&written(&records), UID, &other).is_err(),
            "another key"
        );
        assert_eq!(claimed_by_another(&written(&records), &seal()), None);
        assert_eq!(
            claimed_by_another(&written(&records), &other),
            Some(seal().id()),
            "another operator's claim"
        );
        assert_ne!(seal().id(), other.id());
    }
}
