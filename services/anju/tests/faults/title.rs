//! Title's statutory clocks across process deaths: a clock that falls due while title is down
//! warns and breaches once each after it restarts, and a second crash publishes nothing again.

use anju_proto::{
    EventPayload,
    events::{TitleClockBreached, TitleClockWarned},
    title as tt,
};
use sqlx::PgPool;

use super::processes::{OTHERS, Processes, journey};

/// How many events of type `P` title's outbox holds.
async fn published<P: EventPayload>(db: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from outbox where event_type = $1")
        .bind(P::EVENT_TYPE)
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_title_clock_due_while_title_is_down_warns_and_breaches_once_after_restart() {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let j = journey(base, uuid::Uuid::now_v7(), "TITLE-FAULT").await;
    let unit = j.sold_unit("0901", "13800139001").await.unwrap();
    j.batch(1, None).await.unwrap();
    j.paid_and_passed(&unit).await.unwrap();
    j.wait_cleared(&unit).await.unwrap();
    j.release(&unit, "keys").await.unwrap().unwrap();
    let file = j
        .wait_title(&unit, "the statutory clocks started", |f| {
            f.clocks.len() == 2
        })
        .await
        .unwrap();

    // Title (with sales and the rest of its process) dies; meanwhile 90 days pass.
    procs.kill(OTHERS);
    let db = PgPool::connect(&settings.database_url("title"))
        .await
        .unwrap();
    sqlx::query(
        "update title_clocks set warn_at = now() - interval '1 second',
                                 breach_at = now() - interval '1 second'
         where contract_id = $1",
    )
    .bind(uuid::Uuid::parse_str(&file.contract_id).unwrap())
    .execute(&db)
    .await
    .unwrap();
    procs.respawn(OTHERS);
    procs.wait_serving().await;
    j.wait_title(&unit, "both clocks breached after the restart", |f| {
        f.clocks
            .iter()
            .all(|c| c.state == tt::ClockState::Breached as i32)
    })
    .await
    .unwrap();
    // Killed again right after, and restarted: nothing is published twice.
    procs.crash(OTHERS).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(published::<TitleClockWarned>(&db).await, 2);
    assert_eq!(published::<TitleClockBreached>(&db).await, 2);
    let at_risk = j.title_files(tt::ClockFilter::Overdue).await.unwrap();
    assert_eq!(at_risk.len(), 1);
    assert_eq!(at_risk[0].unit_id, unit);
}
