//! The connections waiting on a request's keys: read from the shared products and keys
//! snapshots (no Megaport call per request), decided by the request's policy (or its
//! region's), each decision recorded on the request before the one `isApproved` call that
//! carries it out, announced with events and shown in status.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ListParams;
use kube::core::DeserializeGuard;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use super::ACTION;
use crate::approvals::{self, DecisionRecord, Manual, Outcome, Send, Verdict, Waiting};
use crate::controller::{Context, Error, Step, status};
use crate::crd::conditions::Reason;
use crate::crd::connection_approval::Decision;
use crate::crd::connections::{Connection, ConnectionPolicy, ConnectionState};
use crate::crd::{ConnectionApproval, OnRampRegion, ServiceKeyRequest};
use crate::delivery::fingerprint;
use crate::megaport::models::{EpochMillis, Product, ServiceKey, VxcUpdate};

/// The decisions people made on the request's connections (ConnectionApprovals naming it):
/// the first made per VXC (read only when a connection waits).
async fn decided_by_people(
    ctx: &Context,
    obj: &ServiceKeyRequest,
) -> Result<BTreeMap<String, Manual>, Error> {
    let api: Api<DeserializeGuard<ConnectionApproval>> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let listed = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube(Step::ReadApprovals, e))?;
    let mut approvals: Vec<ConnectionApproval> = listed
        .items
        .into_iter()
        .filter_map(|g| g.0.ok())
        .filter(|a| a.spec.request == obj.name_any())
        .collect();
    approvals.sort_by(|a, b| {
        let at = |x: &ConnectionApproval| x.metadata.creation_timestamp.as_ref().map(|t| t.0);
        (at(a), a.name_any()).cmp(&(at(b), b.name_any()))
    });
    let mut out = BTreeMap::new();
    for a in approvals {
        out.entry(a.spec.vxc_uid.clone()).or_insert(Manual {
            approve: a.spec.decision == Decision::Approve,
            by: a.spec.decided_by.clone(),
            reason: a.spec.reason.clone(),
        });
    }
    Ok(out)
}

/// The policy deciding the request's connections: its own, else its region's (read only when
/// a connection waits).
async fn policy(ctx: &Context, obj: &ServiceKeyRequest) -> Result<Option<ConnectionPolicy>, Error> {
    if let Some(policy) = &obj.spec.connections {
        return Ok(Some(policy.clone()));
    }
    let Some(region) = &obj.spec.region_ref else {
        return Ok(None);
    };
    let api: Api<DeserializeGuard<OnRampRegion>> = Api::all(ctx.client.clone());
    let region = api
        .get_opt(&region.name)
        .await
        .map_err(|e| Error::kube(Step::ReadRegion, e))?;
    Ok(region
        .and_then(|g| g.0.ok())
        .and_then(|r| r.spec.connections))
}

fn time(ms: Option<i64>) -> Option<Time> {
    ms.and_then(|ms| EpochMillis(ms).to_timestamp()).map(Time)
}

/// A waiting connection as status shows it.
fn entry(w: &Waiting<'_>, state: ConnectionState, reason: String) -> Connection {
    Connection {
        vxc_uid: w.vxc.product_uid.clone(),
        key: fingerprint(&w.key.key),
        company: w.vxc.company_name.clone(),
        company_uid: w.vxc.company_uid.clone(),
        rate_mbps: w.vxc.rate_limit,
        vlan: w.vlan(),
        requested_at: time(w.vxc.create_date.map(|c| c.0)),
        state,
        decided_by: None,
        decider: None,
        decided_at: None,
        reason: Some(reason),
    }
}

/// A decided connection as status shows it.
fn decided(r: &DecisionRecord, waiting: Option<&Waiting<'_>>) -> Connection {
    let state = match (r.outcome, r.approve) {
        (Outcome::Refused, _) => ConnectionState::Refused,
        // The answer is not known yet: still waiting, as far as anyone knows.
        (Outcome::Unknown, _) => ConnectionState::Pending,
        (Outcome::Sent, true) => ConnectionState::Approved,
        (Outcome::Sent, false) => ConnectionState::Rejected,
    };
    let mut c = match waiting {
        Some(w) => entry(w, state, r.reason.clone()),
        None => Connection {
            vxc_uid: r.vxc_uid.clone(),
            key: r.key.clone(),
            company: r.company.clone(),
            company_uid: None,
            rate_mbps: r.rate_mbps,
            vlan: r.vlan,
            requested_at: None,
            state,
            decided_by: None,
            decider: None,
            decided_at: None,
            reason: Some(r.reason.clone()),
        },
    };
    c.state = state;
    c.decided_by = Some(r.by);
    c.decider = Some(r.decider.clone());
    c.decided_at = time(Some(r.at));
    c
}

/// Records `records` on the request (and in memory first, so a lagging watch never makes it
/// send again).
async fn record(
    ctx: &Context,
    obj: &ServiceKeyRequest,
    records: &[DecisionRecord],
) -> Result<(), Error> {
    let uid = obj.uid().unwrap_or_default();
    ctx.decided(&uid, records);
    let annotations = approvals::decision_annotations(&uid, records, &ctx.seal);
    crate::controller::annotations::write(&ctx.client, obj, annotations, Step::SaveRecords).await?;
    Ok(())
}

/// Whether `vxc_uid` still waits in a products list read after `since_ms` (one shared list
/// per minute at most): a decision sent earlier did not take effect.
async fn still_waiting(ctx: &Context, vxc_uid: &str, since_ms: i64) -> Result<bool, Error> {
    let fresh = ctx
        .products
        .get_fresher_than(Duration::from_secs(60))
        .await
        .map_err(|e| Error::megaport(Step::ReadMegaport, e))?;
    if fresh.fetched_at_wall.as_millisecond() <= since_ms {
        return Ok(false);
    }
    Ok(fresh
        .items
        .iter()
        .flat_map(|p| p.associated_vxcs.iter())
        .any(|v| v.product_uid == vxc_uid && approvals::is_pending(v)))
}

/// Sends `decision` (recorded first, its outcome recorded after) and announces it. An error
/// leaves the outcome unknown (looked at again a minute later).
async fn send(
    ctx: &Context,
    obj: &ServiceKeyRequest,
    records: &mut Vec<DecisionRecord>,
    mut decision: DecisionRecord,
) -> Result<(), Error> {
    decision.outcome = Outcome::Unknown;
    keep(records, decision.clone());
    record(ctx, obj, records).await?;
    let update = VxcUpdate {
        is_approved: Some(decision.approve),
        ..VxcUpdate::default()
    };
    let verb = if decision.approve {
        "approved"
    } else {
        "rejected"
    };
    let (outcome, kind, reason, note) = match ctx.vxcs.update_vxc(&decision.vxc_uid, &update).await
    {
        Ok(_) => (
            Outcome::Sent,
            EventType::Normal,
            if decision.approve {
                Reason::ConnectionApproved
            } else {
                Reason::ConnectionRejected
            },
            format!(
                "{verb} VXC {} ({:?}: {}; {})",
                decision.vxc_uid, decision.by, decision.decider, decision.reason
            ),
        ),
        // Decided elsewhere (the Portal), gone, or not the operator's to answer: not resent.
        Err(e) if e.is_refusal() => (
            Outcome::Refused,
            EventType::Warning,
            Reason::ConnectionAnswerRefused,
            format!(
                "Megaport refused to have VXC {} {verb}: {e}",
                decision.vxc_uid
            ),
        ),
        Err(e) => return Err(Error::megaport(Step::Answer, e)),
    };
    decision.outcome = outcome;
    keep(records, decision);
    record(ctx, obj, records).await?;
    status::publish(ctx, obj, kind, reason, &note, ACTION).await;
    Ok(())
}

/// Puts `decision` first in `records` (the newest kept).
fn keep(records: &mut Vec<DecisionRecord>, decision: DecisionRecord) {
    records.retain(|r| r.vxc_uid != decision.vxc_uid);
    records.insert(0, decision);
    records.truncate(approvals::KEPT_DECISIONS);
}

/// What answering did: the connections as status shows them, the first failure (after the
/// others were answered), and when to look again (a deadline, an answer to confirm).
pub struct Answered {
    /// For status.
    pub shown: Vec<Connection>,
    /// The first answer that failed.
    pub error: Option<Error>,
    /// When something is due.
    pub next: Option<Duration>,
}

/// The decision for one waiting connection: sent when due, and what status shows of it.
async fn answer_one(
    ctx: &Context,
    obj: &ServiceKeyRequest,
    w: &Waiting<'_>,
    verdict: Verdict,
    records: &mut Vec<DecisionRecord>,
    now_ms: i64,
) -> Result<Connection, Error> {
    let uid = w.vxc.product_uid.clone();
    let recorded = records.iter().find(|r| r.vxc_uid == uid).cloned();
    let decision = match (
        approvals::send_state(records, &uid, now_ms),
        recorded,
        verdict,
    ) {
        (Send::First, _, Verdict::Wait(why)) => {
            return Ok(entry(w, ConnectionState::Pending, why));
        }
        (
            Send::First,
            _,
            Verdict::Decide {
                approve,
                by,
                decider,
                reason,
            },
        ) => DecisionRecord {
            vxc_uid: uid.clone(),
            approve,
            by,
            decider,
            reason,
            at: now_ms,
            outcome: Outcome::Unknown,
            key: fingerprint(&w.key.key),
            company: w.vxc.company_name.clone(),
            rate_mbps: w.vxc.rate_limit,
            vlan: w.vlan(),
        },
        // The recorded decision, never a new one.
        (Send::Unconfirmed, Some(r), _) if still_waiting(ctx, &uid, r.at).await? => {
            DecisionRecord { at: now_ms, ..r }
        }
        (_, Some(r), _) => return Ok(decided(&r, Some(w))),
        (_, None, _) => return Ok(entry(w, ConnectionState::Pending, String::new())),
    };
    send(ctx, obj, records, decision).await?;
    let r = records.iter().find(|r| r.vxc_uid == uid).cloned();
    Ok(r.map_or_else(
        || entry(w, ConnectionState::Pending, String::new()),
        |r| decided(&r, Some(w)),
    ))
}

/// Decides the connections waiting on `keys` (the request's) and sends each decision once.
pub async fn answer(
    ctx: &Context,
    obj: &ServiceKeyRequest,
    keys: &[ServiceKey],
    products: &[Product],
) -> Result<Answered, Error> {
    let uid = obj.uid().unwrap_or_default();
    let mut records = ctx
        .decisions_of(&uid)
        .unwrap_or_else(|| approvals::recorded_decisions(obj.annotations(), &uid, &ctx.seal));
    let on: Vec<&str> = keys.iter().map(|k| k.product_uid.as_str()).collect();
    let any = products
        .iter()
        .filter(|p| on.contains(&p.product_uid.as_str()))
        .any(|p| p.associated_vxcs.iter().any(approvals::is_pending));
    // The usual case: nothing waits, and the operator's whole key list is not read.
    let all = if any {
        ctx.keys.last().map(|s| s.items.all()).unwrap_or_default()
    } else {
        Vec::new()
    };
    let mine: Vec<String> = keys.iter().map(|k| fingerprint(&k.key)).collect();
    let waiting = approvals::waiting(&mine, products, &all);
    let (policy, people) = if waiting.is_empty() {
        (None, BTreeMap::new())
    } else {
        (policy(ctx, obj).await?, decided_by_people(ctx, obj).await?)
    };
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let mut answered = Answered {
        shown: Vec::new(),
        error: None,
        next: None,
    };
    for w in &waiting {
        let person = people.get(&w.vxc.product_uid);
        let verdict = approvals::verdict(policy.as_ref(), w, person, now_ms);
        let due = approvals::next_due(policy.as_ref(), w, &records, now_ms);
        answered.next = [answered.next, due].into_iter().flatten().min();
        match answer_one(ctx, obj, w, verdict, &mut records, now_ms).await {
            Ok(c) => answered.shown.push(c),
            Err(e) => {
                answered.shown.push(entry(
                    w,
                    ConnectionState::Pending,
                    format!("answer failed: {e}"),
                ));
                answered.error.get_or_insert(e);
            }
        }
    }
    let listed: Vec<&str> = waiting.iter().map(|w| w.vxc.product_uid.as_str()).collect();
    let rest = records
        .iter()
        .filter(|r| !listed.contains(&r.vxc_uid.as_str()));
    answered.shown.extend(rest.map(|r| decided(r, None)));
    Ok(answered)
}

/// Announces the connections of `now` that `obj`'s status did not show yet.
pub async fn announce_new(ctx: &Context, obj: &ServiceKeyRequest, now: &[Connection]) {
    let known = obj
        .status
        .as_ref()
        .map(|s| s.connections.as_slice())
        .unwrap_or_default();
    for c in now
        .iter()
        .filter(|c| !known.iter().any(|k| k.vxc_uid == c.vxc_uid))
    {
        let note = format!(
            "{} asks to connect VXC {} at {} Mbps on VLAN {} with key {}",
            c.company.as_deref().unwrap_or("a customer"),
            c.vxc_uid,
            c.rate_mbps
                .map_or_else(|| "?".to_owned(), |r| r.to_string()),
            c.vlan
                .map_or_else(|| "untagged".to_owned(), |v| v.to_string()),
            c.key,
        );
        status::publish(
            ctx,
            obj,
            EventType::Normal,
            Reason::ConnectionRequested,
            &note,
            ACTION,
        )
        .await;
    }
}
