//! A complaint's clocks across process deaths: clocks that fall due while complaints and the
//! coordinator are down warn, breach and escalate once each after they restart, the saga keeps
//! one line per breach, and a second crash of both repeats nothing.

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

#[tokio::test]
async fn clocks_due_while_complaints_and_the_coordinator_are_down_escalate_once_after_restart() {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let j = journey(base, uuid::Uuid::now_v7(), "COMPLAINT-FAULT").await;
    let unit = j.register_unit("1101").await.unwrap().unit_id;
    // Complaints learns the unit from sales' events.
    let c = j
        .eventually("the complaint recorded", || async {
            match j
                .complain(
                    "late",
                    &unit,
                    cp::ComplaintCategory::Fees,
                    cp::Severity::High,
                    "twice",
                )
                .await?
            {
                Ok(c) => Ok(Some(c)),
                Err(status) if status.code() == Code::NotFound => Ok(None),
                Err(status) => anyhow::bail!("{status:?}"),
            }
        })
        .await
        .unwrap();
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
