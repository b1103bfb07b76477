//! Request and response types of the Megaport API, tolerant of how the API really answers.
//!
//! Rules applied throughout (see `shared/reference/megaport-api.md` §13, §15): unknown fields
//! are ignored; any field may be `null` or missing; timestamps are epoch milliseconds;
//! `productType` arrives in either case; `vxcpermitted` (ports) and `vxcPermitted` (MCR, MVE,
//! service shape) are both read, even when both are present. Requests are written exactly as
//! the API expects them: camelCase, UPPERCASE product types, integer speeds and VLANs.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

// === lenient field decoding ===

/// Decodes `null` as the type's default (serde's `default` only covers missing fields).
fn null_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// An optional integer that may arrive as a number (integer or float), a numeric string or null.
fn lenient_opt_i64<'de, D: Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(de)? {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

fn lenient_opt_u32<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u32>, D::Error> {
    Ok(lenient_opt_i64(de)?.and_then(|v| u32::try_from(v).ok()))
}

fn lenient_opt_vlan<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u16>, D::Error> {
    Ok(lenient_opt_i64(de)?.and_then(|v| u16::try_from(v).ok()))
}

/// An optional boolean that may arrive as a bool, 0/1 or null (e.g. `resources.interface.up`).
fn lenient_opt_bool<'de, D: Deserializer<'de>>(de: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<Value>::deserialize(de)? {
        Some(Value::Bool(b)) => Some(b),
        Some(Value::Number(n)) => n.as_i64().map(|v| v != 0),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    })
}

// === shared scalar types ===

/// A point in time as the API writes it: milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct EpochMillis(pub i64);

impl<'de> Deserialize<'de> for EpochMillis {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        lenient_opt_i64(de)?
            .map(Self)
            .ok_or_else(|| serde::de::Error::custom("expected epoch milliseconds"))
    }
}

impl EpochMillis {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Self::from_timestamp(jiff::Timestamp::now())
    }

    /// Converts from a timestamp, truncating to milliseconds.
    pub fn from_timestamp(ts: jiff::Timestamp) -> Self {
        Self(ts.as_millisecond())
    }

    /// Converts to a timestamp; `None` when out of range.
    pub fn to_timestamp(self) -> Option<jiff::Timestamp> {
        jiff::Timestamp::from_millisecond(self.0).ok()
    }
}

fn opt_epoch<'de, D: Deserializer<'de>>(de: D) -> Result<Option<EpochMillis>, D::Error> {
    Ok(lenient_opt_i64(de)?.map(EpochMillis))
}

/// Megaport product types. The API writes them UPPERCASE in bodies and lowercase in paths.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProductType {
    /// A Port (`MEGAPORT`).
    #[default]
    Megaport,
    /// A Megaport Cloud Router (`MCR2`).
    Mcr2,
    /// A Megaport Virtual Edge (`MVE`).
    Mve,
    /// A Virtual Cross Connect (`VXC`).
    Vxc,
    /// An Internet Exchange connection (`IX`).
    Ix,
    /// A NAT gateway (`NAT_GATEWAY`).
    NatGateway,
    /// Anything else, as sent (upper-cased).
    Other(String),
}

impl ProductType {
    /// The UPPERCASE wire name used in bodies.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Megaport => "MEGAPORT",
            Self::Mcr2 => "MCR2",
            Self::Mve => "MVE",
            Self::Vxc => "VXC",
            Self::Ix => "IX",
            Self::NatGateway => "NAT_GATEWAY",
            Self::Other(s) => s,
        }
    }

    /// The lowercase name used in URL paths (`/v2/product/megaport/{uid}`).
    pub fn path_segment(&self) -> String {
        self.as_str().to_ascii_lowercase()
    }

    /// Ports, MCRs and MVEs: the products a service key can be bound to.
    pub fn is_on_ramp(&self) -> bool {
        matches!(self, Self::Megaport | Self::Mcr2 | Self::Mve)
    }
}

impl From<&str> for ProductType {
    fn from(s: &str) -> Self {
        match s.to_ascii_uppercase().as_str() {
            "MEGAPORT" => Self::Megaport,
            "MCR2" | "MCR" => Self::Mcr2,
            "MVE" => Self::Mve,
            "VXC" => Self::Vxc,
            "IX" => Self::Ix,
            "NAT_GATEWAY" => Self::NatGateway,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ProductType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ProductType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProductType {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let s: String = null_default(de)?;
        Ok(Self::from(s.as_str()))
    }
}

/// Provisioning status of a product (`LIVE`, `CONFIGURED`, `DECOMMISSIONED`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProvisioningStatus(pub String);

impl ProvisioningStatus {
    /// The status as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `LIVE`.
    pub fn is_live(&self) -> bool {
        self.0.eq_ignore_ascii_case("LIVE")
    }

    /// `CONFIGURED` or `LIVE`: ready for use (megaportgo's definition).
    pub fn is_ready(&self) -> bool {
        self.is_live() || self.0.eq_ignore_ascii_case("CONFIGURED")
    }

    /// (Being) decommissioned: gone for good (a CANCELLED product still works until its term
    /// ends).
    pub fn is_decommissioned(&self) -> bool {
        ["DECOMMISSIONED", "DECOMMISSIONING"]
            .iter()
            .any(|s| self.0.eq_ignore_ascii_case(s))
    }

    /// Cancelled or (being) decommissioned.
    pub fn is_inactive(&self) -> bool {
        [
            "CANCELLED",
            "CANCELLED_PARENT",
            "DECOMMISSIONED",
            "DECOMMISSIONING",
        ]
        .iter()
        .any(|s| self.0.eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for ProvisioningStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// === products ===

/// Where a product sits, as embedded in products and VXC ends.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LocationDetail {
    /// Data centre name, e.g. `Equinix LA1`.
    pub name: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Metro, e.g. `Los Angeles`.
    pub metro: Option<String>,
    /// Country, e.g. `USA`.
    pub country: Option<String>,
}

/// A Port, MCR, MVE (or other top-level product) in "product shape".
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Product {
    /// Numeric id.
    #[serde(deserialize_with = "lenient_opt_i64")]
    pub product_id: Option<i64>,
    /// UUID of the product; what every API call takes.
    #[serde(deserialize_with = "null_default")]
    pub product_uid: String,
    /// Display name.
    #[serde(deserialize_with = "null_default")]
    pub product_name: String,
    /// `MEGAPORT`, `MCR2`, `MVE`, ...
    pub product_type: ProductType,
    /// `LIVE`, `CONFIGURED`, ...
    #[serde(deserialize_with = "null_default")]
    pub provisioning_status: ProvisioningStatus,
    /// Port speed or MCR capacity in Mbps (`null` on MVEs).
    #[serde(deserialize_with = "lenient_opt_u32")]
    pub port_speed: Option<u32>,
    /// Highest VXC rate the product accepts, in Mbps (MCR/MVE, partner ports).
    #[serde(deserialize_with = "lenient_opt_u32")]
    pub max_vxc_speed: Option<u32>,
    /// Megaport location id.
    #[serde(deserialize_with = "lenient_opt_i64")]
    pub location_id: Option<i64>,
    /// Location name, city, metro and country.
    pub location_detail: Option<LocationDetail>,
    /// Billing market code, e.g. `US`.
    pub market: Option<String>,
    /// `red`, `blue` or null.
    pub diversity_zone: Option<String>,
    /// Owning company.
    pub company_uid: Option<String>,
    /// Owning company's name.
    pub company_name: Option<String>,
    /// Whether the product is listed on the Marketplace.
    #[serde(deserialize_with = "lenient_opt_bool")]
    pub marketplace_visibility: Option<bool>,
    /// Cost centre text.
    pub cost_centre: Option<String>,
    /// Contract term in months.
    #[serde(deserialize_with = "lenient_opt_u32")]
    pub contract_term_months: Option<u32>,
    /// Creation time.
    #[serde(deserialize_with = "opt_epoch")]
    pub create_date: Option<EpochMillis>,
    /// Time the product went live.
    #[serde(deserialize_with = "opt_epoch")]
    pub live_date: Option<EpochMillis>,
    /// Termination time.
    #[serde(deserialize_with = "opt_epoch")]
    pub terminate_date: Option<EpochMillis>,
    /// LAG group id shared by member ports.
    #[serde(deserialize_with = "lenient_opt_i64")]
    pub aggregation_id: Option<i64>,
    /// True on the LAG's primary port.
    #[serde(deserialize_with = "lenient_opt_bool")]
    pub lag_primary: Option<bool>,
    /// `vxcpermitted` as ports spell it.
    #[serde(rename = "vxcpermitted", deserialize_with = "lenient_opt_bool")]
    pub vxcpermitted_lower: Option<bool>,
    /// `vxcPermitted` as MCRs, MVEs and service shapes spell it.
    #[serde(rename = "vxcPermitted", deserialize_with = "lenient_opt_bool")]
    pub vxc_permitted_camel: Option<bool>,
    /// VXCs touching this product (a VXC between two own products is listed under both).
    #[serde(deserialize_with = "null_default")]
    pub associated_vxcs: Vec<Vxc>,
    /// IX connections on this product (not modelled further).
    #[serde(deserialize_with = "null_default")]
    pub associated_ixs: Vec<Value>,
}

impl Product {
    /// Whether VXCs may be ordered to this product, whichever spelling the API used.
    pub fn vxc_permitted(&self) -> Option<bool> {
        self.vxcpermitted_lower.or(self.vxc_permitted_camel)
    }

    /// The highest rate a VXC to this product may have: `maxVxcSpeed` when set, else the
    /// port speed.
    pub fn max_connection_speed(&self) -> Option<u32> {
        match (self.max_vxc_speed, self.port_speed) {
            (Some(max), Some(port)) => Some(max.min(port)),
            (max, port) => max.or(port),
        }
    }
}

/// One end of a VXC.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VxcEnd {
    /// Company that owns this end (how a provider sees who used its service key).
    pub owner_uid: Option<String>,
    /// The product at this end.
    pub product_uid: Option<String>,
    /// Its name.
    pub product_name: Option<String>,
    /// Location id (null on decommissioned VXCs).
    #[serde(deserialize_with = "lenient_opt_i64")]
    pub location_id: Option<i64>,
    /// Location name.
    pub location: Option<String>,
    /// VLAN on this end (null when untagged or decommissioned).
    #[serde(deserialize_with = "lenient_opt_i64")]
    pub vlan: Option<i64>,
    /// Inner VLAN (Q-in-Q).
    #[serde(deserialize_with = "lenient_opt_i64")]
    pub inner_vlan: Option<i64>,
    /// Location details.
    pub location_detail: Option<LocationDetail>,
}

/// A pending approval on a VXC; all fields null when nothing is pending.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VxcApproval {
    /// `APPROVED`, `PENDING_INTERNAL`, `PENDING_EXTERNAL` or null.
    pub status: Option<String>,
    /// Free text.
    pub message: Option<String>,
    /// Approval uid.
    pub uid: Option<String>,
    /// `NEW`, `SPEED_CHANGE` or null.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// A VXC, as nested in `associatedVxcs` or returned by `GET /v2/product/{vxcUid}`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Vxc {
    /// Numeric id.
    #[serde(deserialize_with = "lenient_opt_i64")]
    pub product_id: Option<i64>,
    /// UUID.
    #[serde(deserialize_with = "null_default")]
    pub product_uid: String,
    /// Name.
    #[serde(deserialize_with = "null_default")]
    pub product_name: String,
    /// `VXC`.
    pub product_type: ProductType,
    /// Rate limit in Mbps.
    #[serde(deserialize_with = "lenient_opt_u32")]
    pub rate_limit: Option<u32>,
    /// Provisioning status.
    #[serde(deserialize_with = "null_default")]
    pub provisioning_status: ProvisioningStatus,
    /// Company that ordered (pays for) the VXC.
    pub company_uid: Option<String>,
    /// Its name.
    pub company_name: Option<String>,
    /// A-end (the buyer's side for service-key VXCs).
    pub a_end: Option<VxcEnd>,
    /// B-end (the key owner's side for service-key VXCs).
    pub b_end: Option<VxcEnd>,
    /// Creation time.
    #[serde(deserialize_with = "opt_epoch")]
    pub create_date: Option<EpochMillis>,
    /// Time it went live.
    #[serde(deserialize_with = "opt_epoch")]
    pub live_date: Option<EpochMillis>,
    /// Pending approval, if any.
    pub vxc_approval: Option<VxcApproval>,
    /// Administratively shut down.
    #[serde(deserialize_with = "lenient_opt_bool")]
    pub shutdown: Option<bool>,
    /// `METRO`, `ZONE`, `INTERZONE`.
    pub distance_band: Option<String>,
}

impl Vxc {
    /// The end attached to `product_uid`, if either is.
    pub fn end_on(&self, product_uid: &str) -> Option<&VxcEnd> {
        [self.a_end.as_ref(), self.b_end.as_ref()]
            .into_iter()
            .flatten()
            .find(|end| end.product_uid.as_deref() == Some(product_uid))
    }
}

// === locations ===

/// Postal address of a location.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Address {
    /// Street.
    pub street: Option<String>,
    /// Suburb.
    pub suburb: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State.
    pub state: Option<String>,
    /// Postcode.
    pub postcode: Option<String>,
    /// Full country name.
    pub country: Option<String>,
}

/// What a diversity zone of a location offers.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ZoneCapabilities {
    /// Orderable Port speeds.
    #[serde(deserialize_with = "null_default")]
    pub megaport_speed_mbps: Vec<u32>,
    /// Orderable MCR speeds.
    #[serde(deserialize_with = "null_default")]
    pub mcr_speed_mbps: Vec<u32>,
    /// Whether MVEs can be ordered.
    #[serde(deserialize_with = "lenient_opt_bool")]
    pub mve_available: Option<bool>,
}

/// A Megaport location from `GET /v3/locations`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Location {
    /// Location id (`locationId` elsewhere).
    #[serde(deserialize_with = "null_default")]
    pub id: i64,
    /// Name, e.g. `Equinix LA1`.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// Metro.
    pub metro: Option<String>,
    /// Two-letter billing market code.
    pub market: Option<String>,
    /// `Active`, `Deployment`, `Restricted`, ...
    pub status: Option<String>,
    /// Address, with the full country name.
    pub address: Option<Address>,
    /// Latitude.
    pub latitude: Option<f64>,
    /// Longitude.
    pub longitude: Option<f64>,
    /// Capabilities per diversity zone (`red`, `blue`).
    #[serde(deserialize_with = "null_default")]
    pub diversity_zones: BTreeMap<String, ZoneCapabilities>,
}

impl Location {
    /// The country's full name from the address.
    pub fn country(&self) -> Option<&str> {
        self.address.as_ref().and_then(|a| a.country.as_deref())
    }
}

// === service keys ===

/// A service key string. It is a bearer secret: `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct ServiceKeyValue(SecretString);

impl ServiceKeyValue {
    /// Wraps a key string.
    pub fn new(key: impl Into<String>) -> Self {
        Self(SecretString::from(key.into()))
    }

    /// The key itself; only for writing it where it must go (a Secret, a request body).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl PartialEq for ServiceKeyValue {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for ServiceKeyValue {}

impl fmt::Debug for ServiceKeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceKeyValue(<redacted>)")
    }
}

impl Serialize for ServiceKeyValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for ServiceKeyValue {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        String::deserialize(de).map(Self::new)
    }
}

/// The validity window of a key; `end` may be open.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ValidFor {
    /// Start of the window.
    #[serde(deserialize_with = "opt_epoch")]
    pub start: Option<EpochMillis>,
    /// End of the window (`null` = open-ended).
    #[serde(deserialize_with = "opt_epoch")]
    pub end: Option<EpochMillis>,
}

/// A service key as the API returns it. Deliberately not `Serialize`: writing it anywhere
/// would write the key; code that must (a Secret) takes [`ServiceKeyValue::expose`] explicitly.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceKey {
    /// The key (secret).
    pub key: ServiceKeyValue,
    /// Creation time.
    #[serde(default, deserialize_with = "opt_epoch")]
    pub create_date: Option<EpochMillis>,
    /// Owner company id.
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub company_id: Option<i64>,
    /// Owner company uid.
    #[serde(default)]
    pub company_uid: Option<String>,
    /// Owner company name.
    #[serde(default)]
    pub company_name: Option<String>,
    /// Free text; cleared by updates that omit it.
    #[serde(default)]
    pub description: Option<String>,
    /// The owner's product id.
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub product_id: Option<i64>,
    /// The owner's product uid (Port, MCR or MVE).
    #[serde(default, deserialize_with = "null_default")]
    pub product_uid: String,
    /// Its name.
    #[serde(default)]
    pub product_name: Option<String>,
    /// Fixed B-end VLAN of a single-use key.
    #[serde(default, deserialize_with = "lenient_opt_vlan")]
    pub vlan: Option<u16>,
    /// Highest VXC rate in Mbps.
    #[serde(default, deserialize_with = "lenient_opt_u32")]
    pub max_speed: Option<u32>,
    /// VXCs ordered with the key skip the owner's approval.
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub pre_approved: Option<bool>,
    /// One connection only.
    #[serde(default, deserialize_with = "null_default")]
    pub single_use: bool,
    /// Last time the key was used to order.
    #[serde(default, deserialize_with = "opt_epoch")]
    pub last_used: Option<EpochMillis>,
    /// The owner's on/off switch.
    #[serde(default, deserialize_with = "null_default")]
    pub active: bool,
    /// Validity window.
    #[serde(default)]
    pub valid_for: Option<ValidFor>,
    /// Computed by the API: past the window's end.
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub expired: Option<bool>,
    /// Computed by the API: usable now.
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub valid: Option<bool>,
    /// Promo code, if any.
    #[serde(default)]
    pub promo_code: Option<String>,
    /// The owner's product in full (present on create, update and lookup).
    #[serde(default)]
    pub product_dto: Option<Box<Product>>,
}

/// Body of `POST /v2/service/key`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateServiceKey {
    /// The product (Port, MCR, MVE) the key is for.
    pub product_uid: String,
    /// One connection only.
    pub single_use: bool,
    /// Highest VXC rate in Mbps.
    pub max_speed: u32,
    /// Usable immediately (always sent, so inactive keys can be created).
    pub active: bool,
    /// VXCs ordered with the key skip approval.
    pub pre_approved: bool,
    /// Free text (the operator puts its ownership marker here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Fixed B-end VLAN (single-use keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// Validity window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<ValidFor>,
}

/// Body of `PUT /v2/service/key`: always the **whole** object, because the API resets any
/// field a PUT omits (description cleared, maxSpeed back to the port speed, vlan and
/// preApproved to null).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateServiceKey {
    /// The key being updated (identifies it; the API takes it in the body).
    pub key: ServiceKeyValue,
    /// Its product.
    pub product_uid: String,
    /// One connection only.
    pub single_use: bool,
    /// On/off.
    pub active: bool,
    /// Highest VXC rate in Mbps.
    pub max_speed: Option<u32>,
    /// Fixed B-end VLAN; null for multi-use keys.
    pub vlan: Option<u16>,
    /// Free text.
    pub description: Option<String>,
    /// VXCs ordered with the key skip approval.
    pub pre_approved: bool,
    /// Validity window.
    pub valid_for: Option<ValidFor>,
}

impl UpdateServiceKey {
    /// The full current state of `key`, ready to change one field and PUT back.
    pub fn from_key(key: &ServiceKey) -> Self {
        Self {
            key: key.key.clone(),
            product_uid: key.product_uid.clone(),
            single_use: key.single_use,
            active: key.active,
            max_speed: key.max_speed,
            vlan: key.vlan,
            description: key.description.clone(),
            pre_approved: key.pre_approved.unwrap_or(false),
            valid_for: key.valid_for.clone(),
        }
    }
}

// === ordering ===

/// A resource tag, the dedupe anchor for ordered products.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
pub struct ResourceTag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// `data` of the tag endpoints.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceTags {
    /// The tags.
    #[serde(deserialize_with = "null_default")]
    pub resource_tags: Vec<ResourceTag>,
}

/// Diversity zone request of a Port/MCR/MVE order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderConfig {
    /// `red` or `blue`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diversity_zone: Option<String>,
    /// MCR ASN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcr_asn: Option<u32>,
}

/// A Port order item.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortOrder {
    /// Name.
    pub product_name: String,
    /// Always `MEGAPORT`.
    pub product_type: ProductType,
    /// Contract term in months (1, 12, 24, 36, 48, 60).
    pub term: u32,
    /// 1000, 10000 or 100000.
    pub port_speed: u32,
    /// Where.
    pub location_id: i64,
    /// Listed on the Marketplace.
    pub marketplace_visibility: bool,
    /// Always false for physical ports.
    #[serde(rename = "virtual")]
    pub is_virtual: bool,
    /// Diversity zone.
    pub config: OrderConfig,
    /// Cost centre.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_centre: Option<String>,
    /// Promo code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promo_code: Option<String>,
    /// Members of a LAG (absent: a single Port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_port_count: Option<u8>,
    /// Tags stored on the new product.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_tags: Vec<ResourceTag>,
}

/// An MCR order item.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct McrOrder {
    /// Name.
    pub product_name: String,
    /// Always `MCR2`.
    pub product_type: ProductType,
    /// Contract term in months.
    pub term: u32,
    /// Capacity in Mbps.
    pub port_speed: u32,
    /// Where.
    pub location_id: i64,
    /// Listed on the Marketplace (omitted = API default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marketplace_visibility: Option<bool>,
    /// ASN and diversity zone.
    pub config: OrderConfig,
    /// Cost centre.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_centre: Option<String>,
    /// Promo code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promo_code: Option<String>,
    /// Tags stored on the new product.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_tags: Vec<ResourceTag>,
}

/// One vNIC of an MVE order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MveVnic {
    /// Description.
    pub description: String,
    /// VLAN.
    pub vlan: u16,
}

/// An MVE order item.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MveOrder {
    /// Name.
    pub product_name: String,
    /// Always `MVE`.
    pub product_type: ProductType,
    /// Contract term in months.
    pub term: u32,
    /// Where.
    pub location_id: i64,
    /// vNICs (the API defaults to one "Data Plane" vNIC).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vnics: Vec<MveVnic>,
    /// Vendor image and size (vendor-specific fields).
    pub vendor_config: Value,
    /// Diversity zone.
    pub config: OrderConfig,
    /// Cost centre.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_centre: Option<String>,
    /// Promo code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promo_code: Option<String>,
    /// Tags stored on the new product.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_tags: Vec<ResourceTag>,
}

/// One end of a VXC order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VxcOrderEnd {
    /// The product at this end (for a service-key order: the key's product).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_uid: Option<String>,
    /// VLAN: 0/absent = auto, -1 = untagged, 2..4093 explicit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i32>,
    /// Inner VLAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner_vlan: Option<i32>,
    /// Diversity zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diversity_zone: Option<String>,
    /// Cloud partner configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_config: Option<Value>,
}

/// One VXC of a VXC order item.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VxcOrderLine {
    /// Name.
    pub product_name: String,
    /// Rate limit in Mbps.
    pub rate_limit: u32,
    /// Contract term in months.
    pub term: u32,
    /// Start shut down.
    pub shutdown: bool,
    /// Service key of the B-end owner (full key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_key: Option<ServiceKeyValue>,
    /// A-end.
    pub a_end: VxcOrderEnd,
    /// B-end.
    pub b_end: VxcOrderEnd,
    /// Cost centre.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_centre: Option<String>,
    /// Promo code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promo_code: Option<String>,
    /// Tags stored on the new VXC.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_tags: Vec<ResourceTag>,
}

/// A VXC order item: VXCs hang off their A-end product.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VxcOrder {
    /// The A-end product (the buyer's Port, MCR or MVE).
    pub product_uid: String,
    /// The VXCs to create.
    pub associated_vxcs: Vec<VxcOrderLine>,
}

impl VxcOrder {
    /// The customer's side of a service key: one VXC from `a_end` (the buyer's product, on
    /// `a_vlan`) to the key owner's product `b_end`, at `rate_limit` Mbps, month to month.
    pub fn with_service_key(
        a_end: &str,
        name: &str,
        a_vlan: Option<i32>,
        key: ServiceKeyValue,
        b_end: &str,
        rate_limit: u32,
    ) -> Self {
        Self {
            product_uid: a_end.to_owned(),
            associated_vxcs: vec![VxcOrderLine {
                product_name: name.to_owned(),
                rate_limit,
                term: 1,
                shutdown: false,
                service_key: Some(key),
                a_end: VxcOrderEnd {
                    vlan: a_vlan,
                    ..VxcOrderEnd::default()
                },
                b_end: VxcOrderEnd {
                    product_uid: Some(b_end.to_owned()),
                    ..VxcOrderEnd::default()
                },
                cost_centre: None,
                promo_code: None,
                resource_tags: vec![],
            }],
        }
    }
}

/// One item of a network design (validate or buy).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OrderItem {
    /// A Port.
    Port(PortOrder),
    /// An MCR.
    Mcr(McrOrder),
    /// An MVE.
    Mve(MveOrder),
    /// VXCs from one A-end.
    Vxc(VxcOrder),
}

/// The price of one validated item.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Price {
    /// Monthly rate after discounts.
    pub monthly_rate: Option<f64>,
    /// Monthly rate before discounts.
    pub monthly_rack_rate: Option<f64>,
    /// One-off setup charge.
    pub monthly_setup: Option<f64>,
    /// Currency code, e.g. `USD`.
    pub currency: Option<String>,
    /// Product type priced.
    pub product_type: Option<ProductType>,
}

/// One entry of a `Validation passed` answer.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ValidatedItem {
    /// The price.
    pub price: Price,
    /// Service name.
    pub service_name: Option<String>,
    /// Product type.
    pub product_type: Option<ProductType>,
    /// A design-time uid (not the final product).
    pub product_uid: Option<String>,
    /// Billing market.
    pub market: Option<String>,
    /// Metro name, which the API sends under the key `"string"`.
    #[serde(rename = "string")]
    pub metro: Option<String>,
}

/// One entry of a buy answer: a service shape (Port/MCR/MVE) or a VXC order object.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BoughtItem {
    /// New product uid of a Port, MCR or MVE.
    pub technical_service_uid: Option<String>,
    /// New product uid of a VXC.
    pub vxc_j_technical_service_uid: Option<String>,
    /// Name.
    pub service_name: Option<String>,
    /// Product type (absent on VXC orders).
    pub product_type: Option<ProductType>,
    /// Status right after the buy (`DEPLOYABLE`).
    pub provisioning_status: Option<ProvisioningStatus>,
}

impl BoughtItem {
    /// The new product's uid, whichever field carries it.
    pub fn product_uid(&self) -> Option<&str> {
        self.vxc_j_technical_service_uid
            .as_deref()
            .or(self.technical_service_uid.as_deref())
    }
}

/// `POST /v3/product/{uid}/action/{action}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProductAction {
    /// Cancel at the end of the contract term (→ `CANCELLED`, restorable).
    Cancel,
    /// Cancel now (→ `DECOMMISSIONED`).
    CancelNow,
    /// Restore a `CANCELLED` product.
    UnCancel,
}

impl ProductAction {
    /// The path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "CANCEL",
            Self::CancelNow => "CANCEL_NOW",
            Self::UnCancel => "UN_CANCEL",
        }
    }
}

/// Body of `PUT /v3/product/vxc/{uid}`: only the fields given change.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VxcUpdate {
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New rate limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    /// New cost centre.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_centre: Option<String>,
    /// Shut down or bring up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<bool>,
    /// New A-end VLAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a_end_vlan: Option<i32>,
    /// New B-end VLAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b_end_vlan: Option<i32>,
    /// New term.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<u32>,
    /// Approve (true) or reject (false) a pending Marketplace/service-key connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_approved: Option<bool>,
}

/// The "service shape" returned by modify calls.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceShape {
    /// The product uid.
    pub technical_service_uid: Option<String>,
    /// Name (`serviceName`; some answers use `name`).
    pub service_name: Option<String>,
    /// Rate limit in Mbps.
    #[serde(deserialize_with = "lenient_opt_u32")]
    pub rate_limit: Option<u32>,
    /// Provisioning status.
    pub provisioning_status: Option<ProvisioningStatus>,
    /// Product type.
    pub product_type: Option<ProductType>,
}

/// A billing market enabled for the company (`GET /v2/market`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BillingMarket {
    /// Market id.
    #[serde(deserialize_with = "lenient_opt_i64")]
    pub id: Option<i64>,
    /// Country name, e.g. `USA`.
    pub country: Option<String>,
    /// Currency, e.g. `USD`.
    pub currency_enum: Option<String>,
    /// Language code.
    pub language: Option<String>,
    /// Whether the market is active.
    #[serde(deserialize_with = "lenient_opt_bool")]
    pub active: Option<bool>,
}

/// A company a partner manages (`GET /v2/managedCompanies`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ManagedCompany {
    /// The managed company's uid (what `X-Call-Context` carries).
    pub company_uid: String,
    /// Its name.
    pub account_name: Option<String>,
    /// The partner's reference for it.
    pub account_ref: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn port_decodes_with_api_quirks() {
        let port: Product = serde_json::from_value(json!({
            "productId": 1001, "productUid": "11111111-1111-4111-8111-111111111111",
            "productName": "sp-onramp-syd-1", "productType": "megaport",
            "provisioningStatus": "LIVE", "createDate": 1706104800000_i64, "portSpeed": 10000,
            "terminateDate": null, "locationId": 2, "vxcpermitted": true, "lagPrimary": null,
            "diversityZone": "red", "attributeTags": null, "unknownField": {"x": 1},
            "locationDetail": {"name": "Equinix SY1", "city": "Sydney", "metro": "Sydney", "country": "Australia"},
            "resources": {"interface": {"up": 1}},
            "associatedVxcs": null, "associatedIxs": []
        }))
        .unwrap();
        assert_eq!(port.product_type, ProductType::Megaport);
        assert_eq!(port.vxc_permitted(), Some(true));
        assert!(port.provisioning_status.is_live());
        assert_eq!(port.create_date, Some(EpochMillis(1_706_104_800_000)));
        assert_eq!(port.terminate_date, None);
        assert!(port.associated_vxcs.is_empty());
        assert_eq!(port.max_connection_speed(), Some(10000));
    }

    #[test]
    fn both_vxc_permitted_spellings_together_decode() {
        let mcr: Product = serde_json::from_value(json!({
            "productUid": "u", "productType": "MCR2", "vxcPermitted": false,
            "vxcpermitted": false, "portSpeed": 5000, "maxVxcSpeed": 2500
        }))
        .unwrap();
        assert_eq!(mcr.vxc_permitted(), Some(false));
        assert_eq!(mcr.max_connection_speed(), Some(2500));
        let camel: Product =
            serde_json::from_value(json!({"productUid": "u", "vxcPermitted": true})).unwrap();
        assert_eq!(camel.vxc_permitted(), Some(true));
    }

    #[test]
    fn service_key_tolerates_nulls_and_hides_the_key() {
        let key: ServiceKey = serde_json::from_value(json!({
            "key": "5d3c2b1a-0f9e-4d8c-b7a6-112233445566", "createDate": 1717000000000_i64,
            "description": null, "productUid": "p", "vlan": null, "maxSpeed": "500",
            "preApproved": null, "singleUse": true, "lastUsed": null, "active": true,
            "validFor": {"start": 1717000000000_i64, "end": null}, "promoCode": null
        }))
        .unwrap();
        assert_eq!(key.max_speed, Some(500));
        assert_eq!(key.valid_for.as_ref().and_then(|v| v.end), None);
        let debug = format!("{key:?}");
        assert!(!debug.contains("5d3c2b1a"), "{debug}");
        assert_eq!(key.key.expose(), "5d3c2b1a-0f9e-4d8c-b7a6-112233445566");
    }

    #[test]
    fn update_body_is_the_whole_object() {
        let key: ServiceKey = serde_json::from_value(json!({
            "key": "k", "productUid": "p", "singleUse": false, "active": true,
            "maxSpeed": 500, "description": "d", "validFor": {"start": 1, "end": 2}
        }))
        .unwrap();
        let mut update = UpdateServiceKey::from_key(&key);
        update.active = false;
        let body = serde_json::to_value(&update).unwrap();
        for field in [
            "key",
            "productUid",
            "singleUse",
            "active",
            "maxSpeed",
            "vlan",
            "description",
            "preApproved",
            "validFor",
        ] {
            assert!(body.get(field).is_some(), "PUT body lacks {field}: {body}");
        }
        assert_eq!(body["active"], json!(false));
        assert_eq!(body["description"], json!("d"));
        assert_eq!(body["maxSpeed"], json!(500));
    }

    #[test]
    fn validated_item_reads_metro_from_string_key() {
        let item: ValidatedItem = serde_json::from_value(json!({
            "price": {"monthlyRate": 475, "currency": "USD", "productType": "MEGAPORT"},
            "serviceName": "x", "productType": "MEGAPORT", "market": "US", "string": "Los Angeles"
        }))
        .unwrap();
        assert_eq!(item.metro.as_deref(), Some("Los Angeles"));
        assert_eq!(item.price.monthly_rate, Some(475.0));
    }

    #[test]
    fn bought_item_uid_from_either_field() {
        let vxc: BoughtItem =
            serde_json::from_value(json!({"vxcJTechnicalServiceUid": "v"})).unwrap();
        let port: BoughtItem = serde_json::from_value(json!({"technicalServiceUid": "p"})).unwrap();
        assert_eq!(vxc.product_uid(), Some("v"));
        assert_eq!(port.product_uid(), Some("p"));
    }

    #[test]
    fn order_items_serialize_as_the_api_expects() {
        let item = OrderItem::Port(PortOrder {
            product_name: "p".into(),
            product_type: ProductType::Megaport,
            term: 12,
            port_speed: 10000,
            location_id: 59,
            marketplace_visibility: false,
            is_virtual: false,
            config: OrderConfig {
                diversity_zone: Some("blue".into()),
                mcr_asn: None,
            },
            cost_centre: None,
            promo_code: None,
            lag_port_count: None,
            resource_tags: vec![ResourceTag {
                key: "k8s-uid".into(),
                value: "u".into(),
            }],
        });
        assert_eq!(
            serde_json::to_value(&item).unwrap(),
            json!({"productName": "p", "productType": "MEGAPORT", "term": 12, "portSpeed": 10000,
                   "locationId": 59, "marketplaceVisibility": false, "virtual": false,
                   "config": {"diversityZone": "blue"},
                   "resourceTags": [{"key": "k8s-uid", "value": "u"}]})
        );
    }
}
