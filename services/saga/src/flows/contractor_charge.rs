//! Contractor charge (DOMAIN.md §3.5-3.6, §3.10), one saga per charge maintenance raised — a
//! backup vendor's cost charged back to the responsible contractor, an owner's compensation for
//! a contractor's defect and its recovery from the contractor, an owner's claim, a repair
//! billed to the owner who caused it: issued in
//! finance under the business key `maintenance:<charge_id>`, booked when finance publishes the
//! charge. Finance's key and this saga's key make it once, under redelivery and restarts.

use anju_messaging::Event;
use anju_proto::{
    EventPayload,
    events::{ChargeIssued, ContractorCharged},
    finance::{self, ChargeDirection, ChargePurpose},
};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::money;
use crate::engine::{Command, Flow, Route, Transition};

pub struct ContractorChargeFlow;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub charge_id: String,
    pub repair_request_id: String,
    pub purpose: String,
    pub amount_minor: i64,
    pub currency: String,
    pub booked: bool,
    pub cancelled: bool,
}

/// The business key finance books a maintenance charge under.
pub fn business_key(charge_id: &str) -> String {
    format!("maintenance:{charge_id}")
}

/// How long finance may take before the saga counts as stuck.
const BOOKING_WITHIN: Duration = Duration::hours(1);

impl Flow for ContractorChargeFlow {
    const NAME: &'static str = "contractor_charge";
    type State = State;
    const EVENTS: &'static [&'static str] =
        &[ContractorCharged::EVENT_TYPE, ChargeIssued::EVENT_TYPE];

    fn route(&self, event: &Event) -> Option<Route> {
        if event.is::<ContractorCharged>() {
            let e: ContractorCharged = event.decode().ok()?;
            return Some(Route {
                key: e.charge_id,
                starts: true,
                project_id: Uuid::parse_str(&e.project_id).ok(),
            });
        }
        if event.is::<ChargeIssued>() {
            let e: ChargeIssued = event.decode().ok()?;
            let key = e.business_key.strip_prefix("maintenance:")?;
            return Some(Route {
                key: key.to_string(),
                starts: false,
                project_id: None,
            });
        }
        None
    }

    fn start(&self, event: &Event) -> anyhow::Result<Transition<State>> {
        let e: ContractorCharged = event.decode()?;
        // What the owner is paid is a payable; what the contractor owes a receivable, its
        // penalty apart.
        let (purpose, direction) = match e.purpose.as_str() {
            "owner_compensation" | "claim_payout" => {
                (ChargePurpose::OwnerCompensation, ChargeDirection::Payable)
            }
            "claim_penalty" => (
                ChargePurpose::ContractorPenalty,
                ChargeDirection::Receivable,
            ),
            "repair_billed" => (ChargePurpose::RepairFee, ChargeDirection::Receivable),
            _ => (
                ChargePurpose::ContractorChargeback,
                ChargeDirection::Receivable,
            ),
        };
        let command = Command::IssueCharge(finance::IssueChargeRequest {
            request_id: String::new(),
            project_id: e.project_id.clone(),
            unit_id: e.unit_id.clone(),
            payer_id: e.payer_id.clone(),
            purpose: purpose as i32,
            amount: money(e.amount_minor, &e.currency),
            business_key: business_key(&e.charge_id),
            due_at: None,
            settlement_group: String::new(),
            direction: direction as i32,
            // A common part's charge is the building's (the event names no unit then).
            building_id: e.building_id.clone(),
        });
        let note = format!(
            "{} of {} {} for repair {} ({} from retention, {} claimed): issuing in finance",
            e.purpose,
            e.amount_minor,
            e.currency,
            e.repair_request_id,
            e.from_retention_minor,
            e.claim_minor
        );
        let state = State {
            charge_id: e.charge_id,
            repair_request_id: e.repair_request_id,
            purpose: e.purpose,
            amount_minor: e.amount_minor,
            currency: e.currency,
            booked: false,
            cancelled: false,
        };
        Ok(Transition::to(state, note)
            .send(command)
            .deadline(Utc::now() + BOOKING_WITHIN))
    }

    fn on_event(&self, state: &State, event: &Event) -> anyhow::Result<Option<Transition<State>>> {
        if state.booked || state.cancelled || !event.is::<ChargeIssued>() {
            return Ok(None);
        }
        let e: ChargeIssued = event.decode()?;
        let next = State {
            booked: true,
            ..state.clone()
        };
        Ok(Some(Transition::to(
            next,
            format!("booked in finance as charge {}", e.charge_id),
        )))
    }

    fn on_timer(&self, _state: &State, _timer: &str) -> Option<Transition<State>> {
        None
    }

    fn on_cancel(&self, state: &State) -> Transition<State> {
        Transition::to(
            State {
                cancelled: true,
                ..state.clone()
            },
            "cancelled by an operator: a charge already issued in finance stays there",
        )
    }

    fn state_name(state: &State) -> &'static str {
        if state.booked {
            "booked"
        } else if state.cancelled {
            "cancelled"
        } else {
            "issuing"
        }
    }

    fn is_terminal(state: &State) -> bool {
        state.booked || state.cancelled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::event;

    fn charged(purpose: &str) -> ContractorCharged {
        ContractorCharged {
            charge_id: Uuid::now_v7().to_string(),
            repair_request_id: Uuid::now_v7().to_string(),
            project_id: Uuid::now_v7().to_string(),
            unit_id: Uuid::now_v7().to_string(),
            payer_id: "payer".into(),
            purpose: purpose.into(),
            amount_minor: 123_455,
            currency: "CNY".into(),
            from_retention_minor: 100_000,
            claim_minor: 23_455,
            contractor_id: Uuid::now_v7().to_string(),
            building_id: String::new(),
        }
    }

    #[test]
    fn a_chargeback_is_issued_once_under_its_key_and_booked_when_finance_has_it() {
        let e = charged("chargeback");
        let t = ContractorChargeFlow.start(&event(&e)).unwrap();
        let [Command::IssueCharge(issue)] = t.commands.as_slice() else {
            panic!("one IssueCharge: {:?}", t.commands);
        };
        assert_eq!(issue.business_key, format!("maintenance:{}", e.charge_id));
        assert_eq!(issue.purpose, ChargePurpose::ContractorChargeback as i32);
        assert_eq!(issue.direction, ChargeDirection::Receivable as i32);
        assert_eq!(issue.amount.as_ref().unwrap().minor_units, 123_455);
        let issued = ChargeIssued {
            business_key: issue.business_key.clone(),
            ..Default::default()
        };
        let route = ContractorChargeFlow.route(&event(&issued)).unwrap();
        assert_eq!(
            (route.key.as_str(), route.starts),
            (e.charge_id.as_str(), false)
        );
        let booked = ContractorChargeFlow
            .on_event(&t.state, &event(&issued))
            .unwrap()
            .unwrap();
        assert!(ContractorChargeFlow::is_terminal(&booked.state));
        assert!(booked.commands.is_empty());
        assert!(
            ContractorChargeFlow
                .on_event(&booked.state, &event(&issued))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn an_owners_compensation_is_a_payable_and_other_charges_are_not_routed() {
        let t = ContractorChargeFlow
            .start(&event(&charged("owner_compensation")))
            .unwrap();
        let [Command::IssueCharge(issue)] = t.commands.as_slice() else {
            panic!("one IssueCharge");
        };
        assert_eq!(issue.purpose, ChargePurpose::OwnerCompensation as i32);
        assert_eq!(issue.direction, ChargeDirection::Payable as i32);
        let other = ChargeIssued {
            business_key: "handover:unit:property_fee".into(),
            ..Default::default()
        };
        assert!(ContractorChargeFlow.route(&event(&other)).is_none());
    }

    #[test]
    fn a_common_parts_chargeback_is_issued_on_its_building() {
        let building = Uuid::now_v7().to_string();
        let e = ContractorCharged {
            unit_id: String::new(),
            building_id: building.clone(),
            ..charged("chargeback")
        };
        let t = ContractorChargeFlow.start(&event(&e)).unwrap();
        let [Command::IssueCharge(issue)] = t.commands.as_slice() else {
            panic!("one IssueCharge");
        };
        assert_eq!(
            (issue.unit_id.as_str(), issue.building_id.as_str()),
            ("", building.as_str())
        );
    }
}
