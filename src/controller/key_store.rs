//! The shared service keys snapshot, indexed for the questions a reconcile asks: the keys of
//! one request (carrying its marker, or named by the fingerprints it recorded) and what the
//! keys on an on-ramp hold (kept summed as keys change). Each answer costs what it returns, not the number of keys the company has,
//! and the operator's own write replaces one entry in place — so issuing N keys is linear in N.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::delivery::{Marker, fingerprint};
use crate::issuance::claims::{Hold, Usage};
use crate::megaport::models::{EpochMillis, ServiceKey};
use crate::sync::ReadWrite;

/// One key, with its place in Megaport's listing (answers keep that order).
#[derive(Clone, Debug)]
struct Entry {
    order: u64,
    key: ServiceKey,
    /// The request its marker names, if any.
    request: Option<String>,
    /// What it holds on its on-ramp (judged when listed or written: a key that expires since
    /// keeps holding until the next list, which errs on the safe side).
    hold: Option<Hold>,
}

/// The keys, by fingerprint, with indexes by marker and by on-ramp.
#[derive(Clone, Debug, Default)]
struct Keys {
    next: u64,
    keys: HashMap<String, Entry>,
    by_request: HashMap<String, BTreeSet<String>>,
    by_on_ramp: HashMap<String, BTreeSet<String>>,
    /// What the keys on each on-ramp hold, summed.
    usage: HashMap<String, Usage>,
}

/// The keys behind a lock of their own: the operator's writes change them in place, also while
/// reconciles read the same snapshot — never a copy of every key per write.
#[derive(Debug, Default)]
pub struct KeyStore {
    keys: std::sync::RwLock<Keys>,
}

impl Clone for KeyStore {
    fn clone(&self) -> Self {
        Self {
            keys: std::sync::RwLock::new(self.keys.reading().clone()),
        }
    }
}

impl KeyStore {
    /// The keys as Megaport listed them.
    pub fn from_keys(keys: Vec<ServiceKey>) -> Self {
        let mut store = Keys::default();
        for key in keys {
            store.upsert(key);
        }
        Self {
            keys: std::sync::RwLock::new(store),
        }
    }

    /// Adds `key`, or replaces the entry for the same key (it moves to the end of the order,
    /// as a key listed again after a write).
    pub fn upsert(&self, key: ServiceKey) {
        self.keys.writing().upsert(key);
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.reading().keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key, in listing order.
    pub fn all(&self) -> Vec<ServiceKey> {
        let keys = self.keys.reading();
        keys.answer(keys.keys.keys().map(String::as_str))
    }

    /// How many of the operator's keys (those carrying a request's marker) are in each state
    /// at `now` (Gone is a request's view of a decommissioned on-ramp, not counted here).
    pub fn operator_key_states(&self, now: EpochMillis) -> BTreeMap<&'static str, i64> {
        let keys = self.keys.reading();
        let mut states = BTreeMap::new();
        for entry in keys.keys.values().filter(|e| e.request.is_some()) {
            let state = crate::issuance::key_state(&entry.key, now);
            *states.entry(state.as_str()).or_insert(0) += 1;
        }
        states
    }

    /// The keys that may be request `uid`'s: carrying its marker, or with one of the
    /// `fingerprints` it recorded (whether it may take those is the decision's question).
    pub fn of_request<'a>(
        &self,
        uid: &str,
        fingerprints: impl IntoIterator<Item = &'a str>,
    ) -> Vec<ServiceKey> {
        let keys = self.keys.reading();
        let marked = keys
            .by_request
            .get(uid)
            .into_iter()
            .flatten()
            .map(String::as_str);
        let recorded: Vec<&str> = fingerprints.into_iter().collect();
        keys.answer(marked.chain(recorded))
    }

    /// The keys that differ between `older` and this store (added, changed or gone): the
    /// request each one's marker names, if any, and its fingerprint.
    pub fn changes_since(&self, older: &KeyStore) -> Vec<(Option<String>, String)> {
        let (new, old) = (self.keys.reading(), older.keys.reading());
        let changed = new
            .keys
            .iter()
            .filter(|(fp, e)| old.keys.get(*fp).is_none_or(|o| o.key != e.key));
        let gone = old
            .keys
            .iter()
            .filter(|(fp, _)| !new.keys.contains_key(*fp));
        changed
            .chain(gone)
            .map(|(fp, e)| (e.request.clone(), fp.clone()))
            .collect()
    }

    /// What the keys on `on_ramp` hold, summed.
    pub fn usage(&self, on_ramp: &str) -> Option<Usage> {
        self.keys.reading().usage.get(on_ramp).cloned()
    }

    /// A key holding `vlan` on `on_ramp`, if any (to name its holder; reads that on-ramp's
    /// keys, so only for the VLAN a request names).
    pub fn vlan_holder(&self, on_ramp: &str, vlan: u16) -> Option<ServiceKey> {
        let keys = self.keys.reading();
        keys.by_on_ramp
            .get(on_ramp)?
            .iter()
            .filter_map(|fp| keys.keys.get(fp))
            .find(|e| e.hold.is_some_and(|h| h.vlan == Some(vlan)))
            .map(|e| e.key.clone())
    }
}

impl Keys {
    fn upsert(&mut self, key: ServiceKey) {
        let fp = fingerprint(&key.key);
        if let Some(old) = self.keys.remove(&fp) {
            self.unindex(&fp, &old);
        }
        let request = key
            .description
            .as_deref()
            .and_then(Marker::parse)
            .map(|m| m.request_uid);
        if let Some(uid) = &request {
            self.by_request
                .entry(uid.clone())
                .or_default()
                .insert(fp.clone());
        }
        self.by_on_ramp
            .entry(key.product_uid.clone())
            .or_default()
            .insert(fp.clone());
        let hold = Hold::of_key(&key, EpochMillis::from_timestamp(jiff::Timestamp::now()));
        if let Some(hold) = hold {
            self.usage
                .entry(key.product_uid.clone())
                .or_default()
                .add(hold);
        }
        self.next += 1;
        let entry = Entry {
            order: self.next,
            key,
            request,
            hold,
        };
        self.keys.insert(fp, entry);
    }

    fn unindex(&mut self, fp: &str, old: &Entry) {
        if let Some(uid) = &old.request
            && let Some(set) = self.by_request.get_mut(uid)
        {
            set.remove(fp);
            if set.is_empty() {
                self.by_request.remove(uid);
            }
        }
        if let Some(set) = self.by_on_ramp.get_mut(&old.key.product_uid) {
            set.remove(fp);
            if set.is_empty() {
                self.by_on_ramp.remove(&old.key.product_uid);
            }
        }
        if let (Some(hold), Some(usage)) = (old.hold, self.usage.get_mut(&old.key.product_uid)) {
            usage.remove(hold);
        }
    }

    /// The keys with `fingerprints` (unknown ones skipped, each once), in listing order.
    fn answer<'a>(&self, fingerprints: impl Iterator<Item = &'a str>) -> Vec<ServiceKey> {
        let found: BTreeMap<u64, &ServiceKey> = fingerprints
            .filter_map(|fp| self.keys.get(fp))
            .map(|e| (e.order, &e.key))
            .collect();
        found.into_values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REQUEST: &str = "7f000000-0000-4000-8000-000000000001";

    fn key(value: &str, on_ramp: &str, marker_of: Option<&str>, speed: u32) -> ServiceKey {
        let description =
            marker_of.map(|uid| Marker::new(uid, Some("red")).describe(Some("customer link")));
        serde_json::from_value(json!({
            "key": value, "productUid": on_ramp, "maxSpeed": speed, "description": description, "active": true,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    const K1: &str = "11111111-1111-4111-8111-111111111111";
    const K2: &str = "22222222-2222-4222-8222-222222222222";
    const K3: &str = "33333333-3333-4333-8333-333333333333";

    #[test]
    fn answers_by_marker_fingerprint_and_on_ramp_in_listing_order() {
        let store = KeyStore::from_keys(vec![
            key(K1, "p1", Some(REQUEST), 100),
            key(K2, "p2", None, 100),
            key(K3, "p1", Some("someone-else"), 100),
        ]);
        assert_eq!(store.len(), 3);
        let values = |keys: Vec<ServiceKey>| -> Vec<String> {
            keys.iter().map(|k| fingerprint(&k.key)).collect()
        };
        let fp2 = fingerprint(&key(K2, "p2", None, 1).key);
        // Its marked key, and the unmarked one it recorded (once, even if named twice).
        assert_eq!(
            values(store.of_request(REQUEST, [fp2.as_str(), fp2.as_str()])),
            values(vec![key(K1, "p1", None, 1), key(K2, "p2", None, 1)])
        );
        assert!(store.of_request("nobody", ["sha256:0000"]).is_empty());
        assert_eq!(store.usage("p1").map(|u| u.reserved_mbps), Some(200));
        assert_eq!(store.usage("p2").map(|u| u.reserved_mbps), Some(100));
    }

    #[test]
    fn changes_name_added_changed_and_gone_keys_with_their_requests() {
        let older = KeyStore::from_keys(vec![
            key(K1, "p1", Some(REQUEST), 100),
            key(K2, "p1", None, 100),
        ]);
        let newer = KeyStore::from_keys(vec![
            key(K1, "p1", Some(REQUEST), 200),
            key(K3, "p2", Some("other"), 100),
        ]);
        let mut changes: Vec<(Option<String>, String)> = newer.changes_since(&older);
        changes.sort();
        let fp = |k: &str| fingerprint(&key(k, "p", None, 1).key);
        let mut want = vec![
            (Some(REQUEST.to_owned()), fp(K1)),
            (None, fp(K2)),
            (Some("other".to_owned()), fp(K3)),
        ];
        want.sort();
        assert_eq!(changes, want);
        assert!(newer.changes_since(&newer.clone()).is_empty());
    }

    #[test]
    fn an_upsert_replaces_the_entry_and_its_index_entries() {
        let store = KeyStore::from_keys(vec![key(K1, "p1", Some(REQUEST), 100)]);
        // The same key, moved to another on-ramp's listing and no longer marked.
        store.upsert(key(K1, "p2", None, 500));
        assert_eq!(store.len(), 1);
        assert!(store.of_request(REQUEST, []).is_empty());
        assert_eq!(store.usage("p1").map(|u| u.reserved_mbps), Some(0));
        assert_eq!(store.usage("p2").map(|u| u.reserved_mbps), Some(500));
        assert_eq!(store.all().len(), 1);
    }
}
