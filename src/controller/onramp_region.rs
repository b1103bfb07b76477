//! The OnRampRegion controller: observe (the shared products snapshot) → decide (pure:
//! [`desired_status`]) → report (the shared status writer: written when it changed, an event
//! when Ready flips) → requeue at the refresh period.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use tracing::Instrument;

use super::{Error, Shared, Step, invalid, status};
use crate::crd::conditions::{self, ConditionType, Desired, Reason};
use crate::crd::onramp_region::{OnRampRegion, OnRampRegionStatus};
use crate::onramp::{self, RegionView};

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
    let generation = region.meta().generation;
    let ready = ready(view, &eligible);
    OnRampRegionStatus {
        observed_generation: generation,
        conditions: conditions::merge(
            previous,
            &[
                ready.clone(),
                diversity(view, &eligible),
                Desired::no(ConditionType::Reconciling, Reason::Resolved, ""),
                stalled(view, &ready),
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

/// Ready: at least one eligible on-ramp, else why none.
fn ready(view: &RegionView, eligible: &[&str]) -> Desired {
    if !eligible.is_empty() {
        Desired::yes(
            ConditionType::Ready,
            Reason::OnRampsAvailable,
            format!(
                "{} eligible on-ramp(s): {}",
                eligible.len(),
                eligible.join(", ")
            ),
        )
    } else if view.on_ramps.is_empty() {
        Desired::no(
            ConditionType::Ready,
            Reason::NoMatchingOnRamps,
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
            ConditionType::Ready,
            Reason::NoEligibleOnRamps,
            format!(
                "{} on-ramp(s) match but none can take a connection ({})",
                why.len(),
                why.join("; ")
            ),
        )
    }
}

/// Stalled when the selectors match nothing at all: most likely a mistake in the spec, and
/// kstatus (Flux, Helm `--wait`) then fails at once instead of waiting out its timeout. On-ramps
/// that match but cannot take connections yet (not LIVE, VXCs not permitted) are not stalled:
/// that heals by itself when Megaport's state changes.
fn stalled(view: &RegionView, ready: &Desired) -> Desired {
    if view.on_ramps.is_empty() {
        Desired::yes(ConditionType::Stalled, ready.reason, ready.message.clone())
    } else {
        Desired::no(ConditionType::Stalled, Reason::Resolved, "")
    }
}

/// DiversityAvailable: eligible on-ramps in two or more zones.
fn diversity(view: &RegionView, eligible: &[&str]) -> Desired {
    match view.zones.len() {
        0 | 1 if eligible.is_empty() => Desired::no(
            ConditionType::DiversityAvailable,
            Reason::NoEligibleOnRamps,
            "no eligible on-ramp",
        ),
        0 | 1 => Desired::no(
            ConditionType::DiversityAvailable,
            Reason::SingleZone,
            format!(
                "eligible on-ramps are in {} only",
                view.zones
                    .first()
                    .map(String::as_str)
                    .unwrap_or("no diversity zone")
            ),
        ),
        _ => Desired::yes(
            ConditionType::DiversityAvailable,
            Reason::MultipleZones,
            format!("zones: {}", view.zones.join(", ")),
        ),
    }
}

/// The status while Megaport cannot be read (pure): what was known stays, `Reconciling` says
/// why it may be stale, and a region never resolved yet gets `Ready=False`.
pub fn unavailable_status(
    region: &OnRampRegion,
    error: &str,
    now: jiff::Timestamp,
) -> OnRampRegionStatus {
    status::failure(
        region.status.as_ref(),
        region.meta().generation,
        Step::ReadMegaport,
        &format!("cannot read Megaport products, retrying: {error}"),
        now,
    )
}

/// Reconciles one region; one the operator cannot read is reported on itself.
pub async fn reconcile(
    guard: Arc<DeserializeGuard<OnRampRegion>>,
    ctx: Arc<Shared>,
) -> Result<Action, Error> {
    let span = tracing::info_span!("reconcile", region = %guard.name_any());
    match &guard.0 {
        Ok(region) => reconcile_region(region, &ctx).instrument(span).await,
        Err(invalid) => {
            invalid::report::<OnRampRegion>(&ctx, invalid, "")
                .instrument(span)
                .await
        }
    }
}

/// What the controller does, as events name it.
const ACTION: &str = "Resolve";

async fn reconcile_region(region: &OnRampRegion, ctx: &Shared) -> Result<Action, Error> {
    let api: Api<OnRampRegion> = Api::all(ctx.client.clone());
    // Observe.
    let snapshot = match ctx.products.get().await {
        Ok(snapshot) => snapshot,
        Err(err) => {
            let status = unavailable_status(region, &err.to_string(), jiff::Timestamp::now());
            if let Err(e) =
                status::write(ctx, &api, region, region.status.as_ref(), &status, ACTION).await
            {
                tracing::warn!(error = %e, "could not record the Megaport outage in status");
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
    // Report.
    status::write(ctx, &api, region, region.status.as_ref(), &status, ACTION).await?;
    tracing::debug!(eligible = status.eligible_count, "reconciled OnRampRegion");
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
                connections: None,
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

    /// (status, reason, message) of condition `t`.
    fn condition(
        s: &OnRampRegionStatus,
        t: ConditionType,
    ) -> (Option<bool>, Option<Reason>, String) {
        let c = conditions::find(&s.conditions, t).unwrap();
        (
            conditions::status_of(c),
            Reason::parse(&c.reason),
            c.message.clone(),
        )
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
        assert_eq!(condition(&s, ConditionType::Ready).0, Some(true));
        assert_eq!(
            conditions::find(&s.conditions, ConditionType::Ready)
                .and_then(|c| c.observed_generation),
            Some(4)
        );
        assert_eq!(
            condition(&s, ConditionType::DiversityAvailable).0,
            Some(true)
        );
        assert_eq!(s.zones.as_deref(), Some("blue,red"));
        assert_eq!(s.eligible_count, Some(2));
    }

    #[test]
    fn no_match_and_no_eligible_say_why() {
        let now = jiff::Timestamp::from_second(100).unwrap();
        let none = desired_status(&region(), &view(vec![]), now, now);
        assert_eq!(
            condition(&none, ConditionType::Ready).1,
            Some(Reason::NoMatchingOnRamps)
        );
        assert!(
            condition(&none, ConditionType::Ready)
                .2
                .contains("no Port of the provider matches")
        );
        assert_eq!(
            condition(&none, ConditionType::Stalled).0,
            Some(true),
            "selectors matching nothing need a human"
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
        let ready = condition(&blocked, ConditionType::Ready);
        assert_eq!(ready.1, Some(Reason::NoEligibleOnRamps));
        assert!(
            ready
                .2
                .contains("ny2: provisioningStatus is CONFIGURED, not LIVE"),
            "{}",
            ready.2
        );
        assert_eq!(
            condition(&blocked, ConditionType::DiversityAvailable).0,
            Some(false)
        );
        assert!(
            conditions::find(&blocked.conditions, ConditionType::Stalled).is_none(),
            "on-ramps that are not LIVE yet heal by themselves"
        );
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
        assert_eq!(condition(&s, ConditionType::Ready).0, Some(true));
        let d = condition(&s, ConditionType::DiversityAvailable);
        assert_eq!((d.0, d.1), (Some(false), Some(Reason::SingleZone)));
    }

    #[test]
    fn megaport_outage_shows_reconciling_and_recovery_clears_it() {
        let now = jiff::Timestamp::from_second(100).unwrap();
        let fresh = unavailable_status(
            &region(),
            "Megaport API GET /v2/products returned HTTP 503",
            now,
        );
        assert!(conditions::is_true(
            &fresh.conditions,
            ConditionType::Reconciling
        ));
        assert_eq!(
            condition(&fresh, ConditionType::Ready).1,
            Some(Reason::MegaportUnavailable)
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
        assert!(conditions::is_true(
            &s.conditions,
            ConditionType::Reconciling
        ));
        assert_eq!(
            condition(s, ConditionType::Ready).0,
            Some(true),
            "what was known stays"
        );
        assert_eq!(s.on_ramps.len(), 1);

        let recovered =
            desired_status(&outage, &view(vec![on_ramp("la1", "blue", None)]), now, now);
        assert!(conditions::find(&recovered.conditions, ConditionType::Reconciling).is_none());
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
        let mut b = b;
        b.last_sync_time = a.last_sync_time.clone();
        assert!(status::same(&a, &b), "only transition times differ");
        let c = desired_status(
            &region(),
            &view(vec![on_ramp("la1", "blue", Some("gone"))]),
            jiff::Timestamp::from_second(9).unwrap(),
            jiff::Timestamp::from_second(9).unwrap(),
        );
        assert!(!status::same(&a, &c));
    }
}
