//! Network design validate and buy (`/v3/networkdesign/validate`, `/v3|v4/networkdesign/buy`):
//! planning an order against the world's rules (locations, speeds, terms, billing markets,
//! VLANs, service keys), deterministic prices, and applying a plan (new Ports/MCRs/MVEs/VXCs,
//! consumed service keys). Pure logic on [`World`]; no HTTP.
//!
//! Price formula (monthly, in the buyer's market currency, rounded to cents):
//! rack rate = Port `200 + 0.08 × portSpeed`, MCR `150 + 0.05 × portSpeed`,
//! MVE by size (SMALL 300, MEDIUM 600, LARGE 1200, X_LARGE_12 2400), VXC `10 + 0.05 × rateLimit`;
//! monthly rate = rack rate × (1 − term discount), discount 1 m 0 %, 12 m 5 %, 24 m 10 %,
//! 36 m 15 %, 48/60 m 20 %. LAG orders are priced per member port.

use super::requests::{EndOrder, OrderItem, VxcOrder};
use super::scenario::Tag;
use super::state::{
    ApiError, Approval, Caller, Product, ProductKind, VxcEnd, VxcInfo, World, check_speed,
    check_term, check_vlan, key_usable, mve_speed, require_write,
};

/// The price part of a validate answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// `MEGAPORT`, `MCR2`, `MVE`, `VXC`.
    pub product_type: &'static str,
    /// Name of the service.
    pub service_name: String,
    /// Two-letter market code of the (A-end) location.
    pub market: String,
    /// Metro of the (A-end) location.
    pub metro: String,
    /// Currency.
    pub currency: String,
    /// Monthly rack rate.
    pub monthly_rack_rate: f64,
    /// Monthly rate after the term discount.
    pub monthly_rate: f64,
}

/// Rack and discounted monthly price (see the module docs).
pub fn price(kind: ProductKind, speed: u32, term: u32, mve_size: Option<&str>) -> (f64, f64) {
    let speed = f64::from(speed);
    let rack = match kind {
        ProductKind::Port => 200.0 + 0.08 * speed,
        ProductKind::Mcr => 150.0 + 0.05 * speed,
        ProductKind::Mve => match mve_size.map(str::to_ascii_uppercase).as_deref() {
            Some("MEDIUM") => 600.0,
            Some("LARGE") => 1200.0,
            Some("X_LARGE_12") => 2400.0,
            _ => 300.0,
        },
        ProductKind::Vxc => 10.0 + 0.05 * speed,
    };
    let discount = match term {
        12 => 0.05,
        24 => 0.10,
        36 => 0.15,
        48 | 60 => 0.20,
        _ => 0.0,
    };
    let cents = |x: f64| (x * 100.0).round() / 100.0;
    (cents(rack), cents(rack * (1.0 - discount)))
}

/// What one order item will create.
#[derive(Debug, Clone)]
pub enum Plan {
    /// A Port (possibly several LAG members), MCR or MVE.
    Service {
        /// Kind.
        kind: ProductKind,
        /// Name.
        name: String,
        /// Location.
        location_id: i64,
        /// Port / MCR speed (0 for MVE).
        speed: u32,
        /// `maxVxcSpeed`.
        max_vxc_speed: Option<u32>,
        /// Zone.
        zone: Option<String>,
        /// Term.
        term: u32,
        /// Marketplace visibility.
        marketplace_visibility: bool,
        /// Cost centre.
        cost_centre: String,
        /// Tags.
        tags: Vec<Tag>,
        /// MCR ASN.
        mcr_asn: Option<u32>,
        /// MVE size / vendor.
        mve: Option<(String, String)>,
        /// LAG member count (1 = no LAG).
        lag_count: u32,
    },
    /// A VXC.
    Vxc {
        /// Name.
        name: String,
        /// A end.
        a: VxcEnd,
        /// B end.
        b: VxcEnd,
        /// Rate limit.
        rate: u32,
        /// Term.
        term: u32,
        /// The service key used (full value).
        key: Option<String>,
        /// Whether the B-end owner must approve it.
        needs_approval: bool,
        /// Shutdown.
        shutdown: bool,
        /// Cost centre.
        cost_centre: String,
        /// Tags.
        tags: Vec<Tag>,
    },
}

/// A planned item with its quote.
#[derive(Debug, Clone)]
pub struct Planned {
    /// What will be created.
    pub plan: Plan,
    /// The price.
    pub quote: Quote,
}

/// What a buy created, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// A Port (one per LAG member), MCR or MVE: its uid.
    Service(String),
    /// A VXC: its uid, the order id and the service key used.
    Vxc {
        /// VXC uid.
        uid: String,
        /// Order id.
        order_id: i64,
        /// Key used, if any.
        key: Option<String>,
    },
}

impl World {
    /// Checks an order and prices it; nothing changes.
    pub fn plan_order(
        &self,
        caller: &Caller,
        items: &[OrderItem],
        now: i64,
    ) -> Result<Vec<Planned>, ApiError> {
        require_write(caller)?;
        if items.is_empty() {
            return Err(ApiError::validation("The network design is empty"));
        }
        if caller.partner_uid.is_some() {
            managed_account_rules(items)?;
        }
        let mut out = Vec::new();
        let mut claimed: Vec<(String, i64)> = Vec::new();
        let mut used_keys: Vec<String> = Vec::new();
        for item in items {
            if item.associated_ixs.as_ref().is_some_and(|v| !v.is_empty()) {
                return Err(ApiError::validation(
                    "IX orders are not supported by the simulator",
                ));
            }
            match &item.associated_vxcs {
                Some(vxcs) if !vxcs.is_empty() => {
                    for v in vxcs {
                        out.push(self.plan_vxc(
                            caller,
                            item,
                            v,
                            now,
                            &mut claimed,
                            &mut used_keys,
                        )?);
                    }
                }
                Some(_) if item.product_type.is_none() => {
                    return Err(ApiError::validation("associatedVxcs is empty"));
                }
                _ => out.push(self.plan_service(caller, item)?),
            }
        }
        Ok(out)
    }

    fn plan_service(&self, caller: &Caller, item: &OrderItem) -> Result<Planned, ApiError> {
        let kind = item
            .product_type
            .as_deref()
            .and_then(ProductKind::parse)
            .filter(|k| *k != ProductKind::Vxc)
            .ok_or_else(|| ApiError::validation("productType must be MEGAPORT, MCR2 or MVE"))?;
        let name = item
            .product_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| ApiError::validation("productName is required"))?;
        let term = check_term(item.term.unwrap_or(1))?;
        let location_id = item
            .location_id
            .ok_or_else(|| ApiError::validation("locationId is required"))?;
        let loc = self
            .location(location_id)
            .ok_or_else(|| ApiError::validation(format!("Unknown location {location_id}")))?;
        if loc.status != "Active" {
            return Err(ApiError::validation(format!(
                "Location {} ({location_id}) is not orderable: {}",
                loc.name, loc.status
            )));
        }
        let market = self.check_market(&caller.company_uid, loc)?;
        let wanted_zone = item
            .config
            .as_ref()
            .and_then(|c| c.diversity_zone.clone())
            .filter(|z| !z.is_empty());
        if let Some(z) = &wanted_zone
            && !loc.diversity_zones.contains_key(z)
        {
            return Err(ApiError::validation(format!(
                "Diversity zone {z} does not exist at {}",
                loc.name
            )));
        }
        let speed = item.port_speed.unwrap_or(0);
        let fits = |zone: &super::scenario::ZoneSpec| match kind {
            ProductKind::Port => zone
                .megaport_speed_mbps
                .iter()
                .any(|s| i64::from(*s) == speed),
            ProductKind::Mcr => zone.mcr_speed_mbps.iter().any(|s| i64::from(*s) == speed),
            _ => zone.mve_available,
        };
        let zone = loc
            .diversity_zones
            .iter()
            .filter(|(z, _)| wanted_zone.as_ref().is_none_or(|w| w == *z))
            .find(|(_, spec)| fits(spec))
            .map(|(z, _)| z.clone());
        let Some(zone) = zone else {
            let what = match kind {
                ProductKind::Mve => "MVEs are".to_string(),
                _ => format!("{} speed {speed} Mbps is", kind.api_name()),
            };
            return Err(ApiError::validation(format!(
                "{what} not available at {}",
                loc.name
            )));
        };
        let speed = if kind == ProductKind::Mve {
            0
        } else {
            u32::try_from(speed).unwrap_or(0)
        };
        let mve = (kind == ProductKind::Mve).then(|| {
            let vc = item.vendor_config.clone().unwrap_or_default();
            (
                vc.product_size
                    .unwrap_or_else(|| "SMALL".into())
                    .to_ascii_uppercase(),
                vc.vendor.unwrap_or_else(|| "CISCO".into()),
            )
        });
        let max_vxc_speed = match kind {
            ProductKind::Mcr => Some(speed),
            ProductKind::Mve => Some(mve_speed(mve.as_ref().map(|m| m.0.as_str()))),
            _ => None,
        };
        let lag_count = match (kind, item.lag_port_count) {
            (ProductKind::Port, Some(n)) if n > 1 => u32::try_from(n.min(8)).unwrap_or(1),
            _ => 1,
        };
        let (rack, monthly) = price(kind, speed, term, mve.as_ref().map(|m| m.0.as_str()));
        let quote = Quote {
            product_type: kind.api_name(),
            service_name: name.clone(),
            market: loc.market.clone(),
            metro: loc.metro.clone(),
            currency: market.currency.clone(),
            monthly_rack_rate: rack * f64::from(lag_count),
            monthly_rate: monthly * f64::from(lag_count),
        };
        let cost_centre = item.cost_centre.clone().unwrap_or_default();
        if cost_centre.chars().count() > 255 {
            return Err(ApiError::validation(
                "costCentre must be at most 255 characters",
            ));
        }
        Ok(Planned {
            plan: Plan::Service {
                kind,
                name,
                location_id,
                speed,
                max_vxc_speed,
                zone: Some(zone),
                term,
                marketplace_visibility: item
                    .marketplace_visibility
                    .unwrap_or(kind == ProductKind::Port),
                cost_centre,
                tags: item.resource_tags.clone().unwrap_or_default(),
                mcr_asn: (kind == ProductKind::Mcr).then(|| {
                    item.config
                        .as_ref()
                        .and_then(|c| c.mcr_asn)
                        .and_then(|a| u32::try_from(a).ok())
                        .unwrap_or(133_937)
                }),
                mve,
                lag_count,
            },
            quote,
        })
    }

    fn end_vlan(
        &self,
        product_uid: &str,
        requested: Option<i64>,
        claimed: &mut Vec<(String, i64)>,
        side: &str,
    ) -> Result<Option<i64>, ApiError> {
        let vlan = match requested {
            Some(-1) => return Ok(None),
            None | Some(0) => self.auto_vlan(product_uid, claimed)?,
            Some(v) => {
                let v = check_vlan(v)?;
                if let Some(holder) = self.vlan_holder(product_uid, v, None) {
                    return Err(ApiError::validation(format!(
                        "{side} VLAN {v} is already in use on product {product_uid} by VXC {}",
                        holder.uid
                    )));
                }
                if claimed.iter().any(|(u, c)| u == product_uid && *c == v) {
                    return Err(ApiError::validation(format!(
                        "{side} VLAN {v} is used twice on product {product_uid} in this order"
                    )));
                }
                v
            }
        };
        claimed.push((product_uid.to_string(), vlan));
        Ok(Some(vlan))
    }

    fn plan_vxc(
        &self,
        caller: &Caller,
        item: &OrderItem,
        v: &VxcOrder,
        now: i64,
        claimed: &mut Vec<(String, i64)>,
        used_keys: &mut Vec<String>,
    ) -> Result<Planned, ApiError> {
        let a_end = v.a_end.clone().unwrap_or_default();
        let b_end = v.b_end.clone().unwrap_or_default();
        let a_uid = item
            .product_uid
            .clone()
            .or_else(|| a_end.product_uid.clone())
            .ok_or_else(|| ApiError::validation("The A-End productUid is required"))?;
        let a = self.orderable_end(&a_uid, "A-End")?;
        if a.company_uid != caller.company_uid {
            return Err(ApiError::validation(format!(
                "The A-End product {a_uid} does not belong to your company"
            )));
        }
        let rate = v
            .rate_limit
            .ok_or_else(|| ApiError::validation("rateLimit is required"))?;
        let term = check_term(v.term.unwrap_or(1))?;
        let name = v
            .product_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("VXC from {}", a.name));
        let (b, key, needs_approval, b_vlan_req) = match &v.service_key {
            Some(key_value) if !key_value.is_empty() => {
                let key = self
                    .keys
                    .iter()
                    .find(|k| &k.key == key_value)
                    .ok_or_else(|| ApiError::validation("Invalid service key: no such key"))?;
                key_usable(key, now)?;
                if key.single_use && used_keys.contains(&key.key) {
                    return Err(ApiError::validation("Service key has already been used"));
                }
                if let Some(b_uid) = &b_end.product_uid
                    && b_uid != &key.product_uid
                {
                    return Err(ApiError::validation(format!(
                        "The B-End product {b_uid} does not match the service key's product"
                    )));
                }
                if i64::from(key.max_speed) < rate {
                    return Err(ApiError::validation(format!(
                        "rateLimit {rate} Mbps exceeds the service key's maximum speed of {} Mbps",
                        key.max_speed
                    )));
                }
                let b = self.orderable_end(&key.product_uid, "B-End")?;
                let b_vlan = if key.single_use { key.vlan } else { b_end.vlan };
                used_keys.push(key.key.clone());
                let pre = key.pre_approved == Some(true)
                    || b.vxc_auto_approval
                    || b.company_uid == caller.company_uid;
                (b, Some(key.key.clone()), !pre, b_vlan)
            }
            _ => {
                let b_uid = b_end
                    .product_uid
                    .clone()
                    .ok_or_else(|| ApiError::validation("The B-End productUid is required"))?;
                let b = self.orderable_end(&b_uid, "B-End")?;
                if b.company_uid != caller.company_uid {
                    return Err(ApiError::validation(format!(
                        "A service key is required to connect to product {b_uid} of another company"
                    )));
                }
                (b, None, false, b_end.vlan)
            }
        };
        for end in [a, b] {
            if !end.vxc_permitted {
                return Err(ApiError::validation(format!(
                    "VXCs are not permitted on product {} ({})",
                    end.name, end.uid
                )));
            }
        }
        let limit = a.vxc_speed_limit().min(b.vxc_speed_limit());
        let rate = check_speed(rate, limit, "rateLimit")?;
        let a_loc = self
            .product_location(a)
            .ok_or_else(|| ApiError::validation("The A-End location is unknown"))?;
        let market = self.check_market(&caller.company_uid, a_loc)?;
        let b_vlan = self.end_vlan(&b.uid, b_vlan_req, claimed, "B-End")?;
        let a_vlan = self.end_vlan(&a.uid, a_end.vlan, claimed, "A-End")?;
        let (rack, monthly) = price(ProductKind::Vxc, rate, term, None);
        Ok(Planned {
            plan: Plan::Vxc {
                name: name.clone(),
                a: VxcEnd {
                    product_uid: a.uid.clone(),
                    vlan: a_vlan,
                    inner_vlan: inner(&a_end),
                },
                b: VxcEnd {
                    product_uid: b.uid.clone(),
                    vlan: b_vlan,
                    inner_vlan: inner(&b_end),
                },
                rate,
                term,
                key,
                needs_approval,
                shutdown: v.shutdown.unwrap_or(false),
                cost_centre: v.cost_centre.clone().unwrap_or_default(),
                tags: v.resource_tags.clone().unwrap_or_default(),
            },
            quote: Quote {
                product_type: "VXC",
                service_name: name,
                market: a_loc.market.clone(),
                metro: a_loc.metro.clone(),
                currency: market.currency.clone(),
                monthly_rack_rate: rack,
                monthly_rate: monthly,
            },
        })
    }

    fn orderable_end(&self, uid: &str, side: &str) -> Result<&Product, ApiError> {
        let p = self.product(uid).ok_or_else(|| {
            ApiError::validation(format!("Could not find the {side} product {uid}"))
        })?;
        if p.kind == ProductKind::Vxc {
            return Err(ApiError::validation(format!(
                "The {side} product {uid} is a VXC"
            )));
        }
        if !p.in_service() {
            return Err(ApiError::validation(format!(
                "The {side} product {uid} is {}",
                p.status
            )));
        }
        Ok(p)
    }

    /// Buys an order: plans it (all-or-nothing) and creates what it describes.
    pub fn buy(
        &mut self,
        caller: &Caller,
        items: &[OrderItem],
        now: i64,
    ) -> Result<Vec<Created>, ApiError> {
        let plans = self.plan_order(caller, items, now)?;
        let mut created = Vec::new();
        for planned in plans {
            match planned.plan {
                Plan::Service {
                    kind,
                    name,
                    location_id,
                    speed,
                    max_vxc_speed,
                    zone,
                    term,
                    marketplace_visibility,
                    cost_centre,
                    tags,
                    mcr_asn,
                    mve,
                    lag_count,
                } => {
                    let aggregation_id = (lag_count > 1).then_some(self.next_id);
                    for member in 0..lag_count {
                        let id = self.take_id();
                        let uid = uuid::Uuid::new_v4().to_string();
                        let member_name = if lag_count > 1 {
                            format!("{name} {}", member + 1)
                        } else {
                            name.clone()
                        };
                        self.products.push(new_product(
                            uid.clone(),
                            id,
                            member_name,
                            kind,
                            &caller.company_uid,
                            now,
                            term,
                            |p| {
                                p.speed = speed;
                                p.max_vxc_speed = max_vxc_speed;
                                p.location_id = Some(location_id);
                                p.diversity_zone = zone.clone();
                                p.marketplace_visibility = marketplace_visibility;
                                p.cost_centre = cost_centre.clone();
                                p.tags = tags.clone();
                                p.mcr_asn = mcr_asn;
                                p.mve_size = mve.as_ref().map(|m| m.0.clone());
                                p.mve_vendor = mve.as_ref().map(|m| m.1.clone());
                                p.aggregation_id = aggregation_id;
                                p.lag_primary = aggregation_id.is_some() && member == 0;
                            },
                        ));
                        created.push(Created::Service(uid));
                    }
                }
                Plan::Vxc {
                    name,
                    a,
                    b,
                    rate,
                    term,
                    key,
                    needs_approval,
                    shutdown,
                    cost_centre,
                    tags,
                } => {
                    let id = self.take_id();
                    let uid = uuid::Uuid::new_v4().to_string();
                    let b_owner = self
                        .product(&b.product_uid)
                        .map(|p| p.company_uid.clone())
                        .unwrap_or_default();
                    let b_owner_name = self
                        .company(&b_owner)
                        .map(|c| c.name.clone())
                        .unwrap_or_default();
                    self.products.push(new_product(
                        uid.clone(),
                        id,
                        name,
                        ProductKind::Vxc,
                        &caller.company_uid,
                        now,
                        term,
                        |p| {
                            p.speed = rate;
                            p.cost_centre = cost_centre;
                            p.tags = tags;
                            p.marketplace_visibility = false;
                            p.vxc = Some(VxcInfo {
                                a,
                                b,
                                approval: needs_approval.then(|| Approval {
                                    uid: uuid::Uuid::new_v4().to_string(),
                                    status: "PENDING_EXTERNAL".into(),
                                    kind: "NEW".into(),
                                    message: format!("Awaiting approval by {b_owner_name}"),
                                }),
                                shutdown,
                            });
                        },
                    ));
                    if let Some(k) = &key
                        && let Some(sk) = self.keys.iter_mut().find(|x| &x.key == k)
                    {
                        sk.last_used = Some(now);
                        if sk.single_use {
                            sk.consumed = true;
                        }
                    }
                    let order_id = self.next_order_id;
                    self.next_order_id += 1;
                    created.push(Created::Vxc { uid, order_id, key });
                }
            }
        }
        Ok(created)
    }
}

/// What a partner acting for a managed company may not order.
fn managed_account_rules(items: &[OrderItem]) -> Result<(), ApiError> {
    for item in items {
        let port = item
            .product_type
            .as_deref()
            .and_then(ProductKind::parse)
            .is_some_and(|k| k == ProductKind::Port);
        if port && item.marketplace_visibility == Some(true) {
            return Err(ApiError::validation(
                "Managed accounts cannot make a Port public on the Marketplace",
            ));
        }
        let promo = item.promo_code.is_some()
            || item
                .associated_vxcs
                .iter()
                .flatten()
                .any(|v| v.promo_code.is_some());
        if promo {
            return Err(ApiError::validation(
                "Managed accounts cannot use promo codes",
            ));
        }
    }
    Ok(())
}

fn inner(end: &EndOrder) -> Option<i64> {
    end.inner_vlan.filter(|v| *v > 0)
}

#[allow(clippy::too_many_arguments)]
fn new_product(
    uid: String,
    id: i64,
    name: String,
    kind: ProductKind,
    company: &str,
    now: i64,
    term: u32,
    fill: impl FnOnce(&mut Product),
) -> Product {
    let mut p = Product {
        term,
        create_date: now,
        provisioning_since: Some(now),
        ..Product::blank(uid, id, name, kind, company.to_string())
    };
    fill(&mut p);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::{KeyCreate, OrderConfig};
    use crate::scenario::Scenario;
    use crate::state::status;

    const LA1: &str = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001";
    const ACME_LAX: &str = "2d3e4f00-7a6b-4c5d-9e00-1f2a3b4c0001";
    const ACME_LON: &str = "2d3e4f00-7a6b-4c5d-9e00-1f2a3b4c0002";

    fn world() -> World {
        World::from_scenario(&Scenario::quantumgpu()).expect("world")
    }
    fn caller(w: &World, id: &str) -> Caller {
        w.test_caller(id)
    }
    fn key(w: &mut World, single: bool, vlan: Option<i64>, pre: Option<bool>) -> String {
        let a = caller(w, "qgpu-admin");
        w.create_key(
            &a,
            KeyCreate {
                product_uid: Some(LA1.into()),
                single_use: Some(single),
                vlan,
                max_speed: Some(1000),
                pre_approved: pre,
                ..Default::default()
            },
            0,
        )
        .expect("key")
    }
    fn use_key(from: &str, key: &str, rate: i64, b_vlan: Option<i64>) -> Vec<OrderItem> {
        vec![OrderItem {
            product_uid: Some(from.into()),
            associated_vxcs: Some(vec![VxcOrder {
                product_name: Some("acme-to-qgpu".into()),
                rate_limit: Some(rate),
                service_key: Some(key.into()),
                a_end: Some(EndOrder {
                    vlan: Some(120),
                    ..Default::default()
                }),
                b_end: Some(EndOrder {
                    product_uid: Some(LA1.into()),
                    vlan: b_vlan,
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }]
    }

    #[test]
    fn prices_are_deterministic() {
        assert_eq!(price(ProductKind::Port, 10_000, 1, None), (1000.0, 1000.0));
        assert_eq!(price(ProductKind::Port, 10_000, 12, None), (1000.0, 950.0));
        assert_eq!(price(ProductKind::Vxc, 500, 1, None), (35.0, 35.0));
        assert_eq!(price(ProductKind::Mcr, 5_000, 36, None), (400.0, 340.0));
    }

    #[test]
    fn single_use_key_is_consumed_once() {
        let mut w = world();
        let k = key(&mut w, true, Some(310), None);
        let acme = caller(&w, "acme-admin");
        let created = w
            .buy(&acme, &use_key(ACME_LAX, &k, 500, None), 5)
            .expect("buy");
        let Created::Vxc { uid, .. } = &created[0] else {
            panic!("vxc expected")
        };
        let vxc = w.product(uid).expect("vxc");
        let info = vxc.vxc.as_ref().expect("info");
        assert_eq!(info.b.vlan, Some(310));
        assert!(info.approval.is_some(), "not pre-approved → pending");
        assert_eq!(vxc.company_uid, acme.company_uid);
        let sk = w.find_key(&k).expect("key");
        assert!(sk.consumed && sk.active && sk.last_used == Some(5));
        let err = w
            .buy(&acme, &use_key(ACME_LAX, &k, 500, None), 6)
            .expect_err("second use");
        assert_eq!(
            err.data,
            serde_json::json!("Service key has already been used")
        );
    }

    #[test]
    fn key_use_checks() {
        let mut w = world();
        let acme = caller(&w, "acme-admin");
        let multi = key(&mut w, false, None, Some(true));
        assert!(
            w.buy(&acme, &use_key(ACME_LAX, &multi, 1001, None), 0)
                .is_err(),
            "rate > maxSpeed"
        );
        let e = w
            .buy(&acme, &use_key(ACME_LAX, &multi, 100, Some(101)), 0)
            .expect_err("vlan taken");
        assert!(e.data.as_str().is_some_and(|s| s.contains("VLAN 101")));
        let e = w
            .buy(&acme, &use_key(ACME_LON, &multi, 100, None), 0)
            .expect_err("market");
        assert_eq!(e.data, serde_json::json!("Missing markets: UK"));
        let created = w
            .buy(&acme, &use_key(ACME_LAX, &multi, 100, None), 0)
            .expect("auto vlan");
        let Created::Vxc { uid, .. } = &created[0] else {
            panic!("vxc expected")
        };
        let info = w.product(uid).and_then(|p| p.vxc.clone()).expect("info");
        assert_eq!(info.b.vlan, Some(2));
        assert!(info.approval.is_none(), "pre-approved");
        assert!(
            !w.find_key(&multi).expect("k").consumed,
            "multi-use keys stay usable"
        );
        // Inactive keys and unknown keys are refused.
        let qa = caller(&w, "qgpu-admin");
        w.update_key(
            &qa,
            crate::requests::KeyUpdate {
                key: Some(multi.clone()),
                active: Some(false),
                ..Default::default()
            },
            0,
        )
        .expect("upd");
        assert!(
            w.buy(&acme, &use_key(ACME_LAX, &multi, 100, None), 0)
                .is_err()
        );
        assert!(
            w.buy(
                &acme,
                &use_key(ACME_LAX, "5d3c2b1a-0f9e-4d8c-b7a6-112233445566", 100, None),
                0
            )
            .is_err()
        );
    }

    #[test]
    fn a_partner_acts_only_for_its_managed_companies_and_under_their_rules() {
        let w = world();
        let partner = caller(&w, "qgpu-admin");
        let stranger = w.act_for(partner.clone(), crate::quantumgpu::CUSTOMER_COMPANY_UID);
        assert_eq!(stranger.map(|_| ()).map_err(|e| e.status), Err(403));
        let nebula = w
            .act_for(partner.clone(), crate::quantumgpu::MANAGED_COMPANY_UID)
            .expect("Nebula Labs is QuantumGPU's managed account");
        assert_eq!(nebula.company_uid, crate::quantumgpu::MANAGED_COMPANY_UID);
        let port = |public: bool, promo: Option<&str>| OrderItem {
            product_type: Some("MEGAPORT".into()),
            product_name: Some("p".into()),
            term: Some(12),
            port_speed: Some(10_000),
            location_id: Some(60),
            marketplace_visibility: Some(public),
            promo_code: promo.map(str::to_owned),
            ..Default::default()
        };
        assert!(w.plan_order(&nebula, &[port(false, None)], 0).is_ok());
        for (item, why) in [
            (
                port(true, None),
                "Managed accounts cannot make a Port public on the Marketplace",
            ),
            (
                port(false, Some("X")),
                "Managed accounts cannot use promo codes",
            ),
        ] {
            let e = w
                .plan_order(&nebula, std::slice::from_ref(&item), 0)
                .expect_err(why);
            assert_eq!(e.data, serde_json::json!(why));
            assert!(
                w.plan_order(&partner, &[item], 0).is_ok(),
                "the partner itself may: {why}"
            );
        }
    }

    #[test]
    fn port_orders_check_speed_zone_and_market() {
        let mut w = world();
        let acme = caller(&w, "acme-admin");
        let port = |loc: i64, speed: i64| OrderItem {
            product_type: Some("MEGAPORT".into()),
            product_name: Some("p".into()),
            term: Some(12),
            port_speed: Some(speed),
            location_id: Some(loc),
            config: Some(OrderConfig {
                diversity_zone: Some("red".into()),
                mcr_asn: None,
            }),
            ..Default::default()
        };
        assert!(w.plan_order(&acme, &[port(60, 2500)], 0).is_err(), "speed");
        assert!(
            w.plan_order(&acme, &[port(412, 10_000)], 0).is_err(),
            "location not Active"
        );
        let e = w
            .plan_order(&acme, &[port(37, 10_000)], 0)
            .expect_err("market");
        assert_eq!(e.data, serde_json::json!("Missing markets: UK"));
        let created = w.buy(&acme, &[port(60, 10_000)], 0).expect("buy");
        let Created::Service(uid) = &created[0] else {
            panic!("service expected")
        };
        assert_eq!(w.product(uid).expect("p").status, status::DEPLOYABLE);
    }
}
