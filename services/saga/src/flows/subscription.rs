//! Subscription: hold unit → small deposit paid → top-up by the due date → subscribed; else
//! lapse, release the unit and refund per the project's policy.
//!
//! ```text
//! SubscriptionSigned ─▶ awaiting_small_deposit ──small deposit settled──▶ awaiting_top_up
//!        (charges: small deposit, top-up)  │ timer "unpaid"                  │ top-up settled    │ timer "lapse"
//!                                          ▼                                 ▼                   ▼
//!                                       lapsing ◀─────────────────────── confirming          lapsing
//! confirming ──SubscriptionConfirmed──▶ confirmed
//! lapsing ──SubscriptionLapsed──▶ lapsed (unpaid charges cancelled, the policy's share of paid refunded)
//! ```
//!
//! The small deposit is what holds the unit, so the lapse clock starts when it is paid: a
//! top-up due date already past then lapses the subscription at once. The two settlements
//! may arrive in either order.

use anju_messaging::Event;
use anju_proto::{
    EventPayload,
    events::{
        SettlementGroupSettled, SubscriptionConfirmed, SubscriptionLapsed, SubscriptionSigned,
    },
    finance::{self, ChargePurpose},
    sales,
};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{from_timestamp, group_parts, money, timestamp};
use crate::engine::{Command, Flow, Route, Transition};

pub struct SubscriptionFlow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    AwaitingSmallDeposit,
    AwaitingTopUp,
    Confirming,
    Confirmed,
    Lapsing,
    Lapsed,
    Cancelled,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub subscription_id: String,
    pub project_id: String,
    pub unit_id: String,
    pub customer_id: String,
    pub lapses_at: DateTime<Utc>,
    pub lapse_refund_bp: i32,
    pub small_paid: bool,
    pub top_up_paid: bool,
    pub stage: Stage,
}

const PARTS: [&str; 2] = ["small_deposit", "top_up"];

/// A small deposit never paid releases the unit after this long (or at the due date, if later).
const SMALL_DEPOSIT_GRACE_HOURS: i64 = 24;

impl State {
    fn group(&self, part: &str) -> String {
        format!("subscription:{}:{part}", self.subscription_id)
    }

    fn at(&self, stage: Stage) -> Self {
        Self {
            stage,
            ..self.clone()
        }
    }

    fn close_groups(
        &self,
        mut t: Transition<State>,
        refund_bp: i32,
        reason: &str,
    ) -> Transition<State> {
        for part in PARTS {
            t = t.send(Command::CloseSettlementGroup(
                finance::CloseSettlementGroupRequest {
                    request_id: String::new(),
                    settlement_group: self.group(part),
                    refund_bp,
                    reason: reason.into(),
                    interest_bp: 0,
                },
            ));
        }
        t
    }

    fn lapse(&self, note: &str) -> Transition<State> {
        Transition::to(self.at(Stage::Lapsing), note).send(Command::LapseSubscription(
            sales::LapseSubscriptionRequest {
                request_id: String::new(),
                subscription_id: self.subscription_id.clone(),
            },
        ))
    }

    /// Both parts paid: ask sales to confirm.
    fn confirm_if_paid(&self) -> Transition<State> {
        if self.small_paid && self.top_up_paid {
            Transition::to(self.at(Stage::Confirming), "full deposit paid")
                .cancel_timer("lapse")
                .cancel_timer("unpaid")
                .send(Command::ConfirmSubscription(
                    sales::ConfirmSubscriptionRequest {
                        request_id: String::new(),
                        subscription_id: self.subscription_id.clone(),
                    },
                ))
        } else if self.small_paid {
            Transition::to(
                self.at(Stage::AwaitingTopUp),
                "small deposit paid: the unit is held until the top-up date",
            )
            .cancel_timer("unpaid")
            .timer("lapse", self.lapses_at)
        } else {
            Transition::to(self.clone(), "top-up paid before the small deposit")
        }
    }
}

impl Flow for SubscriptionFlow {
    const NAME: &'static str = "subscription";
    type State = State;
    const EVENTS: &'static [&'static str] = &[
        SubscriptionSigned::EVENT_TYPE,
        SubscriptionConfirmed::EVENT_TYPE,
        SubscriptionLapsed::EVENT_TYPE,
        SettlementGroupSettled::EVENT_TYPE,
    ];

    fn route(&self, event: &Event) -> Option<Route> {
        let (key, starts, project) = if event.is::<SubscriptionSigned>() {
            let e: SubscriptionSigned = event.decode().ok()?;
            (e.subscription_id, true, Uuid::parse_str(&e.project_id).ok())
        } else if event.is::<SubscriptionConfirmed>() {
            (
                event
                    .decode::<SubscriptionConfirmed>()
                    .ok()?
                    .subscription_id,
                false,
                None,
            )
        } else if event.is::<SubscriptionLapsed>() {
            (
                event.decode::<SubscriptionLapsed>().ok()?.subscription_id,
                false,
                None,
            )
        } else if event.is::<SettlementGroupSettled>() {
            let e: SettlementGroupSettled = event.decode().ok()?;
            match group_parts(&e.settlement_group)? {
                ("subscription", id, part) if PARTS.contains(&part) => {
                    (id.to_string(), false, None)
                }
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
        let e: SubscriptionSigned = event.decode()?;
        let lapses_at = from_timestamp(e.lapses_at).context("SubscriptionSigned.lapses_at")?;
        let small = e.small_deposit.clone().context("small_deposit")?;
        let full = e.full_deposit.clone().context("full_deposit")?;
        let top_up = full.minor_units - small.minor_units;
        let state = State {
            subscription_id: e.subscription_id.clone(),
            project_id: e.project_id.clone(),
            unit_id: e.unit_id.clone(),
            customer_id: e.customer_id.clone(),
            lapses_at,
            lapse_refund_bp: e.lapse_refund_bp,
            small_paid: false,
            top_up_paid: top_up <= 0,
            stage: Stage::AwaitingSmallDeposit,
        };
        let charge = |part: &str, amount: i64, due: DateTime<Utc>| {
            Command::IssueCharge(finance::IssueChargeRequest {
                request_id: String::new(),
                project_id: e.project_id.clone(),
                unit_id: e.unit_id.clone(),
                payer_id: e.customer_id.clone(),
                purpose: ChargePurpose::Deposit as i32,
                amount: money(amount, &small.currency),
                business_key: state.group(part),
                due_at: Some(timestamp(due)),
                settlement_group: state.group(part),
                direction: finance::ChargeDirection::Receivable as i32,
                building_id: String::new(),
            })
        };
        let now = Utc::now();
        let unpaid_at = lapses_at.max(now + chrono::Duration::hours(SMALL_DEPOSIT_GRACE_HOURS));
        let mut t = Transition::to(
            state.clone(),
            "subscription signed: small deposit and top-up charged",
        )
        .send(charge("small_deposit", small.minor_units, now))
        .timer("unpaid", unpaid_at)
        .deadline(unpaid_at.max(lapses_at) + chrono::Duration::hours(1));
        if top_up > 0 {
            t = t.send(charge("top_up", top_up, lapses_at));
        }
        Ok(t)
    }

    fn on_event(&self, state: &State, event: &Event) -> anyhow::Result<Option<Transition<State>>> {
        let waiting = matches!(
            state.stage,
            Stage::AwaitingSmallDeposit | Stage::AwaitingTopUp
        );
        if waiting && event.is::<SettlementGroupSettled>() {
            let e: SettlementGroupSettled = event.decode()?;
            let mut next = state.clone();
            match group_parts(&e.settlement_group) {
                Some((_, _, "small_deposit")) => next.small_paid = true,
                Some((_, _, "top_up")) => next.top_up_paid = true,
                _ => return Ok(None),
            }
            return Ok(Some(next.confirm_if_paid()));
        }
        Ok(match state.stage {
            // Sales decides between a late payment and the lapse; whichever it did, we follow.
            Stage::Confirming
            | Stage::Lapsing
            | Stage::AwaitingSmallDeposit
            | Stage::AwaitingTopUp
                if event.is::<SubscriptionConfirmed>() =>
            {
                Some(
                    Transition::to(state.at(Stage::Confirmed), "unit subscribed")
                        .cancel_timer("lapse"),
                )
            }
            Stage::Confirming
            | Stage::Lapsing
            | Stage::AwaitingSmallDeposit
            | Stage::AwaitingTopUp
                if event.is::<SubscriptionLapsed>() =>
            {
                let t = Transition::to(
                    state.at(Stage::Lapsed),
                    "unit back in stock; unpaid charges cancelled, deposit refunded per policy",
                );
                Some(state.close_groups(t, state.lapse_refund_bp, "subscription lapsed"))
            }
            _ => None,
        })
    }

    fn on_timer(&self, state: &State, timer: &str) -> Option<Transition<State>> {
        match (timer, state.stage) {
            ("lapse", Stage::AwaitingTopUp) => Some(state.lapse("top-up due date passed unpaid")),
            ("unpaid", Stage::AwaitingSmallDeposit) => {
                Some(state.lapse("small deposit never paid"))
            }
            _ => None,
        }
    }

    fn on_cancel(&self, state: &State) -> Transition<State> {
        let t = Transition::to(
            state.at(Stage::Cancelled),
            "cancelled: unit released, deposit refunded in full",
        )
        .send(Command::LapseSubscription(
            sales::LapseSubscriptionRequest {
                request_id: String::new(),
                subscription_id: state.subscription_id.clone(),
            },
        ));
        state.close_groups(t, 10_000, "subscription cancelled by an operator")
    }

    fn state_name(state: &State) -> &'static str {
        match state.stage {
            Stage::AwaitingSmallDeposit => "awaiting_small_deposit",
            Stage::AwaitingTopUp => "awaiting_top_up",
            Stage::Confirming => "confirming",
            Stage::Confirmed => "confirmed",
            Stage::Lapsing => "lapsing",
            Stage::Lapsed => "lapsed",
            Stage::Cancelled => "cancelled",
        }
    }

    fn is_terminal(state: &State) -> bool {
        matches!(
            state.stage,
            Stage::Confirmed | Stage::Lapsed | Stage::Cancelled
        )
    }
}
