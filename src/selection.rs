//! Choosing on-ramps and VLANs for a ServiceKeyRequest, pure: given the region's ranked
//! on-ramps and what is already taken on each (VXCs, unused single-use keys, VLANs claimed by
//! requests being decided right now), pick one on-ramp (or one per diversity zone) and a VLAN
//! that is free on it. The controller serialises decisions per on-ramp and feeds every claim in,
//! so the same VLAN is never handed out twice.

use std::collections::{BTreeMap, BTreeSet};

use crate::crd::onramp_region::{OnRampStatus, VlanRange};
use crate::crd::service_key_request::Diversity;

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needs {
    /// Requested max speed; `None` = the on-ramp's full speed.
    pub speed_mbps: Option<u32>,
    /// One key, or one per zone.
    pub diversity: Diversity,
    /// Single-use keys get a VLAN.
    pub single_use: bool,
    /// An explicit VLAN (single-use only).
    pub vlan: Option<u16>,
    /// Where the operator may pick VLANs from.
    pub vlan_range: VlanRange,
}

/// One on-ramp as the selection sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Eligibility, zone and usage from the region.
    pub status: OnRampStatus,
    /// Highest rate a VXC to it may have (min of speed and maxVxcSpeed), Mbps.
    pub limit_mbps: u32,
    /// Port speed (capacity), Mbps.
    pub capacity_mbps: u32,
    /// Capacity held by keys issued but not used yet, Mbps.
    pub reserved_mbps: u64,
    /// VLANs taken on it (by a VXC, an unused key, a request in progress), naming the holder
    /// of the one a message may be about.
    pub taken_vlans: TakenVlans,
}

/// The VLANs taken on one on-ramp: a set of all 4096 (cheap to fill from thousands of keys and
/// to search), with the holder's name kept only where a message may show it — building a name
/// for every VLAN of every on-ramp at every decision would cost more than the decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakenVlans {
    bits: [u64; 64],
    holders: BTreeMap<u16, String>,
}

impl Default for TakenVlans {
    fn default() -> Self {
        Self {
            bits: [0; 64],
            holders: BTreeMap::new(),
        }
    }
}

impl TakenVlans {
    /// Marks `vlan` taken; when it is `wanted` (the VLAN a request names) and nobody is named
    /// for it yet, names `holder()` (the first holder stays named).
    pub fn take(&mut self, vlan: u16, wanted: Option<u16>, holder: impl FnOnce() -> String) {
        let Some(word) = self.bits.get_mut(usize::from(vlan / 64)) else {
            return;
        };
        *word |= 1 << (vlan % 64);
        if wanted == Some(vlan) {
            self.holders.entry(vlan).or_insert_with(holder);
        }
    }

    /// Marks every VLAN of `bits` taken (bit `v % 64` of word `v / 64`), naming none.
    pub fn take_all(&mut self, bits: &[u64; 64]) {
        for (mine, theirs) in self.bits.iter_mut().zip(bits) {
            *mine |= theirs;
        }
    }

    /// Marks `vlan` taken by `holder` (named whatever VLAN a request names).
    pub fn insert(&mut self, vlan: u16, holder: String) {
        self.take(vlan, Some(vlan), || holder);
    }

    /// Whether `vlan` is taken.
    pub fn contains(&self, vlan: u16) -> bool {
        self.bits
            .get(usize::from(vlan / 64))
            .is_some_and(|w| w & (1 << (vlan % 64)) != 0)
    }

    /// Who holds `vlan`, if it is taken.
    pub fn holder(&self, vlan: u16) -> Option<&str> {
        self.contains(vlan).then(|| {
            self.holders
                .get(&vlan)
                .map_or("another key or connection", String::as_str)
        })
    }
}

impl FromIterator<(u16, String)> for TakenVlans {
    fn from_iter<I: IntoIterator<Item = (u16, String)>>(iter: I) -> Self {
        let mut taken = Self::default();
        for (vlan, holder) in iter {
            taken.insert(vlan, holder);
        }
        taken
    }
}

/// A chosen on-ramp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pick {
    /// The on-ramp.
    pub product_uid: String,
    /// Its zone.
    pub zone: Option<String>,
    /// The VLAN for a single-use key.
    pub vlan: Option<u16>,
    /// The key's max speed.
    pub speed_mbps: u32,
}

/// The decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Issue one key per pick: one or two (two are in different zones; one for Preferred
    /// diversity when only one zone fits).
    Picked(Vec<Pick>),
    /// Nothing can be issued now.
    Unavailable(Unavailable),
}

/// Why nothing can be issued, each with what stands in the way (naming holders and on-ramps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// The region has no on-ramps.
    NoOnRamps,
    /// No on-ramp fits (speed, eligibility, capacity): the request would need changing.
    NoFittingOnRamp(String),
    /// Diversity Required, but fitting on-ramps are in one zone.
    DiversityUnavailable(String),
    /// The explicit VLAN is taken everywhere it could go; heals when its holder goes away.
    VlanInUse(String),
}

impl Unavailable {
    /// What stands in the way.
    pub fn message(&self) -> String {
        match self {
            Self::NoOnRamps => "the region has no on-ramps".to_owned(),
            Self::NoFittingOnRamp(why) | Self::DiversityUnavailable(why) | Self::VlanInUse(why) => {
                why.clone()
            }
        }
    }
}

/// Why one candidate does not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Misfit {
    /// Not eligible, too slow, full: the request would need changing.
    Unsuitable(String),
    /// The explicit VLAN is taken; heals when the holder goes.
    VlanTaken(String),
}

/// The lowest VLAN of `range` not in `taken`.
pub fn lowest_free_vlan(range: VlanRange, taken: &TakenVlans) -> Option<u16> {
    (range.min..=range.max).find(|v| !taken.contains(*v))
}

fn fit(c: &Candidate, needs: &Needs) -> Result<Pick, Misfit> {
    let name = &c.status.name;
    if !c.status.eligible {
        let why = c.status.reason.as_deref().unwrap_or("not eligible");
        return Err(Misfit::Unsuitable(format!("{name}: {why}")));
    }
    let speed = needs.speed_mbps.unwrap_or(c.limit_mbps);
    if speed > c.limit_mbps {
        return Err(Misfit::Unsuitable(format!(
            "{name}: maxSpeedMbps {speed} exceeds its limit of {} Mbps",
            c.limit_mbps
        )));
    }
    let committed = c.status.allocated_mbps + c.reserved_mbps;
    let free = u64::from(c.capacity_mbps).saturating_sub(committed);
    if u64::from(speed) > free {
        return Err(Misfit::Unsuitable(format!(
            "{name}: only {free} of {} Mbps are not allocated or reserved",
            c.capacity_mbps
        )));
    }
    let vlan = match (needs.single_use, needs.vlan) {
        (false, _) => None,
        (true, Some(v)) => match c.taken_vlans.holder(v) {
            Some(holder) => {
                return Err(Misfit::VlanTaken(format!(
                    "VLAN {v} on {name} is held by {holder}"
                )));
            }
            None => Some(v),
        },
        (true, None) => match lowest_free_vlan(needs.vlan_range, &c.taken_vlans) {
            Some(v) => Some(v),
            None => {
                return Err(Misfit::Unsuitable(format!(
                    "{name}: no free VLAN in {}-{}",
                    needs.vlan_range.min, needs.vlan_range.max
                )));
            }
        },
    };
    Ok(Pick {
        product_uid: c.status.product_uid.clone(),
        zone: c.status.diversity_zone.clone(),
        vlan,
        speed_mbps: speed,
    })
}

/// Picks on-ramps from `candidates` (ranked best first) for `needs`. Deterministic.
pub fn select(candidates: &[Candidate], needs: &Needs) -> Outcome {
    let mut fits = Vec::new();
    let mut misfits = Vec::new();
    for c in candidates {
        match fit(c, needs) {
            Ok(pick) => fits.push(pick),
            Err(m) => misfits.push(m),
        }
    }
    let Some(first) = fits.first().cloned() else {
        return unavailable(candidates, misfits);
    };
    if needs.diversity == Diversity::None {
        return Outcome::Picked(vec![first]);
    }
    let second = fits
        .iter()
        .find(|p| p.zone.is_some() && first.zone.is_some() && p.zone != first.zone)
        .cloned();
    match (second, needs.diversity) {
        (Some(second), _) => Outcome::Picked(vec![first, second]),
        (None, Diversity::Preferred) => Outcome::Picked(vec![first]),
        (None, _) => {
            let zones: BTreeSet<&str> = fits.iter().filter_map(|p| p.zone.as_deref()).collect();
            Outcome::Unavailable(Unavailable::DiversityUnavailable(format!(
                "diversity Required needs on-ramps in two zones; fitting on-ramps are only in {}",
                if zones.is_empty() {
                    "no zone".to_owned()
                } else {
                    zones.into_iter().collect::<Vec<_>>().join(", ")
                }
            )))
        }
    }
}

fn unavailable(candidates: &[Candidate], misfits: Vec<Misfit>) -> Outcome {
    if candidates.is_empty() {
        return Outcome::Unavailable(Unavailable::NoOnRamps);
    }
    let vlan_conflicts: Vec<&str> = misfits
        .iter()
        .filter_map(|m| match m {
            Misfit::VlanTaken(why) => Some(why.as_str()),
            Misfit::Unsuitable(_) => None,
        })
        .collect();
    let all: Vec<&str> = misfits
        .iter()
        .map(|m| match m {
            Misfit::VlanTaken(why) | Misfit::Unsuitable(why) => why.as_str(),
        })
        .collect();
    if vlan_conflicts.is_empty() {
        Outcome::Unavailable(Unavailable::NoFittingOnRamp(all.join("; ")))
    } else {
        // Waiting is enough once the holder goes away.
        Outcome::Unavailable(Unavailable::VlanInUse(all.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn candidate(uid: &str, zone: &str, allocated: u64, taken: &[u16]) -> Candidate {
        Candidate {
            status: OnRampStatus {
                product_uid: uid.into(),
                name: format!("port-{uid}"),
                diversity_zone: Some(zone.into()),
                allocated_mbps: allocated,
                eligible: true,
                ..OnRampStatus::default()
            },
            limit_mbps: 10_000,
            capacity_mbps: 10_000,
            reserved_mbps: 0,
            taken_vlans: taken.iter().map(|v| (*v, format!("VXC on {v}"))).collect(),
        }
    }

    #[test]
    fn taken_vlans_are_a_set_naming_only_the_wanted_vlans_first_holder() {
        let mut taken = TakenVlans::default();
        let mut named = Vec::new();
        for vlan in [100, 101, 4094] {
            taken.take(vlan, Some(101), || {
                named.push(vlan);
                format!("holder of {vlan}")
            });
        }
        taken.take(101, Some(101), || "a second holder".into());
        assert_eq!(named, [101], "names are built only for the wanted VLAN");
        assert_eq!(
            taken.holder(101),
            Some("holder of 101"),
            "the first stays named"
        );
        assert_eq!(taken.holder(100), Some("another key or connection"));
        assert_eq!(taken.holder(102), None);
        assert!(taken.contains(4094) && !taken.contains(4095));
        let range = VlanRange { min: 100, max: 102 };
        assert_eq!(lowest_free_vlan(range, &taken), Some(102));
    }

    fn needs(diversity: Diversity, vlan: Option<u16>) -> Needs {
        Needs {
            speed_mbps: Some(500),
            diversity,
            single_use: true,
            vlan,
            vlan_range: VlanRange { min: 100, max: 199 },
        }
    }

    #[test]
    fn diverse_pair_one_per_zone() {
        let c = [
            candidate("la2", "red", 1500, &[]),
            candidate("la1", "blue", 3500, &[100]),
        ];
        let Outcome::Picked(picks) = select(&c, &needs(Diversity::Required, None)) else {
            panic!()
        };
        assert_eq!(
            picks
                .iter()
                .map(|p| p.zone.as_deref().unwrap())
                .collect::<Vec<_>>(),
            ["red", "blue"]
        );
        assert_eq!(picks[0].vlan, Some(100));
        assert_eq!(picks[1].vlan, Some(101), "100 is taken on la1");
    }

    #[test]
    fn preferred_falls_back_and_required_stalls() {
        let c = [candidate("a", "red", 0, &[]), candidate("b", "red", 0, &[])];
        match select(&c, &needs(Diversity::Preferred, None)) {
            Outcome::Picked(picks) => assert_eq!(picks.len(), 1),
            other => panic!("{other:?}"),
        }
        match select(&c, &needs(Diversity::Required, None)) {
            Outcome::Unavailable(Unavailable::DiversityUnavailable(reason)) => {
                assert!(reason.contains("only in red"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn explicit_vlan_taken_names_the_holder_and_is_not_stalled() {
        let c = [candidate("la1", "blue", 0, &[100])];
        match select(&c, &needs(Diversity::None, Some(100))) {
            Outcome::Unavailable(Unavailable::VlanInUse(reason)) => {
                assert!(
                    reason.contains("VLAN 100 on port-la1 is held by VXC on 100"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn too_fast_or_full_on_ramps_are_skipped_with_reasons() {
        let mut slow = candidate("osaka", "blue", 0, &[]);
        slow.limit_mbps = 1000;
        slow.capacity_mbps = 1000;
        let mut full = candidate("busy", "red", 9_800, &[]);
        full.reserved_mbps = 100;
        let n = Needs {
            speed_mbps: Some(2000),
            ..needs(Diversity::None, None)
        };
        match select(&[slow, full], &n) {
            Outcome::Unavailable(Unavailable::NoFittingOnRamp(reason)) => {
                assert!(
                    reason.contains("maxSpeedMbps 2000 exceeds its limit of 1000"),
                    "{reason}"
                );
                assert!(reason.contains("only 100 of 10000 Mbps"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn multi_use_keys_take_no_vlan() {
        let n = Needs {
            single_use: false,
            vlan: None,
            ..needs(Diversity::None, None)
        };
        let Outcome::Picked(picks) = select(&[candidate("a", "red", 0, &[])], &n) else {
            panic!()
        };
        assert_eq!(picks[0].vlan, None);
    }

    fn arb_candidate(i: usize) -> impl Strategy<Value = Candidate> {
        (
            prop::option::of(prop::sample::select(vec!["red", "blue", "green"])),
            any::<bool>(),
            prop::sample::select(vec![1000u32, 10_000, 100_000]),
            0u64..12_000,
            0u64..2_000,
            prop::collection::btree_set(100u16..110, 0..10),
        )
            .prop_map(
                move |(zone, eligible, capacity, allocated, reserved, taken)| Candidate {
                    status: OnRampStatus {
                        product_uid: format!("p{i}"),
                        name: format!("p{i}"),
                        diversity_zone: zone.map(str::to_owned),
                        allocated_mbps: allocated,
                        eligible,
                        reason: (!eligible).then(|| "not LIVE".to_owned()),
                        ..OnRampStatus::default()
                    },
                    limit_mbps: capacity,
                    capacity_mbps: capacity,
                    reserved_mbps: reserved,
                    taken_vlans: taken
                        .into_iter()
                        .map(|v| (v, "holder".to_owned()))
                        .collect(),
                },
            )
    }

    fn arb_candidates() -> impl Strategy<Value = Vec<Candidate>> {
        (0usize..5).prop_flat_map(|n| (0..n).map(arb_candidate).collect::<Vec<_>>())
    }

    fn arb_needs() -> impl Strategy<Value = Needs> {
        (
            prop::option::of(1u32..20_000),
            prop::sample::select(vec![
                Diversity::None,
                Diversity::Preferred,
                Diversity::Required,
            ]),
            any::<bool>(),
            prop::option::of(100u16..110),
        )
            .prop_map(|(speed, diversity, single_use, vlan)| Needs {
                speed_mbps: speed,
                diversity,
                single_use,
                vlan: vlan.filter(|_| single_use),
                vlan_range: VlanRange { min: 100, max: 109 },
            })
    }

    proptest! {
        #[test]
        fn picks_respect_capacity_vlans_and_diversity(cands in arb_candidates(), n in arb_needs()) {
            let outcome = select(&cands, &n);
            prop_assert_eq!(&outcome, &select(&cands, &n), "deterministic");
            if let Outcome::Picked(picks) = outcome {
                prop_assert!(!picks.is_empty() && picks.len() <= 2);
                for p in &picks {
                    let c = cands.iter().find(|c| c.status.product_uid == p.product_uid).unwrap();
                    prop_assert!(c.status.eligible);
                    prop_assert!(p.speed_mbps <= c.limit_mbps, "over the on-ramp's limit");
                    prop_assert!(u64::from(p.speed_mbps) + c.status.allocated_mbps + c.reserved_mbps <= u64::from(c.capacity_mbps), "over capacity");
                    match p.vlan {
                        Some(v) => {
                            prop_assert!(n.single_use);
                            prop_assert!(!c.taken_vlans.contains(v), "VLAN {} taken", v);
                            prop_assert!(n.vlan.is_none_or(|want| want == v));
                        }
                        None => prop_assert!(!n.single_use),
                    }
                }
                if picks.len() == 2 {
                    prop_assert_ne!(&picks[0].product_uid, &picks[1].product_uid);
                    prop_assert!(picks[0].zone.is_some() && picks[0].zone != picks[1].zone, "diversity");
                }
                if n.diversity == Diversity::Required {
                    prop_assert_eq!(picks.len(), 2, "Required gives two zones or nothing");
                }
                if n.diversity == Diversity::None {
                    prop_assert_eq!(picks.len(), 1);
                }
            }
        }

        #[test]
        fn sequential_requests_never_reuse_a_vlan(mut cands in arb_candidates(), rounds in 1usize..15) {
            let n = Needs { speed_mbps: Some(1), diversity: Diversity::None, single_use: true, vlan: None, vlan_range: VlanRange { min: 100, max: 109 } };
            let mut handed_out: BTreeSet<(String, u16)> = BTreeSet::new();
            for round in 0..rounds {
                match select(&cands, &n) {
                    Outcome::Picked(picks) => {
                        for p in picks {
                            let v = p.vlan.unwrap();
                            prop_assert!(handed_out.insert((p.product_uid.clone(), v)), "VLAN {} twice on {}", v, p.product_uid);
                            let c = cands.iter_mut().find(|c| c.status.product_uid == p.product_uid).unwrap();
                            c.taken_vlans.insert(v, format!("request {round}"));
                        }
                    }
                    Outcome::Unavailable(_) => break,
                }
            }
        }
    }
}
