//! Move-in (seed ⑧ 5.1): unit enters a batch → handover fees charged → notice sent → wait for
//! BOTH the fees settled AND the inspection passed, in either order → clearance → keys.
//!
//! A failed inspection opens a repair request per defect with maintenance and waits for the
//! next inspection round; the loop ends when a round passes. Fees unpaid three days before the
//! window raise a reminder, then one a week. Keys are released by handover only for a unit this
//! flow cleared; handover itself refuses otherwise.

use anju_messaging::Event;
use anju_proto::{
    EventPayload,
    events::{InspectionRecorded, KeysReleased, SettlementGroupSettled, UnitAddedToBatch},
    finance::{self, ChargePurpose},
    handover, maintenance,
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
            let waiting = match (self.fees_settled, self.inspection_passed) {
                (false, false) => "waiting for the fees and the inspection",
                (false, true) => "waiting for the fees",
                _ => "waiting for the inspection",
            };
            Transition::to(self, format!("{note}; {waiting}"))
        }
    }

    fn notice(&self, kind: &str) -> Command {
        Command::RecordNotice(handover::RecordNoticeRequest {
            request_id: String::new(),
            unit_id: self.unit_id.clone(),
            kind: kind.into(),
            channel: "sms".into(),
        })
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
        // Midnight at the start of the window, project time (UTC+8).
        let window_start =
            window.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() - chrono::Duration::hours(8);
        let state = State {
            unit_id: e.unit_id.clone(),
            project_id: e.project_id.clone(),
            batch_id: e.batch_id.clone(),
            fees_settled: false,
            inspection_passed: false,
            failed_rounds: 0,
            window_start,
            stage: Stage::Waiting,
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
                })
            };
        let reminder =
            (window_start - chrono::Duration::days(3)).max(Utc::now() + chrono::Duration::days(1));
        Ok(Transition::to(
            state.clone(),
            "unit in a handover batch: fees charged, move-in notice sent",
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
        .send(state.notice("notice"))
        .timer("fees_reminder", reminder)
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
        if event.is::<SettlementGroupSettled>() && !state.fees_settled {
            let mut next = state.clone();
            next.fees_settled = true;
            return Ok(Some(next.advance("handover fees settled")));
        }
        if event.is::<InspectionRecorded>() && !state.inspection_passed {
            let e: InspectionRecorded = event.decode()?;
            let mut next = state.clone();
            if e.passed {
                next.inspection_passed = true;
                return Ok(Some(
                    next.advance(&format!("inspection round {} passed", e.round)),
                ));
            }
            next.failed_rounds += 1;
            let mut t = Transition::to(
                next,
                format!(
                    "inspection round {} failed: {} defect(s) sent to maintenance, re-inspection awaited",
                    e.round,
                    e.defects.len()
                ),
            );
            for defect in &e.defects {
                t = t.send(Command::CreateRepairRequest(
                    maintenance::CreateRepairRequestRequest {
                        request_id: String::new(),
                        project_id: e.project_id.clone(),
                        unit_id: e.unit_id.clone(),
                        source: maintenance::RepairSource::Inspection as i32,
                        category: defect.category.clone(),
                        description: format!(
                            "{} ({}, {}): {}",
                            defect.room, defect.severity, defect.defect_id, defect.description
                        ),
                        contractor_id: String::new(),
                    },
                ));
            }
            return Ok(Some(t));
        }
        Ok(None)
    }

    fn on_timer(&self, state: &State, timer: &str) -> Option<Transition<State>> {
        (timer == "fees_reminder" && state.stage == Stage::Waiting && !state.fees_settled).then(
            || {
                Transition::to(state.clone(), "handover fees still unpaid: reminder sent")
                    .send(state.notice("reminder"))
                    .timer("fees_reminder", Utc::now() + chrono::Duration::days(7))
            },
        )
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
            },
        ))
    }

    fn state_name(state: &State) -> &'static str {
        match state.stage {
            Stage::Waiting => match (state.fees_settled, state.inspection_passed) {
                (false, false) => "awaiting_fees_and_inspection",
                (false, true) => "awaiting_fees",
                _ => "awaiting_inspection",
            },
            Stage::Cleared => "cleared",
            Stage::KeysReleased => "keys_released",
            Stage::Cancelled => "cancelled",
        }
    }

    fn is_terminal(state: &State) -> bool {
        matches!(state.stage, Stage::KeysReleased | Stage::Cancelled)
    }
}
