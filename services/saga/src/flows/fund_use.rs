//! Fund use (DOMAIN.md §3.9), one saga per proposal to pay a common part's repair from the
//! special maintenance fund: proposed → the owners vote until the closing time, when the
//! coordinator closes the vote (a durable timer, whatever restarts come between) → carried or
//! failed → the authority's approval → the bank's transfer, after which the developer's share
//! for its unsold units is charged in finance (one charge a unit, `fund:<proposal>:<unit>`).

use anju_messaging::Event;
use anju_proto::{
    EventPayload,
    events::{FundTransferred, FundUseApproved, FundUseProposed, FundVoteClosed},
    finance, maintenance,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::engine::{Command, Flow, Route, Transition};

pub struct FundUseFlow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Voting,
    Carried,
    Failed,
    Approved,
    Transferred,
    Cancelled,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub proposal_id: String,
    pub project_id: String,
    pub closes_at: DateTime<Utc>,
    pub stage: Stage,
}

const CLOSE: &str = "vote_closes";
/// A moment after the closing time, so the vote is closed when maintenance's clock says so.
const MARGIN: Duration = Duration::seconds(1);
/// How long the authority and the bank may take before the saga counts as stuck.
const AFTER_VOTE: Duration = Duration::days(60);

fn proposal_of(event: &Event) -> Option<String> {
    macro_rules! proposal {
        ($($t:ty),*) => {
            $(if event.is::<$t>() {
                return event.decode::<$t>().ok().map(|e| e.proposal_id);
            })*
        };
    }
    proposal!(
        FundUseProposed,
        FundVoteClosed,
        FundUseApproved,
        FundTransferred
    );
    None
}

impl Flow for FundUseFlow {
    const NAME: &'static str = "fund_use";
    type State = State;
    const EVENTS: &'static [&'static str] = &[
        FundUseProposed::EVENT_TYPE,
        FundVoteClosed::EVENT_TYPE,
        FundUseApproved::EVENT_TYPE,
        FundTransferred::EVENT_TYPE,
    ];

    fn route(&self, event: &Event) -> Option<Route> {
        let key = proposal_of(event)?;
        let start = event
            .is::<FundUseProposed>()
            .then(|| event.decode::<FundUseProposed>().ok())
            .flatten();
        Some(Route {
            key,
            starts: start.is_some(),
            project_id: start.and_then(|e| Uuid::parse_str(&e.project_id).ok()),
        })
    }

    fn start(&self, event: &Event) -> anyhow::Result<Transition<State>> {
        let e: FundUseProposed = event.decode()?;
        let closes_at = DateTime::from_timestamp(e.vote_closes_at_unix, 0)
            .ok_or_else(|| anyhow::anyhow!("vote_closes_at_unix out of range"))?;
        let state = State {
            proposal_id: e.proposal_id,
            project_id: e.project_id,
            closes_at,
            stage: Stage::Voting,
        };
        Ok(Transition::to(
            state,
            format!("proposed; the owners vote until {closes_at}"),
        )
        .timer(CLOSE, closes_at + MARGIN)
        .deadline(closes_at + AFTER_VOTE))
    }

    fn on_event(&self, state: &State, event: &Event) -> anyhow::Result<Option<Transition<State>>> {
        let mut next = state.clone();
        if event.is::<FundVoteClosed>() && state.stage == Stage::Voting {
            let e: FundVoteClosed = event.decode()?;
            next.stage = if e.carried {
                Stage::Carried
            } else {
                Stage::Failed
            };
            let note = if e.carried {
                "the owners carried it: awaiting the authority's approval"
            } else {
                "the owners did not carry it"
            };
            return Ok(Some(Transition::to(next, note).cancel_timer(CLOSE)));
        }
        if event.is::<FundUseApproved>() && state.stage == Stage::Carried {
            next.stage = Stage::Approved;
            return Ok(Some(Transition::to(
                next,
                "approved by the authority: awaiting the bank's transfer",
            )));
        }
        if event.is::<FundTransferred>() && state.stage == Stage::Approved {
            let e: FundTransferred = event.decode()?;
            next.stage = Stage::Transferred;
            // The developer pays its unsold units' shares: one charge a unit in finance.
            let mut t = Transition::to(
                next,
                format!(
                    "transferred to the repair unit; the developer's share charged for {} unsold unit(s)",
                    e.developer_shares.len()
                ),
            );
            for share in &e.developer_shares {
                t = t.send(Command::IssueCharge(finance::IssueChargeRequest {
                    request_id: String::new(),
                    project_id: state.project_id.clone(),
                    unit_id: share.unit_id.clone(),
                    payer_id: "developer".into(),
                    purpose: finance::ChargePurpose::MaintenanceFund as i32,
                    amount: crate::flows::money(share.amount_minor, &share.currency),
                    business_key: format!("fund:{}:{}", state.proposal_id, share.unit_id),
                    due_at: None,
                    settlement_group: String::new(),
                    direction: finance::ChargeDirection::Receivable as i32,
                    building_id: String::new(),
                }));
            }
            return Ok(Some(t));
        }
        Ok(None)
    }

    fn on_timer(&self, state: &State, timer: &str) -> Option<Transition<State>> {
        (timer == CLOSE && state.stage == Stage::Voting).then(|| {
            Transition::to(state.clone(), "the vote's closing time: counting").send(
                Command::CloseFundVote(maintenance::CloseFundVoteRequest {
                    request_id: String::new(),
                    proposal_id: state.proposal_id.clone(),
                }),
            )
        })
    }

    fn on_cancel(&self, state: &State) -> Transition<State> {
        Transition::to(
            State {
                stage: Stage::Cancelled,
                ..state.clone()
            },
            "cancelled by an operator: the proposal is left as it is",
        )
    }

    fn state_name(state: &State) -> &'static str {
        match state.stage {
            Stage::Voting => "voting",
            Stage::Carried => "awaiting_approval",
            Stage::Failed => "failed",
            Stage::Approved => "awaiting_transfer",
            Stage::Transferred => "transferred",
            Stage::Cancelled => "cancelled",
        }
    }

    fn is_terminal(state: &State) -> bool {
        matches!(
            state.stage,
            Stage::Failed | Stage::Transferred | Stage::Cancelled
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::event;

    #[test]
    fn the_coordinator_closes_the_vote_at_its_time_and_follows_it_to_the_transfer() {
        let id = Uuid::now_v7().to_string();
        let closes = Utc::now() + Duration::days(7);
        let t = FundUseFlow
            .start(&event(&FundUseProposed {
                proposal_id: id.clone(),
                project_id: Uuid::now_v7().to_string(),
                building_id: String::new(),
                vote_closes_at_unix: closes.timestamp(),
            }))
            .unwrap();
        assert_eq!(t.set_timers.len(), 1);
        assert!(t.set_timers[0].1 > closes);
        let fired = FundUseFlow.on_timer(&t.state, CLOSE).unwrap();
        assert!(matches!(
            fired.commands.as_slice(),
            [Command::CloseFundVote(r)] if r.proposal_id == id
        ));
        let closed = FundVoteClosed {
            proposal_id: id.clone(),
            project_id: String::new(),
            carried: true,
        };
        let carried = FundUseFlow
            .on_event(&t.state, &event(&closed))
            .unwrap()
            .unwrap();
        assert_eq!(FundUseFlow::state_name(&carried.state), "awaiting_approval");
        assert!(FundUseFlow.on_timer(&carried.state, CLOSE).is_none());
        let approved = FundUseFlow
            .on_event(
                &carried.state,
                &event(&FundUseApproved {
                    proposal_id: id.clone(),
                    project_id: String::new(),
                }),
            )
            .unwrap()
            .unwrap();
        let done = FundUseFlow
            .on_event(
                &approved.state,
                &event(&FundTransferred {
                    proposal_id: id,
                    project_id: String::new(),
                    developer_shares: vec![anju_proto::events::FundShare {
                        unit_id: "u".into(),
                        amount_minor: 3_334,
                        currency: "CNY".into(),
                    }],
                }),
            )
            .unwrap()
            .unwrap();
        assert!(FundUseFlow::is_terminal(&done.state));
        assert!(matches!(
            done.commands.as_slice(),
            [Command::IssueCharge(c)] if c.amount.as_ref().unwrap().minor_units == 3_334
                && c.payer_id == "developer"
        ));
    }
}
