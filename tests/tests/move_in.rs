//! The flagship rule: keys are never handed over until the handover fees are paid and the
//! inspection passed — whichever comes first — with a failed inspection looping through
//! maintenance and a re-inspection.

use std::time::Duration;

use anju_e2e::{
    TestStack,
    move_in::{ID, MoveIn, cny, day, defect},
    project_with_building, wait_for,
};
use anju_kit::{
    Role,
    error::{field_violations, refusal_reason, refusal_zh_cn},
};
use anju_proto::{
    handover as hv,
    maintenance::{self, maintenance_service_client::MaintenanceServiceClient},
    saga,
};
use tonic::Code;

#[tokio::test]
async fn keys_only_after_fees_and_inspection_in_any_order() {
    let stack = TestStack::start().await.unwrap();
    let mut manager = stack.sales_as("manager.zhao", &[Role::SalesManager]);
    let (project, building) = project_with_building(&mut manager, "MOVE-1").await.unwrap();
    let mut j = MoveIn::new(stack);
    let a = j
        .sold_unit(&building, &project, "0301", "13800000301")
        .await;
    let b = j
        .sold_unit(&building, &project, "0302", "13800000302")
        .await;
    let c = j
        .sold_unit(&building, &project, "0303", "13800000303")
        .await;

    let batch = j.journey.batch(3, Some(&building)).await.unwrap();
    assert_eq!(batch.unit_ids.len(), 3);
    assert_eq!(
        batch.plan_due_on,
        day(35)
            .parse::<chrono::NaiveDate>()
            .unwrap()
            .checked_sub_months(chrono::Months::new(1))
            .unwrap()
            .to_string()
    );

    // Fees: 3.50 yuan/m²·month × 89 m² × 3 months, and 5 % of 3,000 yuan/m² × 89 m².
    let fees_a = j.charges(&a, "handover:", 2).await;
    let total: i64 = fees_a
        .iter()
        .map(|f| f.amount.clone().unwrap().minor_units)
        .sum();
    assert_eq!(total, 350 * 89 * 3 + 300_000 * 89 * 5 / 100);
    // The move-in notice carries the unit's fee list: the charges finance holds.
    let notice = j
        .notices(&a, 2)
        .await
        .into_iter()
        .find(|n| n.kind == "notice")
        .expect("the move-in notice");
    let handover = j.handover(&a).await;
    assert!(handover.notice_sent);
    assert_eq!(
        handover.waiting_for,
        [
            hv::HandoverWait::CheckIn as i32,
            hv::HandoverWait::Inspection as i32,
            hv::HandoverWait::Fees as i32,
        ]
    );
    let mut listed: Vec<(String, i64, String)> = notice
        .fees
        .iter()
        .map(|f| {
            (
                f.charge_key.clone(),
                f.amount.as_ref().unwrap().minor_units,
                f.due_on.clone(),
            )
        })
        .collect();
    let mut billed: Vec<(String, i64, String)> = fees_a
        .iter()
        .map(|c| {
            (
                c.business_key.clone(),
                c.amount.as_ref().unwrap().minor_units,
                day(35),
            )
        })
        .collect();
    listed.sort();
    billed.sort();
    assert_eq!(listed, billed);
    assert_eq!(notice.total.as_ref().unwrap().minor_units, total);

    // A move-in notice without its fee list, or with a bad line, is refused and not recorded.
    let mut bad = hv::RecordNoticeRequest {
        request_id: "bad-notice".into(),
        unit_id: a.clone(),
        kind: "notice".into(),
        channel: "letter".into(),
        fees: Vec::new(),
    };
    let status = j.counter.record_notice(bad.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&status)[0].field, "fees");
    bad.request_id = "bad-notice-2".into();
    bad.fees = vec![hv::NoticeFee {
        purpose: "property_fee".into(),
        amount: cny(-1),
        due_on: "2026-02-30".into(),
        charge_key: "k".into(),
    }];
    let status = j.counter.record_notice(bad).await.unwrap_err();
    let fields: Vec<String> = field_violations(&status)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["fees[0].amount.minor_units", "fees[0].due_on"]);
    let notices = j
        .counter
        .get_handover(hv::GetHandoverRequest { unit_id: a.clone() })
        .await
        .unwrap()
        .into_inner()
        .notices;
    // The move-in notice went by post and by SMS, on its date: nothing else was recorded.
    let mut channels: Vec<(&str, bool)> = notices
        .iter()
        .map(|n| (n.channel.as_str(), n.late))
        .collect();
    channels.sort();
    assert_eq!(channels, [("post", false), ("sms", false)], "{notices:?}");

    // The counter: identity checked against the contract buyer.
    for unit in [&a, &b, &c] {
        let status = j
            .counter
            .check_in(hv::CheckInRequest {
                request_id: format!("wrong-id-{unit}"),
                unit_id: unit.to_string(),
                id_number: "110101199001011234".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            refusal_reason(&status).as_deref(),
            Some("IDENTITY_MISMATCH")
        );
        let checked_in = j
            .counter
            .check_in(hv::CheckInRequest {
                request_id: format!("check-in-{unit}"),
                unit_id: unit.to_string(),
                id_number: ID.to_lowercase(),
            })
            .await
            .unwrap()
            .into_inner();
        // The request is remembered with the number's keyed hash, not the number: a retry
        // that spells it in capitals is the same request and gets the first answer.
        let retried = j
            .counter
            .check_in(hv::CheckInRequest {
                request_id: format!("check-in-{unit}"),
                unit_id: unit.to_string(),
                id_number: ID.to_uppercase(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(retried, checked_in);
    }

    // A: fees first, then a passed inspection → cleared → keys.
    let err = j.release(&a, "early").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        refusal_reason(&err).as_deref(),
        Some("INSPECTION_NOT_PASSED")
    );
    assert!(
        err.message().starts_with("keys not released"),
        "{}",
        err.message()
    );
    j.pay_all(&fees_a, "FEES-A").await;
    j.inspect(&a, "inspect-a-1", vec![]).await.unwrap();
    j.wait_cleared(&a).await;
    let keys = j.release(&a, "keys-a").await.unwrap();
    assert_eq!(
        keys.keys.len(),
        10,
        "five kinds, an owner set and a spare set"
    );
    // A spare key lent to the decorator is logged out, cannot be lent twice, and comes back.
    let loan = j
        .counter
        .lend_key(hv::LendKeyRequest {
            request_id: "lend-1".into(),
            unit_id: a.clone(),
            kind: "security_door".into(),
            borrower: "Pearl Decoration Co., foreman Liu".into(),
            purpose: "renovation survey".into(),
            reason: hv::LoanReason::Decoration as i32,
            due_back_at: Some(prost_types::Timestamp {
                seconds: chrono::Utc::now().timestamp() + 86_400,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .loan
        .unwrap();
    let twice = j
        .counter
        .lend_key(hv::LendKeyRequest {
            request_id: "lend-2".into(),
            unit_id: a.clone(),
            kind: "security_door".into(),
            borrower: "someone else".into(),
            purpose: "visit".into(),
            reason: hv::LoanReason::Decoration as i32,
            due_back_at: Some(prost_types::Timestamp {
                seconds: chrono::Utc::now().timestamp() + 86_400,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    assert_eq!(refusal_reason(&twice).as_deref(), Some("SPARE_KEY_OUT"));
    let back = j
        .counter
        .return_key(hv::ReturnKeyRequest {
            request_id: "return-1".into(),
            loan_id: loan.loan_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .loan
        .unwrap();
    assert!(back.back_at.is_some());

    // B: the inspection fails first (defects go to maintenance), passes on re-inspection,
    // and only then are the fees paid.
    let round = j
        .inspect(
            &b,
            "inspect-b-1",
            vec![
                defect("bathroom", "waterproofing"),
                defect("kitchen", "plumbing"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(round.round, 1);
    let mut dispatcher = MaintenanceServiceClient::new(
        j.stack
            .authed("maintenance", &[Role::MaintenanceDispatcher]),
    );
    let orders = anju_testkit::eventually(
        Duration::from_secs(15),
        "two repair requests from the failed inspection",
        || {
            let mut dispatcher = dispatcher.clone();
            async move {
                let orders: Vec<maintenance::RepairRequest> = dispatcher
                    .list_work_orders(maintenance::ListWorkOrdersRequest::default())
                    .await?
                    .into_inner()
                    .work_orders
                    .into_iter()
                    .filter(|o| o.source == maintenance::RepairSource::Inspection as i32)
                    .collect();
                Ok((orders.len() == 2).then_some(orders))
            }
        },
    )
    .await
    .unwrap();
    // Each repair request names the defect it repairs.
    let mut references: Vec<String> = orders.iter().map(|o| o.reference.clone()).collect();
    let mut defects: Vec<String> = round.defect_ids.clone();
    references.sort();
    defects.sort();
    assert_eq!(references, defects);
    j.saga_state(&b, "awaiting_fees_and_repairs").await;

    // The contractor's report that the work is done signs nothing off: the owner is not asked
    // back. Each request closes with its four sign-offs, in any order; the owner is asked back
    // after the last one of the last request.
    use maintenance::SignOffParty::*;
    for order in &orders {
        let done = j
            .journey
            .work_done(
                &order.repair_request_id,
                &format!("{} repaired", order.category),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.status, maintenance::RepairStatus::Completed as i32);
    }
    let (first, second) = (&orders[0].repair_request_id, &orders[1].repair_request_id);
    for party in [ProjectDepartment, Owner, SupervisingEngineer, Maintenance] {
        j.journey.sign_off(first, party).await.unwrap().unwrap();
    }
    for party in [Owner, Maintenance, ProjectDepartment] {
        let signed = j.journey.sign_off(second, party).await.unwrap().unwrap();
        assert_eq!(signed.status, maintenance::RepairStatus::Completed as i32);
    }
    // The same party again (a new request) changes nothing; another role cannot sign for the
    // engineer.
    let again = j
        .journey
        .staff
        .owner_desk
        .clone()
        .sign_off_repair(maintenance::SignOffRepairRequest {
            request_id: "the-owner-again".into(),
            repair_request_id: second.clone(),
            party: Owner as i32,
            signed_by: "owner signature, twice".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    assert_eq!(again.sign_offs.len(), 3);
    assert_eq!(again.status, maintenance::RepairStatus::Completed as i32);
    let status = dispatcher
        .sign_off_repair(maintenance::SignOffRepairRequest {
            request_id: "sign-for-the-engineer".into(),
            repair_request_id: second.clone(),
            party: SupervisingEngineer as i32,
            signed_by: "dispatcher".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    tokio::time::sleep(Duration::from_millis(300)).await;
    j.saga_state(&b, "awaiting_fees_and_repairs").await;
    assert_eq!(
        j.notices(&b, 2).await.len(),
        2,
        "no re-inspection notice yet"
    );
    let closed = j
        .journey
        .sign_off(second, SupervisingEngineer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.status, maintenance::RepairStatus::Closed as i32);
    assert_eq!(closed.sign_offs.len(), 4);
    j.saga_state(&b, "awaiting_fees_and_reinspection").await;
    let notices = j.notices(&b, 3).await;
    let kinds: Vec<&str> = notices.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, ["notice", "notice", "reinspection"]);
    let round = j.inspect(&b, "inspect-b-2", vec![]).await.unwrap();
    assert_eq!(round.round, 2);
    assert!(
        j.release(&b, "keys-b-early").await.is_err(),
        "inspection passed but fees unpaid"
    );
    let fees_b = j.charges(&b, "handover:", 2).await;
    j.pay_all(&fees_b, "FEES-B").await;
    j.wait_cleared(&b).await;
    j.release(&b, "keys-b").await.unwrap();

    // C: passes the inspection but never pays: no keys, and the refusal says why.
    j.inspect(&c, "inspect-c-1", vec![]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let err = j.release(&c, "keys-c").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(refusal_reason(&err).as_deref(), Some("FEES_NOT_SETTLED"));
    assert!(
        refusal_zh_cn(&err).is_some(),
        "a zh-CN message for the counter"
    );
    assert!(
        err.message().contains("fees are not settled"),
        "{}",
        err.message()
    );
    let waiting = j.handover(&c).await;
    assert!(!waiting.keys_released);
    assert_eq!(waiting.waiting_for, [hv::HandoverWait::Fees as i32]);

    let stats = j
        .counter
        .get_batch_statistics(hv::GetBatchStatisticsRequest {
            batch_id: batch.batch_id.clone(),
            project_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            stats.units,
            stats.handed_over,
            stats.defects,
            stats.reinspections
        ),
        (3, 2, 2, 1)
    );

    // The coordinator's view: two move-ins ended with keys, one waits for its fees.
    let sagas = j
        .operator
        .list_sagas(saga::ListSagasRequest {
            flow: "move_in".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sagas;
    let mut states: Vec<(String, String)> = sagas
        .iter()
        .map(|s| (s.key.clone(), s.state.clone()))
        .collect();
    states.sort();
    let mut expected = vec![
        (a.clone(), "keys_released".to_string()),
        (b.clone(), "keys_released".to_string()),
        (c.clone(), "awaiting_fees".to_string()),
    ];
    expected.sort();
    wait_for(Duration::from_secs(10), "the move-in sagas", || {
        let mut operator = j.operator.clone();
        let expected = expected.clone();
        async move {
            let sagas = operator
                .list_sagas(saga::ListSagasRequest {
                    flow: "move_in".into(),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .sagas;
            let mut states: Vec<(String, String)> = sagas
                .iter()
                .map(|s| (s.key.clone(), s.state.clone()))
                .collect();
            states.sort();
            Ok(states == expected)
        }
    })
    .await
    .unwrap_or_else(|_| panic!("move-in sagas: {states:?}"));

    // C never pays: an operator cancels its move-in, whose compensation closes the fee group.
    let c_saga = sagas.iter().find(|s| s.key == c).unwrap().saga_id.clone();
    let cancelled = j
        .operator
        .cancel_saga(saga::CancelSagaRequest {
            request_id: "cancel-c".into(),
            saga_id: c_saga,
            reason: "owner withdrew from the handover".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .saga
        .unwrap();
    assert_eq!(cancelled.state, "cancelled");
    let sagas = j.journey.every_saga_ends().await.unwrap();
    let mut flows: Vec<(String, String)> = sagas
        .iter()
        .map(|s| (s.flow.clone(), s.state.clone()))
        .collect();
    flows.sort();
    flows.dedup();
    assert_eq!(
        flows,
        [
            ("contract", "down_payment_settled"),
            ("move_in", "cancelled"),
            ("move_in", "keys_released"),
            ("subscription", "confirmed"),
        ]
        .map(|(f, s)| (f.to_string(), s.to_string()))
    );
    j.stack.stop().await.unwrap();
}
