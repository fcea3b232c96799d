//! Handover as the seed runs it (seed ⑧ 5.1, ④ 4.5): the plan a month ahead and its
//! approval before any notice, notices on their date (late ones marked), the two books and
//! every key before the keys go over, the owner's refusal and the issues raised at the
//! inspection, key loans overdue, and the batch's statistics from its units' histories.

use std::time::Duration;

use anju::journey::{Journey, day};
use anju_e2e::TestStack;
use anju_kit::{
    Role,
    error::{field_violations, refusal_reason},
};
use anju_proto::{
    complaints::{self as cp, complaints_service_client::ComplaintsServiceClient},
    handover::{self as hv, handover_service_client::HandoverServiceClient},
    maintenance as mt,
};
use tonic::{Code, Status};
use uuid::Uuid;

/// The tenant's move-in settings, as asked under `request_id`.
fn settings(
    request_id: &str,
    plan_lead_months: i32,
    notice_lead_days: i32,
    notice_minute: i32,
) -> hv::SetHandoverSettingsRequest {
    hv::SetHandoverSettingsRequest {
        request_id: request_id.into(),
        settings: Some(hv::HandoverSettings {
            plan_lead_months,
            notice_lead_days,
            notice_minute,
        }),
    }
}

fn reason(status: &Status) -> String {
    refusal_reason(status).unwrap_or_else(|| format!("{status:?}"))
}

fn metadata(status: &Status, key: &str) -> String {
    tonic_types::StatusExt::get_details_error_info(status)
        .and_then(|i| i.metadata.get(key).cloned())
        .unwrap_or_default()
}

async fn notices(j: &Journey, unit: &str) -> Vec<hv::Notice> {
    j.handover(unit).await.unwrap().notices
}

async fn batch(j: &Journey, batch_id: &str) -> hv::Batch {
    j.staff
        .counter
        .clone()
        .get_batch(hv::GetBatchRequest {
            batch_id: batch_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .batch
        .unwrap()
}

async fn statistics(
    j: &Journey,
    batch_id: &str,
    project_id: &str,
) -> hv::GetBatchStatisticsResponse {
    j.staff
        .counter
        .clone()
        .get_batch_statistics(hv::GetBatchStatisticsRequest {
            batch_id: batch_id.into(),
            project_id: project_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_batch_inside_the_month_is_refused_until_a_manager_overrides_it_with_a_reason() {
    let stack = TestStack::start().await.unwrap();
    let j = stack.journey("PLAN-1").await;
    j.sold_unit("0101", "13800000101").await.unwrap();
    j.contracted(1, None).await.unwrap();

    // Two weeks ahead: refused, naming the earliest window the lead allows.
    let refused = j.create_batch(None, 14, None).await.unwrap().unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "WINDOW_TOO_SOON");
    let earliest: chrono::NaiveDate = metadata(&refused, "earliest_window_start").parse().unwrap();
    let today: chrono::NaiveDate = day(0).parse().unwrap();
    assert_eq!(
        earliest,
        today.checked_add_months(chrono::Months::new(1)).unwrap()
    );
    // Customer service cannot override; a reason from the counter is refused as such.
    let mut counter = j.staff.counter.clone();
    let by_counter = counter
        .create_batch(hv::CreateBatchRequest {
            request_id: "counter-override".into(),
            project_id: j.project_id.clone(),
            name: "early".into(),
            window_start: day(14),
            window_end: day(20),
            property_fee_per_square_metre_month: anju::journey::cny(350),
            prepaid_months: 3,
            construction_cost_per_square_metre: anju::journey::cny(300_000),
            maintenance_fund_bp: 500,
            lead_override_reason: "the owners asked".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&by_counter), "OVERRIDE_NOT_MANAGER");
    // A tenant that plans two months ahead refuses a window five weeks out.
    j.handover_settings(14, 540).await.unwrap();
    let mut manager = j.staff.handover_manager.clone();
    manager
        .set_handover_settings(settings("two-months", 2, 14, 540))
        .await
        .unwrap();
    let refused = j.create_batch(None, 35, None).await.unwrap().unwrap_err();
    assert_eq!(reason(&refused), "WINDOW_TOO_SOON");
    // The manager overrides it with a reason: the batch and the audit log keep both.
    let batch = j
        .create_batch(None, 14, Some("the developer moved the handover forward"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.lead_overridden_by, "manager.jiang");
    assert_eq!(
        batch.lead_override_reason,
        "the developer moved the handover forward"
    );
    assert_eq!(batch.plan_status, hv::PlanStatus::None as i32);
    let db = sqlx::PgPool::connect(&stack.settings.database_url("handover"))
        .await
        .unwrap();
    let (actor, detail): (String, serde_json::Value) = sqlx::query_as(
        "select actor, detail from audit_log where method = 'CreateBatch' and subject_id = $1",
    )
    .bind(&batch.batch_id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(actor, "manager.jiang");
    assert_eq!(
        detail["lead_override_reason"],
        "the developer moved the handover forward"
    );
    // A window in the past is refused even with an override; the tenant's settings are not a
    // project-scoped manager's to change.
    let past = j
        .create_batch(None, -1, Some("backdated"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(field_violations(&past)[0].field, "window_start");
    let mut scoped = HandoverServiceClient::new(stack.authed_with(
        "handover",
        &anju_e2e::sweep::scoped_token(
            stack.tenant,
            &[Role::CustomerServiceManager],
            std::slice::from_ref(&j.project_id),
        ),
    ));
    let denied = scoped
        .set_handover_settings(settings("scoped", 12, 14, 540))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // Bad settings are refused field by field.
    let status = manager
        .set_handover_settings(settings("bad", 0, 13, 1440))
        .await
        .unwrap_err();
    let fields: Vec<String> = field_violations(&status)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(
        fields,
        [
            "settings.plan_lead_months",
            "settings.notice_lead_days",
            "settings.notice_minute"
        ]
    );
    db.close().await;
}

#[tokio::test]
async fn no_notice_before_the_plan_is_approved_and_late_notices_are_marked() {
    let stack = TestStack::start().await.unwrap();
    let j = stack.journey("PLAN-2").await;
    let unit = j.sold_unit("0201", "13800000201").await.unwrap();
    j.contracted(1, None).await.unwrap();
    // Notices 37 days before a window 35 days out: their date was two days ago, so the window
    // is too soon for the leads; the manager overrides it.
    j.handover_settings(37, 0).await.unwrap();
    let refused = j.create_batch(None, 35, None).await.unwrap().unwrap_err();
    assert_eq!(reason(&refused), "WINDOW_TOO_SOON");
    assert_eq!(metadata(&refused, "earliest_window_start"), day(37));
    let created = j
        .create_batch(
            None,
            35,
            Some("the owners asked to move in before the holiday"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.notices_due_on, day(-2));
    // The fees are charged at once; the notice waits for the plan.
    j.charges(&unit, "handover:", 2).await.unwrap();
    j.move_in_saga(&unit, "the move-in saga", |s| {
        s.state == "awaiting_fees_and_inspection"
    })
    .await
    .unwrap();
    let mut counter = j.staff.counter.clone();
    let mut manager = j.staff.handover_manager.clone();
    let early = manager
        .approve_batch_plan(hv::ApproveBatchPlanRequest {
            request_id: "approve-early".into(),
            batch_id: created.batch_id.clone(),
            plan_submitted_at: created.notices_at,
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&early), "PLAN_NOT_SUBMITTED");

    // A plan must schedule every building, within the window.
    let mut plan = hv::SubmitBatchPlanRequest {
        request_id: "plan-other-building".into(),
        batch_id: created.batch_id.clone(),
        plan: Some(hv::BatchPlan {
            days: vec![hv::PlanDay {
                date: created.window_start.clone(),
                building_id: Uuid::now_v7().to_string(),
                counters: 2,
                staff: vec!["counter.sun".into()],
            }],
            ..Default::default()
        }),
    };
    let elsewhere = counter.submit_batch_plan(plan.clone()).await.unwrap_err();
    assert_eq!(elsewhere.code(), Code::InvalidArgument);
    assert_eq!(
        field_violations(&elsewhere)[0].field,
        "plan.days[0].building_id"
    );
    let days = &mut plan.plan.as_mut().unwrap().days;
    days[0].building_id = created.building_ids[0].clone();
    days[0].date = day(60);
    plan.request_id = "plan-outside".into();
    let outside = counter.submit_batch_plan(plan.clone()).await.unwrap_err();
    assert_eq!(outside.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&outside)[0].field, "plan.days[0].date");
    plan.plan.as_mut().unwrap().days[0].date = created.window_start.clone();
    let submitted = j.submit_plan(&created).await.unwrap();
    // The manager approves the submission read, not one made since, and not their own.
    let approve = |request_id: &str, read: &hv::Batch| hv::ApproveBatchPlanRequest {
        request_id: request_id.into(),
        batch_id: created.batch_id.clone(),
        plan_submitted_at: read.plan_submitted_at,
    };
    let stale = manager
        .approve_batch_plan(approve("approve-stale", &created))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::InvalidArgument, "no submission named");
    let own = manager
        .submit_batch_plan(hv::SubmitBatchPlanRequest {
            request_id: "plan-by-the-manager".into(),
            ..plan.clone()
        })
        .await
        .unwrap()
        .into_inner()
        .batch
        .unwrap();
    let changed = manager
        .approve_batch_plan(approve("approve-changed", &submitted))
        .await
        .unwrap_err();
    assert_eq!(reason(&changed), "PLAN_CHANGED");
    let self_approved = manager
        .approve_batch_plan(approve("approve-own", &own))
        .await
        .unwrap_err();
    assert_eq!(reason(&self_approved), "PLAN_SELF_APPROVAL");
    let submitted = counter
        .submit_batch_plan(hv::SubmitBatchPlanRequest {
            request_id: "plan-by-the-counter".into(),
            ..plan.clone()
        })
        .await
        .unwrap()
        .into_inner()
        .batch
        .unwrap();
    assert_eq!(submitted.plan_status, hv::PlanStatus::Submitted as i32);
    assert_eq!(submitted.plan_submitted_by, "counter.sun");
    // Submitted but not approved: still no notice, and the counter cannot check the owner in.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(notices(&j, &unit).await.is_empty());
    let not_yet = counter
        .check_in(hv::CheckInRequest {
            request_id: "too-early".into(),
            unit_id: unit.clone(),
            id_number: anju::journey::ID_NUMBER.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&not_yet), "NOTICE_NOT_SENT");
    // Nor can the desk send the move-in notice itself before the approval.
    let by_hand = counter
        .record_notice(hv::RecordNoticeRequest {
            request_id: "by-hand".into(),
            unit_id: unit.clone(),
            kind: "notice".into(),
            channel: "letter".into(),
            fees: vec![hv::NoticeFee {
                purpose: "property_fee".into(),
                amount: anju::journey::cny(100),
                due_on: day(35),
                charge_key: "k".into(),
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&by_hand), "PLAN_NOT_APPROVED");
    assert!(notices(&j, &unit).await.is_empty());

    // Approved past the notice date: the notices go out at once, marked late.
    let approved = j.approve_plan(&created.batch_id).await.unwrap();
    assert_eq!(approved.plan_status, hv::PlanStatus::Approved as i32);
    assert_eq!(approved.plan_approved_by, "manager.jiang");
    let sent = j
        .wait_handover(&unit, "the notices", |h| h.notices.len() >= 2)
        .await
        .unwrap();
    assert!(sent.notices.iter().all(|n| n.late), "{:?}", sent.notices);
    assert!(sent.handover.unwrap().notified_late);
    let again = manager
        .approve_batch_plan(hv::ApproveBatchPlanRequest {
            request_id: "approve-again".into(),
            batch_id: created.batch_id.clone(),
            plan_submitted_at: approved.plan_submitted_at,
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&again), "PLAN_ALREADY_APPROVED");
    let resubmit = counter
        .submit_batch_plan(hv::SubmitBatchPlanRequest {
            request_id: "plan-after".into(),
            ..plan
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&resubmit), "PLAN_ALREADY_APPROVED");

    // A unit sold later joins the batch: its notice goes out at once, marked late.
    let late = j.sold_unit("0202", "13800000202").await.unwrap();
    j.contracted(2, None).await.unwrap();
    let added = counter
        .add_batch_units(hv::AddBatchUnitsRequest {
            request_id: "add-late".into(),
            batch_id: created.batch_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(added.added_unit_ids, std::slice::from_ref(&late));
    let joined = j
        .wait_handover(&late, "the late joiner's notices", |h| h.notices.len() >= 2)
        .await
        .unwrap();
    assert!(joined.handover.unwrap().notified_late);

    // The post's tracking number, and the list the property company receives.
    let posted = joined
        .notices
        .iter()
        .find(|n| n.channel == "post")
        .unwrap()
        .clone();
    let tracked = counter
        .record_notice_tracking(hv::RecordNoticeTrackingRequest {
            request_id: "tracking".into(),
            notice_id: posted.notice_id.clone(),
            tracking_number: "EMS0202CN".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .notice
        .unwrap();
    assert_eq!(tracked.tracking_number, "EMS0202CN");
    let sms = joined.notices.iter().find(|n| n.channel == "sms").unwrap();
    let not_posted = counter
        .record_notice_tracking(hv::RecordNoticeTrackingRequest {
            request_id: "tracking-sms".into(),
            notice_id: sms.notice_id.clone(),
            tracking_number: "EMS1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_posted.code(), Code::NotFound);
    let property = HandoverServiceClient::new(stack.authed_with(
        "handover",
        &anju_testkit::token_for(stack.tenant, "property.ma", &[Role::PropertyManagement]),
    ))
    .get_move_in_list(hv::GetMoveInListRequest {
        batch_id: created.batch_id.clone(),
    })
    .await
    .unwrap()
    .into_inner();
    assert_eq!(property.entries.len(), 2);
    let entry = property.entries.iter().find(|e| e.unit_id == late).unwrap();
    assert_eq!(entry.unit_number, "0202");
    assert!(entry.notified_late);
    assert_eq!(entry.post_tracking_number, "EMS0202CN");
    assert_eq!(
        entry.fees_total.as_ref().unwrap().minor_units,
        posted.total.as_ref().unwrap().minor_units
    );
    let stats = statistics(&j, &created.batch_id, "").await;
    assert_eq!(stats.notices_late, 2);
    assert_eq!(batch(&j, &created.batch_id).await.unit_ids.len(), 2);
}

/// The repair requests maintenance opened for a unit's defects.
async fn repairs(j: &Journey, unit: &str, n: usize) -> Vec<String> {
    j.eventually("the repair requests", || async {
        let orders = j
            .staff
            .dispatcher
            .clone()
            .list_work_orders(mt::ListWorkOrdersRequest {
                project_id: j.project_id.clone(),
                page: None,
                ..Default::default()
            })
            .await?
            .into_inner()
            .work_orders;
        let ids: Vec<String> = orders
            .into_iter()
            .filter(|o| o.unit_id == unit && o.status == mt::RepairStatus::Open as i32)
            .map(|o| o.repair_request_id)
            .collect();
        Ok((ids.len() >= n).then_some(ids))
    })
    .await
    .unwrap()
}

fn defect(room: &str) -> hv::Defect {
    hv::Defect {
        room: room.into(),
        category: "plumbing".into(),
        description: "the tap drips".into(),
        severity: "minor".into(),
        photo_refs: Vec::new(),
    }
}

#[tokio::test]
async fn keys_go_over_with_both_books_and_every_key_received() {
    let stack = TestStack::start().await.unwrap();
    let j = stack.journey("BOOKS-1").await;
    let a = j.sold_unit("0301", "13800000301").await.unwrap();
    let b = j.sold_unit("0302", "13800000302").await.unwrap();
    j.contracted(2, None).await.unwrap();
    j.handover_settings(35, 0).await.unwrap();
    let created = j.create_batch(None, 35, None).await.unwrap().unwrap();
    j.submit_plan(&created).await.unwrap();
    j.keys_arrive(&a).await.unwrap();
    j.approve_plan(&created.batch_id).await.unwrap();
    for unit in [&a, &b] {
        j.paid_and_passed(unit).await.unwrap();
        j.wait_cleared(unit).await.unwrap();
    }
    // Fees paid, inspection passed, cleared: no books yet, so no keys.
    let refused = j.release(&a, "keys-no-books").await.unwrap().unwrap_err();
    assert_eq!(reason(&refused), "BOOKS_MISSING");
    assert_eq!(metadata(&refused, "kind"), "residence_manual");
    let waiting = j.handover(&a).await.unwrap().handover.unwrap();
    assert_eq!(
        waiting.waiting_for,
        [hv::HandoverWait::Books as i32],
        "{waiting:?}"
    );
    let mut counter = j.staff.counter.clone();
    let book = |kind: hv::BookKind, building: &str, version: &str| hv::RecordBookRequest {
        request_id: format!("book-{}-{building}-{version}", kind as i32),
        project_id: j.project_id.clone(),
        building_id: building.into(),
        layout: String::new(),
        kind: kind as i32,
        version: version.into(),
        document_ref: format!("docs/{version}.pdf"),
    };
    counter
        .record_book(book(hv::BookKind::ResidenceManual, "", "M-2026"))
        .await
        .unwrap();
    let refused = j.release(&a, "keys-one-book").await.unwrap().unwrap_err();
    assert_eq!(reason(&refused), "BOOKS_MISSING");
    assert_eq!(metadata(&refused, "kind"), "warranty_certificate");
    // The project's certificate, then the building's own: the building's is the unit's.
    counter
        .record_book(book(hv::BookKind::WarrantyCertificate, "", "W-2026"))
        .await
        .unwrap();
    counter
        .record_book(book(
            hv::BookKind::WarrantyCertificate,
            &j.building_id,
            "W-2026-T1",
        ))
        .await
        .unwrap();
    let twice = counter
        .record_book(hv::RecordBookRequest {
            request_id: "book-again".into(),
            ..book(hv::BookKind::ResidenceManual, "", "M-2026")
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&twice), "BOOK_VERSION_RECORDED");
    assert!(batch(&j, &created.batch_id).await.books_ready);

    // Unit b's keys never arrived from the contractor: its keys cannot go over.
    let refused = j
        .release(&b, "keys-not-arrived")
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(reason(&refused), "KEYS_NOT_RECEIVED");
    assert_eq!(metadata(&refused, "kind"), "security_door");

    // Unit a: keys and both books under the owner's one signature.
    let released = j.release(&a, "keys-a").await.unwrap().unwrap();
    let mut versions: Vec<&str> = released.books.iter().map(|b| b.version.as_str()).collect();
    versions.sort();
    assert_eq!(versions, ["M-2026", "W-2026-T1"]);
    let handover = released.handover.unwrap();
    assert_eq!(
        (
            handover.manual_version.as_str(),
            handover.certificate_version.as_str()
        ),
        ("M-2026", "W-2026-T1")
    );
    assert_eq!(released.keys.len(), 10);
    for key in &released.keys {
        let expected = if key.set == "owner" {
            "handed_over"
        } else {
            "in_office"
        };
        assert_eq!(key.status, expected, "{key:?}");
        assert_eq!(key.tag, format!("{a}/{}/{}", key.kind, key.set));
    }
    j.keys_arrive(&b).await.unwrap();
    j.release(&b, "keys-b").await.unwrap().unwrap();
}

#[tokio::test]
async fn a_refusal_to_accept_is_repaired_and_reinspected_and_an_estate_issue_opens_a_complaint() {
    let stack = TestStack::start().await.unwrap();
    let j = stack.journey("REFUSE-1").await;
    let unit = j.sold_unit("0401", "13800000401").await.unwrap();
    j.batch(1, None).await.unwrap();
    j.check_in(&unit).await.unwrap();
    let mut counter = j.staff.counter.clone();
    // A failed inspection without the owner's reason is refused, and so is a bad issue.
    let status = counter
        .record_inspection(hv::RecordInspectionRequest {
            request_id: "no-reason".into(),
            unit_id: unit.clone(),
            passed: false,
            defects: vec![defect("kitchen")],
            refusal_reason: String::new(),
            issues: vec![hv::InspectionIssue {
                kind: 9,
                description: "x".into(),
            }],
        })
        .await
        .unwrap_err();
    let fields: Vec<String> = field_violations(&status)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["refusal_reason", "issues[0].kind"]);
    let round = counter
        .record_inspection(hv::RecordInspectionRequest {
            request_id: "refused".into(),
            unit_id: unit.clone(),
            passed: false,
            defects: vec![defect("kitchen"), defect("bathroom")],
            refusal_reason: "water damage in the kitchen".into(),
            issues: vec![hv::InspectionIssue {
                kind: hv::InspectionIssueKind::Estate as i32,
                description: "the playground promised in the brochure is missing".into(),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(round.round, 1);
    let refused = round.handover.unwrap();
    assert_eq!(refused.refusal_reason, "water damage in the kitchen");
    let stats = statistics(&j, "", &j.project_id).await;
    assert_eq!((stats.refused, stats.waiting_on_repairs), (1, 1));
    assert_eq!(stats.refusals[0].reason, "water damage in the kitchen");

    // The estate issue became a complaint, recorded at the counter, routed to the property
    // company.
    let desk = ComplaintsServiceClient::new(stack.authed_with(
        "complaints",
        &anju_testkit::token_for(stack.tenant, "desk.zheng", &[Role::CustomerService]),
    ));
    let complaint = j
        .eventually("the estate complaint", || async {
            let listed = desk
                .clone()
                .list_complaints(cp::ListComplaintsRequest {
                    project_id: j.project_id.clone(),
                    unit_id: unit.clone(),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .complaints;
            Ok(listed.into_iter().next())
        })
        .await
        .unwrap();
    assert_eq!(
        complaint.category,
        cp::ComplaintCategory::PropertyManagement as i32
    );
    assert_eq!(complaint.channel, cp::ComplaintChannel::Counter as i32);
    assert!(complaint.text.contains("playground"), "{complaint:?}");

    // The defects are repaired and signed off; the owner is asked back, and accepts.
    for order in repairs(&j, &unit, 2).await {
        j.repaired(&order, "fixed").await.unwrap();
    }
    j.wait_handover(&unit, "the re-inspection notice", |h| {
        h.notices.iter().any(|n| n.kind == "reinspection")
    })
    .await
    .unwrap();
    let stats = statistics(&j, "", &j.project_id).await;
    assert_eq!(
        (
            stats.refused,
            stats.waiting_on_repairs,
            stats.waiting_on_reinspection
        ),
        (1, 0, 1)
    );
    j.inspect(&unit, 2, Vec::new()).await.unwrap().unwrap();
    let accepted = j.handover(&unit).await.unwrap().handover.unwrap();
    assert!(accepted.refusal_reason.is_empty());
    assert!(accepted.inspection_passed);
    // One complaint only: the issue was raised once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let listed = desk
        .clone()
        .list_complaints(cp::ListComplaintsRequest {
            project_id: j.project_id.clone(),
            unit_id: unit.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .complaints;
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn every_key_from_its_arrival_and_an_overdue_loan_listed() {
    let stack = TestStack::start().await.unwrap();
    let j = stack.journey("KEYS-1").await;
    let unit = j.sold_unit("0501", "13800000501").await.unwrap();
    j.contracted(1, None).await.unwrap();
    let mut counter = j.staff.counter.clone();
    let receipt =
        |floor: i32, installation: &str, kind: &str, set: &str, tag: &str| hv::KeyReceipt {
            floor,
            installation: installation.into(),
            kind: kind.into(),
            set: set.into(),
            tag: tag.into(),
            ..Default::default()
        };
    let receive = |request_id: &str, keys: Vec<hv::KeyReceipt>| hv::ReceiveKeysRequest {
        request_id: request_id.into(),
        project_id: j.project_id.clone(),
        building_id: j.building_id.clone(),
        keys,
    };
    // The public keys arrive before any unit's handover: a floor's door and window keys
    // and the pump room's, each a working set and one emergency spare.
    let received = counter
        .receive_keys(receive(
            "public",
            vec![
                receipt(5, "", "public_door", "working", "F5-DOOR-W"),
                receipt(5, "", "public_door", "spare", "F5-DOOR-S"),
                receipt(5, "", "window", "working", "F5-WIN-W"),
                receipt(0, "pump room B1", "equipment_room", "working", "PUMP-W"),
                receipt(0, "pump room B1", "equipment_room", "spare", "PUMP-S"),
            ],
        ))
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(received.len(), 5);
    assert!(received.iter().all(|k| k.status == "in_office"));
    // One emergency spare per kind; a tag once in the project; each holder its own kinds.
    let second = counter
        .receive_keys(receive(
            "second-spare",
            vec![receipt(5, "", "public_door", "spare", "F5-DOOR-S2")],
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&second), "KEY_ALREADY_RECEIVED");
    let reused = counter
        .receive_keys(receive(
            "reused-tag",
            vec![receipt(6, "", "public_door", "spare", "F5-DOOR-S")],
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&reused), "KEY_TAG_IN_USE");
    let wrong = counter
        .receive_keys(receive(
            "wrong-kind",
            vec![
                receipt(6, "", "mailbox", "owner", "F6-MAIL"),
                hv::KeyReceipt {
                    unit_id: unit.clone(),
                    floor: 6,
                    kind: "mailbox".into(),
                    set: "owner".into(),
                    tag: "U-MAIL".into(),
                    ..Default::default()
                },
            ],
        ))
        .await
        .unwrap_err();
    let fields: Vec<String> = field_violations(&wrong)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["keys[0].kind", "keys[1].unit_id"]);
    // Nothing of a refused receipt was kept.
    let listed = counter
        .list_keys(hv::ListKeysRequest {
            project_id: j.project_id.clone(),
            building_id: j.building_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(listed.len(), 5);
    // The unit's keys arrive; its rows exist long before the handover.
    j.keys_arrive(&unit).await.unwrap();
    let unit_keys = counter
        .list_keys(hv::ListKeysRequest {
            project_id: j.project_id.clone(),
            unit_id: unit.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(unit_keys.len(), 10);

    // Loans: a working key with a registered reason, borrower and return time; the owner's
    // set is not lent; a loan whose time passed is listed as overdue.
    let due = |seconds: i64| {
        Some(prost_types::Timestamp {
            seconds: chrono::Utc::now().timestamp() + seconds,
            nanos: 0,
        })
    };
    let lend =
        |request_id: &str, tag: &str, reason: hv::LoanReason, back_in: i64| hv::LendKeyRequest {
            request_id: request_id.into(),
            tag: tag.into(),
            project_id: j.project_id.clone(),
            borrower: "technician Gao".into(),
            borrower_organisation: "Pump Services Ltd".into(),
            purpose: "quarterly pump check".into(),
            reason: reason as i32,
            due_back_at: due(back_in),
            ..Default::default()
        };
    let no_reason = counter
        .lend_key(lend(
            "no-reason",
            "PUMP-W",
            hv::LoanReason::Unspecified,
            3600,
        ))
        .await
        .unwrap_err();
    assert_eq!(field_violations(&no_reason)[0].field, "reason");
    let past = counter
        .lend_key(lend("past", "PUMP-W", hv::LoanReason::Repair, -60))
        .await
        .unwrap_err();
    assert_eq!(field_violations(&past)[0].field, "due_back_at");
    let owners = counter
        .lend_key(lend(
            "owners",
            &format!("{unit}/mailbox/owner"),
            hv::LoanReason::Repair,
            3600,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&owners), "KEY_NOT_LENDABLE");
    let short = counter
        .lend_key(lend("short", "PUMP-W", hv::LoanReason::Repair, 2))
        .await
        .unwrap()
        .into_inner()
        .loan
        .unwrap();
    assert!(!short.overdue);
    let long = counter
        .lend_key(lend("long", "F5-WIN-W", hv::LoanReason::Cleaning, 3600))
        .await
        .unwrap()
        .into_inner()
        .loan
        .unwrap();
    let out = counter
        .lend_key(lend("out", "PUMP-W", hv::LoanReason::Repair, 3600))
        .await
        .unwrap_err();
    assert_eq!(reason(&out), "SPARE_KEY_OUT");
    let lister = counter.clone();
    let loans = |overdue_only: bool| {
        let mut counter = lister.clone();
        let project_id = j.project_id.clone();
        async move {
            counter
                .list_key_loans(hv::ListKeyLoansRequest {
                    project_id,
                    overdue_only,
                    page: None,
                })
                .await
                .unwrap()
                .into_inner()
                .loans
        }
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let overdue = loans(true).await;
    assert_eq!(overdue.len(), 1, "{overdue:?}");
    assert_eq!(overdue[0].tag, "PUMP-W");
    assert!(overdue[0].overdue);
    assert_eq!(overdue[0].reason, hv::LoanReason::Repair as i32);
    let open = loans(false).await;
    assert_eq!(open.len(), 2);
    // Returned, it is neither open nor overdue.
    counter
        .return_key(hv::ReturnKeyRequest {
            request_id: "back".into(),
            loan_id: short.loan_id,
        })
        .await
        .unwrap();
    assert!(loans(true).await.is_empty());
    assert!(long.back_at.is_none());
    // A unit's spare is lent only once its keys were handed over.
    let before = counter
        .lend_key(hv::LendKeyRequest {
            request_id: "unit-spare".into(),
            unit_id: unit.clone(),
            kind: "mailbox".into(),
            project_id: String::new(),
            ..lend("unit-spare", "", hv::LoanReason::Repair, 3600)
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&before), "KEYS_NOT_RELEASED");
}

#[tokio::test]
async fn the_batch_statistics_match_the_units_histories_and_another_tenant_sees_nothing() {
    let stack = TestStack::start().await.unwrap();
    let j = stack.journey("STATS-1").await;
    let mut units = Vec::new();
    for n in 1..=4 {
        units.push(
            j.sold_unit(&format!("060{n}"), &format!("1380000060{n}"))
                .await
                .unwrap(),
        );
    }
    let created = j.batch(4, None).await.unwrap();
    j.books().await.unwrap();
    let [handed, refused, repaired, unpaid] = [&units[0], &units[1], &units[2], &units[3]];
    // Handed over.
    j.paid_and_passed(handed).await.unwrap();
    j.wait_cleared(handed).await.unwrap();
    j.release(handed, "keys").await.unwrap().unwrap();
    // Refused, defects still open.
    j.check_in(refused).await.unwrap();
    j.inspect(refused, 1, vec![defect("kitchen")])
        .await
        .unwrap()
        .unwrap();
    // Refused, repaired, asked back.
    j.check_in(repaired).await.unwrap();
    j.inspect(repaired, 1, vec![defect("bathroom")])
        .await
        .unwrap()
        .unwrap();
    for order in repairs(&j, repaired, 1).await {
        j.repaired(&order, "fixed").await.unwrap();
    }
    j.wait_handover(repaired, "the call back", |h| {
        h.notices.iter().any(|n| n.kind == "reinspection")
    })
    .await
    .unwrap();
    // Passed, fees unpaid.
    j.check_in(unpaid).await.unwrap();
    j.inspect(unpaid, 1, Vec::new()).await.unwrap().unwrap();

    let stats = statistics(&j, &created.batch_id, "").await;
    assert_eq!((stats.units, stats.handed_over), (4, 1));
    assert_eq!(stats.defects, 2);
    assert_eq!(stats.refused, 2);
    assert_eq!(
        stats.refusals,
        [hv::RefusalCount {
            reason: "defects to repair first".into(),
            units: 2
        }]
    );
    assert_eq!(stats.waiting_on_fees, 3, "all but the unit handed over");
    assert_eq!(
        (stats.waiting_on_repairs, stats.waiting_on_reinspection),
        (1, 1)
    );
    assert_eq!(stats.notices_late, 0);
    // Keys today, 35 days before the window: -35.00 days from the window's start, about.
    let centidays = stats.average_days_window_to_keys_centi;
    assert!((-3600..=-3400).contains(&centidays), "{centidays}");
    // The project's figures are the batch's (one batch).
    let project = statistics(&j, "", &j.project_id).await;
    assert_eq!(project, stats);

    // Another tenant: its admin finds nothing of this tenant's handover.
    let other = Uuid::now_v7();
    let mut intruder = HandoverServiceClient::new(stack.authed_with(
        "handover",
        &anju_testkit::token_for(other, "admin.x", &[Role::Admin]),
    ));
    let code = |r: Result<tonic::Response<hv::GetBatchResponse>, Status>| r.unwrap_err().code();
    assert_eq!(
        code(
            intruder
                .get_batch(hv::GetBatchRequest {
                    batch_id: created.batch_id.clone()
                })
                .await
        ),
        Code::NotFound
    );
    let list = intruder
        .get_move_in_list(hv::GetMoveInListRequest {
            batch_id: created.batch_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(list.code(), Code::NotFound);
    let stats = intruder
        .get_batch_statistics(hv::GetBatchStatisticsRequest {
            batch_id: String::new(),
            project_id: j.project_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.units, 0);
    let keys = intruder
        .list_keys(hv::ListKeysRequest {
            project_id: j.project_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .keys;
    let loans = intruder
        .list_key_loans(hv::ListKeyLoansRequest {
            project_id: j.project_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .loans;
    assert!(keys.is_empty() && loans.is_empty());
    let books = intruder
        .list_books(hv::ListBooksRequest {
            project_id: j.project_id.clone(),
            page: None,
        })
        .await
        .unwrap()
        .into_inner()
        .books;
    assert!(books.is_empty());
}
