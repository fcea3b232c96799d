//! A complaint's clocks across process deaths: clocks that fall due while complaints and the
//! coordinator are down warn, breach and escalate once each after they restart, the saga keeps
//! one line per breach, and a second crash of both repeats nothing; and a complaint's link to
//! its repairs survives the coordinator, maintenance and complaints dying at each step.

use anju_proto::{
    EventPayload, complaints as cp,
    events::{ComplaintClockBreached, ComplaintClockWarned},
};
use sqlx::PgPool;
use tonic::Code;

use super::processes::{COORDINATOR, OTHERS, Processes, journey};

async fn published<P: EventPayload>(db: &PgPool, complaint: &str) -> i64 {
    sqlx::query_scalar("select count(*) from outbox where event_type = $1 and aggregate_id = $2")
        .bind(P::EVENT_TYPE)
        .bind(complaint)
        .fetch_one(db)
        .await
        .unwrap()
}

/// A complaint about `unit`, once complaints has learnt the unit from sales' events.
async fn record(
    j: &anju::journey::Journey,
    unit: &str,
    step: &str,
    category: cp::ComplaintCategory,
) -> cp::Complaint {
    j.eventually("the complaint recorded", || async {
        match j
            .complain(
                step,
                unit,
                category,
                cp::Severity::High,
                "water through the ceiling",
            )
            .await?
        {
            Ok(c) => Ok(Some(c)),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => anyhow::bail!("{status:?}"),
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn clocks_due_while_complaints_and_the_coordinator_are_down_escalate_once_after_restart() {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let j = journey(base, uuid::Uuid::now_v7(), "COMPLAINT-FAULT").await;
    let unit = j.register_unit("1101").await.unwrap().unit_id;
    let c = record(&j, &unit, "late", cp::ComplaintCategory::Fees).await;
    let id = c.complaint_id.clone();
    j.saga("complaint", &id, "the complaint's saga", |_| true)
        .await
        .unwrap();

    // Both die; meanwhile every running clock's warning and deadline pass.
    procs.kill(OTHERS);
    procs.kill(COORDINATOR);
    let db = PgPool::connect(&settings.database_url("complaints"))
        .await
        .unwrap();
    let due = sqlx::query(
        "update complaint_clocks set warn_at = now() - interval '1 second',
             due_at = now() - interval '1 second', next_at = now() - interval '1 second'
         where complaint_id = $1 and stopped_at is null",
    )
    .bind(uuid::Uuid::parse_str(&id).unwrap())
    .execute(&db)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(due, 3, "acknowledge, route and resolve run");
    procs.respawn(OTHERS);
    procs.respawn(COORDINATOR);
    procs.wait_serving().await;
    let breached = j
        .wait_complaint(&id, "every clock breached after the restart", |c| {
            c.clocks
                .iter()
                .all(|k| k.state == cp::ClockState::Breached as i32)
        })
        .await
        .unwrap();
    assert_eq!(breached.escalations.len(), 3);

    // Killed again right after, and restarted: nothing fires or is applied twice.
    procs.kill(OTHERS);
    procs.kill(COORDINATOR);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    procs.respawn(OTHERS);
    procs.respawn(COORDINATOR);
    procs.wait_serving().await;
    let history = j
        .eventually("three breaches in the saga's history", || async {
            let s = j.saga("complaint", &id, "the saga", |_| true).await?;
            let lines = s
                .history
                .iter()
                .filter(|h| h.note.contains("clock breached"))
                .count();
            Ok((lines >= 3).then_some(s))
        })
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(published::<ComplaintClockWarned>(&db, &id).await, 3);
    assert_eq!(published::<ComplaintClockBreached>(&db, &id).await, 3);
    assert_eq!(j.complaint(&id).await.unwrap().escalations.len(), 3);
    let again = j
        .saga("complaint", &id, "the saga", |_| true)
        .await
        .unwrap();
    let lines = again
        .history
        .iter()
        .filter(|h| h.note.contains("clock breached"))
        .count();
    assert_eq!(lines, 3, "{:?}", history.history);
}

#[tokio::test]
async fn a_complaints_repairs_follow_it_across_processes_killed_at_each_step() {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let j = journey(base, uuid::Uuid::now_v7(), "COMPLAINT-LINK").await;
    let unit = j.register_unit("1201").await.unwrap().unit_id;
    let c = record(&j, &unit, "leak", cp::ComplaintCategory::Quality).await;
    let id = c.complaint_id.clone();
    // The coordinator dies as the complaint is routed, maintenance and complaints as the
    // repair is opened and reported, each again after the sign-off and after the reopen.
    procs.crash(COORDINATOR).await;
    let linked = j
        .wait_complaint(&id, "the repair opened", |c| {
            !c.repair_request_id.is_empty()
        })
        .await
        .unwrap();
    procs.crash(OTHERS).await;
    j.repaired(&linked.repair_request_id, "resealed")
        .await
        .unwrap();
    procs.crash(COORDINATOR).await;
    j.wait_complaint(&id, "resolved by the repair", |c| {
        c.status == cp::ComplaintStatus::Resolved as i32
    })
    .await
    .unwrap();
    let reopened = j.follow_up(&id, 1, 1).await.unwrap().unwrap();
    assert_eq!(reopened.round, 2);
    procs.crash(OTHERS).await;
    let resolved = j.complaint_repaired(&id, 2, "replaced").await.unwrap();
    assert_ne!(resolved.repair_request_id, linked.repair_request_id);
    procs.crash(COORDINATOR).await;
    let closed = j.follow_up(&id, 2, 4).await.unwrap().unwrap();
    assert_eq!(closed.status, cp::ComplaintStatus::Closed as i32);

    let saga = j
        .saga("complaint", &id, "the complaint's saga closed", |s| {
            s.state == "closed"
        })
        .await
        .unwrap();
    let asked = saga
        .history
        .iter()
        .filter(|h| h.note.contains("repair request asked for"))
        .count();
    assert_eq!(asked, 2, "one repair a round");
    let maintenance = PgPool::connect(&settings.database_url("maintenance"))
        .await
        .unwrap();
    let repairs: i64 =
        sqlx::query_scalar("select count(*) from repair_requests where reference like $1")
            .bind(format!("complaint:{id}:%"))
            .fetch_one(&maintenance)
            .await
            .unwrap();
    assert_eq!(repairs, 2, "each round's repair opened once");
}
