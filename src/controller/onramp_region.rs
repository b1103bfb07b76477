//! The OnRampRegion controller: observe (the shared products snapshot) → decide (pure:
//! [`desired_status`]) → apply (status patch when it changed, an event when Ready flips) →
//! requeue at the refresh period.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::{Context, Error, Step, invalid};
use crate::crd::conditions::{self, Desired, types};
use crate::crd::onramp_region::{OnRampRegion, OnRampRegionStatus};
use crate::onramp::{self, RegionView};

/// Condition type: two or more diversity zones among eligible on-ramps.
pub const DIVERSITY_AVAILABLE: &str = "DiversityAvailable";

/// The status a region should have, given what Megaport shows (pure).
pub fn desired_status(
    region: &OnRampRegion,
    view: &RegionView,
    synced_at: jiff::Timestamp,
    now: jiff::Timestamp,
) -> OnRampRegionStatus {
    let previous = region
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let eligible: Vec<&str> = view.eligible().map(|o| o.name.as_str()).collect();
    let ready = if !eligible.is_empty() {
        Desired::yes(
            types::READY,
            "OnRampsAvailable",
            format!(
                "{} eligible on-ramp(s): {}",
                eligible.len(),
                eligible.join(", ")
            ),
        )
    } else if view.on_ramps.is_empty() {
        Desired::no(
            types::READY,
            "NoMatchingOnRamps",
            format!(
                "no {} of the provider matches the region's selectors",
                view.effective
                    .product_types
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join("/")
            ),
        )
    } else {
        let why: Vec<String> = view
            .on_ramps
            .iter()
            .map(|o| {
                format!(
                    "{}: {}",
                    o.name,
                    o.reason.as_deref().unwrap_or("not eligible")
                )
            })
            .collect();
        Desired::no(
            types::READY,
            "NoEligibleOnRamps",
            format!(
                "{} on-ramp(s) match but none can take a connection ({})",
                why.len(),
                why.join("; ")
            ),
        )
    };
    let diversity = match view.zones.len() {
        0 | 1 if eligible.is_empty() => Desired::no(
            DIVERSITY_AVAILABLE,
            "NoEligibleOnRamps",
            "no eligible on-ramp",
        ),
        0 | 1 => Desired::no(
            DIVERSITY_AVAILABLE,
            "SingleZone",
            format!(
                "eligible on-ramps are in {} only",
                view.zones
                    .first()
                    .map(String::as_str)
                    .unwrap_or("no diversity zone")
            ),
        ),
        _ => Desired::yes(
            DIVERSITY_AVAILABLE,
            "MultipleZones",
            format!("zones: {}", view.zones.join(", ")),
        ),
    };
    let generation = region.meta().generation;
    OnRampRegionStatus {
        observed_generation: generation,
        conditions: conditions::merge(
            previous,
            &[
                ready,
                diversity,
                Desired::no(types::RECONCILING, "Resolved", ""),
                Desired::no(types::STALLED, "Resolved", ""),
            ],
            generation,
            &Time(now),
        ),
        on_ramps: view.on_ramps.clone(),
        eligible_count: Some(u32::try_from(eligible.len()).unwrap_or(u32::MAX)),
        diversity_zones: view.zones.clone(),
        zones: (!view.zones.is_empty()).then(|| view.zones.join(",")),
        effective: Some(view.effective.clone()),
        last_sync_time: Some(Time(synced_at)),
    }
}

/// The status while Megaport cannot be read: what was known stays, `Reconciling` says why
/// it may be stale, and a region never resolved yet gets `Ready=False` (pure).
pub fn unavailable_status(
    region: &OnRampRegion,
    error: &str,
    now: jiff::Timestamp,
) -> OnRampRegionStatus {
    let mut status = region.status.clone().unwrap_or_default();
    let mut desired = vec![Desired::yes(
        types::RECONCILING,
        "MegaportUnavailable",
        format!("cannot read Megaport products, retrying: {error}"),
    )];
    if conditions::find(&status.conditions, types::READY).is_none() {
        desired.push(Desired::no(
            types::READY,
            "MegaportUnavailable",
            "waiting for the first Megaport product list",
        ));
    }
    status.conditions = conditions::merge(
        &status.conditions,
        &desired,
        region.meta().generation,
        &Time(now),
    );
    status
}

/// Whether two statuses differ in anything but their timestamps.
fn meaningfully_different(a: &OnRampRegionStatus, b: &OnRampRegionStatus) -> bool {
    let strip = |s: &OnRampRegionStatus| {
        let mut s = s.clone();
        s.last_sync_time = None;
        for c in &mut s.conditions {
            c.last_transition_time = Time(jiff::Timestamp::UNIX_EPOCH);
        }
        s
    };
    strip(a) != strip(b)
}

/// Reconciles one region; one the operator cannot read is reported on itself.
pub async fn reconcile(
    guard: Arc<DeserializeGuard<OnRampRegion>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    match &guard.0 {
        Ok(region) => reconcile_region(region, &ctx).await,
        Err(invalid) => invalid::report::<OnRampRegion>(&ctx, invalid, "").await,
    }
}

async fn reconcile_region(region: &OnRampRegion, ctx: &Context) -> Result<Action, Error> {
    let name = region.name_any();
    let api: Api<OnRampRegion> = Api::all(ctx.client.clone());
    // Observe.
    let snapshot = match ctx.products.get().await {
        Ok(snapshot) => snapshot,
        Err(err) => {
            let status = unavailable_status(region, &err.to_string(), jiff::Timestamp::now());
            if region.status.as_ref() != Some(&status) {
                let patch = Patch::Merge(json!({ "status": status }));
                if let Err(e) = api
                    .patch_status(&name, &PatchParams::default(), &patch)
                    .await
                {
                    tracing::warn!(region = %name, error = %e, "could not record the Megaport outage in status");
                }
            }
            return Err(Error::megaport(Step::ReadMegaport, err));
        }
    };
    // Decide.
    let view = onramp::evaluate(&region.spec, &snapshot.items);
    let status = desired_status(
        region,
        &view,
        snapshot.fetched_at_wall,
        jiff::Timestamp::now(),
    );
    // Apply.
    let unchanged = region.status.as_ref().is_some_and(|current| {
        !meaningfully_different(current, &status) && current.last_sync_time == status.last_sync_time
    });
    if !unchanged {
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .map_err(|e| Error::kube(Step::PatchStatus, e))?;
    }
    let was_ready = region
        .status
        .as_ref()
        .map(|s| conditions::is_true(&s.conditions, types::READY));
    let is_ready = conditions::is_true(&status.conditions, types::READY);
    if was_ready != Some(is_ready)
        && let Some(ready) = conditions::find(&status.conditions, types::READY)
    {
        let event = Event {
            type_: if is_ready {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: ready.reason.clone(),
            note: Some(ready.message.chars().take(1000).collect()),
            action: "Resolve".into(),
            secondary: None,
        };
        if let Err(err) = ctx.recorder.publish(&event, &region.object_ref(&())).await {
            tracing::warn!(region = %name, error = %err, "could not publish event");
        }
    }
    tracing::debug!(region = %name, eligible = status.eligible_count, "reconciled OnRampRegion");
    Ok(Action::requeue(ctx.settings.products_refresh))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::onramp_region::{OnRampMatch, OnRampRegionSpec, OnRampStatus};
    use crate::onramp::effective;

    fn region() -> OnRampRegion {
        let mut r = OnRampRegion::new(
            "us-west",
            OnRampRegionSpec {
                display_name: None,
                match_: OnRampMatch {
                    metros: Some(vec!["Los Angeles".into()]),
                    ..Default::default()
                },
                selection: None,
                vlan_range: None,
                allowed_namespaces: None,
            },
        );
        r.metadata.generation = Some(4);
        r
    }

    fn on_ramp(name: &str, zone: &str, reason: Option<&str>) -> OnRampStatus {
        OnRampStatus {
            product_uid: name.into(),
            name: name.into(),
            diversity_zone: Some(zone.into()),
            eligible: reason.is_none(),
            reason: reason.map(str::to_owned),
            ..Default::default()
        }
    }

    fn view(on_ramps: Vec<OnRampStatus>) -> RegionView {
        let mut zones: Vec<String> = on_ramps
            .iter()
            .filter(|o| o.eligible)
            .filter_map(|o| o.diversity_zone.clone())
            .collect();
        zones.sort();
        zones.dedup();
        RegionView {
            effective: effective(&region().spec),
            on_ramps,
            zones,
        }
    }

    fn condition<'a>(
        s: &'a OnRampRegionStatus,
        t: &str,
    ) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        conditions::find(&s.conditions, t).unwrap()
    }

    #[test]
    fn diverse_region_is_ready() {
        let now = jiff::Timestamp::from_second(100).unwrap();
        let s = desired_status(
            &region(),
            &view(vec![
                on_ramp("la2", "red", None),
                on_ramp("la1", "blue", None),
            ]),
            now,
            now,
        );
        assert_eq!(s.observed_generation, Some(4));
        assert_eq!(condition(&s, types::READY).status, "True");
        assert_eq!(condition(&s, types::READY).observed_generation, Some(4));
        assert_eq!(condition(&s, DIVERSITY_AVAILABLE).status, "True");
        assert_eq!(s.zones.as_deref(), Some("blue,red"));
        assert_eq!(s.eligible_count, Some(2));
    }

    #[test]
    fn no_match_and_no_eligible_say_why() {
        let now = jiff::Timestamp::from_second(100).unwrap();
        let none = desired_status(&region(), &view(vec![]), now, now);
        assert_eq!(condition(&none, types::READY).reason, "NoMatchingOnRamps");
        assert!(
            condition(&none, types::READY)
                .message
                .contains("no Port of the provider matches")
        );
        let blocked = desired_status(
            &region(),
            &view(vec![on_ramp(
                "ny2",
                "blue",
                Some("provisioningStatus is CONFIGURED, not LIVE"),
            )]),
            now,
            now,
        );
        let ready = condition(&blocked, types::READY);
        assert_eq!(ready.reason, "NoEligibleOnRamps");
        assert!(
            ready
                .message
                .contains("ny2: provisioningStatus is CONFIGURED, not LIVE"),
            "{}",
            ready.message
        );
        assert_eq!(condition(&blocked, DIVERSITY_AVAILABLE).status, "False");
        assert!(conditions::find(&blocked.conditions, types::STALLED).is_none());
    }

    #[test]
    fn single_zone_is_ready_but_not_diverse() {
        let now = jiff::Timestamp::from_second(100).unwrap();
        let s = desired_status(
            &region(),
            &view(vec![
                on_ramp("la1", "blue", None),
                on_ramp("la2", "red", Some("x")),
            ]),
            now,
            now,
        );
        assert_eq!(condition(&s, types::READY).status, "True");
        let d = condition(&s, DIVERSITY_AVAILABLE);
        assert_eq!(
            (d.status.as_str(), d.reason.as_str()),
            ("False", "SingleZone")
        );
    }

    #[test]
    fn megaport_outage_shows_reconciling_and_recovery_clears_it() {
        let now = jiff::Timestamp::from_second(100).unwrap();
        let fresh = unavailable_status(
            &region(),
            "Megaport API GET /v2/products returned HTTP 503",
            now,
        );
        assert!(conditions::is_true(&fresh.conditions, types::RECONCILING));
        assert_eq!(
            condition(&fresh, types::READY).reason,
            "MegaportUnavailable"
        );

        let mut resolved = region();
        resolved.status = Some(desired_status(
            &resolved,
            &view(vec![on_ramp("la1", "blue", None)]),
            now,
            now,
        ));
        let mut outage = resolved.clone();
        outage.status = Some(unavailable_status(&resolved, "HTTP 503", now));
        let s = outage.status.as_ref().unwrap();
        assert!(conditions::is_true(&s.conditions, types::RECONCILING));
        assert_eq!(
            condition(s, types::READY).status,
            "True",
            "what was known stays"
        );
        assert_eq!(s.on_ramps.len(), 1);

        let recovered =
            desired_status(&outage, &view(vec![on_ramp("la1", "blue", None)]), now, now);
        assert!(conditions::find(&recovered.conditions, types::RECONCILING).is_none());
    }

    #[test]
    fn only_timestamps_changing_is_not_a_change() {
        let a = desired_status(
            &region(),
            &view(vec![on_ramp("la1", "blue", None)]),
            jiff::Timestamp::from_second(1).unwrap(),
            jiff::Timestamp::from_second(1).unwrap(),
        );
        let b = desired_status(
            &region(),
            &view(vec![on_ramp("la1", "blue", None)]),
            jiff::Timestamp::from_second(9).unwrap(),
            jiff::Timestamp::from_second(9).unwrap(),
        );
        assert!(!meaningfully_different(&a, &b));
        let c = desired_status(
            &region(),
            &view(vec![on_ramp("la1", "blue", Some("gone"))]),
            jiff::Timestamp::from_second(9).unwrap(),
            jiff::Timestamp::from_second(9).unwrap(),
        );
        assert!(meaningfully_different(&a, &c));
    }
}
