//! Move-in (seed ⑧ 5.1): unit enters a batch → handover fees charged → the batch's plan
//! approved → the move-in notice sent on the batch's notice date (a durable timer; at once when
//! the date has passed), by post and by SMS → wait for BOTH the fees settled AND the inspection
//! passed, in either order → clearance → keys.
//!
//! Issues the owner raises at an inspection that are not defects of the unit (the estate, a fee
//! dispute…) open a complaint each (seed ⑧ 5.1.11).
//!
//! A failed inspection opens a repair request per defect with maintenance; once maintenance has
//! closed them all, the owner is asked back for the next inspection round; the loop ends when a
//! round passes. Fees unpaid three days before the
//! window raise a reminder, then one a week. Keys are released by handover only for a unit this
//! flow cleared; handover itself refuses otherwise.

use anju_kit::time::ProjectZone;
use anju_messaging::Event;
use anju_proto::{
    EventPayload,
    events::{
        InspectionRecorded, KeysReleased, MoveInNoticeScheduled, RepairRequestClosed,
        SettlementGroupSettled, UnitAddedToBatch,
    },
    finance::{self, ChargePurpose},
    handover,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::timestamp;
use crate::engine::{Command, Flow, Route, Transition};

pub struct MoveInFlow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for the fees, the inspection, or both.
    Waiting,
    /// Both hold: clearance sent to handover.
    Cleared,
    KeysReleased,
    Cancelled,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub unit_id: String,
    pub project_id: String,
    pub batch_id: String,
    pub fees_settled: bool,
    pub inspection_passed: bool,
    pub failed_rounds: i32,
    pub window_start: DateTime<Utc>,
    pub stage: Stage,
    /// The fee list the notices carry: what this flow charged in finance.
    #[serde(default)]
    pub fees: Vec<Fee>,
    /// Defects of failed rounds whose repair requests maintenance has not closed yet.
    #[serde(default)]
    pub open_repairs: Vec<String>,
    /// The move-in notice went out (sagas of earlier releases sent it at their start).
    #[serde(default = "sent_before")]
    pub notice_sent: bool,
    /// When the notice goes out, once the batch's plan is approved.
    #[serde(default)]
    pub notice_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub customer_id: String,
}

fn sent_before() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fee {
    pub purpose: String,
    pub minor_units: i64,
    pub currency: String,
    pub due_on: String,
    pub charge_key: String,
}

impl State {
    fn group(&self) -> String {
        format!("handover:{}", self.unit_id)
    }

    fn at(&self, stage: Stage) -> Self {
        Self {
            stage,
            ..self.clone()
        }
    }

    /// Clears the unit once both conditions hold; otherwise records what changed.
    fn advance(self, note: &str) -> Transition<State> {
        if self.fees_settled && self.inspection_passed {
            let unit_id = self.unit_id.clone();
            Transition::to(
                self.at(Stage::Cleared),
                format!("{note}: fees settled and inspection passed, keys cleared"),
            )
            .cancel_timer("fees_reminder")
            .send(Command::GrantKeyClearance(
                handover::GrantKeyClearanceRequest {
                    request_id: String::new(),
                    unit_id,
                },
            ))
        } else {
            let waiting = self.waiting_for().replace('_', " ");
            Transition::to(self, format!("{note}; {waiting}"))
        }
    }

    /// The move-in notice goes out by post, as the seed asks (its tracking number is recorded
    /// at the counter), and by SMS; then the fees reminder is due three days before the window.
    fn send_notice(self, note: &str) -> Transition<State> {
        let reminder = (self.window_start - chrono::Duration::days(3))
            .max(Utc::now() + chrono::Duration::days(1));
        let mut next = self;
        next.notice_sent = true;
        let (post, sms) = (
            next.notice_on("notice", "post"),
            next.notice_on("notice", "sms"),
        );
        Transition::to(next, note.to_string())
            .send(post)
            .send(sms)
            .timer("fees_reminder", reminder)
    }

    /// A notice to the owner by SMS; the move-in notice and the reminders carry the fee list.
    fn notice(&self, kind: &str) -> Command {
        self.notice_on(kind, "sms")
    }

    fn notice_on(&self, kind: &str, channel: &str) -> Command {
        let fees = if kind == "reinspection" {
            Vec::new()
        } else {
            self.fees
                .iter()
                .map(|f| handover::NoticeFee {
                    purpose: f.purpose.clone(),
                    amount: Some(anju_proto::common::Money {
                        minor_units: f.minor_units,
                        currency: f.currency.clone(),
                    }),
                    due_on: f.due_on.clone(),
                    charge_key: f.charge_key.clone(),
                })
                .collect()
        };
        Command::RecordNotice(handover::RecordNoticeRequest {
            request_id: String::new(),
            unit_id: self.unit_id.clone(),
            kind: kind.into(),
            channel: channel.into(),
            fees,
        })
    }

    /// What the unit still waits for, as the operator's state name.
    fn waiting_for(&self) -> &'static str {
        let inspection = if self.inspection_passed {
            None
        } else if !self.open_repairs.is_empty() {
            Some("repairs")
        } else if self.failed_rounds > 0 {
            Some("reinspection")
        } else {
            Some("inspection")
        };
        match (self.fees_settled, inspection) {
            (false, None) => "awaiting_fees",
            (false, Some("repairs")) => "awaiting_fees_and_repairs",
            (false, Some("reinspection")) => "awaiting_fees_and_reinspection",
            (false, Some(_)) => "awaiting_fees_and_inspection",
            (true, Some("repairs")) => "awaiting_repairs",
            (true, Some("reinspection")) => "awaiting_reinspection",
            _ => "awaiting_inspection",
        }
    }
}

fn unit_of(event: &Event) -> Option<String> {
    if event.is::<UnitAddedToBatch>() {
        return Some(event.decode::<UnitAddedToBatch>().ok()?.unit_id);
    }
    if event.is::<InspectionRecorded>() {
        return Some(event.decode::<InspectionRecorded>().ok()?.unit_id);
    }
    if event.is::<KeysReleased>() {
        return Some(event.decode::<KeysReleased>().ok()?.unit_id);
    }
    if event.is::<MoveInNoticeScheduled>() {
        return Some(event.decode::<MoveInNoticeScheduled>().ok()?.unit_id);
    }
    if event.is::<RepairRequestClosed>() {
        // Only the repairs this flow asked for; an owner's own repair request is not a move-in.
        let closed: RepairRequestClosed = event.decode().ok()?;
        return (closed.source == "inspection").then_some(closed.unit_id);
    }
    let settled: SettlementGroupSettled = event.decode().ok()?;
    settled
        .settlement_group
        .strip_prefix("handover:")
        .map(str::to_string)
}

impl Flow for MoveInFlow {
    const NAME: &'static str = "move_in";
    type State = State;
    const EVENTS: &'static [&'static str] = &[
        UnitAddedToBatch::EVENT_TYPE,
        InspectionRecorded::EVENT_TYPE,
        KeysReleased::EVENT_TYPE,
        SettlementGroupSettled::EVENT_TYPE,
        RepairRequestClosed::EVENT_TYPE,
        MoveInNoticeScheduled::EVENT_TYPE,
    ];

    fn route(&self, event: &Event) -> Option<Route> {
        let key = unit_of(event)?;
        let starts = event.is::<UnitAddedToBatch>();
        let project_id = starts
            .then(|| event.decode::<UnitAddedToBatch>().ok())
            .flatten()
            .and_then(|e| Uuid::parse_str(&e.project_id).ok());
        Some(Route {
            key,
            starts,
            project_id,
        })
    }

    fn start(&self, event: &Event) -> anyhow::Result<Transition<State>> {
        let e: UnitAddedToBatch = event.decode()?;
        let window = NaiveDate::parse_from_str(&e.window_start, "%Y-%m-%d")?;
        // Midnight at the start of the window, in the project's time zone.
        let window_start = ProjectZone::or_default(&e.time_zone).start_of(window);
        let fee = |part: &str, amount: &Option<anju_proto::common::Money>| {
            amount.as_ref().filter(|m| m.minor_units > 0).map(|m| Fee {
                purpose: part.to_string(),
                minor_units: m.minor_units,
                currency: m.currency.clone(),
                due_on: e.window_start.clone(),
                charge_key: format!("handover:{}:{part}", e.unit_id),
            })
        };
        let state = State {
            unit_id: e.unit_id.clone(),
            project_id: e.project_id.clone(),
            batch_id: e.batch_id.clone(),
            fees_settled: false,
            inspection_passed: false,
            failed_rounds: 0,
            window_start,
            stage: Stage::Waiting,
            fees: [
                fee("property_fee", &e.property_fee),
                fee("maintenance_fund", &e.maintenance_fund),
            ]
            .into_iter()
            .flatten()
            .collect(),
            open_repairs: Vec::new(),
            notice_sent: false,
            notice_at: None,
            customer_id: e.customer_id.clone(),
        };
        let charge =
            |part: &str, purpose: ChargePurpose, amount: Option<anju_proto::common::Money>| {
                Command::IssueCharge(finance::IssueChargeRequest {
                    request_id: String::new(),
                    project_id: e.project_id.clone(),
                    unit_id: e.unit_id.clone(),
                    payer_id: e.customer_id.clone(),
                    purpose: purpose as i32,
                    amount,
                    business_key: format!("handover:{}:{part}", e.unit_id),
                    due_at: Some(timestamp(window_start)),
                    settlement_group: state.group(),
                    direction: finance::ChargeDirection::Receivable as i32,
                    building_id: String::new(),
                })
            };
        Ok(Transition::to(
            state.clone(),
            "unit in a handover batch: fees charged; the notice waits for the batch's plan",
        )
        .send(charge(
            "property_fee",
            ChargePurpose::PropertyFee,
            e.property_fee.clone(),
        ))
        .send(charge(
            "maintenance_fund",
            ChargePurpose::MaintenanceFund,
            e.maintenance_fund.clone(),
        ))
        .deadline(window_start + chrono::Duration::days(30)))
    }

    fn on_event(&self, state: &State, event: &Event) -> anyhow::Result<Option<Transition<State>>> {
        match state.stage {
            Stage::Waiting => {}
            Stage::Cleared if event.is::<KeysReleased>() => {
                return Ok(Some(Transition::to(
                    state.at(Stage::KeysReleased),
                    "keys handed over, signed by the owner",
                )));
            }
            _ => return Ok(None),
        }
        if event.is::<MoveInNoticeScheduled>() && !state.notice_sent {
            let e: MoveInNoticeScheduled = event.decode()?;
            let at = e
                .notice_at
                .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
                .unwrap_or_else(Utc::now);
            let mut next = state.clone();
            next.notice_at = Some(at);
            return Ok(Some(
                Transition::to(
                    next,
                    format!(
                        "batch plan approved: move-in notice due at {}",
                        at.to_rfc3339()
                    ),
                )
                .timer("notice", at),
            ));
        }
        if event.is::<SettlementGroupSettled>() && !state.fees_settled {
            let mut next = state.clone();
            next.fees_settled = true;
            return Ok(Some(next.advance("handover fees settled")));
        }
        if event.is::<InspectionRecorded>() && !state.inspection_passed {
            let e: InspectionRecorded = event.decode()?;
            let complaints = e.issues.iter().map(|issue| complaint(state, &e, issue));
            let mut next = state.clone();
            if e.passed {
                // Accepted: defects the owner listed are repaired after the keys, holding
                // nothing back.
                next.inspection_passed = true;
                let mut t = next.advance(&format!(
                    "inspection round {} passed{}{}",
                    e.round,
                    if e.defects.is_empty() {
                        String::new()
                    } else {
                        format!("; {} defect(s) to repair after the keys", e.defects.len())
                    },
                    raised(e.issues.len())
                ));
                for c in complaints.chain(e.defects.iter().map(|d| repair(&e, d))) {
                    t = t.send(c);
                }
                return Ok(Some(t));
            }
            next.failed_rounds += 1;
            next.open_repairs
                .extend(e.defects.iter().map(|d| d.defect_id.clone()));
            let mut t = Transition::to(
                next,
                if e.defects.is_empty() {
                    format!(
                        "inspection round {}: the owner refused, no defect to repair; the next round awaited{}",
                        e.round,
                        raised(e.issues.len())
                    )
                } else {
                    format!(
                        "inspection round {} failed: {} defect(s) sent to maintenance, their repairs awaited{}",
                        e.round,
                        e.defects.len(),
                        raised(e.issues.len())
                    )
                },
            );
            for c in complaints {
                t = t.send(c);
            }
            for defect in &e.defects {
                t = t.send(repair(&e, defect));
            }
            return Ok(Some(t));
        }
        if event.is::<RepairRequestClosed>() && !state.inspection_passed {
            let e: RepairRequestClosed = event.decode()?;
            if !state.open_repairs.contains(&e.reference) {
                return Ok(None);
            }
            let mut next = state.clone();
            next.open_repairs.retain(|r| *r != e.reference);
            if !next.open_repairs.is_empty() {
                let note = format!(
                    "repair closed by maintenance ({}); {} still open",
                    e.resolution,
                    next.open_repairs.len()
                );
                return Ok(Some(Transition::to(next, note)));
            }
            let notice = next.notice("reinspection");
            return Ok(Some(
                Transition::to(
                    next,
                    format!(
                        "repair closed by maintenance ({}): all repaired, owner asked back for re-inspection round {}",
                        e.resolution,
                        state.failed_rounds + 1
                    ),
                )
                .send(notice),
            ));
        }
        Ok(None)
    }

    fn on_timer(&self, state: &State, timer: &str) -> Option<Transition<State>> {
        if timer == "notice" {
            return (state.stage == Stage::Waiting && !state.notice_sent).then(|| {
                state
                    .clone()
                    .send_notice("the notice date: move-in notice sent by post and SMS")
            });
        }
        (timer == "fees_reminder"
            && state.stage == Stage::Waiting
            && !state.fees_settled
            && state.notice_sent)
            .then(|| {
                Transition::to(state.clone(), "handover fees still unpaid: reminder sent")
                    .send(state.notice("reminder"))
                    .timer("fees_reminder", Utc::now() + chrono::Duration::days(7))
            })
    }

    fn on_cancel(&self, state: &State) -> Transition<State> {
        Transition::to(
            state.at(Stage::Cancelled),
            "cancelled: handover fees closed, paid fees owed back",
        )
        .send(Command::CloseSettlementGroup(
            finance::CloseSettlementGroupRequest {
                request_id: String::new(),
                settlement_group: state.group(),
                refund_bp: 10_000,
                reason: "move-in cancelled by an operator".into(),
                interest_bp: 0,
            },
        ))
    }

    fn state_name(state: &State) -> &'static str {
        match state.stage {
            Stage::Waiting => state.waiting_for(),
            Stage::Cleared => "cleared",
            Stage::KeysReleased => "keys_released",
            Stage::Cancelled => "cancelled",
        }
    }

    fn is_terminal(state: &State) -> bool {
        matches!(state.stage, Stage::KeysReleased | Stage::Cancelled)
    }
}

mod inspection;

use inspection::{complaint, raised, repair};

#[cfg(test)]
mod tests;
