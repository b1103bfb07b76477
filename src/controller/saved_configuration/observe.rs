//! What a SavedConfiguration reconcile reads (IO only, no decisions): its order records, the
//! service keys its VXCs read from Secrets, and — when a check is due — Megaport's view of the
//! design: locations, the account's billing markets, the keys, and the validation.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{Api, ResourceExt};

use crate::controller::{Error, Orders, Step};
use crate::crd::saved_configuration::{
    ConfigurationPhase, KeySeen, SavedConfiguration, ServiceProblem,
};
use crate::delivery::fingerprint;
use crate::megaport::models::ServiceKeyValue;
use crate::megaport::{MegaportApi, MegaportError};
use crate::ordering::status::Validation;
use crate::ordering::{self, KeyEnd, Ledger, quote, records};

/// The key a ServiceKeyRequest's Secret holds it under.
const DEFAULT_KEY: &str = "serviceKey";

/// The configuration's order records: this process's last write, else the sealed annotation;
/// and why the annotation was ignored, if it was. Records that are not the operator's, or
/// missing ones on a configuration that went past ordering, make every service unknown: pending
/// from now, searched by its tags (for [`ordering::decide::SETTLE`]) before it is bought again.
pub fn ledger(ctx: &Orders, obj: &SavedConfiguration, uid: &str) -> (Ledger, Option<String>) {
    if let Some(written) = ctx.written(uid) {
        return (Ledger::of(&written), None);
    }
    if obj.spec.order != Some(true) {
        // Nothing is bought without an order: whatever the annotation says is not read.
        return (Ledger::default(), None);
    }
    let why = match records::trusted(obj.annotations(), uid, &ctx.seal) {
        Ok(Some(records)) => return (Ledger::of(&records), None),
        Ok(None) if !went_past_ordering(obj) => return (Ledger::default(), None),
        Ok(None) => format!("the {} annotation is gone", records::ORDERS_ANNOTATION),
        Err(why) => why,
    };
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let names = ordering::design::names(&obj.spec);
    let unknown = Ledger {
        pending: names.into_iter().map(|n| (n, now_ms)).collect(),
        ..Ledger::default()
    };
    (unknown, Some(why))
}

fn went_past_ordering(obj: &SavedConfiguration) -> bool {
    let phase = obj.status.as_ref().and_then(|s| s.phase);
    matches!(
        phase,
        Some(
            ConfigurationPhase::Ordering
                | ConfigurationPhase::Provisioning
                | ConfigurationPhase::Live
                | ConfigurationPhase::Failed
        )
    ) || obj.status.as_ref().is_some_and(|s| !s.services.is_empty())
}

/// The service keys the VXCs read from Secrets, by VXC (never printed).
#[derive(Default)]
pub struct Keys {
    /// The key values.
    values: BTreeMap<String, ServiceKeyValue>,
    /// Their fingerprints.
    pub fingerprints: BTreeMap<String, String>,
    /// The Secrets (or keys in them) that are missing.
    pub problems: Vec<ServiceProblem>,
}

impl Keys {
    /// Each key as a VXC end, where `seen` (the last lookup) says where it leads.
    pub fn ends(&self, seen: &[KeySeen]) -> BTreeMap<String, KeyEnd> {
        self.values
            .iter()
            .filter_map(|(vxc, key)| {
                let fp = self.fingerprints.get(vxc)?;
                let seen = seen
                    .iter()
                    .find(|k| &k.service == vxc && &k.fingerprint == fp)?;
                Some((
                    vxc.clone(),
                    KeyEnd {
                        key: key.clone(),
                        product_uid: seen.on_ramp.clone()?,
                        vlan: seen.vlan,
                    },
                ))
            })
            .collect()
    }
}

/// Reads the Secret of every VXC whose B end is a `secretKeyRef`.
pub async fn keys(ctx: &Orders, obj: &SavedConfiguration) -> Result<Keys, Error> {
    let secrets: Api<Secret> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let mut keys = Keys::default();
    for vxc in &obj.spec.services.vxcs {
        let Some(reference) = &vxc.b_end.secret_key_ref else {
            continue;
        };
        let name = &vxc.common.name;
        let field = reference.key.as_deref().unwrap_or(DEFAULT_KEY);
        let secret = secrets
            .get_opt(&reference.name)
            .await
            .map_err(|e| Error::kube(Step::ReadKeys, e))?;
        let value = secret
            .as_ref()
            .and_then(|s| s.data.as_ref()?.get(field))
            .and_then(|v| {
                let text = String::from_utf8(v.0.clone()).ok()?;
                let text = text.trim();
                (!text.is_empty()).then(|| ServiceKeyValue::new(text))
            });
        match (secret.is_some(), value) {
            (_, Some(value)) => {
                keys.fingerprints.insert(name.clone(), fingerprint(&value));
                keys.values.insert(name.clone(), value);
            }
            (present, None) => keys.problems.push(ServiceProblem {
                service: Some(name.clone()),
                message: if present {
                    format!("Secret {} has no key {field:?}", reference.name)
                } else {
                    format!("Secret {} does not exist (yet)", reference.name)
                },
            }),
        }
    }
    Ok(keys)
}

/// A refusal as a problem of the design; anything else fails the step.
fn refusal(err: MegaportError, names: &[(String, String)]) -> Result<ServiceProblem, Error> {
    if err.is_refusal() {
        Ok(quote::refused(&err, names))
    } else {
        Err(Error::megaport(Step::Validate, err))
    }
}

/// What looking the keys up found.
#[derive(Default)]
pub struct Looked {
    /// Every key looked up, by fingerprint (those Megaport does not know too, so an unusable
    /// key is not looked up again until it changes).
    pub seen: Vec<KeySeen>,
    /// The usable ones as VXC ends.
    pub ends: BTreeMap<String, KeyEnd>,
    /// Why the others cannot be used.
    pub problems: Vec<ServiceProblem>,
}

/// Looks up the keys of the VXCs in `only` (all when `None`), shown without the key.
pub async fn lookup_keys(
    obj: &SavedConfiguration,
    account: &dyn MegaportApi,
    keys: &Keys,
    only: Option<&[String]>,
) -> Result<Looked, Error> {
    let names = ordering::design::product_names(&obj.spec);
    let mut looked = Looked::default();
    let wanted = keys
        .values
        .iter()
        .filter(|(vxc, _)| only.is_none_or(|o| o.contains(vxc)));
    for (vxc, key) in wanted {
        let mut seen = KeySeen {
            service: vxc.clone(),
            fingerprint: fingerprint(key),
            ..KeySeen::default()
        };
        match account.get_service_key(key.expose()).await {
            Ok(found) => {
                seen.owner = found.company_name.clone();
                seen.on_ramp = Some(found.product_uid.clone());
                seen.max_speed_mbps = found.max_speed;
                seen.vlan = found.vlan;
                let end = KeyEnd {
                    key: key.clone(),
                    product_uid: found.product_uid.clone(),
                    vlan: found.vlan,
                };
                looked.ends.insert(vxc.clone(), end);
            }
            Err(e) => {
                let mut problem = refusal(e.redact_service_key(key.expose()), &names)?;
                problem.service = Some(vxc.clone());
                problem.message = format!(
                    "the service key in its Secret cannot be used: {}",
                    problem.message
                );
                looked.problems.push(problem);
            }
        }
        looked.seen.push(seen);
    }
    Ok(looked)
}

/// The account rules over Megaport's locations and the account's markets, as problems.
async fn account_rules(
    obj: &SavedConfiguration,
    account: &dyn MegaportApi,
) -> Result<Vec<ServiceProblem>, Error> {
    let spec = &obj.spec;
    let names = ordering::design::product_names(spec);
    match (
        account.list_locations().await,
        account.list_billing_markets().await,
    ) {
        (Ok(locations), Ok(markets)) => {
            let facts = ordering::Facts {
                locations: &locations,
                markets: &markets,
                managed_account: spec.managed_account.is_some(),
            };
            Ok(quote::broken(&ordering::check(spec, &facts)))
        }
        (Err(e), _) | (_, Err(e)) => Ok(vec![refusal(e, &names)?]),
    }
}

/// Checks and prices the design: the account rules, each key looked up, then Megaport's
/// validation of what can be sent.
pub async fn validate(
    obj: &SavedConfiguration,
    uid: &str,
    account: &dyn MegaportApi,
    keys: &Keys,
    now: jiff::Timestamp,
) -> Result<Validation, Error> {
    let mut problems = keys.problems.clone();
    problems.extend(account_rules(obj, account).await?);
    let looked = lookup_keys(obj, account, keys, None).await?;
    problems.extend(looked.problems);
    let mut validation = Validation {
        generation: obj.metadata.generation,
        at: Some(Time(now)),
        quote: None,
        problems,
        keys: looked.seen,
    };
    if validation.problems.is_empty() {
        let design = ordering::items(&obj.spec, uid, &BTreeMap::new(), &looked.ends);
        let answer = if design.items.is_empty() {
            Ok(Vec::new())
        } else {
            account.validate_network_design(&design.items).await
        };
        match answer {
            Ok(answer) => {
                let quote = quote::quote(&design.services, &answer, design.waiting, now);
                validation.quote = Some(quote);
            }
            Err(e) => {
                let names = ordering::design::product_names(&obj.spec);
                validation.problems.push(refusal(e, &names)?);
            }
        }
    }
    Ok(validation)
}
