//! Input rules shared by every kind, written once and used twice: as CEL
//! (`x-kubernetes-validations`) so the apiserver refuses bad input at admission with a message
//! that says what is allowed, and as plain Rust so the controllers refuse an object that got
//! past admission (stored under an older or looser schema) before anything is spent on it.
//!
//! The regular expressions are RE2 (CEL's `matches`) and checked by hand here. The unit tests
//! below check the Rust side on a table of inputs; the e2e hostile-input catalogue checks the
//! CEL side against the real apiserver, and checks that every case it refuses that decodes is
//! refused by the Rust side too.

use kube::core::Rule;

/// Upper bound of any speed field, Mbps: 400 Gbps, the fastest Megaport product (MCR).
pub const MAX_SPEED_MBPS: u32 = 400_000;
/// Longest Kubernetes object name (DNS-1123 subdomain).
pub const MAX_NAME: usize = 253;
/// Longest label value and label name (the part after the prefix).
pub const MAX_LABEL: usize = 63;
/// Most labels a template may add.
pub const MAX_TEMPLATE_LABELS: usize = 64;
/// Most annotations a template may add.
pub const MAX_TEMPLATE_ANNOTATIONS: usize = 32;
/// Longest annotation value a template may add, in characters (32 x 2048 stays well inside the
/// apiserver's 256 KiB for all of an object's annotations).
pub const MAX_ANNOTATION_VALUE: usize = 2048;
/// The prefix of every label and annotation the operator itself owns.
pub const OWN_PREFIX: &str = "megaport.onramp.dev/";
/// The label the operator sets on its Secrets and reserves.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The marker syntax the operator writes into key descriptions.
pub const MARKER_SYNTAX: &str = "[k8s:";

const DNS1123_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const QUALIFIED_NAME: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
const LABEL_VALUE: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$";
const UUID: &str = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// What a DNS-1123 subdomain is, for messages.
pub const SUBDOMAIN_HELP: &str = "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";
/// What a label or annotation key is, for messages.
pub const KEY_HELP: &str = "an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
/// What a label value is, for messages.
pub const LABEL_VALUE_HELP: &str = "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, or empty";

/// `self` is a DNS-1123 subdomain (an object name such as a Secret's or a region's).
pub fn subdomain(field: &str) -> Rule {
    Rule::new(format!("self.matches('{DNS1123_SUBDOMAIN}')"))
        .message(format!("{field} must be a DNS-1123 subdomain: {SUBDOMAIN_HELP}").as_str())
}

/// `self` is a Megaport product UID.
pub fn uuid(field: &str) -> Rule {
    Rule::new(uuid_test("self")).message(format!(
        "{field} must be a Megaport product UID, a UUID such as 1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001"
    ).as_str())
}

/// The CEL test that `var` is a UUID.
pub fn uuid_test(var: &str) -> String {
    format!("{var}.matches('{UUID}')")
}

/// The CEL rule that `self` is a label key.
pub fn qualified_name_rule() -> String {
    format!("self.matches('{QUALIFIED_NAME}') && self.indexOf('/') <= {MAX_NAME}")
}

/// The CEL rule that every item of the list `self` is a label value.
pub fn label_value_list_rule() -> String {
    format!("self.all(v, v.matches('{LABEL_VALUE}'))")
}

/// `self` has no control characters (newlines, tabs, escapes).
pub fn printable(field: &str) -> Rule {
    // \p{Cc}: C0 and C1 controls, exactly what Rust's `char::is_control` finds.
    Rule::new(r"!self.matches('\\p{Cc}')").message(
        format!("{field} must not contain control characters (newlines, tabs, escapes)").as_str(),
    )
}

/// Every key of the map `self` is a valid label or annotation key.
pub fn map_keys(field: &str) -> Rule {
    Rule::new(format!(
        "self.all(k, k.matches('{QUALIFIED_NAME}') && k.indexOf('/') <= {MAX_NAME})"
    ))
    .message(format!("every key of {field} must be a label key: {KEY_HELP}").as_str())
}

/// Every value of the label map `self` is a valid label value.
pub fn label_values(field: &str) -> Rule {
    Rule::new(format!("self.all(k, self[k].matches('{LABEL_VALUE}'))")).message(
        format!("every value of {field} must be a label value: {LABEL_VALUE_HELP}").as_str(),
    )
}

/// No key of the map `self` is one the operator owns.
pub fn not_reserved(field: &str, also_managed_by: bool) -> Rule {
    let managed_by = if also_managed_by {
        format!("!('{MANAGED_BY}' in self) && ")
    } else {
        String::new()
    };
    let owned = if also_managed_by {
        format!("{MANAGED_BY} and keys starting with {OWN_PREFIX}")
    } else {
        format!("keys starting with {OWN_PREFIX}")
    };
    Rule::new(format!(
        "{managed_by}self.all(k, !k.startsWith('{OWN_PREFIX}'))"
    ))
    .message(format!("{field} must not set the operator's own {owned}").as_str())
}

// === the same rules in Rust ===

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn is_dns_label(part: &str) -> bool {
    let lower = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !part.is_empty()
        && part.chars().all(|c| lower(c) || c == '-')
        && part.chars().next().is_some_and(lower)
        && part.chars().last().is_some_and(lower)
}

/// Whether `s` is a DNS-1123 subdomain of at most 253 characters.
pub fn is_subdomain(s: &str) -> bool {
    s.len() <= MAX_NAME && s.split('.').all(is_dns_label)
}

/// Whether `s` is a label value.
pub fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= MAX_LABEL
            && s.chars().all(|c| is_alnum(c) || "-_.".contains(c))
            && s.chars().next().is_some_and(is_alnum)
            && s.chars().last().is_some_and(is_alnum))
}

/// Whether `s` is a label or annotation key.
pub fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, s),
    };
    prefix.is_none_or(is_subdomain) && !name.is_empty() && is_label_value(name)
}

/// Whether `s` is a UUID (any case).
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Whether `s` has a control character.
pub fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Whether `key` is one the operator owns (`also_managed_by`: the managed-by label too).
pub fn is_reserved(key: &str, also_managed_by: bool) -> bool {
    key.starts_with(OWN_PREFIX) || (also_managed_by && key == MANAGED_BY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keys_and_values() {
        for (s, sub, key, value) in [
            ("customer-1", true, true, true),
            ("a.b.c", true, true, true),
            ("Bad_Name!", false, false, false),
            ("", false, false, true),
            ("-a", false, false, false),
            ("a-", false, false, false),
            ("UPPER", false, true, true),
            ("example.com/tenant", false, true, false),
            ("Example.com/tenant", false, false, false),
            ("a/b/c", false, false, false),
            ("x_y", false, true, true),
            ("/x", false, false, false),
        ] {
            assert_eq!(is_subdomain(s), sub, "subdomain {s:?}");
            assert_eq!(is_qualified_name(s), key, "key {s:?}");
            assert_eq!(is_label_value(s), value, "value {s:?}");
        }
        assert!(is_subdomain(&"a".repeat(253)));
        assert!(!is_subdomain(&"a".repeat(254)));
        assert!(is_label_value(&"a".repeat(63)));
        assert!(!is_label_value(&"a".repeat(64)));
        assert!(!is_qualified_name(&format!("{}/x", "a".repeat(254))));
    }

    #[test]
    fn uuids_control_characters_and_reserved_keys() {
        assert!(is_uuid("1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001"));
        assert!(is_uuid("1C2F0E00-9B1A-4E3D-8F00-0A1B2C3D0001"));
        assert!(!is_uuid("p"));
        assert!(!is_uuid("1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d000"));
        assert!(!is_uuid("1c2f0e00x9b1a-4e3d-8f00-0a1b2c3d0001"));
        assert!(has_control("a\nb") && has_control("\u{1b}[31m") && !has_control("plain text"));
        assert!(is_reserved("megaport.onramp.dev/request", false));
        assert!(is_reserved(MANAGED_BY, true) && !is_reserved(MANAGED_BY, false));
        assert!(!is_reserved("tenant", true));
    }
}
