//! What a validation says, as status shows it (pure): Megaport's prices per service and in
//! total, or the problems — the account rules broken and what Megaport refused, each with the
//! service it belongs to where that is known.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::rules::Broken;
use crate::crd::saved_configuration::{Quote, ServiceProblem, ServiceQuote};
use crate::megaport::MegaportError;
use crate::megaport::models::ValidatedItem;

/// An amount as status writes it (cents).
fn amount(value: f64) -> String {
    format!("{value:.2}")
}

/// The quote of `answer` (one entry per item of `services`, in order) at `now`; `unpriced`:
/// the VXCs the design could not send yet.
pub fn quote(
    services: &[String],
    answer: &[ValidatedItem],
    unpriced: Vec<String>,
    now: jiff::Timestamp,
) -> Quote {
    let lines: Vec<ServiceQuote> = services
        .iter()
        .zip(answer)
        .map(|(name, item)| ServiceQuote {
            name: name.clone(),
            product_type: item
                .product_type
                .as_ref()
                .or(item.price.product_type.as_ref())
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            monthly_rate: amount(item.price.monthly_rate.unwrap_or_default()),
            monthly_rack_rate: item.price.monthly_rack_rate.map(amount),
            monthly_setup: item.price.monthly_setup.filter(|s| *s > 0.0).map(amount),
            metro: item.metro.clone(),
            currency: item.price.currency.clone(),
        })
        .collect();
    let currencies: BTreeSet<&str> = lines.iter().filter_map(|l| l.currency.as_deref()).collect();
    let total: f64 = answer
        .iter()
        .take(lines.len())
        .map(|i| i.price.monthly_rate.unwrap_or_default())
        .sum();
    Quote {
        monthly_total: if currencies.len() > 1 {
            "mixed".into()
        } else {
            amount(total)
        },
        currency: currencies.into_iter().collect::<Vec<_>>().join(", "),
        services: lines,
        validated_at: Time(now),
        unpriced,
    }
}

/// The problems of broken account rules.
pub fn broken(rules: &[Broken]) -> Vec<ServiceProblem> {
    rules
        .iter()
        .map(|b| ServiceProblem {
            service: Some(b.service().to_owned()),
            message: b.to_string(),
        })
        .collect()
}

/// The problem of a validation (or buy) Megaport refused: its detail, attributed to the first
/// service whose product name it mentions (Megaport names services by their product names).
pub fn refused(err: &MegaportError, names: &[(String, String)]) -> ServiceProblem {
    let message = detail(err);
    let service = names
        .iter()
        .find(|(_, product_name)| message.contains(product_name.as_str()))
        .map(|(name, _)| name.clone());
    ServiceProblem {
        service,
        message: format!("Megaport refused the design: {message}"),
    }
}

/// What Megaport said, message and detail.
pub fn detail(err: &MegaportError) -> String {
    match err {
        MegaportError::Api {
            message,
            data: Some(data),
            ..
        } => format!("{message}: {data}"),
        MegaportError::Api { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::megaport::ErrorData;
    use crate::megaport::models::{Price, ProductType};

    fn priced(rate: f64, rack: f64, currency: &str, kind: ProductType) -> ValidatedItem {
        ValidatedItem {
            price: Price {
                monthly_rate: Some(rate),
                monthly_rack_rate: Some(rack),
                monthly_setup: Some(0.0),
                currency: Some(currency.into()),
                product_type: Some(kind.clone()),
            },
            product_type: Some(kind),
            metro: Some("Los Angeles".into()),
            ..ValidatedItem::default()
        }
    }

    #[test]
    fn a_quote_lists_each_service_and_sums_one_currency() {
        let names = ["la-port".to_owned(), "to-provider".to_owned()];
        let answer = [
            priced(950.0, 1000.0, "USD", ProductType::Megaport),
            priced(60.0, 60.0, "USD", ProductType::Vxc),
        ];
        let q = quote(
            &names,
            &answer,
            vec!["to-mcr".into()],
            jiff::Timestamp::UNIX_EPOCH,
        );
        assert_eq!(
            (q.monthly_total.as_str(), q.currency.as_str()),
            ("1010.00", "USD")
        );
        assert_eq!(q.services[0].name, "la-port");
        assert_eq!(q.services[0].product_type, "MEGAPORT");
        assert_eq!(q.services[0].monthly_rack_rate.as_deref(), Some("1000.00"));
        assert_eq!(
            q.services[0].monthly_setup, None,
            "no setup charge shown as none"
        );
        assert_eq!(q.services[1].monthly_rate, "60.00");
        assert_eq!(q.unpriced, ["to-mcr"]);
        let mixed = [
            priced(950.0, 1000.0, "USD", ProductType::Megaport),
            priced(500.0, 500.0, "GBP", ProductType::Megaport),
        ];
        let q = quote(&names, &mixed, Vec::new(), jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(
            (q.monthly_total.as_str(), q.currency.as_str()),
            ("mixed", "GBP, USD")
        );
    }

    #[test]
    fn a_refusal_names_the_service_its_detail_mentions() {
        let err = MegaportError::Api {
            endpoint: "POST /v3/networkdesign/validate",
            status: 400,
            message: "Validation failed".into(),
            data: Some(ErrorData::Text(
                "Port speed 400000 is not available for LA uplink".into(),
            )),
            trace_id: None,
            envelope: true,
        };
        let names = [
            ("la-port".to_owned(), "LA uplink".to_owned()),
            ("to-provider".to_owned(), "to-provider".to_owned()),
        ];
        let p = refused(&err, &names);
        assert_eq!(p.service.as_deref(), Some("la-port"));
        assert_eq!(
            p.message,
            "Megaport refused the design: Validation failed: Port speed 400000 is not available for LA uplink"
        );
        let markets = MegaportError::Api {
            endpoint: "POST /v3/networkdesign/validate",
            status: 400,
            message: "Validation failed".into(),
            data: Some(ErrorData::Text("Missing markets: Sweden".into())),
            trace_id: None,
            envelope: true,
        };
        assert_eq!(refused(&markets, &names).service, None);
    }
}
