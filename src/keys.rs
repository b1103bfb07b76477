//! `megaport-operator keys`: the provider's issued service keys with their state, on-ramp,
//! zone, VLAN and the ServiceKeyRequest each belongs to — never the key itself (a fingerprint
//! stands in for it). Reads Megaport through the same client as the controllers, and the
//! requests from Kubernetes when it can be reached. Rendering is pure ([`rows`], [`render`]).

use std::collections::BTreeMap;

use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde::Serialize;

use clap::Args;

use crate::connect::MegaportArgs;
use crate::crd::ServiceKeyRequest;
use crate::crd::service_key_request::KeyState;
use crate::delivery::{Marker, fingerprint};
use crate::issuance::key_state;
use crate::megaport::models::{EpochMillis, Product, ServiceKey};
use crate::megaport::{MegaportClient, ProductsApi, ServiceKeysApi};
use crate::output::{OutputFormat, json, table};
use kube::core::DeserializeGuard;

/// A request as the listing names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRef {
    /// `namespace/name`.
    pub name: String,
    /// Its region, or `-` for an explicit on-ramp.
    pub region: String,
}

/// One listed key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRow {
    /// Fingerprint (never the key).
    pub fingerprint: String,
    /// The on-ramp's name.
    pub on_ramp: String,
    /// Its diversity zone.
    pub zone: Option<String>,
    /// Provider-side VLAN.
    pub vlan: Option<u16>,
    /// Highest rate, Mbps.
    pub max_speed_mbps: Option<u32>,
    /// Single-use.
    pub single_use: bool,
    /// Active, Used, Expired or Deactivated.
    pub state: KeyState,
    /// The request (`namespace/name`), its UID when Kubernetes does not know it, or none for
    /// keys the operator did not issue.
    pub request: Option<String>,
    /// The request's region.
    pub region: Option<String>,
    /// VXCs ordered with the key that wait for the provider's answer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<String>,
}

/// The listing (pure): operator-issued keys, or every key with `all`; sorted by request, then
/// on-ramp.
pub fn rows(
    keys: &[ServiceKey],
    products: &[Product],
    requests: &BTreeMap<String, RequestRef>,
    all: bool,
    now: EpochMillis,
) -> Vec<KeyRow> {
    // Each waiting VXC, by the fingerprint of the key it was ordered with.
    let mut waiting: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for w in crate::approvals::waiting_all(products, keys) {
        let uids = waiting.entry(fingerprint(&w.key.key)).or_default();
        if !uids.contains(&w.vxc.product_uid) {
            uids.push(w.vxc.product_uid.clone());
        }
    }
    let mut rows: Vec<KeyRow> = keys
        .iter()
        .filter_map(|k| {
            let marker = k.description.as_deref().and_then(Marker::parse);
            if marker.is_none() && !all {
                return None;
            }
            let product = products.iter().find(|p| p.product_uid == k.product_uid);
            let request = marker.as_ref().map(|m| requests.get(&m.request_uid));
            Some(KeyRow {
                fingerprint: fingerprint(&k.key),
                on_ramp: product
                    .map(|p| p.product_name.clone())
                    .or_else(|| k.product_name.clone())
                    .unwrap_or_else(|| k.product_uid.clone()),
                zone: product.and_then(|p| p.diversity_zone.clone()),
                vlan: k.vlan,
                max_speed_mbps: k.max_speed,
                single_use: k.single_use,
                state: key_state(k, now),
                request: match (&marker, request) {
                    (_, Some(Some(r))) => Some(r.name.clone()),
                    (Some(m), _) => Some(format!("uid:{}", m.request_uid)),
                    (None, _) => None,
                },
                region: request.flatten().map(|r| r.region.clone()),
                waiting: waiting.remove(&fingerprint(&k.key)).unwrap_or_default(),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.request, &a.on_ramp, &a.fingerprint).cmp(&(&b.request, &b.on_ramp, &b.fingerprint))
    });
    rows
}

/// The listing as a table or JSON.
pub fn render(rows: &[KeyRow], format: OutputFormat) -> serde_json::Result<String> {
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    Ok(match format {
        OutputFormat::Json => json(&rows)?,
        OutputFormat::Table => table(
            &[
                "FINGERPRINT",
                "STATE",
                "ON-RAMP",
                "ZONE",
                "VLAN",
                "MBPS",
                "USE",
                "REQUEST",
                "REGION",
                "WAITING",
            ],
            rows.iter()
                .map(|r| {
                    vec![
                        r.fingerprint.clone(),
                        format!("{:?}", r.state),
                        r.on_ramp.clone(),
                        dash(r.zone.clone()),
                        dash(r.vlan.map(|v| v.to_string())),
                        dash(r.max_speed_mbps.map(|v| v.to_string())),
                        if r.single_use { "single" } else { "multi" }.to_owned(),
                        dash(r.request.clone()),
                        dash(r.region.clone()),
                        if r.waiting.is_empty() {
                            "-".to_owned()
                        } else {
                            r.waiting.join(",")
                        },
                    ]
                })
                .collect(),
        ),
    })
}

/// `keys` options. Kubernetes is reached through the usual kubeconfig / in-cluster config.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Also list keys the operator did not issue.
    #[arg(long)]
    pub all: bool,
    /// Do not read ServiceKeyRequests from Kubernetes (requests are shown by UID).
    #[arg(long)]
    pub no_kubernetes: bool,
    #[command(flatten)]
    pub megaport: MegaportArgs,
}

/// The requests Kubernetes knows, by UID; empty (with a note on stderr) when it cannot be read.
async fn requests() -> BTreeMap<String, RequestRef> {
    let listed = async {
        let client = kube::Client::try_default().await?;
        // Each request decoded on its own: one the operator cannot read still shows by name.
        Api::<DeserializeGuard<ServiceKeyRequest>>::all(client)
            .list(&ListParams::default())
            .await
    };
    match listed.await {
        Ok(list) => list
            .items
            .into_iter()
            .filter_map(|r| {
                let uid = r.uid()?;
                let region = match &r.0 {
                    Ok(request) => request
                        .spec
                        .region_ref
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), |x| x.name.clone()),
                    Err(_) => "(unreadable spec)".to_owned(),
                };
                Some((
                    uid,
                    RequestRef {
                        name: format!("{}/{}", r.namespace().unwrap_or_default(), r.name_any()),
                        region,
                    },
                ))
            })
            .collect(),
        Err(err) => {
            eprintln!(
                "note: cannot read ServiceKeyRequests from Kubernetes ({err}); requests are shown by UID"
            );
            BTreeMap::new()
        }
    }
}

/// Fetches keys and products once (and the requests) and prints the listing.
pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let client = MegaportClient::new(args.megaport.client_config()?)?;
    let (keys, products) =
        tokio::try_join!(client.list_service_keys(), client.list_products(None))?;
    let requests = if args.no_kubernetes {
        BTreeMap::new()
    } else {
        requests().await
    };
    let rows = rows(&keys, &products, &requests, args.all, EpochMillis::now());
    print!("{}", render(&rows, args.output)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &str, description: Option<&str>, last_used: Option<i64>) -> ServiceKey {
        serde_json::from_value(serde_json::json!({
            "key": value, "productUid": "p1", "productName": "qgpu-lax-eq1-blue",
            "singleUse": true, "vlan": 100, "maxSpeed": 500, "active": true,
            "description": description, "lastUsed": last_used,
        }))
        .unwrap()
    }

    #[test]
    fn lists_operator_keys_by_request_without_the_key() {
        let keys = vec![
            key(
                "11111111-aaaa-4bbb-8ccc-000000000001",
                Some("Acme [k8s:uid-1/blue]"),
                None,
            ),
            key(
                "22222222-aaaa-4bbb-8ccc-000000000002",
                Some("[k8s:uid-gone/-]"),
                Some(5),
            ),
            key(
                "33333333-aaaa-4bbb-8ccc-000000000003",
                Some("by hand"),
                None,
            ),
        ];
        let requests = BTreeMap::from([(
            "uid-1".to_owned(),
            RequestRef {
                name: "acme/customer-1".into(),
                region: "us-west".into(),
            },
        )]);
        let listed = rows(&keys, &[], &requests, false, EpochMillis(10));
        assert_eq!(
            listed.len(),
            2,
            "keys not issued by the operator are hidden"
        );
        assert_eq!(listed[0].request.as_deref(), Some("acme/customer-1"));
        assert_eq!(listed[0].region.as_deref(), Some("us-west"));
        assert_eq!(listed[0].state, KeyState::Active);
        assert_eq!(listed[1].request.as_deref(), Some("uid:uid-gone"));
        assert_eq!(listed[1].state, KeyState::Used);
        assert_eq!(rows(&keys, &[], &requests, true, EpochMillis(10)).len(), 3);

        for format in [OutputFormat::Table, OutputFormat::Json] {
            let text = render(&listed, format).unwrap();
            assert!(text.contains("acme/customer-1") && text.contains("sha256:"));
            for k in &keys {
                assert!(!text.contains(&k.key.expose()[..8]), "{text}");
            }
        }
    }

    #[test]
    fn a_connection_waiting_on_a_key_is_listed_with_it() {
        let keys = vec![key(
            "11111111-aaaa-4bbb-8ccc-000000000001",
            Some("Acme [k8s:uid-1/blue]"),
            Some(5),
        )];
        let products: Vec<Product> = serde_json::from_value(serde_json::json!([{
            "productUid": "p1", "productName": "qgpu-lax-eq1-blue", "provisioningStatus": "LIVE",
            "associatedVxcs": [{
                "productUid": "vxc-1", "provisioningStatus": "DEPLOYABLE", "createDate": 5,
                "aEnd": {"productUid": "customer-port"}, "bEnd": {"productUid": "p1", "vlan": 100},
                "vxcApproval": {"status": "PENDING_EXTERNAL"},
            }],
        }]))
        .unwrap();
        let listed = rows(&keys, &products, &BTreeMap::new(), false, EpochMillis(10));
        assert_eq!(listed[0].waiting, ["vxc-1"]);
        let table = render(&listed, OutputFormat::Table).unwrap();
        assert!(
            table.contains("WAITING") && table.contains("vxc-1"),
            "{table}"
        );
        assert!(
            rows(&keys, &[], &BTreeMap::new(), false, EpochMillis(10))[0]
                .waiting
                .is_empty()
        );
    }
}
