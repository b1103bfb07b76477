//! Pure core of a `SavedConfiguration` (as [`crate::issuance`] is a ServiceKeyRequest's): what
//! Megaport would refuse an order for, checked before any call. No IO.
//!
//! - [`rules`]: the account rules — billing markets for every location's country (the managed
//!   account's when acting for one), locations that take orders, speeds offered at the location
//!   and zone, terms, and what managed accounts may not do — each broken rule typed, with the
//!   service it belongs to and a message that says what to change.
//! - [`design`]: the spec as order items, tagged to be found again; VXCs wait for the services
//!   of the design they connect.

pub mod design;
pub mod rules;

pub use design::{Design, KeyEnd, items};
pub use rules::{Broken, Facts, check};
