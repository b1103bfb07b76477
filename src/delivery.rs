//! How issued keys are recorded and delivered, pure:
//! - the ownership **marker** every key's Megaport `description` carries (request UID and zone),
//!   so that after a crash between `POST /v2/service/key` and recording the result the operator
//!   finds and adopts the key instead of creating a second one;
//! - the **fingerprint** status shows (a hash: never the key, never a prefix of it);
//! - the **Secret content** customers read: `serviceKey`, `serviceKey-<zone>`, `keys.json`.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::megaport::models::ServiceKeyValue;

/// Megaport accepts long descriptions, but the Portal shows little: keep within this.
pub const MAX_DESCRIPTION: usize = 255;
const MARKER_OPEN: &str = "[k8s:";

/// Which request and zone a key was issued for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The ServiceKeyRequest's metadata.uid.
    pub request_uid: String,
    /// The diversity zone the key serves (`-` when the on-ramp has none).
    pub zone: String,
}

impl Marker {
    /// The marker for a request's key in `zone`.
    pub fn new(request_uid: &str, zone: Option<&str>) -> Self {
        Self {
            request_uid: request_uid.to_owned(),
            zone: zone.unwrap_or("-").to_owned(),
        }
    }

    fn render(&self) -> String {
        format!("{MARKER_OPEN}{}/{}]", self.request_uid, self.zone)
    }

    /// The key description: the user's text, then the marker (the user's text is shortened so
    /// the marker always fits).
    pub fn describe(&self, user_text: Option<&str>) -> String {
        let marker = self.render();
        let room = MAX_DESCRIPTION.saturating_sub(marker.len() + 1);
        match user_text.map(str::trim).filter(|t| !t.is_empty()) {
            Some(text) => {
                let text: String = text.chars().take(room).collect();
                format!("{text} {marker}")
            }
            None => marker,
        }
    }

    /// The marker in a key's description, if any (the last one wins).
    pub fn parse(description: &str) -> Option<Self> {
        let start = description.rfind(MARKER_OPEN)? + MARKER_OPEN.len();
        let rest = &description[start..];
        let body = &rest[..rest.find(']')?];
        let (uid, zone) = body.rsplit_once('/')?;
        (!uid.is_empty() && !zone.is_empty()).then(|| Self {
            request_uid: uid.to_owned(),
            zone: zone.to_owned(),
        })
    }
}

/// A stable, non-reversible identifier of a key for status and logs: `sha256:` and the first
/// 16 hex digits of the key's SHA-256.
pub fn fingerprint(key: &ServiceKeyValue) -> String {
    let digest = Sha256::digest(key.expose().as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Everything a customer needs to order a VXC with one key (an entry of `keys.json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveredKey {
    /// The service key.
    pub key: ServiceKeyValue,
    /// The provider's on-ramp (the VXC's B-end).
    pub product_uid: String,
    /// Its name.
    pub on_ramp: String,
    /// Data centre.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Metro.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metro: Option<String>,
    /// Country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Diversity zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Provider-side VLAN of a single-use key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// Highest rate the VXC may have.
    pub max_speed_mbps: u32,
    /// One connection only.
    pub single_use: bool,
    /// The connection is approved on order.
    pub pre_approved: bool,
    /// End of validity (RFC 3339), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The Secret's data: `serviceKey` (the first key), `serviceKey-<zone>` for each zoned key when
/// there are several, and `keys.json` with every detail.
pub fn secret_data(keys: &[DeliveredKey]) -> serde_json::Result<BTreeMap<String, String>> {
    let mut data = BTreeMap::new();
    if let Some(first) = keys.first() {
        data.insert("serviceKey".to_owned(), first.key.expose().to_owned());
    }
    if keys.len() > 1 {
        for k in keys {
            if let Some(zone) = &k.zone {
                data.insert(format!("serviceKey-{zone}"), k.key.expose().to_owned());
            }
        }
    }
    data.insert("keys.json".to_owned(), serde_json::to_string_pretty(keys)?);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "6f1c8e2a-0b4d-4c3e-9a51-2d7f0e8b1c33";

    #[test]
    fn marker_round_trips_and_survives_user_text() {
        let m = Marker::new(UID, Some("blue"));
        let d = m.describe(Some("Acme Robotics, ticket 42 [not a marker]"));
        assert!(d.starts_with("Acme Robotics"));
        assert_eq!(Marker::parse(&d), Some(m.clone()));
        assert_eq!(Marker::parse(&m.describe(None)), Some(m));
        assert_eq!(
            Marker::parse(&Marker::new(UID, None).describe(None))
                .unwrap()
                .zone,
            "-"
        );
        assert_eq!(Marker::parse("tenant-acme-syd"), None);
        assert_eq!(Marker::parse("[k8s:/blue]"), None);
    }

    #[test]
    fn long_user_text_is_cut_so_the_marker_fits() {
        let m = Marker::new(UID, Some("red"));
        let d = m.describe(Some(&"x".repeat(1000)));
        assert!(d.chars().count() <= MAX_DESCRIPTION);
        assert_eq!(Marker::parse(&d), Some(m));
    }

    #[test]
    fn fingerprint_is_stable_and_reveals_no_prefix() {
        let key = ServiceKeyValue::new("106e38ae-eb59-415f-ac81-526a5299851d");
        let fp = fingerprint(&key);
        assert_eq!(fp, fingerprint(&key.clone()));
        assert!(fp.starts_with("sha256:") && fp.len() == 7 + 16);
        assert!(!fp.contains("106e38ae") && !fp.contains("106e"));
        assert_ne!(
            fp,
            fingerprint(&ServiceKeyValue::new(
                "106e38ae-eb59-415f-ac81-526a5299851e"
            ))
        );
    }

    fn delivered(key: &str, zone: &str, vlan: u16) -> DeliveredKey {
        DeliveredKey {
            key: ServiceKeyValue::new(key),
            product_uid: format!("port-{zone}"),
            on_ramp: format!("qgpu-lax-{zone}"),
            location: Some("Equinix LA1".into()),
            metro: Some("Los Angeles".into()),
            country: Some("USA".into()),
            zone: Some(zone.into()),
            vlan: Some(vlan),
            max_speed_mbps: 1000,
            single_use: true,
            pre_approved: false,
            expires_at: None,
        }
    }

    #[test]
    fn secret_holds_first_key_zone_keys_and_json() {
        let keys = [
            delivered("key-blue", "blue", 100),
            delivered("key-red", "red", 200),
        ];
        let data = secret_data(&keys).unwrap();
        assert_eq!(data["serviceKey"], "key-blue");
        assert_eq!(data["serviceKey-blue"], "key-blue");
        assert_eq!(data["serviceKey-red"], "key-red");
        let json: Vec<serde_json::Value> = serde_json::from_str(&data["keys.json"]).unwrap();
        assert_eq!(json[1]["key"], "key-red");
        assert_eq!(json[1]["vlan"], 200);
        assert_eq!(json[0]["maxSpeedMbps"], 1000);
        let single = secret_data(&keys[..1]).unwrap();
        assert_eq!(
            single.keys().collect::<Vec<_>>(),
            ["keys.json", "serviceKey"]
        );
    }
}
