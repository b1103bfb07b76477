//! megaport-operator: a Kubernetes operator that lets a network service provider on Megaport
//! sell private connectivity declaratively.
//!
//! Module map (one responsibility each):
//! - [`cli`]: the command line (`run`, `simulator`, ...); parsing only.
//! - [`crd`]: the custom resources (types, schemas, CEL rules); no IO.
//! - [`megaport`]: the Megaport API client behind the [`megaport::MegaportApi`] trait.
//! - [`simulator`]: a stateful, faithful simulator of the Megaport API for tests, demos and CI.
//! - [`telemetry`]: logging setup.
//! - [`tls`]: the single TLS provider (rustls + ring) shared by every HTTP client.

pub mod cli;
pub mod crd;
pub mod megaport;
pub mod simulator;
pub mod telemetry;
pub mod tls;
