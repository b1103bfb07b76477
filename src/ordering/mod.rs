//! Pure core of a `SavedConfiguration` (as [`crate::issuance`] is a ServiceKeyRequest's): what
//! Megaport would refuse an order for, the order as items, what has been bought, and the
//! decisions and status of a reconcile. No IO.
//!
//! - [`rules`]: the account rules — billing markets for every location's country (the managed
//!   account's when acting for one), locations that take orders, speeds offered at the location
//!   and zone, terms, and what managed accounts may not do — each broken rule typed, with the
//!   service it belongs to and a message that says what to change.
//! - [`design`]: the spec as order items, tagged to be found again; VXCs wait for the services
//!   of the design they connect.
//! - [`records`]: the sealed order records (pending before a buy, bought after it).
//! - [`quote`]: a validation's prices and problems as status shows them.
//! - [`decide`]: when to validate again, the next order step, settling an unknown outcome, a
//!   buy's answer, where the bought services are.
//! - [`status`]: phase and conditions.

pub mod decide;
pub mod design;
pub mod quote;
pub mod records;
pub mod rules;
pub mod status;

pub use decide::{Due, Step};
pub use design::{Design, KeyEnd, items, products_touched};
pub use records::{Ledger, OrderRecord};
pub use rules::{Broken, Facts, check};
