//! The operator's custom resources (API group `megaport.onramp.dev`, version `v1alpha1`):
//! types, schemas, CEL rules and printer columns. No IO here: controllers read and write these
//! types, `megaport-operator crd` prints them, and `crds/` holds the generated YAML (a test
//! fails when it drifts from the types).

pub mod conditions;
pub mod connection_approval;
pub mod connections;
pub mod onramp_region;
pub mod rules;
pub mod saved_configuration;
pub mod service_key_request;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use connection_approval::ConnectionApproval;
pub use onramp_region::OnRampRegion;
pub use saved_configuration::SavedConfiguration;
pub use service_key_request::ServiceKeyRequest;

/// API group of every kind.
pub const GROUP: &str = "megaport.onramp.dev";
/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "megaport-operator";

/// Every CRD the operator serves, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        OnRampRegion::crd(),
        ServiceKeyRequest::crd(),
        SavedConfiguration::crd(),
        ConnectionApproval::crd(),
    ]
}

/// The file a CRD is checked in as, under `crds/`: `<plural>.<group>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// A CRD as the YAML checked in under `crds/` (with a generated-file header).
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    Ok(format!(
        "# Generated from src/crd/ by `megaport-operator crd`; do not edit (make crds).\n{}",
        serde_yaml::to_string(crd)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// `crds/` must equal what the types generate. `UPDATE_CRDS=1 cargo test` rewrites it.
    #[test]
    fn checked_in_crds_match_the_types() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
        let update = std::env::var_os("UPDATE_CRDS").is_some();
        for crd in all() {
            let path = dir.join(file_name(&crd));
            let want = to_yaml(&crd).unwrap();
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &want).unwrap();
                continue;
            }
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                have == want,
                "{} is out of date with src/crd/: run `make crds` and commit the result",
                path.display()
            );
        }
    }

    #[test]
    fn onramp_region_schema_has_cel_rules_and_no_spec_defaults() {
        let yaml = to_yaml(&OnRampRegion::crd()).unwrap();
        assert!(yaml.contains("x-kubernetes-validations"));
        assert!(yaml.contains("match needs at least one selector"));
        assert!(yaml.contains("self.min <= self.max"));
        // Argo CD shows API-server defaults as drift: none on the spec.
        let crd = serde_json::to_value(OnRampRegion::crd()).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert!(
            !spec.to_string().contains("\"default\""),
            "spec has a schema default"
        );
    }
}
