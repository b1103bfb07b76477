//! JSON rendering of the world in the real API's shapes (reference §5–§9): product shape for
//! Ports (`vxcpermitted` lower case), MCRs/MVEs (`vxcPermitted`), VXCs nested under both ends,
//! service keys, service shape (buy/modify answers), VXC order objects, locations, network
//! regions, billing markets and validate quotes. Numbers are numbers, timestamps epoch ms or
//! null, `attributeTags` `{}`, `vxcApproval` an object of nulls when idle — so Megaport's own Go
//! client decodes every product.

use serde_json::{Map, Value, json};

use super::orders::Quote;
use super::scenario::{LocationSpec, Tag};
use super::state::{
    Company, Market, Product, ProductKind, ServiceKey, World, key_expired, key_valid, status,
};

/// The `terms` string of every envelope.
pub const TERMS: &str = "This data is subject to the Acceptable Use Policy https://www.megaport.com/legal/acceptable-use-policy";

/// `{message, terms, data?}`.
pub fn envelope(message: &str, data: Option<Value>) -> Value {
    let mut m = Map::new();
    m.insert("message".into(), Value::String(message.to_string()));
    m.insert("terms".into(), Value::String(TERMS.to_string()));
    if let Some(d) = data {
        m.insert("data".into(), d);
    }
    Value::Object(m)
}

fn location_detail(l: Option<&LocationSpec>) -> Value {
    match l {
        Some(l) => json!({
            "name": l.name, "city": l.city.clone().unwrap_or_else(|| l.metro.clone()),
            "metro": l.metro, "country": l.country,
        }),
        None => Value::Null,
    }
}

fn company_name(w: &World, uid: &str) -> String {
    w.company(uid).map(|c| c.name.clone()).unwrap_or_default()
}

fn usage_algorithm(kind: ProductKind) -> &'static str {
    match kind {
        ProductKind::Port => "NOT_POST_PAID",
        ProductKind::Mcr => "POST_PAID_HOURLY_SPEED_MCR2",
        ProductKind::Mve => "POST_PAID_HOURLY_SPEED_MVE",
        ProductKind::Vxc => "POST_PAID_HOURLY_SPEED_METRO_VXC",
    }
}

fn interface(p: &Product) -> Value {
    json!({
        "demarcation": "", "description": "", "id": p.id, "loa_template": "megaport",
        "media": if p.speed >= 10_000 { "LR" } else { "LX" }, "name": p.name, "port_speed": p.speed,
        "resource_name": "interface", "resource_type": "interface",
        "up": i32::from(p.status == status::LIVE),
    })
}

/// A product in product shape (Ports/MCRs/MVEs with nested VXCs; VXCs in VXC shape).
pub fn product(w: &World, p: &Product) -> Value {
    if p.kind == ProductKind::Vxc {
        return vxc(w, p);
    }
    let loc = p.location_id.and_then(|id| w.location(id));
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("productId", json!(p.id));
    put("productUid", json!(p.uid));
    put("productName", json!(p.name));
    put("productType", json!(p.kind.api_name()));
    put("provisioningStatus", json!(p.status));
    put("createDate", json!(p.create_date));
    put("createdBy", Value::Null);
    put(
        "portSpeed",
        if p.kind == ProductKind::Mve {
            Value::Null
        } else {
            json!(p.speed)
        },
    );
    put("terminateDate", json!(p.terminate_date));
    put("liveDate", json!(p.live_date));
    put("market", json!(loc.map(|l| l.market.clone())));
    put("locationId", json!(p.location_id));
    put("usageAlgorithm", json!(usage_algorithm(p.kind)));
    put("marketplaceVisibility", json!(p.marketplace_visibility));
    if p.kind == ProductKind::Port {
        put("vxcpermitted", json!(p.vxc_permitted));
    } else {
        put("vxcPermitted", json!(p.vxc_permitted));
    }
    put("vxcAutoApproval", json!(p.vxc_auto_approval));
    put("secondaryName", Value::Null);
    put("lagPrimary", json!(p.lag_primary));
    put("lagId", Value::Null);
    put("aggregationId", json!(p.aggregation_id));
    put("companyUid", json!(p.company_uid));
    put("companyName", json!(company_name(w, &p.company_uid)));
    put("costCentre", json!(p.cost_centre));
    put("contractStartDate", json!(p.contract_start));
    put("contractEndDate", json!(p.contract_end));
    put("contractTermMonths", json!(p.term));
    put("diversityZone", json!(p.diversity_zone));
    put("attributeTags", json!({}));
    put("virtual", json!(p.kind != ProductKind::Port));
    put("buyoutPort", json!(false));
    put("locked", json!(p.locked));
    put("adminLocked", json!(false));
    put("cancelable", json!(p.in_service()));
    put("locationDetail", location_detail(loc));
    if let Some(max) = p.max_vxc_speed {
        put("maxVxcSpeed", json!(max));
    }
    match p.kind {
        ProductKind::Mcr => {
            put("connectType", json!("VROUTER"));
            put("up", json!(p.status == status::LIVE));
            put("addOns", json!([]));
            put(
                "resources",
                json!({
                    "interface": interface(p),
                    "virtual_router": {
                        "id": p.id, "mcrAsn": p.mcr_asn, "name": p.name, "resource_name": "virtual_router",
                        "resource_type": "virtual_router", "speed": p.speed,
                    },
                }),
            );
        }
        ProductKind::Mve => {
            let size = p.mve_size.clone().unwrap_or_else(|| "SMALL".into());
            let vendor = p.mve_vendor.clone().unwrap_or_else(|| "CISCO".into());
            put("connectType", json!("MVE"));
            put("up", json!(p.status == status::LIVE));
            put("vendor", json!(vendor));
            put("mveSize", json!(size));
            put(
                "mveLabel",
                json!(match size.as_str() {
                    "MEDIUM" => "MVE 4/16",
                    "LARGE" => "MVE 8/32",
                    "X_LARGE_12" => "MVE 12/48",
                    _ => "MVE 2/8",
                }),
            );
            put("vnics", json!([{"vlan": 0, "description": "Data Plane"}]));
            put(
                "resources",
                json!({
                    "interface": interface(p),
                    "virtual_machine": [{
                        "id": p.id, "cpu_count": 2, "image": {"id": 1, "vendor": vendor, "product": "simulated", "version": "1.0"},
                        "resource_type": "virtual_machine", "up": p.status == status::LIVE, "vnics": [],
                    }],
                }),
            );
        }
        _ => put("resources", json!({ "interface": interface(p) })),
    }
    let vxcs: Vec<Value> = w.vxcs_on(&p.uid).map(|v| vxc(w, v)).collect();
    put("associatedVxcs", Value::Array(vxcs));
    put("associatedIxs", json!([]));
    Value::Object(m)
}

fn vxc_end(w: &World, end: &super::state::VxcEnd, gone: bool) -> Value {
    let p = w.product(&end.product_uid);
    let loc = p.and_then(|p| w.product_location(p));
    let mut v = json!({
        "ownerUid": p.map(|p| p.company_uid.clone()),
        "productUid": end.product_uid,
        "productName": p.map(|p| p.name.clone()),
        "locationId": if gone { Value::Null } else { json!(loc.map(|l| l.id)) },
        "location": if gone { Value::Null } else { json!(loc.map(|l| l.name.clone())) },
        "vlan": if gone { Value::Null } else { json!(end.vlan) },
        "innerVlan": end.inner_vlan,
        "secondaryName": Value::Null,
        "locationDetail": location_detail(loc),
    });
    if p.is_some_and(|p| p.kind == ProductKind::Mve)
        && let Some(o) = v.as_object_mut()
    {
        o.insert("vNicIndex".into(), json!(0));
    }
    v
}

/// A VXC (nested or via `GET /v2/product/{uid}`).
pub fn vxc(w: &World, p: &Product) -> Value {
    let gone = p.status == status::DECOMMISSIONED;
    let (a, b, approval, shutdown) = match &p.vxc {
        Some(v) => (
            vxc_end(w, &v.a, gone),
            vxc_end(w, &v.b, gone),
            v.approval.clone(),
            v.shutdown,
        ),
        None => (Value::Null, Value::Null, None, false),
    };
    let vll = match (&p.vxc, gone) {
        (Some(v), false) => json!({
            "a_vlan": v.a.vlan, "b_vlan": v.b.vlan, "rate_limit_mbps": p.speed, "resource_name": "vll",
            "resource_type": "vll", "shutdown": shutdown, "up": i32::from(p.status == status::LIVE),
        }),
        _ => json!([]),
    };
    let approval = match approval {
        Some(a) => {
            json!({"status": a.status, "message": a.message, "uid": a.uid, "type": a.kind, "newSpeed": Value::Null})
        }
        None => {
            json!({"status": null, "message": null, "uid": null, "type": null, "newSpeed": null})
        }
    };
    json!({
        "productId": p.id, "productUid": p.uid, "nServiceId": Value::Null, "productName": p.name,
        "productType": "VXC", "rateLimit": p.speed, "distanceBand": distance_band(w, p),
        "provisioningStatus": p.status, "usageAlgorithm": usage_algorithm(ProductKind::Vxc),
        "createdBy": Value::Null, "createDate": p.create_date, "liveDate": p.live_date,
        "terminateDate": p.terminate_date, "secondaryName": Value::Null, "shutdown": shutdown,
        "up": p.status == status::LIVE, "costCentre": p.cost_centre,
        "contractStartDate": p.contract_start, "contractEndDate": p.contract_end,
        "contractTermMonths": p.term, "companyUid": p.company_uid,
        "companyName": company_name(w, &p.company_uid), "locked": p.locked, "adminLocked": false,
        "attributeTags": {}, "cancelable": p.in_service(), "vxcApproval": approval,
        "aEnd": a, "bEnd": b, "resources": { "vll": vll },
    })
}

fn distance_band(w: &World, p: &Product) -> &'static str {
    let Some(v) = &p.vxc else { return "METRO" };
    let loc = |uid: &str| w.product(uid).and_then(|x| w.product_location(x));
    match (loc(&v.a.product_uid), loc(&v.b.product_uid)) {
        (Some(a), Some(b)) if a.metro == b.metro => "METRO",
        (Some(a), Some(b)) if a.country == b.country => "ZONE",
        _ => "INTERZONE",
    }
}

/// A service key; `productDto` only when `with_product` (create/update/lookup answers).
pub fn service_key(w: &World, k: &ServiceKey, now: i64, with_product: bool) -> Value {
    let product = w.product(&k.product_uid);
    let company = w.company(&k.company_uid);
    let mut v = json!({
        "key": k.key, "createDate": k.create_date,
        "companyId": company.map(|c| c.id), "companyUid": k.company_uid,
        "companyName": company.map(|c| c.name.clone()),
        "description": k.description,
        "productId": product.map(|p| p.id), "productUid": k.product_uid,
        "productName": product.map(|p| p.name.clone()),
        "vlan": k.vlan, "maxSpeed": k.max_speed, "preApproved": k.pre_approved,
        "singleUse": k.single_use, "lastUsed": k.last_used, "active": k.active,
        "validFor": k.window_given.then(|| json!({ "start": k.valid_from, "end": k.valid_until })),
        "expired": key_expired(k, now), "valid": key_valid(k, now), "promoCode": k.promo_code,
    });
    if with_product && let (Some(p), Some(o)) = (product, v.as_object_mut()) {
        o.insert("productDto".into(), self::product(w, p));
    }
    v
}

/// Service shape (answers of buy for Ports/MCRs/MVEs and of the modify calls).
pub fn service_shape(w: &World, p: &Product) -> Value {
    let loc = w.product_location(p);
    let company = w.company(&p.company_uid);
    let b_loc = p
        .vxc
        .as_ref()
        .and_then(|v| w.product(&v.b.product_uid))
        .and_then(|b| w.product_location(b));
    json!({
        "serviceName": p.name, "name": p.name, "secondaryName": Value::Null,
        "technicalServiceId": p.id, "technicalServiceUid": p.uid,
        "requestedDate": p.create_date, "configuredDate": Value::Null, "currentEstimatedDelivery": Value::Null,
        "companyName": company.map(|c| c.name.clone()), "companyId": company.map(|c| c.id),
        "productType": p.kind.api_name(), "provisioningStatus": p.status,
        "marketplaceVisibility": p.marketplace_visibility, "vxcPermitted": p.vxc_permitted,
        "vxcAutoApproval": p.vxc_auto_approval, "createDate": p.create_date,
        "terminationDate": p.terminate_date, "contractStartDate": p.contract_start,
        "contractTermMonths": p.term, "rateType": "MONTHLY",
        "rateLimit": if p.kind == ProductKind::Mve { Value::Null } else { json!(p.speed) },
        "costCentre": p.cost_centre, "market": loc.map(|l| l.country.clone()),
        "aLocation": loc.map(|l| l.site_code.clone().unwrap_or_else(|| l.name.clone())),
        "aLocationId": loc.map(|l| l.id),
        "bLocation": b_loc.map(|l| l.site_code.clone().unwrap_or_else(|| l.name.clone())),
        "bLocationId": b_loc.map(|l| l.id),
        "lagPrimary": p.lag_primary, "aggregationId": p.aggregation_id, "attributeTags": {},
        "createdBy": Value::Null, "locked": p.locked, "adminLocked": false,
        "errorMessage": Value::Null, "promoCode": Value::Null,
    })
}

/// The order object a VXC buy answers with (reference §8).
pub fn vxc_order(w: &World, p: &Product, order_id: i64, key: Option<&str>) -> Value {
    let Some(v) = &p.vxc else { return Value::Null };
    let a = w.product(&v.a.product_uid);
    let b = w.product(&v.b.product_uid);
    let company_id =
        |prod: Option<&Product>| prod.and_then(|x| w.company(&x.company_uid)).map(|c| c.id);
    let loc_id = |prod: Option<&Product>| prod.and_then(|x| w.product_location(x)).map(|l| l.id);
    let approved = v.approval.is_none();
    let nonpayer_status = if approved { "APPROVED" } else { "PENDING" };
    json!({
        "vxcOrderId": order_id, "vxcJTechnicalServiceId": p.id, "vxcJTechnicalServiceUid": p.uid,
        "serviceName": p.name, "speed": p.speed,
        "payerMegaPortId": a.map(|x| x.id), "nonPayerMegaPortId": b.map(|x| x.id),
        "payerCompanyId": company_id(a), "nonPayerCompanyId": company_id(b),
        "payerLocationId": loc_id(a), "nonPayerLocationId": loc_id(b),
        "payerVlanId": v.a.vlan, "nonPayerVlanId": v.b.vlan,
        "payerStatus": "APPROVED", "nonPayerStatus": nonpayer_status,
        "payerApproval": p.create_date, "nonPayerApproval": if approved { json!(p.create_date) } else { Value::Null },
        "fullyApproved": approved, "serviceKey": key,
        "connectType": "DEFAULT", "distanceBand": distance_band(w, p), "orderType": "NEW",
        "usageAlgorithm": "POST_PAID_HOURLY_SPEED_LONG_HAUL_VXC", "rateType": "MONTHLY",
        "createDate": p.create_date, "provisionDate": p.create_date,
        "awsId": Value::Null, "promoCode": Value::Null, "asn": Value::Null,
    })
}

/// A location of `/v3/locations`.
pub fn location(l: &LocationSpec) -> Value {
    let zones: Map<String, Value> = l
        .diversity_zones
        .iter()
        .map(|(name, z)| {
            let mut mcr = z.mcr_speed_mbps.clone();
            mcr.sort_unstable();
            let mut port = z.megaport_speed_mbps.clone();
            port.sort_unstable();
            (
                name.clone(),
                json!({
                    "mcrSpeedMbps": mcr, "megaportSpeedMbps": port, "mveMaxCpuCoreCount": Value::Null,
                    "mveAvailable": z.mve_available, "natGatewaySpeedMbps": [],
                }),
            )
        })
        .collect();
    json!({
        "id": l.id, "name": l.name,
        "address": {
            "street": l.address.street, "suburb": l.address.suburb,
            "city": l.city.clone().unwrap_or_else(|| l.metro.clone()), "state": l.address.state,
            "postcode": l.address.postcode, "country": l.country,
        },
        "dataCentre": l.data_centre.as_ref().map(|d| json!({"id": d.id, "name": d.name})),
        "metro": l.metro, "market": l.market, "status": l.status,
        "latitude": l.latitude, "longitude": l.longitude, "orderingMessage": Value::Null,
        "diversityZones": zones,
        "productAddOns": { "crossConnect": { "available": true, "type": "STANDARD" } },
    })
}

/// `/v2/networkRegions`: one `MP1` region with a country per location country.
pub fn network_regions(w: &World) -> Value {
    let mut countries: Vec<(String, String, usize)> = Vec::new();
    for l in &w.locations {
        match countries.iter_mut().find(|(name, _, _)| name == &l.country) {
            Some(entry) => entry.2 += 1,
            None => countries.push((l.country.clone(), l.market.clone(), 1)),
        }
    }
    let countries: Vec<Value> = countries
        .into_iter()
        .map(|(name, prefix, n)| json!({"code": country_code(&name, &prefix), "name": name, "prefix": prefix, "siteCount": n}))
        .collect();
    json!([{ "networkRegion": "MP1", "countries": countries }])
}

fn country_code(name: &str, prefix: &str) -> String {
    match name {
        "USA" => "USA".into(),
        "UK" => "GBR".into(),
        "Japan" => "JPN".into(),
        "Australia" => "AUS".into(),
        _ => prefix.to_string(),
    }
}

/// A managed company of `/v2/managedCompanies`.
pub fn managed_company(c: &crate::state::Company) -> Value {
    json!({
        "companyUid": c.uid,
        "accountName": c.name,
        "accountRef": c.account_ref.clone().unwrap_or_default(),
    })
}

/// A billing market of `/v2/market`.
pub fn market(c: &Company, m: &Market) -> Value {
    json!({
        "id": m.id, "companyId": c.id, "companyUid": c.uid, "currencyEnum": m.currency,
        "language": "en", "country": m.country, "supplierName": m.supplier_name,
        "billingContactName": format!("{} Accounts", c.name), "billingContactPhone": "+1 555 0100",
        "billingContactEmail": "billing@example.com", "address1": "1 Example Street", "address2": Value::Null,
        "city": Value::Null, "state": Value::Null, "postcode": Value::Null,
        "yourPoNumber": Value::Null, "taxNumber": Value::Null, "firstPartyId": 808 + m.id % 10,
        "active": true,
    })
}

/// One entry of a validate answer.
pub fn quote(q: &Quote) -> Value {
    json!({
        "price": {
            "hourlySetup": 0, "dailySetup": 0, "monthlySetup": 0, "hourlyRate": 0, "dailyRate": 0,
            "monthlyRate": q.monthly_rate, "fixedRecurringCharge": q.monthly_rate,
            "postPaidBaseRate": "no base rate", "longHaulMbpsRate": 0, "mbpsRate": 0,
            "currency": q.currency, "key": "no key", "productType": q.product_type,
            "monthlyRackRate": q.monthly_rack_rate, "empty": false,
        },
        "serviceName": q.service_name, "productType": q.product_type,
        "productUid": uuid::Uuid::new_v4().to_string(), "market": q.market, "string": q.metro,
    })
}

/// `{"resourceTags": [...]}`.
pub fn tags(tags: &[Tag]) -> Value {
    json!({ "resourceTags": tags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn port_shape_quirks() {
        let w = World::from_scenario(&Scenario::quantumgpu()).expect("world");
        let p = w
            .product("1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001")
            .expect("port");
        let v = product(&w, p);
        assert_eq!(v["vxcpermitted"], json!(true));
        assert!(v.get("vxcPermitted").is_none());
        assert_eq!(v["productType"], json!("MEGAPORT"));
        assert!(v["resources"]["interface"].is_object());
        assert_eq!(v["attributeTags"], json!({}));
        assert_eq!(v["locationDetail"]["country"], json!("USA"));
        assert_eq!(v["associatedVxcs"].as_array().map(Vec::len), Some(3));
        let nested = &v["associatedVxcs"][0];
        assert!(nested["vxcApproval"].is_object());
        assert!(nested["vxcApproval"]["status"].is_null());
        assert!(nested["createDate"].is_i64());
        let mcr = product(
            &w,
            w.product("1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0010")
                .expect("mcr"),
        );
        assert_eq!(mcr["vxcPermitted"], json!(true));
        assert_eq!(mcr["maxVxcSpeed"], json!(5000));
    }
}
