//! Warranty maintenance over the real services (DOMAIN.md §3): the warranty decision from the
//! building's acceptance, shown on the request; work orders assigned from the responsibility
//! map with their clocks; a contractor that never answers warned, breached and replaced by the
//! backup vendor, once; the vendor's cost charged back, the owner compensated, each booked in
//! finance once through the coordinator even when the events are delivered again; partners kept
//! to their own orders and steps; the partner feed resumed after a dropped connection with
//! nothing lost or repeated; bad input refused by field.

use std::time::Duration;

use anju::journey::{Journey, cny};
use anju_e2e::{Authed, TestStack, wait_for};
use anju_kit::{
    Role,
    error::{field_violations, refusal_reason},
};
use anju_proto::{
    EventPayload,
    events::{ContractorCharged, WorkOrderClockBreached, WorkOrderClockWarned},
    finance::{self as fi, finance_service_client::FinanceServiceClient},
    maintenance::{self as mt, maintenance_service_client::MaintenanceServiceClient},
};
use chrono::{Days, Utc};
use futures::StreamExt;
use sqlx::PgPool;
use tonic::Code;
use uuid::Uuid;

type Client = MaintenanceServiceClient<Authed>;

fn client(stack: &TestStack, tenant: Uuid, roles: &[Role]) -> Client {
    MaintenanceServiceClient::new(stack.authed_with(
        "maintenance",
        &anju_testkit::token_for(tenant, "maintenance.staff", roles),
    ))
}

fn partner(stack: &TestStack, tenant: Uuid, contractor: Uuid) -> Client {
    MaintenanceServiceClient::new(stack.authed_with(
        "maintenance",
        &anju_testkit::contractor_token(tenant, contractor),
    ))
}

fn refused<T: std::fmt::Debug>(answer: Result<T, tonic::Status>, code: &str) {
    let status = answer.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(refusal_reason(&status).as_deref(), Some(code), "{status:?}");
}

fn fields_of(status: &tonic::Status) -> Vec<String> {
    field_violations(status)
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// The feed's next item, within 10 s.
async fn next(
    feed: &mut tonic::Streaming<mt::WatchWorkOrderFeedResponse>,
) -> mt::WatchWorkOrderFeedResponse {
    tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("an item within 10 s")
        .expect("the feed goes on")
        .expect("an item")
}

fn today() -> chrono::NaiveDate {
    anju_kit::time::ProjectZone::or_default("").today()
}

/// A project's building with units maintenance knows, a responsibility map entry for
/// `component` (retention 3 % of 1,000,000.00 yuan) and the building accepted on `accepted_on`.
struct Site {
    j: Journey,
    units: Vec<String>,
    dispatcher: Client,
    contractor: Uuid,
    vendor: Uuid,
}

async fn site(
    stack: &TestStack,
    code: &str,
    units: usize,
    component: &str,
    respond_minutes: i32,
) -> Site {
    let j = stack.journey(code).await;
    let mut ids = Vec::new();
    for n in 0..units {
        let unit = j
            .register_unit(&format!("{:04}", 101 + n))
            .await
            .unwrap()
            .unit_id;
        stack.until_known("maintenance", &unit).await.unwrap();
        ids.push(unit);
    }
    let mut dispatcher = client(stack, stack.tenant, &[Role::MaintenanceDispatcher]);
    let (contractor, vendor) = (Uuid::now_v7(), Uuid::now_v7());
    dispatcher
        .set_responsibility(mt::SetResponsibilityRequest {
            request_id: format!("map-{code}"),
            responsibility: Some(mt::Responsibility {
                project_id: j.project_id.clone(),
                building_id: j.building_id.clone(),
                component: component.into(),
                contractor_id: contractor.to_string(),
                backup_vendor_id: vendor.to_string(),
                settlement_amount: cny(100_000_000),
                retention: cny(3_000_000),
                liability_years: 2,
                respond_minutes,
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    dispatcher
        .set_building_warranty(mt::SetBuildingWarrantyRequest {
            request_id: format!("accepted-{code}"),
            project_id: j.project_id.clone(),
            building_id: j.building_id.clone(),
            accepted_on: (today() - Days::new(200)).to_string(),
            design_life_years: 0,
        })
        .await
        .unwrap();
    Site {
        j,
        units: ids,
        dispatcher,
        contractor,
        vendor,
    }
}

impl Site {
    async fn repair(&self, unit: &str, component: &str, step: &str) -> mt::RepairRequest {
        self.dispatcher
            .clone()
            .create_repair_request(mt::CreateRepairRequestRequest {
                request_id: format!("repair-{step}-{unit}"),
                project_id: self.j.project_id.clone(),
                unit_id: unit.into(),
                source: mt::RepairSource::Owner as i32,
                category: "leak".into(),
                description: "water under the kitchen sink".into(),
                component: component.into(),
                priority: mt::Priority::Urgent as i32,
                owner_name: "Li Wei".into(),
                owner_phone: "13800001111".into(),
                not_to_exceed: cny(200_000),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .repair_request
            .unwrap()
    }
}

async fn order(client: &Client, id: &str) -> Result<mt::RepairRequest, tonic::Status> {
    Ok(client
        .clone()
        .get_repair_request(mt::GetRepairRequestRequest {
            repair_request_id: id.into(),
        })
        .await?
        .into_inner()
        .repair_request
        .unwrap())
}

async fn published<P: EventPayload>(db: &PgPool, aggregate: &str) -> i64 {
    sqlx::query_scalar("select count(*) from outbox where event_type = $1 and aggregate_id = $2")
        .bind(P::EVENT_TYPE)
        .bind(aggregate)
        .fetch_one(db)
        .await
        .unwrap()
}

/// Moves order `id`'s response deadline to `secs` from now and has the sweeper look at once.
async fn respond_due_in(db: &PgPool, id: &str, secs: i64) {
    sqlx::query(
        "update repair_requests set respond_by = now() + make_interval(secs => $2),
             clock_next_at = now() where repair_request_id = $1",
    )
    .bind(Uuid::parse_str(id).unwrap())
    .bind(secs as f64)
    .execute(db)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_warranty_decision_and_the_assignment_come_from_the_map_and_the_acceptance() {
    let stack = TestStack::start().await.unwrap();
    let s = site(&stack, "MW1", 1, "doors_and_windows", 0).await;
    let unit = &s.units[0];
    let mut dispatcher = s.dispatcher.clone();

    // Doors: the contractor's 2 years from acceptance. Accepted two years ago today: today is
    // the last day, covered by the contractor.
    let accept = |code: &str, on: chrono::NaiveDate| mt::SetBuildingWarrantyRequest {
        request_id: format!("accepted-{code}"),
        project_id: s.j.project_id.clone(),
        building_id: s.j.building_id.clone(),
        accepted_on: on.to_string(),
        design_life_years: 0,
    };
    let two_years_ago = today().checked_sub_months(chrono::Months::new(24)).unwrap();
    dispatcher
        .set_building_warranty(accept("last-day", two_years_ago))
        .await
        .unwrap();
    let last_day = s.repair(unit, "doors_and_windows", "last-day").await;
    let w = last_day.warranty.clone().unwrap();
    assert!(w.decided && w.covered, "{w:?}");
    assert_eq!(w.payer, mt::Payer::Contractor as i32);
    assert_eq!(w.contractor_until, today().to_string());
    assert!(
        w.reasons
            .iter()
            .any(|r| r.contains("contractor's warranty"))
    );
    let o = last_day.work_order.clone().unwrap();
    assert_eq!(o.contractor_id, s.contractor.to_string());
    assert_eq!(o.backup_vendor_id, s.vendor.to_string());
    assert_eq!((o.state.as_str(), o.assignments), ("assigned", 1));
    // Urgent: respond within 30 minutes, on site within the hour, from the assignment.
    let due = |name: &str| {
        let c = o.clocks.iter().find(|c| c.name == name).unwrap();
        c.due_at.as_ref().unwrap().seconds - o.assigned_at.as_ref().unwrap().seconds
    };
    assert_eq!((due("respond"), due("on_site")), (30 * 60, 60 * 60));

    // A day longer ago: the contractor's warranty ended yesterday; no buyer took the unit over.
    dispatcher
        .set_building_warranty(accept("day-after", two_years_ago - Days::new(1)))
        .await
        .unwrap();
    let day_after = s.repair(unit, "doors_and_windows", "day-after").await;
    let w = day_after.warranty.unwrap();
    assert!(w.decided && !w.covered, "{w:?}");
    assert_eq!(w.payer, mt::Payer::Caused as i32);
    assert_eq!(w.contractor_until, (today() - Days::new(1)).to_string());
    // Repaired anyway, it is billed to the owner who asked for it.
    dispatcher
        .complete_work_order(mt::CompleteWorkOrderRequest {
            request_id: "billed-done".into(),
            repair_request_id: day_after.repair_request_id.clone(),
            resolution: "rehung the door".into(),
            cost_lines: vec![mt::CostLine {
                kind: "labour".into(),
                description: "an hour".into(),
                amount: cny(30_000),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    sign_off_all(&stack, &day_after.repair_request_id, "billed").await;
    let mut finance = FinanceServiceClient::new(stack.authed_with(
        "finance",
        &anju_testkit::token(stack.tenant, &[Role::Admin]),
    ));
    let mut billed = Vec::new();
    for _ in 0..200 {
        billed = finance
            .list_charges(fi::ListChargesRequest {
                unit_id: unit.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .charges;
        if !billed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(billed.len(), 1, "{billed:?}");
    assert_eq!(
        (
            billed[0].purpose,
            billed[0].amount.as_ref().unwrap().minor_units,
            billed[0].payer_id.clone()
        ),
        (
            fi::ChargePurpose::RepairFee as i32,
            30_000,
            format!("owner:{unit}")
        )
    );

    // A component the map has no entry for waits for a dispatcher; assigning it without naming
    // a contractor is refused, naming one assigns it.
    let unmapped = s.repair(unit, "electrical", "unmapped").await;
    assert_eq!(unmapped.work_order.as_ref().unwrap().state, "unassigned");
    let assign = |request_id: &str, contractor: &str, reason: &str| mt::AssignWorkOrderRequest {
        request_id: request_id.into(),
        repair_request_id: unmapped.repair_request_id.clone(),
        contractor_id: contractor.into(),
        reason: reason.into(),
        ..Default::default()
    };
    refused(
        dispatcher
            .assign_work_order(assign("assign-map", "", ""))
            .await,
        "NOT_RESPONSIBLE",
    );
    let electrician = Uuid::now_v7();
    let assigned = dispatcher
        .assign_work_order(assign("assign-named", &electrician.to_string(), ""))
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    assert_eq!(
        assigned.work_order.unwrap().contractor_id,
        electrician.to_string()
    );
    // A reassignment names its reason.
    let err = dispatcher
        .assign_work_order(assign("reassign", &s.contractor.to_string(), ""))
        .await
        .unwrap_err();
    assert_eq!(fields_of(&err), vec!["reason".to_string()]);
    let moved = dispatcher
        .assign_work_order(assign(
            "reassign-why",
            &s.contractor.to_string(),
            "the electrician is on leave",
        ))
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    assert_eq!(moved.work_order.unwrap().assignments, 2);
    refused(
        dispatcher
            .assign_work_order(assign("again", &s.contractor.to_string(), "again"))
            .await,
        "SAME_CONTRACTOR",
    );

    // Another tenant sees nothing.
    let other = client(&stack, Uuid::now_v7(), &[Role::Admin]);
    let err = order(&other, &last_day.repair_request_id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn the_map_takes_lawful_terms_and_names_bad_fields() {
    let stack = TestStack::start().await.unwrap();
    let s = site(&stack, "MW2", 1, "pipe_leaks", 0).await;
    let mut dispatcher = s.dispatcher.clone();
    let entry = |retention: i64, years: i32| mt::SetResponsibilityRequest {
        request_id: format!("terms-{retention}-{years}"),
        responsibility: Some(mt::Responsibility {
            project_id: s.j.project_id.clone(),
            building_id: s.j.building_id.clone(),
            component: "roof_waterproofing".into(),
            contractor_id: s.contractor.to_string(),
            backup_vendor_id: s.vendor.to_string(),
            // 3 % of 1,234,567.89 yuan is 37,037.0367: at most 37,037.03 held.
            settlement_amount: cny(123_456_789),
            retention: cny(retention),
            liability_years: years,
            ..Default::default()
        }),
    };
    let kept = dispatcher
        .set_responsibility(entry(3_703_703, 2))
        .await
        .unwrap()
        .into_inner()
        .responsibility
        .unwrap();
    assert_eq!(kept.retention_left.unwrap().minor_units, 3_703_703);
    assert_eq!(kept.respond_minutes, 30);
    refused(
        dispatcher.set_responsibility(entry(3_703_704, 2)).await,
        "RETENTION_TERMS_UNLAWFUL",
    );
    refused(
        dispatcher.set_responsibility(entry(100, 3)).await,
        "RETENTION_TERMS_UNLAWFUL",
    );
    let mut bad = entry(100, 1);
    let r = bad.responsibility.as_mut().unwrap();
    r.component = "roof".into();
    r.backup_vendor_id = r.contractor_id.clone();
    r.respond_minutes = -1;
    let err = dispatcher.set_responsibility(bad).await.unwrap_err();
    assert_eq!(
        fields_of(&err),
        vec![
            "responsibility.component".to_string(),
            "responsibility.backup_vendor_id".into(),
            "responsibility.respond_minutes".into(),
        ]
    );
    let listed = dispatcher
        .list_responsibilities(mt::ListResponsibilitiesRequest {
            project_id: s.j.project_id.clone(),
            building_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .responsibilities;
    assert_eq!(listed.len(), 2);
    // Another tenant's building is not found, and its list is empty.
    let mut other = client(&stack, Uuid::now_v7(), &[Role::Admin]);
    let err = other.set_responsibility(entry(100, 1)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let none = other
        .list_responsibilities(mt::ListResponsibilitiesRequest {
            project_id: s.j.project_id.clone(),
            building_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .responsibilities;
    assert!(none.is_empty());
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn a_contractor_that_never_answers_is_replaced_and_pays_the_vendor_once() {
    let stack = TestStack::start().await.unwrap();
    let s = site(&stack, "MW3", 1, "pipe_leaks", 0).await;
    let db = PgPool::connect(&stack.settings.database_url("maintenance"))
        .await
        .unwrap();
    let created = s.repair(&s.units[0], "pipe_leaks", "silent").await;
    let id = created.repair_request_id.clone();
    let mut staff = s.dispatcher.clone();

    // The warning window opens: warned once.
    respond_due_in(&db, &id, 120).await;
    wait_for(Duration::from_secs(10), "the warning", || async {
        Ok(published::<WorkOrderClockWarned>(&db, &id).await == 1)
    })
    .await
    .unwrap();
    let warned = order(&staff, &id).await.unwrap();
    let respond = |o: &mt::RepairRequest| {
        o.work_order
            .as_ref()
            .unwrap()
            .clocks
            .iter()
            .find(|c| c.name == "respond")
            .unwrap()
            .state
    };
    assert_eq!(respond(&warned), mt::ClockState::Warning as i32);
    let listed = staff
        .list_work_orders(mt::ListWorkOrdersRequest {
            project_id: s.j.project_id.clone(),
            clock_state: mt::ClockState::Warning as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .work_orders;
    assert_eq!(listed.len(), 1);

    // The deadline passes with no answer: breached once, the order goes to the backup vendor
    // with new clocks.
    respond_due_in(&db, &id, -1).await;
    let escalated = {
        let mut found = None;
        for _ in 0..200 {
            let o = order(&staff, &id).await.unwrap();
            if o.work_order.as_ref().unwrap().contractor_id == s.vendor.to_string() {
                found = Some(o);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        found.expect("the order reaches the backup vendor")
    };
    let w = escalated.work_order.clone().unwrap();
    assert_eq!(w.escalated_from, s.contractor.to_string());
    assert_eq!((w.assignments, w.state.as_str()), (2, "assigned"));
    assert_eq!(respond(&escalated), mt::ClockState::Running as i32);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(published::<WorkOrderClockWarned>(&db, &id).await, 1);
    assert_eq!(published::<WorkOrderClockBreached>(&db, &id).await, 1);
    // The scorecard: the breach is the silent contractor's; the order is in the vendor's hand.
    let exported = anju_maintenance::metrics::render(&db).await.unwrap();
    let scope = format!("tenant=\"{}\",project=\"{}\"", stack.tenant, s.j.project_id);
    for wanted in [
        format!(
            "anju_work_order_breaches_total{{{scope},contractor=\"{}\"}} 1",
            s.contractor
        ),
        format!(
            "anju_work_orders_open{{{scope},contractor=\"{}\",clock_state=\"on_time\"}} 1",
            s.vendor
        ),
    ] {
        assert!(
            exported.lines().any(|l| l == wanted),
            "no {wanted} in:\n{exported}"
        );
    }

    // The silent contractor no longer sees it; the vendor works it.
    let silent = partner(&stack, stack.tenant, s.contractor);
    assert_eq!(
        order(&silent, &id).await.unwrap_err().code(),
        Code::NotFound
    );
    let mut vendor = partner(&stack, stack.tenant, s.vendor);
    let step = |n: &str| format!("vendor-{n}");
    refused(
        vendor
            .check_in_work_order(mt::CheckInWorkOrderRequest {
                request_id: step("early-check-in"),
                repair_request_id: id.clone(),
            })
            .await,
        "ORDER_NOT_ACCEPTED",
    );
    vendor
        .accept_work_order(mt::AcceptWorkOrderRequest {
            request_id: step("accept"),
            repair_request_id: id.clone(),
        })
        .await
        .unwrap();
    refused(
        vendor
            .decline_work_order(mt::DeclineWorkOrderRequest {
                request_id: step("decline"),
                repair_request_id: id.clone(),
                reason: "too far".into(),
            })
            .await,
        "ORDER_ALREADY_ANSWERED",
    );
    let complete = |request_id: &str, amounts: &[i64]| mt::CompleteWorkOrderRequest {
        request_id: request_id.into(),
        repair_request_id: id.clone(),
        resolution: "replaced the trap and the seal".into(),
        cost_lines: amounts
            .iter()
            .map(|a| mt::CostLine {
                kind: "vendor".into(),
                description: "invoice".into(),
                amount: cny(*a),
            })
            .collect(),
        photo_refs: vec!["photos/after.jpg".into()],
    };
    refused(
        vendor
            .complete_work_order(complete("done-early", &[123_455]))
            .await,
        "NOT_ON_SITE",
    );
    vendor
        .check_in_work_order(mt::CheckInWorkOrderRequest {
            request_id: step("check-in"),
            repair_request_id: id.clone(),
        })
        .await
        .unwrap();
    // Above the not-to-exceed amount of 2,000.00 yuan: refused, nothing written.
    refused(
        vendor
            .complete_work_order(complete("too-much", &[150_000, 50_001]))
            .await,
        "COST_OVER_LIMIT",
    );
    let done = vendor
        .complete_work_order(complete("done", &[100_000, 23_455]))
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    assert_eq!(done.cost_lines.len(), 2);
    assert_eq!(done.status, mt::RepairStatus::Completed as i32);
    // The same external reference again: the first answer, nothing added.
    let again = vendor
        .complete_work_order(complete("done", &[100_000, 23_455]))
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    assert_eq!(again.cost_lines.len(), 2);

    // Four sign-offs close it; its charges are raised once and booked in finance once.
    for (party, roles) in [
        (mt::SignOffParty::Maintenance, Role::MaintenanceDispatcher),
        (mt::SignOffParty::Owner, Role::CustomerService),
        (
            mt::SignOffParty::SupervisingEngineer,
            Role::SupervisingEngineer,
        ),
        (mt::SignOffParty::ProjectDepartment, Role::ProjectDepartment),
    ] {
        client(&stack, stack.tenant, &[roles])
            .sign_off_repair(mt::SignOffRepairRequest {
                request_id: format!("sign-{}", party.as_str_name()),
                repair_request_id: id.clone(),
                party: party as i32,
                signed_by: "signature".into(),
            })
            .await
            .unwrap();
    }
    let closed = order(&staff, &id).await.unwrap();
    assert_eq!(closed.status, mt::RepairStatus::Closed as i32);
    let charges: Vec<(String, i64, i64, i64, String)> = sqlx::query_as(
        "select purpose, amount_minor, from_retention_minor, claim_minor, payer_id
         from contractor_charges where repair_request_id = $1 order by purpose",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .fetch_all(&db)
    .await
    .unwrap();
    let contractor = s.contractor.to_string();
    // The vendor's 1,234.55 yuan charged back from the retention; the owner compensated
    // 123.46 (10 %, 123.455 rounded half up), recovered from the contractor's retention.
    assert_eq!(
        charges,
        vec![
            ("chargeback".into(), 123_455, 123_455, 0, contractor.clone()),
            (
                "compensation_recovery".into(),
                12_346,
                12_346,
                0,
                contractor.clone()
            ),
            (
                "owner_compensation".into(),
                12_346,
                0,
                0,
                format!("owner:{}", s.units[0])
            ),
        ]
    );
    let map = staff
        .list_responsibilities(mt::ListResponsibilitiesRequest {
            project_id: s.j.project_id.clone(),
            building_id: s.j.building_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .responsibilities;
    assert_eq!(
        map[0].retention_left.as_ref().unwrap().minor_units,
        3_000_000 - 123_455 - 12_346
    );

    let mut finance = FinanceServiceClient::new(stack.authed_with(
        "finance",
        &anju_testkit::token(stack.tenant, &[Role::Admin]),
    ));
    let booked = |finance: &mut FinanceServiceClient<Authed>| {
        let mut finance = finance.clone();
        let unit = s.units[0].clone();
        async move {
            finance
                .list_charges(fi::ListChargesRequest {
                    unit_id: unit,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .charges
                .into_iter()
                .filter(|c| c.business_key.starts_with("maintenance:"))
                .collect::<Vec<_>>()
        }
    };
    wait_for(Duration::from_secs(20), "three charges in finance", || {
        let finance = finance.clone();
        async move {
            let mut finance = finance;
            Ok(booked(&mut finance).await.len() == 3)
        }
    })
    .await
    .unwrap();
    // Delivered again (the outbox replayed, as after a relay's crash): still three.
    let raised: i64 = sqlx::query_scalar("select count(*) from outbox where event_type = $1")
        .bind(ContractorCharged::EVENT_TYPE)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(raised, 3);
    let since = Utc::now() - chrono::Duration::minutes(5);
    anju_messaging::outbox::replay_since(&db, since)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let charges = booked(&mut finance).await;
    assert_eq!(charges.len(), 3, "{charges:?}");
    let mut amounts: Vec<(i32, i64)> = charges
        .iter()
        .map(|c| (c.purpose, c.amount.as_ref().unwrap().minor_units))
        .collect();
    amounts.sort();
    assert_eq!(
        amounts,
        vec![
            (fi::ChargePurpose::ContractorChargeback as i32, 12_346),
            (fi::ChargePurpose::ContractorChargeback as i32, 123_455),
            (fi::ChargePurpose::OwnerCompensation as i32, 12_346),
        ]
    );
    // The month counts the breach and the escalation, though the order moved on.
    let report = staff
        .get_repair_report(mt::GetRepairReportRequest {
            project_id: s.j.project_id.clone(),
            month: today().format("%Y-%m").to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!((report.breached, report.escalated), (1, 1));
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn a_partner_reaches_only_its_own_orders_and_its_feed_resumes_where_it_dropped() {
    let stack = TestStack::start().await.unwrap();
    let s = site(&stack, "MW4", 3, "electrical", 0).await;
    let mut feed_client = partner(&stack, stack.tenant, s.contractor);
    let first = s.repair(&s.units[0], "electrical", "feed-1").await;

    // Connected from the start: the first assignment arrives.
    let mut feed = feed_client
        .watch_work_order_feed(mt::WatchWorkOrderFeedRequest::default())
        .await
        .unwrap()
        .into_inner();
    let one = next(&mut feed).await;
    assert_eq!(
        (one.kind.as_str(), one.repair_request_id.as_str()),
        ("assigned", first.repair_request_id.as_str())
    );
    assert!(one.due_at.is_some());
    // The connection drops; two more orders are assigned meanwhile.
    drop(feed);
    let second = s.repair(&s.units[1], "electrical", "feed-2").await;
    let third = s.repair(&s.units[2], "electrical", "feed-3").await;
    let mut feed = feed_client
        .watch_work_order_feed(mt::WatchWorkOrderFeedRequest {
            cursor: one.cursor.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let (two, three) = (next(&mut feed).await, next(&mut feed).await);
    assert_eq!(
        [
            two.repair_request_id.as_str(),
            three.repair_request_id.as_str()
        ],
        [
            second.repair_request_id.as_str(),
            third.repair_request_id.as_str()
        ]
    );
    assert!(two.cursor.parse::<u64>().unwrap() > one.cursor.parse::<u64>().unwrap());
    // Nothing else is pending: no repeat of the first.
    assert!(
        tokio::time::timeout(Duration::from_millis(700), feed.next())
            .await
            .is_err()
    );
    drop(feed);

    // Another contractor: none of these orders, nothing in its feed.
    let stranger = Uuid::now_v7();
    let mut other = partner(&stack, stack.tenant, stranger);
    let id = first.repair_request_id.clone();
    assert_eq!(order(&other, &id).await.unwrap_err().code(), Code::NotFound);
    let status = other
        .accept_work_order(mt::AcceptWorkOrderRequest {
            request_id: "stranger-accept".into(),
            repair_request_id: id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = other
        .complete_work_order(mt::CompleteWorkOrderRequest {
            request_id: "stranger-complete".into(),
            repair_request_id: id.clone(),
            resolution: "done".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let listed = other
        .list_work_orders(mt::ListWorkOrdersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .work_orders;
    assert!(listed.is_empty());
    let mut strangers_feed = other
        .watch_work_order_feed(mt::WatchWorkOrderFeedRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(
        tokio::time::timeout(Duration::from_millis(700), strangers_feed.next())
            .await
            .is_err(),
        "another contractor's feed is empty"
    );
    // The same contractor id under another tenant sees nothing either.
    let elsewhere = partner(&stack, Uuid::now_v7(), s.contractor);
    assert_eq!(
        order(&elsewhere, &id).await.unwrap_err().code(),
        Code::NotFound
    );
    // Staff have no feed; a cursor is a number the feed gave.
    let status = client(&stack, stack.tenant, &[Role::Admin])
        .watch_work_order_feed(mt::WatchWorkOrderFeedRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = feed_client
        .watch_work_order_feed(mt::WatchWorkOrderFeedRequest {
            cursor: "yesterday".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(fields_of(&status), vec!["cursor".to_string()]);
    let status = feed_client
        .watch_work_order_feed(mt::WatchWorkOrderFeedRequest {
            cursor: u64::MAX.to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(fields_of(&status), vec!["cursor".to_string()]);

    // A decline by the responsible contractor sends the order to the vendor at once, and the
    // contractor's feed says so.
    let mut feed = feed_client
        .watch_work_order_feed(mt::WatchWorkOrderFeedRequest {
            cursor: three.cursor.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    feed_client
        .decline_work_order(mt::DeclineWorkOrderRequest {
            request_id: "decline-1".into(),
            repair_request_id: id.clone(),
            reason: "no electrician free this week".into(),
        })
        .await
        .unwrap();
    let away = next(&mut feed).await;
    assert_eq!(
        (away.kind.as_str(), away.repair_request_id.as_str()),
        ("reassigned_away", id.as_str())
    );
    let now_with = order(&s.dispatcher, &id).await.unwrap().work_order.unwrap();
    assert_eq!(now_with.contractor_id, s.vendor.to_string());
    assert_eq!(now_with.escalated_from, s.contractor.to_string());
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn a_repair_request_names_its_bad_fields_and_writes_nothing() {
    let stack = TestStack::start().await.unwrap();
    let s = site(&stack, "MW5", 1, "pipe_leaks", 0).await;
    let mut dispatcher = s.dispatcher.clone();
    let now = Utc::now().timestamp();
    let err = dispatcher
        .create_repair_request(mt::CreateRepairRequestRequest {
            request_id: "bad-repair".into(),
            project_id: s.j.project_id.clone(),
            unit_id: s.units[0].clone(),
            source: mt::RepairSource::Owner as i32,
            category: "leak".into(),
            description: "drip".into(),
            component: "kitchen".into(),
            priority: 9,
            owner_phone: "12".into(),
            appointment_from: Some(prost_types::Timestamp {
                seconds: now + 3600,
                nanos: 0,
            }),
            appointment_to: Some(prost_types::Timestamp {
                seconds: now + 3600 + 13 * 3600,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        fields_of(&err),
        vec![
            "component".to_string(),
            "priority".into(),
            "owner_phone".into(),
            "appointment_to".into(),
        ]
    );
    let err = dispatcher
        .complete_work_order(mt::CompleteWorkOrderRequest {
            request_id: "bad-costs".into(),
            repair_request_id: Uuid::now_v7().to_string(),
            resolution: "done".into(),
            cost_lines: vec![mt::CostLine {
                kind: "tip".into(),
                description: "x\u{0}".into(),
                amount: cny(0),
            }],
            photo_refs: vec![String::new(); 21],
        })
        .await
        .unwrap_err();
    let fields = fields_of(&err);
    for f in [
        "cost_lines[0].kind",
        "cost_lines[0].description",
        "cost_lines[0].amount.minor_units",
        "photo_refs",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
    }
    let db = PgPool::connect(&stack.settings.database_url("maintenance"))
        .await
        .unwrap();
    let written: i64 = sqlx::query_scalar("select count(*) from repair_requests")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(written, 0);
    stack.stop().await.unwrap();
}

/// A partner's work on order `id`: accepted, checked in and completed with one cost line
/// (kind, description, amount), each under its own request id.
async fn works_it(
    partner: &mut Client,
    id: &str,
    [accept, check_in, complete]: [&str; 3],
    resolution: &str,
    (kind, description, amount): (&str, &str, i64),
) {
    partner
        .accept_work_order(mt::AcceptWorkOrderRequest {
            request_id: accept.into(),
            repair_request_id: id.into(),
        })
        .await
        .unwrap();
    partner
        .check_in_work_order(mt::CheckInWorkOrderRequest {
            request_id: check_in.into(),
            repair_request_id: id.into(),
        })
        .await
        .unwrap();
    partner
        .complete_work_order(mt::CompleteWorkOrderRequest {
            request_id: complete.into(),
            repair_request_id: id.into(),
            resolution: resolution.into(),
            cost_lines: vec![mt::CostLine {
                kind: kind.into(),
                description: description.into(),
                amount: cny(amount),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn sign_off_all(stack: &TestStack, id: &str, round: &str) {
    for (party, role) in [
        (mt::SignOffParty::Maintenance, Role::MaintenanceDispatcher),
        (mt::SignOffParty::Owner, Role::CustomerService),
        (
            mt::SignOffParty::SupervisingEngineer,
            Role::SupervisingEngineer,
        ),
        (mt::SignOffParty::ProjectDepartment, Role::ProjectDepartment),
    ] {
        client(stack, stack.tenant, &[role])
            .sign_off_repair(mt::SignOffRepairRequest {
                request_id: format!("sign-{round}-{}", party.as_str_name()),
                repair_request_id: id.into(),
                party: party as i32,
                signed_by: "signature".into(),
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_plan_above_the_limit_is_approved_first_and_an_unsatisfied_owner_reopens_the_repair() {
    let stack = TestStack::start().await.unwrap();
    let s = site(&stack, "MW6", 1, "wall_and_floor_leaks", 0).await;
    let order = s.repair(&s.units[0], "wall_and_floor_leaks", "plan").await;
    let id = order.repair_request_id.clone();
    let mut contractor = partner(&stack, stack.tenant, s.contractor);
    let mut dispatcher = s.dispatcher.clone();
    contractor
        .accept_work_order(mt::AcceptWorkOrderRequest {
            request_id: "accept".into(),
            repair_request_id: id.clone(),
        })
        .await
        .unwrap();
    let propose = |request_id: &str, fen: i64| mt::ProposeRepairPlanRequest {
        request_id: request_id.into(),
        repair_request_id: id.clone(),
        description: "strip the bathroom floor and redo the membrane".into(),
        estimate: cny(fen),
    };
    refused(
        dispatcher
            .decide_repair_plan(mt::DecideRepairPlanRequest {
                request_id: "decide-nothing".into(),
                repair_request_id: id.clone(),
                approve: true,
                reason: String::new(),
            })
            .await,
        "NO_PLAN_PROPOSED",
    );
    // The order allows 2,000.00 yuan: a plan within it stands without a decision.
    let within = contractor
        .propose_repair_plan(propose("plan-small", 200_000))
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    assert_eq!(within.plan.unwrap().state, "approved");
    let proposed = contractor
        .propose_repair_plan(propose("plan", 650_000))
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    assert_eq!(proposed.plan.unwrap().state, "proposed");
    let decide = |request_id: &str, approve: bool| mt::DecideRepairPlanRequest {
        request_id: request_id.into(),
        repair_request_id: id.clone(),
        approve,
        reason: String::new(),
    };
    let err = dispatcher
        .decide_repair_plan(decide("reject-silently", false))
        .await
        .unwrap_err();
    assert_eq!(fields_of(&err), vec!["reason".to_string()]);
    let approved = dispatcher
        .decide_repair_plan(decide("approve", true))
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    let w = approved.work_order.unwrap();
    assert_eq!(w.not_to_exceed.unwrap().minor_units, 650_000);
    refused(
        dispatcher
            .decide_repair_plan(decide("approve-again", true))
            .await,
        "PLAN_ALREADY_DECIDED",
    );
    contractor
        .check_in_work_order(mt::CheckInWorkOrderRequest {
            request_id: "in".into(),
            repair_request_id: id.clone(),
        })
        .await
        .unwrap();
    let done = |request_id: &str| mt::CompleteWorkOrderRequest {
        request_id: request_id.into(),
        repair_request_id: id.clone(),
        resolution: "membrane redone".into(),
        cost_lines: vec![mt::CostLine {
            kind: "labour".into(),
            description: "three days".into(),
            amount: cny(640_000),
        }],
        ..Default::default()
    };
    contractor
        .complete_work_order(done("done-1"))
        .await
        .unwrap();

    // A follow-up comes after the close.
    let mut desk = client(&stack, stack.tenant, &[Role::CustomerService]);
    let follow = |request_id: &str, score: i32| mt::RecordRepairFollowUpRequest {
        request_id: request_id.into(),
        repair_request_id: id.clone(),
        visitor: "Zhou Min".into(),
        satisfaction: score,
        comment: String::new(),
    };
    refused(
        desk.record_repair_follow_up(follow("early", 5)).await,
        "REPAIR_NOT_CLOSED",
    );
    sign_off_all(&stack, &id, "1").await;
    let mut feed = contractor
        .watch_work_order_feed(mt::WatchWorkOrderFeedRequest::default())
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<String> = {
        let mut kinds = Vec::new();
        for _ in 0..3 {
            kinds.push(next(&mut feed).await.kind);
        }
        kinds
    };
    assert_eq!(kinds, ["assigned", "plan_approved", "signed_off"]);
    let err = desk
        .record_repair_follow_up(follow("bad-score", 6))
        .await
        .unwrap_err();
    assert_eq!(fields_of(&err), vec!["satisfaction".to_string()]);

    // Unsatisfied: reopened in round 2, back with the contractor, signed off again.
    let answer = desk
        .record_repair_follow_up(follow("unhappy", 2))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.reopened);
    let reopened = answer.repair_request.unwrap();
    assert_eq!(reopened.status, mt::RepairStatus::Open as i32);
    assert_eq!((reopened.round, reopened.follow_up_score), (2, 2));
    assert!(reopened.sign_offs.is_empty());
    let w = reopened.work_order.unwrap();
    assert_eq!(
        (w.contractor_id.clone(), w.assignments, w.state.as_str()),
        (s.contractor.to_string(), 2, "assigned")
    );
    let again = next(&mut feed).await;
    assert_eq!(
        (again.kind.as_str(), again.detail.as_str()),
        ("assigned", "reopen")
    );
    refused(
        desk.record_repair_follow_up(follow("unhappy-again", 1))
            .await,
        "REPAIR_NOT_CLOSED",
    );
    contractor
        .accept_work_order(mt::AcceptWorkOrderRequest {
            request_id: "accept-2".into(),
            repair_request_id: id.clone(),
        })
        .await
        .unwrap();
    contractor
        .check_in_work_order(mt::CheckInWorkOrderRequest {
            request_id: "in-2".into(),
            repair_request_id: id.clone(),
        })
        .await
        .unwrap();
    contractor
        .complete_work_order(done("done-2"))
        .await
        .unwrap();
    sign_off_all(&stack, &id, "2").await;
    let satisfied = desk
        .record_repair_follow_up(follow("happy", 5))
        .await
        .unwrap()
        .into_inner();
    assert!(!satisfied.reopened);
    let closed = satisfied.repair_request.unwrap();
    assert_eq!(closed.status, mt::RepairStatus::Closed as i32);
    assert_eq!(
        (closed.round, closed.follow_up_score, closed.sign_offs.len()),
        (2, 5, 4)
    );
    refused(
        desk.record_repair_follow_up(follow("happy-again", 4)).await,
        "FOLLOW_UP_DONE",
    );
    // Each round charged on its own costs: the owner's 10 % of 6,400.00 twice.
    let db = PgPool::connect(&stack.settings.database_url("maintenance"))
        .await
        .unwrap();
    let rounds: Vec<(i32, String, i64)> = sqlx::query_as(
        "select round, purpose, amount_minor from contractor_charges
         where repair_request_id = $1 order by round, purpose",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        rounds,
        vec![
            (1, "compensation_recovery".into(), 64_000),
            (1, "owner_compensation".into(), 64_000),
            (2, "compensation_recovery".into(), 64_000),
            (2, "owner_compensation".into(), 64_000),
        ]
    );
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn a_refused_claim_costs_a_quarter_more_and_the_month_and_the_quarter_add_up() {
    let stack = TestStack::start().await.unwrap();
    let s = site(&stack, "MW7", 1, "pipe_leaks", 0).await;
    let order = s.repair(&s.units[0], "pipe_leaks", "claimed").await;
    let id = order.repair_request_id.clone();
    let mut contractor = partner(&stack, stack.tenant, s.contractor);
    works_it(
        &mut contractor,
        &id,
        ["accept", "in", "done"],
        "new seals",
        ("labour", "an afternoon", 100_000),
    )
    .await;
    sign_off_all(&stack, &id, "1").await;

    // The owner's parquet was ruined: 800.02 yuan claimed; the contractor refuses.
    let mut desk = client(&stack, stack.tenant, &[Role::CustomerService]);
    let claim = |request_id: &str| mt::RecordOwnerClaimRequest {
        request_id: request_id.into(),
        repair_request_id: id.clone(),
        amount: cny(80_002),
        description: "the parquet under the sink swelled".into(),
    };
    let recorded = desk
        .record_owner_claim(claim("claim"))
        .await
        .unwrap()
        .into_inner()
        .claim
        .unwrap();
    assert_eq!(
        (recorded.state.as_str(), recorded.contractor_id.clone()),
        ("open", s.contractor.to_string())
    );
    refused(
        desk.record_owner_claim(claim("claim-again")).await,
        "CLAIM_EXISTS",
    );
    let answer = |request_id: &str, accept: bool, reason: &str| mt::AnswerOwnerClaimRequest {
        request_id: request_id.into(),
        repair_request_id: id.clone(),
        accept,
        reason: reason.into(),
    };
    let status = partner(&stack, stack.tenant, s.vendor)
        .answer_owner_claim(answer("vendor-answers", false, "not ours"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // The same answer for a repair that does not exist: nothing learnt of the tenant's repairs.
    let missing = partner(&stack, stack.tenant, s.vendor)
        .answer_owner_claim(mt::AnswerOwnerClaimRequest {
            request_id: "vendor-guesses".into(),
            repair_request_id: Uuid::now_v7().to_string(),
            accept: true,
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (missing.code(), missing.message()),
        (status.code(), status.message())
    );
    let err = contractor
        .answer_owner_claim(answer("no-reason", false, ""))
        .await
        .unwrap_err();
    assert_eq!(fields_of(&err), vec!["reason".to_string()]);
    let answered = contractor
        .answer_owner_claim(answer("refuse", false, "the floor was wet before"))
        .await
        .unwrap()
        .into_inner()
        .claim
        .unwrap();
    assert_eq!(answered.state, "refused");
    refused(
        contractor
            .answer_owner_claim(answer("accept-later", true, ""))
            .await,
        "CLAIM_ANSWERED",
    );

    // The month: one repair received and closed, its cost and every charge by purpose.
    let month = today().format("%Y-%m").to_string();
    let report = s
        .dispatcher
        .clone()
        .get_repair_report(mt::GetRepairReportRequest {
            project_id: s.j.project_id.clone(),
            month: month.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(
        (report.received, report.closed, report.open_at_end),
        (1, 1, 0)
    );
    let by = |rows: &[mt::Count]| -> Vec<(String, i64)> {
        rows.iter().map(|c| (c.name.clone(), c.count)).collect()
    };
    assert_eq!(
        by(&report.received_by_component),
        vec![("pipe_leaks".into(), 1)]
    );
    assert_eq!(by(&report.received_by_source), vec![("owner".into(), 1)]);
    let sums = |rows: &[mt::Amount]| -> Vec<(String, i64)> {
        rows.iter()
            .map(|a| (a.name.clone(), a.amount.as_ref().unwrap().minor_units))
            .collect()
    };
    assert_eq!(sums(&report.costs), vec![("labour".into(), 100_000)]);
    // 10 % of 1,000.00 to the owner and from the contractor; the claim paid and recovered;
    // its 25 % penalty 200.01 (200.005 rounded half up).
    assert_eq!(
        sums(&report.charges),
        vec![
            ("claim_payout".into(), 80_002),
            ("claim_penalty".into(), 20_001),
            ("claim_recovery".into(), 80_002),
            ("compensation_recovery".into(), 10_000),
            ("owner_compensation".into(), 10_000),
        ]
    );
    let err = s
        .dispatcher
        .clone()
        .get_repair_report(mt::GetRepairReportRequest {
            project_id: s.j.project_id.clone(),
            month: "2026-13".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(fields_of(&err), vec!["month".to_string()]);

    // The quarter: the contractor's own statement, as staff and the partner read it.
    let quarter = anju_maintenance::domain::ledger::quarter_of(today());
    let own = contractor
        .get_settlement_statement(mt::GetSettlementStatementRequest {
            contractor_id: String::new(),
            quarter: quarter.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .statement
        .unwrap();
    let minor = |m: &Option<anju_proto::common::Money>| m.as_ref().unwrap().minor_units;
    assert_eq!(own.orders_completed, 1);
    assert_eq!(sums(&own.costs), vec![("labour".into(), 100_000)]);
    assert_eq!(
        (
            minor(&own.chargebacks),
            minor(&own.compensation),
            minor(&own.penalties),
            minor(&own.taken_from_retention),
            minor(&own.claimed)
        ),
        (80_002, 10_000, 20_001, 110_003, 0)
    );
    assert_eq!(
        (
            minor(&own.retention_held),
            minor(&own.retention_taken),
            minor(&own.retention_left)
        ),
        (3_000_000, 110_003, 2_889_997)
    );
    let staff_view = s
        .dispatcher
        .clone()
        .get_settlement_statement(mt::GetSettlementStatementRequest {
            contractor_id: s.contractor.to_string(),
            quarter: quarter.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .statement
        .unwrap();
    assert_eq!(staff_view, own);
    let status = partner(&stack, stack.tenant, s.vendor)
        .get_settlement_statement(mt::GetSettlementStatementRequest {
            contractor_id: s.contractor.to_string(),
            quarter: quarter.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    // Issued once a quarter ended: this one has not; the previous one has.
    let issue = |request_id: &str, quarter: &str| mt::IssueSettlementStatementRequest {
        request_id: request_id.into(),
        contractor_id: s.contractor.to_string(),
        quarter: quarter.into(),
    };
    refused(
        s.dispatcher
            .clone()
            .issue_settlement_statement(issue("now", &quarter))
            .await,
        "QUARTER_NOT_ENDED",
    );
    let previous = anju_maintenance::domain::ledger::quarter_of(
        today().checked_sub_months(chrono::Months::new(3)).unwrap(),
    );
    let issued = s
        .dispatcher
        .clone()
        .issue_settlement_statement(issue("before", &previous))
        .await
        .unwrap()
        .into_inner()
        .statement
        .unwrap();
    assert!(issued.issued_at.is_some());
    assert_eq!(
        (issued.orders_completed, minor(&issued.retention_held)),
        (0, 3_000_000)
    );
    let again = s
        .dispatcher
        .clone()
        .issue_settlement_statement(issue("before-again", &previous))
        .await
        .unwrap()
        .into_inner()
        .statement
        .unwrap();
    assert_eq!(again.issued_at, issued.issued_at);
    let mut feed = contractor
        .watch_work_order_feed(mt::WatchWorkOrderFeedRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut kinds = Vec::new();
    for _ in 0..4 {
        kinds.push(next(&mut feed).await);
    }
    assert_eq!(
        kinds.iter().map(|k| k.kind.as_str()).collect::<Vec<_>>(),
        ["assigned", "signed_off", "owner_claim", "settlement_ready"]
    );
    assert_eq!(kinds[3].detail, previous);

    // Finance books the five charges, the penalty as a penalty.
    let mut finance = FinanceServiceClient::new(stack.authed_with(
        "finance",
        &anju_testkit::token(stack.tenant, &[Role::Admin]),
    ));
    let unit = s.units[0].clone();
    let mut booked = Vec::new();
    for _ in 0..200 {
        booked = finance
            .list_charges(fi::ListChargesRequest {
                unit_id: unit.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .charges
            .into_iter()
            .filter(|c| c.business_key.starts_with("maintenance:"))
            .collect::<Vec<_>>();
        if booked.len() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut purposes: Vec<(i32, i64)> = booked
        .iter()
        .map(|c| (c.purpose, c.amount.as_ref().unwrap().minor_units))
        .collect();
    purposes.sort();
    assert_eq!(
        purposes,
        vec![
            (fi::ChargePurpose::ContractorChargeback as i32, 10_000),
            (fi::ChargePurpose::ContractorChargeback as i32, 80_002),
            (fi::ChargePurpose::ContractorPenalty as i32, 20_001),
            (fi::ChargePurpose::OwnerCompensation as i32, 10_000),
            (fi::ChargePurpose::OwnerCompensation as i32, 80_002),
        ]
    );
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn a_plan_not_proposed_by_the_developers_deadline_sends_the_order_to_the_backup_vendor() {
    let stack = TestStack::start().await.unwrap();
    let s = site(&stack, "MW8", 1, "pipe_leaks", 0).await;
    let id = s
        .repair(&s.units[0], "pipe_leaks", "plan-due")
        .await
        .repair_request_id;
    let mut contractor = partner(&stack, stack.tenant, s.contractor);
    contractor
        .accept_work_order(mt::AcceptWorkOrderRequest {
            request_id: "accept".into(),
            repair_request_id: id.clone(),
        })
        .await
        .unwrap();
    let due = |hours: i64| {
        Some(prost_types::Timestamp {
            seconds: (Utc::now() + chrono::Duration::hours(hours)).timestamp(),
            nanos: 0,
        })
    };
    let mut dispatcher = s.dispatcher.clone();
    let terms = |request_id: &str, plan_due_at| mt::AssignWorkOrderRequest {
        request_id: request_id.into(),
        repair_request_id: id.clone(),
        contractor_id: s.contractor.to_string(),
        reason: "a plan is needed for the riser".into(),
        plan_due_at,
        ..Default::default()
    };
    let err = dispatcher
        .assign_work_order(terms("too-late", due(24 * 31)))
        .await
        .unwrap_err();
    assert_eq!(fields_of(&err), vec!["plan_due_at".to_string()]);
    let set = dispatcher
        .assign_work_order(terms("plan-by", due(48)))
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    let w = set.work_order.unwrap();
    // Its terms changed, not its assignment.
    assert_eq!((w.assignments, w.state.as_str()), (1, "accepted"));
    let plan = w.clocks.iter().find(|c| c.name == "plan").unwrap();
    assert_eq!(plan.state, mt::ClockState::Running as i32);
    // Urgent no longer: on site within 24 hours of the assignment rather than one.
    let on_site = |o: &mt::WorkOrder| {
        let c = o.clocks.iter().find(|c| c.name == "on_site").unwrap();
        c.due_at.as_ref().unwrap().seconds - o.assigned_at.as_ref().unwrap().seconds
    };
    assert_eq!(on_site(&w), 3600);
    let normal = dispatcher
        .assign_work_order(mt::AssignWorkOrderRequest {
            request_id: "normal".into(),
            repair_request_id: id.clone(),
            contractor_id: s.contractor.to_string(),
            reason: "the leak is contained".into(),
            priority: mt::Priority::Normal as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap()
        .work_order
        .unwrap();
    assert_eq!((on_site(&normal), normal.assignments), (24 * 3600, 1));
    refused(
        dispatcher
            .assign_work_order(mt::AssignWorkOrderRequest {
                request_id: "same".into(),
                repair_request_id: id.clone(),
                contractor_id: s.contractor.to_string(),
                reason: "again".into(),
                ..Default::default()
            })
            .await,
        "SAME_CONTRACTOR",
    );
    // The deadline passes with no plan: breached, the order with the backup vendor.
    let db = PgPool::connect(&stack.settings.database_url("maintenance"))
        .await
        .unwrap();
    sqlx::query(
        "update repair_requests set plan_by = now() - interval '1 second', clock_next_at = now()
         where repair_request_id = $1",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .execute(&db)
    .await
    .unwrap();
    let mut moved = None;
    for _ in 0..200 {
        let o = order(&dispatcher, &id).await.unwrap();
        if o.work_order.as_ref().unwrap().contractor_id == s.vendor.to_string() {
            moved = Some(o);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let moved = moved.expect("the order with the backup vendor");
    let plan = moved
        .work_order
        .unwrap()
        .clocks
        .into_iter()
        .find(|c| c.name == "plan")
        .unwrap();
    assert_eq!(plan.state, mt::ClockState::Breached as i32);
    assert_eq!(published::<WorkOrderClockBreached>(&db, &id).await, 1);
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn a_common_part_is_repaired_under_the_contractors_clock_and_charged_on_its_building() {
    let stack = TestStack::start().await.unwrap();
    let s = site(&stack, "MW9", 1, "pipe_leaks", 0).await;
    let mut dispatcher = s.dispatcher.clone();
    let riser = |request_id: &str, unit: &str, building: &str| mt::CreateRepairRequestRequest {
        request_id: request_id.into(),
        project_id: s.j.project_id.clone(),
        unit_id: unit.into(),
        building_id: building.into(),
        common_part: "riser pipe, stairwell B".into(),
        source: mt::RepairSource::Owner as i32,
        category: "leak".into(),
        description: "the riser drips onto the landing".into(),
        component: "pipe_leaks".into(),
        ..Default::default()
    };
    let err = dispatcher
        .create_repair_request(riser("both", &s.units[0], &s.j.building_id))
        .await
        .unwrap_err();
    assert_eq!(fields_of(&err), vec!["unit_id".to_string()]);
    let elsewhere = dispatcher
        .create_repair_request(riser("elsewhere", "", &Uuid::now_v7().to_string()))
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), Code::NotFound);
    let part = dispatcher
        .create_repair_request(riser("riser", "", &s.j.building_id))
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    assert_eq!(
        (part.unit_id.as_str(), part.common_part.as_str()),
        ("", "riser pipe, stairwell B")
    );
    let w = part.warranty.clone().unwrap();
    assert!(w.covered && w.buyer_until.is_empty(), "{w:?}");
    assert_eq!(
        part.work_order.as_ref().unwrap().contractor_id,
        s.contractor.to_string()
    );
    let id = part.repair_request_id.clone();
    // Declined: the backup vendor does it, and the contractor bears its cost.
    partner(&stack, stack.tenant, s.contractor)
        .decline_work_order(mt::DeclineWorkOrderRequest {
            request_id: "decline".into(),
            repair_request_id: id.clone(),
            reason: "no plumber".into(),
        })
        .await
        .unwrap();
    let mut vendor = partner(&stack, stack.tenant, s.vendor);
    works_it(
        &mut vendor,
        &id,
        ["v-accept", "v-in", "v-done"],
        "new joint",
        ("vendor", "invoice 9", 45_000),
    )
    .await;
    sign_off_all(&stack, &id, "part").await;
    // No owner to compensate; the chargeback in the contractor's statement.
    let statement = dispatcher
        .get_settlement_statement(mt::GetSettlementStatementRequest {
            contractor_id: s.contractor.to_string(),
            quarter: anju_maintenance::domain::ledger::quarter_of(today()),
        })
        .await
        .unwrap()
        .into_inner()
        .statement
        .unwrap();
    assert_eq!(
        (
            statement.chargebacks.unwrap().minor_units,
            statement.compensation.unwrap().minor_units
        ),
        (45_000, 0)
    );
    let db = PgPool::connect(&stack.settings.database_url("maintenance"))
        .await
        .unwrap();
    let raised: i64 = sqlx::query_scalar("select count(*) from outbox where event_type = $1")
        .bind(ContractorCharged::EVENT_TYPE)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(raised, 1, "the chargeback alone");
    // Booked in finance on the building (no unit), against the contractor.
    let finance = FinanceServiceClient::new(stack.authed_with(
        "finance",
        &anju_testkit::token(stack.tenant, &[Role::Admin]),
    ));
    let building = s.j.building_id.clone();
    let on_building = || {
        let mut finance = finance.clone();
        let building = building.clone();
        async move {
            finance
                .list_charges(fi::ListChargesRequest {
                    building_id: building,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .charges
        }
    };
    wait_for(Duration::from_secs(20), "the chargeback in finance", || {
        let listed = on_building();
        async move { Ok(!listed.await.is_empty()) }
    })
    .await
    .unwrap();
    let booked = on_building().await;
    assert_eq!(booked.len(), 1, "{booked:?}");
    assert_eq!(
        (
            booked[0].purpose,
            booked[0].amount.as_ref().unwrap().minor_units,
            booked[0].payer_id.clone(),
            booked[0].unit_id.clone(),
            booked[0].business_key.starts_with("maintenance:"),
        ),
        (
            fi::ChargePurpose::ContractorChargeback as i32,
            45_000,
            s.contractor.to_string(),
            String::new(),
            true,
        )
    );
    stack.stop().await.unwrap();
}
