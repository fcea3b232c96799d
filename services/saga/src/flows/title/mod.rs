//! Title (seed ⑧ 5.2, DOMAIN.md §6), one saga per contract: area difference assessed → the
//! buyer's choice beyond ±3 % (cancelling rescinds the contract in sales, everything paid
//! refunded with interest) → the difference charged or refunded in finance and paid → the
//! owner's documents complete → deed tax and registration fees charged and paid → application
//! submitted → deed issued → delivered to the bank or the owner.
//!
//! Title assesses, reviews and records; this flow only moves money and contracts, and shows
//! operators what each unit waits for. Title learns the payments from finance itself, so its
//! own rule (no application before the fees are paid) holds whatever this flow does.

use anju_messaging::Event;
use anju_proto::{
    EventPayload,
    common::Money,
    events::{
        AreaDifferenceAssessed, AreaDifferenceSettled, BuyerChoiceRecorded,
        TitleApplicationSubmitted, TitleDeedDelivered, TitleDeedIssued, TitleDocumentsCompleted,
        TitleFeesAssessed, TitleFeesPaid, TitleFileClosed,
    },
    finance::{self, ChargeDirection, ChargePurpose},
    sales,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::engine::{Command, Flow, Route, Transition};

pub struct TitleFlow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Open,
    /// The buyer cancelled: sales is asked to rescind the contract.
    Rescinding,
    Delivered,
    Cancelled,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub contract_id: String,
    pub unit_id: String,
    pub project_id: String,
    pub customer_id: String,
    /// If the buyer keeps the home: positive, the buyer pays; negative, refunded.
    pub buyer_amount: i64,
    pub currency: String,
    pub buyer_may_cancel: bool,
    pub choice: Option<String>,
    pub area_settled: bool,
    pub documents_complete: bool,
    pub fees_charged: bool,
    pub fees_paid: bool,
    pub submitted: bool,
    pub deed_issued: bool,
    pub stage: Stage,
}

impl State {
    fn group(&self, part: &str) -> String {
        format!("title:{}:{part}", self.contract_id)
    }

    fn charge(&self, key: &str, group: &str, purpose: ChargePurpose, amount: i64) -> Command {
        let direction = if amount < 0 {
            ChargeDirection::Payable
        } else {
            ChargeDirection::Receivable
        };
        Command::IssueCharge(finance::IssueChargeRequest {
            request_id: String::new(),
            project_id: self.project_id.clone(),
            unit_id: self.unit_id.clone(),
            payer_id: self.customer_id.clone(),
            purpose: purpose as i32,
            amount: Some(Money {
                minor_units: amount.abs(),
                currency: self.currency.clone(),
            }),
            business_key: format!("title:{}:{key}", self.contract_id),
            due_at: None,
            settlement_group: self.group(group),
            direction: direction as i32,
            building_id: String::new(),
        })
    }

    /// The area difference charged (the buyer pays) or owed back (a payable).
    fn charge_area(self, note: String) -> Transition<State> {
        let amount = self.buyer_amount;
        let command = self.charge(
            "area_difference",
            "area",
            ChargePurpose::AreaDifference,
            amount,
        );
        Transition::to(self, note).send(command)
    }

    fn waiting_for(&self) -> &'static str {
        if self.buyer_may_cancel && self.choice.is_none() {
            "awaiting_buyer_choice"
        } else if !self.area_settled {
            "awaiting_area_settlement"
        } else if self.submitted {
            if self.deed_issued {
                "awaiting_delivery"
            } else {
                "awaiting_deed"
            }
        } else if !self.documents_complete {
            "awaiting_documents"
        } else if !self.fees_charged {
            "awaiting_fees_assessment"
        } else if !self.fees_paid {
            "awaiting_fees"
        } else {
            "awaiting_submission"
        }
    }

    fn moved(self, note: &str) -> Transition<State> {
        let waits = self.waiting_for().replace('_', " ");
        Transition::to(self, format!("{note}; {waits}"))
    }
}

/// The contract an event of this flow concerns.
fn contract_of(event: &Event) -> Option<String> {
    macro_rules! contract {
        ($($t:ty),*) => {
            $(if event.is::<$t>() {
                return event.decode::<$t>().ok().map(|e| e.contract_id);
            })*
        };
    }
    contract!(
        AreaDifferenceAssessed,
        BuyerChoiceRecorded,
        AreaDifferenceSettled,
        TitleDocumentsCompleted,
        TitleFeesAssessed,
        TitleFeesPaid,
        TitleApplicationSubmitted,
        TitleDeedIssued,
        TitleDeedDelivered,
        TitleFileClosed
    );
    None
}

impl Flow for TitleFlow {
    const NAME: &'static str = "title";
    type State = State;
    const EVENTS: &'static [&'static str] = &[
        AreaDifferenceAssessed::EVENT_TYPE,
        BuyerChoiceRecorded::EVENT_TYPE,
        AreaDifferenceSettled::EVENT_TYPE,
        TitleDocumentsCompleted::EVENT_TYPE,
        TitleFeesAssessed::EVENT_TYPE,
        TitleFeesPaid::EVENT_TYPE,
        TitleApplicationSubmitted::EVENT_TYPE,
        TitleDeedIssued::EVENT_TYPE,
        TitleDeedDelivered::EVENT_TYPE,
        TitleFileClosed::EVENT_TYPE,
    ];

    fn route(&self, event: &Event) -> Option<Route> {
        let key = contract_of(event)?;
        let starts = event.is::<AreaDifferenceAssessed>();
        let project_id = starts
            .then(|| event.decode::<AreaDifferenceAssessed>().ok())
            .flatten()
            .and_then(|e| Uuid::parse_str(&e.project_id).ok());
        Some(Route {
            key,
            starts,
            project_id,
        })
    }

    fn start(&self, event: &Event) -> anyhow::Result<Transition<State>> {
        let e: AreaDifferenceAssessed = event.decode()?;
        let amount = e.buyer_amount.clone().unwrap_or_default();
        let state = State {
            contract_id: e.contract_id.clone(),
            unit_id: e.unit_id.clone(),
            project_id: e.project_id.clone(),
            customer_id: e.customer_id.clone(),
            buyer_amount: amount.minor_units,
            currency: amount.currency,
            buyer_may_cancel: e.buyer_may_cancel,
            choice: None,
            // Title settles at once a difference of nothing with nothing to choose.
            area_settled: amount.minor_units == 0 && !e.buyer_may_cancel,
            documents_complete: false,
            fees_charged: false,
            fees_paid: false,
            submitted: false,
            deed_issued: false,
            stage: Stage::Open,
        };
        let note = format!(
            "area difference assessed: {} ppm, {}",
            e.error_ratio_ppm, e.band
        );
        if state.buyer_may_cancel {
            return Ok(state.moved(&format!(
                "{note}, the buyer may cancel by {}",
                e.choice_due_on
            )));
        }
        if state.area_settled {
            return Ok(state.moved(&format!("{note}, nothing to settle")));
        }
        let waits = "awaiting area settlement";
        Ok(state.charge_area(format!("{note}, charged in finance; {waits}")))
    }

    fn on_event(&self, state: &State, event: &Event) -> anyhow::Result<Option<Transition<State>>> {
        if matches!(state.stage, Stage::Delivered | Stage::Cancelled) {
            return Ok(None);
        }
        if event.is::<TitleFileClosed>() {
            // The contract is cancelled: what title charged is closed, what was paid owed back.
            let mut t = Transition::to(
                State {
                    stage: Stage::Cancelled,
                    ..state.clone()
                },
                "contract cancelled: title charges closed, paid amounts owed back",
            );
            for part in ["area", "fees"] {
                t = t.send(Command::CloseSettlementGroup(
                    finance::CloseSettlementGroupRequest {
                        request_id: String::new(),
                        settlement_group: state.group(part),
                        refund_bp: 10_000,
                        reason: "contract cancelled".into(),
                        interest_bp: 0,
                    },
                ));
            }
            return Ok(Some(t));
        }
        if state.stage == Stage::Rescinding {
            return Ok(None);
        }
        let mut next = state.clone();
        if event.is::<BuyerChoiceRecorded>() {
            if state.choice.is_some() || !state.buyer_may_cancel {
                return Ok(None);
            }
            let e: BuyerChoiceRecorded = event.decode()?;
            next.choice = Some(e.choice.clone());
            if e.choice == "cancel" {
                next.stage = Stage::Rescinding;
                let rescind = Command::RescindContract(sales::RescindContractRequest {
                    request_id: String::new(),
                    contract_id: state.contract_id.clone(),
                    reason: "the buyer cancels: area error beyond ±3 % (Measures art. 20)".into(),
                    interest_bp: e.interest_bp,
                });
                return Ok(Some(
                    Transition::to(next, "the buyer cancels: contract rescinded in sales")
                        .send(rescind),
                ));
            }
            let how = if e.deemed {
                "no answer by the deadline, the buyer keeps the home"
            } else {
                "the buyer keeps the home"
            };
            return Ok(Some(next.charge_area(format!(
                "{how}: area difference charged in finance; awaiting area settlement"
            ))));
        }
        if event.is::<AreaDifferenceSettled>() && !state.area_settled {
            next.area_settled = true;
            return Ok(Some(next.moved("area difference paid")));
        }
        if event.is::<TitleDocumentsCompleted>() && !state.documents_complete {
            next.documents_complete = true;
            return Ok(Some(next.moved("owner's documents complete")));
        }
        if event.is::<TitleFeesAssessed>() && !state.fees_charged {
            let e: TitleFeesAssessed = event.decode()?;
            next.fees_charged = true;
            let amount = |m: Option<Money>| m.map(|m| m.minor_units).unwrap_or(0);
            let tax = next.charge(
                "deed_tax",
                "fees",
                ChargePurpose::DeedTax,
                amount(e.deed_tax),
            );
            let fee = next.charge(
                "registration_fee",
                "fees",
                ChargePurpose::TitleFees,
                amount(e.registration_fee),
            );
            return Ok(Some(
                next.moved("deed tax and registration fees charged in finance")
                    .send(tax)
                    .send(fee),
            ));
        }
        if event.is::<TitleFeesPaid>() && !state.fees_paid {
            next.fees_paid = true;
            return Ok(Some(next.moved("title fees paid")));
        }
        if event.is::<TitleApplicationSubmitted>() && !state.submitted {
            let e: TitleApplicationSubmitted = event.decode()?;
            next.submitted = true;
            return Ok(Some(next.moved(&format!(
                "application submitted to the registry (receipt {})",
                e.receipt_number
            ))));
        }
        if event.is::<TitleDeedIssued>() && !state.deed_issued {
            let e: TitleDeedIssued = event.decode()?;
            next.deed_issued = true;
            return Ok(Some(next.moved(&format!("deed {} issued", e.deed_number))));
        }
        if event.is::<TitleDeedDelivered>() {
            let e: TitleDeedDelivered = event.decode()?;
            next.stage = Stage::Delivered;
            return Ok(Some(Transition::to(
                next,
                format!(
                    "deed delivered to the {} (receipt {})",
                    e.recipient, e.receipt_number
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
                stage: Stage::Cancelled,
                ..state.clone()
            },
            "cancelled by an operator: title's charges are left as they are",
        )
    }

    fn state_name(state: &State) -> &'static str {
        match state.stage {
            Stage::Open => state.waiting_for(),
            Stage::Rescinding => "rescinding",
            Stage::Delivered => "delivered",
            Stage::Cancelled => "cancelled",
        }
    }

    fn is_terminal(state: &State) -> bool {
        matches!(state.stage, Stage::Delivered | Stage::Cancelled)
    }
}

#[cfg(test)]
mod tests;
