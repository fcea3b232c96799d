//! The flagship rule across process crashes: the coordinator, handover, finance and the rest
//! run as separate `anju serve` processes, and are killed with SIGKILL in the middle of
//! move-ins and restarted. Keys are released exactly once, and only after the fees were paid
//! and the inspection passed.

use std::time::Duration;

use anju_proto::{handover as hv, maintenance, saga};
use anju_testkit::eventually;
use tonic::Code;

/// Long enough for a command abandoned by a killed coordinator to be sent again.
const WAIT: Duration = Duration::from_secs(60);

mod complaints;
mod notices;
mod processes;
mod repairs;
mod replicas;
mod scaling;
mod timer;
mod title;
mod trace;

use processes::{COORDINATOR, FINANCE, GROUPS, HANDOVER, OTHERS, Processes, defect, journey};

fn commands(detail: &saga::GetSagaResponse, method: &str) -> usize {
    detail
        .commands
        .iter()
        .filter(|c| c.method == method)
        .count()
}

#[tokio::test]
async fn keys_are_released_once_across_killed_and_restarted_processes() {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let j = &mut journey(base, uuid::Uuid::now_v7(), "FAULT-1").await;
    let unit = j.sold_unit("0501", "13800138000").await.unwrap();
    j.batch(1, None).await.unwrap();
    let fees = j.charges(&unit, "handover:", 2).await.unwrap();
    j.wait_handover(&unit, "the move-in notice", |h| {
        h.handover.as_ref().is_some_and(|h| h.notice_sent)
    })
    .await
    .unwrap();

    // The coordinator dies. Fees are paid and the inspection passes while it is down.
    procs.kill(COORDINATOR);
    j.pay(&fees, "FEES").await.unwrap();
    j.check_in(&unit).await.unwrap();
    j.inspect(&unit, 1, Vec::new()).await.unwrap().unwrap();
    let refused = j.release(&unit, "keys-early").await.unwrap().unwrap_err();
    assert_eq!(
        refused.code(),
        Code::FailedPrecondition,
        "no clearance while the coordinator is down"
    );

    // The other services die too, and everything comes back.
    for group in [HANDOVER, FINANCE, OTHERS] {
        procs.kill(group);
    }
    for group in GROUPS {
        procs.respawn(group);
    }
    procs.wait_serving().await;

    j.wait_handover(
        &unit,
        "the clearance and the settled fees after restarts",
        |h| {
            h.handover
                .as_ref()
                .is_some_and(|h| h.cleared && h.fees_settled)
        },
    )
    .await
    .unwrap();
    j.release(&unit, "keys").await.unwrap().unwrap();
    let again = j.release(&unit, "keys-again").await.unwrap().unwrap_err();
    assert_eq!(
        anju_kit::error::refusal_reason(&again).as_deref(),
        Some("KEYS_ALREADY_RELEASED")
    );
    assert!(again.message().contains("already handed over"));

    // The saga ends with keys released, having asked for clearance exactly once.
    let detail = j.ended_move_in(&unit).await.unwrap();
    assert_eq!(detail.saga.as_ref().unwrap().state, "keys_released");
    assert_eq!(
        commands(&detail, "GrantKeyClearance"),
        1,
        "{:?}",
        detail.commands
    );
    j.every_saga_ends().await.unwrap();
    drop(procs);
    anju_testkit::cleanup(&settings).await.unwrap();
}

/// Three move-ins — fees first; inspection first; a failed inspection looping through
/// maintenance — with one process killed (SIGKILL) and restarted after every step, taking the
/// coordinator, handover and finance in turn from `first`. Run from each of the three, every
/// one of them dies at every step.
async fn a_process_killed_at_every_step(first: usize) {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let j = &mut journey(base, uuid::Uuid::now_v7(), &format!("KILL-{first}")).await;
    let a = j.sold_unit("0301", "13800000301").await.unwrap();
    let b = j.sold_unit("0302", "13800000302").await.unwrap();
    let c = j.sold_unit("0303", "13800000303").await.unwrap();
    let mut step = first;
    let mut victim = || {
        let v = [COORDINATOR, HANDOVER, FINANCE][step % 3];
        step += 1;
        v
    };

    // 1. The batch opens: the coordinator charges the fees and sends the notices.
    let batch = j.batch(3, None).await.unwrap();
    procs.crash(victim()).await;
    let mut fees = Vec::new();
    for unit in [&a, &b, &c] {
        fees.push(j.charges(unit, "handover:", 2).await.unwrap());
        j.wait_handover(unit, "the move-in notice", |h| {
            h.notices
                .iter()
                .any(|n| n.kind == "notice" && n.fees.len() == 2)
        })
        .await
        .unwrap();
        j.check_in(unit).await.unwrap();
    }

    // 2. A pays: not cleared without the inspection.
    j.pay(&fees[0], "FEES-A").await.unwrap();
    procs.crash(victim()).await;
    assert!(!j.handover(&a).await.unwrap().handover.unwrap().cleared);

    // 3. A and C pass the inspection; A is cleared, C (unpaid) is not.
    j.inspect(&a, 1, Vec::new()).await.unwrap().unwrap();
    j.inspect(&c, 1, Vec::new()).await.unwrap().unwrap();
    procs.crash(victim()).await;
    j.wait_handover(&a, "A cleared", |h| {
        h.handover.as_ref().is_some_and(|h| h.cleared)
    })
    .await
    .unwrap();

    // 4. B fails with two defects: two repair requests, one per defect.
    let round = j
        .inspect(
            &b,
            1,
            vec![
                defect("bathroom", "waterproofing"),
                defect("kitchen", "plumbing"),
            ],
        )
        .await
        .unwrap()
        .unwrap();
    procs.crash(victim()).await;
    let orders = eventually(WAIT, "two repair requests for B", || {
        let mut dispatcher = j.staff.dispatcher.clone();
        let b = b.clone();
        async move {
            let Ok(listed) = dispatcher
                .list_work_orders(maintenance::ListWorkOrdersRequest::default())
                .await
            else {
                return Ok(None);
            };
            let orders: Vec<maintenance::RepairRequest> = listed
                .into_inner()
                .work_orders
                .into_iter()
                .filter(|o| o.unit_id == b)
                .collect();
            Ok((orders.len() >= 2).then_some(orders))
        }
    })
    .await
    .unwrap();
    let mut references: Vec<String> = orders.iter().map(|o| o.reference.clone()).collect();
    references.sort();
    let mut defects = round.defect_ids.clone();
    defects.sort();
    assert_eq!(references, defects, "one repair request per defect");

    // 5. Both repaired and signed off by the four parties.
    for order in &orders {
        j.repaired(&order.repair_request_id, "repaired")
            .await
            .unwrap();
    }
    procs.crash(victim()).await;

    // 6. The owner is asked back; B passes round 2. B and C passed but have not paid.
    j.wait_handover(&b, "the re-inspection notice", |h| {
        h.notices.iter().any(|n| n.kind == "reinspection")
    })
    .await
    .unwrap();
    j.inspect(&b, 2, Vec::new()).await.unwrap().unwrap();
    procs.crash(victim()).await;
    for unit in [&b, &c] {
        let refused = j
            .release(unit, &format!("early-{unit}"))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert_eq!(
            anju_kit::error::refusal_reason(&refused).as_deref(),
            Some("FEES_NOT_SETTLED")
        );
        assert!(
            refused.message().contains("fees are not settled"),
            "{}",
            refused.message()
        );
    }

    // 7. B and C pay.
    j.pay(&fees[1], "FEES-B").await.unwrap();
    j.pay(&fees[2], "FEES-C").await.unwrap();
    procs.crash(victim()).await;

    // 8. Keys, once each.
    for unit in [&a, &b, &c] {
        j.wait_handover(unit, "the clearance and the settled fees", |h| {
            h.handover
                .as_ref()
                .is_some_and(|h| h.cleared && h.fees_settled)
        })
        .await
        .unwrap();
        let keys = j
            .release(unit, &format!("keys-{unit}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(keys.keys.len(), 10);
    }
    procs.crash(victim()).await;
    for unit in [&a, &b, &c] {
        let again = j
            .release(unit, &format!("again-{unit}"))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            anju_kit::error::refusal_reason(&again).as_deref(),
            Some("KEYS_ALREADY_RELEASED")
        );
        assert!(again.message().contains("already handed over"));
        let detail = j.ended_move_in(unit).await.unwrap();
        assert_eq!(detail.saga.as_ref().unwrap().state, "keys_released");
        assert_eq!(
            commands(&detail, "GrantKeyClearance"),
            1,
            "{:?}",
            detail.commands
        );
        assert_eq!(commands(&detail, "IssueCharge"), 2);
        let notices = j.handover(unit).await.unwrap().notices;
        let kinds: Vec<&str> = notices.iter().map(|n| n.kind.as_str()).collect();
        // The move-in notice once by post and once by SMS, whoever died.
        let expected: &[&str] = if *unit == b {
            &["notice", "notice", "reinspection"]
        } else {
            &["notice", "notice"]
        };
        assert_eq!(kinds, expected);
        assert_eq!(
            j.charges(unit, "handover:", 2).await.unwrap().len(),
            2,
            "billed once"
        );
    }
    let stats = j
        .call("the statistics", || {
            let mut counter = j.staff.counter.clone();
            let batch_id = batch.batch_id.clone();
            async move {
                counter
                    .get_batch_statistics(hv::GetBatchStatisticsRequest {
                        batch_id,
                        project_id: String::new(),
                    })
                    .await
            }
        })
        .await
        .unwrap();
    assert_eq!(
        (
            stats.units,
            stats.handed_over,
            stats.defects,
            stats.reinspections
        ),
        (3, 3, 2, 1)
    );
    j.every_saga_ends().await.unwrap();
    drop(procs);
    anju_testkit::cleanup(&settings).await.unwrap();
}

#[tokio::test]
async fn keys_once_with_a_process_killed_at_every_step_from_the_coordinator() {
    a_process_killed_at_every_step(0).await;
}

#[tokio::test]
async fn keys_once_with_a_process_killed_at_every_step_from_handover() {
    a_process_killed_at_every_step(1).await;
}

#[tokio::test]
async fn keys_once_with_a_process_killed_at_every_step_from_finance() {
    a_process_killed_at_every_step(2).await;
}
