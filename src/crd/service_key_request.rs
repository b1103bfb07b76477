//! `ServiceKeyRequest`: one customer's request for Megaport service keys to a region (or to one
//! explicit on-ramp), delivered in a Secret. Types only; no IO.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A request for service keys: the operator picks on-ramps (two, in different diversity zones,
/// when diversity is asked for), creates one key per on-ramp through the Megaport API, writes
/// them into a Secret in this namespace, and follows each key through its life (issued, used,
/// expired, deactivated).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "megaport.onramp.dev",
    version = "v1alpha1",
    kind = "ServiceKeyRequest",
    plural = "servicekeyrequests",
    shortname = "skr",
    category = "megaport",
    namespaced,
    status = "ServiceKeyRequestStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.regionRef.name"}"#,
    printcolumn = r#"{"name":"Keys","type":"integer","jsonPath":".status.keyCount"}"#,
    printcolumn = r#"{"name":"Zones","type":"string","jsonPath":".status.zones"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Message","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("has(self.regionRef) != has(self.onRamp)").message("set exactly one of regionRef and onRamp"),
    validation = kube::core::Rule::new("!has(self.vlan) || !has(self.singleUse) || self.singleUse").message("vlan applies to single-use keys only (singleUse: false takes no vlan)"),
    validation = kube::core::Rule::new("!has(self.validity) || !has(self.validity.notAfter) || !has(self.validity.duration)").message("validity takes notAfter or duration, not both"),
    validation = kube::core::Rule::new("has(self.regionRef) == has(oldSelf.regionRef) && (!has(self.regionRef) || self.regionRef == oldSelf.regionRef)").message("regionRef is immutable"),
    validation = kube::core::Rule::new("has(self.onRamp) == has(oldSelf.onRamp) && (!has(self.onRamp) || self.onRamp == oldSelf.onRamp)").message("onRamp is immutable"),
    validation = kube::core::Rule::new("has(self.diversity) == has(oldSelf.diversity) && (!has(self.diversity) || self.diversity == oldSelf.diversity)").message("diversity is immutable"),
    validation = kube::core::Rule::new("has(self.singleUse) == has(oldSelf.singleUse) && (!has(self.singleUse) || self.singleUse == oldSelf.singleUse)").message("singleUse is immutable"),
    validation = kube::core::Rule::new("has(self.vlan) == has(oldSelf.vlan) && (!has(self.vlan) || self.vlan == oldSelf.vlan)").message("vlan is immutable")
)]
pub struct ServiceKeyRequestSpec {
    /// The OnRampRegion to pick on-ramps from. Exactly one of regionRef and onRamp. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_ref: Option<RegionRef>,

    /// One explicit on-ramp instead of a region. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_ramp: Option<OnRampRef>,

    /// None (one key), Preferred (two keys in different diversity zones when the region has
    /// them, else one, with a condition saying so) or Required (two zones or nothing).
    /// Default: None. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diversity: Option<Diversity>,

    /// Single-use keys allow one connection on a fixed provider-side VLAN; multi-use keys allow
    /// many. Default: true. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_use: Option<bool>,

    /// Provider-side VLAN (2-4093) of a single-use key, unique on its on-ramp. Absent: the
    /// operator picks a free one from the region's vlanRange. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 2 && self <= 4093").message("vlan must be within 2..4093"))]
    pub vlan: Option<u16>,

    /// Highest VXC rate the customer may order, Mbps. Absent: the on-ramp's full speed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1").message("maxSpeedMbps must be at least 1"))]
    pub max_speed_mbps: Option<u32>,

    /// When the keys may be used. Absent: from now, with no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<Validity>,

    /// VXCs ordered with the keys skip the provider's approval. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_approved: Option<bool>,

    /// Free text shown on the key in the Megaport Portal (the operator appends its marker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("size(self) <= 200").message("description is at most 200 characters"))]
    pub description: Option<String>,

    /// Who the keys are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,

    /// The Secret the keys are written to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretSpec>,

    /// What happens to the keys when this request is deleted: Deactivate (active:false; keys
    /// cannot be deleted in Megaport) or Retain. Default: Deactivate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// true: the keys are set inactive until this is false again. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

/// A reference to an OnRampRegion.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RegionRef {
    /// The region's name.
    pub name: String,
}

/// A reference to one on-ramp.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OnRampRef {
    /// Megaport product uid of the Port, MCR or MVE.
    pub product_uid: String,
}

/// Diversity of the issued keys.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum Diversity {
    /// One key.
    #[default]
    None,
    /// Two keys in different zones when possible, else one.
    Preferred,
    /// Two keys in different zones, or none.
    Required,
}

/// Validity window of the keys.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Validity {
    /// Not usable before this time. Default: when the key is issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Time>,
    /// Not usable after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Time>,
    /// Usable for this long after notBefore, e.g. "720h" or "30d".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[0-9]+(s|m|h|d)$')").message("duration is a whole number of s, m, h or d, e.g. 720h or 30d"))]
    pub duration: Option<String>,
}

/// The customer the keys are for (shown in status and the key's description).
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// Customer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The provider's own reference (account, ticket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Where the keys are written.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretSpec {
    /// Secret name in this namespace. Default: the request's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Extra labels and annotations for the Secret (nothing else is templated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<SecretTemplate>,
    /// Owner (deleted with the request) or Orphan (left behind). Default: Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<SecretPolicy>,
}

/// Labels and annotations added to the Secret.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretTemplate {
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// What happens to the Secret when the request is deleted.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum SecretPolicy {
    /// Garbage-collected with the request.
    #[default]
    Owner,
    /// Left behind.
    Orphan,
}

/// What happens to the keys when the request is deleted.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum DeletionPolicy {
    /// Set the keys inactive (Megaport has no key deletion).
    #[default]
    Deactivate,
    /// Leave the keys as they are.
    Retain,
}

/// Where the request stands.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum Phase {
    /// Not issued yet.
    #[default]
    Pending,
    /// Keys issued and usable.
    Issued,
    /// Some keys used, some not.
    PartiallyUsed,
    /// Every key used.
    Used,
    /// The validity has ended.
    Expired,
    /// Keys set inactive by spec.suspend.
    Suspended,
    /// Cannot be issued as asked (see conditions).
    Failed,
}

/// State of one key.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Usable.
    Active,
    /// Used to order a VXC.
    Used,
    /// Past its validity.
    Expired,
    /// Set inactive.
    Deactivated,
}

/// What the operator observed for the request.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceKeyRequestStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pending, Issued, PartiallyUsed, Used, Expired, Suspended or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Ready, KeysIssued, SecretSynced, Drifted; Reconciling/Stalled only while True.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// One entry per issued key. Never the key, nor any part of it.
    #[serde(default)]
    pub keys: Vec<IssuedKey>,
    /// Number of keys, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_count: Option<u32>,
    /// Zones of the keys, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<String>,
    /// The Secret holding the keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

/// One issued key, as status shows it.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKey {
    /// A fingerprint of the key (a hash, not a prefix: 8 characters are enough to look a key up).
    pub fingerprint: String,
    /// The on-ramp's product uid.
    pub product_uid: String,
    /// The on-ramp's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_ramp: Option<String>,
    /// Data centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Metro.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metro: Option<String>,
    /// Diversity zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diversity_zone: Option<String>,
    /// Provider-side VLAN (single-use keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// Highest VXC rate, Mbps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_speed_mbps: Option<u32>,
    /// Single-use key.
    pub single_use: bool,
    /// Active, Used, Expired or Deactivated.
    pub state: KeyState,
    /// When the key was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<Time>,
    /// When it was last used to order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Time>,
    /// End of its validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// The VXC ordered with it, when visible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by_vxc: Option<String>,
    /// The company that ordered it, when visible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by_company: Option<String>,
}
