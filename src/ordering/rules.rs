//! The account rules a design must meet before it is priced or ordered, as one pure check over
//! the spec and what Megaport lists (locations, billing markets). Admission (CEL) refuses the
//! shape already; these need Megaport's data, or repeat a CEL rule for objects stored under an
//! older schema.

use std::fmt;

use crate::crd::saved_configuration::{Common, SavedConfigurationSpec, Zone};
use crate::megaport::models::{BillingMarket, Location, ZoneCapabilities};

/// Contract terms Megaport sells, in months.
pub const TERMS: [u8; 6] = [1, 12, 24, 36, 48, 60];

/// What the rules read from Megaport: every location, and the billing markets of the company
/// the order is for (the managed company's when acting for one).
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// `GET /v3/locations`.
    pub locations: &'a [Location],
    /// `GET /v2/market` (with `X-Call-Context` for a managed account).
    pub markets: &'a [BillingMarket],
    /// The order is for a managed account (`spec.managedAccount`).
    pub managed_account: bool,
}

/// One broken rule, with the service it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Broken {
    /// No such location.
    UnknownLocation { service: String, location_id: u32 },
    /// The location does not take orders (status other than Active).
    LocationNotActive {
        service: String,
        location: String,
        status: String,
    },
    /// No billing market for the location's country.
    NoMarket {
        service: String,
        country: String,
        managed: bool,
    },
    /// The speed is not offered at the location (and zone).
    SpeedNotOffered {
        service: String,
        kind: &'static str,
        speed: u32,
        location: String,
        zone: Option<Zone>,
        offered: Vec<u32>,
    },
    /// MVEs cannot be ordered at the location (and zone).
    MveNotOffered {
        service: String,
        location: String,
        zone: Option<Zone>,
    },
    /// A term Megaport does not sell.
    Term { service: String, term: u8 },
    /// A managed account may not list a Port on the Marketplace.
    PublicPortForManaged { service: String },
    /// A managed account may not use promo codes.
    PromoForManaged { service: String },
}

impl Broken {
    /// The service the rule concerns.
    pub fn service(&self) -> &str {
        match self {
            Self::UnknownLocation { service, .. }
            | Self::LocationNotActive { service, .. }
            | Self::NoMarket { service, .. }
            | Self::SpeedNotOffered { service, .. }
            | Self::MveNotOffered { service, .. }
            | Self::Term { service, .. }
            | Self::PublicPortForManaged { service }
            | Self::PromoForManaged { service } => service,
        }
    }
}

fn zone_text(zone: Option<Zone>) -> String {
    match zone {
        Some(Zone::Red) => " in the red zone".into(),
        Some(Zone::Blue) => " in the blue zone".into(),
        None => String::new(),
    }
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownLocation { location_id, .. } => write!(
                f,
                "location {location_id} does not exist (megaport-operator catalog lists them)"
            ),
            Self::LocationNotActive {
                location, status, ..
            } => write!(f, "{location} does not take orders (status {status})"),
            Self::NoMarket {
                country, managed, ..
            } => {
                let whose = if *managed {
                    "the managed account has"
                } else {
                    "the company has"
                };
                write!(
                    f,
                    "{whose} no billing market for {country}: enable one before ordering there"
                )
            }
            Self::SpeedNotOffered {
                kind,
                speed,
                location,
                zone,
                offered,
                ..
            } => {
                let offered: Vec<String> = offered.iter().map(u32::to_string).collect();
                write!(
                    f,
                    "{kind} speed {speed} Mbps is not offered at {location}{} (offered: {})",
                    zone_text(*zone),
                    if offered.is_empty() {
                        "none".into()
                    } else {
                        offered.join(", ")
                    }
                )
            }
            Self::MveNotOffered { location, zone, .. } => write!(
                f,
                "MVEs cannot be ordered at {location}{}",
                zone_text(*zone)
            ),
            Self::Term { term, .. } => write!(
                f,
                "term {term} months is not sold: use 1, 12, 24, 36, 48 or 60"
            ),
            Self::PublicPortForManaged { .. } => {
                f.write_str("a managed account cannot make a Port public on the Marketplace")
            }
            Self::PromoForManaged { .. } => f.write_str("a managed account cannot use promo codes"),
        }
    }
}

/// Every rule `spec` breaks, in the order of its services (Ports, MCRs, MVEs, VXCs).
pub fn check(spec: &SavedConfigurationSpec, facts: &Facts<'_>) -> Vec<Broken> {
    let mut broken = Vec::new();
    let services = &spec.services;
    for port in &services.ports {
        common(&port.common, facts, &mut broken);
        let site = sited(&port.common, port.location_id, facts, &mut broken);
        if let Some(location) = site {
            let offered = offered(location, port.diversity_zone, |z| &z.megaport_speed_mbps);
            speed(
                &port.common,
                "Port",
                port.speed_mbps,
                location,
                port.diversity_zone,
                offered,
                &mut broken,
            );
        }
        if facts.managed_account && port.marketplace_visibility == Some(true) {
            broken.push(Broken::PublicPortForManaged {
                service: port.common.name.clone(),
            });
        }
    }
    for mcr in &services.mcrs {
        common(&mcr.common, facts, &mut broken);
        if let Some(location) = sited(&mcr.common, mcr.location_id, facts, &mut broken) {
            let offered = offered(location, mcr.diversity_zone, |z| &z.mcr_speed_mbps);
            speed(
                &mcr.common,
                "MCR",
                mcr.speed_mbps,
                location,
                mcr.diversity_zone,
                offered,
                &mut broken,
            );
        }
    }
    for mve in &services.mves {
        common(&mve.common, facts, &mut broken);
        if let Some(location) = sited(&mve.common, mve.location_id, facts, &mut broken) {
            let available =
                zones(location, mve.diversity_zone).any(|z| z.mve_available == Some(true));
            if !available {
                broken.push(Broken::MveNotOffered {
                    service: mve.common.name.clone(),
                    location: location.name.clone(),
                    zone: mve.diversity_zone,
                });
            }
        }
    }
    for vxc in &services.vxcs {
        common(&vxc.common, facts, &mut broken);
    }
    broken
}

/// The rules every service has: its term, and a managed account's promo codes.
fn common(service: &Common, facts: &Facts<'_>, broken: &mut Vec<Broken>) {
    if !TERMS.contains(&service.term_months) {
        broken.push(Broken::Term {
            service: service.name.clone(),
            term: service.term_months,
        });
    }
    if facts.managed_account && service.promo_code.is_some() {
        broken.push(Broken::PromoForManaged {
            service: service.name.clone(),
        });
    }
}

/// The location of a sited service, when it exists, takes orders and has a billing market.
fn sited<'a>(
    service: &Common,
    location_id: u32,
    facts: &Facts<'a>,
    broken: &mut Vec<Broken>,
) -> Option<&'a Location> {
    let name = || service.name.clone();
    let Some(location) = facts
        .locations
        .iter()
        .find(|l| l.id == i64::from(location_id))
    else {
        broken.push(Broken::UnknownLocation {
            service: name(),
            location_id,
        });
        return None;
    };
    let status = location.status.as_deref().unwrap_or("unknown");
    if !status.eq_ignore_ascii_case("Active") {
        broken.push(Broken::LocationNotActive {
            service: name(),
            location: location.name.clone(),
            status: status.to_owned(),
        });
    }
    if let Some(country) = location.country() {
        let market = facts
            .markets
            .iter()
            .filter(|m| m.active != Some(false))
            .any(|m| m.country.as_deref() == Some(country));
        if !market {
            broken.push(Broken::NoMarket {
                service: name(),
                country: country.to_owned(),
                managed: facts.managed_account,
            });
        }
    }
    Some(location)
}

/// The location's capabilities in `zone`, or in every zone when none is asked for.
fn zones(location: &Location, zone: Option<Zone>) -> impl Iterator<Item = &ZoneCapabilities> {
    let wanted = zone.map(|z| match z {
        Zone::Red => "red",
        Zone::Blue => "blue",
    });
    location
        .diversity_zones
        .iter()
        .filter(move |(name, _)| wanted.is_none_or(|w| name.eq_ignore_ascii_case(w)))
        .map(|(_, caps)| caps)
}

/// The speeds `pick` lists for the location and zone, sorted, each once.
fn offered(
    location: &Location,
    zone: Option<Zone>,
    pick: impl Fn(&ZoneCapabilities) -> &Vec<u32>,
) -> Vec<u32> {
    let mut speeds: Vec<u32> = zones(location, zone)
        .flat_map(|z| pick(z).iter().copied())
        .collect();
    speeds.sort_unstable();
    speeds.dedup();
    speeds
}

fn speed(
    service: &Common,
    kind: &'static str,
    speed: u32,
    location: &Location,
    zone: Option<Zone>,
    offered: Vec<u32>,
    broken: &mut Vec<Broken>,
) {
    if !offered.contains(&speed) {
        broken.push(Broken::SpeedNotOffered {
            service: service.name.clone(),
            kind,
            speed,
            location: location.name.clone(),
            zone,
            offered,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn locations() -> Vec<Location> {
        serde_json::from_value(json!([
            {"id": 59, "name": "Equinix LA1", "status": "Active", "address": {"country": "USA"},
             "diversityZones": {
                "blue": {"megaportSpeedMbps": [1000, 10000], "mcrSpeedMbps": [1000, 5000], "mveAvailable": true},
                "red": {"megaportSpeedMbps": [1000, 10000, 100000], "mcrSpeedMbps": [1000], "mveAvailable": false}}},
            {"id": 37, "name": "Telehouse North", "status": "Active", "address": {"country": "UK"},
             "diversityZones": {"red": {"megaportSpeedMbps": [10000], "mcrSpeedMbps": [], "mveAvailable": false}}},
            {"id": 412, "name": "Equinix LA3", "status": "Deployment", "address": {"country": "USA"},
             "diversityZones": {"red": {"megaportSpeedMbps": [10000]}}},
        ]))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn usa() -> Vec<BillingMarket> {
        serde_json::from_value(
            json!([{"id": 1, "country": "USA", "currencyEnum": "USD", "active": true}]),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn spec(services: serde_json::Value) -> SavedConfigurationSpec {
        serde_json::from_value(json!({"services": services})).unwrap_or_else(|e| panic!("{e}"))
    }

    fn port(name: &str, location: u32, speed: u32, zone: Option<&str>) -> serde_json::Value {
        json!({"name": name, "locationId": location, "speedMbps": speed, "termMonths": 12, "diversityZone": zone})
    }

    /// The messages `check` gives, as "service: message".
    fn messages(spec: &SavedConfigurationSpec, managed: bool) -> Vec<String> {
        let (locations, markets) = (locations(), usa());
        let facts = Facts {
            locations: &locations,
            markets: &markets,
            managed_account: managed,
        };
        check(spec, &facts)
            .iter()
            .map(|b| format!("{}: {b}", b.service()))
            .collect()
    }

    #[test]
    fn each_rule_refuses_with_its_message() {
        let table: Vec<(&str, serde_json::Value, bool, Vec<&str>)> = vec![
            (
                "a good Port",
                json!({"ports": [port("p", 59, 10000, Some("blue"))]}),
                false,
                vec![],
            ),
            (
                "any zone offers it",
                json!({"ports": [port("p", 59, 100000, None)]}),
                false,
                vec![],
            ),
            (
                "not in that zone",
                json!({"ports": [port("p", 59, 100000, Some("blue"))]}),
                false,
                vec![
                    "p: Port speed 100000 Mbps is not offered at Equinix LA1 in the blue zone (offered: 1000, 10000)",
                ],
            ),
            (
                "no market",
                json!({"ports": [port("p", 37, 10000, None)]}),
                false,
                vec![
                    "p: the company has no billing market for UK: enable one before ordering there",
                ],
            ),
            (
                "the managed account's market",
                json!({"ports": [port("p", 37, 10000, None)]}),
                true,
                vec![
                    "p: the managed account has no billing market for UK: enable one before ordering there",
                ],
            ),
            (
                "a location in deployment",
                json!({"ports": [port("p", 412, 10000, None)]}),
                false,
                vec!["p: Equinix LA3 does not take orders (status Deployment)"],
            ),
            (
                "no such location",
                json!({"ports": [port("p", 999, 10000, None)]}),
                false,
                vec!["p: location 999 does not exist (megaport-operator catalog lists them)"],
            ),
            (
                "an MCR speed",
                json!({"mcrs": [{"name": "m", "locationId": 59, "speedMbps": 5000, "termMonths": 1, "diversityZone": "red"}]}),
                false,
                vec![
                    "m: MCR speed 5000 Mbps is not offered at Equinix LA1 in the red zone (offered: 1000)",
                ],
            ),
            (
                "an MVE where none can go",
                json!({"mves": [{"name": "e", "locationId": 59, "termMonths": 12, "vendor": "Cisco", "imageId": 1, "size": "SMALL", "diversityZone": "red"}]}),
                false,
                vec!["e: MVEs cannot be ordered at Equinix LA1 in the red zone"],
            ),
            (
                "a term that slipped past admission",
                json!({"ports": [{"name": "p", "locationId": 59, "speedMbps": 10000, "termMonths": 6}]}),
                false,
                vec!["p: term 6 months is not sold: use 1, 12, 24, 36, 48 or 60"],
            ),
            (
                "managed: public Port and promo code",
                json!({"ports": [{"name": "p", "locationId": 59, "speedMbps": 10000, "termMonths": 12, "marketplaceVisibility": true, "promoCode": "X"}]}),
                true,
                vec![
                    "p: a managed account cannot use promo codes",
                    "p: a managed account cannot make a Port public on the Marketplace",
                ],
            ),
            (
                "the same, not managed",
                json!({"ports": [{"name": "p", "locationId": 59, "speedMbps": 10000, "termMonths": 12, "marketplaceVisibility": true, "promoCode": "X"}]}),
                false,
                vec![],
            ),
        ];
        for (what, services, managed, want) in table {
            assert_eq!(messages(&spec(services), managed), want, "{what}");
        }
    }

    #[test]
    fn an_inactive_market_is_no_market() {
        let locations = locations();
        let markets: Vec<BillingMarket> =
            serde_json::from_value(json!([{"country": "USA", "active": false}]))
                .unwrap_or_else(|e| panic!("{e}"));
        let facts = Facts {
            locations: &locations,
            markets: &markets,
            managed_account: false,
        };
        let broken = check(
            &spec(json!({"ports": [port("p", 59, 10000, None)]})),
            &facts,
        );
        assert!(
            matches!(&broken[..], [Broken::NoMarket { country, .. }] if country == "USA"),
            "{broken:?}"
        );
    }
}
