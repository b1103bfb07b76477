//! The Megaport API as the operator uses it: the [`MegaportApi`] trait (the port every
//! controller and test talks to) and [`MegaportClient`], its reqwest implementation.
//!
//! Layout: `config` (environments, credentials, knobs), `auth` (token cache), `ratelimit`
//! (shared budget), `client` (the request path and the endpoints), `models` (wire types),
//! `error` (the one error enum). The behaviour it implements is documented in
//! `shared/reference/megaport-api.md`.

mod auth;
mod client;
mod config;
mod error;
pub mod models;
mod ratelimit;

use async_trait::async_trait;

pub use client::MegaportClient;
pub use config::{
    ACCESS_KEY_ENV, ClientConfig, Credentials, Environment, RetryConfig, SECRET_KEY_ENV,
};
pub use error::{ErrorData, MegaportError};
use models::{
    BillingMarket, BoughtItem, CreateServiceKey, Location, OrderItem, Product, ProductAction,
    ResourceTag, ServiceKey, ServiceShape, UpdateServiceKey, ValidatedItem, VxcUpdate,
};

/// The Megaport API calls the operator makes.
///
/// Reads and updates are idempotent and retried by implementations; `create_service_key` and
/// `buy_network_design` are not: after an error other than a clear rejection, search (list
/// the product's keys, or the tagged products) before trying again.
#[async_trait]
pub trait MegaportApi: Send + Sync {
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

    /// `POST /v3/product/{uid}/action/{CANCEL|CANCEL_NOW|UN_CANCEL}`.
    async fn product_action(
        &self,
        product_uid: &str,
        action: ProductAction,
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

    /// `PUT /v3/product/vxc/{uid}`: approve/reject (`isApproved`) or modify a VXC.
    async fn update_vxc(
        &self,
        vxc_uid: &str,
        update: &VxcUpdate,
    ) -> Result<ServiceShape, MegaportError>;
}
