//! A design as Megaport order items (pure): the spec's services in the shapes of
//! `POST /v3/networkdesign/validate` and `/v4/networkdesign/buy`, each tagged with the
//! configuration's UID and the service's name so an order can be found again after an unknown
//! outcome. A VXC whose end is a service of the same configuration can only go once that
//! service has a product UID: until then it waits, named in [`Design::waiting`].

use std::collections::BTreeMap;

use serde_json::json;

use crate::crd::saved_configuration::{
    self as crd, Common, MveSize, SavedConfigurationSpec, VxcEnd, Zone,
};
use crate::megaport::models::{
    McrOrder, MveOrder, OrderConfig, OrderItem, PortOrder, ProductType, ResourceTag,
    ServiceKeyValue, VxcOrder, VxcOrderEnd, VxcOrderLine,
};

/// The tag naming the configuration (its metadata.uid) on every ordered product.
pub const UID_TAG: &str = "megaport.onramp.dev/configuration-uid";
/// The tag naming the service within the configuration.
pub const SERVICE_TAG: &str = "megaport.onramp.dev/service";

/// What a VXC's B end learns from a service key read from a Secret.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyEnd {
    /// The key (a secret: only the order body carries it).
    pub key: ServiceKeyValue,
    /// The product the key leads to.
    pub product_uid: String,
    /// The VLAN the key fixes on that product, if any.
    pub vlan: Option<u16>,
}

/// The order items of a design, and the VXCs that wait for a service of it to be bought.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Design {
    /// Items that can be sent now.
    pub items: Vec<OrderItem>,
    /// The service each item orders (same order as `items`).
    pub services: Vec<String>,
    /// VXCs (by name) whose end is a service not bought yet.
    pub waiting: Vec<String>,
}

/// The existing products `items` attach VXCs to (A and B ends): buys that touch one are
/// serialised (concurrent VXC orders on one Port have failed in Megaport).
pub fn products_touched(items: &[OrderItem]) -> std::collections::BTreeSet<String> {
    let mut touched = std::collections::BTreeSet::new();
    for item in items {
        if let OrderItem::Vxc(vxc) = item {
            touched.insert(vxc.product_uid.clone());
            let b_ends = vxc.associated_vxcs.iter();
            touched.extend(b_ends.filter_map(|line| line.b_end.product_uid.clone()));
        }
    }
    touched
}

/// The order items of `spec` for configuration `uid`. `bought` maps service names to the
/// product UIDs they already have (those are not ordered again; VXC ends use them); `keys` maps
/// VXC names to the service key their B end reads.
pub fn items(
    spec: &SavedConfigurationSpec,
    uid: &str,
    bought: &BTreeMap<String, String>,
    keys: &BTreeMap<String, KeyEnd>,
) -> Design {
    let services = &spec.services;
    let todo = |c: &Common| !bought.contains_key(&c.name);
    let mut design = Design::default();
    let mut add = |name: &str, item: OrderItem| {
        design.items.push(item);
        design.services.push(name.to_owned());
    };
    for p in services.ports.iter().filter(|p| todo(&p.common)) {
        add(&p.common.name, port_item(p, uid));
    }
    for m in services.mcrs.iter().filter(|m| todo(&m.common)) {
        add(&m.common.name, mcr_item(m, uid));
    }
    for m in services.mves.iter().filter(|m| todo(&m.common)) {
        add(&m.common.name, mve_item(m, uid));
    }
    let mut waiting = Vec::new();
    for vxc in services.vxcs.iter().filter(|v| todo(&v.common)) {
        match vxc_item(vxc, uid, bought, keys.get(&vxc.common.name)) {
            Some(item) => add(&vxc.common.name, item),
            None => waiting.push(vxc.common.name.clone()),
        }
    }
    design.waiting = waiting;
    design
}

fn port_item(port: &crd::PortOrder, uid: &str) -> OrderItem {
    OrderItem::Port(PortOrder {
        product_name: product_name(&port.common),
        product_type: ProductType::Megaport,
        term: u32::from(port.common.term_months),
        port_speed: port.speed_mbps,
        location_id: i64::from(port.location_id),
        marketplace_visibility: port.marketplace_visibility.unwrap_or(false),
        is_virtual: false,
        config: zone_config(port.diversity_zone, None),
        cost_centre: port.common.cost_centre.clone(),
        promo_code: port.common.promo_code.clone(),
        lag_port_count: port.lag_port_count,
        resource_tags: tags(uid, &port.common),
    })
}

fn mcr_item(mcr: &crd::McrOrder, uid: &str) -> OrderItem {
    OrderItem::Mcr(McrOrder {
        product_name: product_name(&mcr.common),
        product_type: ProductType::Mcr2,
        term: u32::from(mcr.common.term_months),
        port_speed: mcr.speed_mbps,
        location_id: i64::from(mcr.location_id),
        marketplace_visibility: None,
        config: zone_config(mcr.diversity_zone, mcr.asn),
        cost_centre: mcr.common.cost_centre.clone(),
        promo_code: mcr.common.promo_code.clone(),
        resource_tags: tags(uid, &mcr.common),
    })
}

fn mve_item(mve: &crd::MveOrder, uid: &str) -> OrderItem {
    OrderItem::Mve(MveOrder {
        product_name: product_name(&mve.common),
        product_type: ProductType::Mve,
        term: u32::from(mve.common.term_months),
        location_id: i64::from(mve.location_id),
        vnics: Vec::new(),
        vendor_config: json!({
            "vendor": mve.vendor, "imageId": mve.image_id, "productSize": size(mve.size),
        }),
        config: zone_config(mve.diversity_zone, None),
        cost_centre: mve.common.cost_centre.clone(),
        promo_code: mve.common.promo_code.clone(),
        resource_tags: tags(uid, &mve.common),
    })
}

/// The VXC's item, or `None` while one of its ends has no product UID yet.
fn vxc_item(
    vxc: &crd::VxcOrder,
    uid: &str,
    bought: &BTreeMap<String, String>,
    key: Option<&KeyEnd>,
) -> Option<OrderItem> {
    let a = end_product(&vxc.a_end, bought, None)?;
    let b = end_product(&vxc.b_end, bought, key)?;
    let b_vlan = key.and_then(|k| k.vlan).map(i32::from).or(vxc.b_end.vlan);
    Some(OrderItem::Vxc(VxcOrder {
        product_uid: a,
        associated_vxcs: vec![VxcOrderLine {
            product_name: product_name(&vxc.common),
            rate_limit: vxc.rate_limit_mbps,
            term: u32::from(vxc.common.term_months),
            shutdown: false,
            service_key: key.map(|k| k.key.clone()),
            a_end: VxcOrderEnd {
                vlan: vxc.a_end.vlan,
                ..VxcOrderEnd::default()
            },
            b_end: VxcOrderEnd {
                product_uid: Some(b),
                vlan: b_vlan,
                ..VxcOrderEnd::default()
            },
            cost_centre: vxc.common.cost_centre.clone(),
            promo_code: vxc.common.promo_code.clone(),
            resource_tags: tags(uid, &vxc.common),
        }],
    }))
}

/// The product an end is: an existing one, a bought service of the design, or the key's.
fn end_product(
    end: &VxcEnd,
    bought: &BTreeMap<String, String>,
    key: Option<&KeyEnd>,
) -> Option<String> {
    match (&end.service, &end.product_uid, &end.secret_key_ref) {
        (Some(service), _, _) => bought.get(service).cloned(),
        (_, Some(uid), _) => Some(uid.clone()),
        (_, _, Some(_)) => key.map(|k| k.product_uid.clone()),
        _ => None,
    }
}

fn commons(spec: &SavedConfigurationSpec) -> impl Iterator<Item = &Common> {
    let s = &spec.services;
    let ports = s.ports.iter().map(|p| &p.common);
    let mcrs = s.mcrs.iter().map(|m| &m.common);
    let mves = s.mves.iter().map(|m| &m.common);
    ports
        .chain(mcrs)
        .chain(mves)
        .chain(s.vxcs.iter().map(|v| &v.common))
}

/// The name of every service of `spec`.
pub fn names(spec: &SavedConfigurationSpec) -> Vec<String> {
    commons(spec).map(|c| c.name.clone()).collect()
}

/// Every service's name with its product name in Megaport.
pub fn product_names(spec: &SavedConfigurationSpec) -> Vec<(String, String)> {
    commons(spec)
        .map(|c| (c.name.clone(), product_name(c)))
        .collect()
}

fn product_name(c: &Common) -> String {
    c.product_name.clone().unwrap_or_else(|| c.name.clone())
}

fn tags(uid: &str, c: &Common) -> Vec<ResourceTag> {
    vec![
        ResourceTag {
            key: UID_TAG.into(),
            value: uid.into(),
        },
        ResourceTag {
            key: SERVICE_TAG.into(),
            value: c.name.clone(),
        },
    ]
}

fn zone_config(zone: Option<Zone>, asn: Option<u32>) -> OrderConfig {
    OrderConfig {
        diversity_zone: zone.map(|z| match z {
            Zone::Red => "red".to_owned(),
            Zone::Blue => "blue".to_owned(),
        }),
        mcr_asn: asn,
    }
}

fn size(size: MveSize) -> &'static str {
    match size {
        MveSize::Small => "SMALL",
        MveSize::Medium => "MEDIUM",
        MveSize::Large => "LARGE",
        MveSize::XLarge12 => "X_LARGE_12",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const UID: &str = "5a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    const PROVIDER_PORT: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0002";

    fn spec() -> SavedConfigurationSpec {
        serde_json::from_value(json!({"services": {
            "ports": [{"name": "la-port", "locationId": 59, "speedMbps": 10000, "termMonths": 12, "diversityZone": "blue", "costCentre": "gpu"}],
            "mcrs": [{"name": "la-mcr", "productName": "LA router", "locationId": 60, "speedMbps": 1000, "termMonths": 1, "asn": 64512}],
            "vxcs": [
                {"name": "to-mcr", "rateLimitMbps": 500, "termMonths": 1, "aEnd": {"service": "la-port", "vlan": 100}, "bEnd": {"service": "la-mcr"}},
                {"name": "to-provider", "rateLimitMbps": 1000, "termMonths": 1, "aEnd": {"service": "la-port"}, "bEnd": {"secretKeyRef": {"name": "acme-us-west"}, "vlan": 7}},
            ],
        }}))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn wire(design: &Design) -> Vec<Value> {
        design
            .items
            .iter()
            .map(|i| serde_json::to_value(i).unwrap_or_default())
            .collect()
    }

    #[test]
    fn services_first_then_vxcs_once_their_ends_exist() {
        let keys = BTreeMap::from([(
            "to-provider".to_owned(),
            KeyEnd {
                key: ServiceKeyValue::new("a1b2c3d4-0000-4000-8000-000000000001"),
                product_uid: PROVIDER_PORT.into(),
                vlan: Some(150),
            },
        )]);
        // Nothing bought: the Port and the MCR; both VXCs wait for the Port.
        let first = items(&spec(), UID, &BTreeMap::new(), &keys);
        let sent = wire(&first);
        assert_eq!(first.waiting, ["to-mcr", "to-provider"]);
        assert_eq!(first.services, ["la-port", "la-mcr"]);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0]["productType"], "MEGAPORT");
        assert_eq!(sent[0]["productName"], "la-port");
        assert_eq!(sent[0]["config"]["diversityZone"], "blue");
        assert_eq!(sent[0]["costCentre"], "gpu");
        assert_eq!(
            sent[0]["resourceTags"],
            json!([{"key": UID_TAG, "value": UID}, {"key": SERVICE_TAG, "value": "la-port"}])
        );
        assert_eq!(sent[1]["productType"], "MCR2");
        assert_eq!(sent[1]["productName"], "LA router");
        assert_eq!(sent[1]["config"]["mcrAsn"], 64512);
        // Port and MCR bought: the two VXCs, not the bought services again.
        let bought = BTreeMap::from([
            ("la-port".to_owned(), "p-uid".to_owned()),
            ("la-mcr".to_owned(), "m-uid".to_owned()),
        ]);
        let second = items(&spec(), UID, &bought, &keys);
        assert!(second.waiting.is_empty());
        let sent = wire(&second);
        assert_eq!(sent.len(), 2);
        let touched: Vec<String> = products_touched(&second.items).into_iter().collect();
        assert_eq!(touched, [PROVIDER_PORT, "m-uid", "p-uid"]);
        assert!(products_touched(&first.items).is_empty(), "no VXC, no lock");
        assert_eq!(sent[0]["productUid"], "p-uid");
        let line = &sent[0]["associatedVxcs"][0];
        assert_eq!(
            (
                line["aEnd"]["vlan"].clone(),
                line["bEnd"]["productUid"].clone()
            ),
            (json!(100), json!("m-uid"))
        );
        assert!(line.get("serviceKey").is_none());
        let keyed = &sent[1]["associatedVxcs"][0];
        assert_eq!(keyed["serviceKey"], "a1b2c3d4-0000-4000-8000-000000000001");
        assert_eq!(keyed["bEnd"]["productUid"], PROVIDER_PORT);
        assert_eq!(
            keyed["bEnd"]["vlan"], 150,
            "the key's VLAN wins over the spec's"
        );
        assert_eq!(keyed["rateLimit"], 1000);
        // Everything bought: nothing to order.
        let all = BTreeMap::from([
            ("la-port".to_owned(), "p".to_owned()),
            ("la-mcr".to_owned(), "m".to_owned()),
            ("to-mcr".to_owned(), "v1".to_owned()),
            ("to-provider".to_owned(), "v2".to_owned()),
        ]);
        assert_eq!(items(&spec(), UID, &all, &keys), Design::default());
    }

    #[test]
    fn a_vxc_to_a_key_not_read_yet_waits_and_the_key_never_shows_in_debug() {
        let bought = BTreeMap::from([
            ("la-port".to_owned(), "p".to_owned()),
            ("la-mcr".to_owned(), "m".to_owned()),
        ]);
        let design = items(&spec(), UID, &bought, &BTreeMap::new());
        assert_eq!(design.waiting, ["to-provider"]);
        let key = KeyEnd {
            key: ServiceKeyValue::new("a1b2c3d4-0000-4000-8000-000000000001"),
            product_uid: PROVIDER_PORT.into(),
            vlan: None,
        };
        let keys = BTreeMap::from([("to-provider".to_owned(), key)]);
        let shown = format!("{:?}", items(&spec(), UID, &bought, &keys));
        assert!(!shown.contains("a1b2c3d4"), "{shown}");
    }
}
