//! `megaport-operator catalog`: the provider's view of where it can sell, read from live
//! Megaport products through the same client the controllers use. Rendering is pure
//! ([`render`]); [`run`] only fetches and prints.

use std::collections::BTreeMap;

use serde::Serialize;

use clap::{Args, Subcommand};

use crate::connect::MegaportArgs;
use crate::crd::onramp_region::OnRampStatus;
use crate::megaport::models::Product;
use crate::megaport::{MegaportClient, ProductsApi};
use crate::onramp;
use crate::output::{OutputFormat, json, table};

/// Fetches the products once and prints the requested view.
/// Arguments of `megaport-operator catalog`.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// What to list.
    #[command(subcommand)]
    pub view: CatalogView,
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub megaport: MegaportArgs,
}

/// The catalog's views.
#[derive(Clone, Debug, Subcommand)]
pub enum CatalogView {
    /// Countries with live on-ramps.
    Countries,
    /// Metros with live on-ramps.
    Metros {
        /// Only metros in this country (as Megaport writes it, e.g. USA).
        #[arg(long)]
        country: Option<String>,
    },
    /// On-ramps with location, zone, speed, usage and whether they can take a connection.
    Onramps {
        /// Only on-ramps in this country.
        #[arg(long)]
        country: Option<String>,
        /// Only on-ramps in this metro.
        #[arg(long)]
        metro: Option<String>,
    },
}

pub async fn run(args: CatalogArgs) -> anyhow::Result<()> {
    let client = MegaportClient::new(args.megaport.client_config()?)?;
    let products = client.list_products(None).await?;
    print!("{}", render(&args.view, args.output, &products)?);
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Count<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metro: Option<&'a str>,
    live_on_ramps: usize,
}

/// The view as text: a table, or JSON (one document).
pub fn render(
    view: &CatalogView,
    format: OutputFormat,
    products: &[Product],
) -> serde_json::Result<String> {
    match view {
        CatalogView::Countries => {
            let counts = onramp::countries(products);
            render_counts(format, "COUNTRY", &counts, |c| (Some(c), None))
        }
        CatalogView::Metros { country } => {
            let counts = onramp::metros(products, country.as_deref());
            render_counts(format, "METRO", &counts, |m| (country.as_deref(), Some(m)))
        }
        CatalogView::Onramps { country, metro } => {
            let on_ramps = onramp::on_ramps(products, country.as_deref(), metro.as_deref());
            Ok(match format {
                OutputFormat::Json => json(&on_ramps)?,
                OutputFormat::Table => table(
                    &[
                        "NAME", "TYPE", "COUNTRY", "METRO", "LOCATION", "ID", "ZONE", "SPEED",
                        "VXCS", "USED", "ELIGIBLE",
                    ],
                    on_ramps.iter().map(on_ramp_row).collect(),
                ),
            })
        }
    }
}

/// Live on-ramp counts by `column` (country or metro); `place` gives a row's country and metro.
fn render_counts<'a>(
    format: OutputFormat,
    column: &str,
    counts: &'a BTreeMap<String, usize>,
    place: impl Fn(&'a str) -> (Option<&'a str>, Option<&'a str>),
) -> serde_json::Result<String> {
    Ok(match format {
        OutputFormat::Json => {
            let rows: Vec<Count<'_>> = counts
                .iter()
                .map(|(name, n)| {
                    let (country, metro) = place(name);
                    Count {
                        country,
                        metro,
                        live_on_ramps: *n,
                    }
                })
                .collect();
            json(&rows)?
        }
        OutputFormat::Table => table(
            &[column, "LIVE ON-RAMPS"],
            counts
                .iter()
                .map(|(name, n)| vec![name.clone(), n.to_string()])
                .collect(),
        ),
    })
}

/// One table row of the on-ramps view.
fn on_ramp_row(o: &OnRampStatus) -> Vec<String> {
    vec![
        o.name.clone(),
        o.product_type.map(|k| format!("{k:?}")).unwrap_or_default(),
        o.country.clone().unwrap_or_default(),
        o.metro.clone().unwrap_or_default(),
        o.location.clone().unwrap_or_default(),
        o.location_id.map(|i| i.to_string()).unwrap_or_default(),
        o.diversity_zone.clone().unwrap_or_else(|| "-".into()),
        o.speed_mbps.map(|s| s.to_string()).unwrap_or_default(),
        o.connections.to_string(),
        format!("{}%", o.utilisation_percent),
        match &o.reason {
            None => "yes".into(),
            Some(reason) => format!("no: {reason}"),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn products() -> Vec<Product> {
        let port = |uid: &str, metro: &str, country: &str, status: &str, permitted: bool| {
            serde_json::from_value::<Product>(json!({
                "productUid": uid, "productName": uid, "productType": "MEGAPORT",
                "provisioningStatus": status, "portSpeed": 10000, "locationId": 59,
                "vxcpermitted": permitted, "diversityZone": "blue",
                "locationDetail": {"name": "Equinix LA1", "metro": metro, "country": country}
            }))
            .unwrap()
        };
        vec![
            port("la1", "Los Angeles", "USA", "LIVE", true),
            port("ny1", "New York", "USA", "LIVE", true),
            port("lon", "London", "UK", "LIVE", false),
            port("ny2", "New York", "USA", "CONFIGURED", true),
        ]
    }

    #[test]
    fn countries_table_and_json() {
        let p = products();
        let text = render(&CatalogView::Countries, OutputFormat::Table, &p).unwrap();
        assert_eq!(text, "COUNTRY  LIVE ON-RAMPS\nUK       1\nUSA      2\n");
        let parsed: serde_json::Value =
            serde_json::from_str(&render(&CatalogView::Countries, OutputFormat::Json, &p).unwrap())
                .unwrap();
        assert_eq!(
            parsed,
            json!([{"country": "UK", "liveOnRamps": 1}, {"country": "USA", "liveOnRamps": 2}])
        );
    }

    #[test]
    fn metros_in_a_country() {
        let text = render(
            &CatalogView::Metros {
                country: Some("USA".into()),
            },
            OutputFormat::Table,
            &products(),
        )
        .unwrap();
        assert_eq!(
            text,
            "METRO        LIVE ON-RAMPS\nLos Angeles  1\nNew York     1\n"
        );
    }

    #[test]
    fn onramps_show_eligibility_reasons() {
        let view = CatalogView::Onramps {
            country: None,
            metro: None,
        };
        let text = render(&view, OutputFormat::Table, &products()).unwrap();
        assert!(text.contains("no: vxcPermitted is false"), "{text}");
        assert!(
            text.contains("no: provisioningStatus is CONFIGURED, not LIVE"),
            "{text}"
        );
        let json: Vec<serde_json::Value> =
            serde_json::from_str(&render(&view, OutputFormat::Json, &products()).unwrap()).unwrap();
        assert_eq!(json.len(), 4);
        assert!(json.iter().any(|o| o["eligible"] == json!(true)));
    }
}
