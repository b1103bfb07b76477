//! megaport-operator: a Kubernetes operator that lets a network service provider on Megaport
//! sell private connectivity declaratively.
//!
//! Module map (one responsibility each):
//! - [`approvals`]: pure connection approvals: which waiting VXCs are a request's, and the
//!   verdict of its policy or a person.
//! - [`catalog`]: the `catalog` command (countries → metros → on-ramps) as tables or JSON.
//! - [`cli`]: the command line (`run`, `crd`, `catalog`, `keys`); parsing only.
//! - [`connect`]: the flags that say how to reach Megaport, shared by the commands.
//! - [`controller`]: the controllers (observe → decide → execute → report) and what they share.
//! - [`crds`]: the `crd` command (prints or writes the generated CRDs).
//! - [`crd`]: the custom resources (types, schemas, CEL rules); no IO.
//! - [`delivery`]: pure key bookkeeping: description marker, fingerprint, Secret content.
//! - [`health`]: what the probes report (liveness, named readiness checks).
//! - [`issuance`]: pure core of a ServiceKeyRequest: the validated request, records and their
//!   seal, desired keys and drift, the key lifecycle, typed blockers, `decide`, status.
//! - [`keys`]: the `keys` command: issued keys, their state and request (never the key).
//! - [`lease`]: leader election on a Lease (pure rules in [`lease::election`]).
//! - [`megaport`]: the Megaport API client behind the [`megaport::MegaportApi`] trait.
//! - [`metrics`]: the Prometheus metrics.
//! - [`onramp`]: pure on-ramp logic: region matching, eligibility, utilisation, catalog views.
//! - [`ordering`]: pure core of a SavedConfiguration: account rules, order items and records,
//!   decisions and status.
//! - [`output`]: output formats, JSON and tables of the listing commands.
//! - [`run`]: `megaport-operator run`: wiring of clients, controllers and shutdown.
//! - [`selection`]: pure choice of on-ramps and VLANs for a ServiceKeyRequest.
//! - [`serve`]: the HTTP server of `/livez`, `/readyz` and `/metrics`.
//! - [`sync`]: locks that keep working after a panic elsewhere.
//! - [`telemetry`]: logging setup.
//! - [`tls`]: the single TLS provider (rustls + ring) shared by every HTTP client.

pub mod approvals;
pub mod catalog;
pub mod cli;
pub mod connect;
pub mod controller;
pub mod crd;
pub mod crds;
pub mod delivery;
pub mod health;
pub mod issuance;
pub mod keys;
pub mod lease;
pub mod megaport;
pub mod metrics;
pub mod onramp;
pub mod ordering;
pub mod output;
pub mod run;
pub mod selection;
pub mod serve;
pub mod sync;
pub mod telemetry;
pub mod tls;
