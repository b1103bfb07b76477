//! `ConnectionApproval`: a person's decision on a connection waiting on a ServiceKeyRequest's
//! key (types only, no IO). Creating one is the permission to decide (Kubernetes RBAC on
//! `connectionapprovals`, granted by the ClusterRole megaport-connection-approver and the
//! company-admin and tech-admin roles); admission checks that `decidedBy` is the user creating
//! it (ValidatingAdmissionPolicy megaport-connection-decider). Immutable: a decision is sent
//! once; delete it and create another to change one not sent yet.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A person's decision on a connection waiting on a ServiceKeyRequest's key.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "megaport.onramp.dev",
    version = "v1alpha1",
    kind = "ConnectionApproval",
    plural = "connectionapprovals",
    shortname = "connapproval",
    category = "megaport",
    namespaced,
    printcolumn = r#"{"name":"Request","type":"string","jsonPath":".spec.request"}"#,
    printcolumn = r#"{"name":"VXC","type":"string","jsonPath":".spec.vxcUid"}"#,
    printcolumn = r#"{"name":"Decision","type":"string","jsonPath":".spec.decision"}"#,
    printcolumn = r#"{"name":"By","type":"string","jsonPath":".spec.decidedBy"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("self == oldSelf").message("a decision is final: delete it and create another (one not sent yet can still change)")
)]
pub struct ConnectionApprovalSpec {
    /// The ServiceKeyRequest (in this namespace) whose key the connection was ordered with.
    #[schemars(length(min = 1, max = 253))]
    pub request: String,
    /// The waiting VXC's product UID (status.connections of the request lists them).
    #[schemars(length(max = 36))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')").message("vxcUid must be a product UID"))]
    pub vxc_uid: String,
    /// Approve (the VXC provisions) or Reject (Megaport decommissions it).
    pub decision: Decision,
    /// Who decides: the username of whoever creates this (checked at admission; a GitOps
    /// applier granted the verb "attest" on connectionapprovals may record the person).
    #[schemars(length(min = 1, max = 253))]
    pub decided_by: String,
    /// Why (kept in the request's status and the event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub reason: Option<String>,
}

/// A decision.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Let the connection go ahead.
    Approve,
    /// Refuse it.
    Reject,
}
