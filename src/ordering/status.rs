//! The status of a SavedConfiguration (pure): its phase and the Ready / Reconciling / Stalled
//! conditions from where the order is, with the validation (quote or problems, keys seen) it
//! carries between checks.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::conditions::{self, ConditionType, Desired, Reason};
use crate::crd::saved_configuration::{
    ConfigurationPhase, KeySeen, OrderRefusal, OrderedService, Quote, SavedConfigurationStatus,
    ServiceProblem,
};

/// The last check and price of the design.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Validation {
    /// The generation checked.
    pub generation: Option<i64>,
    /// When.
    pub at: Option<Time>,
    /// Megaport's price (absent while there are problems).
    pub quote: Option<Quote>,
    /// What stands in the way of ordering.
    pub problems: Vec<ServiceProblem>,
    /// The service keys the VXCs use, as looked up.
    pub keys: Vec<KeySeen>,
}

impl Validation {
    /// The validation `status` carries.
    pub fn carried(status: Option<&SavedConfigurationStatus>) -> Self {
        status.map_or_else(Self::default, |s| Self {
            generation: s.validated_generation,
            at: s.validated_at.clone(),
            quote: s.quote.clone(),
            problems: s.problems.clone(),
            keys: s.service_keys.clone(),
        })
    }
}

/// Where the order is.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// Not ordered.
    Saved,
    /// Ordered; held by the problems.
    Held,
    /// Being bought (what is happening).
    Ordering(String),
    /// Megaport refused the order.
    Refused(OrderRefusal),
    /// A VXC waits for a person (why).
    Blocked(String),
    /// Bought, not all LIVE.
    Provisioning,
    /// Every service LIVE.
    Live,
    /// A bought service ended outside the operator (which).
    Lost(String),
}

/// What the status is made of.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    /// The validation, new or carried.
    pub validation: Validation,
    /// Where the order is.
    pub progress: Progress,
    /// The bought services.
    pub services: Vec<OrderedService>,
    /// How many services the design has.
    pub service_count: u32,
}

fn problems_text(problems: &[ServiceProblem]) -> String {
    let parts: Vec<String> = problems
        .iter()
        .map(|p| match &p.service {
            Some(s) => format!("{s}: {}", p.message),
            None => p.message.clone(),
        })
        .collect();
    parts.join("; ")
}

/// The phase and, besides Ready, the one of Reconciling / Stalled that is True.
fn phase(inputs: &Inputs) -> (ConfigurationPhase, Desired, Option<Desired>) {
    use ConditionType::{Ready, Reconciling, Stalled};
    use ConfigurationPhase as P;
    let v = &inputs.validation;
    let held = |why: &str| {
        let note = format!("{why}: {}", problems_text(&v.problems));
        (
            P::Invalid,
            Desired::no(Ready, Reason::DesignInvalid, &note),
            Some(Desired::yes(Stalled, Reason::DesignInvalid, note)),
        )
    };
    match &inputs.progress {
        Progress::Saved | Progress::Held if !v.problems.is_empty() => {
            held(if inputs.progress == Progress::Held {
                "ordered, but nothing is bought while the design has problems"
            } else {
                "the design cannot be ordered as it is"
            })
        }
        Progress::Saved | Progress::Held => match &v.quote {
            Some(q) => {
                let unpriced = if q.unpriced.is_empty() {
                    String::new()
                } else {
                    format!(" ({} priced once ordered)", q.unpriced.join(", "))
                };
                let note = format!(
                    "priced at {} {} a month{unpriced}; set order: true to order it (needs the order permission)",
                    q.monthly_total, q.currency
                );
                (P::Quoted, Desired::yes(Ready, Reason::Quoted, note), None)
            }
            None => {
                let note = "checking and pricing the design";
                (
                    P::Pending,
                    Desired::no(Ready, Reason::Validating, note),
                    Some(Desired::yes(Reconciling, Reason::Validating, note)),
                )
            }
        },
        Progress::Ordering(note) => (
            P::Ordering,
            Desired::no(Ready, Reason::Ordering, note),
            Some(Desired::yes(Reconciling, Reason::Ordering, note)),
        ),
        Progress::Refused(refusal) => (
            P::Failed,
            Desired::no(Ready, Reason::OrderRefused, &refusal.message),
            Some(Desired::yes(
                Stalled,
                Reason::OrderRefused,
                &refusal.message,
            )),
        ),
        Progress::Blocked(note) => (
            P::Ordering,
            Desired::no(Ready, Reason::OrderBlocked, note),
            Some(Desired::yes(Stalled, Reason::OrderBlocked, note)),
        ),
        Progress::Provisioning => {
            let note = provisioning_note(&inputs.services);
            (
                P::Provisioning,
                Desired::no(Ready, Reason::Provisioning, &note),
                Some(Desired::yes(Reconciling, Reason::Provisioning, note)),
            )
        }
        Progress::Lost(note) => (
            P::Failed,
            Desired::no(Ready, Reason::ServiceGone, note),
            Some(Desired::yes(Stalled, Reason::ServiceGone, note)),
        ),
        Progress::Live => {
            let note = format!("all {} services are LIVE", inputs.service_count);
            (P::Live, Desired::yes(Ready, Reason::Live, note), None)
        }
    }
}

fn provisioning_note(services: &[OrderedService]) -> String {
    let parts: Vec<String> = services
        .iter()
        .filter(|s| s.provisioning_status.as_deref() != Some("LIVE"))
        .map(|s| {
            let status = s.provisioning_status.as_deref().unwrap_or("not listed yet");
            match &s.approval {
                Some(_) => format!("{} {status}, waiting for the key owner's approval", s.name),
                None => format!("{} {status}", s.name),
            }
        })
        .collect();
    format!("provisioning: {}", parts.join(", "))
}

/// The status of a configuration at `generation` from `inputs` (conditions merged with
/// `previous`'s, so their transition times move only when they flip).
pub fn desired_status(
    previous: Option<&SavedConfigurationStatus>,
    generation: Option<i64>,
    inputs: &Inputs,
    now: jiff::Timestamp,
) -> SavedConfigurationStatus {
    let (phase, ready, follow) = phase(inputs);
    let mut desired = vec![ready];
    for type_ in [ConditionType::Reconciling, ConditionType::Stalled] {
        match &follow {
            Some(d) if d.type_ == type_ => desired.push(d.clone()),
            _ => desired.push(Desired::no(type_, Reason::Done, "")),
        }
    }
    let v = inputs.validation.clone();
    SavedConfigurationStatus {
        observed_generation: generation,
        phase: Some(phase),
        conditions: conditions::merge(
            previous
                .map(|p| p.conditions.as_slice())
                .unwrap_or_default(),
            &desired,
            generation,
            &Time(now),
        ),
        service_count: Some(inputs.service_count),
        validated_generation: v.generation,
        validated_at: v.at,
        quote: v.quote,
        problems: v.problems,
        service_keys: v.keys,
        services: inputs.services.clone(),
        order_refusal: match &inputs.progress {
            Progress::Refused(refusal) => Some(refusal.clone()),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::conditions::{find, is_true, reason_of};

    fn quote() -> Quote {
        Quote {
            services: Vec::new(),
            monthly_total: "1010.00".into(),
            currency: "USD".into(),
            validated_at: Time(jiff::Timestamp::UNIX_EPOCH),
            unpriced: Vec::new(),
        }
    }

    fn inputs(progress: Progress, quote: Option<Quote>, problems: Vec<ServiceProblem>) -> Inputs {
        Inputs {
            validation: Validation {
                generation: Some(1),
                at: Some(Time(jiff::Timestamp::UNIX_EPOCH)),
                quote,
                problems,
                keys: Vec::new(),
            },
            progress,
            services: vec![OrderedService {
                name: "to-provider".into(),
                product_uid: Some("v".into()),
                provisioning_status: Some("DEPLOYABLE".into()),
                approval: Some("PENDING_EXTERNAL".into()),
            }],
            service_count: 2,
        }
    }

    #[test]
    fn each_progress_has_its_phase_and_conditions() {
        use ConditionType::{Ready, Reconciling, Stalled};
        let problem = || {
            vec![ServiceProblem {
                service: Some("la-port".into()),
                message: "no billing market for Sweden".into(),
            }]
        };
        type Row = (
            Progress,
            Option<Quote>,
            Vec<ServiceProblem>,
            ConfigurationPhase,
            Reason,
            Option<ConditionType>,
        );
        let table: Vec<Row> = vec![
            (
                Progress::Saved,
                None,
                Vec::new(),
                ConfigurationPhase::Pending,
                Reason::Validating,
                Some(Reconciling),
            ),
            (
                Progress::Saved,
                Some(quote()),
                Vec::new(),
                ConfigurationPhase::Quoted,
                Reason::Quoted,
                None,
            ),
            (
                Progress::Saved,
                None,
                problem(),
                ConfigurationPhase::Invalid,
                Reason::DesignInvalid,
                Some(Stalled),
            ),
            (
                Progress::Held,
                None,
                problem(),
                ConfigurationPhase::Invalid,
                Reason::DesignInvalid,
                Some(Stalled),
            ),
            (
                Progress::Ordering("buying".into()),
                Some(quote()),
                Vec::new(),
                ConfigurationPhase::Ordering,
                Reason::Ordering,
                Some(Reconciling),
            ),
            (
                Progress::Refused(OrderRefusal {
                    generation: Some(1),
                    at: Time(jiff::Timestamp::UNIX_EPOCH),
                    message: "no".into(),
                }),
                Some(quote()),
                Vec::new(),
                ConfigurationPhase::Failed,
                Reason::OrderRefused,
                Some(Stalled),
            ),
            (
                Progress::Blocked("no key".into()),
                Some(quote()),
                Vec::new(),
                ConfigurationPhase::Ordering,
                Reason::OrderBlocked,
                Some(Stalled),
            ),
            (
                Progress::Provisioning,
                Some(quote()),
                Vec::new(),
                ConfigurationPhase::Provisioning,
                Reason::Provisioning,
                Some(Reconciling),
            ),
            (
                Progress::Live,
                Some(quote()),
                Vec::new(),
                ConfigurationPhase::Live,
                Reason::Live,
                None,
            ),
            (
                Progress::Lost("la-port is DECOMMISSIONED".into()),
                Some(quote()),
                Vec::new(),
                ConfigurationPhase::Failed,
                Reason::ServiceGone,
                Some(Stalled),
            ),
        ];
        for (progress, quote, problems, phase, reason, follow) in table {
            let case = format!("{progress:?}");
            let status = desired_status(
                None,
                Some(1),
                &inputs(progress, quote, problems),
                jiff::Timestamp::UNIX_EPOCH,
            );
            assert_eq!(status.phase, Some(phase), "{case}");
            assert_eq!(reason_of(&status.conditions, Ready), Some(reason), "{case}");
            let ready = matches!(phase, ConfigurationPhase::Quoted | ConfigurationPhase::Live);
            assert_eq!(is_true(&status.conditions, Ready), ready, "{case}");
            for type_ in [Reconciling, Stalled] {
                assert_eq!(
                    is_true(&status.conditions, type_),
                    follow == Some(type_),
                    "{case} {type_:?}"
                );
            }
            assert!(
                find(&status.conditions, Ready).is_some_and(|c| c.observed_generation == Some(1))
            );
        }
    }

    #[test]
    fn messages_say_what_to_do_and_what_waits() {
        let q = desired_status(
            None,
            Some(1),
            &inputs(Progress::Saved, Some(quote()), Vec::new()),
            jiff::Timestamp::UNIX_EPOCH,
        );
        let ready = find(&q.conditions, ConditionType::Ready).map(|c| c.message.clone());
        assert_eq!(
            ready.as_deref(),
            Some(
                "priced at 1010.00 USD a month; set order: true to order it (needs the order permission)"
            )
        );
        let p = desired_status(
            None,
            Some(1),
            &inputs(Progress::Provisioning, Some(quote()), Vec::new()),
            jiff::Timestamp::UNIX_EPOCH,
        );
        let note = find(&p.conditions, ConditionType::Reconciling).map(|c| c.message.clone());
        assert_eq!(
            note.as_deref(),
            Some("provisioning: to-provider DEPLOYABLE, waiting for the key owner's approval")
        );
    }
}
