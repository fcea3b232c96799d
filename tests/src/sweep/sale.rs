//! The world's sale through the coordinator and its handover up to the keys: subscription,
//! deposits, contract, price, batch, fees, inspection, keys, a key loan, and the sagas that
//! carried them; then a second subscription left open for the operator's retry and cancel.

use std::time::Duration;

use anju_proto::{finance as fi, handover as hv, saga as sg, sales as pb};
use tonic::Code;

use super::{
    Caller,
    journey::ID_NUMBER,
    world::{World, cny, day},
};

impl<'a> World<'a> {
    /// [`World::basic`], then a sale and a handover with every step the staff takes.
    pub async fn full(stack: &'a crate::TestStack) -> World<'a> {
        let mut w = World::basic(stack).await;
        let code = w.id("project")[24..].to_string();
        let subscription = w.subscribe(&code).await;
        w.pay_charges("subscription:", 2, "DEP").await;
        let _: pb::GetSubscriptionResponse = w
            .admin_eventually(
                "sales",
                "GetSubscription",
                pb::GetSubscriptionRequest {
                    subscription_id: subscription.clone(),
                },
                |s: &pb::GetSubscriptionResponse| {
                    s.subscription
                        .as_ref()
                        .is_some_and(|s| s.status == pb::SubscriptionStatus::Confirmed as i32)
                },
            )
            .await;
        let contract: pb::SignContractResponse = w
            .admin(
                "sales",
                "SignContract",
                pb::SignContractRequest {
                    request_id: format!("contract-{code}"),
                    subscription_id: subscription.clone(),
                    id_number: ID_NUMBER.into(),
                    contract_area: Some(anju_proto::common::Area {
                        square_centimetres: 890_000,
                    }),
                    payment_method: pb::PaymentMethod::FullPayment as i32,
                    down_payment: cny(235_000_000),
                    down_payment_due_on: day(14),
                    instalments: Vec::new(),
                    homes_owned: 0,
                    lending_bank: String::new(),
                },
            )
            .await;
        let contract = contract.contract.expect("contract").contract_id;
        w.ids.insert("contract", contract.clone());
        let _: pb::GetContractResponse = w
            .admin(
                "sales",
                "GetContract",
                pb::GetContractRequest {
                    contract_id: contract,
                },
            )
            .await;
        w.pay_charges("contract:", 1, "PRICE").await;
        w.handover(&code).await;
        // Before the sagas' part, which ends by cancelling the contract.
        w.title(&code).await;
        w.sagas(&code).await;
        w
    }

    /// Pays the unit's charges whose settlement group starts with `group` (at least `n`), once
    /// the coordinator has issued them.
    async fn pay_charges(&mut self, group: &str, n: usize, reference: &str) {
        self.pay_matching(|g| g.starts_with(group), n, reference)
            .await
    }

    /// Pays the unit's charges whose settlement group `matches` (at least `n`), once the
    /// coordinator has issued them.
    pub(super) async fn pay_matching(
        &mut self,
        matches: impl Fn(&str) -> bool,
        n: usize,
        reference: &str,
    ) {
        let unit = self.id("unit");
        let charges: fi::ListChargesResponse = self
            .admin_eventually(
                "finance",
                "ListCharges",
                fi::ListChargesRequest {
                    unit_id: unit,
                    ..Default::default()
                },
                |c: &fi::ListChargesResponse| {
                    c.charges
                        .iter()
                        .filter(|c| matches(&c.settlement_group))
                        .count()
                        >= n
                },
            )
            .await;
        let due: Vec<fi::Charge> = charges
            .charges
            .into_iter()
            .filter(|c| matches(&c.settlement_group))
            .collect();
        for (i, charge) in due.iter().enumerate() {
            let _: fi::RecordPaymentResponse = self
                .admin(
                    "finance",
                    "RecordPayment",
                    fi::RecordPaymentRequest {
                        request_id: format!("pay-{reference}-{}-{i}", charge.charge_id),
                        charge_id: charge.charge_id.clone(),
                        amount: charge.outstanding.clone(),
                        method: fi::PaymentMethod::BankCard as i32,
                        external_reference: format!("{reference}-{}-{i}", charge.charge_id),
                        received_on: day(0),
                        cashier_id: String::new(),
                    },
                )
                .await;
        }
    }

    async fn handover(&mut self, code: &str) {
        let (project, building, unit) = (self.id("project"), self.id("building"), self.id("unit"));
        // Notices 40 days before a window at midnight: the batch's go out at once.
        let _: hv::SetHandoverSettingsResponse = self
            .admin(
                "handover",
                "SetHandoverSettings",
                hv::SetHandoverSettingsRequest {
                    request_id: format!("settings-{code}"),
                    settings: Some(hv::HandoverSettings {
                        plan_lead_months: 1,
                        notice_lead_days: 40,
                        notice_minute: 0,
                    }),
                },
            )
            .await;
        let _: hv::GetHandoverSettingsResponse = self
            .admin(
                "handover",
                "GetHandoverSettings",
                hv::GetHandoverSettingsRequest {},
            )
            .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let batch = loop {
            let answer = self
                .send::<_, hv::CreateBatchResponse>(
                    "handover",
                    "CreateBatch",
                    Caller::Admin,
                    &hv::CreateBatchRequest {
                        request_id: format!("batch-{code}-{}", uuid::Uuid::now_v7()),
                        project_id: project.clone(),
                        building_id: building.clone(),
                        name: "Tower 1, first handover".into(),
                        window_start: day(40),
                        window_end: day(54),
                        property_fee_per_square_metre_month: cny(350),
                        prepaid_months: 3,
                        construction_cost_per_square_metre: cny(300_000),
                        maintenance_fund_bp: 500,
                        lead_override_reason: String::new(),
                    },
                )
                .await;
            match answer {
                Ok(answer) => break answer.batch.expect("batch"),
                // Handover learns the contract from sales' events.
                Err(status)
                    if matches!(status.code(), Code::FailedPrecondition | Code::NotFound)
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(status) => panic!("handover CreateBatch: {status:?}"),
            }
        };
        self.ids.insert("batch", batch.batch_id.clone());
        for request in [
            hv::GetBatchStatisticsRequest {
                batch_id: batch.batch_id.clone(),
                project_id: String::new(),
            },
            hv::GetBatchStatisticsRequest {
                batch_id: String::new(),
                project_id: project.clone(),
            },
        ] {
            let _: hv::GetBatchStatisticsResponse =
                self.admin("handover", "GetBatchStatistics", request).await;
        }
        let _: hv::SubmitBatchPlanResponse = self
            .admin(
                "handover",
                "SubmitBatchPlan",
                hv::SubmitBatchPlanRequest {
                    request_id: format!("plan-{code}"),
                    batch_id: batch.batch_id.clone(),
                    plan: Some(hv::BatchPlan {
                        days: vec![hv::PlanDay {
                            date: batch.window_start.clone(),
                            building_id: building.clone(),
                            counters: 2,
                            staff: vec!["counter.sun".into()],
                        }],
                        materials: vec!["move-in packs".into()],
                        tasks: Vec::new(),
                    }),
                },
            )
            .await;
        for kind in [
            hv::BookKind::ResidenceManual,
            hv::BookKind::WarrantyCertificate,
        ] {
            let _: hv::RecordBookResponse = self
                .admin(
                    "handover",
                    "RecordBook",
                    hv::RecordBookRequest {
                        request_id: format!("book-{code}-{}", kind as i32),
                        project_id: project.clone(),
                        building_id: building.clone(),
                        layout: String::new(),
                        kind: kind as i32,
                        version: "v1".into(),
                        document_ref: "docs/book.pdf".into(),
                    },
                )
                .await;
        }
        let _: hv::ListBooksResponse = self
            .admin(
                "handover",
                "ListBooks",
                hv::ListBooksRequest {
                    project_id: project.clone(),
                    page: None,
                },
            )
            .await;
        let mut keys: Vec<hv::KeyReceipt> = [
            "security_door",
            "interior_door",
            "intercom_door",
            "water_meter_box",
            "mailbox",
        ]
        .iter()
        .flat_map(|kind| {
            ["owner", "spare"].map(|set| hv::KeyReceipt {
                unit_id: unit.clone(),
                kind: (*kind).into(),
                set: set.into(),
                tag: format!("{code}/{kind}/{set}"),
                ..Default::default()
            })
        })
        .collect();
        keys.push(hv::KeyReceipt {
            floor: 3,
            kind: "public_door".into(),
            set: "spare".into(),
            tag: format!("{code}/F3/public_door"),
            ..Default::default()
        });
        keys.push(hv::KeyReceipt {
            installation: "pump room B1".into(),
            kind: "equipment_room".into(),
            set: "working".into(),
            tag: format!("{code}/pump-room"),
            ..Default::default()
        });
        let _: hv::ReceiveKeysResponse = self
            .admin_eventually(
                "handover",
                "ReceiveKeys",
                hv::ReceiveKeysRequest {
                    request_id: format!("keys-arrive-{code}"),
                    project_id: project.clone(),
                    building_id: building.clone(),
                    keys,
                },
                |_| true,
            )
            .await;
        let _: hv::ListKeysResponse = self
            .admin(
                "handover",
                "ListKeys",
                hv::ListKeysRequest {
                    project_id: project.clone(),
                    building_id: building.clone(),
                    unit_id: unit.clone(),
                    page: None,
                },
            )
            .await;
        // The plan submitted again by the counter (the admin approves another's plan only),
        // and the batch read for the submission it approves.
        let submitted = anju_proto::handover::handover_service_client::HandoverServiceClient::new(
            self.stack.authed_with(
                "handover",
                &anju_testkit::token_for(
                    self.stack.tenant,
                    "counter.sun",
                    &[anju_kit::Role::CustomerService],
                ),
            ),
        )
        .submit_batch_plan(hv::SubmitBatchPlanRequest {
            request_id: format!("plan-again-{code}"),
            batch_id: batch.batch_id.clone(),
            plan: Some(hv::BatchPlan {
                days: vec![hv::PlanDay {
                    date: batch.window_start.clone(),
                    building_id: building.clone(),
                    counters: 3,
                    staff: vec!["counter.sun".into()],
                }],
                ..Default::default()
            }),
        })
        .await
        .expect("the counter's plan")
        .into_inner()
        .batch
        .expect("batch");
        let _: hv::ApproveBatchPlanResponse = self
            .admin(
                "handover",
                "ApproveBatchPlan",
                hv::ApproveBatchPlanRequest {
                    request_id: format!("approve-{code}"),
                    batch_id: batch.batch_id.clone(),
                    plan_submitted_at: submitted.plan_submitted_at,
                },
            )
            .await;
        let _: hv::AddBatchUnitsResponse = self
            .admin(
                "handover",
                "AddBatchUnits",
                hv::AddBatchUnitsRequest {
                    request_id: format!("add-units-{code}"),
                    batch_id: batch.batch_id.clone(),
                },
            )
            .await;
        let _: hv::GetBatchResponse = self
            .admin(
                "handover",
                "GetBatch",
                hv::GetBatchRequest {
                    batch_id: batch.batch_id.clone(),
                },
            )
            .await;
        // The coordinator sends the notices once the plan is approved (their date is past).
        let notified: hv::GetHandoverResponse = self
            .admin_eventually(
                "handover",
                "GetHandover",
                hv::GetHandoverRequest {
                    unit_id: unit.clone(),
                },
                |h: &hv::GetHandoverResponse| h.notices.iter().any(|n| n.channel == "post"),
            )
            .await;
        let posted = notified
            .notices
            .iter()
            .find(|n| n.channel == "post")
            .expect("a notice by post")
            .notice_id
            .clone();
        let _: hv::RecordNoticeTrackingResponse = self
            .admin(
                "handover",
                "RecordNoticeTracking",
                hv::RecordNoticeTrackingRequest {
                    request_id: format!("tracking-{code}"),
                    notice_id: posted,
                    tracking_number: "EMS1234567890CN".into(),
                },
            )
            .await;
        let _: hv::GetMoveInListResponse = self
            .admin(
                "handover",
                "GetMoveInList",
                hv::GetMoveInListRequest {
                    batch_id: batch.batch_id.clone(),
                },
            )
            .await;
        self.pay_charges("handover:", 2, "FEES").await;
        let _: hv::CheckInResponse = self
            .admin(
                "handover",
                "CheckIn",
                hv::CheckInRequest {
                    request_id: format!("checkin-{code}"),
                    unit_id: unit.clone(),
                    id_number: ID_NUMBER.into(),
                },
            )
            .await;
        let _: hv::RecordInspectionResponse = self
            .admin(
                "handover",
                "RecordInspection",
                hv::RecordInspectionRequest {
                    request_id: format!("inspect-{code}"),
                    unit_id: unit.clone(),
                    passed: true,
                    defects: Vec::new(),
                    refusal_reason: String::new(),
                    issues: Vec::new(),
                },
            )
            .await;
        let _: hv::GetHandoverResponse = self
            .admin_eventually(
                "handover",
                "GetHandover",
                hv::GetHandoverRequest {
                    unit_id: unit.clone(),
                },
                |h: &hv::GetHandoverResponse| h.handover.as_ref().is_some_and(|h| h.cleared),
            )
            .await;
        let _ = self
            .send::<_, hv::GrantKeyClearanceResponse>(
                "handover",
                "GrantKeyClearance",
                Caller::Coordinator,
                &hv::GrantKeyClearanceRequest {
                    request_id: format!("clearance-{code}"),
                    unit_id: unit.clone(),
                },
            )
            .await;
        let _: hv::ReleaseKeysResponse = self
            .admin(
                "handover",
                "ReleaseKeys",
                hv::ReleaseKeysRequest {
                    request_id: format!("keys-{code}"),
                    unit_id: unit.clone(),
                    signed_by: "owner-signature-ref".into(),
                },
            )
            .await;
        let loan: hv::LendKeyResponse = self
            .admin(
                "handover",
                "LendKey",
                hv::LendKeyRequest {
                    request_id: format!("lend-{code}"),
                    unit_id: unit.clone(),
                    kind: "mailbox".into(),
                    borrower: "plumber Liu".into(),
                    purpose: "repair".into(),
                    tag: String::new(),
                    project_id: String::new(),
                    reason: hv::LoanReason::Repair as i32,
                    due_back_at: Some(prost_types::Timestamp {
                        seconds: chrono::Utc::now().timestamp() + 86_400,
                        nanos: 0,
                    }),
                    borrower_organisation: "Liu Plumbing".into(),
                },
            )
            .await;
        let loan = loan.loan.expect("loan").loan_id;
        self.ids.insert("loan", loan.clone());
        let _: hv::ReturnKeyResponse = self
            .admin(
                "handover",
                "ReturnKey",
                hv::ReturnKeyRequest {
                    request_id: format!("return-{code}"),
                    loan_id: loan,
                },
            )
            .await;
        let _: hv::LendKeyResponse = self
            .admin(
                "handover",
                "LendKey",
                hv::LendKeyRequest {
                    request_id: format!("lend-floor-{code}"),
                    tag: format!("{code}/F3/public_door"),
                    project_id: project.clone(),
                    borrower: "cleaner Wang".into(),
                    purpose: "windows of floor 3".into(),
                    reason: hv::LoanReason::Cleaning as i32,
                    due_back_at: Some(prost_types::Timestamp {
                        seconds: chrono::Utc::now().timestamp() + 3_600,
                        nanos: 0,
                    }),
                    ..Default::default()
                },
            )
            .await;
        let _: hv::ListKeyLoansResponse = self
            .admin(
                "handover",
                "ListKeyLoans",
                hv::ListKeyLoansRequest {
                    project_id: project.clone(),
                    overdue_only: false,
                    page: None,
                },
            )
            .await;
        let _ = self
            .send::<_, hv::RecordNoticeResponse>(
                "handover",
                "RecordNotice",
                Caller::Admin,
                &hv::RecordNoticeRequest {
                    request_id: format!("reminder-{code}"),
                    unit_id: unit,
                    kind: "reminder".into(),
                    channel: "sms".into(),
                    fees: Vec::new(),
                },
            )
            .await;
    }

    /// The operator's view, and a second subscription whose saga is retried and cancelled.
    async fn sagas(&mut self, code: &str) {
        let project = self.id("project");
        let sagas: sg::ListSagasResponse = self
            .admin(
                "saga",
                "ListSagas",
                sg::ListSagasRequest {
                    project_id: project.clone(),
                    ..Default::default()
                },
            )
            .await;
        let first = sagas.sagas.first().expect("a saga").saga_id.clone();
        let _: sg::GetSagaResponse = self
            .admin("saga", "GetSaga", sg::GetSagaRequest { saga_id: first })
            .await;
        // Two more subscriptions the coordinator's credential confirms and lapses before their
        // flows act on them (nothing is paid yet); then the operator retries and cancels.
        for (n, unit, confirm) in [(1, "spare_unit", true), (2, "third_unit", false)] {
            let subscription: pb::SignSubscriptionResponse = self
                .admin(
                    "sales",
                    "SignSubscription",
                    pb::SignSubscriptionRequest {
                        request_id: format!("sub-{n}-{code}"),
                        unit_id: self.id(unit),
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
            let request_id = format!("settle-{n}-{code}");
            let settled = if confirm {
                self.send::<_, pb::ConfirmSubscriptionResponse>(
                    "sales",
                    "ConfirmSubscription",
                    Caller::Coordinator,
                    &pb::ConfirmSubscriptionRequest {
                        request_id,
                        subscription_id: subscription.clone(),
                    },
                )
                .await
                .map(|_| ())
            } else {
                self.send::<_, pb::LapseSubscriptionResponse>(
                    "sales",
                    "LapseSubscription",
                    Caller::Coordinator,
                    &pb::LapseSubscriptionRequest {
                        request_id,
                        subscription_id: subscription.clone(),
                    },
                )
                .await
                .map(|_| ())
            };
            settled.expect("the coordinator settles a subscription it has not acted on");
            let open: sg::ListSagasResponse = self
                .admin_eventually(
                    "saga",
                    "ListSagas",
                    sg::ListSagasRequest {
                        project_id: project.clone(),
                        ..Default::default()
                    },
                    |l: &sg::ListSagasResponse| l.sagas.iter().any(|s| s.key == subscription),
                )
                .await;
            let saga = open
                .sagas
                .iter()
                .find(|s| s.key == subscription)
                .expect("the subscription's saga")
                .saga_id
                .clone();
            let _ = self
                .send::<_, sg::RetrySagaResponse>(
                    "saga",
                    "RetrySaga",
                    Caller::Admin,
                    &sg::RetrySagaRequest {
                        request_id: format!("retry-{n}-{code}"),
                        saga_id: saga.clone(),
                    },
                )
                .await;
            let _ = self
                .send::<_, sg::CancelSagaResponse>(
                    "saga",
                    "CancelSaga",
                    Caller::Admin,
                    &sg::CancelSagaRequest {
                        request_id: format!("cancel-{n}-{code}"),
                        saga_id: saga,
                        reason: "buyer withdrew".into(),
                    },
                )
                .await;
        }
        let charge: fi::IssueChargeResponse = self
            .admin(
                "finance",
                "IssueCharge",
                fi::IssueChargeRequest {
                    request_id: format!("issue-void-{code}"),
                    project_id: self.id("project"),
                    unit_id: self.id("unit"),
                    payer_id: self.id("customer"),
                    purpose: fi::ChargePurpose::PropertyFee as i32,
                    amount: cny(50_000),
                    business_key: format!("sweep-void-{code}"),
                    ..Default::default()
                },
            )
            .await;
        let _ = self
            .send::<_, fi::CancelChargeResponse>(
                "finance",
                "CancelCharge",
                Caller::Coordinator,
                &fi::CancelChargeRequest {
                    request_id: format!("void-{code}"),
                    charge_id: charge.charge.expect("charge").charge_id,
                    reason: "issued twice".into(),
                },
            )
            .await;
        let _ = self
            .send::<_, pb::CancelContractResponse>(
                "sales",
                "CancelContract",
                Caller::Admin,
                &pb::CancelContractRequest {
                    request_id: format!("cancel-contract-{code}"),
                    contract_id: self.id("contract"),
                    reason: "buyer withdrew".into(),
                },
            )
            .await;
    }
}
