//! The scenario file: the serde model of the YAML world a simulator starts from, its
//! consistency checks, and the built-in `quantumgpu` world (embedded from
//! `scenarios/quantumgpu.yaml`, so the built-in uses exactly the format of user files).
//!
//! Nothing here knows about HTTP or mutable state: [`crate::state::World`] is built
//! from a validated [`Scenario`].

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::SimulatorError;

const BUILTIN_QUANTUMGPU: &str = include_str!("scenarios/quantumgpu.yaml");

/// Default creation time of scenario objects that do not say (2024-01-24T14:00:00Z).
pub const DEFAULT_CREATE_DATE: i64 = 1_706_104_800_000;

/// A simulated Megaport world: companies with API keys and billing markets, locations,
/// products (Ports, MCRs, MVEs), VXCs between them and pre-existing service keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// Short name, e.g. `quantumgpu`.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Behaviour knobs (provisioning delays).
    #[serde(default)]
    pub settings: Settings,
    /// Companies (the provider and its customers).
    pub companies: Vec<CompanySpec>,
    /// Megaport locations served by `/v3/locations`; every product's location must be here.
    pub locations: Vec<LocationSpec>,
    /// Ports, MCRs and MVEs.
    #[serde(default)]
    pub products: Vec<ProductSpec>,
    /// VXCs between products.
    #[serde(default)]
    pub vxcs: Vec<VxcSpec>,
    /// Service keys that exist when the simulator starts.
    #[serde(default)]
    pub service_keys: Vec<ServiceKeySpec>,
}

/// Behaviour knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// Delays of the DEPLOYABLE → CONFIGURED → LIVE progression of bought products.
    #[serde(default)]
    pub provisioning: ProvisioningSpec,
    /// Megaport's limit on updates of one service (one per 5 minutes, 100 per month); not
    /// enforced when absent.
    #[serde(default)]
    pub service_updates: Option<ServiceUpdatesSpec>,
}

/// The limit on updates of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceUpdatesSpec {
    /// Least time between two updates of one service, seconds (Megaport: 300).
    #[serde(default = "default_update_spacing")]
    pub spacing_seconds: u64,
    /// Most updates of one service in any 30 days (Megaport: 100).
    #[serde(default = "default_updates_per_month")]
    pub per_month: u32,
}

fn default_update_spacing() -> u64 {
    crate::limits::UPDATE_SPACING_SECONDS
}
fn default_updates_per_month() -> u32 {
    crate::limits::UPDATES_PER_MONTH
}

/// Provisioning delays on the simulated clock, counted from the order (or the approval).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisioningSpec {
    /// Seconds after which a DEPLOYABLE product becomes CONFIGURED.
    pub configured_after_seconds: u64,
    /// Seconds after which it becomes LIVE (must be ≥ `configuredAfterSeconds`).
    pub live_after_seconds: u64,
}

impl Default for ProvisioningSpec {
    fn default() -> Self {
        Self {
            configured_after_seconds: 30,
            live_after_seconds: 60,
        }
    }
}

/// A company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompanySpec {
    /// `companyUid`.
    pub uid: String,
    /// `companyId`.
    pub id: i64,
    /// `companyName`.
    pub name: String,
    /// Enabled billing markets; ordering in a country without one fails (`Missing markets`).
    #[serde(default)]
    pub markets: Vec<MarketSpec>,
    /// API keys (client credentials) of this company.
    #[serde(default)]
    pub api_keys: Vec<ApiKeySpec>,
    /// The partner company (uid) that manages this one: its callers may act for this company
    /// with `X-Call-Context: <this uid>` (and then cannot list a Port on the Marketplace or
    /// use promo codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    /// The partner's reference for this managed account (`accountRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_ref: Option<String>,
}

/// A billing market of a company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarketSpec {
    /// Country name exactly as locations spell it (`USA`, `UK`, `Japan`, `Australia`).
    pub country: String,
    /// Billing currency (`USD`, ...); also the currency of validate prices there.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Supplier (Megaport entity) name shown by `/v2/market`.
    #[serde(default)]
    pub supplier_name: Option<String>,
}

fn default_currency() -> String {
    "USD".to_string()
}

/// An API key: client credentials with a role and a token lifetime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeySpec {
    /// Client id (not secret; appears in logs and the call log).
    pub client_id: String,
    /// Client secret (never logged).
    pub client_secret: String,
    /// `Company Admin` or `Read Only` (Read Only gets 403 on every write).
    pub role: Role,
    /// Lifetime of issued tokens in seconds (real keys: 300..86400).
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_seconds: u64,
}

fn default_token_lifetime() -> u64 {
    86_400
}

/// Role of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// May read and write.
    #[serde(rename = "Company Admin")]
    CompanyAdmin,
    /// May only read (403 on writes).
    #[serde(rename = "Read Only")]
    ReadOnly,
}

/// A Megaport location (data centre).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationSpec {
    /// `locationId`.
    pub id: i64,
    /// Name, e.g. `Equinix LA1`.
    pub name: String,
    /// Site code, e.g. `lax-eq1` (service shape `aLocation`).
    #[serde(default)]
    pub site_code: Option<String>,
    /// Metro, e.g. `Los Angeles`.
    pub metro: String,
    /// City (defaults to the metro).
    #[serde(default)]
    pub city: Option<String>,
    /// Country name as `locationDetail.country` shows it (`USA`, `UK`, ...).
    pub country: String,
    /// Two-letter billing market code (`US`, `UK`, `JP`, `AU`).
    pub market: String,
    /// `Active`, `Deployment`, `Restricted`, `Extended`, `New`, `Expired`.
    #[serde(default = "default_location_status")]
    pub status: String,
    /// Latitude.
    #[serde(default)]
    pub latitude: f64,
    /// Longitude.
    #[serde(default)]
    pub longitude: f64,
    /// Street address.
    #[serde(default)]
    pub address: AddressSpec,
    /// Data-centre operator.
    #[serde(default)]
    pub data_centre: Option<DataCentreSpec>,
    /// Diversity zones (`red`, `blue`) and what can be ordered in each.
    #[serde(default)]
    pub diversity_zones: BTreeMap<String, ZoneSpec>,
}

fn default_location_status() -> String {
    "Active".to_string()
}

/// Street address of a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddressSpec {
    /// Street.
    #[serde(default)]
    pub street: String,
    /// Suburb.
    #[serde(default)]
    pub suburb: String,
    /// State.
    #[serde(default)]
    pub state: String,
    /// Postcode.
    #[serde(default)]
    pub postcode: String,
}

/// Data-centre operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataCentreSpec {
    /// Id.
    pub id: i64,
    /// Name, e.g. `Equinix`.
    pub name: String,
}

/// What can be ordered in one diversity zone of a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ZoneSpec {
    /// Port speeds (Mbps).
    #[serde(default)]
    pub megaport_speed_mbps: Vec<u32>,
    /// MCR speeds (Mbps).
    #[serde(default)]
    pub mcr_speed_mbps: Vec<u32>,
    /// Whether MVEs can be ordered.
    #[serde(default)]
    pub mve_available: bool,
}

/// A resource tag (`{"key", "value"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A Port (`MEGAPORT`), MCR (`MCR2`) or MVE (`MVE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProductSpec {
    /// `productUid` (fixed, so runs are reproducible).
    pub uid: String,
    /// `productId` (assigned when absent).
    #[serde(default)]
    pub id: Option<i64>,
    /// `MEGAPORT`, `MCR2` or `MVE`.
    #[serde(rename = "type")]
    pub product_type: String,
    /// `productName`.
    pub name: String,
    /// Owner company uid.
    pub company: String,
    /// `locationId`.
    pub location_id: i64,
    /// `red` or `blue`.
    #[serde(default)]
    pub diversity_zone: Option<String>,
    /// `portSpeed` in Mbps (ports and MCRs; MVEs have none).
    #[serde(default)]
    pub speed: Option<u32>,
    /// `maxVxcSpeed` (MCR/MVE, or a port that caps VXCs).
    #[serde(default)]
    pub max_vxc_speed: Option<u32>,
    /// `provisioningStatus`.
    #[serde(default = "default_live")]
    pub status: String,
    /// `vxcpermitted` / `vxcPermitted`.
    #[serde(default = "default_true")]
    pub vxc_permitted: bool,
    /// `vxcAutoApproval`.
    #[serde(default)]
    pub vxc_auto_approval: bool,
    /// `marketplaceVisibility`.
    #[serde(default = "default_true")]
    pub marketplace_visibility: bool,
    /// `contractTermMonths`.
    #[serde(default = "default_term_12")]
    pub term: u32,
    /// `createDate` (epoch ms).
    #[serde(default)]
    pub create_date: Option<i64>,
    /// `costCentre`.
    #[serde(default)]
    pub cost_centre: String,
    /// Resource tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// MCR ASN.
    #[serde(default)]
    pub mcr_asn: Option<u32>,
    /// MVE size (`SMALL`, `MEDIUM`, `LARGE`, `X_LARGE_12`).
    #[serde(default)]
    pub mve_size: Option<String>,
    /// MVE vendor (`CISCO`, `PALO_ALTO`, ...).
    #[serde(default)]
    pub mve_vendor: Option<String>,
}

fn default_live() -> String {
    "LIVE".to_string()
}
fn default_true() -> bool {
    true
}
fn default_term_12() -> u32 {
    12
}
fn default_term_1() -> u32 {
    1
}

/// A VXC between two products.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VxcSpec {
    /// `productUid`.
    pub uid: String,
    /// `productId` (assigned when absent).
    #[serde(default)]
    pub id: Option<i64>,
    /// `productName`.
    pub name: String,
    /// Buyer company uid (defaults to the A-end owner).
    #[serde(default)]
    pub company: Option<String>,
    /// `rateLimit` in Mbps.
    pub rate_limit: u32,
    /// `provisioningStatus`.
    #[serde(default = "default_live")]
    pub status: String,
    /// A end (the buyer's side).
    pub a_end: EndSpec,
    /// B end.
    pub b_end: EndSpec,
    /// Whether the B-end owner still has to approve it.
    #[serde(default)]
    pub pending_approval: bool,
    /// `contractTermMonths`.
    #[serde(default = "default_term_1")]
    pub term: u32,
    /// `createDate` (epoch ms).
    #[serde(default)]
    pub create_date: Option<i64>,
    /// Resource tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// One end of a VXC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndSpec {
    /// The product the end attaches to.
    pub product_uid: String,
    /// VLAN (2..4093), or null for untagged.
    #[serde(default)]
    pub vlan: Option<u16>,
}

/// A service key that exists at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceKeySpec {
    /// The key (UUID).
    pub key: String,
    /// The owner's product.
    pub product_uid: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Fixed B-end VLAN (single-use keys).
    #[serde(default)]
    pub vlan: Option<u16>,
    /// Max VXC speed in Mbps (defaults to the product's limit).
    #[serde(default)]
    pub max_speed: Option<u32>,
    /// `preApproved`.
    #[serde(default)]
    pub pre_approved: Option<bool>,
    /// `singleUse`.
    #[serde(default)]
    pub single_use: bool,
    /// `active`.
    #[serde(default = "default_true")]
    pub active: bool,
    /// `validFor.start` (epoch ms; defaults to `createDate`).
    #[serde(default)]
    pub valid_from: Option<i64>,
    /// `validFor.end` (epoch ms; null = open-ended).
    #[serde(default)]
    pub valid_until: Option<i64>,
    /// `createDate` (epoch ms).
    #[serde(default)]
    pub create_date: Option<i64>,
    /// `lastUsed` (epoch ms).
    #[serde(default)]
    pub last_used: Option<i64>,
    /// Whether a single-use key has already been used.
    #[serde(default)]
    pub consumed: bool,
}

impl Scenario {
    /// The built-in QuantumGPU world of the seeds (see `docs/simulator.md`).
    pub fn quantumgpu() -> Scenario {
        Scenario::from_yaml(BUILTIN_QUANTUMGPU)
            .expect("the built-in quantumgpu scenario is valid (checked by a unit test)")
    }

    /// `quantumgpu` (built in) or the path of a YAML scenario file.
    pub fn load(name_or_path: &str) -> Result<Scenario, SimulatorError> {
        if name_or_path == "quantumgpu" {
            return Ok(Scenario::quantumgpu());
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|source| {
            SimulatorError::ScenarioRead {
                path: name_or_path.to_string(),
                source,
            }
        })?;
        Scenario::from_yaml(&text)
    }

    /// Parses and checks a YAML scenario.
    pub fn from_yaml(text: &str) -> Result<Scenario, SimulatorError> {
        let scenario: Scenario =
            serde_yaml::from_str(text).map_err(|e| SimulatorError::ScenarioParse(e.to_string()))?;
        scenario.check()?;
        Ok(scenario)
    }

    /// Cross-reference checks: unique ids, existing companies/locations/products, sane values.
    fn check(&self) -> Result<(), SimulatorError> {
        let bad = |msg: String| Err(SimulatorError::ScenarioInvalid(msg));
        let mut uids = HashSet::new();
        let mut company_uids = HashSet::new();
        let mut client_ids = HashSet::new();
        for c in &self.companies {
            if !is_uuid(&c.uid) {
                return bad(format!(
                    "company {:?}: uid {:?} is not a UUID",
                    c.name, c.uid
                ));
            }
            if !uids.insert(c.uid.clone()) {
                return bad(format!("duplicate uid {}", c.uid));
            }
            company_uids.insert(c.uid.clone());
            if let Some(partner) = &c.managed_by
                && !self
                    .companies
                    .iter()
                    .any(|p| &p.uid == partner && p.uid != c.uid)
            {
                return bad(format!(
                    "company {:?}: managedBy {partner} is not another company",
                    c.name
                ));
            }
            for k in &c.api_keys {
                if !client_ids.insert(k.client_id.clone()) {
                    return bad(format!("duplicate API key client id {:?}", k.client_id));
                }
                if k.token_lifetime_seconds == 0 {
                    return bad(format!(
                        "API key {:?}: token lifetime must be > 0",
                        k.client_id
                    ));
                }
            }
        }
        let p = &self.settings.provisioning;
        if p.live_after_seconds < p.configured_after_seconds {
            return bad("settings.provisioning: liveAfterSeconds < configuredAfterSeconds".into());
        }
        let mut location_ids = HashSet::new();
        for l in &self.locations {
            if !location_ids.insert(l.id) {
                return bad(format!("duplicate location id {}", l.id));
            }
        }
        let mut product_uids = HashSet::new();
        let mut product_ids = HashSet::new();
        for p in &self.products {
            if !is_uuid(&p.uid) {
                return bad(format!(
                    "product {:?}: uid {:?} is not a UUID",
                    p.name, p.uid
                ));
            }
            if !uids.insert(p.uid.clone()) {
                return bad(format!("duplicate uid {}", p.uid));
            }
            if let Some(id) = p.id
                && !product_ids.insert(id)
            {
                return bad(format!("duplicate product id {id}"));
            }
            product_uids.insert(p.uid.clone());
            if !company_uids.contains(&p.company) {
                return bad(format!(
                    "product {:?}: unknown company {}",
                    p.name, p.company
                ));
            }
            if !location_ids.contains(&p.location_id) {
                return bad(format!(
                    "product {:?}: unknown location {}",
                    p.name, p.location_id
                ));
            }
            match p.product_type.as_str() {
                "MEGAPORT" | "MCR2" => {
                    if p.speed.unwrap_or(0) == 0 {
                        return bad(format!("product {:?}: speed is required", p.name));
                    }
                }
                "MVE" => {}
                other => return bad(format!("product {:?}: unknown type {other:?}", p.name)),
            }
        }
        for v in &self.vxcs {
            if !is_uuid(&v.uid) {
                return bad(format!("vxc {:?}: uid {:?} is not a UUID", v.name, v.uid));
            }
            if !uids.insert(v.uid.clone()) {
                return bad(format!("duplicate uid {}", v.uid));
            }
            if let Some(id) = v.id
                && !product_ids.insert(id)
            {
                return bad(format!("duplicate product id {id}"));
            }
            for end in [&v.a_end, &v.b_end] {
                if !product_uids.contains(&end.product_uid) {
                    return bad(format!(
                        "vxc {:?}: unknown product {}",
                        v.name, end.product_uid
                    ));
                }
            }
            if let Some(c) = &v.company
                && !company_uids.contains(c)
            {
                return bad(format!("vxc {:?}: unknown company {c}", v.name));
            }
        }
        let mut keys = HashSet::new();
        for k in &self.service_keys {
            if !is_uuid(&k.key) || !keys.insert(k.key.clone()) {
                return bad("service keys must be unique UUIDs".into());
            }
            if !product_uids.contains(&k.product_uid) {
                return bad(format!("service key on unknown product {}", k.product_uid));
            }
        }
        Ok(())
    }
}

/// Whether `s` is a hyphenated UUID.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_quantumgpu_parses_and_checks() {
        let s = Scenario::from_yaml(BUILTIN_QUANTUMGPU).expect("valid");
        assert_eq!(s.name, "quantumgpu");
        let countries: HashSet<&str> = s.locations.iter().map(|l| l.country.as_str()).collect();
        for c in ["USA", "UK", "Japan", "Australia"] {
            assert!(countries.contains(c), "{c}");
        }
        assert!(s.companies.iter().any(|c| c.name == "Acme Robotics"));
    }

    #[test]
    fn load_by_name_and_missing_file() {
        assert_eq!(
            Scenario::load("quantumgpu").expect("builtin").name,
            "quantumgpu"
        );
        assert!(matches!(
            Scenario::load("/nonexistent/scenario.yaml"),
            Err(SimulatorError::ScenarioRead { .. })
        ));
    }

    #[test]
    fn rejects_unknown_fields_and_dangling_references() {
        let err = Scenario::from_yaml("name: x\ncompanies: []\nlocations: []\nbogus: 1\n");
        assert!(matches!(err, Err(SimulatorError::ScenarioParse(_))));
        let text = r#"
name: x
companies:
  - { uid: "4f8e2a10-6b3c-4d1e-9a7f-2c5b8e0d1a01", id: 1, name: A }
locations: []
products:
  - { uid: "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001", type: MEGAPORT, name: p,
      company: "4f8e2a10-6b3c-4d1e-9a7f-2c5b8e0d1a01", locationId: 59, speed: 1000 }
"#;
        let err = Scenario::from_yaml(text);
        assert!(
            matches!(err, Err(SimulatorError::ScenarioInvalid(m)) if m.contains("unknown location"))
        );
    }

    #[test]
    fn example_scenario_file_is_valid() {
        let text = include_str!("../../../examples/simulator/scenario.yaml");
        Scenario::from_yaml(text).expect("examples/simulator/scenario.yaml is valid");
    }
}
