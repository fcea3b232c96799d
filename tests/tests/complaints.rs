//! Complaints over the real services (DOMAIN.md §4): business-hour deadlines across a weekend,
//! a public holiday, a make-up working Saturday and a pause; warnings and breaches escalated
//! once each; a quality complaint repaired, signed off, followed up, reopened and closed through
//! the coordinator; statistics; tenants and projects apart; bad input refused.

use std::time::Duration;

use anju::journey::Journey;
use anju_e2e::TestStack;
use anju_kit::{
    Role,
    auth::{Claims, TokenIssuer},
    error::{field_violations, refusal_reason},
};
use anju_messaging::Outbox;
use anju_proto::{
    EventPayload,
    complaints::{self as cp, complaints_service_client::ComplaintsServiceClient},
    events::{ComplaintClockBreached, ComplaintClockWarned},
};
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc, Weekday};
use sqlx::PgPool;
use tonic::Code;
use uuid::Uuid;

async fn journey(stack: &TestStack, code: &str) -> Journey {
    stack.journey(code).await
}

type Client = ComplaintsServiceClient<anju_e2e::Authed>;

fn admin(stack: &TestStack, tenant: Uuid) -> Client {
    ComplaintsServiceClient::new(stack.authed_with(
        "complaints",
        &anju_testkit::token_for(tenant, "admin.x", &[Role::Admin]),
    ))
}

/// A unit of the journey's project that complaints knows.
async fn unit(stack: &TestStack, j: &Journey, number: &str) -> String {
    let unit = j.register_unit(number).await.unwrap().unit_id;
    stack.until_known("complaints", &unit).await.unwrap();
    unit
}

fn day(intervals: &[(i32, i32)]) -> cp::WorkingDay {
    cp::WorkingDay {
        intervals: intervals
            .iter()
            .map(|&(a, b)| cp::Interval {
                start_minute: a,
                end_minute: b,
            })
            .collect(),
    }
}

fn instant(t: &Option<prost_types::Timestamp>) -> DateTime<Utc> {
    let t = t.as_ref().expect("a timestamp");
    DateTime::from_timestamp(t.seconds, t.nanos as u32).unwrap()
}

fn clock(c: &cp::Complaint, target: cp::Target, round: i32) -> cp::Clock {
    c.clocks
        .iter()
        .find(|k| k.target == target as i32 && k.round == round)
        .cloned()
        .unwrap_or_else(|| panic!("no {target:?} clock in round {round}: {:?}", c.clocks))
}

fn refused<T: std::fmt::Debug>(answer: Result<T, tonic::Status>, code: &str) {
    let status = answer.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(refusal_reason(&status).as_deref(), Some(code), "{status:?}");
}

/// A calendar of whole days in UTC: Monday to Friday open, the next weekday after today a
/// holiday, the next Saturday a make-up working day.
struct WholeDays {
    holiday: NaiveDate,
    make_up: NaiveDate,
}

impl WholeDays {
    fn around(today: NaiveDate) -> Self {
        let next = |pred: &dyn Fn(NaiveDate) -> bool| {
            (1..=7)
                .map(|n| today + Days::new(n))
                .find(|d| pred(*d))
                .unwrap()
        };
        Self {
            holiday: next(&|d| d.weekday().num_days_from_monday() < 5),
            make_up: next(&|d| d.weekday() == Weekday::Sat),
        }
    }

    fn open(&self, d: NaiveDate) -> bool {
        d == self.make_up || (d.weekday().num_days_from_monday() < 5 && d != self.holiday)
    }

    /// Where `seconds` of business time from `from` run out — counted here day by day,
    /// independently of the service's calendar.
    fn due(&self, from: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
        let mut left = seconds;
        let mut d = from.date_naive();
        loop {
            if self.open(d) {
                let start = d.and_hms_opt(0, 0, 0).unwrap().and_utc().max(from);
                let end = (d + Days::new(1)).and_hms_opt(0, 0, 0).unwrap().and_utc();
                let available = (end - start).num_seconds();
                if left <= available {
                    return start + chrono::Duration::seconds(left);
                }
                left -= available;
            }
            d = d + Days::new(1);
        }
    }

    fn standard(&self, project_id: &str, targets: cp::TargetSet, warn: i32) -> cp::ServiceStandard {
        let open = day(&[(0, 1440)]);
        let closed = day(&[]);
        cp::ServiceStandard {
            project_id: project_id.into(),
            calendar: Some(cp::Calendar {
                time_zone: "UTC".into(),
                week: vec![
                    open.clone(),
                    open.clone(),
                    open.clone(),
                    open.clone(),
                    open.clone(),
                    closed.clone(),
                    closed,
                ],
                holidays: vec![self.holiday.to_string()],
                make_up_days: vec![self.make_up.to_string()],
                make_up_hours: Some(open),
            }),
            targets: [cp::ComplaintCategory::Quality, cp::ComplaintCategory::Fees]
                .into_iter()
                .map(|category| cp::SeverityTargets {
                    category: category as i32,
                    severity: cp::Severity::High as i32,
                    targets: Some(targets),
                })
                .collect(),
            warn_percent: warn,
            supervisor: "Supervisor Ma".into(),
            source: String::new(),
        }
    }
}

async fn set_standard(client: &mut Client, standard: cp::ServiceStandard) {
    client
        .set_service_standard(cp::SetServiceStandardRequest {
            request_id: Uuid::now_v7().to_string(),
            standard: Some(standard),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_deadline_counts_business_time_past_a_weekend_a_holiday_a_make_up_saturday_and_a_pause() {
    let stack = TestStack::start().await.unwrap();
    let j = journey(&stack, "CP-HOURS").await;
    let unit = unit(&stack, &j, "0101").await;
    let calendar = WholeDays::around(Utc::now().date_naive());
    // Five business days to resolve: from any day of the week this passes a weekend day, the
    // holiday and, but for the make-up Saturday, would end later.
    let targets = cp::TargetSet {
        acknowledge_minutes: 60,
        route_minutes: 120,
        resolve_minutes: 5 * 24 * 60,
        follow_up_minutes: 60,
    };
    let mut admin = admin(&stack, stack.tenant);
    set_standard(&mut admin, calendar.standard(&j.project_id, targets, 80)).await;

    let c = j
        .complain(
            "hours",
            &unit,
            cp::ComplaintCategory::Quality,
            cp::Severity::High,
            "a crack",
        )
        .await
        .unwrap()
        .unwrap();
    let resolve = clock(&c, cp::Target::Resolve, 1);
    let started = instant(&resolve.started_at);
    let due = instant(&resolve.due_at);
    let budget = 5 * 24 * 3600;
    assert_eq!(due, calendar.due(started, budget));
    assert!(started < calendar.holiday.and_hms_opt(0, 0, 0).unwrap().and_utc());
    assert!(due > calendar.holiday.and_hms_opt(0, 0, 0).unwrap().and_utc());
    // Without the make-up Saturday the deadline would be later.
    let plain = WholeDays {
        holiday: calendar.holiday,
        make_up: NaiveDate::MIN,
    };
    assert!(
        plain.due(started, budget) > due,
        "the make-up Saturday counts"
    );
    // Warned at 80 % of the budget.
    assert_eq!(
        instant(&resolve.warn_at),
        calendar.due(started, budget * 8 / 10)
    );

    // Waiting on the owner pauses every running clock; the owner's answer resumes them with
    // what was left.
    let id = c.complaint_id.clone();
    let mut desk = j.staff.complaints_desk.clone();
    let paused = desk
        .wait_on_owner(cp::WaitOnOwnerRequest {
            request_id: "wait-1".into(),
            complaint_id: id.clone(),
            reason: "the owner sends photos".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .complaint
        .unwrap();
    let held = clock(&paused, cp::Target::Resolve, 1);
    assert_eq!(held.state, cp::ClockState::Paused as i32);
    assert!(held.due_at.is_none(), "a paused clock has no due instant");
    let consumed = held.consumed_seconds;
    refused(
        desk.wait_on_owner(cp::WaitOnOwnerRequest {
            request_id: "wait-2".into(),
            complaint_id: id.clone(),
            reason: "again".into(),
        })
        .await,
        "ALREADY_WAITING",
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = Utc::now();
    let resumed = desk
        .resume_complaint(cp::ResumeComplaintRequest {
            request_id: "resume-1".into(),
            complaint_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .complaint
        .unwrap();
    let after = Utc::now();
    let running = clock(&resumed, cp::Target::Resolve, 1);
    assert_eq!(running.consumed_seconds, consumed);
    let new_due = instant(&running.due_at);
    let (lo, hi) = (
        calendar.due(before, budget - consumed),
        calendar.due(after, budget - consumed),
    );
    assert!(
        lo - chrono::Duration::seconds(1) <= new_due
            && new_due <= hi + chrono::Duration::seconds(1),
        "{lo} ≤ {new_due} ≤ {hi}"
    );
    if calendar.open(before.date_naive()) && calendar.open(started.date_naive()) {
        // On an open day the pause moved the deadline by the time it held.
        assert!(
            new_due - due >= chrono::Duration::seconds(1),
            "{due} → {new_due}"
        );
    }
    // A later change of the standard leaves this complaint's clocks as they are.
    let mut changed = calendar.standard(
        &j.project_id,
        cp::TargetSet {
            resolve_minutes: 60,
            ..targets
        },
        50,
    );
    changed.calendar.as_mut().unwrap().holidays.clear();
    set_standard(&mut admin, changed).await;
    let again = j.complaint(&id).await.unwrap();
    assert_eq!(
        instant(&clock(&again, cp::Target::Resolve, 1).due_at),
        new_due
    );
}

#[tokio::test]
async fn a_quality_complaint_is_repaired_followed_up_reopened_when_unsatisfied_and_closed() {
    let stack = TestStack::start().await.unwrap();
    let j = journey(&stack, "CP-REPAIR").await;
    let unit = unit(&stack, &j, "0201").await;
    let c = j
        .complain(
            "leak",
            &unit,
            cp::ComplaintCategory::Quality,
            cp::Severity::High,
            "water through the ceiling",
        )
        .await
        .unwrap()
        .unwrap();
    let id = c.complaint_id.clone();
    assert_eq!(c.queue, cp::Queue::Maintenance as i32);
    j.acknowledge(&id).await.unwrap().unwrap();
    // The same request again is answered as before; another one is refused.
    assert!(j.acknowledge(&id).await.unwrap().is_ok());
    let mut desk = j.staff.complaints_desk.clone();
    refused(
        desk.acknowledge_complaint(cp::AcknowledgeComplaintRequest {
            request_id: "ack-again".into(),
            complaint_id: id.clone(),
        })
        .await,
        "ALREADY_ACKNOWLEDGED",
    );
    // Maintenance takes it by the repair the coordinator opens, not by hand; nor is it
    // resolved by hand while the repair is open.
    let mut dispatcher = ComplaintsServiceClient::new(stack.authed_with(
        "complaints",
        &anju_testkit::token_for(
            stack.tenant,
            "dispatcher.qian",
            &[Role::MaintenanceDispatcher],
        ),
    ));
    refused(
        dispatcher
            .take_complaint(cp::TakeComplaintRequest {
                request_id: "take-1".into(),
                complaint_id: id.clone(),
                assignee: "qian".into(),
            })
            .await,
        "NOT_YOUR_QUEUE",
    );
    let linked = j
        .wait_complaint(&id, "the repair opened", |c| {
            !c.repair_request_id.is_empty()
        })
        .await
        .unwrap();
    assert!(
        linked.taken_at.is_some(),
        "the repair opened takes the complaint"
    );
    assert_eq!(
        clock(&linked, cp::Target::Route, 1).state,
        cp::ClockState::Met as i32
    );
    let mut admin = admin(&stack, stack.tenant);
    refused(
        admin
            .resolve_complaint(cp::ResolveComplaintRequest {
                request_id: "resolve-by-hand".into(),
                complaint_id: id.clone(),
                resolution: "done".into(),
            })
            .await,
        "REPAIR_OPEN",
    );
    refused(j.follow_up(&id, 1, 5).await.unwrap(), "NOT_RESOLVED");

    // The repair signed off by its four parties resolves the complaint.
    let resolved = j
        .complaint_repaired(&id, 1, "resealed the pipe joint")
        .await
        .unwrap();
    assert!(resolved.resolution.contains("resealed the pipe joint"));
    assert!(resolved.repair_closed);
    let first_repair = resolved.repair_request_id.clone();
    assert_eq!(
        clock(&resolved, cp::Target::FollowUp, 1).state,
        cp::ClockState::Running as i32
    );

    // Unsatisfied: reopened in round 2 with a new repair.
    let reopened = j.follow_up(&id, 1, 2).await.unwrap().unwrap();
    assert_eq!(reopened.status, cp::ComplaintStatus::Open as i32);
    assert_eq!((reopened.round, reopened.reopen_count), (2, 1));
    clock(&reopened, cp::Target::Resolve, 2);
    let resolved = j
        .complaint_repaired(&id, 2, "replaced the pipe")
        .await
        .unwrap();
    assert_ne!(resolved.repair_request_id, first_repair);
    let closed = j.follow_up(&id, 2, 5).await.unwrap().unwrap();
    assert_eq!(closed.status, cp::ComplaintStatus::Closed as i32);
    assert_eq!(closed.follow_ups.len(), 2);
    refused(
        desk.record_follow_up(cp::RecordFollowUpRequest {
            request_id: "follow-up-again".into(),
            complaint_id: id.clone(),
            visited_by: "desk".into(),
            satisfaction: 5,
            notes: String::new(),
        })
        .await,
        "COMPLAINT_CLOSED",
    );

    let saga = j
        .saga("complaint", &id, "the complaint's saga closed", |s| {
            s.state == "closed"
        })
        .await
        .unwrap();
    let notes: Vec<String> = saga.history.iter().map(|h| h.note.clone()).collect();
    let asked = notes
        .iter()
        .filter(|n| n.contains("repair request asked for"))
        .count();
    assert_eq!(asked, 2, "one repair per round: {notes:?}");
    assert!(
        notes.iter().any(|n| n.contains("reopened as round 2")),
        "{notes:?}"
    );

    // A second complaint about the unit repeats the first and is shown with it.
    let repeat = j
        .complain(
            "again",
            &unit,
            cp::ComplaintCategory::Fees,
            cp::Severity::High,
            "the bill",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(repeat.repeat_of, id);
    assert_eq!(repeat.queue, cp::Queue::Finance as i32);
    assert_eq!(repeat.same_unit.len(), 1);
    let mut fees = j.staff.fees_desk.clone();
    fees.take_complaint(cp::TakeComplaintRequest {
        request_id: "take-fees".into(),
        complaint_id: repeat.complaint_id.clone(),
        assignee: "cashier.wu".into(),
    })
    .await
    .unwrap();
    fees.resolve_complaint(cp::ResolveComplaintRequest {
        request_id: "resolve-fees".into(),
        complaint_id: repeat.complaint_id.clone(),
        resolution: "the bill explained".into(),
    })
    .await
    .unwrap();
    j.follow_up(&repeat.complaint_id, 1, 4)
        .await
        .unwrap()
        .unwrap();

    // The month's statistics agree with the histories.
    let month = Utc::now().format("%Y-%m").to_string();
    let stats = admin
        .get_complaint_statistics(cp::GetComplaintStatisticsRequest {
            project_id: j.project_id.clone(),
            from_month: month.clone(),
            to_month: month.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let m = &stats.months[0];
    assert_eq!(m.month, month);
    assert_eq!(
        (m.complaints, m.repeats, m.reopened, m.closed),
        (2, 1, 1, 2)
    );
    assert_eq!(
        (m.follow_ups, m.satisfaction_total, m.satisfied),
        (3, 11, 2)
    );
    let count =
        |list: &[cp::Count], key: &str| list.iter().find(|c| c.key == key).map_or(0, |c| c.count);
    assert_eq!(count(&m.by_category, "quality"), 1);
    assert_eq!(count(&m.by_category, "fees"), 1);
    assert_eq!(count(&m.by_channel, "phone"), 2);
    let resolve = m
        .compliance
        .iter()
        .find(|c| c.target == cp::Target::Resolve as i32)
        .unwrap();
    assert_eq!(
        resolve.met + resolve.missed,
        3,
        "two rounds and the fees complaint"
    );
}

/// How many events of type `P` about `complaint` complaints' outbox holds.
async fn published<P: EventPayload>(db: &PgPool, complaint: &str) -> i64 {
    sqlx::query_scalar("select count(*) from outbox where event_type = $1 and aggregate_id = $2")
        .bind(P::EVENT_TYPE)
        .bind(complaint)
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn clocks_warn_then_breach_once_each_escalating_to_the_supervisor() {
    let stack = TestStack::start().await.unwrap();
    let j = journey(&stack, "CP-CLOCKS").await;
    let unit = unit(&stack, &j, "0301").await;
    // Open every day, all day: acknowledge due at once, route after a minute warned at 1 %.
    let open = day(&[(0, 1440)]);
    let standard = cp::ServiceStandard {
        project_id: j.project_id.clone(),
        calendar: Some(cp::Calendar {
            time_zone: "UTC".into(),
            week: vec![open.clone(); 7],
            make_up_hours: Some(open),
            ..Default::default()
        }),
        targets: vec![cp::SeverityTargets {
            category: cp::ComplaintCategory::Fees as i32,
            severity: cp::Severity::Urgent as i32,
            targets: Some(cp::TargetSet {
                acknowledge_minutes: 0,
                route_minutes: 1,
                resolve_minutes: 600,
                follow_up_minutes: 600,
            }),
        }],
        warn_percent: 1,
        supervisor: "Supervisor Ma".into(),
        source: String::new(),
    };
    let mut admin = admin(&stack, stack.tenant);
    set_standard(&mut admin, standard).await;
    let db = PgPool::connect(&stack.settings.database_url("complaints"))
        .await
        .unwrap();
    // A second sweeper races the service's own.
    let outbox = Outbox::with_prefix(stack.settings.nats.prefix.clone(), "complaints");
    let racer = {
        let (db, outbox) = (db.clone(), outbox.clone());
        tokio::spawn(async move {
            for _ in 0..100 {
                let _ = anju_complaints::events::clocks::sweep(&db, &outbox).await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    let c = j
        .complain(
            "late",
            &unit,
            cp::ComplaintCategory::Fees,
            cp::Severity::Urgent,
            "a bill twice",
        )
        .await
        .unwrap()
        .unwrap();
    let id = c.complaint_id.clone();
    let c = j
        .wait_complaint(&id, "acknowledge breached, route at risk", |c| {
            clock(c, cp::Target::Acknowledge, 1).state == cp::ClockState::Breached as i32
                && clock(c, cp::Target::Route, 1).state == cp::ClockState::AtRisk as i32
        })
        .await
        .unwrap();
    assert_eq!(c.escalations.len(), 1);
    assert_eq!(c.escalations[0].escalated_to, "Supervisor Ma");
    assert_eq!(c.escalations[0].target, cp::Target::Acknowledge as i32);
    let listed = |filter: cp::ClockFilter| {
        let mut admin = admin.clone();
        let project = j.project_id.clone();
        async move {
            admin
                .list_complaints(cp::ListComplaintsRequest {
                    project_id: project,
                    clocks: filter as i32,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .complaints
                .len()
        }
    };
    assert_eq!(listed(cp::ClockFilter::Breached).await, 1);
    assert_eq!(listed(cp::ClockFilter::AtRiskOrBreached).await, 1);
    racer.await.unwrap();
    // Acknowledged late: the clock stops as missed, and the complaint leaves the breached list.
    let acked = j.acknowledge(&id).await.unwrap().unwrap();
    assert_eq!(
        clock(&acked, cp::Target::Acknowledge, 1).state,
        cp::ClockState::Missed as i32
    );
    // Warned: acknowledge (due at once) and route; breached: acknowledge only — once each.
    assert_eq!(published::<ComplaintClockWarned>(&db, &id).await, 2);
    assert_eq!(published::<ComplaintClockBreached>(&db, &id).await, 1);
    assert_eq!(listed(cp::ClockFilter::Breached).await, 0);
    let saga = j
        .eventually("the breach in the saga's history", || async {
            let s = j
                .saga("complaint", &id, "the complaint's saga", |_| true)
                .await?;
            Ok(s.history
                .iter()
                .any(|h| h.note.contains("breached"))
                .then_some(s))
        })
        .await
        .unwrap();
    let breaches = saga
        .history
        .iter()
        .filter(|h| h.note.contains("acknowledge clock breached"))
        .count();
    assert_eq!(breaches, 1);
}

#[tokio::test]
async fn another_tenant_and_another_project_see_nothing() {
    let stack = TestStack::start().await.unwrap();
    let j = journey(&stack, "CP-APART").await;
    let unit = unit(&stack, &j, "0401").await;
    let c = j
        .complain(
            "mine",
            &unit,
            cp::ComplaintCategory::Other,
            cp::Severity::Low,
            "a question",
        )
        .await
        .unwrap()
        .unwrap();
    let roles = [Role::CustomerService];
    let other_tenant = ComplaintsServiceClient::new(stack.authed_with(
        "complaints",
        &anju_testkit::token_for(Uuid::now_v7(), "desk.b", &roles),
    ));
    let scoped = TokenIssuer::hs256(anju_kit::config::DEV_HS256_SECRET)
        .issue(&Claims {
            sub: "desk.other-project".into(),
            tenant: stack.tenant.to_string(),
            roles: roles.to_vec(),
            projects: vec![Uuid::now_v7().to_string()],
            contractor: None,
            exp: anju_kit::auth::expiry(3600),
            nbf: None,
            iat: None,
            iss: None,
            aud: None,
        })
        .unwrap();
    let other_project = ComplaintsServiceClient::new(stack.authed_with("complaints", &scoped));
    for mut client in [other_tenant.clone(), other_project] {
        let got = client
            .get_complaint(cp::GetComplaintRequest {
                complaint_id: c.complaint_id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(got.code(), Code::NotFound);
        let listed = client
            .list_complaints(cp::ListComplaintsRequest {
                project_id: j.project_id.clone(),
                ..Default::default()
            })
            .await;
        match listed {
            Ok(page) => assert!(page.into_inner().complaints.is_empty()),
            Err(status) => assert_eq!(status.code(), Code::NotFound),
        }
        let month = Utc::now().format("%Y-%m").to_string();
        match client
            .get_complaint_statistics(cp::GetComplaintStatisticsRequest {
                project_id: j.project_id.clone(),
                from_month: month.clone(),
                to_month: month,
            })
            .await
        {
            Ok(stats) => assert!(stats.into_inner().months.is_empty()),
            Err(status) => assert_eq!(status.code(), Code::NotFound),
        }
        let ack = client
            .acknowledge_complaint(cp::AcknowledgeComplaintRequest {
                request_id: "ack".into(),
                complaint_id: c.complaint_id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(ack.code(), Code::NotFound);
    }
    // Nor can another tenant record a complaint against this tenant's unit.
    let mut other = other_tenant;
    let status = other
        .record_complaint(cp::RecordComplaintRequest {
            request_id: "theirs".into(),
            project_id: j.project_id.clone(),
            unit_id: unit,
            complainant: "B".into(),
            complainant_kind: cp::Complainant::Owner as i32,
            channel: cp::ComplaintChannel::Phone as i32,
            category: cp::ComplaintCategory::Other as i32,
            severity: cp::Severity::Low as i32,
            text: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        j.complaint(&c.complaint_id)
            .await
            .unwrap()
            .acknowledged_at
            .is_none()
    );
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named_and_changes_nothing() {
    let stack = TestStack::start().await.unwrap();
    let j = journey(&stack, "CP-BAD").await;
    let unit = unit(&stack, &j, "0501").await;
    let db = PgPool::connect(&stack.settings.database_url("complaints"))
        .await
        .unwrap();
    let count = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from complaints")
            .fetch_one(&db)
            .await
            .unwrap()
    };
    let before = count().await;
    let good = cp::RecordComplaintRequest {
        request_id: "bad".into(),
        project_id: j.project_id.clone(),
        unit_id: unit.clone(),
        complainant: "Owner".into(),
        complainant_kind: cp::Complainant::Owner as i32,
        channel: cp::ComplaintChannel::Counter as i32,
        category: cp::ComplaintCategory::Quality as i32,
        severity: cp::Severity::Low as i32,
        text: "a crack".into(),
        ..Default::default()
    };
    let cases: Vec<(&str, cp::RecordComplaintRequest)> = vec![
        (
            "category",
            cp::RecordComplaintRequest {
                category: 0,
                ..good.clone()
            },
        ),
        (
            "channel",
            cp::RecordComplaintRequest {
                channel: 42,
                ..good.clone()
            },
        ),
        (
            "text",
            cp::RecordComplaintRequest {
                text: "a\0b".into(),
                ..good.clone()
            },
        ),
        (
            "text",
            cp::RecordComplaintRequest {
                text: "x".repeat(8001),
                ..good.clone()
            },
        ),
        (
            "complainant",
            cp::RecordComplaintRequest {
                complainant: String::new(),
                ..good.clone()
            },
        ),
        (
            "common_part",
            cp::RecordComplaintRequest {
                unit_id: String::new(),
                ..good.clone()
            },
        ),
        (
            "customer_id",
            cp::RecordComplaintRequest {
                complainant_kind: cp::Complainant::Other as i32,
                customer_id: Uuid::now_v7().to_string(),
                ..good.clone()
            },
        ),
        (
            "contact_phone",
            cp::RecordComplaintRequest {
                contact_phone: "12ab".into(),
                ..good.clone()
            },
        ),
    ];
    let mut desk = j.staff.complaints_desk.clone();
    for (field, request) in cases {
        let status = desk.record_complaint(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let fields: Vec<String> = field_violations(&status)
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert!(
            fields.iter().any(|f| f == field),
            "{field} not in {fields:?}"
        );
    }
    let c = desk
        .record_complaint(good)
        .await
        .unwrap()
        .into_inner()
        .complaint
        .unwrap();
    let follow = desk
        .record_follow_up(cp::RecordFollowUpRequest {
            request_id: "f".into(),
            complaint_id: c.complaint_id.clone(),
            visited_by: "desk".into(),
            satisfaction: 7,
            notes: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(follow.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&follow)[0].field, "satisfaction");
    // A calendar with an interval that ends before it starts, a holiday that is also a
    // make-up day and an unknown zone: each named.
    let mut admin = admin(&stack, stack.tenant);
    let bad = cp::ServiceStandard {
        project_id: j.project_id.clone(),
        calendar: Some(cp::Calendar {
            time_zone: "Mars/Olympus".into(),
            week: vec![day(&[(600, 500)]); 7],
            holidays: vec!["2026-10-10".into()],
            make_up_days: vec!["2026-10-10".into()],
            make_up_hours: Some(day(&[(540, 1080)])),
        }),
        warn_percent: 0,
        supervisor: "s".into(),
        ..Default::default()
    };
    let status = admin
        .set_service_standard(cp::SetServiceStandardRequest {
            request_id: "bad-standard".into(),
            standard: Some(bad),
        })
        .await
        .unwrap_err();
    let fields: Vec<String> = field_violations(&status)
        .into_iter()
        .map(|f| f.field)
        .collect();
    for field in [
        "standard.calendar.time_zone",
        "standard.calendar.week[0]",
        "standard.calendar.make_up_days",
        "standard.warn_percent",
    ] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} not in {fields:?}"
        );
    }
    let standard = admin
        .get_service_standard(cp::GetServiceStandardRequest {
            project_id: j.project_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .standard
        .unwrap();
    assert_eq!(standard.source, "default", "nothing was stored");
    assert_eq!(
        count().await,
        before + 1,
        "only the good complaint was recorded"
    );
    // Staff may not report a repair: that is the coordinator's alone, admin included.
    let status = admin
        .record_repair_progress(cp::RecordRepairProgressRequest {
            request_id: "forged-report".into(),
            complaint_id: c.complaint_id,
            round: 1,
            repair_request_id: Uuid::now_v7().to_string(),
            closed: true,
            resolution: "nothing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

/// The body of `GET /metrics` at `port`, answered 200 in the text exposition format.
async fn scrape(port: u16) -> String {
    let (head, body) = anju_e2e::scrape_metrics(port).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body
}

#[tokio::test]
async fn the_desks_figures_are_exported_as_prometheus_metrics() {
    let mut settings = anju_testkit::settings();
    settings.telemetry.metrics_address = Some("127.0.0.1:0".into());
    let stack = TestStack::start_with(settings).await.unwrap();
    let port = stack.stack.metrics_port().expect("a metrics port");
    let j = journey(&stack, "CP-METRICS").await;
    let unit = unit(&stack, &j, "0601").await;
    let fees = j
        .complain(
            "bill",
            &unit,
            cp::ComplaintCategory::Fees,
            cp::Severity::Low,
            "the bill",
        )
        .await
        .unwrap()
        .unwrap();
    let mut desk = j.staff.fees_desk.clone();
    for round in 1..=2 {
        desk.resolve_complaint(cp::ResolveComplaintRequest {
            request_id: format!("resolve-{round}"),
            complaint_id: fees.complaint_id.clone(),
            resolution: "explained".into(),
        })
        .await
        .unwrap();
        let score = if round == 1 { 2 } else { 5 };
        j.follow_up(&fees.complaint_id, round, score)
            .await
            .unwrap()
            .unwrap();
    }
    j.complain(
        "leak",
        &unit,
        cp::ComplaintCategory::Quality,
        cp::Severity::Low,
        "a leak",
    )
    .await
    .unwrap()
    .unwrap();

    // A refused call is counted under its code.
    let refused = j
        .staff
        .complaints_desk
        .clone()
        .get_complaint(cp::GetComplaintRequest {
            complaint_id: "not-an-id".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    let body = scrape(port).await;
    let rpc = "rpc_service=\"anju.complaints.v1.ComplaintsService\"";
    for line in [
        format!(
            "anju_rpc_server_requests_total{{{rpc},rpc_method=\"RecordComplaint\",rpc_grpc_status_code=\"OK\"}} 2"
        ),
        format!(
            "anju_rpc_server_requests_total{{{rpc},rpc_method=\"GetComplaint\",rpc_grpc_status_code=\"INVALID_ARGUMENT\"}} 1"
        ),
        format!("anju_rpc_server_duration_seconds_count{{{rpc},rpc_method=\"RecordComplaint\"}} 2"),
        format!(
            "anju_rpc_server_duration_seconds_bucket{{{rpc},rpc_method=\"RecordComplaint\",le=\"+Inf\"}} 2"
        ),
    ] {
        assert!(body.lines().any(|l| l == line), "no `{line}` in:\n{body}");
    }
    let labels = format!("tenant=\"{}\",project=\"{}\"", stack.tenant, j.project_id);
    for line in [
        format!("anju_complaints_recorded_total{{{labels},category=\"fees\",channel=\"phone\"}} 1"),
        format!(
            "anju_complaints_recorded_total{{{labels},category=\"quality\",channel=\"phone\"}} 1"
        ),
        format!("anju_complaints_open{{{labels},queue=\"maintenance\",clock_state=\"on_time\"}} 1"),
        format!("anju_complaints_closed_total{{{labels}}} 1"),
        format!("anju_complaints_reopened_total{{{labels}}} 1"),
        format!("anju_complaints_repeats_total{{{labels}}} 1"),
        format!("anju_complaint_follow_ups_total{{{labels}}} 2"),
        format!("anju_complaint_satisfaction_score_total{{{labels}}} 7"),
        format!("anju_complaint_follow_ups_satisfied_total{{{labels}}} 1"),
        format!(
            "anju_complaint_clocks_stopped_total{{{labels},target=\"resolve\",outcome=\"met\"}} 2"
        ),
    ] {
        assert!(body.lines().any(|l| l == line), "no `{line}` in:\n{body}");
    }
    // Every family is declared once, with its type.
    assert_eq!(body.matches("# TYPE anju_complaints_open gauge").count(), 1);

    // The platform's and the coordinator's figures come from the same endpoint: the complaint
    // sagas (one closed, one waiting for its repair), the outbox and the pools.
    let sagas = format!(
        "tenant=\"{}\",project=\"{}\",flow=\"complaint\"",
        stack.tenant, j.project_id
    );
    let wanted = [
        format!("anju_sagas_open{{{sagas},state=\"awaiting_repair\"}} 1"),
        format!("anju_sagas_finished_total{{{sagas},state=\"closed\"}} 1"),
        "anju_saga_commands{status=\"failed\"} 0".to_string(),
    ];
    let body = j
        .eventually("the coordinator's figures", || async {
            let body = scrape(port).await;
            Ok(wanted
                .iter()
                .all(|w| body.lines().any(|l| l == w))
                .then_some(body))
        })
        .await
        .unwrap();
    for prefix in [
        "anju_outbox_backlog{service=\"complaints\"} ",
        "anju_outbox_oldest_age_seconds{service=\"saga\"} ",
        "anju_db_pool_connections{service=\"sales\",state=\"in_use\"} ",
        "anju_db_pool_max_connections{service=\"title\"} ",
        "anju_saga_timers_due ",
    ] {
        assert!(
            body.lines().any(|l| l.starts_with(prefix)),
            "no `{prefix}…` in:\n{body}"
        );
    }
}

#[tokio::test]
async fn a_complaint_held_by_a_step_holds_up_no_other_clock() {
    let stack = TestStack::start().await.unwrap();
    let j = journey(&stack, "CP-BUSY").await;
    let unit = unit(&stack, &j, "0701").await;
    let mut ids = Vec::new();
    for step in ["held", "other"] {
        let c = j
            .complain(
                step,
                &unit,
                cp::ComplaintCategory::Other,
                cp::Severity::Low,
                step,
            )
            .await
            .unwrap()
            .unwrap();
        ids.push(Uuid::parse_str(&c.complaint_id).unwrap());
    }
    let db = PgPool::connect(&stack.settings.database_url("complaints"))
        .await
        .unwrap();
    // A step holds the first complaint (as a slow call would) while both acknowledgements
    // fall due, the held one first.
    let mut held = db.begin().await.unwrap();
    sqlx::query("select 1 from complaints where complaint_id = $1 for update")
        .bind(ids[0])
        .execute(&mut *held)
        .await
        .unwrap();
    for (n, id) in ids.iter().enumerate() {
        sqlx::query(
            "update complaint_clocks set warn_at = now() - make_interval(secs => $2),
                 due_at = now() - make_interval(secs => $2), next_at = now() - make_interval(secs => $2)
             where complaint_id = $1 and target = 'acknowledge'",
        )
        .bind(id)
        .bind(10.0 - n as f64)
        .execute(&db)
        .await
        .unwrap();
    }
    let breached = |id: Uuid| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, bool>(
                "select breached_at is not null from complaint_clocks
                 where complaint_id = $1 and target = 'acknowledge'",
            )
            .bind(id)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !breached(ids[1]).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other complaint's clock waited for the held one"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !breached(ids[0]).await,
        "the held complaint is left for later"
    );
    held.commit().await.unwrap();
    j.wait_complaint(
        &ids[0].to_string(),
        "the held one breached once free",
        |c| clock(c, cp::Target::Acknowledge, 1).state == cp::ClockState::Breached as i32,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_desk_refuses_steps_out_of_turn_or_outside_the_department() {
    let stack = TestStack::start().await.unwrap();
    let j = journey(&stack, "CP-TURN").await;
    let unit = unit(&stack, &j, "0801").await;
    let c = j
        .complain(
            "sale",
            &unit,
            cp::ComplaintCategory::Sales,
            cp::Severity::Low,
            "the garden",
        )
        .await
        .unwrap()
        .unwrap();
    let id = c.complaint_id.clone();
    assert_eq!(c.queue, cp::Queue::Sales as i32);
    // A cashier works finance's complaints, not the sales manager's.
    let mut cashier = j.staff.fees_desk.clone();
    refused(
        cashier
            .resolve_complaint(cp::ResolveComplaintRequest {
                request_id: "cashier-resolves".into(),
                complaint_id: id.clone(),
                resolution: "not mine".into(),
            })
            .await,
        "NOT_YOUR_QUEUE",
    );
    refused(
        cashier
            .wait_on_owner(cp::WaitOnOwnerRequest {
                request_id: "cashier-waits".into(),
                complaint_id: id.clone(),
                reason: "stop the clocks".into(),
            })
            .await,
        "NOT_YOUR_QUEUE",
    );
    // The desk waits on the owner, then resolves: the wait is over, the follow-up clock runs.
    let mut desk = j.staff.complaints_desk.clone();
    desk.wait_on_owner(cp::WaitOnOwnerRequest {
        request_id: "desk-waits".into(),
        complaint_id: id.clone(),
        reason: "the owner finds the brochure".into(),
    })
    .await
    .unwrap();
    let resolved = desk
        .resolve_complaint(cp::ResolveComplaintRequest {
            request_id: "desk-resolves".into(),
            complaint_id: id.clone(),
            resolution: "the brochure's garden is phase two".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .complaint
        .unwrap();
    assert!(!resolved.waiting_on_owner);
    assert_eq!(
        clock(&resolved, cp::Target::FollowUp, 1).state,
        cp::ClockState::Running as i32
    );
    // Resolved, it waits for its follow-up: not reassigned (no repair opened for it).
    refused(
        desk.reassign_complaint(cp::ReassignComplaintRequest {
            request_id: "reassign-late".into(),
            complaint_id: id.clone(),
            queue: cp::Queue::Maintenance as i32,
            assignee: String::new(),
            reason: "after all".into(),
        })
        .await,
        "ALREADY_RESOLVED",
    );
    // Nobody but the coordinator opens a repair under a complaint's reference.
    let mut dispatcher = j.staff.dispatcher.clone();
    let status = dispatcher
        .create_repair_request(anju_proto::maintenance::CreateRepairRequestRequest {
            request_id: "forged".into(),
            project_id: j.project_id.clone(),
            unit_id: unit,
            source: anju_proto::maintenance::RepairSource::Complaint as i32,
            category: "complaint".into(),
            description: "a repair that would resolve it".into(),
            contractor_id: String::new(),
            reference: format!("complaint:{id}:1"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&status)[0].field, "reference");
}

#[tokio::test]
async fn the_tenant_standard_counts_a_projects_hours_in_the_projects_own_zone() {
    let stack = TestStack::start().await.unwrap();
    let j = journey(&stack, "CP-ZONE").await;
    let mut manager = j.staff.manager.clone();
    let mut policy = manager
        .get_project_policy(anju_proto::sales::GetProjectPolicyRequest {
            project_id: j.project_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    policy.time_zone = "Europe/London".into();
    manager
        .set_project_policy(anju_proto::sales::SetProjectPolicyRequest {
            request_id: "policy-london".into(),
            policy: Some(policy),
        })
        .await
        .unwrap();
    let unit = j.register_unit("0901").await.unwrap();
    j.sell(&unit, &anju::journey::Buyer::walk_in("0901", "13900000901"))
        .await
        .unwrap();
    stack
        .until_known("complaints", &unit.unit_id)
        .await
        .unwrap();
    // Complaints learns the zone from the contract.
    let mut desk = j.staff.complaints_desk.clone();
    j.eventually("complaints to learn the project's zone", || {
        let mut desk = desk.clone();
        let project = j.project_id.clone();
        async move {
            let standard = desk
                .get_service_standard(cp::GetServiceStandardRequest {
                    project_id: project,
                })
                .await?
                .into_inner()
                .standard
                .unwrap_or_default();
            assert_eq!(standard.source, "default");
            Ok((standard.calendar.unwrap_or_default().time_zone == "Europe/London").then_some(()))
        }
    })
    .await
    .unwrap();
    let c = desk
        .record_complaint(cp::RecordComplaintRequest {
            request_id: "london".into(),
            project_id: j.project_id.clone(),
            unit_id: unit.unit_id.clone(),
            complainant: "Owner".into(),
            complainant_kind: cp::Complainant::Owner as i32,
            channel: cp::ComplaintChannel::Phone as i32,
            category: cp::ComplaintCategory::Other as i32,
            severity: cp::Severity::Low as i32,
            text: "the gate".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .complaint
        .unwrap();
    let ack = clock(&c, cp::Target::Acknowledge, 1);
    let started = instant(&ack.started_at);
    // Low: four business hours, Monday to Friday 09:00–12:00 and 13:30–18:00 — in London.
    let hours = |zone: &str| anju_complaints::domain::calendar::Calendar {
        time_zone: zone.into(),
        ..anju_complaints::domain::calendar::Calendar::standard()
    };
    let due = instant(&ack.due_at);
    assert_eq!(Some(due), hours("Europe/London").add(started, 4 * 3600));
    assert_ne!(Some(due), hours("Asia/Shanghai").add(started, 4 * 3600));
}
