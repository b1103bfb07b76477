//! What is taken on each on-ramp when a request's keys are planned: VLANs held by live VXCs,
//! unused single-use keys and other requests' records, and capacity reserved by keys not used
//! yet — the selection's view ([`crate::selection::Candidate`]).
//!
//! Keys and records are summed per on-ramp as [`Usage`] (a VLAN multiset and the capacity they
//! reserve), which the keys snapshot and the claim ledger keep up to date as they change: a
//! plan reads one [`Usage`] per on-ramp instead of every key and record on it, so its cost does
//! not grow with the number of requests. Holders are named only for the VLAN a request names.

use std::collections::BTreeMap;

use super::state::key_state;
use crate::crd::onramp_region::OnRampStatus;
use crate::crd::service_key_request::KeyState;
use crate::delivery::Marker;
use crate::megaport::models::{EpochMillis, Product, ServiceKey};
use crate::onramp;
use crate::selection::TakenVlans;

/// What one key or record holds on its on-ramp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hold {
    /// Capacity reserved, Mbps.
    pub mbps: u64,
    /// The VLAN held.
    pub vlan: Option<u16>,
}

impl Hold {
    /// What `key` holds at `now`: an unused, active key reserves its speed and (single-use)
    /// its VLAN; any other key holds nothing.
    pub fn of_key(key: &ServiceKey, now: EpochMillis) -> Option<Self> {
        (key_state(key, now) == KeyState::Active).then(|| Self {
            mbps: u64::from(key.max_speed.unwrap_or(0)),
            vlan: key.vlan.filter(|_| key.single_use),
        })
    }

    /// What a request's record holds: its VLAN, and its speed until its key exists (then the
    /// key reserves it).
    pub fn of_record(vlan: Option<u16>, speed_mbps: u32, issued: bool) -> Self {
        Self {
            mbps: if issued { 0 } else { u64::from(speed_mbps) },
            vlan,
        }
    }
}

/// Every VLAN (0..4096) with how many holders it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VlanCounts {
    counts: Vec<u16>,
    bits: [u64; 64],
}

impl Default for VlanCounts {
    fn default() -> Self {
        Self {
            counts: vec![0; 4096],
            bits: [0; 64],
        }
    }
}

impl VlanCounts {
    fn add(&mut self, vlan: u16) {
        let Some(count) = self.counts.get_mut(usize::from(vlan)) else {
            return;
        };
        *count = count.saturating_add(1);
        self.bits[usize::from(vlan / 64)] |= 1 << (vlan % 64);
    }

    fn remove(&mut self, vlan: u16) {
        let Some(count) = self.counts.get_mut(usize::from(vlan)) else {
            return;
        };
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.bits[usize::from(vlan / 64)] &= !(1 << (vlan % 64));
        }
    }

    /// The VLANs with a holder, as a bit set (bit `v % 64` of word `v / 64`).
    pub fn bits(&self) -> &[u64; 64] {
        &self.bits
    }
}

/// What keys and records hold on one on-ramp, summed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Capacity reserved, Mbps.
    pub reserved_mbps: u64,
    /// VLANs held.
    pub vlans: VlanCounts,
}

impl Usage {
    /// Counts `hold` in.
    pub fn add(&mut self, hold: Hold) {
        self.reserved_mbps += hold.mbps;
        if let Some(vlan) = hold.vlan {
            self.vlans.add(vlan);
        }
    }

    /// Counts `hold` out (it was counted in before).
    pub fn remove(&mut self, hold: Hold) {
        self.reserved_mbps = self.reserved_mbps.saturating_sub(hold.mbps);
        if let Some(vlan) = hold.vlan {
            self.vlans.remove(vlan);
        }
    }

    /// Adds everything `other` holds.
    pub fn absorb(&mut self, other: &Usage) {
        self.reserved_mbps += other.reserved_mbps;
        let (mine, theirs) = (&mut self.vlans, &other.vlans);
        for (m, t) in mine.counts.iter_mut().zip(&theirs.counts) {
            *m = m.saturating_add(*t);
        }
        for (m, t) in mine.bits.iter_mut().zip(&theirs.bits) {
            *m |= t;
        }
    }
}

/// How a key holding a VLAN is named: by its marker's request, else as an unused key.
pub fn key_holder(key: &ServiceKey, name_of: &dyn Fn(&str) -> Option<String>) -> String {
    key.description
        .as_deref()
        .and_then(Marker::parse)
        .and_then(|m| name_of(&m.request_uid))
        .unwrap_or_else(|| "an unused single-use key".to_owned())
}

/// The selection's view of `on_ramps` (ranked): limits and capacity from the products, VLANs
/// taken by live VXCs, and what keys and other requests' records hold (`usage`, per on-ramp).
/// The holder of `wanted` (the VLAN the request names), when taken, is named: a VXC here, a
/// key or request through `holder_of(on_ramp, vlan)`.
pub fn candidates(
    on_ramps: &[OnRampStatus],
    products: &[Product],
    usage: &BTreeMap<String, Usage>,
    holder_of: &dyn Fn(&str, u16) -> Option<String>,
    wanted: Option<u16>,
) -> Vec<crate::selection::Candidate> {
    on_ramps
        .iter()
        .map(|status| {
            let uid = status.product_uid.as_str();
            let product = products.iter().find(|p| p.product_uid == uid);
            let limit = product.and_then(Product::max_connection_speed).unwrap_or(0);
            let capacity = product.and_then(|p| p.port_speed).unwrap_or(limit);
            let mut taken = TakenVlans::default();
            for vxc in product.into_iter().flat_map(onramp::live_vxcs) {
                if let Some(vlan) = vxc
                    .end_on(uid)
                    .and_then(|end| end.vlan)
                    .and_then(|v| u16::try_from(v).ok())
                {
                    taken.take(vlan, wanted, || {
                        format!("VXC {} ({})", vxc.product_name, vxc.product_uid)
                    });
                }
            }
            let used = usage.get(uid);
            if let Some(used) = used {
                taken.take_all(used.vlans.bits());
            }
            if let Some(vlan) = wanted.filter(|v| taken.contains(*v)) {
                taken.take(vlan, wanted, || {
                    holder_of(uid, vlan).unwrap_or_else(|| "another key".to_owned())
                });
            }
            crate::selection::Candidate {
                status: status.clone(),
                limit_mbps: limit,
                capacity_mbps: capacity,
                reserved_mbps: used.map_or(0, |u| u.reserved_mbps),
                taken_vlans: taken,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_holders_in_and_out() {
        let mut usage = Usage::default();
        let a = Hold::of_record(Some(100), 50, false);
        let b = Hold::of_record(Some(100), 50, true);
        usage.add(a);
        usage.add(b);
        assert_eq!(
            usage.reserved_mbps, 50,
            "an issued record's key reserves it"
        );
        usage.remove(a);
        assert_ne!(
            usage.vlans.bits()[1] & (1 << 36),
            0,
            "VLAN 100 still held by b"
        );
        usage.remove(b);
        assert_eq!(usage, Usage::default());
        let mut sum = Usage::default();
        let mut other = Usage::default();
        other.add(Hold::of_record(Some(4094), 7, false));
        sum.absorb(&other);
        sum.absorb(&other);
        assert_eq!(sum.reserved_mbps, 14);
        sum.remove(Hold::of_record(Some(4094), 7, false));
        assert_ne!(
            sum.vlans.bits()[63] & (1 << 62),
            0,
            "counted twice, removed once"
        );
    }
}
