//! `ServiceKeyRequest`: one customer's request for Megaport service keys to a region (or to one
//! explicit on-ramp), delivered in a Secret. Types only; no IO.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::rules::{self, MAX_SPEED_MBPS};

/// CEL: a `duration` of more than zero and at most ten years.
const DURATION_BOUND: &str = "!self.matches('^[0-9]+(s|m|h|d)$') || int(self.substring(0, size(self) - 1)) > 0 && int(self.substring(0, size(self) - 1)) * (self.endsWith('d') ? 86400 : self.endsWith('h') ? 3600 : self.endsWith('m') ? 60 : 1) <= 315360000";

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
    validation = kube::core::Rule::new("!has(self.diversity) || self.diversity == 'None' || has(self.regionRef)").message("diversity Preferred or Required needs a regionRef: one explicit onRamp is a single on-ramp in a single zone"),
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
    #[schemars(range(min = 1, max = 400_000))]
    #[x_kube(validation = kube::core::Rule::new(format!("self >= 1 && self <= {MAX_SPEED_MBPS}")).message(format!("maxSpeedMbps must be within 1..{MAX_SPEED_MBPS} (400 Gbps, the fastest Megaport product)").as_str()))]
    pub max_speed_mbps: Option<u32>,

    /// When the keys may be used. Absent: from now, with no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<Validity>,

    /// VXCs ordered with the keys skip the provider's approval. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_approved: Option<bool>,

    /// Free text shown on the key in the Megaport Portal (the operator appends its marker).
    /// At most 200 characters, no control characters, not containing "[k8s:".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    #[x_kube(
        validation = kube::core::Rule::new("size(self) <= 200").message("description is at most 200 characters"),
        validation = rules::printable("description"),
        validation = kube::core::Rule::new("!self.contains('[k8s:')").message("description must not contain '[k8s:': that is the operator's own marker of which request a key belongs to")
    )]
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

    /// How connections customers order with keys that are not pre-approved are decided:
    /// automatic approval rules and a deadline for the rest. Default: the region's
    /// `connections`, else every connection waits (answer it in the Megaport Portal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<super::connections::ConnectionPolicy>,
}

/// A reference to an OnRampRegion.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RegionRef {
    /// The region's name (an OnRampRegion object name).
    #[schemars(length(max = 253))]
    #[x_kube(validation = rules::subdomain("regionRef.name"))]
    pub name: String,
}

/// A reference to one on-ramp.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OnRampRef {
    /// Megaport product uid of the Port, MCR or MVE (a UUID).
    #[schemars(length(max = 36))]
    #[x_kube(validation = rules::uuid("onRamp.productUid"))]
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
#[x_kube(validation = kube::core::Rule::new("!has(self.notBefore) || !has(self.notAfter) || timestamp(self.notAfter) > timestamp(self.notBefore)").message("validity.notAfter must be later than validity.notBefore"))]
pub struct Validity {
    /// Not usable before this time. Default: when the key is issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Time>,
    /// Not usable after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Time>,
    /// Usable for this long after notBefore, e.g. "720h" or "30d": a whole number above zero
    /// of s, m, h or d, at most 3650d (ten years).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 12))]
    #[x_kube(
        validation = kube::core::Rule::new("self.matches('^[0-9]+(s|m|h|d)$')").message("duration is a whole number of s, m, h or d, e.g. 720h or 30d"),
        validation = kube::core::Rule::new(DURATION_BOUND).message("duration must be more than zero and at most 3650d (ten years)")
    )]
    pub duration: Option<String>,
}

/// The customer the keys are for (shown in status and the key's description).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// Customer name (at most 128 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    #[x_kube(validation = rules::printable("customer.name"))]
    pub name: Option<String>,
    /// The provider's own reference (account, ticket; at most 128 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    #[x_kube(validation = rules::printable("customer.reference"))]
    pub reference: Option<String>,
}

/// Where the keys are written.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretSpec {
    /// Secret name in this namespace (a DNS-1123 subdomain). Default: the request's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    #[x_kube(validation = rules::subdomain("secret.name"))]
    pub name: Option<String>,
    /// Extra labels and annotations for the Secret (nothing else is templated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<SecretTemplate>,
    /// Owner (deleted with the request) or Orphan (left behind). Default: Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<SecretPolicy>,
}

/// Labels and annotations added to the Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretTemplate {
    /// Labels (at most 64; valid label keys and values; not app.kubernetes.io/managed-by nor
    /// megaport.onramp.dev/*, which the operator sets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 64, "additionalProperties" = {"type": "string", "maxLength": 63}))]
    #[x_kube(
        validation = rules::map_keys("secret.template.labels"),
        validation = rules::label_values("secret.template.labels"),
        validation = rules::not_reserved("secret.template.labels", true)
    )]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations (at most 32, values up to 2048 characters; not megaport.onramp.dev/*).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 32, "additionalProperties" = {"type": "string", "maxLength": 2048}))]
    #[x_kube(
        validation = rules::map_keys("secret.template.annotations"),
        validation = rules::not_reserved("secret.template.annotations", false)
    )]
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
    /// Its on-ramp was decommissioned: the key is still listed but can no longer
    /// be used.
    Gone,
}

impl KeyState {
    /// The state as written in status (the variant's name).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Used => "Used",
            Self::Expired => "Expired",
            Self::Deactivated => "Deactivated",
            Self::Gone => "Gone",
        }
    }
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
    /// Connections customers ordered with the keys that wait for the provider's answer (keys
    /// that are not pre-approved), from Megaport's products list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<super::connections::Connection>,
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
    /// Updates the operator made to the key in the last 30 days (Megaport allows one per
    /// 5 minutes and 100 per month per service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates_last_30_days: Option<u32>,
}

impl ServiceKeyRequestSpec {
    /// What is wrong with this spec, in the words admission uses; empty when it is valid.
    ///
    /// Admission refuses all of it (CEL and schema bounds); this is for objects stored under an
    /// older or looser schema, so that nothing is spent on a request that cannot be served.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |ok: bool, message: &str| {
            if !ok {
                out.push(message.to_owned());
            }
        };
        check(
            self.region_ref.is_some() != self.on_ramp.is_some(),
            "set exactly one of regionRef and onRamp",
        );
        if let Some(region) = &self.region_ref {
            check(
                rules::is_subdomain(&region.name),
                "regionRef.name must be a DNS-1123 subdomain",
            );
        }
        if let Some(on_ramp) = &self.on_ramp {
            check(
                rules::is_uuid(&on_ramp.product_uid),
                "onRamp.productUid must be a Megaport product UID (a UUID)",
            );
        }
        check(
            self.diversity.unwrap_or_default() == Diversity::None || self.region_ref.is_some(),
            "diversity Preferred or Required needs a regionRef",
        );
        check(
            self.vlan.is_none_or(|v| (2..=4093).contains(&v)),
            "vlan must be within 2..4093",
        );
        check(
            self.vlan.is_none() || self.single_use != Some(false),
            "vlan applies to single-use keys only",
        );
        check(
            self.max_speed_mbps
                .is_none_or(|s| (1..=MAX_SPEED_MBPS).contains(&s)),
            "maxSpeedMbps must be within 1..400000",
        );
        if let Some(text) = &self.description {
            check(
                text.chars().count() <= 200,
                "description is at most 200 characters",
            );
            check(
                !rules::has_control(text),
                "description must not contain control characters",
            );
            check(
                !text.contains(rules::MARKER_SYNTAX),
                "description must not contain '[k8s:'",
            );
        }
        if let Some(customer) = &self.customer {
            for (field, value) in [
                ("customer.name", &customer.name),
                ("customer.reference", &customer.reference),
            ] {
                if let Some(value) = value {
                    check(
                        value.chars().count() <= 128 && !rules::has_control(value),
                        &format!("{field} is at most 128 characters without control characters"),
                    );
                }
            }
        }
        out.extend(self.validity.iter().flat_map(Validity::problems));
        out.extend(self.secret.iter().flat_map(SecretSpec::problems));
        out
    }
}

impl Validity {
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.not_after.is_some() && self.duration.is_some() {
            out.push("validity takes notAfter or duration, not both".to_owned());
        }
        if let (Some(from), Some(until)) = (&self.not_before, &self.not_after)
            && until.0 <= from.0
        {
            out.push("validity.notAfter must be later than validity.notBefore".to_owned());
        }
        if let Some(duration) = &self.duration
            && duration_seconds(duration).is_none_or(|s| s == 0 || s > MAX_DURATION_SECONDS)
        {
            out.push(
                "duration must be a whole number of s, m, h or d, more than zero and at most 3650d"
                    .to_owned(),
            );
        }
        out
    }
}

/// Longest validity `duration`: ten years.
pub const MAX_DURATION_SECONDS: i64 = 315_360_000;

/// Seconds in a `duration` such as "720h" or "30d"; `None` when it is not one.
pub fn duration_seconds(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    match unit {
        's' => Some(n),
        'm' => n.checked_mul(60),
        'h' => n.checked_mul(3600),
        'd' => n.checked_mul(86_400),
        _ => None,
    }
}

impl SecretSpec {
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(name) = &self.name
            && !rules::is_subdomain(name)
        {
            out.push(format!(
                "secret.name must be a DNS-1123 subdomain: {}",
                rules::SUBDOMAIN_HELP
            ));
        }
        let template = self.template.clone().unwrap_or_default();
        let labels = template.labels.unwrap_or_default();
        let annotations = template.annotations.unwrap_or_default();
        if labels.len() > rules::MAX_TEMPLATE_LABELS
            || annotations.len() > rules::MAX_TEMPLATE_ANNOTATIONS
        {
            out.push("secret.template takes at most 64 labels and 32 annotations".to_owned());
        }
        for (key, value) in &labels {
            if !rules::is_qualified_name(key) || !rules::is_label_value(value) {
                out.push(format!(
                    "secret.template.labels has an invalid label {key:?}: keys are {}; values are {}",
                    rules::KEY_HELP,
                    rules::LABEL_VALUE_HELP
                ));
            }
            if rules::is_reserved(key, true) {
                out.push(format!(
                    "secret.template.labels must not set the operator's own label {key}"
                ));
            }
        }
        for (key, value) in &annotations {
            if !rules::is_qualified_name(key) || value.chars().count() > rules::MAX_ANNOTATION_VALUE
            {
                out.push(format!(
                    "secret.template.annotations has an invalid annotation {key:?}: keys are {}; values are at most 2048 characters",
                    rules::KEY_HELP
                ));
            }
            if rules::is_reserved(key, false) {
                out.push(format!(
                    "secret.template.annotations must not set the operator's own annotation {key}"
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> ServiceKeyRequestSpec {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn valid_specs_have_no_problems() {
        for value in [
            json!({"regionRef": {"name": "us-west"}, "diversity": "Required", "vlan": 100}),
            json!({"onRamp": {"productUid": "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001"}, "singleUse": false,
                   "maxSpeedMbps": 400000, "validity": {"duration": "3650d"},
                   "secret": {"name": "keys.acme", "template": {"labels": {"example.com/tenant": "acme"},
                              "annotations": {"note": "anything at all"}}}}),
            json!({"regionRef": {"name": "r"}, "validity": {"notBefore": "2026-01-01T00:00:00Z",
                   "notAfter": "2026-02-01T00:00:00Z"}, "description": "Customer 1", "customer": {"name": "Acme"}}),
        ] {
            assert_eq!(
                spec(value.clone()).problems(),
                Vec::<String>::new(),
                "{value}"
            );
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let uid = "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001";
        for (value, expected) in [
            (json!({}), "exactly one of regionRef and onRamp"),
            (json!({"regionRef": {"name": ""}}), "regionRef.name"),
            (json!({"regionRef": {"name": "US_West"}}), "regionRef.name"),
            (json!({"onRamp": {"productUid": "p"}}), "onRamp.productUid"),
            (
                json!({"onRamp": {"productUid": uid}, "diversity": "Required"}),
                "diversity",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "diversity": "Preferred"}),
                "diversity",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "vlan": 1}),
                "vlan must be within",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "vlan": 100, "singleUse": false}),
                "single-use",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "maxSpeedMbps": 0}),
                "maxSpeedMbps",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "maxSpeedMbps": 400001}),
                "maxSpeedMbps",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "description": "x".repeat(201)}),
                "200 characters",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "description": "a\nb"}),
                "control characters",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "description": "[k8s:other/red]"}),
                "[k8s:",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "customer": {"name": "x".repeat(129)}}),
                "customer.name",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "validity": {"notBefore": "2026-02-01T00:00:00Z",
                    "notAfter": "2026-01-01T00:00:00Z"}}),
                "later than",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "validity": {"duration": "0d"}}),
                "duration",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "validity": {"duration": "3651d"}}),
                "duration",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "validity": {"duration": "99999999999999999999d"}}),
                "duration",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "secret": {"name": "Bad_Name!"}}),
                "secret.name",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "secret": {"name": "a".repeat(254)}}),
                "secret.name",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "secret": {"template": {"labels": {"bad key!": "x"}}}}),
                "invalid label",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "secret": {"template": {"labels": {"k": "bad value!"}}}}),
                "invalid label",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "secret": {"template": {"labels": {"app.kubernetes.io/managed-by": "me"}}}}),
                "own label",
            ),
            (
                json!({"onRamp": {"productUid": uid}, "secret": {"template": {"annotations": {"megaport.onramp.dev/request-uid": "x"}}}}),
                "own annotation",
            ),
        ] {
            let problems = spec(value.clone()).problems();
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{value}: expected {expected:?} in {problems:?}"
            );
        }
    }
}
