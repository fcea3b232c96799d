//! Complaint (seed ④ 4.6, DOMAIN.md §4), one saga per complaint: recorded → routed; routed to
//! maintenance, a repair request is opened in maintenance for the round and followed — opened,
//! then signed off by its four parties — each reported back to complaints, whose rule resolves
//! the complaint on the sign-off → follow-up → closed, or reopened (a new round, a new repair).
//! Its clocks' warnings and breaches are kept in the saga's history.
//!
//! The repair's reference is `complaint:<complaint_id>:<round>`, so a late event of an earlier
//! round is told apart and changes nothing; complaints itself also ignores a report about an
//! earlier round.

use anju_messaging::Event;
use anju_proto::{
    EventPayload, complaints,
    events::{
        ComplaintClockBreached, ComplaintClockWarned, ComplaintClosed, ComplaintFollowedUp,
        ComplaintRecorded, ComplaintResolved, ComplaintRouted, RepairRequestClosed,
        RepairRequested,
    },
    maintenance,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::engine::{Command, Flow, Route, Transition};

pub struct ComplaintFlow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Open,
    Resolved,
    Closed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub complaint_id: String,
    pub project_id: String,
    pub unit_id: String,
    pub category: String,
    pub queue: String,
    pub round: i32,
    /// The latest round a repair was asked for.
    pub repair_asked_round: i32,
    pub repair_request_id: String,
    pub repair_closed: bool,
    pub warnings: u32,
    pub breaches: u32,
    pub stage: Stage,
}

const MAINTENANCE: &str = "maintenance";
/// The repair source maintenance names a complaint's repairs by.
const SOURCE: &str = "complaint";

/// The reference the coordinator gives a complaint's repair request.
pub fn repair_reference(complaint_id: &str, round: i32) -> String {
    format!("complaint:{complaint_id}:{round}")
}

/// (complaint id, round) of a repair the coordinator opened for a complaint.
fn of_reference(reference: &str) -> Option<(String, i32)> {
    let rest = reference.strip_prefix("complaint:")?;
    let (id, round) = rest.rsplit_once(':')?;
    Uuid::parse_str(id).ok()?;
    Some((id.to_string(), round.parse().ok()?))
}

fn complaint_of(event: &Event) -> Option<String> {
    macro_rules! complaint {
        ($($t:ty),*) => {
            $(if event.is::<$t>() {
                return event.decode::<$t>().ok().map(|e| e.complaint_id);
            })*
        };
    }
    complaint!(
        ComplaintRecorded,
        ComplaintRouted,
        ComplaintResolved,
        ComplaintFollowedUp,
        ComplaintClosed,
        ComplaintClockWarned,
        ComplaintClockBreached
    );
    // Only the repairs this flow opened: source "complaint" with its reference (maintenance
    // takes that reference from the coordinator alone).
    if event.is::<RepairRequested>() {
        let e: RepairRequested = event.decode().ok()?;
        return (e.source == SOURCE)
            .then(|| of_reference(&e.reference).map(|(id, _)| id))
            .flatten();
    }
    if event.is::<RepairRequestClosed>() {
        let e: RepairRequestClosed = event.decode().ok()?;
        return (e.source == SOURCE)
            .then(|| of_reference(&e.reference).map(|(id, _)| id))
            .flatten();
    }
    None
}

impl State {
    fn progress(&self, repair_request_id: &str, closed: bool, resolution: String) -> Command {
        Command::RecordRepairProgress(complaints::RecordRepairProgressRequest {
            request_id: String::new(),
            complaint_id: self.complaint_id.clone(),
            round: self.round,
            repair_request_id: repair_request_id.to_string(),
            closed,
            resolution,
        })
    }
}

impl Flow for ComplaintFlow {
    const NAME: &'static str = "complaint";
    type State = State;
    const EVENTS: &'static [&'static str] = &[
        ComplaintRecorded::EVENT_TYPE,
        ComplaintRouted::EVENT_TYPE,
        ComplaintResolved::EVENT_TYPE,
        ComplaintFollowedUp::EVENT_TYPE,
        ComplaintClosed::EVENT_TYPE,
        ComplaintClockWarned::EVENT_TYPE,
        ComplaintClockBreached::EVENT_TYPE,
        RepairRequested::EVENT_TYPE,
        RepairRequestClosed::EVENT_TYPE,
    ];

    fn route(&self, event: &Event) -> Option<Route> {
        let key = complaint_of(event)?;
        let start = event
            .is::<ComplaintRecorded>()
            .then(|| event.decode::<ComplaintRecorded>().ok())
            .flatten();
        Some(Route {
            key,
            starts: start.is_some(),
            project_id: start.and_then(|e| Uuid::parse_str(&e.project_id).ok()),
        })
    }

    fn start(&self, event: &Event) -> anyhow::Result<Transition<State>> {
        let e: ComplaintRecorded = event.decode()?;
        let state = State {
            complaint_id: e.complaint_id,
            project_id: e.project_id,
            unit_id: e.unit_id,
            category: e.category.clone(),
            queue: String::new(),
            round: 1,
            repair_asked_round: 0,
            repair_request_id: String::new(),
            repair_closed: false,
            warnings: 0,
            breaches: 0,
            stage: Stage::Open,
        };
        let repeat = if e.repeat_of.is_empty() {
            String::new()
        } else {
            format!(", repeating {}", e.repeat_of)
        };
        Ok(Transition::to(
            state,
            format!(
                "{} complaint recorded ({}, by {}){repeat}",
                e.category, e.severity, e.channel
            ),
        ))
    }

    fn on_event(&self, state: &State, event: &Event) -> anyhow::Result<Option<Transition<State>>> {
        if state.stage == Stage::Closed {
            return Ok(None);
        }
        let mut next = state.clone();
        if event.is::<ComplaintRouted>() {
            let e: ComplaintRouted = event.decode()?;
            // An earlier round's, or this round's once resolved (the complaint moves on only by
            // a reopen, which routes the next round).
            if e.round < state.round || (e.round == state.round && state.stage != Stage::Open) {
                return Ok(None);
            }
            next.queue = e.queue.clone();
            if e.round > state.round {
                next.round = e.round;
                next.repair_request_id = String::new();
                next.repair_closed = false;
                next.stage = Stage::Open;
            }
            if e.queue != MAINTENANCE || state.repair_asked_round >= e.round {
                return Ok(Some(Transition::to(
                    next,
                    format!("routed to {} (round {})", e.queue, e.round),
                )));
            }
            next.repair_asked_round = e.round;
            let repair = Command::CreateRepairRequest(maintenance::CreateRepairRequestRequest {
                request_id: String::new(),
                project_id: e.project_id.clone(),
                unit_id: e.unit_id.clone(),
                source: maintenance::RepairSource::Complaint as i32,
                category: "complaint".into(),
                description: e.text.clone(),
                contractor_id: String::new(),
                reference: repair_reference(&e.complaint_id, e.round),
                ..Default::default()
            });
            return Ok(Some(
                Transition::to(
                    next,
                    format!(
                        "routed to maintenance (round {}): repair request asked for",
                        e.round
                    ),
                )
                .send(repair),
            ));
        }
        if event.is::<RepairRequested>() {
            let e: RepairRequested = event.decode()?;
            let round = of_reference(&e.reference).map(|(_, r)| r);
            if round != Some(state.round) || !state.repair_request_id.is_empty() {
                return Ok(None);
            }
            next.repair_request_id = e.repair_request_id.clone();
            let report = next.progress(&e.repair_request_id, false, String::new());
            return Ok(Some(
                Transition::to(
                    next,
                    format!(
                        "repair request {} opened; its sign-off awaited",
                        e.repair_request_id
                    ),
                )
                .send(report),
            ));
        }
        if event.is::<RepairRequestClosed>() {
            let e: RepairRequestClosed = event.decode()?;
            let round = of_reference(&e.reference).map(|(_, r)| r);
            let other = !state.repair_request_id.is_empty()
                && state.repair_request_id != e.repair_request_id;
            if round != Some(state.round) || state.repair_closed || other {
                return Ok(None);
            }
            next.repair_request_id = e.repair_request_id.clone();
            next.repair_closed = true;
            let report = next.progress(&e.repair_request_id, true, e.resolution.clone());
            return Ok(Some(
                Transition::to(next, "repair signed off: the complaint is resolved by it")
                    .send(report),
            ));
        }
        if event.is::<ComplaintResolved>() {
            let e: ComplaintResolved = event.decode()?;
            if e.round != state.round || state.stage != Stage::Open {
                return Ok(None);
            }
            next.stage = Stage::Resolved;
            return Ok(Some(Transition::to(
                next,
                "resolved; the follow-up visit is due",
            )));
        }
        if event.is::<ComplaintFollowedUp>() {
            let e: ComplaintFollowedUp = event.decode()?;
            if e.round != state.round {
                return Ok(None);
            }
            let note = if e.reopened {
                format!(
                    "followed up: satisfaction {}/5, unsatisfied — reopened as round {}",
                    e.satisfaction,
                    e.round + 1
                )
            } else {
                format!("followed up: satisfaction {}/5", e.satisfaction)
            };
            return Ok(Some(Transition::to(next, note)));
        }
        if event.is::<ComplaintClosed>() {
            next.stage = Stage::Closed;
            return Ok(Some(Transition::to(next, "closed")));
        }
        if event.is::<ComplaintClockWarned>() {
            let e: ComplaintClockWarned = event.decode()?;
            next.warnings += 1;
            return Ok(Some(Transition::to(
                next,
                format!(
                    "{} clock at risk (round {}), due {}",
                    e.target, e.round, e.due_at
                ),
            )));
        }
        if event.is::<ComplaintClockBreached>() {
            let e: ComplaintClockBreached = event.decode()?;
            next.breaches += 1;
            return Ok(Some(Transition::to(
                next,
                format!(
                    "{} clock breached (round {}, due {}): escalated to {}",
                    e.target, e.round, e.due_at, e.escalated_to
                ),
            )));
        }
        Ok(None)
    }

    fn on_timer(&self, _state: &State, _timer: &str) -> Option<Transition<State>> {
        None
    }

    fn on_cancel(&self, state: &State) -> Transition<State> {
        Transition::to(
            State {
                stage: Stage::Closed,
                ..state.clone()
            },
            "cancelled by an operator: the complaint and its repair are left as they are",
        )
    }

    fn state_name(state: &State) -> &'static str {
        match state.stage {
            Stage::Open if state.repair_asked_round == state.round && !state.repair_closed => {
                "awaiting_repair"
            }
            Stage::Open => "open",
            Stage::Resolved => "awaiting_follow_up",
            Stage::Closed => "closed",
        }
    }

    fn is_terminal(state: &State) -> bool {
        state.stage == Stage::Closed
    }
}

#[cfg(test)]
mod tests;
