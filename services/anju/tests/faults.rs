//! The flagship rule across process crashes: the coordinator, handover, finance and the rest
//! run as separate `anju serve` processes, and are killed with SIGKILL in the middle of
//! move-ins and restarted. Keys are released exactly once, and only after the fees were paid
//! and the inspection passed.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use anju::{
    client::{self, Authed},
    journey::{Journey, Staff},
};
use anju_kit::Role;
use anju_proto::{
    finance, handover as hv, maintenance,
    saga::{self, saga_service_client::SagaServiceClient},
    sales::{self as pb, sales_service_client::SalesServiceClient},
};
use anju_testkit::eventually;
use tonic::Code;

/// Long enough for a command abandoned by a killed coordinator to be sent again.
const WAIT: Duration = Duration::from_secs(60);

/// The processes: each can be killed on its own.
const COORDINATOR: &str = "saga";
const HANDOVER: &str = "handover";
const FINANCE: &str = "finance";
const OTHERS: &str = "sales,maintenance,complaints,title";
const GROUPS: [&str; 4] = [COORDINATOR, HANDOVER, FINANCE, OTHERS];

struct Processes {
    env: Vec<(String, String)>,
    running: Vec<(&'static str, Child)>,
}

/// A client of `service` (on the ports from `base`) as `subject` of `tenant`.
fn authed(base: u16, service: &str, tenant: uuid::Uuid, subject: &str, roles: &[Role]) -> Authed {
    let index = anju_kit::config::SERVICES
        .iter()
        .position(|s| *s == service)
        .expect("a service");
    client::authed(
        "127.0.0.1",
        base + index as u16,
        &anju_testkit::token_for(tenant, subject, roles),
    )
    .expect("client")
}

impl Processes {
    /// Every process on the test's own databases, subjects and ports, once all serve.
    async fn start(settings: &anju_kit::Settings, base: u16) -> Self {
        let env: Vec<(String, String)> = [
            (
                "ANJU_DATABASE_NAME_PREFIX",
                settings.database.name_prefix.clone(),
            ),
            ("ANJU_NATS_PREFIX", settings.nats.prefix.clone()),
            (
                "ANJU_DATABASE_MAX_CONNECTIONS",
                settings.database.max_connections.to_string(),
            ),
            ("ANJU_GRPC_BASE_PORT", base.to_string()),
            ("RUST_LOG", "error".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let running = GROUPS
            .iter()
            .map(|group| (*group, Processes::spawn(&env, group)))
            .collect();
        let procs = Processes { env, running };
        procs.wait_serving().await;
        procs
    }

    fn spawn(env: &[(String, String)], target: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_anju"))
            .args(["serve", "--target", target])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting anju serve")
    }

    /// SIGKILL: no shutdown hook runs, in-flight work is lost mid-way.
    fn kill(&mut self, group: &str) {
        for (name, child) in &mut self.running {
            if *name == group {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Starts a killed process again (without waiting for it to serve).
    fn respawn(&mut self, group: &str) {
        let env = self.env.clone();
        for (name, child) in &mut self.running {
            if *name == group {
                *child = Processes::spawn(&env, name);
            }
        }
    }

    /// Kills `group`, leaves the others working without it for a moment, restarts it.
    async fn crash(&mut self, group: &str) {
        self.kill(group);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.respawn(group);
        self.wait_serving().await;
    }

    async fn wait_serving(&self) {
        let status = Command::new(env!("CARGO_BIN_EXE_anju"))
            .args(["status", "--wait", "60"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("anju status");
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stdout)
        );
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for group in GROUPS {
            self.kill(group);
        }
    }
}

fn day(offset: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8) + chrono::Duration::days(offset))
        .date_naive()
        .to_string()
}

fn defect(room: &str, category: &str) -> hv::Defect {
    hv::Defect {
        room: room.into(),
        category: category.into(),
        description: "water stain on the ceiling".into(),
        severity: "major".into(),
        photo_refs: vec![format!("photo://{room}.jpg")],
    }
}

/// The shared journey fixture on the processes' ports, as `tenant`, patient enough for a
/// command abandoned by a killed coordinator to be sent again.
async fn journey(base: u16, tenant: uuid::Uuid, code: &str) -> Journey {
    let staff =
        Staff::new(|service, subject, roles| Ok(authed(base, service, tenant, subject, roles)))
            .expect("clients");
    let mut journey = Journey::open(staff, code, "").await.expect("the project");
    journey.patience = WAIT;
    journey.price = 200_000_000;
    journey
}

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

    // The coordinator dies. Fees are paid and the inspection passes while it is down.
    procs.kill(COORDINATOR);
    j.pay(&fees, "FEES").await.unwrap();
    j.wait_handover(&unit, "the move-in notice", |h| {
        h.handover.as_ref().is_some_and(|h| h.notice_sent)
    })
    .await
    .unwrap();
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

    // 5. Maintenance closes both.
    for order in &orders {
        let request = maintenance::CloseRepairRequestRequest {
            request_id: format!("close-{}", order.repair_request_id),
            repair_request_id: order.repair_request_id.clone(),
            resolution: "repaired".into(),
        };
        j.call("closing a repair", || {
            let mut dispatcher = j.staff.dispatcher.clone();
            let request = request.clone();
            async move { dispatcher.close_repair_request(request).await }
        })
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
        let expected: &[&str] = if *unit == b {
            &["notice", "reinspection"]
        } else {
            &["notice"]
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
                    .get_batch_statistics(hv::GetBatchStatisticsRequest { batch_id })
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

/// Everything up to a subscription whose small deposit is paid, on a project whose unpaid
/// subscriptions lapse at the start of the next minute (at least 10 s away).
async fn subscription_lapsing_soon(
    base: u16,
    tenant: uuid::Uuid,
) -> (String, String, chrono::DateTime<chrono::Utc>) {
    let mut j = journey(base, tenant, "TIMER-1").await;
    // Lapse at the start of the next minute of the due day (project time), ≥ 10 s from now.
    let now = chrono::Utc::now() + chrono::Duration::hours(8);
    let mut minutes =
        chrono::Timelike::hour(&now) as i32 * 60 + chrono::Timelike::minute(&now) as i32 + 1;
    if chrono::Timelike::second(&now) > 50 {
        minutes += 1;
    }
    let mut policy = j
        .staff
        .manager
        .get_project_policy(pb::GetProjectPolicyRequest {
            project_id: j.project_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    policy.lapse_after_minutes = minutes;
    j.staff
        .manager
        .set_project_policy(pb::SetProjectPolicyRequest {
            request_id: "policy".into(),
            policy: Some(policy),
        })
        .await
        .unwrap();
    let (unit, subscription) = j.subscribed("0601", "13900139000", day(0)).await.unwrap();
    let lapses_at =
        chrono::DateTime::from_timestamp(subscription.lapses_at.unwrap().seconds, 0).unwrap();
    let small: Vec<finance::Charge> = j
        .charges(&unit.unit_id, "subscription:", 2)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.settlement_group.ends_with(":small_deposit"))
        .collect();
    j.pay(&small, "SMALL").await.unwrap();
    (unit.unit_id, subscription.subscription_id, lapses_at)
}

#[tokio::test]
async fn a_timer_due_while_the_coordinator_is_down_fires_once_after_restart() {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let tenant = uuid::Uuid::now_v7();
    let (unit_id, subscription_id, lapses_at) = subscription_lapsing_soon(base, tenant).await;
    let operator =
        SagaServiceClient::new(authed(base, "saga", tenant, "operator", &[Role::Operator]));
    // The lapse timer is set once the small deposit is paid; then the coordinator dies.
    eventually(WAIT, "the saga to wait for the top-up", || {
        let mut operator = operator.clone();
        async move {
            let sagas = operator
                .list_sagas(saga::ListSagasRequest::default())
                .await?
                .into_inner()
                .sagas;
            Ok(sagas
                .iter()
                .any(|s| s.state == "awaiting_top_up")
                .then_some(()))
        }
    })
    .await
    .unwrap();
    procs.kill(COORDINATOR);
    let wait = (lapses_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default()
        + Duration::from_secs(2);
    tokio::time::sleep(wait).await;
    procs.respawn(COORDINATOR);
    procs.wait_serving().await;

    let sales = SalesServiceClient::new(authed(
        base,
        "sales",
        tenant,
        "manager",
        &[Role::SalesManager],
    ));
    eventually(WAIT, "the subscription to lapse after the restart", || {
        let mut sales = sales.clone();
        let subscription_id = subscription_id.clone();
        async move {
            let Ok(answer) = sales
                .get_subscription(pb::GetSubscriptionRequest { subscription_id })
                .await
            else {
                return Ok(None);
            };
            let lapsed = answer
                .into_inner()
                .subscription
                .is_some_and(|s| s.status == pb::SubscriptionStatus::Lapsed as i32);
            Ok(lapsed.then_some(()))
        }
    })
    .await
    .unwrap();
    let detail = eventually(WAIT, "the saga to end", || {
        let mut operator = operator.clone();
        async move {
            let Ok(listed) = operator.list_sagas(saga::ListSagasRequest::default()).await else {
                return Ok(None);
            };
            let Some(s) = listed
                .into_inner()
                .sagas
                .into_iter()
                .find(|s| s.terminal && s.open_commands == 0)
            else {
                return Ok(None);
            };
            Ok(Some(
                operator
                    .get_saga(saga::GetSagaRequest { saga_id: s.saga_id })
                    .await?
                    .into_inner(),
            ))
        }
    })
    .await
    .unwrap();
    assert_eq!(detail.saga.unwrap().state, "lapsed");
    let fired = detail
        .history
        .iter()
        .filter(|h| h.input == "timer lapse")
        .count();
    assert_eq!(fired, 1, "{:?}", detail.history);
    let lapses = detail
        .commands
        .iter()
        .filter(|c| c.method == "LapseSubscription")
        .count();
    assert_eq!(lapses, 1);
    let mut sales = sales.clone();
    let unit = sales
        .get_unit(pb::GetUnitRequest { unit_id })
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    assert_eq!(unit.status, pb::UnitStatus::Available as i32);
    drop(procs);
    anju_testkit::cleanup(&settings).await.unwrap();
}
