//! The world's money and after-sales steps, and the sale through the coordinator up to the
//! keys that [`World::full`] adds.

use anju_proto::{
    common::Area, finance as fi, handover as hv, maintenance as mt, sales as pb, title as tt,
};

use super::{
    Caller,
    world::{World, cny, day},
};

/// The identity number the world's buyer signs with.
pub const ID_NUMBER: &str = "44030119900101123X";

impl World<'_> {
    pub(super) async fn finance(&mut self, code: &str) {
        let charge: fi::IssueChargeResponse = self
            .admin(
                "finance",
                "IssueCharge",
                fi::IssueChargeRequest {
                    request_id: format!("issue-{code}"),
                    project_id: self.id("project"),
                    unit_id: self.id("unit"),
                    payer_id: self.id("customer"),
                    purpose: fi::ChargePurpose::PropertyFee as i32,
                    amount: cny(100_000),
                    business_key: format!("sweep-{code}"),
                    ..Default::default()
                },
            )
            .await;
        let charge = charge.charge.expect("charge").charge_id;
        self.ids.insert("charge", charge.clone());
        let _: fi::GetChargeResponse = self
            .admin(
                "finance",
                "GetCharge",
                fi::GetChargeRequest {
                    charge_id: charge.clone(),
                },
            )
            .await;
        let _: fi::ListChargesResponse = self
            .admin(
                "finance",
                "ListCharges",
                fi::ListChargesRequest {
                    unit_id: self.id("unit"),
                    ..Default::default()
                },
            )
            .await;
        // A contractor's chargeback for a common part, kept on its building.
        let _: fi::IssueChargeResponse = self
            .admin(
                "finance",
                "IssueCharge",
                fi::IssueChargeRequest {
                    request_id: format!("issue-building-{code}"),
                    project_id: self.id("project"),
                    building_id: self.id("building"),
                    payer_id: "contractor".into(),
                    purpose: fi::ChargePurpose::ContractorChargeback as i32,
                    amount: cny(45_000),
                    business_key: format!("sweep-building-{code}"),
                    ..Default::default()
                },
            )
            .await;
        let _: fi::ListChargesResponse = self
            .admin(
                "finance",
                "ListCharges",
                fi::ListChargesRequest {
                    building_id: self.id("building"),
                    ..Default::default()
                },
            )
            .await;
        let payment: fi::RecordPaymentResponse = self
            .admin(
                "finance",
                "RecordPayment",
                fi::RecordPaymentRequest {
                    request_id: format!("pay-{code}"),
                    charge_id: charge.clone(),
                    amount: cny(100_000),
                    method: fi::PaymentMethod::BankCard as i32,
                    external_reference: format!("PAY-{code}"),
                    received_on: day(0),
                    cashier_id: String::new(),
                },
            )
            .await;
        let payment = payment.payment.expect("payment").payment_id;
        self.ids.insert("payment", payment.clone());
        let _: fi::ListPaymentsResponse = self
            .admin(
                "finance",
                "ListPayments",
                fi::ListPaymentsRequest {
                    charge_id: charge,
                    page: None,
                },
            )
            .await;
        let _: fi::RefundPaymentResponse = self
            .admin(
                "finance",
                "RefundPayment",
                fi::RefundPaymentRequest {
                    request_id: format!("refund-{code}"),
                    payment_id: payment,
                    amount: cny(10_000),
                    external_reference: format!("REF-{code}"),
                    refunded_on: day(0),
                    reason: "overpaid".into(),
                    ..Default::default()
                },
            )
            .await;
        let _: fi::GetDailyReportResponse = self
            .admin(
                "finance",
                "GetDailyReport",
                fi::GetDailyReportRequest {
                    cashier_id: "test-user".into(),
                    business_date: day(0),
                },
            )
            .await;
        // Yesterday's day: today's stays open for the payments the sale still needs.
        let _: fi::CloseDayResponse = self
            .admin(
                "finance",
                "CloseDay",
                fi::CloseDayRequest {
                    request_id: format!("close-{code}"),
                    cashier_id: "test-user".into(),
                    business_date: day(-1),
                },
            )
            .await;
        let _: fi::GetMonthlyStatementResponse = self
            .admin(
                "finance",
                "GetMonthlyStatement",
                fi::GetMonthlyStatementRequest {
                    project_id: self.id("project"),
                    month: day(0)[..7].to_string(),
                },
            )
            .await;
        let _: fi::GetUnitStatementResponse = self
            .admin(
                "finance",
                "GetUnitStatement",
                fi::GetUnitStatementRequest {
                    unit_id: self.id("unit"),
                },
            )
            .await;
    }

    pub(super) async fn after_sales(&mut self, code: &str) {
        let (project, unit) = (self.id("project"), self.id("unit"));
        self.maintenance_map(code).await;
        let order: mt::CreateRepairRequestResponse = self
            .admin(
                "maintenance",
                "CreateRepairRequest",
                mt::CreateRepairRequestRequest {
                    request_id: format!("repair-{code}"),
                    project_id: project.clone(),
                    unit_id: unit.clone(),
                    source: mt::RepairSource::Owner as i32,
                    category: "plumbing".into(),
                    description: "the kitchen tap leaks".into(),
                    contractor_id: self.contractor.to_string(),
                    not_to_exceed: cny(100_000),
                    reference: String::new(),
                    ..Default::default()
                },
            )
            .await;
        let order = order
            .repair_request
            .expect("repair request")
            .repair_request_id;
        self.ids.insert("repair_request", order.clone());
        let _: mt::GetRepairRequestResponse = self
            .admin(
                "maintenance",
                "GetRepairRequest",
                mt::GetRepairRequestRequest {
                    repair_request_id: order.clone(),
                },
            )
            .await;
        let _: mt::ListWorkOrdersResponse = self
            .admin(
                "maintenance",
                "ListWorkOrders",
                mt::ListWorkOrdersRequest {
                    project_id: project.clone(),
                    page: None,
                    ..Default::default()
                },
            )
            .await;
        self.partner_steps(code, &order).await;
        let _: mt::CompleteWorkOrderResponse = self
            .send(
                "maintenance",
                "CompleteWorkOrder",
                Caller::Contractor,
                &mt::CompleteWorkOrderRequest {
                    request_id: format!("close-{code}"),
                    repair_request_id: order.clone(),
                    resolution: "replaced the washer".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("the contractor reports its order done");
        for party in [
            mt::SignOffParty::Maintenance,
            mt::SignOffParty::Owner,
            mt::SignOffParty::SupervisingEngineer,
            mt::SignOffParty::ProjectDepartment,
        ] {
            let _: mt::SignOffRepairResponse = self
                .admin(
                    "maintenance",
                    "SignOffRepair",
                    mt::SignOffRepairRequest {
                        request_id: format!("sign-off-{}-{code}", party.as_str_name()),
                        repair_request_id: order.clone(),
                        party: party as i32,
                        signed_by: "signature".into(),
                    },
                )
                .await;
        }

        let _: mt::RecordRepairFollowUpResponse = self
            .admin(
                "maintenance",
                "RecordRepairFollowUp",
                mt::RecordRepairFollowUpRequest {
                    request_id: format!("follow-up-{code}"),
                    repair_request_id: order.clone(),
                    visitor: "Zhou Min".into(),
                    satisfaction: 5,
                    comment: "dry since".into(),
                },
            )
            .await;
        self.complaints(code).await;

        // Title learns the unit from sales' events: the survey is retried until it knows it.
        let _: tt::RecordSurveyResponse = self
            .admin_eventually(
                "title",
                "RecordSurvey",
                tt::RecordSurveyRequest {
                    request_id: format!("survey-{code}"),
                    project_id: project.clone(),
                    unit_id: unit.clone(),
                    measured_area: Some(Area {
                        square_centimetres: 891_000,
                    }),
                    surveying_firm: "Survey Co.".into(),
                    report_number: format!("SR-{code}"),
                },
                |_| true,
            )
            .await;
        let _: tt::GetTitleFileResponse = self
            .admin_eventually(
                "title",
                "GetTitleFile",
                tt::GetTitleFileRequest {
                    unit_id: unit.clone(),
                },
                |_| true,
            )
            .await;

        let _: hv::GetUnitResponse = self
            .admin_eventually(
                "handover",
                "GetUnit",
                hv::GetUnitRequest { unit_id: unit },
                |_| true,
            )
            .await;
        let _: hv::ListUnitsResponse = self
            .admin(
                "handover",
                "ListUnits",
                hv::ListUnitsRequest {
                    project_id: project,
                    page: None,
                },
            )
            .await;
    }

    /// Signs a subscription for the world's unit; returns its id.
    pub(super) async fn subscribe(&mut self, code: &str) -> String {
        let subscription: pb::SignSubscriptionResponse = self
            .admin(
                "sales",
                "SignSubscription",
                pb::SignSubscriptionRequest {
                    request_id: format!("sub-{code}"),
                    unit_id: self.id("unit"),
                    customer_id: self.id("customer"),
                    price: cny(235_000_000),
                    small_deposit: cny(5_000_000),
                    full_deposit: cny(20_000_000),
                    top_up_due_on: day(7),
                    id_number: ID_NUMBER.into(),
                },
            )
            .await;
        let subscription = subscription
            .subscription
            .expect("subscription")
            .subscription_id;
        self.ids.insert("subscription", subscription.clone());
        subscription
    }

    /// The responsibility map of the world's building and its warranty facts.
    async fn maintenance_map(&mut self, code: &str) {
        let (project, building) = (self.id("project"), self.id("building"));
        let _: mt::SetBuildingWarrantyResponse = self
            .admin(
                "maintenance",
                "SetBuildingWarranty",
                mt::SetBuildingWarrantyRequest {
                    request_id: format!("accepted-{code}"),
                    project_id: project.clone(),
                    building_id: building.clone(),
                    accepted_on: day(-400),
                    design_life_years: 0,
                },
            )
            .await;
        let vendor = uuid::Uuid::now_v7().to_string();
        let _: mt::SetResponsibilityResponse = self
            .admin(
                "maintenance",
                "SetResponsibility",
                mt::SetResponsibilityRequest {
                    request_id: format!("map-{code}"),
                    responsibility: Some(mt::Responsibility {
                        project_id: project.clone(),
                        building_id: building.clone(),
                        component: "pipe_leaks".into(),
                        contractor_id: self.contractor.to_string(),
                        backup_vendor_id: vendor,
                        settlement_amount: cny(100_000_000),
                        retention: cny(3_000_000),
                        liability_years: 2,
                        ..Default::default()
                    }),
                },
            )
            .await;
        let _: mt::ListResponsibilitiesResponse = self
            .admin(
                "maintenance",
                "ListResponsibilities",
                mt::ListResponsibilitiesRequest {
                    project_id: project.clone(),
                    building_id: building.clone(),
                },
            )
            .await;
        let _: mt::SetWarrantyPromiseResponse = self
            .admin(
                "maintenance",
                "SetWarrantyPromise",
                mt::SetWarrantyPromiseRequest {
                    request_id: format!("promise-{code}"),
                    project_id: project,
                    component: "pipe_leaks".into(),
                    months: 24,
                },
            )
            .await;
    }

    /// The partner's steps on the world's order, and a second order declined and reassigned.
    async fn partner_steps(&mut self, code: &str, order: &str) {
        let _: mt::AcceptWorkOrderResponse = self
            .send(
                "maintenance",
                "AcceptWorkOrder",
                Caller::Contractor,
                &mt::AcceptWorkOrderRequest {
                    request_id: format!("accept-{code}"),
                    repair_request_id: order.into(),
                },
            )
            .await
            .expect("the contractor accepts its order");
        let _: mt::CheckInWorkOrderResponse = self
            .send(
                "maintenance",
                "CheckInWorkOrder",
                Caller::Contractor,
                &mt::CheckInWorkOrderRequest {
                    request_id: format!("check-in-{code}"),
                    repair_request_id: order.into(),
                },
            )
            .await
            .expect("the contractor checks in");
        let _: mt::ProposeRepairPlanResponse = self
            .send(
                "maintenance",
                "ProposeRepairPlan",
                Caller::Contractor,
                &mt::ProposeRepairPlanRequest {
                    request_id: format!("plan-{code}"),
                    repair_request_id: order.into(),
                    description: "replace the whole tap".into(),
                    estimate: cny(150_000),
                },
            )
            .await
            .expect("the contractor proposes a plan");
        let _: mt::DecideRepairPlanResponse = self
            .admin(
                "maintenance",
                "DecideRepairPlan",
                mt::DecideRepairPlanRequest {
                    request_id: format!("decide-plan-{code}"),
                    repair_request_id: order.into(),
                    approve: true,
                    reason: String::new(),
                },
            )
            .await;
        let _: mt::CheckOutWorkOrderResponse = self
            .send(
                "maintenance",
                "CheckOutWorkOrder",
                Caller::Contractor,
                &mt::CheckOutWorkOrderRequest {
                    request_id: format!("check-out-{code}"),
                    repair_request_id: order.into(),
                    progress: "the pipe is ordered".into(),
                },
            )
            .await
            .expect("the contractor checks out");
        let _: mt::CheckInWorkOrderResponse = self
            .send(
                "maintenance",
                "CheckInWorkOrder",
                Caller::Contractor,
                &mt::CheckInWorkOrderRequest {
                    request_id: format!("check-in-again-{code}"),
                    repair_request_id: order.into(),
                },
            )
            .await
            .expect("a second visit");
        let second: mt::CreateRepairRequestResponse = self
            .admin(
                "maintenance",
                "CreateRepairRequest",
                mt::CreateRepairRequestRequest {
                    request_id: format!("second-repair-{code}"),
                    project_id: self.id("project"),
                    unit_id: self.id("spare_unit"),
                    source: mt::RepairSource::Owner as i32,
                    category: "leak".into(),
                    description: "the bathroom drain leaks".into(),
                    component: "pipe_leaks".into(),
                    ..Default::default()
                },
            )
            .await;
        let second = second.repair_request.expect("repair").repair_request_id;
        self.ids.insert("second_repair", second.clone());
        let _: mt::DeclineWorkOrderResponse = self
            .send(
                "maintenance",
                "DeclineWorkOrder",
                Caller::Contractor,
                &mt::DeclineWorkOrderRequest {
                    request_id: format!("decline-{code}"),
                    repair_request_id: second.clone(),
                    reason: "no plumber free".into(),
                },
            )
            .await
            .expect("the contractor declines its order");
        let _: mt::AssignWorkOrderResponse = self
            .admin(
                "maintenance",
                "AssignWorkOrder",
                mt::AssignWorkOrderRequest {
                    request_id: format!("assign-{code}"),
                    repair_request_id: second.clone(),
                    contractor_id: self.contractor.to_string(),
                    reason: "the plumber is free after all".into(),
                    ..Default::default()
                },
            )
            .await;
        self.claims_and_ledger(code, &second).await;
        self.fund(code).await;
    }

    /// An owner's claim on the second order, answered by the contractor; the month's report
    /// and the contractor's statements.
    async fn claims_and_ledger(&mut self, code: &str, order: &str) {
        let _: mt::RecordOwnerClaimResponse = self
            .admin(
                "maintenance",
                "RecordOwnerClaim",
                mt::RecordOwnerClaimRequest {
                    request_id: format!("claim-{code}"),
                    repair_request_id: order.into(),
                    amount: cny(20_000),
                    description: "the rug under the drain".into(),
                },
            )
            .await;
        let _: mt::AnswerOwnerClaimResponse = self
            .send(
                "maintenance",
                "AnswerOwnerClaim",
                Caller::Contractor,
                &mt::AnswerOwnerClaimRequest {
                    request_id: format!("answer-claim-{code}"),
                    repair_request_id: order.into(),
                    accept: true,
                    reason: String::new(),
                },
            )
            .await
            .expect("the contractor accepts the claim");
        let _: mt::GetRepairReportResponse = self
            .admin(
                "maintenance",
                "GetRepairReport",
                mt::GetRepairReportRequest {
                    project_id: self.id("project"),
                    month: day(0)[..7].to_string(),
                },
            )
            .await;
        let _: mt::GetSettlementStatementResponse = self
            .admin(
                "maintenance",
                "GetSettlementStatement",
                mt::GetSettlementStatementRequest {
                    contractor_id: self.contractor.to_string(),
                    quarter: "2026-Q1".into(),
                },
            )
            .await;
        let _: mt::IssueSettlementStatementResponse = self
            .admin(
                "maintenance",
                "IssueSettlementStatement",
                mt::IssueSettlementStatementRequest {
                    request_id: format!("issue-{code}"),
                    contractor_id: self.contractor.to_string(),
                    quarter: "2026-Q1".into(),
                },
            )
            .await;
    }

    /// The special maintenance fund: the building's acceptance moved long ago (the repairs
    /// above keep their decisions), a proposal the developer — owner of every unit yet —
    /// carries, closed by the coordinator once its time is moved past, approved, transferred.
    async fn fund(&mut self, code: &str) {
        let (project, building) = (self.id("project"), self.id("building"));
        let _: mt::SetBuildingWarrantyResponse = self
            .admin(
                "maintenance",
                "SetBuildingWarranty",
                mt::SetBuildingWarrantyRequest {
                    request_id: format!("accepted-long-ago-{code}"),
                    project_id: project.clone(),
                    building_id: building.clone(),
                    accepted_on: day(-3000),
                    design_life_years: 0,
                },
            )
            .await;
        let _: mt::SetFundVoteRuleResponse = self
            .admin(
                "maintenance",
                "SetFundVoteRule",
                mt::SetFundVoteRuleRequest {
                    request_id: format!("fund-rule-{code}"),
                    project_id: project.clone(),
                    rule: mt::FundVoteRule::DoubleTwoThirds as i32,
                },
            )
            .await;
        let proposal: mt::ProposeFundUseResponse = self
            .admin(
                "maintenance",
                "ProposeFundUse",
                mt::ProposeFundUseRequest {
                    request_id: format!("fund-{code}"),
                    project_id: project,
                    building_id: building,
                    component: "roof_waterproofing".into(),
                    description: "re-lay the roof membrane".into(),
                    amount: cny(5_000_000),
                    vote_closes_at: Some(prost_types::Timestamp {
                        seconds: (chrono::Utc::now() + chrono::Duration::days(7)).timestamp(),
                        nanos: 0,
                    }),
                },
            )
            .await;
        let id = proposal.proposal.expect("proposal").proposal_id;
        self.ids.insert("fund_proposal", id.clone());
        let _: mt::CastFundVoteResponse = self
            .admin(
                "maintenance",
                "CastFundVote",
                mt::CastFundVoteRequest {
                    request_id: format!("fund-vote-{code}"),
                    proposal_id: id.clone(),
                    owner_id: "developer".into(),
                    choice: mt::FundChoice::Approve as i32,
                },
            )
            .await;
        let _: mt::GetFundProposalResponse = self
            .admin(
                "maintenance",
                "GetFundProposal",
                mt::GetFundProposalRequest {
                    proposal_id: id.clone(),
                },
            )
            .await;
        let db = sqlx::PgPool::connect(&self.stack.settings.database_url("maintenance"))
            .await
            .expect("maintenance's database");
        sqlx::query(
            "update fund_proposals set vote_closes_at = now() - interval '1 second'
             where proposal_id = $1",
        )
        .bind(uuid::Uuid::parse_str(&id).expect("an id"))
        .execute(&db)
        .await
        .expect("the vote's time moved");
        let _: mt::CloseFundVoteResponse = self
            .send(
                "maintenance",
                "CloseFundVote",
                Caller::Coordinator,
                &mt::CloseFundVoteRequest {
                    request_id: format!("fund-close-{code}"),
                    proposal_id: id.clone(),
                },
            )
            .await
            .expect("the coordinator closes the vote");
        let _: mt::RecordFundApprovalResponse = self
            .admin(
                "maintenance",
                "RecordFundApproval",
                mt::RecordFundApprovalRequest {
                    request_id: format!("fund-approval-{code}"),
                    proposal_id: id.clone(),
                    approval_reference: "SZ-2026-7".into(),
                },
            )
            .await;
        let _: mt::RecordFundTransferResponse = self
            .admin(
                "maintenance",
                "RecordFundTransfer",
                mt::RecordFundTransferRequest {
                    request_id: format!("fund-transfer-{code}"),
                    proposal_id: id,
                    transfer_reference: "BANK-7".into(),
                },
            )
            .await;
    }
}
