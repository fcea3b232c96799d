//! Move-in notices go out on the batch's notice date — a durable timer in the coordinator —
//! not before, and once, even when the coordinator is down when the time comes.

use std::time::Duration;

use anju_proto::handover as hv;
use chrono::{Timelike, Utc};

use super::processes::{COORDINATOR, Processes, journey};

/// Minutes after midnight in the project (Asia/Shanghai, UTC+8) of `at`.
fn project_minute(at: chrono::DateTime<Utc>) -> u32 {
    let local = at + chrono::Duration::hours(8);
    local.hour() * 60 + local.minute()
}

#[tokio::test]
async fn notices_go_out_on_their_date_not_before_and_once_across_a_coordinator_restart() {
    // Near the project's midnight the notice minute would fall on the next day: wait it out.
    while project_minute(Utc::now()) >= 1438 {
        tokio::time::sleep(Duration::from_secs(20)).await;
    }
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let j = &mut journey(base, uuid::Uuid::now_v7(), "NOTICE-1").await;
    let unit = j.sold_unit("0801", "13800000801").await.unwrap();
    j.contracted(1, None).await.unwrap();

    // The notices go out 35 days before the window, at the next whole minute at least 20 s
    // away (project time): the batch's window opens in 35 days, so its notice date is today.
    let minute = project_minute(Utc::now() + chrono::Duration::seconds(20)) + 1;
    j.handover_settings(35, i32::try_from(minute).unwrap())
        .await
        .unwrap();
    let batch = j.create_batch(None, 35, None).await.unwrap().unwrap();
    let notices_at =
        chrono::DateTime::from_timestamp(batch.notices_at.as_ref().unwrap().seconds, 0).unwrap();
    assert_eq!(project_minute(notices_at), minute);
    assert!(notices_at > Utc::now(), "the notice time is still ahead");
    let batch = j.prepare_batch(&batch).await.unwrap();
    assert_eq!(batch.plan_status, hv::PlanStatus::Approved as i32);

    // Approved, the notice is scheduled, not sent: the saga waits for its date.
    j.move_in_saga(&unit, "the notice's timer", |s| {
        s.state == "awaiting_fees_and_inspection"
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        j.handover(&unit).await.unwrap().notices.is_empty(),
        "no notice before its date"
    );

    // The coordinator dies before the time and comes back after it.
    procs.kill(COORDINATOR);
    let wait = (notices_at - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(2);
    tokio::time::sleep(wait).await;
    assert!(
        j.handover(&unit).await.unwrap().notices.is_empty(),
        "nothing sends notices while the coordinator is down"
    );
    procs.respawn(COORDINATOR);
    procs.wait_serving().await;

    let sent = j
        .wait_handover(&unit, "the notices after the restart", |h| {
            h.notices.len() >= 2
        })
        .await
        .unwrap();
    let mut channels: Vec<&str> = sent.notices.iter().map(|n| n.channel.as_str()).collect();
    channels.sort();
    assert_eq!(channels, ["post", "sms"]);
    for notice in &sent.notices {
        assert_eq!(notice.kind, "notice");
        assert!(!notice.late, "sent on its date: {notice:?}");
        assert!(notice.sent_at.as_ref().unwrap().seconds >= notices_at.timestamp());
    }
    assert!(!sent.handover.unwrap().notified_late);
    // Once: the timer fired once and nothing more comes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(j.handover(&unit).await.unwrap().notices.len(), 2);
    let detail = j.move_in_saga(&unit, "the saga", |_| true).await.unwrap();
    let fired = detail
        .history
        .iter()
        .filter(|h| h.input == "timer notice")
        .count();
    assert_eq!(fired, 1, "{:?}", detail.history);
    drop(procs);
    anju_testkit::cleanup(&settings).await.unwrap();
}
