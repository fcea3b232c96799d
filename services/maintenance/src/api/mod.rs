//! The MaintenanceService API: wire glue and validation. Each handler validates its request
//! (INVALID_ARGUMENT names every bad field, before anything is written), then reads through
//! [`crate::store`] or runs as a command of the pipeline ([`anju_messaging::Commands`]): load
//! from the store, decide with [`crate::domain`], write through the store. Staff's requests and
//! sign-offs are in [`requests`], the map and the warranty facts in [`map`], dispatching in
//! [`dispatch`], the partner's steps in [`partner`] and its feed in [`feed`]; the moves they
//! share with the clock sweeper in [`orders`].

mod charges;
mod closing;
mod dispatch;
mod feed;
mod fund;
mod ledger;
mod map;
pub(crate) mod orders;
mod partner;
mod requests;
mod wire;

use anju_kit::validate::Validator;
use anju_messaging::{Commands, Outbox, bus::Bus, host::Platform};
use anju_proto::{maintenance as pb, maintenance::maintenance_service_server::MaintenanceService};
use sqlx::PgPool;

use crate::store::costs::CostLine;

#[derive(Clone)]
pub struct MaintenanceApi {
    pool: PgPool,
    commands: Commands,
    outbox: Outbox,
    bus: Bus,
}

impl MaintenanceApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
            commands: Commands::new(platform.pool.clone(), platform.outbox.clone()),
            outbox: platform.outbox.clone(),
            bus: platform.bus.clone(),
        }
    }
}

/// The most cost lines a completion reports, and photo references it carries.
const MAX_COST_LINES: usize = 50;
const MAX_PHOTOS: usize = 20;

/// Validates a completion's cost lines (kind, description, a positive amount).
fn cost_lines(v: &mut Validator, lines: &[pb::CostLine]) -> Vec<CostLine> {
    v.count("cost_lines", lines.len(), MAX_COST_LINES);
    lines
        .iter()
        .take(MAX_COST_LINES)
        .enumerate()
        .map(|(i, line)| {
            let field = |f: &str| format!("cost_lines[{i}].{f}");
            if !["labour", "material", "vendor"].contains(&line.kind.as_str()) {
                v.violation(&field("kind"), "must be labour, material or vendor");
            }
            let description = v.text(&field("description"), &line.description, 200);
            let (amount_minor, currency) = v.money(&field("amount"), line.amount.as_ref());
            CostLine {
                repair_request_id: uuid::Uuid::nil(),
                kind: line.kind.clone(),
                description,
                amount_minor,
                currency,
            }
        })
        .collect()
}

/// Validates photo references: at most 20, each one line of at most 300 characters.
fn photo_refs(v: &mut Validator, refs: &[String]) -> Vec<String> {
    v.count("photo_refs", refs.len(), MAX_PHOTOS);
    refs.iter()
        .take(MAX_PHOTOS)
        .enumerate()
        .map(|(i, r)| v.text(&format!("photo_refs[{i}]"), r, 300))
        .collect()
}

anju_kit::rpcs! { impl MaintenanceService for MaintenanceApi in pb {
    create_repair_request(CreateRepairRequestRequest) -> CreateRepairRequestResponse;
    get_repair_request(GetRepairRequestRequest) -> GetRepairRequestResponse;
    complete_work_order(CompleteWorkOrderRequest) -> CompleteWorkOrderResponse;
    sign_off_repair(SignOffRepairRequest) -> SignOffRepairResponse;
    list_work_orders(ListWorkOrdersRequest) -> ListWorkOrdersResponse;
    set_responsibility(SetResponsibilityRequest) -> SetResponsibilityResponse;
    list_responsibilities(ListResponsibilitiesRequest) -> ListResponsibilitiesResponse;
    set_building_warranty(SetBuildingWarrantyRequest) -> SetBuildingWarrantyResponse;
    set_warranty_promise(SetWarrantyPromiseRequest) -> SetWarrantyPromiseResponse;
    assign_work_order(AssignWorkOrderRequest) -> AssignWorkOrderResponse;
    record_repair_follow_up(RecordRepairFollowUpRequest) -> RecordRepairFollowUpResponse;
    decide_repair_plan(DecideRepairPlanRequest) -> DecideRepairPlanResponse;
    propose_repair_plan(ProposeRepairPlanRequest) -> ProposeRepairPlanResponse;
    record_owner_claim(RecordOwnerClaimRequest) -> RecordOwnerClaimResponse;
    answer_owner_claim(AnswerOwnerClaimRequest) -> AnswerOwnerClaimResponse;
    set_fund_vote_rule(SetFundVoteRuleRequest) -> SetFundVoteRuleResponse;
    propose_fund_use(ProposeFundUseRequest) -> ProposeFundUseResponse;
    cast_fund_vote(CastFundVoteRequest) -> CastFundVoteResponse;
    close_fund_vote(CloseFundVoteRequest) -> CloseFundVoteResponse;
    record_fund_approval(RecordFundApprovalRequest) -> RecordFundApprovalResponse;
    record_fund_transfer(RecordFundTransferRequest) -> RecordFundTransferResponse;
    get_fund_proposal(GetFundProposalRequest) -> GetFundProposalResponse;
    get_repair_report(GetRepairReportRequest) -> GetRepairReportResponse;
    get_settlement_statement(GetSettlementStatementRequest) -> GetSettlementStatementResponse;
    issue_settlement_statement(IssueSettlementStatementRequest) -> IssueSettlementStatementResponse;
    accept_work_order(AcceptWorkOrderRequest) -> AcceptWorkOrderResponse;
    decline_work_order(DeclineWorkOrderRequest) -> DeclineWorkOrderResponse;
    check_in_work_order(CheckInWorkOrderRequest) -> CheckInWorkOrderResponse;
    check_out_work_order(CheckOutWorkOrderRequest) -> CheckOutWorkOrderResponse;
} feeds {
    watch_work_order_feed(WatchWorkOrderFeedRequest) -> WatchWorkOrderFeedResponse as WatchWorkOrderFeedStream;
} }
