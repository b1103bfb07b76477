//! `SavedConfiguration`: a saved design of Megaport services (Ports, MCRs, MVEs, VXCs), priced
//! while saved and ordered only by people allowed to order (the `order` verb, checked at
//! admission by the ValidatingAdmissionPolicy in `deploy/`). Types only; no IO.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Most services of one kind in a configuration (keeps the CEL cross-checks cheap).
pub const MAX_SERVICES_PER_KIND: usize = 20;

/// CEL: the names of every service of the configuration (`self` is `spec.services`).
const NAMES: &str = "((has(self.ports) ? self.ports.map(s, s.name) : []) + (has(self.mcrs) ? self.mcrs.map(s, s.name) : []) + (has(self.mves) ? self.mves.map(s, s.name) : []) + (has(self.vxcs) ? self.vxcs.map(s, s.name) : []))";
/// CEL: the names a VXC end may refer to (Ports, MCRs, MVEs of the configuration).
const ENDPOINTS: &str = "((has(self.ports) ? self.ports.map(s, s.name) : []) + (has(self.mcrs) ? self.mcrs.map(s, s.name) : []) + (has(self.mves) ? self.mves.map(s, s.name) : []))";

fn unique_names() -> kube::core::Rule {
    kube::core::Rule::new(format!(
        "{NAMES}.all(n, {NAMES}.filter(m, m == n).size() == 1)"
    ))
    .message("service names must be unique across ports, mcrs, mves and vxcs")
}

fn ends_exist() -> kube::core::Rule {
    kube::core::Rule::new(format!(
        "!has(self.vxcs) || self.vxcs.all(v, (!has(v.aEnd.service) || v.aEnd.service in {ENDPOINTS}) && (!has(v.bEnd.service) || v.bEnd.service in {ENDPOINTS}))"
    ))
    .message("a VXC end's service must name a Port, MCR or MVE of this configuration")
}

/// A design of Megaport services. Anyone allowed to create it saves and prices it (the status
/// shows the quote, or every validation error); setting `order: true` orders it, and only users
/// granted the `order` verb on `savedconfigurations` may do that.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "megaport.onramp.dev",
    version = "v1alpha1",
    kind = "SavedConfiguration",
    plural = "savedconfigurations",
    shortname = "savedconfig",
    category = "megaport",
    namespaced,
    status = "SavedConfigurationStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Services","type":"integer","jsonPath":".status.serviceCount"}"#,
    printcolumn = r#"{"name":"Monthly","type":"string","jsonPath":".status.quote.monthlyTotal"}"#,
    printcolumn = r#"{"name":"Currency","type":"string","jsonPath":".status.quote.currency"}"#,
    printcolumn = r#"{"name":"Ordered","type":"boolean","jsonPath":".spec.order"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Message","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("!has(oldSelf.order) || !oldSelf.order || (has(self.order) && self.order)").message("an ordered configuration stays ordered: delete it to end its services (see deletionPolicy)"),
    validation = kube::core::Rule::new("!has(oldSelf.order) || !oldSelf.order || self.services == oldSelf.services").message("the services of an ordered configuration are immutable: save a new configuration for a change"),
    validation = kube::core::Rule::new("!has(oldSelf.order) || !oldSelf.order || (has(self.managedAccount) == has(oldSelf.managedAccount) && (!has(self.managedAccount) || self.managedAccount == oldSelf.managedAccount))").message("managedAccount of an ordered configuration is immutable"),
    validation = kube::core::Rule::new("!has(self.managedAccount) || !has(self.services.ports) || self.services.ports.all(p, !has(p.marketplaceVisibility) || !p.marketplaceVisibility)").message("a managed account cannot make a Port public on the Marketplace (marketplaceVisibility: true)"),
    validation = kube::core::Rule::new("!has(self.managedAccount) || ((!has(self.services.ports) || self.services.ports.all(s, !has(s.promoCode))) && (!has(self.services.mcrs) || self.services.mcrs.all(s, !has(s.promoCode))) && (!has(self.services.mves) || self.services.mves.all(s, !has(s.promoCode))) && (!has(self.services.vxcs) || self.services.vxcs.all(s, !has(s.promoCode))))").message("a managed account cannot use promo codes")
)]
pub struct SavedConfigurationSpec {
    /// What the design is for (free text, shown to whoever orders it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// The services of the design. Immutable once ordered.
    pub services: Services,

    /// Act for a managed company of the partner: its company UID (the operator sends it as
    /// `X-Call-Context` on every call). Managed accounts order only in billing markets their
    /// partner enabled, cannot make a Port public on the Marketplace and cannot use promo codes.
    /// Immutable once ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 36))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')").message("managedAccount must be a company UID"))]
    pub managed_account: Option<String>,

    /// Order the services. Only users whose RBAC grants the verb `order` on
    /// `savedconfigurations` may set it (ClusterRoles megaport-company-admin,
    /// megaport-tech-admin, megaport-finance); it cannot be unset once true. Default: false
    /// (saved and priced only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<bool>,

    /// What deleting an ordered configuration does to its services: Retain (default: they keep
    /// running and billing), Cancel (each ends at the end of its contract term), CancelNow
    /// (each ends immediately; early-termination fees apply, up to the rest of the term).
    /// Deleting with Cancel or CancelNow needs the `order` verb too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<ServicesDeletionPolicy>,
}

/// The services of a design, by kind. Every name is unique across the kinds.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = unique_names(),
    validation = ends_exist(),
    validation = kube::core::Rule::new(format!("{NAMES}.size() >= 1")).message("a configuration needs at least one service")
)]
pub struct Services {
    /// Ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub ports: Vec<PortOrder>,
    /// Megaport Cloud Routers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub mcrs: Vec<McrOrder>,
    /// Megaport Virtual Edges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub mves: Vec<MveOrder>,
    /// Virtual cross connects between two ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub vxcs: Vec<VxcOrder>,
}

/// What every ordered service carries.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Common {
    /// The service's name in this configuration (lower-case letters, digits and '-'); VXC ends
    /// refer to it. Also the product name in Megaport unless productName is set.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')").message("name must be a DNS label: lower-case letters, digits and '-', at most 63 characters"))]
    pub name: String,
    /// The product name in Megaport (default: name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub product_name: Option<String>,
    /// Contract term in months: 1, 12, 24, 36, 48 or 60.
    #[x_kube(validation = kube::core::Rule::new("self in [1, 12, 24, 36, 48, 60]").message("termMonths must be 1, 12, 24, 36, 48 or 60"))]
    pub term_months: u8,
    /// Cost centre shown on invoices (at most 255 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub cost_centre: Option<String>,
    /// A promotion code (not for managed accounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub promo_code: Option<String>,
}

/// A Port.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PortOrder {
    /// Name, product name, term, cost centre, promo code.
    #[serde(flatten)]
    pub common: Common,
    /// Megaport location id (`megaport-operator catalog`, `/v3/locations`).
    #[schemars(range(min = 1))]
    pub location_id: u32,
    /// Port speed in Mbps: 1000, 10000, 100000 or 400000 (and offered at that location).
    #[x_kube(validation = kube::core::Rule::new("self in [1000, 10000, 100000, 400000]").message("speedMbps of a Port must be 1000, 10000, 100000 or 400000"))]
    pub speed_mbps: u32,
    /// Diversity zone (red or blue); absent: Megaport chooses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diversity_zone: Option<Zone>,
    /// List the Port on the Megaport Marketplace (not for managed accounts). Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketplace_visibility: Option<bool>,
    /// Order a LAG of this many ports (2-8) instead of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 8))]
    pub lag_port_count: Option<u8>,
}

/// A Megaport Cloud Router.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct McrOrder {
    /// Name, product name, term, cost centre, promo code.
    #[serde(flatten)]
    pub common: Common,
    /// Megaport location id.
    #[schemars(range(min = 1))]
    pub location_id: u32,
    /// Capacity in Mbps: 1000, 2500, 5000, 10000, 25000, 50000 or 100000.
    #[x_kube(validation = kube::core::Rule::new("self in [1000, 2500, 5000, 10000, 25000, 50000, 100000]").message("speedMbps of an MCR must be 1000, 2500, 5000, 10000, 25000, 50000 or 100000"))]
    pub speed_mbps: u32,
    /// BGP ASN of the MCR (default: Megaport's, 133937).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub asn: Option<u32>,
    /// Diversity zone (red or blue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diversity_zone: Option<Zone>,
}

/// A Megaport Virtual Edge.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MveOrder {
    /// Name, product name, term, cost centre, promo code.
    #[serde(flatten)]
    pub common: Common,
    /// Megaport location id.
    #[schemars(range(min = 1))]
    pub location_id: u32,
    /// Image vendor (e.g. Cisco, Fortinet, Palo Alto Networks, Versa, VMware, Aruba, Aviatrix).
    #[schemars(length(min = 1, max = 64))]
    pub vendor: String,
    /// Image id (`GET /v4/product/mve/images`).
    pub image_id: u32,
    /// Size: SMALL, MEDIUM, LARGE or X_LARGE_12.
    pub size: MveSize,
    /// Diversity zone (red or blue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diversity_zone: Option<Zone>,
}

/// A virtual cross connect.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("!has(self.aEnd.secretKeyRef)").message("aEnd cannot be a service key: a key names the provider's side, the bEnd")
)]
pub struct VxcOrder {
    /// Name, product name, term, cost centre, promo code.
    #[serde(flatten)]
    pub common: Common,
    /// Rate limit in Mbps (at most what both ends, and a service key, allow).
    #[schemars(range(min = 1, max = 100_000))]
    pub rate_limit_mbps: u32,
    /// The A end: a Port, MCR or MVE of this configuration, or an existing product.
    pub a_end: VxcEnd,
    /// The B end: as the A end, or a service key read from a Secret (the provider's on-ramp).
    pub b_end: VxcEnd,
}

/// One end of a VXC: exactly one of `service`, `productUid` and `secretKeyRef`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("(has(self.service) ? 1 : 0) + (has(self.productUid) ? 1 : 0) + (has(self.secretKeyRef) ? 1 : 0) == 1").message("a VXC end names exactly one of service, productUid and secretKeyRef")
)]
pub struct VxcEnd {
    /// A Port, MCR or MVE of this configuration, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub service: Option<String>,
    /// An existing product of the company (or the managed account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 36))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')").message("productUid must be a product UID"))]
    pub product_uid: Option<String>,
    /// A service key in a Secret of this namespace (what a provider's ServiceKeyRequest
    /// delivers): the VXC goes to the key's on-ramp. Only for the B end. The key is read when
    /// pricing and ordering and never shown; status shows its owner, on-ramp, speed and VLAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
    /// VLAN on this end: 2-4093, -1 untagged, absent or 0: Megaport picks (a service key's
    /// VLAN, when it fixes one, wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self == -1 || self == 0 || (self >= 2 && self <= 4093)").message("vlan must be -1 (untagged), 0 (any) or 2..4093"))]
    pub vlan: Option<i32>,
}

/// A key of a Secret in the configuration's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key in it (default: serviceKey, what a ServiceKeyRequest's Secret holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub key: Option<String>,
}

/// A diversity zone.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Zone {
    /// The red zone.
    Red,
    /// The blue zone.
    Blue,
}

/// MVE sizes.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
#[allow(clippy::upper_case_acronyms)]
pub enum MveSize {
    /// 2 vCPU.
    #[default]
    #[serde(rename = "SMALL")]
    Small,
    /// 4 vCPU.
    #[serde(rename = "MEDIUM")]
    Medium,
    /// 8 vCPU.
    #[serde(rename = "LARGE")]
    Large,
    /// 12 vCPU.
    #[serde(rename = "X_LARGE_12")]
    XLarge12,
}

/// What deleting an ordered configuration does to its services.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum ServicesDeletionPolicy {
    /// Leave the services running (and billing).
    #[default]
    Retain,
    /// End each service at the end of its contract term (`CANCEL`).
    Cancel,
    /// End each service now (`CANCEL_NOW`); early-termination fees apply.
    CancelNow,
}

/// Where a configuration is.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum ConfigurationPhase {
    /// Not priced yet.
    #[default]
    Pending,
    /// Priced: the quote in status is current.
    Quoted,
    /// Megaport or an account rule refuses the design (see problems).
    Invalid,
    /// Being bought.
    Ordering,
    /// Bought; services not all LIVE yet.
    Provisioning,
    /// Every service is LIVE.
    Live,
    /// The order failed (see conditions).
    Failed,
}

/// What the operator observed for the configuration.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SavedConfigurationStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pending, Quoted, Invalid, Ordering, Provisioning, Live or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ConfigurationPhase>,
    /// Ready; Reconciling and Stalled only while True.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// How many services the configuration has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_count: Option<u32>,
    /// The generation the quote (or the problems) describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated_generation: Option<i64>,
    /// When the design was last checked and priced (again at most once per the operator's
    /// validation interval, default 24 h, and on every change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated_at: Option<Time>,
    /// The price Megaport quoted for the design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<Quote>,
    /// Everything that stands in the way of ordering, per service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ServiceProblem>,
    /// The service keys the VXCs use, as looked up (never the key itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_keys: Vec<KeySeen>,
    /// The ordered services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<OrderedService>,
    /// The last order Megaport refused: sent again only for a new generation or once the
    /// validation interval has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_refusal: Option<OrderRefusal>,
}

/// An order Megaport refused.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrderRefusal {
    /// The generation that was ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// When.
    pub at: Time,
    /// What Megaport said.
    pub message: String,
}

/// A quote: per service and in total. Amounts are decimal strings in `currency`.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Quote {
    /// Per service.
    pub services: Vec<ServiceQuote>,
    /// Sum of the monthly rates (of the priced services; "mixed" when they are billed in
    /// more than one currency).
    pub monthly_total: String,
    /// Currency (e.g. USD; several, comma-separated, for a design across billing markets).
    pub currency: String,
    /// When Megaport priced it.
    pub validated_at: Time,
    /// VXCs not priced yet: their ends are services of this design, which Megaport prices
    /// only once they exist (after the first round of the order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpriced: Vec<String>,
}

/// One service's price.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceQuote {
    /// The service's name.
    pub name: String,
    /// MEGAPORT, MCR2, MVE or VXC.
    pub product_type: String,
    /// Monthly rate.
    pub monthly_rate: String,
    /// Monthly rack rate (before discounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_rack_rate: Option<String>,
    /// One-off setup charge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_setup: Option<String>,
    /// The metro, as Megaport names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metro: Option<String>,
    /// Its currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// Something that stands in the way of ordering.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProblem {
    /// The service it concerns (absent: the whole configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// A service key a VXC uses, as Megaport describes it.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KeySeen {
    /// The VXC.
    pub service: String,
    /// The key's fingerprint (never the key).
    pub fingerprint: String,
    /// The company that issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The on-ramp (product UID) it leads to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_ramp: Option<String>,
    /// Highest rate it allows, Mbps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_speed_mbps: Option<u32>,
    /// The provider-side VLAN it fixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
}

/// An ordered service.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrderedService {
    /// The service's name in the configuration.
    pub name: String,
    /// Its product UID in Megaport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_uid: Option<String>,
    /// DEPLOYABLE, CONFIGURED, LIVE, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_status: Option<String>,
    /// A VXC to a service key that is not pre-approved: PENDING until the key's owner decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
}
