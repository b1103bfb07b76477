//! The one way the controllers write annotations on their objects (their records): a JSON
//! merge patch of the given keys only, with the operator's identity; nothing else of the
//! object is touched.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Error, Step};

/// Sets `annotations` (key, value) on `obj`; a failure is a failure of `step`.
pub async fn write<K>(
    client: &kube::Client,
    obj: &K,
    annotations: impl IntoIterator<Item = (String, String)>,
    step: Step,
) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let annotations: serde_json::Map<String, Value> = annotations
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let patch = json!({"metadata": {"annotations": annotations}});
    let api: Api<K> = Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default());
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(|e| Error::kube(step, e))?;
    Ok(())
}
