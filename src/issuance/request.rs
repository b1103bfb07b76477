//! A ServiceKeyRequest with its spec checked and its defaults applied, once: everything after
//! this works from [`ValidatedRequest`] and never reads an optional spec field with a default of
//! its own.

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::records::ABANDON_ANNOTATION;
use crate::crd::service_key_request::{
    DeletionPolicy, Diversity, SecretPolicy, ServiceKeyRequest, duration_seconds,
};

/// Where the keys go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An OnRampRegion, by name.
    Region(String),
    /// One explicit on-ramp, by product uid.
    OnRamp(String),
}

/// The Secret the keys are written to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretTarget {
    /// Its name (default: the request's).
    pub name: String,
    /// Extra labels from the template.
    pub labels: BTreeMap<String, String>,
    /// Extra annotations from the template.
    pub annotations: BTreeMap<String, String>,
    /// Owned by the request (garbage-collected with it), or orphaned.
    pub owned: bool,
}

/// A request as the controller works with it.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedRequest {
    /// metadata.uid.
    pub uid: String,
    /// metadata.name.
    pub name: String,
    /// metadata.namespace.
    pub namespace: String,
    /// metadata.generation.
    pub generation: Option<i64>,
    /// Region or explicit on-ramp.
    pub target: Target,
    /// Diversity (default None).
    pub diversity: Diversity,
    /// Single-use keys (default true).
    pub single_use: bool,
    /// An explicit VLAN.
    pub vlan: Option<u16>,
    /// Requested speed; `None`: the on-ramp's full speed.
    pub max_speed_mbps: Option<u32>,
    /// Start of validity, epoch ms.
    pub not_before: Option<i64>,
    /// End of validity, epoch ms.
    pub not_after: Option<i64>,
    /// Validity length counted from the start.
    pub duration: Option<jiff::SignedDuration>,
    /// Skip the provider's approval (default false).
    pub pre_approved: bool,
    /// The user's description (the marker is appended).
    pub description: Option<String>,
    /// The Secret.
    pub secret: SecretTarget,
    /// What deletion does to the keys (default Deactivate).
    pub deletion_policy: DeletionPolicy,
    /// Keys set inactive (default false).
    pub suspend: bool,
    /// Being deleted.
    pub deleting: bool,
    /// Carries the abandon annotation.
    pub abandoned: bool,
}

impl ValidatedRequest {
    /// Checks `obj` ([`crate::crd::service_key_request::ServiceKeyRequestSpec::problems`]) and
    /// applies the defaults; `Err` lists every problem.
    pub fn new(obj: &ServiceKeyRequest) -> Result<Self, Vec<String>> {
        let spec = &obj.spec;
        let problems = spec.problems();
        let target = match (&spec.region_ref, &spec.on_ramp) {
            (Some(region), None) => Target::Region(region.name.clone()),
            (None, Some(on_ramp)) => Target::OnRamp(on_ramp.product_uid.clone()),
            _ => return Err(problems),
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let validity = spec.validity.clone().unwrap_or_default();
        let secret = spec.secret.clone().unwrap_or_default();
        let template = secret.template.unwrap_or_default();
        Ok(Self {
            uid: obj.uid().unwrap_or_default(),
            name: obj.name_any(),
            namespace: obj.namespace().unwrap_or_default(),
            generation: obj.metadata.generation,
            target,
            diversity: spec.diversity.unwrap_or_default(),
            single_use: spec.single_use.unwrap_or(true),
            vlan: spec.vlan,
            max_speed_mbps: spec.max_speed_mbps,
            not_before: validity.not_before.map(|t| t.0.as_millisecond()),
            not_after: validity.not_after.map(|t| t.0.as_millisecond()),
            duration: validity
                .duration
                .as_deref()
                .and_then(duration_seconds)
                .map(jiff::SignedDuration::from_secs),
            pre_approved: spec.pre_approved.unwrap_or(false),
            description: spec.description.clone(),
            secret: SecretTarget {
                name: secret.name.unwrap_or_else(|| obj.name_any()),
                labels: template.labels.unwrap_or_default(),
                annotations: template.annotations.unwrap_or_default(),
                owned: secret.policy.unwrap_or_default() == SecretPolicy::Owner,
            },
            deletion_policy: deletion_policy(obj),
            suspend: spec.suspend.unwrap_or(false),
            deleting: obj.metadata.deletion_timestamp.is_some(),
            abandoned: is_abandoned(obj),
        })
    }

    /// Whether it asks for two keys (Preferred or Required diversity).
    pub fn wants_two(&self) -> bool {
        self.diversity != Diversity::None
    }

    /// The region's name, for a region request.
    pub fn region(&self) -> Option<&str> {
        match &self.target {
            Target::Region(name) => Some(name),
            Target::OnRamp(_) => None,
        }
    }
}

/// What deletion does to the keys (default Deactivate), for a request whose spec may not
/// validate (deletion must still go ahead).
pub fn deletion_policy(obj: &ServiceKeyRequest) -> DeletionPolicy {
    obj.spec.deletion_policy.unwrap_or_default()
}

/// Whether the request carries `megaport.onramp.dev/abandon: "true"` (readable even when its
/// spec is not).
pub fn is_abandoned(obj: &ServiceKeyRequest) -> bool {
    obj.annotations()
        .get(ABANDON_ANNOTATION)
        .is_some_and(|v| v == "true")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(spec: serde_json::Value) -> ServiceKeyRequest {
        serde_json::from_value(json!({
            "apiVersion": "megaport.onramp.dev/v1alpha1", "kind": "ServiceKeyRequest",
            "metadata": {"name": "customer-1", "namespace": "acme", "uid": "u1", "generation": 2},
            "spec": spec,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn defaults_are_applied_once() {
        let r = ValidatedRequest::new(&object(json!({"regionRef": {"name": "us-west"}})))
            .unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(r.target, Target::Region("us-west".into()));
        assert_eq!(r.diversity, Diversity::None);
        assert!(r.single_use && !r.pre_approved && !r.suspend && !r.deleting && !r.abandoned);
        assert_eq!(r.deletion_policy, DeletionPolicy::Deactivate);
        assert_eq!(r.secret.name, "customer-1");
        assert!(r.secret.owned);
        assert_eq!(r.generation, Some(2));
        assert!(!r.wants_two());
    }

    #[test]
    fn explicit_values_and_the_window_are_kept() {
        let r = ValidatedRequest::new(&object(json!({
            "onRamp": {"productUid": "1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001"},
            "singleUse": false, "maxSpeedMbps": 500, "preApproved": true, "suspend": true,
            "validity": {"notBefore": "2026-01-01T00:00:00Z", "duration": "30d"},
            "secret": {"name": "keys", "policy": "Orphan", "template": {"labels": {"t": "a"}}},
            "deletionPolicy": "Retain",
        })))
        .unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(
            r.target,
            Target::OnRamp("1c2f0e00-9b1a-4e3d-8f00-0a1b2c3d0001".into())
        );
        assert!(!r.single_use && r.pre_approved && r.suspend);
        assert_eq!(r.max_speed_mbps, Some(500));
        assert_eq!(r.duration, Some(jiff::SignedDuration::from_hours(720)));
        assert_eq!(r.not_before, Some(1_767_225_600_000));
        assert_eq!((r.secret.name.as_str(), r.secret.owned), ("keys", false));
        assert_eq!(r.secret.labels.get("t").map(String::as_str), Some("a"));
        assert_eq!(r.deletion_policy, DeletionPolicy::Retain);
    }

    #[test]
    fn a_bad_spec_lists_its_problems() {
        let problems = ValidatedRequest::new(&object(json!({"secret": {"name": "Bad_Name!"}})))
            .err()
            .unwrap_or_default();
        assert!(
            problems.iter().any(|p| p.contains("regionRef and onRamp")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("secret.name")),
            "{problems:?}"
        );
    }
}
