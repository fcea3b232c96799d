//! Contract: signed → down payment and schedule charged → down payment settled.
//! Cancellation (at any time, also after the down payment) is a flow of its own: it closes
//! every settlement group of the contract, cancelling unpaid charges and refunding the
//! project's share of what was paid.

use anju_kit::time::ProjectZone;
use anju_messaging::Event;
use anju_proto::{
    EventPayload,
    events::{ContractCancelled, ContractSigned, SettlementGroupSettled},
    finance::{self, ChargePurpose},
};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{group_parts, timestamp};
use crate::engine::{Command, Flow, Route, Transition};

pub struct ContractFlow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    AwaitingDownPayment,
    DownPaymentSettled,
    Cancelled,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub contract_id: String,
    pub unit_id: String,
    /// The settlement groups the contract's charges were issued in.
    pub groups: Vec<String>,
    pub stage: Stage,
}

impl State {
    fn at(&self, stage: Stage) -> Self {
        Self {
            stage,
            ..self.clone()
        }
    }
}

/// The settlement groups a contract's charges may be issued in.
pub const GROUPS: [&str; 3] = ["down_payment", "instalments", "loan"];

/// How much of what was paid is owed back: a share, and for a rescission yearly interest.
#[derive(Clone, Copy)]
struct Refund {
    bp: i32,
    interest_bp: i32,
}

fn close<S>(t: Transition<S>, group: String, refund: Refund, reason: &str) -> Transition<S> {
    t.send(Command::CloseSettlementGroup(
        finance::CloseSettlementGroupRequest {
            request_id: String::new(),
            settlement_group: group,
            refund_bp: refund.bp,
            reason: reason.into(),
            interest_bp: refund.interest_bp,
        },
    ))
}

fn close_groups<S>(
    mut t: Transition<S>,
    contract_id: &str,
    refund: Refund,
    reason: &str,
) -> Transition<S> {
    for part in GROUPS {
        t = close(t, format!("contract:{contract_id}:{part}"), refund, reason);
    }
    t
}

/// A payment due on `on` is due until that day ends in the project.
fn due(on: &str, zone: ProjectZone) -> Option<prost_types::Timestamp> {
    let date = NaiveDate::parse_from_str(on, "%Y-%m-%d").ok()?;
    Some(timestamp(zone.end_of(date)))
}

impl Flow for ContractFlow {
    const NAME: &'static str = "contract";
    type State = State;
    const EVENTS: &'static [&'static str] = &[
        ContractSigned::EVENT_TYPE,
        ContractCancelled::EVENT_TYPE,
        SettlementGroupSettled::EVENT_TYPE,
    ];

    fn route(&self, event: &Event) -> Option<Route> {
        let (key, starts, project) = if event.is::<ContractSigned>() {
            let e: ContractSigned = event.decode().ok()?;
            (e.contract_id, true, Uuid::parse_str(&e.project_id).ok())
        } else if event.is::<ContractCancelled>() {
            (
                event.decode::<ContractCancelled>().ok()?.contract_id,
                false,
                None,
            )
        } else if event.is::<SettlementGroupSettled>() {
            let e: SettlementGroupSettled = event.decode().ok()?;
            match group_parts(&e.settlement_group)? {
                ("contract", id, "down_payment") => (id.to_string(), false, None),
                _ => return None,
            }
        } else {
            return None;
        };
        Some(Route {
            key,
            starts,
            project_id: project,
        })
    }

    fn start(&self, event: &Event) -> anyhow::Result<Transition<State>> {
        let e: ContractSigned = event.decode()?;
        let mut groups = Vec::new();
        let mut commands = Vec::new();
        let mut has_down_payment = false;
        for (n, line) in e.schedule.iter().enumerate() {
            let amount = line.amount.clone().unwrap_or_default();
            if amount.minor_units <= 0 {
                continue;
            }
            let (group, key, purpose, payer) = match line.kind.as_str() {
                "down_payment" => {
                    has_down_payment = true;
                    (
                        "down_payment",
                        "down_payment".to_string(),
                        ChargePurpose::DownPayment,
                        e.customer_id.clone(),
                    )
                }
                "mortgage_loan" => (
                    "loan",
                    "mortgage_loan".to_string(),
                    ChargePurpose::Instalment,
                    format!("lending-bank:{}", e.customer_id),
                ),
                _ => (
                    "instalments",
                    format!("instalment:{n}"),
                    ChargePurpose::Instalment,
                    e.customer_id.clone(),
                ),
            };
            let group = format!("contract:{}:{group}", e.contract_id);
            if !groups.contains(&group) {
                groups.push(group.clone());
            }
            commands.push(Command::IssueCharge(finance::IssueChargeRequest {
                request_id: String::new(),
                project_id: e.project_id.clone(),
                unit_id: e.unit_id.clone(),
                payer_id: payer,
                purpose: purpose as i32,
                amount: Some(amount),
                business_key: format!("contract:{}:{key}", e.contract_id),
                due_at: due(&line.due_on, ProjectZone::or_default(&e.time_zone)),
                settlement_group: group,
                direction: finance::ChargeDirection::Receivable as i32,
                building_id: String::new(),
            }));
        }
        let stage = if has_down_payment {
            Stage::AwaitingDownPayment
        } else {
            Stage::DownPaymentSettled
        };
        let state = State {
            contract_id: e.contract_id.clone(),
            unit_id: e.unit_id.clone(),
            groups,
            stage,
        };
        let deadline = e
            .schedule
            .iter()
            .find(|l| l.kind == "down_payment")
            .and_then(|l| NaiveDate::parse_from_str(&l.due_on, "%Y-%m-%d").ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or_else(Utc::now, |d| d.and_utc())
            + chrono::Duration::days(7);
        let mut t = Transition::to(state, "contract signed: down payment and schedule charged")
            .deadline(deadline);
        for command in commands {
            t = t.send(command);
        }
        Ok(t)
    }

    fn on_event(&self, state: &State, event: &Event) -> anyhow::Result<Option<Transition<State>>> {
        if event.is::<ContractCancelled>() {
            let e: ContractCancelled = event.decode()?;
            // The cancellation flow refunds; this saga only stops waiting.
            return Ok(Some(Transition::to(
                state.at(Stage::Cancelled),
                format!("contract cancelled: {}", e.reason),
            )));
        }
        Ok(
            (state.stage == Stage::AwaitingDownPayment && event.is::<SettlementGroupSettled>())
                .then(|| {
                    Transition::to(state.at(Stage::DownPaymentSettled), "down payment settled")
                }),
        )
    }

    fn on_timer(&self, _state: &State, _timer: &str) -> Option<Transition<State>> {
        None
    }

    fn on_cancel(&self, state: &State) -> Transition<State> {
        let t = Transition::to(
            state.at(Stage::Cancelled),
            "cancelled by an operator: unpaid charges cancelled",
        );
        close_groups(
            t,
            &state.contract_id,
            Refund {
                bp: 0,
                interest_bp: 0,
            },
            "contract saga cancelled by an operator",
        )
    }

    fn state_name(state: &State) -> &'static str {
        match state.stage {
            Stage::AwaitingDownPayment => "awaiting_down_payment",
            Stage::DownPaymentSettled => "down_payment_settled",
            Stage::Cancelled => "cancelled",
        }
    }

    fn is_terminal(state: &State) -> bool {
        matches!(state.stage, Stage::DownPaymentSettled | Stage::Cancelled)
    }
}

/// A cancelled contract's refunds: every group closed with the project's refund share.
pub struct CancellationFlow;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cancellation {
    pub contract_id: String,
    pub refund_bp: i32,
}

impl Flow for CancellationFlow {
    const NAME: &'static str = "contract_cancellation";
    type State = Cancellation;
    const EVENTS: &'static [&'static str] = &[ContractCancelled::EVENT_TYPE];

    fn route(&self, event: &Event) -> Option<Route> {
        let e: ContractCancelled = event.decode().ok()?;
        Some(Route {
            key: e.contract_id,
            starts: true,
            project_id: None,
        })
    }

    fn start(&self, event: &Event) -> anyhow::Result<Transition<Cancellation>> {
        let e: ContractCancelled = event.decode()?;
        let state = Cancellation {
            contract_id: e.contract_id.clone(),
            refund_bp: e.refund_bp,
        };
        let t = Transition::to(
            state,
            format!(
                "contract cancelled ({}): charges closed, refunds issued",
                e.reason
            ),
        );
        let refund = Refund {
            bp: e.refund_bp,
            interest_bp: e.interest_bp,
        };
        let mut t = close_groups(t, &e.contract_id, refund, "contract cancelled");
        // The subscription's deposit became part of the price: it is refunded alike.
        if !e.subscription_id.is_empty() {
            for part in ["small_deposit", "top_up"] {
                let group = format!("subscription:{}:{part}", e.subscription_id);
                t = close(t, group, refund, "contract cancelled");
            }
        }
        Ok(t)
    }

    fn on_event(
        &self,
        _: &Cancellation,
        _: &Event,
    ) -> anyhow::Result<Option<Transition<Cancellation>>> {
        Ok(None)
    }

    fn on_timer(&self, _: &Cancellation, _: &str) -> Option<Transition<Cancellation>> {
        None
    }

    fn on_cancel(&self, state: &Cancellation) -> Transition<Cancellation> {
        Transition::to(state.clone(), "nothing to cancel")
    }

    fn state_name(_: &Cancellation) -> &'static str {
        "refunds_issued"
    }

    fn is_terminal(_: &Cancellation) -> bool {
        true
    }
}
