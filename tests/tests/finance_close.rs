//! CloseSettlementGroup as the saga coordinator meets it when a subscription lapses or a
//! contract is cancelled, through real gRPC against every service running as `--target all`:
//! unpaid charges cancelled, partly paid ones waived, a share of what was paid owed back as a
//! payable refund a cashier pays out, the same answer on every repeat with nothing written,
//! a closed group refusing new charges, payments and refunds, unknown and foreign groups,
//! payables, roles and validation.

use anju_e2e::{
    TestStack,
    finance::{
        Client, cny, fields, finance_as, finance_db, footprint, get_charge, issue, minor, new_id,
        outbox, refused, saga,
    },
};
use anju_kit::{
    Role,
    auth::{Claims, CoordinatorIssuer, TokenIssuer, expiry},
    config::DEV_HS256_SECRET,
};
use anju_proto::{
    events,
    finance::{
        self as pb, ChargeDirection, ChargePurpose, ChargeStatus, PaymentMethod,
        finance_service_client::FinanceServiceClient,
    },
};
use tonic::{Code, Status};
use uuid::Uuid;

const DAY: &str = "2026-03-14";

/// The tables whose row count changed, and by how much.
fn grown(
    before: &[(&'static str, i64)],
    after: &[(&'static str, i64)],
) -> Vec<(&'static str, i64)> {
    before
        .iter()
        .zip(after)
        .filter(|(b, a)| b != a)
        .map(|(b, a)| (b.0, a.1 - b.1))
        .collect()
}

fn charge_request(
    project: &str,
    unit: &str,
    purpose: ChargePurpose,
    amount: i64,
    key: &str,
    group: &str,
) -> pb::IssueChargeRequest {
    pb::IssueChargeRequest {
        request_id: format!("issue-{key}"),
        project_id: project.into(),
        unit_id: unit.into(),
        payer_id: "owner-wang".into(),
        purpose: purpose as i32,
        amount: cny(amount),
        business_key: key.into(),
        settlement_group: group.into(),
        ..Default::default()
    }
}

fn payment_request(charge_id: &str, amount: i64, reference: &str) -> pb::RecordPaymentRequest {
    pb::RecordPaymentRequest {
        request_id: format!("pay-{reference}"),
        charge_id: charge_id.into(),
        amount: cny(amount),
        method: PaymentMethod::BankTransfer as i32,
        external_reference: reference.into(),
        received_on: DAY.into(),
        cashier_id: String::new(),
    }
}

fn close_request(
    request_id: &str,
    group: &str,
    refund_bp: i32,
    reason: &str,
) -> pb::CloseSettlementGroupRequest {
    pb::CloseSettlementGroupRequest {
        request_id: request_id.into(),
        settlement_group: group.into(),
        refund_bp,
        reason: reason.into(),
        interest_bp: 0,
    }
}

async fn pay(client: &mut Client, request: pb::RecordPaymentRequest) -> pb::Payment {
    client
        .record_payment(request)
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap()
}

async fn close(
    client: &mut Client,
    request: pb::CloseSettlementGroupRequest,
) -> pb::CloseSettlementGroupResponse {
    client
        .close_settlement_group(request)
        .await
        .unwrap()
        .into_inner()
}

/// FAILED_PRECONDITION "settlement group closed".
fn refused_closed(result: Result<tonic::Response<impl std::fmt::Debug>, Status>) {
    let status = refused(result, Code::FailedPrecondition);
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("GROUP_CLOSED")
    );
    assert!(
        status.message().contains("settlement group closed"),
        "{status:?}"
    );
}

#[tokio::test]
async fn finance_close_cancels_unpaid_waives_partly_paid_and_owes_a_refund_once() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let db = finance_db(&stack).await;
    let (project, unit) = (new_id(), new_id());
    let group = "contract:C-7:down_payment";
    let mut saga = saga(&stack);
    let mut cashier = finance_as(&stack, "cashier-li", &[Role::Cashier]);

    // One unpaid, one partly paid (and partly refunded), one fully paid charge.
    let unpaid = issue(
        &mut saga,
        charge_request(
            &project,
            &unit,
            ChargePurpose::DeedTax,
            20_000,
            "C-7:tax",
            group,
        ),
    )
    .await;
    let partly = issue(
        &mut saga,
        charge_request(
            &project,
            &unit,
            ChargePurpose::DownPayment,
            100_000,
            "C-7:dp",
            group,
        ),
    )
    .await;
    let full = issue(
        &mut saga,
        charge_request(
            &project,
            &unit,
            ChargePurpose::TitleFees,
            30_000,
            "C-7:fees",
            group,
        ),
    )
    .await;
    let first = pay(
        &mut cashier,
        payment_request(&partly.charge_id, 50_001, "P-1"),
    )
    .await;
    cashier
        .refund_payment(pb::RefundPaymentRequest {
            request_id: "refund-P-1".into(),
            payment_id: first.payment_id.clone(),
            amount: cny(10_000),
            method: PaymentMethod::Unspecified as i32,
            external_reference: "R-1".into(),
            refunded_on: DAY.into(),
            cashier_id: String::new(),
            reason: "overbooked".into(),
        })
        .await
        .unwrap();
    pay(
        &mut cashier,
        payment_request(&full.charge_id, 10_000, "P-2"),
    )
    .await;
    let last = pay(
        &mut cashier,
        payment_request(&full.charge_id, 20_000, "P-3"),
    )
    .await;
    let issued_before = outbox::<events::ChargeIssued>(&db).await.len();

    // Net paid 40_001 + 30_000 = 70_001; half of it, rounded down, is owed back.
    let reason = "contract cancelled by the buyer";
    let closed = close(&mut saga, close_request("close-1", group, 5_000, reason)).await;
    assert_eq!(closed.settlement_group, group);
    assert!(closed.existed);
    assert_eq!(
        closed.cancelled_charge_ids,
        std::slice::from_ref(&unpaid.charge_id)
    );
    assert_eq!(closed.waived, cny(59_999));
    assert_eq!(closed.paid, cny(70_001));
    assert_eq!(closed.refund_owed, cny(35_000));
    assert!(!closed.refund_charge_id.is_empty());

    let cancelled = get_charge(&mut saga, &unpaid.charge_id).await;
    assert_eq!(cancelled.status, ChargeStatus::Cancelled as i32);
    assert_eq!(cancelled.cancel_reason, reason);
    assert_eq!(minor(&cancelled.outstanding), 0);
    let waived = get_charge(&mut saga, &partly.charge_id).await;
    assert_eq!(
        (
            waived.status,
            minor(&waived.amount),
            minor(&waived.waived),
            minor(&waived.outstanding)
        ),
        (ChargeStatus::Settled as i32, 40_001, 59_999, 0)
    );
    assert_eq!(waived.waive_reason, reason);
    assert_eq!(
        (minor(&waived.paid), minor(&waived.refunded)),
        (50_001, 10_000)
    );
    let kept = get_charge(&mut saga, &full.charge_id).await;
    assert_eq!(
        (kept.status, minor(&kept.amount), minor(&kept.waived)),
        (ChargeStatus::Settled as i32, 30_000, 0)
    );

    // The refund is a payable charge in "<group>:refund", issued once with ChargeIssued.
    let refund_group = format!("{group}:refund");
    let owed = get_charge(&mut saga, &closed.refund_charge_id).await;
    assert_eq!(owed.purpose, ChargePurpose::Refund as i32);
    assert_eq!(owed.direction, ChargeDirection::Payable as i32);
    assert_eq!(owed.status, ChargeStatus::Open as i32);
    assert_eq!(owed.amount, cny(35_000));
    assert_eq!(
        (
            owed.settlement_group.as_str(),
            owed.business_key.as_str(),
            owed.payer_id.as_str(),
            owed.project_id.as_str(),
            owed.unit_id.as_str()
        ),
        (
            refund_group.as_str(),
            refund_group.as_str(),
            "owner-wang",
            project.as_str(),
            unit.as_str()
        )
    );
    assert!(owed.due_at.is_some());
    let issued = outbox::<events::ChargeIssued>(&db).await;
    assert_eq!(issued.len(), issued_before + 1);
    let refund_issued = issued.last().unwrap();
    assert_eq!(
        (
            refund_issued.charge_id.as_str(),
            refund_issued.purpose.as_str(),
            refund_issued.direction.as_str(),
            minor(&refund_issued.amount)
        ),
        (owed.charge_id.as_str(), "refund", "payable", 35_000)
    );

    // The events: the unpaid charge cancelled, the group closed once, and never settled,
    // though every charge left in it is settled now.
    let cancelled_events = outbox::<events::ChargeCancelled>(&db).await;
    assert_eq!(cancelled_events.len(), 1);
    assert_eq!(
        (
            cancelled_events[0].charge_id.as_str(),
            cancelled_events[0].reason.as_str()
        ),
        (unpaid.charge_id.as_str(), reason)
    );
    let closed_events = outbox::<events::SettlementGroupClosed>(&db).await;
    assert_eq!(
        closed_events,
        [events::SettlementGroupClosed {
            settlement_group: group.into(),
            project_id: project.clone(),
            unit_id: unit.clone(),
            waived: cny(59_999),
            paid: cny(70_001),
            refund_owed: cny(35_000),
            refund_charge_id: closed.refund_charge_id.clone(),
            cancelled_charge_ids: vec![unpaid.charge_id.clone()],
            interest: cny(0),
        }]
    );
    assert!(
        outbox::<events::SettlementGroupSettled>(&db)
            .await
            .is_empty()
    );
    assert!(
        outbox::<events::SettlementGroupReopened>(&db)
            .await
            .is_empty()
    );

    // Closing again — the saga retrying under a new request id, even with other terms — gives
    // the same answer and writes nothing but its key and audit row; the same request id
    // replays and writes nothing at all.
    let before = footprint(&db).await;
    let again = close(
        &mut saga,
        close_request("close-2", group, 10_000, "retried"),
    )
    .await;
    assert_eq!(again, closed);
    assert_eq!(
        grown(&before, &footprint(&db).await),
        [("audit_log", 1), ("idempotency_keys", 1)]
    );
    let before = footprint(&db).await;
    let replayed = close(&mut saga, close_request("close-1", group, 5_000, reason)).await;
    assert_eq!(replayed, closed);
    assert_eq!(footprint(&db).await, before);

    // The closed group takes no new charge, payment, refund or cancellation; nothing is written.
    refused_closed(
        saga.issue_charge(charge_request(
            &project,
            &unit,
            ChargePurpose::DownPayment,
            5_000,
            "C-7:dp:2",
            group,
        ))
        .await,
    );
    // A replay of an issue into it is refused too: the group no longer bills.
    let mut replay = charge_request(
        &project,
        &unit,
        ChargePurpose::TitleFees,
        30_000,
        "C-7:fees",
        group,
    );
    replay.request_id = "issue-C-7:fees-again".into();
    refused_closed(saga.issue_charge(replay).await);
    for charge in [&unpaid, &partly, &full] {
        refused_closed(
            cashier
                .record_payment(payment_request(
                    &charge.charge_id,
                    1_000,
                    &format!("late-{}", charge.charge_id),
                ))
                .await,
        );
    }
    refused_closed(
        cashier
            .refund_payment(pb::RefundPaymentRequest {
                request_id: "refund-P-3".into(),
                payment_id: last.payment_id.clone(),
                amount: cny(1_000),
                method: PaymentMethod::Unspecified as i32,
                external_reference: "R-2".into(),
                refunded_on: DAY.into(),
                cashier_id: String::new(),
                reason: "late".into(),
            })
            .await,
    );
    refused_closed(
        saga.cancel_charge(pb::CancelChargeRequest {
            request_id: "cancel-full".into(),
            charge_id: full.charge_id.clone(),
            reason: "late".into(),
        })
        .await,
    );
    assert_eq!(footprint(&db).await, before, "refusals write nothing");
    // A repeat of a payment recorded before the close is still that payment.
    let mut repeat = payment_request(&full.charge_id, 20_000, "P-3");
    repeat.request_id = "pay-P-3-again".into();
    assert_eq!(pay(&mut cashier, repeat).await.payment_id, last.payment_id);

    // A cashier pays the refund out; its own group settles once.
    let payout = pay(
        &mut cashier,
        payment_request(&closed.refund_charge_id, 35_000, "OUT-1"),
    )
    .await;
    assert_eq!(payout.direction, ChargeDirection::Payable as i32);
    let paid_out = get_charge(&mut cashier, &closed.refund_charge_id).await;
    assert_eq!(
        (paid_out.status, minor(&paid_out.outstanding)),
        (ChargeStatus::Settled as i32, 0)
    );
    let settled = outbox::<events::SettlementGroupSettled>(&db).await;
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0].settlement_group, refund_group);
    let report = cashier
        .get_daily_report(pb::GetDailyReportRequest {
            cashier_id: String::new(),
            business_date: DAY.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    let totals = &report.totals[0];
    assert_eq!(
        (
            minor(&totals.receipts),
            minor(&totals.refunds),
            minor(&totals.payouts)
        ),
        (80_001, 10_000, 35_000)
    );
    // Exactly one refund charge exists, and the unit's account sums: nothing owed either way.
    let refunds: i64 = sqlx::query_scalar("select count(*) from charges where purpose = 'refund'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(refunds, 1);
    let statement = cashier
        .get_unit_statement(pb::GetUnitStatementRequest {
            unit_id: unit.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .statement
        .unwrap();
    let totals: Vec<(i32, i64, i64)> = statement
        .totals
        .iter()
        .map(|t| {
            let f = t.figures.as_ref().unwrap();
            (t.direction, minor(&f.billed), minor(&f.outstanding))
        })
        .collect();
    assert_eq!(
        totals,
        [
            (ChargeDirection::Receivable as i32, 70_001, 0),
            (ChargeDirection::Payable as i32, 35_000, 0)
        ]
    );
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn finance_close_unknown_foreign_and_out_of_scope_groups_change_nothing() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let db = finance_db(&stack).await;
    let (project, unit) = (new_id(), new_id());
    let group = "subscription:S-3";
    let mut saga = saga(&stack);
    let mut cashier = finance_as(&stack, "cashier-li", &[Role::Cashier]);
    let deposit = issue(
        &mut saga,
        charge_request(
            &project,
            &unit,
            ChargePurpose::Deposit,
            50_000,
            "S-3:deposit",
            group,
        ),
    )
    .await;
    pay(
        &mut cashier,
        payment_request(&deposit.charge_id, 20_000, "S-3-P1"),
    )
    .await;

    // Nothing was ever charged in this group: existed = false, only the key and audit row.
    let before = footprint(&db).await;
    let unknown = close(
        &mut saga,
        close_request("close-unknown", "subscription:S-404", 5_000, "lapsed"),
    )
    .await;
    assert_eq!(
        unknown,
        pb::CloseSettlementGroupResponse {
            settlement_group: "subscription:S-404".into(),
            existed: false,
            ..Default::default()
        }
    );
    assert_eq!(
        grown(&before, &footprint(&db).await),
        [("audit_log", 1), ("idempotency_keys", 1)]
    );

    // The saga of another tenant sees no such group; an administrator may not close one.
    let before = footprint(&db).await;
    let token = CoordinatorIssuer::development()
        .token(Uuid::now_v7())
        .unwrap();
    let mut stranger = FinanceServiceClient::new(stack.authed_with("finance", &token));
    let answer = close(
        &mut stranger,
        close_request("x-close", group, 10_000, "mine now"),
    )
    .await;
    assert!(!answer.existed, "{answer:?}");
    assert!(answer.cancelled_charge_ids.is_empty() && answer.refund_charge_id.is_empty());
    let admin = TokenIssuer::hs256(DEV_HS256_SECRET)
        .staff(stack.tenant, "root", &[Role::Admin])
        .unwrap();
    let status = FinanceServiceClient::new(stack.authed_with("finance", &admin))
        .close_settlement_group(close_request(
            "admin-close-refused",
            group,
            10_000,
            "mine now",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // Nor does a service principal scoped to another project of our tenant.
    let scoped = CoordinatorIssuer::development()
        .issue(&Claims {
            sub: "saga-coordinator".into(),
            tenant: stack.tenant.to_string(),
            roles: vec![Role::Service],
            projects: vec![new_id()],
            contractor: None,
            exp: expiry(120),
            nbf: None,
            iat: None,
            iss: None,
            aud: None,
        })
        .unwrap();
    let mut elsewhere = FinanceServiceClient::new(stack.authed_with("finance", &scoped));
    assert!(
        !close(
            &mut elsewhere,
            close_request("scoped-close", group, 10_000, "not mine")
        )
        .await
        .existed
    );
    // Each wrote only its own key and audit row; our group is open and takes payments.
    assert_eq!(
        grown(&before, &footprint(&db).await),
        [("audit_log", 2), ("idempotency_keys", 2)]
    );
    assert!(
        outbox::<events::SettlementGroupClosed>(&db)
            .await
            .is_empty()
    );
    let charge = get_charge(&mut cashier, &deposit.charge_id).await;
    assert_eq!(
        (charge.status, minor(&charge.amount)),
        (ChargeStatus::Open as i32, 50_000)
    );
    pay(
        &mut cashier,
        payment_request(&deposit.charge_id, 5_000, "S-3-P2"),
    )
    .await;

    // Only the saga coordinator closes groups.
    refused(
        cashier
            .close_settlement_group(close_request("cashier-close", group, 0, "no"))
            .await,
        Code::PermissionDenied,
    );
    // The coordinator closes it with nothing refunded: the rest is waived, no refund issued.
    let closed = close(
        &mut saga,
        close_request("forfeit-close", group, 0, "deposit forfeited"),
    )
    .await;
    assert_eq!(
        (
            closed.existed,
            minor(&closed.waived),
            minor(&closed.paid),
            minor(&closed.refund_owed),
            closed.refund_charge_id.as_str()
        ),
        (true, 25_000, 25_000, 0, "")
    );
    assert!(closed.cancelled_charge_ids.is_empty());
    let refunds: i64 = sqlx::query_scalar("select count(*) from charges where purpose = 'refund'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(refunds, 0);

    // A group whose only charge is unpaid: cancelled, nothing paid, nothing owed.
    let lone = issue(
        &mut saga,
        charge_request(
            &project,
            &unit,
            ChargePurpose::Deposit,
            8_000,
            "S-4:deposit",
            "subscription:S-4",
        ),
    )
    .await;
    let closed = close(
        &mut saga,
        close_request("close-S-4", "subscription:S-4", 10_000, "lapsed"),
    )
    .await;
    assert_eq!(
        closed.cancelled_charge_ids,
        std::slice::from_ref(&lone.charge_id)
    );
    assert_eq!(
        (
            minor(&closed.waived),
            minor(&closed.paid),
            minor(&closed.refund_owed)
        ),
        (0, 0, 0)
    );
    assert!(
        outbox::<events::SettlementGroupSettled>(&db)
            .await
            .is_empty()
    );
    assert_eq!(outbox::<events::SettlementGroupClosed>(&db).await.len(), 2);
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn finance_close_payables_and_many_payers_owe_no_guessed_refund() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let db = finance_db(&stack).await;
    let (project, unit) = (new_id(), new_id());
    let mut saga = saga(&stack);
    let mut cashier = finance_as(&stack, "cashier-li", &[Role::Cashier]);

    // A group of payables: one partly paid out, one not at all.
    let group = "compensation:W-1";
    let mut paid_out = charge_request(
        &project,
        &unit,
        ChargePurpose::OwnerCompensation,
        80_000,
        "W-1:a",
        group,
    );
    paid_out.direction = ChargeDirection::Payable as i32;
    let paid_out = issue(&mut saga, paid_out).await;
    let mut pending = charge_request(
        &project,
        &unit,
        ChargePurpose::OwnerCompensation,
        10_000,
        "W-1:b",
        group,
    );
    pending.direction = ChargeDirection::Payable as i32;
    let pending = issue(&mut saga, pending).await;
    pay(
        &mut cashier,
        payment_request(&paid_out.charge_id, 50_000, "W-1-OUT"),
    )
    .await;
    // What the developer paid out is not "refunded" by closing: refused, nothing written.
    let before = footprint(&db).await;
    let status = refused(
        saga.close_settlement_group(close_request("close-W-1", group, 5_000, "withdrawn"))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("GROUP_HOLDS_PAYABLES")
    );
    assert!(status.message().contains("payables"), "{status:?}");
    assert_eq!(footprint(&db).await, before);
    // Closed without a refund, payables are cancelled and waived as receivables are.
    let closed = close(
        &mut saga,
        close_request("close-W-1-again", group, 0, "withdrawn"),
    )
    .await;
    assert_eq!(
        closed.cancelled_charge_ids,
        std::slice::from_ref(&pending.charge_id)
    );
    assert_eq!(
        (
            minor(&closed.waived),
            minor(&closed.paid),
            minor(&closed.refund_owed)
        ),
        (30_000, 50_000, 0)
    );
    let waived = get_charge(&mut saga, &paid_out.charge_id).await;
    assert_eq!(
        (waived.status, minor(&waived.amount)),
        (ChargeStatus::Settled as i32, 50_000)
    );

    // Two payers paid into one group: one refund cannot name whom it is owed to.
    let shared = "subscription:S-8";
    let mine = issue(
        &mut saga,
        charge_request(
            &project,
            &unit,
            ChargePurpose::Deposit,
            10_000,
            "S-8:wang",
            shared,
        ),
    )
    .await;
    let mut theirs = charge_request(
        &project,
        &unit,
        ChargePurpose::Deposit,
        10_000,
        "S-8:li",
        shared,
    );
    theirs.payer_id = "owner-li".into();
    let theirs = issue(&mut saga, theirs).await;
    pay(
        &mut cashier,
        payment_request(&mine.charge_id, 4_000, "S-8-1"),
    )
    .await;
    pay(
        &mut cashier,
        payment_request(&theirs.charge_id, 6_000, "S-8-2"),
    )
    .await;
    let before = footprint(&db).await;
    let status = refused(
        saga.close_settlement_group(close_request("close-S-8", shared, 10_000, "lapsed"))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("GROUP_PAID_BY_MANY")
    );
    assert!(status.message().contains("2 payers"), "{status:?}");
    assert_eq!(footprint(&db).await, before);
    let closed = close(
        &mut saga,
        close_request("close-S-8-no-refund", shared, 0, "lapsed"),
    )
    .await;
    assert_eq!(
        (minor(&closed.waived), minor(&closed.paid)),
        (10_000, 10_000)
    );
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn finance_close_bad_input_names_the_field_and_changes_nothing() {
    let stack = TestStack::start_only(&["finance"]).await.unwrap();
    let db = finance_db(&stack).await;
    let (project, unit) = (new_id(), new_id());
    let mut saga = saga(&stack);
    let group = "subscription:S-5";
    issue(
        &mut saga,
        charge_request(
            &project,
            &unit,
            ChargePurpose::Deposit,
            10_000,
            "S-5:deposit",
            group,
        ),
    )
    .await;
    let before = footprint(&db).await;

    let status = saga
        .close_settlement_group(close_request("", " ", 10_001, ""))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&status),
        ["request_id", "settlement_group", "refund_bp", "reason"]
    );
    let status = saga
        .close_settlement_group(close_request("bad-bp", group, -1, "lapsed"))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["refund_bp"]);
    let status = saga
        .close_settlement_group(close_request(
            "too-long",
            &"g".repeat(201),
            5_000,
            &"r".repeat(1001),
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["settlement_group", "reason"]);
    // A refund is always payable.
    let mut receivable_refund = charge_request(
        &project,
        &unit,
        ChargePurpose::Refund,
        1_000,
        "refund-the-wrong-way",
        "",
    );
    receivable_refund.direction = ChargeDirection::Receivable as i32;
    assert_eq!(
        fields(&saga.issue_charge(receivable_refund).await.unwrap_err()),
        ["direction"]
    );
    assert_eq!(footprint(&db).await, before, "bad input writes nothing");

    // The limits themselves are accepted.
    let answer = close(
        &mut saga,
        close_request("at-limits", &"g".repeat(200), 10_000, &"r".repeat(1000)),
    )
    .await;
    assert!(!answer.existed);
    stack.stop().await.unwrap();
}
