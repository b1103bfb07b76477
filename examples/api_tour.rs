//! A guided tour of the seed workflow through the Megaport client, against any Megaport API
//! (the demo points it at the simulator): countries → metros → on-ramps, a diverse pair of
//! service keys for US-West, a customer ordering a VXC with one key, and the key turning used.
//!
//! Environment: `MEGAPORT_BASE_URL`, `MEGAPORT_TOKEN_URL`, `MEGAPORT_ACCESS_KEY`,
//! `MEGAPORT_SECRET_KEY` (the provider) and `CUSTOMER_ACCESS_KEY`, `CUSTOMER_SECRET_KEY`.
//! The tour never prints a key, nor any part of one.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use megaport_operator::megaport::models::{
    CreateServiceKey, EpochMillis, OrderItem, Product, ProductType, ValidFor, VxcOrder,
};
use megaport_operator::megaport::prelude::*;
use megaport_operator::megaport::{ClientConfig, Credentials, Environment, MegaportClient};

fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

fn metro(p: &Product) -> &str {
    p.location_detail
        .as_ref()
        .and_then(|d| d.metro.as_deref())
        .unwrap_or("?")
}

/// VXCs on the product that still exist (the list includes decommissioned ones).
fn active_vxcs(p: &Product) -> usize {
    p.associated_vxcs
        .iter()
        .filter(|v| !v.provisioning_status.is_inactive())
        .count()
}

fn country(p: &Product) -> &str {
    p.location_detail
        .as_ref()
        .and_then(|d| d.country.as_deref())
        .unwrap_or("?")
}

#[tokio::main]
async fn main() -> Result<()> {
    let environment = Environment::custom(&env("MEGAPORT_BASE_URL")?, &env("MEGAPORT_TOKEN_URL")?)?;
    let provider = MegaportClient::new(ClientConfig::new(
        environment.clone(),
        Credentials::from_env()?,
    ))?;
    let customer = MegaportClient::new(ClientConfig::new(
        environment,
        Credentials::new(env("CUSTOMER_ACCESS_KEY")?, env("CUSTOMER_SECRET_KEY")?),
    ))?;

    println!("== 1. The provider's on-ramps (GET /v2/products; only LIVE ones count)");
    let all = provider.list_products(None).await?;
    let live: Vec<&Product> = all
        .iter()
        .filter(|p| p.product_type.is_on_ramp() && p.provisioning_status.is_live())
        .collect();
    let countries: BTreeSet<&str> = live.iter().map(|p| country(p)).collect();
    println!(
        "   countries: {}",
        countries.into_iter().collect::<Vec<_>>().join(", ")
    );
    let metros: BTreeSet<&str> = live
        .iter()
        .filter(|p| country(p) == "USA")
        .map(|p| metro(p))
        .collect();
    println!(
        "   metros in USA: {}",
        metros.into_iter().collect::<Vec<_>>().join(", ")
    );
    println!(
        "   {:<28} {:>6} {:<6} {:>7} {:>5} {:>9}",
        "on-ramp", "loc", "zone", "speed", "vxcs", "vxcOK"
    );
    for p in all.iter().filter(|p| p.product_type.is_on_ramp()) {
        println!(
            "   {:<28} {:>6} {:<6} {:>7} {:>5} {:>9}  {}",
            p.product_name,
            p.location_id.unwrap_or_default(),
            p.diversity_zone.as_deref().unwrap_or("-"),
            p.port_speed.unwrap_or_default(),
            active_vxcs(p),
            p.vxc_permitted()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "?".into()),
            p.provisioning_status
        );
    }

    println!("\n== 2. US-West = the Los Angeles Ports; per diversity zone the least-used one");
    let mut per_zone: std::collections::BTreeMap<&str, &Product> = Default::default();
    for p in live.iter().copied().filter(|p| {
        p.product_type == ProductType::Megaport
            && metro(p) == "Los Angeles"
            && p.vxc_permitted() == Some(true)
    }) {
        let zone = p.diversity_zone.as_deref().unwrap_or("-");
        let better = per_zone
            .get(zone)
            .is_none_or(|q| active_vxcs(p) < active_vxcs(q));
        if better {
            per_zone.insert(zone, p);
        }
    }
    let us_west: Vec<&Product> = per_zone.into_values().collect();
    for p in &us_west {
        println!(
            "   {} (locationId {}, zone {}, {} VXCs)",
            p.product_name,
            p.location_id.unwrap_or_default(),
            p.diversity_zone.as_deref().unwrap_or("-"),
            active_vxcs(p)
        );
    }

    println!("\n== 3. One single-use key per zone (POST /v2/service/key)");
    let now = EpochMillis::now().0;
    let mut keys = Vec::new();
    for (p, vlan) in us_west.iter().zip([100u16, 200]) {
        let key = provider
            .create_service_key(&CreateServiceKey {
                product_uid: p.product_uid.clone(),
                single_use: true,
                max_speed: 1000,
                active: true,
                pre_approved: true,
                description: Some(format!(
                    "api-tour zone={}",
                    p.diversity_zone.as_deref().unwrap_or("-")
                )),
                vlan: Some(vlan),
                valid_for: Some(ValidFor {
                    start: Some(EpochMillis(now)),
                    end: Some(EpochMillis(now + 7 * 86_400_000)),
                }),
            })
            .await?;
        println!(
            "   key issued for {} VLAN {vlan} (the key itself is never printed)",
            p.product_name
        );
        keys.push((key, *p));
    }

    println!("\n== 4. The customer orders a VXC with the first key");
    let (key, port) = keys.first().context("no US-West on-ramp")?;
    let own = customer
        .list_products(Some("LIVE"))
        .await?
        .into_iter()
        .find(|p| p.product_type == ProductType::Megaport)
        .context("the customer has no LIVE port")?;
    let bought = customer
        .buy_network_design(
            &[OrderItem::Vxc(VxcOrder::with_service_key(
                &own.product_uid,
                "acme-to-quantumgpu",
                Some(123),
                key.key.clone(),
                &port.product_uid,
                500,
            ))],
            &[],
        )
        .await?;
    println!(
        "   VXC {} ordered from {}",
        bought[0].product_uid().unwrap_or("?"),
        own.product_name
    );

    println!("\n== 5. Monitoring (GET /v2/service/key)");
    for k in provider.list_service_keys().await? {
        if !k
            .description
            .as_deref()
            .unwrap_or_default()
            .starts_with("api-tour")
        {
            continue;
        }
        let state = match (k.last_used, k.valid) {
            (Some(_), _) if k.single_use => "USED",
            (_, Some(false)) => "not valid",
            _ => "unused",
        };
        println!(
            "   {} on {} VLAN {}: {state}",
            k.description.as_deref().unwrap_or_default(),
            k.product_name.unwrap_or_default(),
            k.vlan.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
        );
    }
    Ok(())
}
