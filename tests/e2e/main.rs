//! End-to-end tests against a real kube-apiserver, etcd and kube-controller-manager
//! (`make e2e`). Each test works in its own temporary namespace.

mod harness;
mod support;
