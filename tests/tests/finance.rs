//! Finance as cashiers and the saga coordinator meet it, through real gRPC against every
//! service running as `--target all`: one payment per external reference (also under ten
//! concurrent calls), settlement groups settling exactly once, overpayment and over-refund
//! refused with nothing written, the daily close, statements that sum exactly, validation,
//! roles, and tenant and project scope.

use std::{collections::BTreeMap, time::Duration};

use anju_e2e::{
    TestStack,
    finance::{
        Client, cny, count, fields, finance_as, finance_db, footprint, get_charge, issue, minor,
        new_id, outbox, refused, saga,
    },
    wait_for,
};
use anju_kit::{
    Role,
    auth::{Claims, CoordinatorIssuer, TokenIssuer, expiry},
    config::DEV_HS256_SECRET,
};
use anju_proto::{
    EventPayload,
    common::Money,
    events,
    finance::{
        self as pb, ChargeDirection, ChargePurpose, ChargeStatus, PaymentMethod,
        finance_service_client::FinanceServiceClient,
    },
};
use tonic::Code;
use uuid::Uuid;

fn charge_request(
    project: &str,
    unit: &str,
    purpose: ChargePurpose,
    amount: i64,
    key: &str,
) -> pb::IssueChargeRequest {
    pb::IssueChargeRequest {
        request_id: format!("issue-{key}"),
        project_id: project.into(),
        unit_id: unit.into(),
        payer_id: "owner-wang".into(),
        purpose: purpose as i32,
        amount: cny(amount),
        business_key: key.into(),
        ..Default::default()
    }
}

fn grouped(mut request: pb::IssueChargeRequest, group: &str) -> pb::IssueChargeRequest {
    request.settlement_group = group.into();
    request
}

fn payment_request(
    charge_id: &str,
    amount: i64,
    method: PaymentMethod,
    reference: &str,
    on: &str,
) -> pb::RecordPaymentRequest {
    pb::RecordPaymentRequest {
        request_id: format!("pay-{reference}"),
        charge_id: charge_id.into(),
        amount: cny(amount),
        method: method as i32,
        external_reference: reference.into(),
        received_on: on.into(),
        cashier_id: String::new(),
    }
}

fn refund_request(
    payment_id: &str,
    amount: i64,
    reference: &str,
    on: &str,
) -> pb::RefundPaymentRequest {
    pb::RefundPaymentRequest {
        request_id: format!("refund-{reference}"),
        payment_id: payment_id.into(),
        amount: cny(amount),
        method: PaymentMethod::Unspecified as i32,
        external_reference: reference.into(),
        refunded_on: on.into(),
        cashier_id: String::new(),
        reason: "owner changed plans".into(),
    }
}

async fn pay(client: &mut Client, request: pb::RecordPaymentRequest) -> pb::RecordPaymentResponse {
    client.record_payment(request).await.unwrap().into_inner()
}

async fn refund(
    client: &mut Client,
    request: pb::RefundPaymentRequest,
) -> pb::RefundPaymentResponse {
    client.refund_payment(request).await.unwrap().into_inner()
}

#[tokio::test]
async fn finance_one_external_reference_is_one_payment_even_under_ten_concurrent_calls() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let db = finance_db(&stack).await;
    let (project, unit) = (new_id(), new_id());
    let fee = issue(
        &mut saga(&stack),
        charge_request(&project, &unit, ChargePurpose::PropertyFee, 100_000, "fee"),
    )
    .await;
    let other = issue(
        &mut saga(&stack),
        charge_request(&project, &unit, ChargePurpose::DeedTax, 50_000, "tax"),
    )
    .await;
    let cashier = finance_as(&stack, "cashier-li", &[Role::Cashier]);

    // Ten concurrent reports of one WeChat Pay transaction, each under its own request id.
    let calls = (0..10).map(|i| {
        let mut client = cashier.clone();
        let mut request = payment_request(
            &fee.charge_id,
            30_000,
            PaymentMethod::WechatPay,
            "WX-4200001",
            "2026-03-14",
        );
        request.request_id = format!("pay-wx-{i}");
        async move { client.record_payment(request).await }
    });
    let answers = futures::future::join_all(calls).await;
    let ids: Vec<String> = answers
        .into_iter()
        .map(|a| a.unwrap().into_inner().payment.unwrap().payment_id)
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(count(&db, "payments").await, 1);
    assert_eq!(outbox::<events::PaymentRecorded>(&db).await.len(), 1);
    let charge = get_charge(&mut cashier.clone(), &fee.charge_id).await;
    assert_eq!(
        (minor(&charge.paid), minor(&charge.outstanding)),
        (30_000, 70_000)
    );

    // A retry under one of those request ids gets the stored answer.
    let mut retry = payment_request(
        &fee.charge_id,
        30_000,
        PaymentMethod::WechatPay,
        "WX-4200001",
        "2026-03-14",
    );
    retry.request_id = "pay-wx-3".into();
    assert_eq!(
        pay(&mut cashier.clone(), retry)
            .await
            .payment
            .unwrap()
            .payment_id,
        ids[0]
    );

    // Once the charge is settled, the first reference still answers with the first payment:
    // a repeat is recognised before any overpayment check.
    pay(
        &mut cashier.clone(),
        payment_request(
            &fee.charge_id,
            70_000,
            PaymentMethod::BankCard,
            "POS-77",
            "2026-03-14",
        ),
    )
    .await;
    let mut late = payment_request(
        &fee.charge_id,
        30_000,
        PaymentMethod::WechatPay,
        "WX-4200001",
        "2026-03-14",
    );
    late.request_id = "pay-wx-late".into();
    let answer = pay(&mut cashier.clone(), late).await;
    assert_eq!(answer.payment.unwrap().payment_id, ids[0]);
    assert_eq!(answer.charge.unwrap().status, ChargeStatus::Settled as i32);

    // The reference with other terms, or against another charge, is a conflict and writes nothing.
    let before = footprint(&db).await;
    let mut changed = payment_request(
        &fee.charge_id,
        29_000,
        PaymentMethod::WechatPay,
        "WX-4200001",
        "2026-03-14",
    );
    changed.request_id = "pay-wx-changed".into();
    refused(
        cashier.clone().record_payment(changed).await,
        Code::AlreadyExists,
    );
    let mut elsewhere = payment_request(
        &other.charge_id,
        30_000,
        PaymentMethod::WechatPay,
        "WX-4200001",
        "2026-03-14",
    );
    elsewhere.request_id = "pay-wx-elsewhere".into();
    refused(
        cashier.clone().record_payment(elsewhere).await,
        Code::AlreadyExists,
    );
    assert_eq!(footprint(&db).await, before);

    // One reference raced onto two charges: exactly one payment, the other call a conflict.
    let third = issue(
        &mut saga(&stack),
        charge_request(&project, &unit, ChargePurpose::TitleFees, 50_000, "title"),
    )
    .await;
    let race = |charge: &str, request_id: &str| {
        let mut request = payment_request(
            charge,
            10_000,
            PaymentMethod::BankTransfer,
            "BANK-RACE",
            "2026-03-14",
        );
        request.request_id = request_id.into();
        request
    };
    let (mut a, mut b) = (cashier.clone(), cashier.clone());
    let (on_other, on_third) = tokio::join!(
        a.record_payment(race(&other.charge_id, "race-other")),
        b.record_payment(race(&third.charge_id, "race-third")),
    );
    let mut codes = [on_other.map(|_| Code::Ok), on_third.map(|_| Code::Ok)]
        .map(|r| r.unwrap_or_else(|status| status.code()));
    codes.sort_by_key(|c| *c as i32);
    assert_eq!(codes, [Code::Ok, Code::AlreadyExists]);
    let raced: i64 =
        sqlx::query_scalar("select count(*) from payments where external_reference = 'BANK-RACE'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(raced, 1);

    let listed = cashier
        .clone()
        .list_payments(pb::ListPaymentsRequest {
            charge_id: fee.charge_id.clone(),
            page: None,
        })
        .await
        .unwrap()
        .into_inner()
        .payments;
    assert_eq!(
        listed.iter().map(|p| minor(&p.amount)).collect::<Vec<_>>(),
        [30_000, 70_000]
    );
    assert_eq!(outbox::<events::PaymentRecorded>(&db).await.len(), 3);

    // Eight concurrent sends of one request (one request id): one payment, identical answers;
    // the request id with other terms is refused naming it, and writes nothing.
    let resent = payment_request(
        &third.charge_id,
        5_000,
        PaymentMethod::Alipay,
        "ALI-RESENT",
        "2026-03-14",
    );
    let sends = (0..8).map(|_| {
        let (mut client, request) = (cashier.clone(), resent.clone());
        async move { client.record_payment(request).await.map(|r| r.into_inner()) }
    });
    let answers: Vec<pb::RecordPaymentResponse> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|a| a.expect("every send of the request is answered"))
        .collect();
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    let resent_payments: i64 =
        sqlx::query_scalar("select count(*) from payments where external_reference = 'ALI-RESENT'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(resent_payments, 1);
    let before = footprint(&db).await;
    let mut other_terms = resent.clone();
    other_terms.external_reference = "ALI-OTHER".into();
    let status = cashier
        .clone()
        .record_payment(other_terms)
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["request_id"]);
    assert_eq!(footprint(&db).await, before);
    assert_eq!(outbox::<events::PaymentRecorded>(&db).await.len(), 4);
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn finance_partial_payments_settle_a_group_exactly_once() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let db = finance_db(&stack).await;
    let (project, unit) = (new_id(), new_id());
    let group = format!("handover:{unit}");
    let mut saga = saga(&stack);
    let mut cashier = finance_as(&stack, "cashier-li", &[Role::Cashier]);
    let fee_key = format!("handover:{unit}:property_fee");
    let fund_key = format!("handover:{unit}:maintenance_fund");
    let fee = issue(
        &mut saga,
        grouped(
            charge_request(
                &project,
                &unit,
                ChargePurpose::PropertyFee,
                93_450,
                &fee_key,
            ),
            &group,
        ),
    )
    .await;
    let fund = issue(
        &mut saga,
        grouped(
            charge_request(
                &project,
                &unit,
                ChargePurpose::MaintenanceFund,
                600_000,
                &fund_key,
            ),
            &group,
        ),
    )
    .await;
    assert_eq!(fee.settlement_group, group);

    pay(
        &mut cashier,
        payment_request(
            &fee.charge_id,
            50_000,
            PaymentMethod::Cash,
            "H-1",
            "2026-03-14",
        ),
    )
    .await;
    pay(
        &mut cashier,
        payment_request(
            &fund.charge_id,
            200_000,
            PaymentMethod::BankTransfer,
            "H-2",
            "2026-03-14",
        ),
    )
    .await;
    assert!(
        outbox::<events::SettlementGroupSettled>(&db)
            .await
            .is_empty(),
        "partly paid is not settled"
    );

    // The last two payments race on two charges of the group: exactly one sees it settled.
    let (mut a, mut b) = (cashier.clone(), cashier.clone());
    let (last_fee, last_fund) = tokio::join!(
        a.record_payment(payment_request(
            &fee.charge_id,
            43_450,
            PaymentMethod::BankCard,
            "H-3",
            "2026-03-14"
        )),
        b.record_payment(payment_request(
            &fund.charge_id,
            400_000,
            PaymentMethod::BankTransfer,
            "H-4",
            "2026-03-14"
        )),
    );
    let last_fee = last_fee.unwrap().into_inner().payment.unwrap();
    last_fund.unwrap();
    let settled = outbox::<events::SettlementGroupSettled>(&db).await;
    assert_eq!(settled.len(), 1, "{settled:?}");
    assert_eq!(settled[0].settlement_group, group);
    assert_eq!(
        (settled[0].unit_id.as_str(), settled[0].project_id.as_str()),
        (unit.as_str(), project.as_str())
    );
    assert_eq!(minor(&settled[0].total), 693_450);
    assert_eq!(
        settled[0].charge_ids,
        [fee.charge_id.clone(), fund.charge_id.clone()]
    );

    // Replays of the final payments (new request ids, same references) add nothing.
    for (charge, amount, method, reference) in [
        (&fee.charge_id, 43_450, PaymentMethod::BankCard, "H-3"),
        (&fund.charge_id, 400_000, PaymentMethod::BankTransfer, "H-4"),
    ] {
        let mut replay = payment_request(charge, amount, method, reference, "2026-03-14");
        replay.request_id = format!("replay-{reference}");
        pay(&mut cashier, replay).await;
    }
    assert_eq!(outbox::<events::SettlementGroupSettled>(&db).await.len(), 1);
    assert_eq!(outbox::<events::PaymentRecorded>(&db).await.len(), 4);
    let relayed = db.clone();
    wait_for(
        Duration::from_secs(10),
        "the relay to publish the settlement",
        move || {
            let db = relayed.clone();
            async move {
                let published: i64 = sqlx::query_scalar(
                "select count(*) from outbox where event_type = $1 and published_at is not null",
            )
            .bind(events::SettlementGroupSettled::EVENT_TYPE)
            .fetch_one(&db)
            .await?;
                Ok(published == 1)
            }
        },
    )
    .await
    .unwrap();

    // A refund makes the group owe again; paying it settles the group again, once.
    refund(
        &mut cashier,
        refund_request(&last_fee.payment_id, 10_000, "H-R1", "2026-03-15"),
    )
    .await;
    let reopened = outbox::<events::SettlementGroupReopened>(&db).await;
    assert_eq!(reopened.len(), 1);
    assert_eq!(minor(&reopened[0].outstanding), 10_000);
    pay(
        &mut cashier,
        payment_request(
            &fee.charge_id,
            10_000,
            PaymentMethod::Cash,
            "H-5",
            "2026-03-15",
        ),
    )
    .await;
    assert_eq!(outbox::<events::SettlementGroupSettled>(&db).await.len(), 2);

    // Cancelling the last open charge of a group whose other charges are paid settles it; a
    // group whose only charge is cancelled never settles.
    let down = "contract:C-1:down_payment";
    let first = issue(
        &mut saga,
        grouped(
            charge_request(
                &project,
                &unit,
                ChargePurpose::DownPayment,
                300_000,
                "C-1:dp:1",
            ),
            down,
        ),
    )
    .await;
    let second = issue(
        &mut saga,
        grouped(
            charge_request(
                &project,
                &unit,
                ChargePurpose::DownPayment,
                200_000,
                "C-1:dp:2",
            ),
            down,
        ),
    )
    .await;
    pay(
        &mut cashier,
        payment_request(
            &first.charge_id,
            300_000,
            PaymentMethod::BankTransfer,
            "C-1-P",
            "2026-03-15",
        ),
    )
    .await;
    let cancel = |charge_id: &str, request_id: &str| pb::CancelChargeRequest {
        request_id: request_id.into(),
        charge_id: charge_id.into(),
        reason: "contract cancelled".into(),
    };
    let cancelled = saga
        .cancel_charge(cancel(&second.charge_id, "cancel-2"))
        .await
        .unwrap()
        .into_inner()
        .charge
        .unwrap();
    assert_eq!(
        (cancelled.status, minor(&cancelled.outstanding)),
        (ChargeStatus::Cancelled as i32, 0)
    );
    let lone = issue(
        &mut saga,
        grouped(
            charge_request(&project, &unit, ChargePurpose::Deposit, 5_000, "lone"),
            "subscription:S-9",
        ),
    )
    .await;
    saga.cancel_charge(cancel(&lone.charge_id, "cancel-lone"))
        .await
        .unwrap();
    let settled = outbox::<events::SettlementGroupSettled>(&db).await;
    assert_eq!(settled.len(), 3);
    assert_eq!(
        (
            settled[2].settlement_group.as_str(),
            minor(&settled[2].total)
        ),
        (down, 300_000)
    );
    assert_eq!(
        settled[2].charge_ids,
        std::slice::from_ref(&first.charge_id)
    );
    let cancelled_events = outbox::<events::ChargeCancelled>(&db).await;
    assert_eq!(cancelled_events.len(), 2);
    assert_eq!(cancelled_events[0].reason, "contract cancelled");
    // Cancelling again (another request id) changes nothing and says so by the charge it returns.
    let again = saga
        .cancel_charge(cancel(&second.charge_id, "cancel-2-again"))
        .await
        .unwrap()
        .into_inner()
        .charge
        .unwrap();
    assert_eq!(again.status, ChargeStatus::Cancelled as i32);
    assert_eq!(outbox::<events::ChargeCancelled>(&db).await.len(), 2);

    // A group settles one unit's charges in one currency: a charge of another unit is refused.
    let stray = grouped(
        charge_request(
            &project,
            &new_id(),
            ChargePurpose::PropertyFee,
            1_000,
            "stray",
        ),
        &group,
    );
    let status = refused(saga.issue_charge(stray).await, Code::FailedPrecondition);
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("GROUP_MISMATCH")
    );
    assert!(status.message().contains("another unit"), "{status:?}");

    // The saga replays its IssueCharge steps under new request ids: the business key bills
    // once — a replay returns the charge as it now is, even cancelled — and other terms under
    // the same key are a conflict.
    let charges_before = count(&db, "charges").await;
    let mut replay = grouped(
        charge_request(
            &project,
            &unit,
            ChargePurpose::DownPayment,
            200_000,
            "C-1:dp:2",
        ),
        down,
    );
    replay.request_id = "issue-C-1:dp:2-replayed".into();
    let replayed = issue(&mut saga, replay.clone()).await;
    assert_eq!(replayed.charge_id, second.charge_id);
    assert_eq!(replayed.status, ChargeStatus::Cancelled as i32);
    replay.request_id = "issue-C-1:dp:2-changed".into();
    replay.amount = cny(250_000);
    refused(saga.issue_charge(replay).await, Code::AlreadyExists);
    assert_eq!(count(&db, "charges").await, charges_before);
    assert_eq!(
        outbox::<events::ChargeIssued>(&db).await.len() as i64,
        charges_before
    );
    let listed = cashier
        .list_charges(pb::ListChargesRequest {
            unit_id: unit.clone(),
            page: Some(anju_proto::common::PageRequest {
                page_size: 3,
                page_token: String::new(),
            }),
            building_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.charges.len(), 3);
    assert_eq!(listed.charges[0].charge_id, fee.charge_id);
    assert!(!listed.next_page_token.is_empty());
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn finance_overpayment_is_refused_naming_the_outstanding_amount_and_writes_nothing() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let db = finance_db(&stack).await;
    let (project, unit) = (new_id(), new_id());
    let mut saga = saga(&stack);
    let mut cashier = finance_as(&stack, "cashier-li", &[Role::Cashier]);
    let fee = issue(
        &mut saga,
        charge_request(
            &project,
            &unit,
            ChargePurpose::RenovationFee,
            50_000,
            "reno",
        ),
    )
    .await;
    pay(
        &mut cashier,
        payment_request(
            &fee.charge_id,
            20_000,
            PaymentMethod::Cash,
            "R-1",
            "2026-03-14",
        ),
    )
    .await;

    let before = footprint(&db).await;
    let status = refused(
        cashier
            .record_payment(payment_request(
                &fee.charge_id,
                40_000,
                PaymentMethod::Cash,
                "R-2",
                "2026-03-14",
            ))
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status
            .message()
            .contains("outstanding amount is 30000 CNY minor units"),
        "{status:?}"
    );
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("OVERPAYMENT")
    );
    let info = tonic_types::StatusExt::get_details_error_info(&status).unwrap();
    assert_eq!(info.metadata["outstanding_minor"], "30000");
    assert_eq!(
        footprint(&db).await,
        before,
        "a refused payment writes nothing"
    );
    let charge = get_charge(&mut cashier, &fee.charge_id).await;
    assert_eq!(
        (minor(&charge.paid), minor(&charge.outstanding)),
        (20_000, 30_000)
    );

    // The exact rest settles it; then even one fen more is refused.
    pay(
        &mut cashier,
        payment_request(
            &fee.charge_id,
            30_000,
            PaymentMethod::Cash,
            "R-3",
            "2026-03-14",
        ),
    )
    .await;
    let status = refused(
        cashier
            .record_payment(payment_request(
                &fee.charge_id,
                1,
                PaymentMethod::Cash,
                "R-4",
                "2026-03-14",
            ))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("OVERPAYMENT")
    );
    assert!(
        status.message().contains("outstanding amount is 0 CNY"),
        "{status:?}"
    );

    // A payable is paid out under the same rule.
    let compensation = issue(
        &mut saga,
        charge_request(
            &project,
            &unit,
            ChargePurpose::OwnerCompensation,
            5_000,
            "comp",
        ),
    )
    .await;
    assert_eq!(compensation.direction, ChargeDirection::Payable as i32);
    let status = refused(
        cashier
            .record_payment(payment_request(
                &compensation.charge_id,
                6_000,
                PaymentMethod::BankTransfer,
                "OUT-1",
                "2026-03-14",
            ))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("OVERPAYMENT")
    );
    assert!(
        status.message().contains("outstanding amount is 5000 CNY"),
        "{status:?}"
    );
    pay(
        &mut cashier,
        payment_request(
            &compensation.charge_id,
            5_000,
            PaymentMethod::BankTransfer,
            "OUT-2",
            "2026-03-14",
        ),
    )
    .await;

    // A cancelled charge takes no payment.
    let tax = issue(
        &mut saga,
        charge_request(&project, &unit, ChargePurpose::DeedTax, 9_000, "tax"),
    )
    .await;
    saga.cancel_charge(pb::CancelChargeRequest {
        request_id: "cancel-tax".into(),
        charge_id: tax.charge_id.clone(),
        reason: "paid at the tax bureau".into(),
    })
    .await
    .unwrap();
    let before = footprint(&db).await;
    let status = refused(
        cashier
            .record_payment(payment_request(
                &tax.charge_id,
                9_000,
                PaymentMethod::Cash,
                "T-1",
                "2026-03-14",
            ))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("CHARGE_CANCELLED")
    );
    assert!(status.message().contains("cancelled"), "{status:?}");
    assert_eq!(footprint(&db).await, before);
    assert_eq!(count(&db, "payments").await, 3);
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn finance_refunds_never_exceed_what_was_paid() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let db = finance_db(&stack).await;
    let (project, unit) = (new_id(), new_id());
    let mut saga = saga(&stack);
    let mut cashier = finance_as(&stack, "cashier-li", &[Role::Cashier]);
    let deposit = issue(
        &mut saga,
        charge_request(&project, &unit, ChargePurpose::Deposit, 100_000, "deposit"),
    )
    .await;
    let a = pay(
        &mut cashier,
        payment_request(
            &deposit.charge_id,
            60_000,
            PaymentMethod::Alipay,
            "A-1",
            "2026-03-14",
        ),
    )
    .await;
    let b = pay(
        &mut cashier,
        payment_request(
            &deposit.charge_id,
            40_000,
            PaymentMethod::Cash,
            "B-1",
            "2026-03-14",
        ),
    )
    .await;
    let (a, b) = (a.payment.unwrap(), b.payment.unwrap());

    let first = refund(
        &mut cashier,
        refund_request(&a.payment_id, 20_000, "RF-1", "2026-03-15"),
    )
    .await;
    assert_eq!(
        first.refund.as_ref().unwrap().method,
        PaymentMethod::Alipay as i32,
        "back the way it came"
    );
    assert_eq!(minor(&first.payment.unwrap().refunded), 20_000);

    let before = footprint(&db).await;
    let status = refused(
        cashier
            .refund_payment(refund_request(&a.payment_id, 40_001, "RF-2", "2026-03-15"))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("REFUND_EXCEEDS_REFUNDABLE")
    );
    assert!(
        status
            .message()
            .contains("refundable amount of the payment is 40000 CNY"),
        "{status:?}"
    );
    // Another currency, or a date before the payment, is bad input naming the field.
    let mut hkd = refund_request(&a.payment_id, 1_000, "RF-3", "2026-03-15");
    hkd.amount = Some(Money {
        minor_units: 1_000,
        currency: "HKD".into(),
    });
    assert_eq!(
        fields(&refused(
            cashier.refund_payment(hkd).await,
            Code::InvalidArgument
        )),
        ["amount.currency"]
    );
    let early = refund_request(&a.payment_id, 1_000, "RF-4", "2026-03-13");
    assert_eq!(
        fields(&refused(
            cashier.refund_payment(early).await,
            Code::InvalidArgument
        )),
        ["refunded_on"]
    );
    assert_eq!(
        footprint(&db).await,
        before,
        "refused refunds write nothing"
    );

    refund(
        &mut cashier,
        refund_request(&a.payment_id, 40_000, "RF-5", "2026-03-15"),
    )
    .await;
    let status = refused(
        cashier
            .refund_payment(refund_request(&a.payment_id, 1, "RF-6", "2026-03-15"))
            .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("is 0 CNY"), "{status:?}");

    // One refund per external reference: a repeat under another request id is the first refund;
    // with other terms it is a conflict.
    let once = refund(
        &mut cashier,
        refund_request(&b.payment_id, 15_000, "RF-7", "2026-03-15"),
    )
    .await;
    let mut repeat = refund_request(&b.payment_id, 15_000, "RF-7", "2026-03-15");
    repeat.request_id = "refund-RF-7-again".into();
    let again = refund(&mut cashier, repeat).await;
    assert_eq!(
        again.refund.unwrap().refund_id,
        once.refund.unwrap().refund_id
    );
    let mut changed = refund_request(&b.payment_id, 14_000, "RF-7", "2026-03-15");
    changed.request_id = "refund-RF-7-changed".into();
    refused(cashier.refund_payment(changed).await, Code::AlreadyExists);
    assert_eq!(count(&db, "refunds").await, 3);
    assert_eq!(outbox::<events::PaymentRefunded>(&db).await.len(), 3);

    // The charge's balance follows: paid 100 000, refunded 75 000, outstanding 75 000.
    let charge = get_charge(&mut cashier, &deposit.charge_id).await;
    assert_eq!(
        (
            minor(&charge.paid),
            minor(&charge.refunded),
            minor(&charge.outstanding),
            charge.status
        ),
        (100_000, 75_000, 75_000, ChargeStatus::Open as i32)
    );

    // Something paid: no cancelling. Refunded in full: cancelled as the saga's compensation.
    let cancel = |request_id: &str| pb::CancelChargeRequest {
        request_id: request_id.into(),
        charge_id: deposit.charge_id.clone(),
        reason: "subscription lapsed".into(),
    };
    let status = refused(
        saga.cancel_charge(cancel("cancel-early")).await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("CHARGE_HAS_PAYMENTS")
    );
    assert!(
        status.message().contains("25000 CNY minor units paid"),
        "{status:?}"
    );
    refund(
        &mut cashier,
        refund_request(&b.payment_id, 25_000, "RF-8", "2026-03-16"),
    )
    .await;
    let cancelled = saga
        .cancel_charge(cancel("cancel-late"))
        .await
        .unwrap()
        .into_inner()
        .charge
        .unwrap();
    assert_eq!(cancelled.status, ChargeStatus::Cancelled as i32);

    // A payout is not refunded.
    let compensation = issue(
        &mut saga,
        charge_request(
            &project,
            &unit,
            ChargePurpose::OwnerCompensation,
            3_000,
            "comp",
        ),
    )
    .await;
    let payout = pay(
        &mut cashier,
        payment_request(
            &compensation.charge_id,
            3_000,
            PaymentMethod::BankTransfer,
            "OUT-1",
            "2026-03-16",
        ),
    )
    .await;
    let status = refused(
        cashier
            .refund_payment(refund_request(
                &payout.payment.unwrap().payment_id,
                1_000,
                "RF-9",
                "2026-03-16",
            ))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("PAYOUT_NOT_REFUNDABLE")
    );
    assert!(status.message().contains("payout"), "{status:?}");
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn finance_a_closed_day_refuses_writes_dated_that_day_and_allows_the_next() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let db = finance_db(&stack).await;
    let (project, unit) = (new_id(), new_id());
    let mut saga = saga(&stack);
    let mut li = finance_as(&stack, "cashier-li", &[Role::Cashier]);
    let fee = issue(
        &mut saga,
        charge_request(&project, &unit, ChargePurpose::PropertyFee, 100_000, "fee"),
    )
    .await;
    let (day, next) = ("2026-03-14", "2026-03-15");
    let cash = pay(
        &mut li,
        payment_request(&fee.charge_id, 10_000, PaymentMethod::Cash, "D-1", day),
    )
    .await
    .payment
    .unwrap();
    let wechat = pay(
        &mut li,
        payment_request(&fee.charge_id, 5_000, PaymentMethod::WechatPay, "D-2", day),
    )
    .await
    .payment
    .unwrap();
    refund(
        &mut li,
        refund_request(&cash.payment_id, 3_000, "D-R1", day),
    )
    .await;

    let close = |request_id: &str, date: &str| pb::CloseDayRequest {
        request_id: request_id.into(),
        cashier_id: String::new(),
        business_date: date.into(),
    };
    let closed = li
        .close_day(close("close-1", day))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert!(closed.closed);
    assert_eq!(closed.closed_by, "cashier-li");
    assert_eq!(closed.cashier_id, "cashier-li");
    assert_eq!(closed.totals.len(), 1);
    assert_eq!(
        (
            minor(&closed.totals[0].receipts),
            minor(&closed.totals[0].refunds),
            minor(&closed.totals[0].net)
        ),
        (15_000, 3_000, 12_000)
    );

    // Anything dated that day for that cashier is refused, whoever records it; nothing is written.
    let before = footprint(&db).await;
    let status = refused(
        li.record_payment(payment_request(
            &fee.charge_id,
            1_000,
            PaymentMethod::Cash,
            "D-3",
            day,
        ))
        .await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("DAY_CLOSED")
    );
    assert!(status.message().contains("day closed"), "{status:?}");
    let status = refused(
        li.refund_payment(refund_request(&wechat.payment_id, 1_000, "D-R2", day))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("DAY_CLOSED")
    );
    assert!(status.message().contains("day closed"), "{status:?}");
    let mut on_behalf =
        payment_request(&fee.charge_id, 1_000, PaymentMethod::WechatPay, "D-4", day);
    on_behalf.cashier_id = "cashier-li".into();
    let status = refused(
        saga.record_payment(on_behalf).await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("DAY_CLOSED")
    );
    assert!(status.message().contains("day closed"), "{status:?}");
    assert_eq!(
        footprint(&db).await,
        before,
        "writes to a closed day change nothing"
    );
    // The database refuses to alter the frozen lines too.
    assert!(
        sqlx::query("update daily_close_lines set receipts_minor = 0")
            .execute(&db)
            .await
            .is_err()
    );

    // A repeat of a payment recorded before the close is still answered (it writes nothing).
    let mut repeat = payment_request(&fee.charge_id, 10_000, PaymentMethod::Cash, "D-1", day);
    repeat.request_id = "pay-D-1-again".into();
    assert_eq!(
        pay(&mut li, repeat).await.payment.unwrap().payment_id,
        cash.payment_id
    );

    // Another cashier's day is theirs; the next day is open; a refund of the closed day's
    // payment dated the next day is fine.
    let mut wu = finance_as(&stack, "cashier-wu", &[Role::Cashier]);
    pay(
        &mut wu,
        payment_request(&fee.charge_id, 2_000, PaymentMethod::Cash, "W-1", day),
    )
    .await;
    pay(
        &mut li,
        payment_request(&fee.charge_id, 4_000, PaymentMethod::Cash, "N-1", next),
    )
    .await;
    refund(
        &mut li,
        refund_request(&wechat.payment_id, 1_000, "N-R1", next),
    )
    .await;

    // The closed day's report is frozen: read again, or closed again, it is the same.
    let read = li
        .get_daily_report(pb::GetDailyReportRequest {
            cashier_id: String::new(),
            business_date: day.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(read, closed);
    let reclosed = li
        .close_day(close("close-2", day))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(reclosed, closed);
    let next_report = li
        .get_daily_report(pb::GetDailyReportRequest {
            cashier_id: "cashier-li".into(),
            business_date: next.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert!(!next_report.closed);
    assert_eq!(minor(&next_report.totals[0].net), 3_000);

    // A cashier closes only their own day.
    let mut others = close("close-wu-li", next);
    others.cashier_id = "cashier-li".into();
    refused(wu.close_day(others).await, Code::PermissionDenied);
    stack.stop().await.unwrap();
}

/// One money movement the test made, as the test itself understands it.
struct Move {
    cashier: &'static str,
    date: &'static str,
    project: String,
    charge: String,
    purpose: ChargePurpose,
    method: PaymentMethod,
    kind: Kind,
    amount: i64,
}

/// A step of the scenario: (cashier, date, charge, method, kind, amount, external reference,
/// the reference of the payment it refunds).
type Step = (
    &'static str,
    &'static str,
    &'static str,
    PaymentMethod,
    Kind,
    i64,
    &'static str,
    Option<&'static str>,
);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Receipt,
    Refund,
    Payout,
}

/// (receipts, refunds, payouts) of some moves.
fn cash_of<'a>(moves: impl Iterator<Item = &'a Move>) -> [i64; 3] {
    let mut cash = [0; 3];
    for m in moves {
        cash[m.kind as usize] += m.amount;
    }
    cash
}

fn figures(f: &Option<pb::CashFigures>) -> [i64; 3] {
    let f = f.as_ref().unwrap();
    assert_eq!(
        minor(&f.net),
        minor(&f.receipts) - minor(&f.refunds) - minor(&f.payouts),
        "net of {f:?}"
    );
    [minor(&f.receipts), minor(&f.refunds), minor(&f.payouts)]
}

fn sum(lines: impl Iterator<Item = [i64; 3]>) -> [i64; 3] {
    lines.fold([0; 3], |acc, l| {
        [acc[0] + l[0], acc[1] + l[1], acc[2] + l[2]]
    })
}

/// Payments of one charge raced against each other, and payments raced against the close of
/// their day: each lands once, none beyond the charge's amount, and the closed day's report
/// holds exactly the payments written. (Once the day has its row, a payment is one statement
/// without a lock taken beforehand; these races are what its guards are for.)
#[tokio::test]
async fn finance_payments_racing_each_other_and_the_close_of_their_day_lose_nothing() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let db = finance_db(&stack).await;
    let (project, unit) = (new_id(), new_id());
    let mut saga = saga(&stack);
    let li = finance_as(&stack, "cashier-li", &[Role::Cashier]);
    let day = "2026-03-14";
    let fee = issue(
        &mut saga,
        charge_request(&project, &unit, ChargePurpose::PropertyFee, 100_000, "fee"),
    )
    .await;
    let tax = issue(
        &mut saga,
        charge_request(&project, &unit, ChargePurpose::DeedTax, 100_000, "tax"),
    )
    .await;
    // The day's first payment opens it.
    pay(
        &mut li.clone(),
        payment_request(&fee.charge_id, 100, PaymentMethod::Cash, "OPEN", day),
    )
    .await;

    // Twenty-four concurrent payments of 50 yuan against the 999 yuan left: 19 fit, and each
    // of the other five is refused as an overpayment.
    let calls = (0..24).map(|i| {
        let mut client = li.clone();
        let request = payment_request(
            &fee.charge_id,
            5_000,
            PaymentMethod::WechatPay,
            &format!("WX-{i}"),
            day,
        );
        async move { client.record_payment(request).await }
    });
    let results = futures::future::join_all(calls).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 19);
    for status in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    }
    let charge = get_charge(&mut li.clone(), &fee.charge_id).await;
    assert_eq!(
        (minor(&charge.paid), minor(&charge.outstanding)),
        (95_100, 4_900)
    );
    let recorded: i64 = sqlx::query_scalar(
        "select coalesce(sum(amount_minor), 0)::bigint from payments where charge_id = $1::uuid",
    )
    .bind(&fee.charge_id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(recorded, 95_100);
    assert_eq!(outbox::<events::PaymentRecorded>(&db).await.len(), 20);

    // Twelve payments raced against the close of their day: each is in the closed report or
    // refused as dated on a closed day.
    let calls = (0..12).map(|i| {
        let mut client = li.clone();
        let request = payment_request(
            &tax.charge_id,
            1_000,
            PaymentMethod::BankTransfer,
            &format!("BANK-{i}"),
            day,
        );
        async move { client.record_payment(request).await }
    });
    let mut closer = li.clone();
    let close = closer.close_day(pb::CloseDayRequest {
        request_id: "close-race".into(),
        cashier_id: String::new(),
        business_date: day.into(),
    });
    let (results, closed) = tokio::join!(futures::future::join_all(calls), close);
    let report = closed.unwrap().into_inner().report.unwrap();
    let written = results.iter().filter(|r| r.is_ok()).count() as i64;
    for status in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert_eq!(
            anju_kit::error::refusal_reason(status).as_deref(),
            Some("DAY_CLOSED")
        );
        assert!(status.message().contains("day closed"), "{status:?}");
    }
    let receipts: i64 = report.totals.iter().map(|t| minor(&t.receipts)).sum();
    assert_eq!(receipts, 95_100 + written * 1_000);
    let in_db: i64 = sqlx::query_scalar(
        "select coalesce(sum(amount_minor), 0)::bigint from payments
         where cashier_id = 'cashier-li' and received_on = '2026-03-14'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(in_db, receipts);
    let tax = get_charge(&mut li.clone(), &tax.charge_id).await;
    assert_eq!(minor(&tax.paid), written * 1_000);
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn finance_reports_and_statements_sum_exactly() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let mut saga = saga(&stack);
    let (project_a, project_b) = (new_id(), new_id());
    let (a1, a2, b1) = (new_id(), new_id(), new_id());
    let mut charges: BTreeMap<&str, (pb::Charge, String)> = BTreeMap::new();
    for (name, project, unit, purpose, amount, direction) in [
        (
            "down",
            &project_a,
            &a1,
            ChargePurpose::DownPayment,
            500_000,
            ChargeDirection::Receivable,
        ),
        (
            "fee",
            &project_a,
            &a1,
            ChargePurpose::PropertyFee,
            93_450,
            ChargeDirection::Receivable,
        ),
        (
            "comp",
            &project_a,
            &a1,
            ChargePurpose::OwnerCompensation,
            12_000,
            ChargeDirection::Payable,
        ),
        (
            "area",
            &project_a,
            &a1,
            ChargePurpose::AreaDifference,
            7_500,
            ChargeDirection::Payable,
        ),
        (
            "tax",
            &project_a,
            &a2,
            ChargePurpose::DeedTax,
            45_000,
            ChargeDirection::Receivable,
        ),
        (
            "reno",
            &project_a,
            &a2,
            ChargePurpose::RenovationFee,
            20_000,
            ChargeDirection::Receivable,
        ),
        (
            "fund",
            &project_b,
            &b1,
            ChargePurpose::MaintenanceFund,
            80_000,
            ChargeDirection::Receivable,
        ),
    ] {
        let mut request = charge_request(project, unit, purpose, amount, name);
        request.direction = direction as i32;
        charges.insert(name, (issue(&mut saga, request).await, project.clone()));
    }
    saga.cancel_charge(pb::CancelChargeRequest {
        request_id: "cancel-reno".into(),
        charge_id: charges["reno"].0.charge_id.clone(),
        reason: "no renovation".into(),
    })
    .await
    .unwrap();

    // The movements: two cashiers, a month boundary, every kind, several methods and projects.
    use {Kind::*, PaymentMethod::*};
    let (d1, d2) = ("2026-03-31", "2026-04-01");
    let plan: [Step; 11] = [
        (
            "cashier-li",
            d1,
            "down",
            BankTransfer,
            Receipt,
            300_000,
            "R1",
            None,
        ),
        ("cashier-li", d1, "down", Cash, Receipt, 50_000, "R2", None),
        (
            "cashier-li",
            d1,
            "fee",
            WechatPay,
            Receipt,
            93_450,
            "R3",
            None,
        ),
        (
            "cashier-li",
            d1,
            "comp",
            BankTransfer,
            Payout,
            12_000,
            "R4",
            None,
        ),
        ("cashier-li", d1, "tax", Alipay, Receipt, 45_000, "R5", None),
        ("cashier-li", d1, "fund", Cash, Receipt, 80_000, "R6", None),
        ("cashier-wu", d1, "down", Cash, Receipt, 10_000, "R7", None),
        (
            "cashier-li",
            d1,
            "down",
            Cash,
            Refund,
            20_000,
            "F1",
            Some("R2"),
        ),
        (
            "cashier-li",
            d2,
            "down",
            BankCard,
            Receipt,
            100_000,
            "R8",
            None,
        ),
        (
            "cashier-li",
            d2,
            "tax",
            Alipay,
            Refund,
            5_000,
            "F2",
            Some("R5"),
        ),
        ("cashier-li", d1, "area", Cash, Payout, 7_500, "R9", None),
    ];
    let mut payment_ids: BTreeMap<&str, String> = BTreeMap::new();
    let mut moves = Vec::new();
    for (cashier, date, name, method, kind, amount, reference, refunds) in plan {
        let mut client = finance_as(&stack, cashier, &[Role::Cashier]);
        let (charge, project) = &charges[name];
        match refunds {
            None => {
                let answer = pay(
                    &mut client,
                    payment_request(&charge.charge_id, amount, method, reference, date),
                )
                .await;
                payment_ids.insert(reference, answer.payment.unwrap().payment_id);
            }
            Some(paid) => {
                refund(
                    &mut client,
                    refund_request(&payment_ids[paid], amount, reference, date),
                )
                .await;
            }
        }
        moves.push(Move {
            cashier,
            date,
            project: project.clone(),
            charge: charge.charge_id.clone(),
            purpose: ChargePurpose::try_from(charge.purpose).unwrap(),
            method,
            kind,
            amount,
        });
    }
    let mut li = finance_as(&stack, "cashier-li", &[Role::Cashier]);

    // Daily report of cashier-li on d1: one line per project and method.
    let report = li
        .get_daily_report(pb::GetDailyReportRequest {
            cashier_id: "cashier-li".into(),
            business_date: d1.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    let mut expected: BTreeMap<(String, i32), ([i64; 3], [i32; 3])> = BTreeMap::new();
    for m in moves
        .iter()
        .filter(|m| m.cashier == "cashier-li" && m.date == d1)
    {
        let line = expected
            .entry((m.project.clone(), m.method as i32))
            .or_default();
        line.0[m.kind as usize] += m.amount;
        line.1[m.kind as usize] += 1;
    }
    let lines: BTreeMap<(String, i32), ([i64; 3], [i32; 3])> = report
        .lines
        .iter()
        .map(|l| {
            let counts = [l.receipt_count, l.refund_count, l.payout_count];
            (
                (l.project_id.clone(), l.method),
                (figures(&l.figures), counts),
            )
        })
        .collect();
    assert_eq!(
        lines.len(),
        report.lines.len(),
        "one line per project and method"
    );
    assert_eq!(lines, expected);
    assert_eq!(report.totals.len(), 1);
    let total = figures(&Some(report.totals[0].clone()));
    assert_eq!(total, sum(report.lines.iter().map(|l| figures(&l.figures))));
    assert_eq!(
        total,
        cash_of(
            moves
                .iter()
                .filter(|m| m.cashier == "cashier-li" && m.date == d1)
        )
    );
    assert_eq!(total, [568_450, 20_000, 19_500]);
    assert_eq!(minor(&report.totals[0].net), 528_950);

    // Closing freezes exactly what the live report showed.
    let closed = li
        .close_day(pb::CloseDayRequest {
            request_id: "close-d1".into(),
            cashier_id: String::new(),
            business_date: d1.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!((closed.lines, closed.totals), (report.lines, report.totals));

    // Monthly statements of project A: by purpose, cash-based, each month on its own.
    for (month, prefix) in [("2026-03", "2026-03-"), ("2026-04", "2026-04-")] {
        let statement = li
            .get_monthly_statement(pb::GetMonthlyStatementRequest {
                project_id: project_a.clone(),
                month: month.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .statement
            .unwrap();
        let in_month = || {
            moves
                .iter()
                .filter(|m| m.project == project_a && m.date.starts_with(prefix))
        };
        let mut expected: BTreeMap<i32, [i64; 3]> = BTreeMap::new();
        for m in in_month() {
            expected.entry(m.purpose as i32).or_default()[m.kind as usize] += m.amount;
        }
        let lines: BTreeMap<i32, [i64; 3]> = statement
            .lines
            .iter()
            .map(|l| (l.purpose, figures(&l.figures)))
            .collect();
        assert_eq!(lines.len(), statement.lines.len(), "one line per purpose");
        assert_eq!(lines, expected, "{month}");
        assert_eq!(statement.totals.len(), 1);
        let total = figures(&Some(statement.totals[0].clone()));
        assert_eq!(
            total,
            sum(statement.lines.iter().map(|l| figures(&l.figures)))
        );
        assert_eq!(total, cash_of(in_month()));
    }

    // Unit statement of a1 and a2: every charge with billed, paid, refunded and outstanding.
    for unit in [&a1, &a2] {
        let statement = li
            .get_unit_statement(pb::GetUnitStatementRequest {
                unit_id: unit.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .statement
            .unwrap();
        assert_eq!(statement.project_id, project_a);
        let mut expected: BTreeMap<String, [i64; 4]> = BTreeMap::new();
        let mut expected_totals: BTreeMap<i32, [i64; 4]> = BTreeMap::new();
        for (charge, _) in charges.values().filter(|(c, _)| c.unit_id == **unit) {
            let of_charge = || moves.iter().filter(|m| m.charge == charge.charge_id);
            let paid: i64 = of_charge()
                .filter(|m| m.kind != Refund)
                .map(|m| m.amount)
                .sum();
            let refunded: i64 = of_charge()
                .filter(|m| m.kind == Refund)
                .map(|m| m.amount)
                .sum();
            let billed = if charge.purpose == ChargePurpose::RenovationFee as i32 {
                0
            } else {
                minor(&charge.amount)
            };
            let line = [billed, paid, refunded, billed - paid + refunded];
            expected.insert(charge.charge_id.clone(), line);
            let total = expected_totals.entry(charge.direction).or_default();
            for (t, v) in total.iter_mut().zip(line) {
                *t += v;
            }
        }
        let account = |f: &Option<pb::AccountFigures>| {
            let f = f.as_ref().unwrap();
            [
                minor(&f.billed),
                minor(&f.paid),
                minor(&f.refunded),
                minor(&f.outstanding),
            ]
        };
        let lines: BTreeMap<String, [i64; 4]> = statement
            .lines
            .iter()
            .map(|l| {
                let charge = l.charge.as_ref().unwrap();
                let figures = account(&l.figures);
                assert_eq!(minor(&charge.outstanding), figures[3]);
                (charge.charge_id.clone(), figures)
            })
            .collect();
        assert_eq!(lines, expected);
        let totals: BTreeMap<i32, [i64; 4]> = statement
            .totals
            .iter()
            .map(|t| (t.direction, account(&t.figures)))
            .collect();
        assert_eq!(totals, expected_totals);
        for (direction, total) in &totals {
            let of_direction = statement
                .lines
                .iter()
                .filter(|l| l.charge.as_ref().unwrap().direction == *direction);
            let summed = of_direction.fold([0; 4], |acc, l| {
                let f = account(&l.figures);
                [acc[0] + f[0], acc[1] + f[1], acc[2] + f[2], acc[3] + f[3]]
            });
            assert_eq!(*total, summed);
            assert_eq!(total[3], total[0] - total[1] + total[2]);
        }
    }
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn finance_bad_input_names_the_field_and_changes_nothing() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let db = finance_db(&stack).await;
    let mut saga = saga(&stack);
    let mut cashier = finance_as(&stack, "cashier-li", &[Role::Cashier]);
    let (project, unit) = (new_id(), new_id());
    let fee = issue(
        &mut saga,
        charge_request(&project, &unit, ChargePurpose::PropertyFee, 10_000, "fee"),
    )
    .await;
    let before = footprint(&db).await;

    let status = saga
        .issue_charge(pb::IssueChargeRequest {
            request_id: "bad-charge".into(),
            project_id: "nope".into(),
            unit_id: String::new(),
            payer_id: " ".into(),
            purpose: 0,
            amount: Some(Money {
                minor_units: -5,
                currency: "yuan".into(),
            }),
            business_key: String::new(),
            due_at: None,
            settlement_group: "handover: 12".into(),
            direction: 0,
            building_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        fields(&status),
        [
            "project_id",
            "unit_id",
            "payer_id",
            "purpose",
            "amount.minor_units",
            "amount.currency",
            "business_key",
            "settlement_group"
        ]
    );
    let mut payable_deposit = charge_request(
        &project,
        &unit,
        ChargePurpose::Deposit,
        1_000,
        "payable-deposit",
    );
    payable_deposit.direction = ChargeDirection::Payable as i32;
    assert_eq!(
        fields(&saga.issue_charge(payable_deposit).await.unwrap_err()),
        ["direction"]
    );

    let status = cashier
        .record_payment(pb::RecordPaymentRequest {
            request_id: "bad-payment".into(),
            charge_id: "x".into(),
            amount: None,
            method: 0,
            external_reference: "WX 1".into(),
            received_on: "2026-3-14".into(),
            cashier_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        fields(&status),
        [
            "charge_id",
            "amount",
            "method",
            "external_reference",
            "received_on"
        ]
    );
    let tomorrow_plus = (chrono::Utc::now().date_naive() + chrono::Days::new(5))
        .format("%Y-%m-%d")
        .to_string();
    let future = payment_request(
        &fee.charge_id,
        1_000,
        PaymentMethod::Cash,
        "F-1",
        &tomorrow_plus,
    );
    assert_eq!(
        fields(&cashier.record_payment(future).await.unwrap_err()),
        ["received_on"]
    );
    let mut hkd = payment_request(
        &fee.charge_id,
        1_000,
        PaymentMethod::Cash,
        "F-2",
        "2026-03-14",
    );
    hkd.amount = Some(Money {
        minor_units: 1_000,
        currency: "HKD".into(),
    });
    let status = cashier.record_payment(hkd).await.unwrap_err();
    assert_eq!(fields(&status), ["amount.currency"]);
    assert!(status.message().contains("CNY"), "{status:?}");
    // The saga must say which cashier it books a payment to.
    let unnamed = payment_request(
        &fee.charge_id,
        1_000,
        PaymentMethod::WechatPay,
        "F-3",
        "2026-03-14",
    );
    assert_eq!(
        fields(&saga.record_payment(unnamed).await.unwrap_err()),
        ["cashier_id"]
    );

    let status = cashier
        .refund_payment(pb::RefundPaymentRequest {
            request_id: "bad-refund".into(),
            payment_id: String::new(),
            amount: Some(Money {
                minor_units: 0,
                currency: "CNY".into(),
            }),
            method: 99,
            external_reference: String::new(),
            refunded_on: "tomorrow".into(),
            cashier_id: String::new(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        fields(&status),
        [
            "payment_id",
            "amount.minor_units",
            "method",
            "external_reference",
            "refunded_on"
        ]
    );

    let status = cashier
        .close_day(pb::CloseDayRequest {
            request_id: String::new(),
            cashier_id: String::new(),
            business_date: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["request_id", "business_date"]);
    let status = saga
        .cancel_charge(pb::CancelChargeRequest {
            request_id: "bad-cancel".into(),
            charge_id: fee.charge_id.clone(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["reason"]);
    let status = cashier
        .get_monthly_statement(pb::GetMonthlyStatementRequest {
            project_id: "x".into(),
            month: "2026-13".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["project_id", "month"]);
    let status = cashier
        .get_daily_report(pb::GetDailyReportRequest {
            cashier_id: String::new(),
            business_date: "14.03.2026".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["business_date"]);

    assert_eq!(footprint(&db).await, before, "bad input writes nothing");
    let charge = get_charge(&mut cashier, &fee.charge_id).await;
    assert_eq!(
        (minor(&charge.paid), charge.status),
        (0, ChargeStatus::Open as i32)
    );
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn finance_another_tenant_or_project_sees_nothing() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let db = finance_db(&stack).await;
    let mut saga = saga(&stack);
    let mut cashier = finance_as(&stack, "cashier-li", &[Role::Cashier]);
    let (project, unit) = (new_id(), new_id());
    let fee = issue(
        &mut saga,
        charge_request(&project, &unit, ChargePurpose::PropertyFee, 10_000, "fee"),
    )
    .await;
    let payment = pay(
        &mut cashier,
        payment_request(
            &fee.charge_id,
            4_000,
            PaymentMethod::Cash,
            "P-1",
            "2026-03-14",
        ),
    )
    .await
    .payment
    .unwrap();
    let before = footprint(&db).await;

    // An administrator of another tenant: every object is NOT_FOUND, every listing empty.
    let stranger = TokenIssuer::hs256(DEV_HS256_SECRET)
        .staff(Uuid::now_v7(), "cashier-li", &[Role::Admin])
        .unwrap();
    let mut other = FinanceServiceClient::new(stack.authed_with("finance", &stranger));
    let status = refused(
        other
            .get_charge(pb::GetChargeRequest {
                charge_id: fee.charge_id.clone(),
            })
            .await,
        Code::NotFound,
    );
    let missing = refused(
        other
            .get_charge(pb::GetChargeRequest {
                charge_id: new_id(),
            })
            .await,
        Code::NotFound,
    );
    assert_eq!(
        status.message(),
        missing.message(),
        "a foreign charge looks like a missing one"
    );
    let listed = other
        .list_charges(pb::ListChargesRequest {
            unit_id: unit.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.charges.is_empty());
    refused(
        other
            .list_payments(pb::ListPaymentsRequest {
                charge_id: fee.charge_id.clone(),
                page: None,
            })
            .await,
        Code::NotFound,
    );
    refused(
        other
            .record_payment(payment_request(
                &fee.charge_id,
                1_000,
                PaymentMethod::Cash,
                "X-1",
                "2026-03-14",
            ))
            .await,
        Code::NotFound,
    );
    refused(
        other
            .refund_payment(refund_request(
                &payment.payment_id,
                1_000,
                "X-2",
                "2026-03-14",
            ))
            .await,
        Code::NotFound,
    );
    let cancel = pb::CancelChargeRequest {
        request_id: "x-cancel".into(),
        charge_id: fee.charge_id.clone(),
        reason: "mine now".into(),
    };
    // Cancelling is the coordinator's alone: an admin may not, and the coordinator acting
    // for another tenant finds nothing.
    refused(
        other.cancel_charge(cancel.clone()).await,
        Code::PermissionDenied,
    );
    let foreign_saga = CoordinatorIssuer::development()
        .token(Uuid::now_v7())
        .unwrap();
    refused(
        FinanceServiceClient::new(stack.authed_with("finance", &foreign_saga))
            .cancel_charge(cancel)
            .await,
        Code::NotFound,
    );
    refused(
        other
            .get_unit_statement(pb::GetUnitStatementRequest {
                unit_id: unit.clone(),
            })
            .await,
        Code::NotFound,
    );
    let report = other
        .get_daily_report(pb::GetDailyReportRequest {
            cashier_id: "cashier-li".into(),
            business_date: "2026-03-14".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert!(report.lines.is_empty() && report.totals.is_empty() && !report.closed);
    let statement = other
        .get_monthly_statement(pb::GetMonthlyStatementRequest {
            project_id: project.clone(),
            month: "2026-03".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .statement
        .unwrap();
    assert!(statement.lines.is_empty() && statement.totals.is_empty());
    // Closing "cashier-li"'s day in the other tenant closes nothing of ours.
    other
        .close_day(pb::CloseDayRequest {
            request_id: "x-close".into(),
            cashier_id: "cashier-li".into(),
            business_date: "2026-03-14".into(),
        })
        .await
        .unwrap();
    pay(
        &mut cashier,
        payment_request(
            &fee.charge_id,
            1_000,
            PaymentMethod::Cash,
            "P-2",
            "2026-03-14",
        ),
    )
    .await;

    // Staff of another project of our tenant: NOT_FOUND too, and no figures of this project.
    let scoped = TokenIssuer::hs256(DEV_HS256_SECRET)
        .issue(&Claims {
            sub: "cashier-zhao".into(),
            tenant: stack.tenant.to_string(),
            roles: vec![Role::Cashier],
            projects: vec![new_id()],
            contractor: None,
            exp: expiry(600),
            nbf: None,
            iat: None,
            iss: None,
            aud: None,
        })
        .unwrap();
    let mut elsewhere = FinanceServiceClient::new(stack.authed_with("finance", &scoped));
    refused(
        elsewhere
            .get_charge(pb::GetChargeRequest {
                charge_id: fee.charge_id.clone(),
            })
            .await,
        Code::NotFound,
    );
    refused(
        elsewhere
            .record_payment(payment_request(
                &fee.charge_id,
                1_000,
                PaymentMethod::Cash,
                "Z-1",
                "2026-03-14",
            ))
            .await,
        Code::NotFound,
    );
    refused(
        elsewhere
            .get_monthly_statement(pb::GetMonthlyStatementRequest {
                project_id: project.clone(),
                month: "2026-03".into(),
            })
            .await,
        Code::NotFound,
    );
    refused(
        elsewhere
            .get_unit_statement(pb::GetUnitStatementRequest {
                unit_id: unit.clone(),
            })
            .await,
        Code::NotFound,
    );
    let report = elsewhere
        .get_daily_report(pb::GetDailyReportRequest {
            cashier_id: "cashier-li".into(),
            business_date: "2026-03-14".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert!(report.lines.is_empty(), "{report:?}");

    // Ours is as it was, plus the one payment made after the stranger's close.
    let after = footprint(&db).await;
    let grew: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(b, a)| (b.0, a.1 - b.1))
        .collect();
    // The stranger's close wrote its own tenant's day, key and audit row; P-2 wrote ours.
    assert_eq!(
        grew,
        [
            ("payments", 1),
            ("cashier_days", 1),
            ("outbox", 1),
            ("audit_log", 2),
            ("idempotency_keys", 2)
        ]
    );
    let charge = get_charge(&mut cashier, &fee.charge_id).await;
    assert_eq!(minor(&charge.paid), 5_000);
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn finance_roles_decide_who_handles_money() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let mut saga = saga(&stack);
    let (project, unit) = (new_id(), new_id());
    let fee = issue(
        &mut saga,
        charge_request(&project, &unit, ChargePurpose::PropertyFee, 10_000, "fee"),
    )
    .await;
    let mut cashier = finance_as(&stack, "cashier-li", &[Role::Cashier]);

    let mut consultant = finance_as(&stack, "consultant-chen", &[Role::SalesConsultant]);
    refused(
        consultant
            .record_payment(payment_request(
                &fee.charge_id,
                1_000,
                PaymentMethod::Cash,
                "C-1",
                "2026-03-14",
            ))
            .await,
        Code::PermissionDenied,
    );
    refused(
        cashier
            .cancel_charge(pb::CancelChargeRequest {
                request_id: "cashier-cancel".into(),
                charge_id: fee.charge_id.clone(),
                reason: "no".into(),
            })
            .await,
        Code::PermissionDenied,
    );
    let contractor = anju_testkit::contractor_token(stack.tenant, Uuid::now_v7());
    refused(
        FinanceServiceClient::new(stack.authed_with("finance", &contractor))
            .get_charge(pb::GetChargeRequest {
                charge_id: fee.charge_id.clone(),
            })
            .await,
        Code::PermissionDenied,
    );

    // A cashier books only their own takings; the saga books to the cashier it names.
    let mut for_wu = payment_request(
        &fee.charge_id,
        1_000,
        PaymentMethod::Cash,
        "C-2",
        "2026-03-14",
    );
    for_wu.cashier_id = "cashier-wu".into();
    refused(
        cashier.record_payment(for_wu.clone()).await,
        Code::PermissionDenied,
    );
    let booked = pay(&mut saga, for_wu).await.payment.unwrap();
    assert_eq!(booked.cashier_id, "cashier-wu");
    let own = pay(
        &mut cashier,
        payment_request(
            &fee.charge_id,
            1_000,
            PaymentMethod::Cash,
            "C-3",
            "2026-03-14",
        ),
    )
    .await;
    assert_eq!(own.payment.unwrap().cashier_id, "cashier-li");
    refused(
        saga.refund_payment(refund_request(
            &booked.payment_id,
            500,
            "C-R1",
            "2026-03-14",
        ))
        .await,
        Code::PermissionDenied,
    );

    // Readers read.
    for role in [Role::CustomerService, Role::SalesManager, Role::Operator] {
        let mut reader = finance_as(&stack, "reader", &[role]);
        let statement = reader
            .get_unit_statement(pb::GetUnitStatementRequest {
                unit_id: unit.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .statement
            .unwrap();
        assert_eq!(
            minor(&statement.totals[0].figures.as_ref().unwrap().paid),
            2_000
        );
    }
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn finance_a_common_parts_contractor_charge_is_kept_on_its_building() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let db = finance_db(&stack).await;
    let (project, unit, building) = (new_id(), new_id(), new_id());
    let on_building = |purpose: ChargePurpose, key: &str| pb::IssueChargeRequest {
        unit_id: String::new(),
        building_id: building.clone(),
        payer_id: "contractor-7".into(),
        ..charge_request(&project, "", purpose, 42_017, key)
    };
    let chargeback = issue(
        &mut saga(&stack),
        on_building(ChargePurpose::ContractorChargeback, "maintenance:lift"),
    )
    .await;
    assert_eq!(chargeback.building_id, building);
    assert_eq!(chargeback.unit_id, "");
    assert_eq!(chargeback.direction, ChargeDirection::Receivable as i32);
    // Issued again under its key: the same charge.
    let again = issue(
        &mut saga(&stack),
        on_building(ChargePurpose::ContractorChargeback, "maintenance:lift"),
    )
    .await;
    assert_eq!(again.charge_id, chargeback.charge_id);
    let issued: Vec<(Option<Uuid>, Option<Uuid>)> =
        sqlx::query_as("select unit_id, building_id from charges")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(issued, vec![(None, Some(building.parse().unwrap()))]);

    // An owner's purpose, a settlement group, or both places: refused by field, nothing kept.
    let before = footprint(&db).await;
    let status = refused(
        saga(&stack)
            .issue_charge(on_building(
                ChargePurpose::OwnerCompensation,
                "maintenance:x",
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(fields(&status), vec!["building_id"]);
    let status = refused(
        saga(&stack)
            .issue_charge(grouped(
                on_building(ChargePurpose::ContractorPenalty, "maintenance:y"),
                "maintenance:lift",
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(fields(&status), vec!["settlement_group"]);
    let status = refused(
        saga(&stack)
            .issue_charge(pb::IssueChargeRequest {
                unit_id: unit.clone(),
                ..on_building(ChargePurpose::ContractorPenalty, "maintenance:z")
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(fields(&status), vec!["building_id"]);
    assert_eq!(footprint(&db).await, before);

    // Listed by its building, not among a unit's; paid like any charge.
    let finance = finance_as(&stack, "cashier-zhou", &[Role::Cashier]);
    let listed = finance
        .clone()
        .list_charges(pb::ListChargesRequest {
            building_id: building.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .charges;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].charge_id, chargeback.charge_id);
    let of_unit = finance
        .clone()
        .list_charges(pb::ListChargesRequest {
            unit_id: unit.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .charges;
    assert!(of_unit.is_empty());
    let mut cashier = finance_as(&stack, "cashier-li", &[Role::Cashier]);
    let paid = pay(
        &mut cashier,
        payment_request(
            &chargeback.charge_id,
            42_017,
            PaymentMethod::BankTransfer,
            "BANK-LIFT-1",
            "2026-03-14",
        ),
    )
    .await;
    let payment = paid.payment.unwrap();
    assert_eq!(payment.unit_id, "");
    assert_eq!(
        paid.charge.unwrap().status,
        ChargeStatus::Settled as i32,
        "the contractor's payment settles it"
    );
    stack.stop().await.unwrap();
}
