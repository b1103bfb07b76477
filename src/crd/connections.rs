//! Connection approvals on a ServiceKeyRequest (types only, no IO): the policy that decides the
//! VXCs customers order with the request's keys when those are not pre-approved (declared on
//! the request, defaultable from its OnRampRegion), and what status shows of each connection.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// How connections ordered with the request's keys are decided, when a key is not
/// pre-approved (Megaport then holds each VXC for the provider's answer). Only connections of
/// single-use keys with a fixed VLAN are decided by it (the one case where the key that ordered
/// a VXC is certain); a multi-use key's wait for a person (a ConnectionApproval).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionPolicy {
    /// Approve automatically a connection that meets every rule given here; any other waits
    /// for a person (a ConnectionApproval). Absent: every connection waits for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve: Option<AutoApprove>,
    /// Reject a connection still waiting after this long (a whole number of s, m, h or d, e.g.
    /// 72h), with an event. Absent: it waits for as long as Megaport holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(
        validation = kube::core::Rule::new("self.matches('^[0-9]+(s|m|h|d)$')").message("rejectAfter is a whole number of s, m, h or d, e.g. 72h")
    )]
    pub reject_after: Option<String>,
}

/// The rules of automatic approval: all of them must hold.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AutoApprove {
    /// The requesting company's UID is one of these (UIDs, not names: a name is whatever a
    /// customer calls itself). Empty: any company.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub companies: Vec<String>,
    /// The connection's rate is at most the key's speed (a rate not known fails). Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_within_key: Option<bool>,
}

/// Where a connection is.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Waiting for the provider's answer.
    Pending,
    /// Approved (sent to Megaport).
    Approved,
    /// Rejected (sent to Megaport).
    Rejected,
    /// Megaport refused the answer (decided elsewhere, e.g. in the Portal, or the operator's
    /// credentials may not answer): not sent again.
    Refused,
}

/// Who or what decided a connection.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecidedBy {
    /// The request's autoApprove rules.
    Policy,
    /// A person, through a ConnectionApproval.
    Person,
    /// The request's rejectAfter deadline.
    Deadline,
}

/// A connection ordered with one of the request's keys.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// The VXC's product UID.
    pub vxc_uid: String,
    /// The fingerprint of the key it was ordered with.
    pub key: String,
    /// The company that ordered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Its company UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_uid: Option<String>,
    /// Its rate, Mbps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_mbps: Option<u32>,
    /// The VLAN on the provider's side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<i64>,
    /// When it was ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Time>,
    /// Pending, Approved or Rejected.
    pub state: ConnectionState,
    /// Who or what decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<DecidedBy>,
    /// The person (or the rule) that decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decider: Option<String>,
    /// When the decision was sent to Megaport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Time>,
    /// Why: the rule that matched or did not, the person's reason, the deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
