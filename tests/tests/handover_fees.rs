//! The flagship rule held by handover itself (DOMAIN.md §2.7): keys need the fees settled as
//! handover learnt from finance's events, the inspection passed and the coordinator's
//! clearance. A clearance forced into handover's database, or a refund after the clearance,
//! does not hand keys over, and the database refuses a hand-written release.

use std::time::Duration;

use anju_e2e::{
    TestStack,
    move_in::{MoveIn, cny, day},
    project_with_building, wait_for,
};
use anju_kit::{Role, error::refusal_reason, ids::new_id};
use anju_messaging::Bus;
use anju_proto::{EventPayload, events, finance};
use prost::Message;
use sqlx::PgPool;
use tonic::Code;
use uuid::Uuid;

/// Releases the unit's keys by hand, as a script on handover's database would.
async fn release_by_hand(db: &PgPool, unit_id: &str) -> sqlx::Error {
    sqlx::query(
        "update handovers set keys_released_at = now(), signed_by = 'by hand' where unit_id = $1",
    )
    .bind(Uuid::parse_str(unit_id).unwrap())
    .execute(db)
    .await
    .expect_err("the database refuses keys without settled fees")
}

fn assert_key_rule_violation(err: &sqlx::Error) {
    let db = err.as_database_error().expect("a database error");
    assert_eq!(db.code().as_deref(), Some("23514"), "{err}");
    assert_eq!(
        db.constraint(),
        Some("handovers_keys_need_fees_inspection_clearance")
    );
}

async fn refused(j: &mut MoveIn, unit_id: &str, request: &str, reason: &str) {
    let err = j.release(unit_id, request).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(refusal_reason(&err).as_deref(), Some(reason), "{err:?}");
}

/// Re-publishes finance's `SettlementGroupSettled` for `group` as a new event (new id) with
/// its old sequence: a stale delivery the inbox cannot recognise as a duplicate.
async fn republish_stale_settled(stack: &TestStack, group: &str) -> Uuid {
    let finance = PgPool::connect(&stack.settings.database_url("finance"))
        .await
        .unwrap();
    let rows: Vec<(String, Vec<u8>, i64)> = sqlx::query_as(
        "select subject, envelope, sequence from outbox where event_type = $1 order by position",
    )
    .bind(events::SettlementGroupSettled::EVENT_TYPE)
    .fetch_all(&finance)
    .await
    .unwrap();
    let (subject, mut envelope, sequence) = rows
        .into_iter()
        .map(|(subject, bytes, sequence)| {
            (
                subject,
                events::Envelope::decode(bytes.as_slice()).unwrap(),
                sequence,
            )
        })
        .find(|(_, e, _)| {
            events::SettlementGroupSettled::decode(e.payload.as_slice())
                .is_ok_and(|s| s.settlement_group == group)
        })
        .expect("the group's settled event");
    let event_id = new_id();
    envelope.event_id = event_id.to_string();
    envelope.sequence = sequence;
    let bus = Bus::connect(&stack.settings.nats).await.unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", event_id.to_string().as_str());
    bus.jetstream()
        .publish_with_headers(subject, headers, envelope.encode_to_vec().into())
        .await
        .unwrap()
        .await
        .unwrap();
    event_id
}

#[tokio::test]
async fn keys_need_fees_settled_as_handover_learnt_them_whatever_the_clearance() {
    let stack = TestStack::start().await.unwrap();
    let mut manager = stack.sales_as("manager.zhao", &[Role::SalesManager]);
    let (project, building) = project_with_building(&mut manager, "FEES-1").await.unwrap();
    let mut j = MoveIn::new(stack);
    let unpaid = j
        .sold_unit(&building, &project, "0501", "13800000501")
        .await;
    let refunded = j
        .sold_unit(&building, &project, "0502", "13800000502")
        .await;
    j.journey.batch(2, Some(&building)).await.unwrap();
    let db = PgPool::connect(&j.stack.settings.database_url("handover"))
        .await
        .unwrap();
    for unit in [&unpaid, &refunded] {
        j.journey.check_in(unit).await.unwrap();
    }

    // Unpaid: the inspection passes, the fees never do; a clearance forced in by hand opens
    // neither the counter's path nor the database's.
    sqlx::query("update handovers set cleared_at = now() where unit_id = $1")
        .bind(Uuid::parse_str(&unpaid).unwrap())
        .execute(&db)
        .await
        .unwrap();
    refused(&mut j, &unpaid, "keys-uninspected", "INSPECTION_NOT_PASSED").await;
    j.inspect(&unpaid, "inspect-unpaid", vec![]).await.unwrap();
    j.saga_state(&unpaid, "awaiting_fees").await;
    assert!(j.handover(&unpaid).await.cleared);
    refused(&mut j, &unpaid, "keys-unpaid", "FEES_NOT_SETTLED").await;
    assert_key_rule_violation(&release_by_hand(&db, &unpaid).await);
    assert!(!j.handover(&unpaid).await.keys_released);

    // Refunded: paid, inspected and cleared, then a refund reopens the fees in finance.
    let fees = j.charges(&refunded, "handover:", 2).await;
    j.pay_all(&fees, "FEES-R").await;
    j.inspect(&refunded, "inspect-refunded", vec![])
        .await
        .unwrap();
    j.wait_cleared(&refunded).await;
    let payment = j
        .cashier
        .list_payments(finance::ListPaymentsRequest {
            charge_id: fees[0].charge_id.clone(),
            page: None,
        })
        .await
        .unwrap()
        .into_inner()
        .payments
        .remove(0);
    j.cashier
        .refund_payment(finance::RefundPaymentRequest {
            request_id: "refund-r".into(),
            payment_id: payment.payment_id.clone(),
            amount: cny(100),
            method: finance::PaymentMethod::Unspecified as i32,
            external_reference: "RF-R".into(),
            refunded_on: day(0),
            cashier_id: String::new(),
            reason: "overcharged".into(),
        })
        .await
        .unwrap();
    j.wait_handover(&refunded, "the reopened fees", |h| !h.fees_settled)
        .await;
    // A stale `Settled` arriving after the reopening does not settle the fees again.
    let stale = republish_stale_settled(&j.stack, &format!("handover:{refunded}")).await;
    wait_for(
        Duration::from_secs(15),
        "handover to consume the stale event",
        || {
            let db = db.clone();
            async move {
                let seen: bool =
                    sqlx::query_scalar("select exists (select 1 from inbox where event_id = $1)")
                        .bind(stale)
                        .fetch_one(&db)
                        .await?;
                Ok(seen)
            }
        },
    )
    .await
    .unwrap();
    let h = j.handover(&refunded).await;
    assert!(h.cleared && h.inspection_passed && !h.fees_settled, "{h:?}");
    refused(&mut j, &refunded, "keys-reopened", "FEES_NOT_SETTLED").await;
    assert_key_rule_violation(&release_by_hand(&db, &refunded).await);

    // Paid again: settled again, and the keys go.
    let charges = j.charges(&refunded, "handover:", 2).await;
    let owing: Vec<finance::Charge> = charges
        .into_iter()
        .filter(|c| c.outstanding.as_ref().is_some_and(|m| m.minor_units > 0))
        .collect();
    assert_eq!(owing.len(), 1, "{owing:?}");
    j.pay_all(&owing, "FEES-R-AGAIN").await;
    j.wait_handover(&refunded, "the fees settled again", |h| h.fees_settled)
        .await;
    j.release(&refunded, "keys-refunded").await.unwrap();
    j.stack.stop().await.unwrap();
}
