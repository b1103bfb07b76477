//! End-to-end tests against a real kube-apiserver, etcd and kube-controller-manager
//! (`make e2e`). Each test works in its own temporary namespace.

// Test helpers unwrap freely: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod approvals;
mod chart;
mod crash;
mod gitops;
mod harness;
mod hostile;
mod issuing;
mod leader_election;
mod onramp_region;
mod ordering;
mod quirks;
mod saved_configuration;
mod service_key_request;
mod support;
