//! `megaport-operator catalog`: the provider's view of where it can sell, read from live
//! Megaport products through the same client the controllers use. Rendering is pure
//! ([`render`]); [`run`] only fetches and prints.

use serde::Serialize;

use crate::cli::{CatalogArgs, CatalogView, OutputFormat};
use crate::megaport::models::Product;
use crate::megaport::{MegaportClient, ProductsApi};
use crate::onramp;

/// Fetches the products once and prints the requested view.
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
            let rows: Vec<Count<'_>> = counts
                .iter()
                .map(|(c, n)| Count {
                    country: Some(c),
                    metro: None,
                    live_on_ramps: *n,
                })
                .collect();
            Ok(match format {
                OutputFormat::Json => json(&rows)?,
                OutputFormat::Table => table(
                    &["COUNTRY", "LIVE ON-RAMPS"],
                    counts
                        .iter()
                        .map(|(c, n)| vec![c.clone(), n.to_string()])
                        .collect(),
                ),
            })
        }
        CatalogView::Metros { country } => {
            let counts = onramp::metros(products, country.as_deref());
            let rows: Vec<Count<'_>> = counts
                .iter()
                .map(|(m, n)| Count {
                    country: country.as_deref(),
                    metro: Some(m),
                    live_on_ramps: *n,
                })
                .collect();
            Ok(match format {
                OutputFormat::Json => json(&rows)?,
                OutputFormat::Table => table(
                    &["METRO", "LIVE ON-RAMPS"],
                    counts
                        .iter()
                        .map(|(m, n)| vec![m.clone(), n.to_string()])
                        .collect(),
                ),
            })
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
                    on_ramps
                        .iter()
                        .map(|o| {
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
                        })
                        .collect(),
                ),
            })
        }
    }
}

pub(crate) fn json(value: &impl Serialize) -> serde_json::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub(crate) fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
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
