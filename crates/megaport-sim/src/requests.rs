//! Request bodies the API accepts, as lenient serde models: unknown fields are ignored (megaportgo
//! sends a stray `ValidFor`), keys are matched case-sensitively (serde's default), and numbers
//! may arrive as JSON numbers or numeric strings (the docs' key example sends `"maxSpeed": "500"`).

use serde::{Deserialize, Deserializer};

use super::scenario::Tag;

/// Deserializes an optional integer from a number, a numeric string or null.
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Int(i64),
        Float(f64),
        Str(String),
    }
    match Option::<Lenient>::deserialize(d)? {
        None => Ok(None),
        Some(Lenient::Int(i)) => Ok(Some(i)),
        Some(Lenient::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        Some(Lenient::Float(f)) => Err(serde::de::Error::custom(format!("{f} is not an integer"))),
        Some(Lenient::Str(s)) if s.trim().is_empty() => Ok(None),
        Some(Lenient::Str(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an integer"))),
    }
}

/// `validFor` of a service key (epoch ms).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ValidFor {
    /// Start (epoch ms).
    #[serde(default, deserialize_with = "opt_int")]
    pub start: Option<i64>,
    /// End (epoch ms), null = open-ended.
    #[serde(default, deserialize_with = "opt_int")]
    pub end: Option<i64>,
}

/// `POST /v2/service/key`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCreate {
    /// Product uid (exactly one of uid/id).
    #[serde(default)]
    pub product_uid: Option<String>,
    /// Product id.
    #[serde(default, deserialize_with = "opt_int")]
    pub product_id: Option<i64>,
    /// Single-use key.
    #[serde(default)]
    pub single_use: Option<bool>,
    /// Max speed (Mbps).
    #[serde(default, deserialize_with = "opt_int")]
    pub max_speed: Option<i64>,
    /// Active (default true).
    #[serde(default)]
    pub active: Option<bool>,
    /// Pre-approved.
    #[serde(default)]
    pub pre_approved: Option<bool>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Fixed B-end VLAN.
    #[serde(default, deserialize_with = "opt_int")]
    pub vlan: Option<i64>,
    /// Validity window.
    #[serde(default)]
    pub valid_for: Option<ValidFor>,
}

/// `PUT /v2/service/key` (the key is identified in the body).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyUpdate {
    /// The full key.
    #[serde(default)]
    pub key: Option<String>,
    /// Product uid (moves the key when it differs).
    #[serde(default)]
    pub product_uid: Option<String>,
    /// Product id.
    #[serde(default, deserialize_with = "opt_int")]
    pub product_id: Option<i64>,
    /// Single-use (kept when omitted).
    #[serde(default)]
    pub single_use: Option<bool>,
    /// Active (kept when omitted).
    #[serde(default)]
    pub active: Option<bool>,
    /// Max speed (reset to the product's speed when omitted).
    #[serde(default, deserialize_with = "opt_int")]
    pub max_speed: Option<i64>,
    /// VLAN (reset to null when omitted).
    #[serde(default, deserialize_with = "opt_int")]
    pub vlan: Option<i64>,
    /// Description (reset to null when omitted).
    #[serde(default)]
    pub description: Option<String>,
    /// Pre-approved (reset to null when omitted).
    #[serde(default)]
    pub pre_approved: Option<bool>,
    /// Validity window (kept when omitted).
    #[serde(default)]
    pub valid_for: Option<ValidFor>,
}

/// `{"networkDesign": [...], "discountCodes": [...]}` of `POST /v4/networkdesign/buy`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuyV4 {
    /// The order items.
    #[serde(default)]
    pub network_design: Vec<OrderItem>,
    /// Discount codes (accepted, ignored).
    #[serde(default)]
    pub discount_codes: Vec<serde_json::Value>,
}

/// One item of a network design (Port, MCR, MVE, or a product with `associatedVxcs`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    /// `MEGAPORT`, `MCR2`, `MVE` (any case); absent for VXC items.
    #[serde(default)]
    pub product_type: Option<String>,
    /// Name.
    #[serde(default)]
    pub product_name: Option<String>,
    /// Contract term in months.
    #[serde(default, deserialize_with = "opt_int")]
    pub term: Option<i64>,
    /// Port / MCR speed.
    #[serde(default, deserialize_with = "opt_int")]
    pub port_speed: Option<i64>,
    /// Location.
    #[serde(default, deserialize_with = "opt_int")]
    pub location_id: Option<i64>,
    /// Marketplace visibility.
    #[serde(default)]
    pub marketplace_visibility: Option<bool>,
    /// A promotion code.
    #[serde(default)]
    pub promo_code: Option<String>,
    /// `config {diversityZone, mcrAsn}`.
    #[serde(default)]
    pub config: Option<OrderConfig>,
    /// Cost centre.
    #[serde(default)]
    pub cost_centre: Option<String>,
    /// Resource tags stored on the product.
    #[serde(default)]
    pub resource_tags: Option<Vec<Tag>>,
    /// LAG member count.
    #[serde(default, deserialize_with = "opt_int")]
    pub lag_port_count: Option<i64>,
    /// MVE vendor config.
    #[serde(default)]
    pub vendor_config: Option<VendorConfig>,
    /// A-end product of VXC items.
    #[serde(default)]
    pub product_uid: Option<String>,
    /// VXCs to buy from `productUid`.
    #[serde(default)]
    pub associated_vxcs: Option<Vec<VxcOrder>>,
    /// IXs (not supported by the simulator).
    #[serde(default)]
    pub associated_ixs: Option<Vec<serde_json::Value>>,
}

/// `config` of an order item.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderConfig {
    /// `red` / `blue`.
    #[serde(default)]
    pub diversity_zone: Option<String>,
    /// MCR ASN.
    #[serde(default, deserialize_with = "opt_int")]
    pub mcr_asn: Option<i64>,
}

/// `vendorConfig` of an MVE item.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorConfig {
    /// Vendor.
    #[serde(default)]
    pub vendor: Option<String>,
    /// Size.
    #[serde(default)]
    pub product_size: Option<String>,
}

/// One VXC of an order item.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VxcOrder {
    /// Name.
    #[serde(default)]
    pub product_name: Option<String>,
    /// Rate limit (Mbps).
    #[serde(default, deserialize_with = "opt_int")]
    pub rate_limit: Option<i64>,
    /// Term (months, default 1).
    #[serde(default, deserialize_with = "opt_int")]
    pub term: Option<i64>,
    /// A promotion code.
    #[serde(default)]
    pub promo_code: Option<String>,
    /// Shutdown.
    #[serde(default)]
    pub shutdown: Option<bool>,
    /// Cost centre.
    #[serde(default)]
    pub cost_centre: Option<String>,
    /// The full service key when ordering to another company's product.
    #[serde(default)]
    pub service_key: Option<String>,
    /// A end.
    #[serde(default)]
    pub a_end: Option<EndOrder>,
    /// B end.
    #[serde(default)]
    pub b_end: Option<EndOrder>,
    /// Resource tags.
    #[serde(default)]
    pub resource_tags: Option<Vec<Tag>>,
}

/// One end of an ordered VXC.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndOrder {
    /// Product.
    #[serde(default)]
    pub product_uid: Option<String>,
    /// VLAN: absent/0 = auto, -1 = untagged, 2..4093 explicit.
    #[serde(default, deserialize_with = "opt_int")]
    pub vlan: Option<i64>,
    /// Inner VLAN.
    #[serde(default, deserialize_with = "opt_int")]
    pub inner_vlan: Option<i64>,
}

/// `PUT /v3/product/vxc/{uid}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VxcUpdate {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New rate limit.
    #[serde(default, deserialize_with = "opt_int")]
    pub rate_limit: Option<i64>,
    /// Cost centre.
    #[serde(default)]
    pub cost_centre: Option<String>,
    /// Shutdown.
    #[serde(default)]
    pub shutdown: Option<bool>,
    /// A-end VLAN.
    #[serde(default, deserialize_with = "opt_int")]
    pub a_end_vlan: Option<i64>,
    /// B-end VLAN.
    #[serde(default, deserialize_with = "opt_int")]
    pub b_end_vlan: Option<i64>,
    /// A-end inner VLAN.
    #[serde(default, deserialize_with = "opt_int")]
    pub a_end_inner_vlan: Option<i64>,
    /// B-end inner VLAN.
    #[serde(default, deserialize_with = "opt_int")]
    pub b_end_inner_vlan: Option<i64>,
    /// Term.
    #[serde(default, deserialize_with = "opt_int")]
    pub term: Option<i64>,
    /// Approve (true) or reject (false) a pending VXC (B-end owner only).
    #[serde(default)]
    pub is_approved: Option<bool>,
}

/// `PUT /v2/product/{megaport|mcr2|mve}/{uid}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductUpdate {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// Cost centre (≤ 255 chars).
    #[serde(default)]
    pub cost_centre: Option<String>,
    /// Marketplace visibility.
    #[serde(default)]
    pub marketplace_visibility: Option<bool>,
    /// Contract term.
    #[serde(default, deserialize_with = "opt_int")]
    pub term: Option<i64>,
}

/// `PUT /v2/product/{uid}/tags`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagsPut {
    /// The new, complete tag set.
    #[serde(default)]
    pub resource_tags: Vec<Tag>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_unknown_fields_and_is_case_sensitive() {
        let body = r#"{"productUid":"p","maxSpeed":"500","ValidFor":{"start":"2024-01-01T00:00:00Z"},
                       "validFor":{"start":1,"end":null},"Vlan":7}"#;
        let k: KeyCreate = serde_json::from_str(body).expect("decodes");
        assert_eq!(k.max_speed, Some(500));
        assert_eq!(k.vlan, None, "`Vlan` must not match `vlan`");
        let vf = k.valid_for.expect("validFor");
        assert_eq!((vf.start, vf.end), (Some(1), None));
    }

    #[test]
    fn rejects_non_numeric_strings() {
        assert!(serde_json::from_str::<KeyCreate>(r#"{"maxSpeed":"fast"}"#).is_err());
    }
}
