//! The Megaport API as the operator uses it: the narrow ports every controller and test talks
//! to ([`ProductsApi`], [`ServiceKeysApi`], [`OrderingApi`]; all three are [`MegaportApi`]) and
//! [`MegaportClient`], their reqwest implementation.
//!
//! Layout: `config` (environments, credentials, knobs), `auth` (token cache), `ratelimit`
//! (shared budget), `client` (the request path and the endpoints), `models` (wire types),
//! `error` (the one error enum). The behaviour it implements is documented in
//! `shared/reference/megaport-api.md`.

mod auth;
mod client;
mod config;
mod error;
#[cfg(test)]
pub mod fake;
pub mod models;
mod ratelimit;

use async_trait::async_trait;

/// The API traits, for callers that call their methods (`use megaport::prelude::*`).
pub mod prelude {
    pub use super::{MegaportApi, OrderingApi, ProductsApi, ServiceKeysApi};
}

pub use client::MegaportClient;
pub use config::{
    ACCESS_KEY_ENV, ClientConfig, Credentials, DEFAULT_REQUESTS_PER_WINDOW, DEFAULT_WINDOW,
    Environment, RetryConfig, SECRET_KEY_ENV,
};
pub use error::{ErrorData, MegaportError};
use models::{
    BillingMarket, BoughtItem, CreateServiceKey, Location, ManagedCompany, OrderItem, Product,
    ProductAction, ResourceTag, ServiceKey, ServiceShape, UpdateServiceKey, ValidatedItem,
    VxcUpdate,
};

/// Told about every request a [`MegaportClient`] sends, for metrics: the route template and
/// the answer's status, never ids, bodies or tokens.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// A request to `route` was answered with `status` (`None`: no answer) after `elapsed`.
    fn answered(&self, route: &'static str, status: Option<u16>, elapsed: std::time::Duration);
    /// A request waited `elapsed` for a place in the rolling request window.
    fn waited(&self, elapsed: std::time::Duration);
}

/// The Megaport API calls the operator makes, split by use: each controller depends on the
/// part it calls ([`ProductsApi`], [`ServiceKeysApi`], [`OrderingApi`]); [`MegaportApi`] is all
/// three, what a full client (such as [`MegaportClient`]) implements.
pub trait MegaportApi: ProductsApi + ServiceKeysApi + OrderingApi {}

impl<T: ProductsApi + ServiceKeysApi + OrderingApi> MegaportApi for T {}

/// The API for the company itself or acting for one of the companies it manages (a partner's
/// managed accounts: every call then carries `X-Call-Context`). What the SavedConfiguration
/// controller depends on: a configuration may order for a managed account.
pub trait Accounts: Send + Sync {
    /// The API acting for `company_uid`, or for the company itself when `None`.
    fn account(&self, company_uid: Option<&str>) -> std::sync::Arc<dyn MegaportApi>;
}

impl Accounts for MegaportClient {
    fn account(&self, company_uid: Option<&str>) -> std::sync::Arc<dyn MegaportApi> {
        match company_uid {
            Some(uid) => std::sync::Arc::new(self.acting_for(uid)),
            None => std::sync::Arc::new(self.clone()),
        }
    }
}

/// Reading the provider's products and Megaport's locations (the OnRampRegion controller
/// and the shared products snapshot). Idempotent: implementations retry them.
#[async_trait]
pub trait ProductsApi: Send + Sync {
    /// `GET /v2/products`: the company's Ports, MCRs and MVEs with their VXCs nested
    /// (including cancelled and decommissioned products), optionally filtered by status.
    async fn list_products(
        &self,
        provisioning_status: Option<&str>,
    ) -> Result<Vec<Product>, MegaportError>;

    /// `GET /v2/product/{uid}`: any product; decommissioned ones stay readable.
    async fn get_product(&self, product_uid: &str) -> Result<Product, MegaportError>;

    /// `GET /v3/locations`: every Megaport location (no token needed).
    async fn list_locations(&self) -> Result<Vec<Location>, MegaportError>;
}

/// Service keys (the ServiceKeyRequest controller and the shared keys snapshot). Reads and
/// updates are idempotent and retried; `create_service_key` is not: after an error other than
/// a clear refusal, list the product's keys (the marker finds a key already made) before
/// creating again.
#[async_trait]
pub trait ServiceKeysApi: Send + Sync {
    /// `GET /v2/service/key`: every service key of the company.
    async fn list_service_keys(&self) -> Result<Vec<ServiceKey>, MegaportError>;

    /// `GET /v2/service/key?productIdOrUid=`: the keys of one product.
    async fn list_service_keys_for_product(
        &self,
        product_id_or_uid: &str,
    ) -> Result<Vec<ServiceKey>, MegaportError>;

    /// `GET /v2/service/key?key=`: one key by its value or its first 8 characters.
    async fn get_service_key(&self, key: &str) -> Result<ServiceKey, MegaportError>;

    /// `POST /v2/service/key`. Not idempotent.
    async fn create_service_key(
        &self,
        request: &CreateServiceKey,
    ) -> Result<ServiceKey, MegaportError>;

    /// `PUT /v2/service/key` with the whole object (omitted fields would be reset).
    async fn update_service_key(
        &self,
        request: &UpdateServiceKey,
    ) -> Result<ServiceKey, MegaportError>;

    /// `GET /v2/product/port/{uid}/vlan?vlan=`: whether `vlan` is free on the port.
    async fn check_port_vlan(&self, port_uid: &str, vlan: u16) -> Result<bool, MegaportError>;
}

/// Designing, pricing and ordering services, product actions, tags, markets and VXC approvals.
/// `buy_network_design` is not idempotent: after an unknown outcome, search the tagged products
/// before buying again.
#[async_trait]
pub trait OrderingApi: Send + Sync {
    /// `POST /v3/networkdesign/validate`: checks and prices a design; commits nothing.
    async fn validate_network_design(
        &self,
        items: &[OrderItem],
    ) -> Result<Vec<ValidatedItem>, MegaportError>;

    /// `POST /v4/networkdesign/buy`: orders a design. Not idempotent.
    async fn buy_network_design(
        &self,
        items: &[OrderItem],
        discount_codes: &[String],
    ) -> Result<Vec<BoughtItem>, MegaportError>;

    /// `POST /v3/product/{uid}/action/{CANCEL|CANCEL_NOW|UN_CANCEL}`; with `safe_delete`
    /// (`?safeDelete=true`) Megaport refuses while VXCs are attached.
    async fn product_action(
        &self,
        product_uid: &str,
        action: ProductAction,
        safe_delete: bool,
    ) -> Result<(), MegaportError>;

    /// `GET /v2/product/{uid}/tags`.
    async fn get_product_tags(&self, product_uid: &str) -> Result<Vec<ResourceTag>, MegaportError>;

    /// `PUT /v2/product/{uid}/tags`: replaces the whole set.
    async fn put_product_tags(
        &self,
        product_uid: &str,
        tags: &[ResourceTag],
    ) -> Result<(), MegaportError>;

    /// `GET /v2/market`: the company's billing markets.
    async fn list_billing_markets(&self) -> Result<Vec<BillingMarket>, MegaportError>;

    /// `GET /v2/managedCompanies`: the companies a partner manages (and may act for).
    async fn list_managed_companies(&self) -> Result<Vec<ManagedCompany>, MegaportError>;

    /// `PUT /v3/product/vxc/{uid}`: approve/reject (`isApproved`) or modify a VXC.
    async fn update_vxc(
        &self,
        vxc_uid: &str,
        update: &VxcUpdate,
    ) -> Result<ServiceShape, MegaportError>;
}
