//! The customer's side of a service key: look the key up (Megaport shows the provider's
//! on-ramp), then order a VXC from one of the customer's own ports with it.
//!
//! `SERVICE_KEY=<key from the Secret> cargo run --example customer_order`, with the customer
//! company's API key in `CUSTOMER_ACCESS_KEY` / `CUSTOMER_SECRET_KEY` and the simulator's
//! `MEGAPORT_BASE_URL` / `MEGAPORT_TOKEN_URL` (as `make demo` sets them).

use anyhow::Context as _;
use megaport_operator::megaport::models::{OrderItem, ProductType, ServiceKeyValue, VxcOrder};
use megaport_operator::megaport::prelude::*;
use megaport_operator::megaport::{ClientConfig, Credentials, Environment, MegaportClient};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    megaport_operator::tls::install_default_provider();
    let var = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    let env = Environment::custom(&var("MEGAPORT_BASE_URL")?, &var("MEGAPORT_TOKEN_URL")?)?;
    let customer = MegaportClient::new(ClientConfig::new(
        env,
        Credentials::new(var("CUSTOMER_ACCESS_KEY")?, var("CUSTOMER_SECRET_KEY")?),
    ))?;
    let key = ServiceKeyValue::new(var("SERVICE_KEY")?);

    let found = customer.get_service_key(key.expose()).await?;
    let on_ramp = found
        .product_name
        .clone()
        .unwrap_or_else(|| found.product_uid.clone());
    println!(
        "key belongs to {} ({}), on-ramp {on_ramp}, VLAN {}, up to {} Mbps",
        found.company_name.as_deref().unwrap_or("?"),
        if found.single_use {
            "single-use"
        } else {
            "multi-use"
        },
        found
            .vlan
            .map_or_else(|| "of our choice".to_owned(), |v| v.to_string()),
        found.max_speed.unwrap_or(0),
    );
    let own = customer
        .list_products(Some("LIVE"))
        .await?
        .into_iter()
        .find(|p| p.product_type == ProductType::Megaport)
        .context("the customer has no LIVE port")?;
    let rate_limit = found.max_speed.unwrap_or(500).min(500);
    let bought = customer
        .buy_network_design(
            &[OrderItem::Vxc(VxcOrder::with_service_key(
                &own.product_uid,
                &format!("{} to {on_ramp}", own.product_name),
                Some(123),
                key,
                &found.product_uid,
                rate_limit,
            ))],
            &[],
        )
        .await?;
    println!(
        "ordered VXC {} at {rate_limit} Mbps from {}",
        bought.first().and_then(|b| b.product_uid()).unwrap_or("?"),
        own.product_name
    );
    Ok(())
}
