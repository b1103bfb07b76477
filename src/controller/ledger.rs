//! The claim ledger: what every ServiceKeyRequest holds (its trusted records: planned and
//! issued keys, with their on-ramp, VLAN and speed; the explicit VLAN it asks for until it is
//! given one), kept by the watch — updated from the reflector's events and from this process's
//! own writes — so a decision reads the claims on the on-ramps it considers instead of
//! re-parsing and re-verifying every other request's annotation.
//!
//! The process's own writes are authoritative until the object is deleted: a watch event may
//! carry an older copy of the annotation than the one just written.

use crate::sync::Locked;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use kube::core::DeserializeGuard;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::crd::ServiceKeyRequest;
use crate::crd::onramp_region::OnRampStatus;
use crate::issuance::claims::{Hold, Usage};
use crate::issuance::{Record, RecordSeal, sealed_records};

/// What one request holds.
#[derive(Clone, Debug, Default)]
struct Entry {
    namespace: String,
    name: String,
    /// Its trusted records (none when its annotation is not the operator's).
    records: Vec<Record>,
    /// Written by this process (authoritative over watch events).
    own: bool,
    /// The explicit VLAN it asks for, and its explicit on-ramp, while it has no records.
    wish: Option<(u16, Option<String>)>,
    deleting: bool,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// UIDs seen during a relist (entries not seen are dropped when it ends).
    relisting: Option<HashSet<String>>,
    /// Requests with records on each on-ramp.
    by_on_ramp: HashMap<String, HashSet<String>>,
    /// Requests by the key fingerprints they record.
    by_fingerprint: HashMap<String, HashSet<String>>,
    /// Requests that ask for an explicit VLAN and hold no records yet.
    wishing: HashSet<String>,
    /// What the records on each on-ramp hold, summed.
    usage: HashMap<String, Usage>,
}

/// Adds or removes `uid` under `key` of an index.
fn index(map: &mut HashMap<String, HashSet<String>>, key: &str, uid: &str, add: bool) {
    if add {
        map.entry(key.to_owned())
            .or_default()
            .insert(uid.to_owned());
    } else if let Some(set) = map.get_mut(key) {
        set.remove(uid);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

/// What a record holds on its on-ramp.
fn hold_of(r: &Record) -> Hold {
    Hold::of_record(r.vlan, r.speed_mbps, r.fingerprint.is_some())
}

impl State {
    /// The explicit VLANs requests other than `uid` ask for and have not been given, with the
    /// on-ramp they name (if any).
    fn wishes<'a>(
        &'a self,
        uid: &'a str,
    ) -> impl Iterator<Item = (&'a Entry, u16, Option<&'a String>)> + 'a {
        self.wishing
            .iter()
            .filter(move |other| other.as_str() != uid)
            .filter_map(|other| self.entries.get(other))
            .filter_map(|e| {
                e.wish
                    .as_ref()
                    .map(|(vlan, target)| (e, *vlan, target.as_ref()))
            })
    }

    /// Changes (or creates) the entry of `uid`, keeping the indexes in step: a question about
    /// some on-ramps or one fingerprint reads only the requests it concerns.
    fn change(&mut self, uid: &str, f: impl FnOnce(&mut Entry)) {
        let mut entry = self.entries.remove(uid).unwrap_or_default();
        self.reindex(uid, &entry, false);
        f(&mut entry);
        self.reindex(uid, &entry, true);
        self.entries.insert(uid.to_owned(), entry);
    }

    fn remove(&mut self, uid: &str) {
        if let Some(entry) = self.entries.remove(uid) {
            self.reindex(uid, &entry, false);
        }
    }

    fn reindex(&mut self, uid: &str, entry: &Entry, add: bool) {
        for r in &entry.records {
            index(&mut self.by_on_ramp, &r.product_uid, uid, add);
            if let Some(fp) = &r.fingerprint {
                index(&mut self.by_fingerprint, fp, uid, add);
            }
            let usage = self.usage.entry(r.product_uid.clone()).or_default();
            let hold = hold_of(r);
            if add {
                usage.add(hold);
            } else {
                usage.remove(hold);
            }
        }
        if entry.wish.is_some() && entry.records.is_empty() && !entry.deleting {
            if add {
                self.wishing.insert(uid.to_owned());
            } else {
                self.wishing.remove(uid);
            }
        }
    }
}

/// The ledger.
pub struct Ledger {
    seal: RecordSeal,
    state: Mutex<State>,
}

impl Ledger {
    /// An empty ledger trusting records sealed with `seal`.
    pub fn new(seal: RecordSeal) -> Self {
        Self {
            seal,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.locked()
    }

    /// Folds one watch event in.
    pub fn observe(&self, event: &watcher::Event<DeserializeGuard<ServiceKeyRequest>>) {
        let mut state = self.state();
        match event {
            watcher::Event::Init => state.relisting = Some(HashSet::new()),
            watcher::Event::InitApply(obj) | watcher::Event::Apply(obj) => {
                if let Some(seen) = state.relisting.as_mut()
                    && let Some(uid) = obj.uid()
                {
                    seen.insert(uid);
                }
                self.apply(&mut state, obj);
            }
            watcher::Event::InitDone => {
                if let Some(seen) = state.relisting.take() {
                    let gone: Vec<String> = state
                        .entries
                        .keys()
                        .filter(|uid| !seen.contains(*uid))
                        .cloned()
                        .collect();
                    for uid in gone {
                        state.remove(&uid);
                    }
                }
            }
            watcher::Event::Delete(obj) => {
                if let Some(uid) = obj.uid() {
                    state.remove(&uid);
                }
            }
        }
    }

    fn apply(&self, state: &mut State, obj: &DeserializeGuard<ServiceKeyRequest>) {
        let Some(uid) = obj.uid() else { return };
        let wish = obj.0.as_ref().ok().and_then(|r| {
            r.spec
                .vlan
                .map(|v| (v, r.spec.on_ramp.as_ref().map(|o| o.product_uid.clone())))
        });
        let own = state.entries.get(&uid).is_some_and(|e| e.own);
        let records =
            (!own).then(|| sealed_records(obj.annotations(), &uid, &self.seal).unwrap_or_default());
        state.change(&uid, |entry| {
            entry.namespace = obj.namespace().unwrap_or_default();
            entry.name = obj.name_any();
            entry.wish = wish;
            entry.deleting = obj.meta().deletion_timestamp.is_some();
            if let Some(records) = records {
                entry.records = records;
            }
        });
    }

    /// Records this process just wrote for request `uid`.
    pub fn wrote(&self, uid: &str, records: &[Record]) {
        self.state().change(uid, |entry| {
            entry.records = records.to_vec();
            entry.own = true;
        });
    }

    /// Forgets a deleted request.
    pub fn forget(&self, uid: &str) {
        self.state().remove(uid);
    }

    /// The records this process wrote for `uid`, if it wrote any.
    pub fn own_records(&self, uid: &str) -> Option<Vec<Record>> {
        self.state()
            .entries
            .get(uid)
            .filter(|e| e.own)
            .map(|e| e.records.clone())
    }

    /// What planning request `uid` on `on_ramps` must avoid, per on-ramp: the VLANs and
    /// capacity every other request's records hold there, and — `with_wishes`, unless the
    /// request names its own VLAN — the explicit VLANs other requests ask for and have not been
    /// given yet. Kept summed as records change: the cost does not grow with the requests.
    pub fn usage(
        &self,
        uid: &str,
        on_ramps: &[OnRampStatus],
        with_wishes: bool,
    ) -> BTreeMap<String, Usage> {
        let state = self.state();
        let own = state.entries.get(uid);
        let wishes: Vec<(u16, Option<&String>)> = if with_wishes {
            state
                .wishes(uid)
                .map(|(_, vlan, target)| (vlan, target))
                .collect()
        } else {
            Vec::new()
        };
        on_ramps
            .iter()
            .map(|o| {
                let on_ramp = &o.product_uid;
                let mut usage = state.usage.get(on_ramp).cloned().unwrap_or_default();
                for r in own.into_iter().flat_map(|e| &e.records) {
                    if &r.product_uid == on_ramp {
                        usage.remove(hold_of(r));
                    }
                }
                for (vlan, target) in &wishes {
                    if target.is_none_or(|t| t == on_ramp) {
                        usage.add(Hold::of_record(Some(*vlan), 0, true));
                    }
                }
                (on_ramp.clone(), usage)
            })
            .collect()
    }

    /// Who other than `uid` holds `vlan` on `on_ramp` (named as a request in `namespace` sees
    /// it), by a record or, `with_wishes`, by asking for it. Reads the requests on that
    /// on-ramp: only for the VLAN a request names.
    pub fn vlan_holder(
        &self,
        uid: &str,
        namespace: &str,
        on_ramp: &str,
        vlan: u16,
        with_wishes: bool,
    ) -> Option<String> {
        let state = self.state();
        let by_record = state
            .by_on_ramp
            .get(on_ramp)
            .into_iter()
            .flatten()
            .filter(|other| other.as_str() != uid)
            .filter_map(|other| state.entries.get(other))
            .find(|e| {
                e.records
                    .iter()
                    .any(|r| r.product_uid == on_ramp && r.vlan == Some(vlan))
            });
        if let Some(entry) = by_record {
            return Some(holder_name(entry, namespace));
        }
        if !with_wishes {
            return None;
        }
        state
            .wishes(uid)
            .find(|(_, v, target)| *v == vlan && target.is_none_or(|t| t == on_ramp))
            .map(|(entry, ..)| format!("{} (asks for it)", holder_name(entry, namespace)))
    }

    /// The requests to look at again when keys changed (`(marker's request, fingerprint)`,
    /// from [`crate::controller::key_store::KeyStore::changes_since`]) or products did
    /// (`on_ramps`): the request a key's marker names, the requests recording a fingerprint,
    /// the requests with records on an on-ramp — as (namespace, name).
    pub fn affected(
        &self,
        keys: &[(Option<String>, String)],
        on_ramps: &[String],
    ) -> BTreeSet<(String, String)> {
        let state = self.state();
        let by_marker = keys.iter().filter_map(|(uid, _)| uid.as_ref());
        let by_fingerprint = keys
            .iter()
            .filter_map(|(_, fp)| state.by_fingerprint.get(fp))
            .flatten();
        let on_ramp = on_ramps
            .iter()
            .filter_map(|p| state.by_on_ramp.get(p))
            .flatten();
        by_marker
            .chain(by_fingerprint)
            .chain(on_ramp)
            .filter_map(|uid| state.entries.get(uid))
            .map(|e| (e.namespace.clone(), e.name.clone()))
            .collect()
    }

    /// How request `uid` is named to a request in `namespace`, if it is known.
    pub fn name_of(&self, uid: &str, namespace: &str) -> Option<String> {
        self.state()
            .entries
            .get(uid)
            .map(|entry| holder_name(entry, namespace))
    }

    /// Whether a request other than `uid` records the key fingerprint `fp`.
    pub fn claimed_elsewhere(&self, uid: &str, fp: &str) -> bool {
        self.state()
            .by_fingerprint
            .get(fp)
            .is_some_and(|holders| holders.iter().any(|h| h != uid))
    }
}

/// How a request in another namespace is named: never by its tenant's names.
const ANONYMOUS: &str = "a ServiceKeyRequest in another namespace";

/// How a request holding something is named to another: by name in the same namespace; from
/// another namespace, without naming the tenant.
fn holder_name(entry: &Entry, own_namespace: &str) -> String {
    if entry.namespace == own_namespace {
        format!("ServiceKeyRequest {}/{}", entry.namespace, entry.name)
    } else {
        ANONYMOUS.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LA1: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001";
    const NY1: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0003";

    fn object(
        uid: &str,
        ns: &str,
        annotations: serde_json::Value,
        spec: serde_json::Value,
    ) -> DeserializeGuard<ServiceKeyRequest> {
        serde_json::from_value(json!({
            "apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "ServiceKeyRequest",
            "metadata": {"name": format!("r-{uid}"), "namespace": ns, "uid": uid, "annotations": annotations},
            "spec": spec,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn record(on_ramp: &str, vlan: u16) -> Record {
        Record {
            product_uid: on_ramp.into(),
            zone: "-".into(),
            vlan: Some(vlan),
            speed_mbps: 100,
            fingerprint: None,
            applied: None,
            attempted: None,
            updates: Vec::new(),
        }
    }

    fn on_ramp(uid: &str) -> OnRampStatus {
        OnRampStatus {
            product_uid: uid.into(),
            ..OnRampStatus::default()
        }
    }

    fn sealed(seal: &RecordSeal, uid: &str, records: &[Record]) -> serde_json::Value {
        json!({
            crate::issuance::KEYS_ANNOTATION: crate::issuance::render_records(records),
            crate::issuance::SEAL_ANNOTATION: seal.seal(uid, records),
        })
    }

    #[test]
    fn claims_come_from_sealed_records_and_wishes_on_the_on_ramps_considered() {
        let seal = RecordSeal::new([1; 32]);
        let ledger = Ledger::new(seal.clone());
        let mine = [record(LA1, 100)];
        ledger.observe(&watcher::Event::Apply(object(
            "a",
            "t",
            sealed(&seal, "a", &mine),
            json!({"onRamp": {"productUid": LA1}}),
        )));
        // Records copied from "a" onto "b" do not verify for "b": no claim.
        ledger.observe(&watcher::Event::Apply(object(
            "b",
            "t",
            sealed(&seal, "a", &[record(LA1, 200)]),
            json!({}),
        )));
        ledger.observe(&watcher::Event::Apply(object(
            "c",
            "other",
            json!({}),
            json!({"onRamp": {"productUid": LA1}, "vlan": 300}),
        )));
        ledger.observe(&watcher::Event::Apply(object(
            "d",
            "t",
            sealed(&seal, "d", &[record(NY1, 400)]),
            json!({}),
        )));
        assert_eq!(held(&ledger, "me", true), [100, 300]);
        assert_eq!(
            ledger.vlan_holder("me", "t", LA1, 100, true).as_deref(),
            Some("ServiceKeyRequest t/r-a")
        );
        assert_eq!(
            ledger.vlan_holder("me", "t", LA1, 300, true).as_deref(),
            Some("a ServiceKeyRequest in another namespace (asks for it)")
        );
        assert_eq!(ledger.vlan_holder("me", "t", LA1, 200, true), None);
        // A request's own records do not stand in its way.
        assert_eq!(held(&ledger, "a", true), [300]);
        assert_eq!(
            ledger.name_of("a", "t").as_deref(),
            Some("ServiceKeyRequest t/r-a")
        );
        assert_eq!(
            ledger.name_of("c", "t").as_deref(),
            Some("a ServiceKeyRequest in another namespace")
        );
        assert_eq!(held(&ledger, "me", false), [100]);
        assert_eq!(ledger.vlan_holder("me", "t", LA1, 300, false), None);
    }

    /// The VLANs held on LA1 for request `uid`'s plan, and capacity only from planned records.
    fn held(ledger: &Ledger, uid: &str, with_wishes: bool) -> Vec<u16> {
        let usage = ledger.usage(uid, &[on_ramp(LA1)], with_wishes);
        let bits = usage.get(LA1).map(|u| *u.vlans.bits()).unwrap_or([0; 64]);
        (0..4096u16)
            .filter(|v| bits[usize::from(v / 64)] & (1 << (v % 64)) != 0)
            .collect()
    }

    #[test]
    fn own_writes_win_over_older_events_and_deletes_and_relists_clean_up() {
        let seal = RecordSeal::new([1; 32]);
        let ledger = Ledger::new(seal.clone());
        ledger.wrote("a", &[record(LA1, 100)]);
        // A stale event without the annotation does not erase what this process wrote.
        ledger.observe(&watcher::Event::Apply(object(
            "a",
            "t",
            json!({}),
            json!({}),
        )));
        assert_eq!(ledger.own_records("a").map(|r| r.len()), Some(1));
        assert_eq!(held(&ledger, "me", true), [100]);
        ledger.observe(&watcher::Event::Apply(object(
            "b",
            "t",
            sealed(&seal, "b", &[record(LA1, 101)]),
            json!({}),
        )));
        // A relist that no longer holds "b" drops it; a delete drops "a".
        ledger.observe(&watcher::Event::Init);
        ledger.observe(&watcher::Event::InitApply(object(
            "a",
            "t",
            json!({}),
            json!({}),
        )));
        ledger.observe(&watcher::Event::InitDone);
        assert_eq!(held(&ledger, "me", true), [100]);
        ledger.observe(&watcher::Event::Delete(object(
            "a",
            "t",
            json!({}),
            json!({}),
        )));
        assert!(held(&ledger, "me", true).is_empty());
        let usage = ledger.usage("me", &[on_ramp(LA1)], true);
        assert_eq!(usage.get(LA1).map(|u| u.reserved_mbps), Some(0));
        assert!(ledger.own_records("a").is_none());
    }
}
