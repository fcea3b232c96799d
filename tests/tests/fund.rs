//! The special maintenance fund over the real services (DOMAIN.md §3.9): a common part still
//! under its contractor's warranty is refused; owners (the developer once for its unsold unit)
//! vote under the project's rule; the coordinator closes the vote at its time; a vote carried at
//! exactly two-thirds of the totals goes on to the authority's approval and the bank's transfer;
//! under the Civil Code's rule exactly half of the participants is not enough.

use std::time::Duration;

use anju::journey::{Buyer, cny};
use anju_e2e::{TestStack, wait_for};
use anju_kit::{Role, error::refusal_reason};
use anju_proto::maintenance::{self as mt, maintenance_service_client::MaintenanceServiceClient};
use chrono::Utc;
use sqlx::PgPool;
use tonic::Code;
use uuid::Uuid;

type Client = MaintenanceServiceClient<anju_e2e::Authed>;

fn client(stack: &TestStack, roles: &[Role]) -> Client {
    MaintenanceServiceClient::new(stack.authed_with(
        "maintenance",
        &anju_testkit::token_for(stack.tenant, "fund.staff", roles),
    ))
}

fn refused<T: std::fmt::Debug>(answer: Result<T, tonic::Status>, code: &str) {
    let status = answer.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(refusal_reason(&status).as_deref(), Some(code), "{status:?}");
}

/// Moves the vote's closing time (maintenance's and the coordinator's timer) to now.
async fn closes_now(stack: &TestStack, proposal: &str) {
    let id = Uuid::parse_str(proposal).unwrap();
    let maintenance = PgPool::connect(&stack.settings.database_url("maintenance"))
        .await
        .unwrap();
    sqlx::query(
        "update fund_proposals set vote_closes_at = now() - interval '2 seconds' where proposal_id = $1",
    )
    .bind(id)
    .execute(&maintenance)
    .await
    .unwrap();
    let saga = PgPool::connect(&stack.settings.database_url("saga"))
        .await
        .unwrap();
    wait_for(Duration::from_secs(20), "the fund saga's timer", || async {
        let moved = sqlx::query(
            "update saga_timers set fire_at = now()
             where name = 'vote_closes' and fired_at is null
               and saga_id in (select saga_id from sagas where flow = 'fund_use' and saga_key = $1)",
        )
        .bind(proposal)
        .execute(&saga)
        .await?
        .rows_affected();
        Ok(moved == 1)
    })
    .await
    .unwrap();
}

async fn proposal(client: &Client, id: &str) -> mt::FundProposal {
    client
        .clone()
        .get_fund_proposal(mt::GetFundProposalRequest {
            proposal_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .proposal
        .unwrap()
}

async fn until_state(client: &Client, id: &str, state: &str) -> mt::FundProposal {
    for _ in 0..300 {
        let p = proposal(client, id).await;
        if p.state == state {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "proposal {id} never {state}: {:?}",
        proposal(client, id).await
    );
}

#[tokio::test]
async fn owners_vote_under_the_projects_rule_and_the_coordinator_closes_the_vote() {
    let stack = TestStack::start().await.unwrap();
    let j = stack.journey("FUND1").await;
    // Two units sold to two buyers, one the developer still holds: three owners of equal area.
    let mut owners = Vec::new();
    for (number, phone) in [("0101", "13800000101"), ("0102", "13800000102")] {
        let unit = j.register_unit(number).await.unwrap();
        let contract = j.sell(&unit, &Buyer::walk_in(number, phone)).await.unwrap();
        owners.push(contract.customer_id);
    }
    let unsold = j.register_unit("0103").await.unwrap().unit_id;
    let db = PgPool::connect(&stack.settings.database_url("maintenance"))
        .await
        .unwrap();
    wait_for(
        Duration::from_secs(20),
        "maintenance to learn the owners",
        || async {
            let (units, sold): (i64, i64) = sqlx::query_as(
                "select count(*), count(owner_id) from unit_owners where building_id = $1",
            )
            .bind(Uuid::parse_str(&j.building_id).unwrap())
            .fetch_one(&db)
            .await?;
            Ok((units, sold) == (3, 2))
        },
    )
    .await
    .unwrap();
    let mut staff = client(
        &stack,
        &[Role::PropertyManagement, Role::MaintenanceDispatcher],
    );
    let six_years_ago = anju_kit::time::ProjectZone::or_default("")
        .today()
        .checked_sub_months(chrono::Months::new(72))
        .unwrap();
    staff
        .set_building_warranty(mt::SetBuildingWarrantyRequest {
            request_id: "accepted".into(),
            project_id: j.project_id.clone(),
            building_id: j.building_id.clone(),
            accepted_on: six_years_ago.to_string(),
            design_life_years: 0,
        })
        .await
        .unwrap();
    let propose = |request_id: &str, component: &str| mt::ProposeFundUseRequest {
        request_id: request_id.into(),
        project_id: j.project_id.clone(),
        building_id: j.building_id.clone(),
        component: component.into(),
        description: "re-lay the roof membrane".into(),
        amount: cny(12_000_000),
        vote_closes_at: Some(prost_types::Timestamp {
            seconds: (Utc::now() + chrono::Duration::days(14)).timestamp(),
            nanos: 0,
        }),
    };
    // The structure is under its contractor's warranty for the building's design life.
    refused(
        staff
            .propose_fund_use(propose("structure", "structure"))
            .await,
        "FUND_PART_UNDER_WARRANTY",
    );

    // The seed's rule by default: two of three owners (the developer one of them) approve —
    // exactly two-thirds of the heads and of the area.
    let roof = staff
        .propose_fund_use(propose("roof", "roof_waterproofing"))
        .await
        .unwrap()
        .into_inner()
        .proposal
        .unwrap();
    assert_eq!(roof.rule, mt::FundVoteRule::DoubleTwoThirds as i32);
    assert_eq!((roof.owners, roof.area_cm2), (3, 3 * 890_000));
    let vote = |request_id: &str, proposal: &str, owner: &str, choice: mt::FundChoice| {
        mt::CastFundVoteRequest {
            request_id: request_id.into(),
            proposal_id: proposal.into(),
            owner_id: owner.into(),
            choice: choice as i32,
        }
    };
    let id = roof.proposal_id.clone();
    for (n, (owner, choice)) in [
        (owners[0].as_str(), mt::FundChoice::Approve),
        ("developer", mt::FundChoice::Approve),
        (owners[1].as_str(), mt::FundChoice::Reject),
    ]
    .into_iter()
    .enumerate()
    {
        staff
            .cast_fund_vote(vote(&format!("roof-{n}"), &id, owner, choice))
            .await
            .unwrap();
    }
    refused(
        staff
            .cast_fund_vote(vote("roof-again", &id, &owners[0], mt::FundChoice::Reject))
            .await,
        "ALREADY_VOTED",
    );
    refused(
        staff
            .cast_fund_vote(vote("stranger", &id, "someone", mt::FundChoice::Approve))
            .await,
        "NOT_AN_OWNER",
    );
    // Nobody but the coordinator closes a vote.
    let status = client(&stack, &[Role::Admin])
        .close_fund_vote(mt::CloseFundVoteRequest {
            request_id: "early".into(),
            proposal_id: id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    refused(
        staff
            .record_fund_approval(mt::RecordFundApprovalRequest {
                request_id: "approve-early".into(),
                proposal_id: id.clone(),
                approval_reference: "SZ-2026-118".into(),
            })
            .await,
        "FUND_NOT_CARRIED",
    );
    closes_now(&stack, &id).await;
    let carried = until_state(&staff, &id, "carried").await;
    assert_eq!(
        (
            carried.participating_owners,
            carried.approving_owners,
            carried.approving_area_cm2
        ),
        (3, 2, 2 * 890_000)
    );
    refused(
        staff
            .cast_fund_vote(vote("late", &id, &owners[1], mt::FundChoice::Approve))
            .await,
        "VOTE_CLOSED",
    );
    refused(
        staff
            .record_fund_transfer(mt::RecordFundTransferRequest {
                request_id: "transfer-early".into(),
                proposal_id: id.clone(),
                transfer_reference: "BANK-1".into(),
            })
            .await,
        "FUND_NOT_APPROVED",
    );
    staff
        .record_fund_approval(mt::RecordFundApprovalRequest {
            request_id: "approve".into(),
            proposal_id: id.clone(),
            approval_reference: "SZ-2026-118".into(),
        })
        .await
        .unwrap();
    let done = staff
        .record_fund_transfer(mt::RecordFundTransferRequest {
            request_id: "transfer".into(),
            proposal_id: id.clone(),
            transfer_reference: "BANK-0042".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .proposal
        .unwrap();
    assert_eq!(done.state, "transferred");
    j.saga("fund_use", &id, "the fund saga transferred", |s| {
        s.state == "transferred"
    })
    .await
    .unwrap();
    // The developer pays its unsold unit's share: a third of 120,000.00 yuan, by area.
    let mut finance = j.staff.cashier.clone();
    let mut shares = Vec::new();
    for _ in 0..200 {
        shares = finance
            .list_charges(anju_proto::finance::ListChargesRequest {
                unit_id: unsold.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .charges;
        if !shares.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shares.len(), 1, "{shares:?}");
    assert_eq!(
        (
            shares[0].purpose,
            shares[0].payer_id.as_str(),
            shares[0].amount.as_ref().unwrap().minor_units
        ),
        (
            anju_proto::finance::ChargePurpose::MaintenanceFund as i32,
            "developer",
            4_000_000
        )
    );

    // The Civil Code's rule: two of three take part (two-thirds), one approves — exactly half
    // of the participants, not more: it fails.
    client(&stack, &[Role::Admin])
        .set_fund_vote_rule(mt::SetFundVoteRuleRequest {
            request_id: "civil".into(),
            project_id: j.project_id.clone(),
            rule: mt::FundVoteRule::CivilCode278 as i32,
        })
        .await
        .unwrap();
    let lift = staff
        .propose_fund_use(propose("lift", "electrical"))
        .await
        .unwrap()
        .into_inner()
        .proposal
        .unwrap();
    assert_eq!(lift.rule, mt::FundVoteRule::CivilCode278 as i32);
    let id = lift.proposal_id.clone();
    staff
        .cast_fund_vote(vote("lift-0", &id, &owners[0], mt::FundChoice::Approve))
        .await
        .unwrap();
    staff
        .cast_fund_vote(vote("lift-1", &id, &owners[1], mt::FundChoice::Abstain))
        .await
        .unwrap();
    closes_now(&stack, &id).await;
    let failed = until_state(&staff, &id, "failed").await;
    assert_eq!(
        (failed.participating_owners, failed.approving_owners),
        (2, 1)
    );
    // Another tenant sees nothing.
    let other = MaintenanceServiceClient::new(stack.authed_with(
        "maintenance",
        &anju_testkit::token(Uuid::now_v7(), &[Role::Admin]),
    ));
    let status = other
        .clone()
        .get_fund_proposal(mt::GetFundProposalRequest {
            proposal_id: id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    stack.stop().await.unwrap();
}
