//! The special maintenance fund (DOMAIN.md §3.9): a proposal for a common part out of warranty,
//! the owners' ballots, the count under the project's rule at the closing time (the
//! coordinator's), the authority's approval and the bank's transfer.

use anju_kit::{
    Principal, Refusal, ServiceError, ServiceResult,
    audit::Subject,
    ids::new_id,
    time::{ProjectZone, timestamp},
    validate::Validator,
};
use anju_messaging::EventMeta;
use anju_proto::{
    events::{FundShare, FundTransferred, FundUseApproved, FundUseProposed, FundVoteClosed},
    maintenance as pb,
};
use chrono::{Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{MaintenanceApi, requests::component};
use crate::{
    domain::{
        fund,
        vote::{self, Choice, Electorate, Rule},
        warranty::Component,
    },
    store::{
        fund::{self as rows, Proposal},
        map,
    },
};

fn wire_rule(rule: Rule) -> pb::FundVoteRule {
    match rule {
        Rule::DoubleTwoThirdsOfTotals => pb::FundVoteRule::DoubleTwoThirds,
        Rule::CivilCode278 => pb::FundVoteRule::CivilCode278,
    }
}

fn choice_name(c: Choice) -> &'static str {
    match c {
        Choice::Approve => "approve",
        Choice::Reject => "reject",
        Choice::Abstain => "abstain",
    }
}

fn parse_choice(name: &str) -> Choice {
    match name {
        "approve" => Choice::Approve,
        "reject" => Choice::Reject,
        _ => Choice::Abstain,
    }
}

async fn electorate(conn: &mut PgConnection, id: Uuid) -> ServiceResult<Electorate> {
    let mut e = Electorate::default();
    for (owner, area) in rows::electorate(&mut *conn, id).await? {
        e.add_unit(&owner, area);
    }
    Ok(e)
}

async fn wire(conn: &mut PgConnection, p: Proposal) -> ServiceResult<pb::FundProposal> {
    let e = electorate(conn, p.proposal_id).await?;
    let ballots = rows::ballots(&mut *conn, p.proposal_id).await?.len() as i64;
    Ok(pb::FundProposal {
        proposal_id: p.proposal_id.to_string(),
        project_id: p.project_id.to_string(),
        building_id: p.building_id.to_string(),
        component: p.component,
        description: p.description,
        amount: Some(anju_proto::common::Money {
            minor_units: p.amount_minor,
            currency: p.currency,
        }),
        rule: wire_rule(fund::parse_rule(&p.rule)) as i32,
        state: p.state,
        vote_closes_at: Some(timestamp(p.vote_closes_at)),
        owners: e.owners(),
        area_cm2: e.area(),
        participating_owners: p.participating_owners.unwrap_or(0),
        participating_area_cm2: p.participating_area.unwrap_or(0),
        approving_owners: p.approving_owners.unwrap_or(0),
        approving_area_cm2: p.approving_area.unwrap_or(0),
        ballots,
        approval_reference: p.approval_reference.unwrap_or_default(),
        transfer_reference: p.transfer_reference.unwrap_or_default(),
    })
}

fn state_refusal(code: &'static str, message: &str, state: &str) -> ServiceError {
    Refusal::new(code, message).with("state", state).into()
}

/// A fund event about `p`, caused by `request_id`.
fn meta(p: &Proposal, request_id: &str) -> EventMeta {
    EventMeta::new(p.tenant_id, "fund_proposal", p.proposal_id).caused_by_request(request_id)
}

impl MaintenanceApi {
    pub(crate) async fn set_fund_vote_rule(
        &self,
        principal: &Principal,
        req: pb::SetFundVoteRuleRequest,
    ) -> ServiceResult<pb::SetFundVoteRuleResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let rule = match pb::FundVoteRule::try_from(req.rule) {
            Ok(pb::FundVoteRule::DoubleTwoThirds) => Some(Rule::DoubleTwoThirdsOfTotals),
            Ok(pb::FundVoteRule::CivilCode278) => Some(Rule::CivilCode278),
            _ => {
                v.violation("rule", "must be double_two_thirds or civil_code_278");
                None
            }
        };
        v.finish()?;
        principal.require_project(project_id)?;
        anju_messaging::directory::require_project(&self.pool, principal, project_id).await?;
        let rule = rule.expect("validated");
        self.commands
            .run(
                principal,
                "SetFundVoteRule",
                &request_id,
                &req,
                async |cmd| {
                    rows::set_rule(
                        cmd.conn(),
                        principal.tenant_id,
                        project_id,
                        fund::rule_name(rule),
                    )
                    .await?;
                    Ok((
                        pb::SetFundVoteRuleResponse {
                            project_id: project_id.to_string(),
                            rule: wire_rule(rule) as i32,
                        },
                        Subject::new("project", project_id).with_detail(
                            serde_json::json!({ "fund_vote_rule": fund::rule_name(rule) }),
                        ),
                    ))
                },
            )
            .await
    }

    pub(crate) async fn propose_fund_use(
        &self,
        principal: &Principal,
        req: pb::ProposeFundUseRequest,
    ) -> ServiceResult<pb::ProposeFundUseResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let building_id = v.uuid("building_id", &req.building_id);
        let part = component(&mut v, "component", &req.component);
        if req.component.trim().is_empty() {
            v.violation("component", "is required");
        }
        let description = v.free_text("description", &req.description, 2000);
        let (amount, currency) = v.money("amount", req.amount.as_ref());
        let now = Utc::now();
        let closes = req
            .vote_closes_at
            .as_ref()
            .and_then(anju_kit::time::from_timestamp);
        match closes {
            Some(at) if at >= now + Duration::days(1) && at <= now + Duration::days(90) => {}
            _ => v.violation("vote_closes_at", "must be between a day and 90 days ahead"),
        }
        v.finish()?;
        principal.require_project(project_id)?;
        if !map::building_known(&self.pool, principal.tenant_id, project_id, building_id).await? {
            return Err(ServiceError::not_found("building"));
        }
        let part = Component::parse(&part.expect("validated")).expect("a listed component");
        let Some((accepted_on, design_life)) =
            map::building_warranty(&self.pool, principal.tenant_id, building_id).await?
        else {
            return Err(Refusal::new(
                "ACCEPTANCE_UNKNOWN",
                "the building's completion acceptance is not recorded: its warranty is unknown",
            )
            .with("building_id", building_id)
            .into());
        };
        fund::may_use(
            part,
            accepted_on,
            design_life as u32,
            ProjectZone::or_default("").today(),
        )?;
        let rule = rows::rule_of(&self.pool, principal.tenant_id, project_id)
            .await?
            .unwrap_or_else(|| fund::rule_name(Rule::DoubleTwoThirdsOfTotals).into());
        let proposal = Proposal {
            proposal_id: new_id(),
            tenant_id: principal.tenant_id,
            project_id,
            building_id,
            component: part.name().into(),
            description,
            amount_minor: amount,
            currency,
            rule,
            state: "voting".into(),
            vote_closes_at: closes.expect("validated"),
            participating_area: None,
            participating_owners: None,
            approving_area: None,
            approving_owners: None,
            approval_reference: None,
            transfer_reference: None,
        };
        let outbox = self.outbox.clone();
        self.commands
            .run(
                principal,
                "ProposeFundUse",
                &request_id,
                &req,
                async |cmd| {
                    if rows::propose(cmd.conn(), &proposal).await? == 0 {
                        return Err(
                            Refusal::new("NO_OWNERS", "no unit of the building is known")
                                .with("building_id", building_id)
                                .into(),
                        );
                    }
                    let event = FundUseProposed {
                        proposal_id: proposal.proposal_id.to_string(),
                        project_id: project_id.to_string(),
                        building_id: building_id.to_string(),
                        vote_closes_at_unix: proposal.vote_closes_at.timestamp(),
                    };
                    outbox
                        .append(cmd.conn(), meta(&proposal, &request_id), &event)
                        .await?;
                    Ok((
                        pb::ProposeFundUseResponse {
                            proposal: Some(wire(cmd.conn(), proposal.clone()).await?),
                        },
                        Subject::new("fund_proposal", proposal.proposal_id),
                    ))
                },
            )
            .await
    }

    pub(crate) async fn cast_fund_vote(
        &self,
        principal: &Principal,
        req: pb::CastFundVoteRequest,
    ) -> ServiceResult<pb::CastFundVoteResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("proposal_id", &req.proposal_id);
        let owner = v.text("owner_id", &req.owner_id, 128);
        let choice = match pb::FundChoice::try_from(req.choice) {
            Ok(pb::FundChoice::Approve) => Some(Choice::Approve),
            Ok(pb::FundChoice::Reject) => Some(Choice::Reject),
            Ok(pb::FundChoice::Abstain) => Some(Choice::Abstain),
            _ => {
                v.violation("choice", "must be approve, reject or abstain");
                None
            }
        };
        v.finish()?;
        self.commands
            .run(principal, "CastFundVote", &request_id, &req, async |cmd| {
                let p = rows::visible(cmd.conn(), principal, id, "for update").await?;
                if p.state != "voting" || Utc::now() > p.vote_closes_at {
                    return Err(state_refusal("VOTE_CLOSED", "the vote is closed", &p.state));
                }
                let e = electorate(cmd.conn(), id).await?;
                if vote::tally(&e, &[(owner.as_str(), Choice::Abstain)]).is_err() {
                    return Err(Refusal::new(
                        "NOT_AN_OWNER",
                        "the voter owns no unit of the building",
                    )
                    .with("owner_id", &owner)
                    .into());
                }
                let choice = choice.expect("validated");
                if !rows::cast(cmd.conn(), id, &owner, choice_name(choice)).await? {
                    return Err(Refusal::new("ALREADY_VOTED", "the owner has voted")
                        .with("owner_id", &owner)
                        .into());
                }
                Ok((
                    pb::CastFundVoteResponse {
                        proposal: Some(wire(cmd.conn(), p).await?),
                    },
                    Subject::new("fund_proposal", id).with_detail(
                        serde_json::json!({ "owner_id": owner, "choice": choice_name(choice) }),
                    ),
                ))
            })
            .await
    }

    pub(crate) async fn close_fund_vote(
        &self,
        principal: &Principal,
        req: pb::CloseFundVoteRequest,
    ) -> ServiceResult<pb::CloseFundVoteResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("proposal_id", &req.proposal_id);
        v.finish()?;
        let outbox = self.outbox.clone();
        self.commands
            .run(principal, "CloseFundVote", &request_id, &req, async |cmd| {
                let mut p = rows::visible(cmd.conn(), principal, id, "for update").await?;
                if p.state != "voting" {
                    return Err(state_refusal("VOTE_CLOSED", "the vote is closed", &p.state));
                }
                if Utc::now() < p.vote_closes_at {
                    return Err(Refusal::new("VOTE_STILL_OPEN", "the vote closes later")
                        .with("vote_closes_at", p.vote_closes_at.to_rfc3339())
                        .into());
                }
                let e = electorate(cmd.conn(), id).await?;
                let cast = rows::ballots(&mut *cmd.conn(), id).await?;
                let ballots: Vec<(&str, Choice)> = cast
                    .iter()
                    .map(|(owner, choice)| (owner.as_str(), parse_choice(choice)))
                    .collect();
                let t = vote::tally(&e, &ballots).map_err(|e| {
                    ServiceError::Unexpected(anyhow::anyhow!("a stored ballot: {e:?}"))
                })?;
                let carried = vote::carried(fund::parse_rule(&p.rule), &e, &t);
                let state = if carried { "carried" } else { "failed" };
                rows::close(cmd.conn(), id, state, &t).await?;
                p.state = state.into();
                p.participating_area = Some(t.participating_area);
                p.participating_owners = Some(t.participating_owners);
                p.approving_area = Some(t.approving_area);
                p.approving_owners = Some(t.approving_owners);
                let event = FundVoteClosed {
                    proposal_id: id.to_string(),
                    project_id: p.project_id.to_string(),
                    carried,
                };
                outbox
                    .append(cmd.conn(), meta(&p, &request_id), &event)
                    .await?;
                Ok((
                    pb::CloseFundVoteResponse {
                        proposal: Some(wire(cmd.conn(), p).await?),
                    },
                    Subject::new("fund_proposal", id)
                        .with_detail(serde_json::json!({ "outcome": state })),
                ))
            })
            .await
    }

    pub(crate) async fn record_fund_approval(
        &self,
        principal: &Principal,
        req: pb::RecordFundApprovalRequest,
    ) -> ServiceResult<pb::RecordFundApprovalResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("proposal_id", &req.proposal_id);
        let reference = v.text("approval_reference", &req.approval_reference, 100);
        v.finish()?;
        let outbox = self.outbox.clone();
        self.commands
            .run(
                principal,
                "RecordFundApproval",
                &request_id,
                &req,
                async |cmd| {
                    let mut p = rows::visible(cmd.conn(), principal, id, "for update").await?;
                    if p.state != "carried" {
                        return Err(state_refusal(
                            "FUND_NOT_CARRIED",
                            "the owners did not carry the proposal",
                            &p.state,
                        ));
                    }
                    rows::approve(cmd.conn(), id, &reference).await?;
                    p.state = "approved".into();
                    p.approval_reference = Some(reference.clone());
                    let event = FundUseApproved {
                        proposal_id: id.to_string(),
                        project_id: p.project_id.to_string(),
                    };
                    outbox
                        .append(cmd.conn(), meta(&p, &request_id), &event)
                        .await?;
                    Ok((
                        pb::RecordFundApprovalResponse {
                            proposal: Some(wire(cmd.conn(), p).await?),
                        },
                        Subject::new("fund_proposal", id),
                    ))
                },
            )
            .await
    }

    pub(crate) async fn record_fund_transfer(
        &self,
        principal: &Principal,
        req: pb::RecordFundTransferRequest,
    ) -> ServiceResult<pb::RecordFundTransferResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("proposal_id", &req.proposal_id);
        let reference = v.text("transfer_reference", &req.transfer_reference, 100);
        v.finish()?;
        let outbox = self.outbox.clone();
        self.commands
            .run(
                principal,
                "RecordFundTransfer",
                &request_id,
                &req,
                async |cmd| {
                    let mut p = rows::visible(cmd.conn(), principal, id, "for update").await?;
                    if p.state != "approved" {
                        return Err(state_refusal(
                            "FUND_NOT_APPROVED",
                            "the authority has not approved the proposal",
                            &p.state,
                        ));
                    }
                    rows::transfer(cmd.conn(), id, &reference).await?;
                    p.state = "transferred".into();
                    p.transfer_reference = Some(reference.clone());
                    // The developer pays its unsold units' shares, by area (DOMAIN.md §3.9).
                    let units = rows::units(&mut *cmd.conn(), id).await?;
                    let areas: Vec<((Uuid, bool), i64)> = units
                        .iter()
                        .map(|(unit, owner, area)| ((*unit, owner == rows::DEVELOPER), *area))
                        .collect();
                    let developer_shares = fund::apportion(p.amount_minor, &areas)
                        .into_iter()
                        .filter(|((_, unsold), share)| *unsold && *share > 0)
                        .map(|((unit, _), share)| FundShare {
                            unit_id: unit.to_string(),
                            amount_minor: share,
                            currency: p.currency.clone(),
                        })
                        .collect();
                    let event = FundTransferred {
                        proposal_id: id.to_string(),
                        project_id: p.project_id.to_string(),
                        developer_shares,
                    };
                    outbox
                        .append(cmd.conn(), meta(&p, &request_id), &event)
                        .await?;
                    Ok((
                        pb::RecordFundTransferResponse {
                            proposal: Some(wire(cmd.conn(), p).await?),
                        },
                        Subject::new("fund_proposal", id),
                    ))
                },
            )
            .await
    }

    pub(crate) async fn get_fund_proposal(
        &self,
        principal: &Principal,
        req: pb::GetFundProposalRequest,
    ) -> ServiceResult<pb::GetFundProposalResponse> {
        let mut v = Validator::new();
        let id = v.uuid("proposal_id", &req.proposal_id);
        v.finish()?;
        let mut conn = self.pool.acquire().await?;
        let p = rows::visible(&mut *conn, principal, id, "").await?;
        Ok(pb::GetFundProposalResponse {
            proposal: Some(wire(&mut conn, p).await?),
        })
    }
}
