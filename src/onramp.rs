//! On-ramp logic, pure: which of the provider's products a region matches, whether each can
//! take a new connection (and why not), how used it is, and the catalog views (countries →
//! metros → on-ramps). Everything here is a function of Megaport products and a region spec;
//! no IO, so controllers, the `catalog` command and tests share it.

use std::collections::{BTreeMap, BTreeSet};

use crate::crd::onramp_region::{
    EffectiveRegion, OnRampKind, OnRampRegionSpec, OnRampStatus, Strategy, VlanRange,
};
use crate::megaport::models::{Product, ProductType, Vxc};

/// The Megaport product type of an on-ramp kind.
pub fn product_type(kind: OnRampKind) -> ProductType {
    match kind {
        OnRampKind::Port => ProductType::Megaport,
        OnRampKind::Mcr => ProductType::Mcr2,
        OnRampKind::Mve => ProductType::Mve,
    }
}

/// The on-ramp kind of a Megaport product, if it is one.
pub fn kind_of(product: &Product) -> Option<OnRampKind> {
    match product.product_type {
        ProductType::Megaport => Some(OnRampKind::Port),
        ProductType::Mcr2 => Some(OnRampKind::Mcr),
        ProductType::Mve => Some(OnRampKind::Mve),
        _ => None,
    }
}

/// A region's settings with defaults applied (reported in status as `effective`).
pub fn effective(spec: &OnRampRegionSpec) -> EffectiveRegion {
    let mut product_types = spec
        .match_
        .product_types
        .clone()
        .unwrap_or_else(|| vec![OnRampKind::Port]);
    product_types.sort();
    product_types.dedup();
    EffectiveRegion {
        product_types,
        strategy: spec
            .selection
            .as_ref()
            .and_then(|s| s.strategy)
            .unwrap_or_default(),
        vlan_range: spec.vlan_range.unwrap_or(VlanRange::FULL),
    }
}

fn detail(product: &Product) -> (Option<&str>, Option<&str>, Option<&str>) {
    let d = product.location_detail.as_ref();
    (
        d.and_then(|d| d.name.as_deref()),
        d.and_then(|d| d.metro.as_deref()),
        d.and_then(|d| d.country.as_deref()),
    )
}

/// Whether `product` belongs to the region: an on-ramp of an allowed type that every given
/// selector matches. Cancelled and decommissioned products never match (they are gone);
/// products that are merely not LIVE yet match and show as ineligible.
pub fn matches(spec: &OnRampRegionSpec, effective: &EffectiveRegion, product: &Product) -> bool {
    let Some(kind) = kind_of(product) else {
        return false;
    };
    if !effective.product_types.contains(&kind) || product.provisioning_status.is_inactive() {
        return false;
    }
    let m = &spec.match_;
    let (_, metro, country) = detail(product);
    let within = |list: &Option<Vec<String>>, value: Option<&str>| {
        list.as_ref()
            .is_none_or(|l| value.is_some_and(|v| l.iter().any(|x| x == v)))
    };
    within(&m.countries, country)
        && within(&m.metros, metro)
        && m.location_ids
            .as_ref()
            .is_none_or(|ids| product.location_id.is_some_and(|id| ids.contains(&id)))
        && m.product_uids
            .as_ref()
            .is_none_or(|uids| uids.contains(&product.product_uid))
}

/// The VXCs that still exist on a product (Megaport lists decommissioned ones too), each once.
pub fn live_vxcs(product: &Product) -> impl Iterator<Item = &Vxc> {
    let mut seen = BTreeSet::new();
    product
        .associated_vxcs
        .iter()
        .filter(|v| !v.provisioning_status.is_inactive())
        .filter(move |v| seen.insert(v.product_uid.as_str()))
}

/// VLANs taken on `product` by its live VXCs (the VLAN of the end attached to it).
pub fn vlans_in_use(product: &Product) -> BTreeSet<u16> {
    live_vxcs(product)
        .filter_map(|v| v.end_on(&product.product_uid).and_then(|end| end.vlan))
        .filter_map(|vlan| u16::try_from(vlan).ok())
        .collect()
}

/// How used an on-ramp is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Live VXCs.
    pub connections: u32,
    /// Sum of their rate limits, Mbps.
    pub allocated_mbps: u64,
    /// `allocated_mbps` as a share of the port speed, percent rounded down (0 when unknown).
    pub utilisation_percent: u32,
}

/// Connections and allocated capacity from the VXCs nested under the product.
pub fn usage(product: &Product) -> Usage {
    let (connections, allocated_mbps) = live_vxcs(product).fold((0u32, 0u64), |(n, mbps), v| {
        (n + 1, mbps + u64::from(v.rate_limit.unwrap_or(0)))
    });
    let capacity = u64::from(product.port_speed.or(product.max_vxc_speed).unwrap_or(0));
    let utilisation_percent = match capacity {
        0 => 0,
        c => u32::try_from(allocated_mbps * 100 / c).unwrap_or(u32::MAX),
    };
    Usage {
        connections,
        allocated_mbps,
        utilisation_percent,
    }
}

/// Why a matched on-ramp cannot take a new connection, or `None` when it can.
pub fn ineligibility(product: &Product, vlan_range: VlanRange) -> Option<String> {
    if !product.provisioning_status.is_live() {
        return Some(format!(
            "provisioningStatus is {}, not LIVE",
            product.provisioning_status
        ));
    }
    match product.vxc_permitted() {
        Some(true) => {}
        Some(false) => return Some("vxcPermitted is false: Megaport accepts no VXCs to it".into()),
        None => return Some("Megaport does not say whether VXCs are permitted".into()),
    }
    if product.max_connection_speed().unwrap_or(0) == 0 {
        return Some("its speed is unknown".into());
    }
    let used = vlans_in_use(product);
    let size = usize::from(vlan_range.max.saturating_sub(vlan_range.min)) + 1;
    let taken = used.range(vlan_range.min..=vlan_range.max).count();
    if taken >= size {
        return Some(format!(
            "no free VLAN in {}-{}",
            vlan_range.min, vlan_range.max
        ));
    }
    None
}

/// The status entry of one matched on-ramp.
pub fn on_ramp_status(product: &Product, vlan_range: VlanRange) -> OnRampStatus {
    let (location, metro, country) = detail(product);
    let usage = usage(product);
    let reason = ineligibility(product, vlan_range);
    OnRampStatus {
        product_uid: product.product_uid.clone(),
        name: product.product_name.clone(),
        product_type: kind_of(product),
        location: location.map(str::to_owned),
        location_id: product.location_id,
        metro: metro.map(str::to_owned),
        country: country.map(str::to_owned),
        diversity_zone: product.diversity_zone.clone(),
        provisioning_status: Some(product.provisioning_status.as_str().to_owned()),
        speed_mbps: product.port_speed,
        max_vxc_speed_mbps: product.max_vxc_speed,
        vxc_permitted: product.vxc_permitted(),
        connections: usage.connections,
        allocated_mbps: usage.allocated_mbps,
        utilisation_percent: usage.utilisation_percent,
        eligible: reason.is_none(),
        reason,
    }
}

/// A region evaluated against the provider's products.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionView {
    /// Settings after defaults.
    pub effective: EffectiveRegion,
    /// Every matched on-ramp, ordered by the region's strategy (best first; ineligible last).
    pub on_ramps: Vec<OnRampStatus>,
    /// Diversity zones among eligible on-ramps, sorted.
    pub zones: Vec<String>,
}

impl RegionView {
    /// Eligible on-ramps.
    pub fn eligible(&self) -> impl Iterator<Item = &OnRampStatus> {
        self.on_ramps.iter().filter(|o| o.eligible)
    }
}

/// Orders on-ramps best-first for `strategy`: eligible before ineligible, then by the strategy's
/// measure, then the other measure, then product uid (deterministic).
pub fn rank(on_ramps: &mut [OnRampStatus], strategy: Strategy) {
    on_ramps.sort_by(|a, b| {
        let key = |o: &OnRampStatus| match strategy {
            Strategy::LeastUtilized => (!o.eligible, o.utilisation_percent, o.connections),
            Strategy::FewestConnections => (!o.eligible, o.connections, o.utilisation_percent),
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| a.product_uid.cmp(&b.product_uid))
    });
}

/// Evaluates a region: matched on-ramps with eligibility and usage, ranked, and the zones.
pub fn evaluate(spec: &OnRampRegionSpec, products: &[Product]) -> RegionView {
    let effective = effective(spec);
    let mut on_ramps: Vec<OnRampStatus> = products
        .iter()
        .filter(|p| matches(spec, &effective, p))
        .map(|p| on_ramp_status(p, effective.vlan_range))
        .collect();
    rank(&mut on_ramps, effective.strategy);
    let zones: BTreeSet<String> = on_ramps
        .iter()
        .filter(|o| o.eligible)
        .filter_map(|o| o.diversity_zone.clone())
        .collect();
    RegionView {
        effective,
        on_ramps,
        zones: zones.into_iter().collect(),
    }
}

// === catalog ===

/// The provider's live on-ramps (LIVE, of any on-ramp type), for the catalog views.
pub fn live_on_ramps(products: &[Product]) -> impl Iterator<Item = &Product> {
    products
        .iter()
        .filter(|p| kind_of(p).is_some() && p.provisioning_status.is_live())
}

/// Countries with live on-ramps, and how many each has.
pub fn countries(products: &[Product]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for p in live_on_ramps(products) {
        if let (_, _, Some(country)) = detail(p) {
            *out.entry(country.to_owned()).or_insert(0) += 1;
        }
    }
    out
}

/// Metros with live on-ramps (optionally in one country), and how many each has.
pub fn metros(products: &[Product], country: Option<&str>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for p in live_on_ramps(products) {
        let (_, metro, c) = detail(p);
        if country.is_some_and(|want| c != Some(want)) {
            continue;
        }
        if let Some(metro) = metro {
            *out.entry(metro.to_owned()).or_insert(0) += 1;
        }
    }
    out
}

/// Every on-ramp (live or not, never cancelled) with eligibility, optionally filtered by
/// country and metro, ordered by country, metro, location id and name.
pub fn on_ramps(
    products: &[Product],
    country: Option<&str>,
    metro: Option<&str>,
) -> Vec<OnRampStatus> {
    let mut out: Vec<OnRampStatus> = products
        .iter()
        .filter(|p| kind_of(p).is_some() && !p.provisioning_status.is_inactive())
        .filter(|p| {
            let (_, m, c) = detail(p);
            country.is_none_or(|want| c == Some(want)) && metro.is_none_or(|want| m == Some(want))
        })
        .map(|p| on_ramp_status(p, VlanRange::FULL))
        .collect();
    out.sort_by(|a, b| {
        (&a.country, &a.metro, a.location_id, &a.name).cmp(&(
            &b.country,
            &b.metro,
            b.location_id,
            &b.name,
        ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::onramp_region::{OnRampMatch, Selection};
    use serde_json::json;

    fn port(
        uid: &str,
        metro: &str,
        country: &str,
        location_id: i64,
        zone: &str,
    ) -> serde_json::Value {
        json!({
            "productUid": uid, "productName": format!("port-{uid}"), "productType": "MEGAPORT",
            "provisioningStatus": "LIVE", "portSpeed": 10000, "locationId": location_id,
            "vxcpermitted": true, "diversityZone": zone,
            "locationDetail": {"name": format!("DC {location_id}"), "metro": metro, "country": country},
            "associatedVxcs": []
        })
    }

    fn vxc(uid: &str, port_uid: &str, vlan: i64, rate: u32, status: &str) -> serde_json::Value {
        json!({
            "productUid": uid, "productType": "VXC", "rateLimit": rate, "provisioningStatus": status,
            "aEnd": {"productUid": "customer-port", "vlan": 10},
            "bEnd": {"productUid": port_uid, "vlan": vlan}
        })
    }

    fn products(values: Vec<serde_json::Value>) -> Vec<Product> {
        values
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap())
            .collect()
    }

    fn world() -> Vec<Product> {
        let mut la1 = port("la1", "Los Angeles", "USA", 59, "blue");
        la1["associatedVxcs"] = json!([
            vxc("v1", "la1", 100, 1000, "LIVE"),
            vxc("v2", "la1", 101, 2500, "LIVE"),
            vxc("v1", "la1", 100, 1000, "LIVE"), // listed twice (both ends are ours)
            vxc("v3", "la1", 102, 5000, "DECOMMISSIONED"),
        ]);
        let mut la2 = port("la2", "Los Angeles", "USA", 60, "red");
        la2["associatedVxcs"] = json!([vxc("v4", "la2", 200, 500, "LIVE")]);
        let mut ny_configured = port("ny2", "New York", "USA", 117, "blue");
        ny_configured["provisioningStatus"] = json!("CONFIGURED");
        let mut syd_closed = port("syd2", "Sydney", "Australia", 3, "blue");
        syd_closed["vxcpermitted"] = json!(false);
        let mut gone = port("old", "Los Angeles", "USA", 59, "red");
        gone["provisioningStatus"] = json!("DECOMMISSIONED");
        let mut mcr = port("mcr", "Los Angeles", "USA", 59, "blue");
        mcr["productType"] = json!("MCR2");
        products(vec![
            la1,
            la2,
            port("ny1", "New York", "USA", 117, "red"),
            ny_configured,
            port("lon", "London", "UK", 37, "red"),
            port("syd", "Sydney", "Australia", 3, "red"),
            syd_closed,
            gone,
            mcr,
        ])
    }

    fn spec(m: OnRampMatch) -> OnRampRegionSpec {
        OnRampRegionSpec {
            display_name: None,
            match_: m,
            selection: None,
            vlan_range: None,
            allowed_namespaces: None,
            connections: None,
        }
    }

    #[test]
    fn usage_counts_live_vxcs_once() {
        let w = world();
        let u = usage(&w[0]);
        assert_eq!(
            u,
            Usage {
                connections: 2,
                allocated_mbps: 3500,
                utilisation_percent: 35
            }
        );
        assert_eq!(vlans_in_use(&w[0]), BTreeSet::from([100, 101]));
    }

    #[test]
    fn catalog_views_follow_the_seed() {
        let w = world();
        assert_eq!(
            countries(&w).keys().collect::<Vec<_>>(),
            ["Australia", "UK", "USA"]
        );
        assert_eq!(
            metros(&w, Some("USA")).keys().collect::<Vec<_>>(),
            ["Los Angeles", "New York"]
        );
        let la = on_ramps(&w, Some("USA"), Some("Los Angeles"));
        let names: Vec<_> = la.iter().map(|o| o.product_uid.as_str()).collect();
        assert_eq!(
            names,
            ["la1", "mcr", "la2"],
            "decommissioned products are not listed"
        );
    }

    #[test]
    fn us_west_resolves_to_both_la_ports_and_is_diverse() {
        let w = world();
        let view = evaluate(
            &spec(OnRampMatch {
                location_ids: Some(vec![59, 60]),
                ..Default::default()
            }),
            &w,
        );
        let uids: Vec<_> = view
            .on_ramps
            .iter()
            .map(|o| o.product_uid.as_str())
            .collect();
        // LeastUtilized: la2 (5 %) before la1 (35 %); the MCR is not a Port; `old` is gone.
        assert_eq!(uids, ["la2", "la1"]);
        assert_eq!(view.zones, ["blue", "red"]);
        assert_eq!(view.effective.product_types, [OnRampKind::Port]);
    }

    #[test]
    fn ineligible_on_ramps_say_why() {
        let w = world();
        let view = evaluate(
            &spec(OnRampMatch {
                countries: Some(vec!["USA".into(), "Australia".into()]),
                ..Default::default()
            }),
            &w,
        );
        let by_uid = |uid: &str| view.on_ramps.iter().find(|o| o.product_uid == uid).unwrap();
        assert!(!by_uid("ny2").eligible);
        assert_eq!(
            by_uid("ny2").reason.as_deref(),
            Some("provisioningStatus is CONFIGURED, not LIVE")
        );
        assert!(
            by_uid("syd2")
                .reason
                .as_deref()
                .unwrap()
                .starts_with("vxcPermitted is false")
        );
        assert!(by_uid("la1").eligible && by_uid("la1").reason.is_none());
        // Ineligible on-ramps rank last.
        assert!(
            view.on_ramps
                .iter()
                .skip_while(|o| o.eligible)
                .all(|o| !o.eligible)
        );
    }

    #[test]
    fn strategies_rank_differently() {
        let mut w = world();
        // la2 gets many small VXCs: fewest connections now favours la1, utilisation still la2.
        w[1].associated_vxcs = (0..5)
            .map(|i| {
                serde_json::from_value(vxc(&format!("s{i}"), "la2", 300 + i, 10, "LIVE")).unwrap()
            })
            .collect();
        let mut s = spec(OnRampMatch {
            metros: Some(vec!["Los Angeles".into()]),
            ..Default::default()
        });
        assert_eq!(evaluate(&s, &w).on_ramps[0].product_uid, "la2");
        s.selection = Some(Selection {
            strategy: Some(Strategy::FewestConnections),
        });
        assert_eq!(evaluate(&s, &w).on_ramps[0].product_uid, "la1");
    }

    #[test]
    fn a_full_vlan_range_makes_an_on_ramp_ineligible() {
        let w = world();
        let mut s = spec(OnRampMatch {
            product_uids: Some(vec!["la1".into()]),
            ..Default::default()
        });
        s.vlan_range = Some(VlanRange { min: 100, max: 101 });
        let view = evaluate(&s, &w);
        assert_eq!(
            view.on_ramps[0].reason.as_deref(),
            Some("no free VLAN in 100-101")
        );
        assert!(view.zones.is_empty());
        s.vlan_range = Some(VlanRange { min: 100, max: 102 });
        assert!(evaluate(&s, &w).on_ramps[0].eligible);
    }

    #[test]
    fn selectors_are_anded_and_types_filter() {
        let w = world();
        let mut s = spec(OnRampMatch {
            metros: Some(vec!["Los Angeles".into()]),
            location_ids: Some(vec![59]),
            ..Default::default()
        });
        assert_eq!(evaluate(&s, &w).on_ramps.len(), 1);
        s.match_.product_types = Some(vec![OnRampKind::Mcr, OnRampKind::Port]);
        assert_eq!(evaluate(&s, &w).on_ramps.len(), 2);
        let nothing = spec(OnRampMatch {
            countries: Some(vec!["Narnia".into()]),
            ..Default::default()
        });
        assert!(evaluate(&nothing, &w).on_ramps.is_empty());
    }
}
