//! The seal on a request's key records: an HMAC-SHA256 over the request's UID and its records,
//! keyed by a secret only the operator holds (derived from its Megaport API secret).
//!
//! The records live in an annotation that whoever may edit the request can change. A record is
//! trusted only when its seal verifies: then it may name a key by fingerprint, plan a key on an
//! on-ramp, and claim a VLAN and capacity. Anything else in that annotation is ignored and the
//! request's keys are found by their marker instead, so a tenant can neither forge a record nor
//! copy another request's (the UID is sealed in). A new API secret makes every seal stale: the
//! records are then rebuilt from the markers once, and sealed again.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Record, render_records};

/// The annotation holding the seal of [`super::KEYS_ANNOTATION`].
pub const SEAL_ANNOTATION: &str = "megaport.onramp.dev/keys-seal";
/// What the seal key is derived for (a new purpose gives an unrelated key).
pub const PURPOSE: &str = "megaport-operator/records-seal/v1";

/// Seals and verifies records. Never printed.
#[derive(Clone)]
pub struct RecordSeal {
    key: [u8; 32],
}

impl std::fmt::Debug for RecordSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordSeal(<redacted>)")
    }
}

impl RecordSeal {
    /// A seal with `key` (see `Credentials::derive_key`).
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, uid: &str, text: &str) -> Hmac<Sha256> {
        // The key is 32 bytes: HMAC takes keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(uid.as_bytes());
        mac.update(b"\n");
        mac.update(text.as_bytes());
        mac
    }

    /// The seal of `records` for the request `uid` (hex).
    pub fn seal(&self, uid: &str, records: &[Record]) -> String {
        self.seal_text(uid, &render_records(records))
    }

    /// Whether `seal` is the seal of `records` for `uid` (compared in constant time).
    pub fn verifies(&self, uid: &str, records: &[Record], seal: &str) -> bool {
        self.verifies_text(uid, &render_records(records), seal)
    }

    /// The seal of any `text` the operator writes on the object `uid` (hex); a different
    /// purpose must render differently (the SavedConfiguration order records are JSON of
    /// another shape, so they never pass for key records).
    pub fn seal_text(&self, uid: &str, text: &str) -> String {
        let tag = self.mac(uid, text).finalize().into_bytes();
        tag.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A public name of this seal's key (16 hex digits): tells an operator's writes from
    /// another's (another Megaport account, or other credentials) without revealing the key.
    pub fn id(&self) -> String {
        self.seal_text("", "megaport-operator/seal-id")
            .chars()
            .take(16)
            .collect()
    }

    /// Whether `seal` is the seal of `text` for `uid` (compared in constant time).
    pub fn verifies_text(&self, uid: &str, text: &str, seal: &str) -> bool {
        let Some(bytes) = decode_hex(seal) else {
            return false;
        };
        self.mac(uid, text).verify_slice(&bytes).is_ok()
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(vlan: u16) -> Record {
        Record {
            product_uid: "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001".into(),
            zone: "blue".into(),
            vlan: Some(vlan),
            speed_mbps: 100,
            fingerprint: Some("sha256:0011223344556677".into()),
            applied: None,
            attempted: None,
            updates: Vec::new(),
        }
    }

    #[test]
    fn a_seal_binds_the_records_the_request_and_the_key() {
        let seal = RecordSeal::new([7; 32]);
        let records = [record(100)];
        let tag = seal.seal("uid-a", &records);
        assert!(seal.verifies("uid-a", &records, &tag));
        // Another request's records copied over, an edited VLAN, another operator's key, or
        // anything that is not a seal: none verifies.
        assert!(!seal.verifies("uid-b", &records, &tag));
        assert!(!seal.verifies("uid-a", &[record(101)], &tag));
        assert!(!RecordSeal::new([8; 32]).verifies("uid-a", &records, &tag));
        for junk in ["", "zz", &tag[..62], &"0".repeat(64)] {
            assert!(!seal.verifies("uid-a", &records, junk), "{junk:?}");
        }
        assert_eq!(format!("{seal:?}"), "RecordSeal(<redacted>)");
    }
}
