//! `OnRampRegion`: a provider-defined region (e.g. `US-West`) mapped to live on-ramps.
//! Types only; the controller lives in `controller::onramp_region`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    Condition, LabelSelector, LabelSelectorRequirement, Time,
};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::rules;

/// A region of the provider's own naming (such as `US-West`), mapped to the provider's live
/// on-ramps (Ports, MCRs, MVEs) by country, metro, location or product. ServiceKeyRequests
/// name a region; the operator picks on-ramps from it. Cluster-scoped.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "megaport.onramp.dev",
    version = "v1alpha1",
    kind = "OnRampRegion",
    plural = "onrampregions",
    shortname = "orr",
    category = "megaport",
    status = "OnRampRegionStatus",
    printcolumn = r#"{"name":"Display","type":"string","jsonPath":".spec.displayName"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Eligible","type":"integer","jsonPath":".status.eligibleCount"}"#,
    printcolumn = r#"{"name":"Zones","type":"string","jsonPath":".status.zones"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Message","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct OnRampRegionSpec {
    /// Name shown to customers, e.g. "US-West (Los Angeles)" (at most 128 characters).
    /// Defaults to the object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    #[x_kube(validation = rules::printable("displayName"))]
    pub display_name: Option<String>,

    /// Which of the provider's on-ramps belong to the region. Every selector given must match
    /// (they are ANDed); at least one of countries, metros, locationIds or productUids is
    /// required.
    #[serde(rename = "match")]
    pub match_: OnRampMatch,

    /// How the operator picks among eligible on-ramps. Default: LeastUtilized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Selection>,

    /// VLANs the operator may pick from when a request does not name one. Default: 2-4093.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_range: Option<VlanRange>,

    /// Namespaces whose ServiceKeyRequests may use this region (a label selector on the
    /// Namespace). Absent: every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_namespaces: Option<NamespaceSelector>,

    /// The default `connections` policy of the ServiceKeyRequests of this region (a request's
    /// own replaces it): how connections ordered with keys that are not pre-approved are
    /// decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<super::connections::ConnectionPolicy>,
}

/// A label selector on Namespaces (the shape of a Kubernetes LabelSelector, bounded).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// Labels the namespace must have, each with exactly this value (at most 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 32, "additionalProperties" = {"type": "string", "maxLength": 63}))]
    #[x_kube(
        validation = rules::map_keys("allowedNamespaces.matchLabels"),
        validation = rules::label_values("allowedNamespaces.matchLabels")
    )]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Requirements the namespace's labels must meet, ANDed (at most 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub match_expressions: Option<Vec<NamespaceRequirement>>,
}

/// One requirement of allowedNamespaces: a label key, an operator and values.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = kube::core::Rule::new("(self.operator == 'In' || self.operator == 'NotIn') ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)").message("allowedNamespaces.matchExpressions: values must be non-empty for In and NotIn, and absent or empty for Exists and DoesNotExist"))]
pub struct NamespaceRequirement {
    /// The label key.
    #[schemars(length(max = 317))]
    #[x_kube(validation = kube::core::Rule::new(rules::qualified_name_rule()).message(format!("allowedNamespaces.matchExpressions key must be a label key: {}", rules::KEY_HELP).as_str()))]
    pub key: String,
    /// In, NotIn, Exists or DoesNotExist.
    pub operator: SelectorOperator,
    /// The values, for In and NotIn (at most 64 label values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    #[x_kube(validation = kube::core::Rule::new(rules::label_value_list_rule()).message(format!("allowedNamespaces.matchExpressions values must be label values: {}", rules::LABEL_VALUE_HELP).as_str()))]
    pub values: Option<Vec<String>>,
}

/// How a requirement relates a label to its values.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectorOperator {
    /// The label's value is one of the values.
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl NamespaceSelector {
    /// The same selector as a Kubernetes LabelSelector (for matching).
    pub fn to_label_selector(&self) -> LabelSelector {
        LabelSelector {
            match_labels: self.match_labels.clone(),
            match_expressions: self.match_expressions.as_ref().map(|all| {
                all.iter()
                    .map(|r| LabelSelectorRequirement {
                        key: r.key.clone(),
                        operator: format!("{:?}", r.operator),
                        values: r.values.clone(),
                    })
                    .collect()
            }),
        }
    }
}

/// On-ramp selectors. Values compare exactly as Megaport writes them (country "USA", metro
/// "Los Angeles").
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "has(self.countries) || has(self.metros) || has(self.locationIds) || has(self.productUids)"
).message("match needs at least one selector: countries, metros, locationIds or productUids"))]
pub struct OnRampMatch {
    /// Product types to consider: Port, MCR, MVE. Default: [Port].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 3))]
    #[x_kube(validation = kube::core::Rule::new("size(self) > 0").message("productTypes must not be empty"))]
    pub product_types: Option<Vec<OnRampKind>>,
    /// Countries, e.g. ["USA"] (at most 64, each 1-64 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 64)))]
    #[x_kube(
        validation = kube::core::Rule::new("size(self) > 0").message("countries must not be empty"),
        validation = kube::core::Rule::new("self.all(c, size(c) > 0)").message("countries must not contain an empty name")
    )]
    pub countries: Option<Vec<String>>,
    /// Metros, e.g. ["Los Angeles"] (at most 64, each 1-64 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 64)))]
    #[x_kube(
        validation = kube::core::Rule::new("size(self) > 0").message("metros must not be empty"),
        validation = kube::core::Rule::new("self.all(m, size(m) > 0)").message("metros must not contain an empty name")
    )]
    pub metros: Option<Vec<String>>,
    /// Megaport location ids, e.g. [59, 60] (at most 256, each 1..2147483647).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), inner(range(min = 1, max = 2_147_483_647)))]
    #[x_kube(
        validation = kube::core::Rule::new("size(self) > 0").message("locationIds must not be empty"),
        validation = kube::core::Rule::new("self.all(id, id >= 1 && id <= 2147483647)").message("locationIds must be Megaport location ids: whole numbers within 1..2147483647")
    )]
    pub location_ids: Option<Vec<i64>>,
    /// Specific products by uid (at most 256 UUIDs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), inner(length(max = 36)))]
    #[x_kube(
        validation = kube::core::Rule::new("size(self) > 0").message("productUids must not be empty"),
        validation = kube::core::Rule::new(format!("self.all(u, {})", rules::uuid_test("u"))).message("productUids must be Megaport product UIDs, UUIDs such as 1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001")
    )]
    pub product_uids: Option<Vec<String>>,
}

/// The kinds of on-ramp a service key can be bound to.
#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
)]
pub enum OnRampKind {
    /// A Megaport Port (`MEGAPORT`).
    Port,
    /// A Megaport Cloud Router (`MCR2`).
    #[serde(rename = "MCR")]
    Mcr,
    /// A Megaport Virtual Edge (`MVE`).
    #[serde(rename = "MVE")]
    Mve,
}

/// How the operator picks among eligible on-ramps.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    /// LeastUtilized (lowest allocated share of capacity) or FewestConnections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
}

/// Selection strategy.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum Strategy {
    /// Lowest allocated Mbps as a share of the on-ramp's capacity; ties by fewer connections.
    #[default]
    LeastUtilized,
    /// Fewest connections (VXCs plus keys issued but unused); ties by utilisation.
    FewestConnections,
}

/// An inclusive VLAN range within 2..4093.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[x_kube(validation = kube::core::Rule::new("self.min <= self.max").message("vlanRange.min must not be greater than vlanRange.max"))]
pub struct VlanRange {
    /// Lowest VLAN (2..4093).
    #[x_kube(validation = kube::core::Rule::new("self >= 2 && self <= 4093").message("VLANs must be within 2..4093"))]
    pub min: u16,
    /// Highest VLAN (2..4093).
    #[x_kube(validation = kube::core::Rule::new("self >= 2 && self <= 4093").message("VLANs must be within 2..4093"))]
    pub max: u16,
}

impl VlanRange {
    /// The full range Megaport allows for service keys.
    pub const FULL: Self = Self { min: 2, max: 4093 };
}

/// What the operator observed for the region.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OnRampRegionStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (at least one eligible on-ramp) and DiversityAvailable (two or more diversity
    /// zones among eligible on-ramps); Reconciling/Stalled only while True.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Every matched on-ramp, eligible or not.
    #[serde(default)]
    pub on_ramps: Vec<OnRampStatus>,
    /// Number of eligible on-ramps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligible_count: Option<u32>,
    /// Diversity zones among eligible on-ramps, sorted.
    #[serde(default)]
    pub diversity_zones: Vec<String>,
    /// The same zones as one string, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<String>,
    /// The settings in effect after defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<EffectiveRegion>,
    /// When the Megaport data behind this status was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
}

/// The region's settings with defaults applied.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveRegion {
    /// Product types considered.
    pub product_types: Vec<OnRampKind>,
    /// Selection strategy.
    pub strategy: Strategy,
    /// VLAN range.
    pub vlan_range: VlanRange,
}

/// One matched on-ramp.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OnRampStatus {
    /// Megaport product uid.
    pub product_uid: String,
    /// Product name.
    pub name: String,
    /// Port, MCR or MVE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_type: Option<OnRampKind>,
    /// Data centre, e.g. "Equinix LA1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Megaport location id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<i64>,
    /// Metro.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metro: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// red, blue, or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diversity_zone: Option<String>,
    /// Provisioning status (LIVE, CONFIGURED, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_status: Option<String>,
    /// Port speed or MCR capacity, Mbps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_mbps: Option<u32>,
    /// Highest VXC rate, Mbps, when Megaport sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vxc_speed_mbps: Option<u32>,
    /// Whether VXCs may be ordered to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxc_permitted: Option<bool>,
    /// Live VXCs on the on-ramp.
    pub connections: u32,
    /// Sum of the live VXCs' rate limits, Mbps.
    pub allocated_mbps: u64,
    /// Allocated share of capacity, percent (0-100, rounded down).
    pub utilisation_percent: u32,
    /// Whether a new connection may be placed here.
    pub eligible: bool,
    /// Why not, when not eligible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
