//! The claim ledger: what every ServiceKeyRequest holds (its trusted records: planned and
//! issued keys, with their on-ramp, VLAN and speed; the explicit VLAN it asks for until it is
//! given one), kept by the watch — updated from the reflector's events and from this process's
//! own writes — so a decision reads the claims on the on-ramps it considers instead of
//! re-parsing and re-verifying every other request's annotation.
//!
//! The process's own writes are authoritative until the object is deleted: a watch event may
//! carry an older copy of the annotation than the one just written.

use crate::sync::Locked;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use kube::core::DeserializeGuard;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::crd::ServiceKeyRequest;
use crate::crd::onramp_region::OnRampStatus;
use crate::issuance::{Claim, Record, RecordSeal, sealed_records};

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
                    state.entries.retain(|uid, _| seen.contains(uid));
                }
            }
            watcher::Event::Delete(obj) => {
                if let Some(uid) = obj.uid() {
                    state.entries.remove(&uid);
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
        let entry = state.entries.entry(uid.clone()).or_default();
        entry.namespace = obj.namespace().unwrap_or_default();
        entry.name = obj.name_any();
        entry.wish = wish;
        entry.deleting = obj.meta().deletion_timestamp.is_some();
        if !entry.own {
            entry.records = sealed_records(obj.annotations(), &uid, &self.seal).unwrap_or_default();
        }
    }

    /// Records this process just wrote for request `uid`.
    pub fn wrote(&self, uid: &str, records: &[Record]) {
        let mut state = self.state();
        let entry = state.entries.entry(uid.to_owned()).or_default();
        entry.records = records.to_vec();
        entry.own = true;
    }

    /// Forgets a deleted request.
    pub fn forget(&self, uid: &str) {
        self.state().entries.remove(uid);
    }

    /// The records this process wrote for `uid`, if it wrote any.
    pub fn own_records(&self, uid: &str) -> Option<Vec<Record>> {
        self.state()
            .entries
            .get(uid)
            .filter(|e| e.own)
            .map(|e| e.records.clone())
    }

    /// What planning request `uid` (in `namespace`) on `on_ramps` must avoid: the VLAN and
    /// capacity claims of every other request there, and — unless the request names its own
    /// VLAN — the explicit VLANs other requests ask for and have not been given yet. Also how
    /// to name each request, for messages.
    pub fn claims(
        &self,
        uid: &str,
        namespace: &str,
        on_ramps: &[OnRampStatus],
        with_wishes: bool,
    ) -> (Vec<Claim>, BTreeMap<String, String>) {
        let state = self.state();
        let wanted: HashSet<&str> = on_ramps.iter().map(|o| o.product_uid.as_str()).collect();
        let mut claims = Vec::new();
        let mut owners = BTreeMap::new();
        for (other, entry) in &state.entries {
            let holder = holder_name(entry, namespace);
            owners.insert(other.clone(), holder.clone());
            if other == uid {
                continue;
            }
            claims.extend(
                entry
                    .records
                    .iter()
                    .filter(|r| wanted.contains(r.product_uid.as_str()))
                    .map(|r| Claim {
                        issued: r.fingerprint.is_some(),
                        product_uid: r.product_uid.clone(),
                        vlan: r.vlan,
                        speed_mbps: r.speed_mbps,
                        holder: holder.clone(),
                    }),
            );
            if let (true, Some((vlan, target)), true, false) = (
                with_wishes,
                &entry.wish,
                entry.records.is_empty(),
                entry.deleting,
            ) {
                let holder = format!("{holder} (asks for it)");
                claims.extend(
                    on_ramps
                        .iter()
                        .filter(|o| target.as_ref().is_none_or(|t| *t == o.product_uid))
                        .map(|o| Claim {
                            product_uid: o.product_uid.clone(),
                            vlan: Some(*vlan),
                            speed_mbps: 0,
                            issued: true,
                            holder: holder.clone(),
                        }),
                );
            }
        }
        (claims, owners)
    }

    /// Whether a request other than `uid` records the key fingerprint `fp`.
    pub fn claimed_elsewhere(&self, uid: &str, fp: &str) -> bool {
        self.state().entries.iter().any(|(other, entry)| {
            other != uid
                && entry
                    .records
                    .iter()
                    .any(|r| r.fingerprint.as_deref() == Some(fp))
        })
    }
}

/// How a request holding something is named to another: by name in the same namespace; from
/// another namespace, without naming the tenant.
fn holder_name(entry: &Entry, own_namespace: &str) -> String {
    if entry.namespace == own_namespace {
        format!("ServiceKeyRequest {}/{}", entry.namespace, entry.name)
    } else {
        "a ServiceKeyRequest in another namespace".to_owned()
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
        let (claims, owners) = ledger.claims("me", "t", &[on_ramp(LA1)], true);
        let mut vlans: Vec<(u16, &str)> = claims
            .iter()
            .map(|c| (c.vlan.unwrap_or(0), c.holder.as_str()))
            .collect();
        vlans.sort();
        assert_eq!(
            vlans,
            [
                (100, "ServiceKeyRequest t/r-a"),
                (
                    300,
                    "a ServiceKeyRequest in another namespace (asks for it)"
                )
            ]
        );
        assert_eq!(
            owners.get("a").map(String::as_str),
            Some("ServiceKeyRequest t/r-a")
        );
        let (without_wishes, _) = ledger.claims("me", "t", &[on_ramp(LA1)], false);
        assert_eq!(without_wishes.len(), 1);
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
        assert_eq!(ledger.claims("me", "t", &[on_ramp(LA1)], true).0.len(), 1);
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
        assert_eq!(ledger.claims("me", "t", &[on_ramp(LA1)], true).0.len(), 1);
        ledger.observe(&watcher::Event::Delete(object(
            "a",
            "t",
            json!({}),
            json!({}),
        )));
        assert!(ledger.claims("me", "t", &[on_ramp(LA1)], true).0.is_empty());
        assert!(ledger.own_records("a").is_none());
    }
}
