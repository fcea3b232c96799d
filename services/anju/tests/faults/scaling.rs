//! Two replicas of every service ([`Replicas`]): they give exactly the results of one process
//! each; a replica killed with SIGKILL stalls no client for more than three seconds (another
//! replica takes up its messages after the consumers' ack wait, its command claims after the
//! coordinator's lease); and a rolling restart under load (SIGTERM, drain, start, each replica
//! in turn) fails no journey and repeats no effect.
//!
//! The tests are named `replicas_…`: `.config/nextest.toml` runs each alone, since two
//! processes of every service hold twice the connections of one.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use anju::journey::{Journey, Staff};
use anju_proto::{finance, handover as hv, maintenance, saga, sales};
use anyhow::{Context, ensure};
use sqlx::PgPool;

use super::{
    WAIT,
    processes::{GROUPS, Processes, authed, defect},
    replicas::Replicas,
};

/// Connections per service in each replica: 14 pools of 3 (42) stay within a test's share of
/// a default Postgres while the test runs alone.
const REPLICA_CONNECTIONS: u32 = 3;

/// What one unit's move-in left behind, as a client and an operator see it.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    saga_state: String,
    /// The coordinator's commands by method.
    commands: BTreeMap<String, usize>,
    notices: Vec<String>,
    /// (settlement group's kind, amount, outstanding) of each charge, sorted.
    charges: Vec<(String, i64, i64)>,
    keys: usize,
    repairs: usize,
}

impl Outcome {
    /// What a move-in must leave, with or without a failed first inspection.
    fn check(&self, defects: bool) -> anyhow::Result<()> {
        ensure!(self.saga_state == "keys_released", "{self:?}");
        ensure!(
            self.commands.get("GrantKeyClearance") == Some(&1),
            "{self:?}"
        );
        ensure!(self.commands.get("IssueCharge") == Some(&2), "{self:?}");
        let notices: &[&str] = if defects {
            &["notice", "notice", "reinspection"]
        } else {
            &["notice", "notice"]
        };
        ensure!(self.notices == notices, "{self:?}");
        let groups: Vec<&str> = self.charges.iter().map(|c| c.0.as_str()).collect();
        ensure!(
            groups
                == [
                    "contract",
                    "handover",
                    "handover",
                    "subscription",
                    "subscription"
                ]
                && self.charges.iter().all(|c| c.2 == 0),
            "two deposits, the price and two fees, each charged and paid once: {self:?}"
        );
        ensure!(self.keys == 10, "{self:?}");
        ensure!(self.repairs == if defects { 2 } else { 0 }, "{self:?}");
        Ok(())
    }
}

/// The longest wait of the journeys sharing it, and what it waited for.
type Waits = Arc<std::sync::Mutex<(Duration, String)>>;

/// A journey of its own project (`code`) for `tenant`, through the services at `base`, its
/// waits noted in `waits`.
async fn open(base: u16, tenant: uuid::Uuid, code: &str, waits: &Waits) -> anyhow::Result<Journey> {
    let staff =
        Staff::new(|service, subject, roles| Ok(authed(base, service, tenant, subject, roles)))?;
    let mut journey = Journey::open(staff, code, &format!("{code}-")).await?;
    journey.patience = WAIT;
    journey.price = 200_000_000;
    journey.longest_wait = waits.clone();
    Ok(journey)
}

/// One unit from sale to keys in a project of its own; with `defects`, its first inspection
/// fails on two defects, repaired and signed off before the second passes.
async fn move_in(
    base: u16,
    tenant: uuid::Uuid,
    code: &str,
    defects: bool,
    waits: &Waits,
) -> anyhow::Result<Outcome> {
    let j = open(base, tenant, code, waits).await?;
    let unit = j.sold_unit("0101", "13800000101").await?;
    j.batch(1, None).await?;
    let fees = j.charges(&unit, "handover:", 2).await?;
    j.check_in(&unit).await?;
    j.pay(&fees, "FEES").await?;
    let mut repairs = 0;
    if defects {
        j.inspect(
            &unit,
            1,
            vec![
                defect("bathroom", "waterproofing"),
                defect("kitchen", "plumbing"),
            ],
        )
        .await??;
        let orders = j
            .eventually("two repair requests", || async {
                let mut dispatcher = j.staff.dispatcher.clone();
                let listed = match dispatcher
                    .list_work_orders(maintenance::ListWorkOrdersRequest {
                        unit_id: unit.clone(),
                        ..Default::default()
                    })
                    .await
                {
                    Ok(listed) => listed.into_inner().work_orders,
                    Err(_) => return Ok(None),
                };
                Ok((listed.len() >= 2).then_some(listed))
            })
            .await?;
        repairs = orders.len();
        for order in &orders {
            j.repaired(&order.repair_request_id, "repaired").await?;
        }
        j.wait_handover(&unit, "the re-inspection notice", |h| {
            h.notices.iter().any(|n| n.kind == "reinspection")
        })
        .await?;
        j.inspect(&unit, 2, Vec::new()).await??;
    } else {
        j.inspect(&unit, 1, Vec::new()).await??;
    }
    j.wait_cleared(&unit).await?;
    let keys = j.release(&unit, "keys").await??.keys.len();
    let detail = j.ended_move_in(&unit).await?;
    let mut commands = BTreeMap::new();
    for command in &detail.commands {
        *commands.entry(command.method.clone()).or_default() += 1;
    }
    let notices = j
        .handover(&unit)
        .await?
        .notices
        .into_iter()
        .map(|n| n.kind)
        .collect();
    let mut charges: Vec<(String, i64, i64)> = j
        .charges(&unit, "", 5)
        .await?
        .into_iter()
        .map(|c| {
            let group = c
                .settlement_group
                .split(':')
                .next()
                .unwrap_or_default()
                .to_string();
            let amount = |m: Option<anju_proto::common::Money>| m.map_or(0, |m| m.minor_units);
            (group, amount(c.amount), amount(c.outstanding))
        })
        .collect();
    charges.sort();
    let outcome = Outcome {
        saga_state: detail.saga.context("the saga")?.state,
        commands,
        notices,
        charges,
        keys,
        repairs,
    };
    outcome.check(defects).with_context(|| code.to_string())?;
    Ok(outcome)
}

/// Six move-ins at once, every third with a failed first inspection.
async fn six_move_ins(base: u16, tenant: uuid::Uuid) -> BTreeMap<String, Outcome> {
    let waits = Waits::default();
    let runs = (0..6).map(|n| {
        let waits = waits.clone();
        async move {
            let code = format!("SIX-{n}");
            let outcome = move_in(base, tenant, &code, n % 3 == 1, &waits).await;
            (code, outcome)
        }
    });
    futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|(code, outcome)| {
            let outcome = outcome.with_context(|| code.clone()).unwrap();
            (code, outcome)
        })
        .collect()
}

/// Everything the services wrote that a duplicate would change: the events each published
/// (by type), the events each consumer took in (by consumer and type), the coordinator's
/// sagas (by flow and state) and commands (by method and status).
async fn effects(settings: &anju_kit::Settings) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for service in anju_kit::config::SERVICES {
        let db = PgPool::connect(&settings.database_url(service))
            .await
            .unwrap();
        let mut rows: Vec<(String, i64)> = sqlx::query_as(
            "select 'published ' || event_type, count(*) from outbox group by 1
             union all
             select 'consumed ' || consumer || ' ' || event_type, count(*) from inbox group by 1",
        )
        .fetch_all(&db)
        .await
        .unwrap();
        if service == "saga" {
            rows.extend(
                sqlx::query_as::<_, (String, i64)>(
                    "select 'saga ' || flow || ' ' || state, count(*) from sagas group by 1
                     union all
                     select 'command ' || method || ' ' || status, count(*) from saga_commands group by 1",
                )
                .fetch_all(&db)
                .await
                .unwrap(),
            );
        }
        for (what, n) in rows {
            counts.insert(format!("{service}: {what}"), n);
        }
        db.close().await;
    }
    counts
}

#[tokio::test]
async fn replicas_two_processes_of_every_service_give_the_results_of_one() {
    let one_settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let one_procs = Processes::start(&one_settings, base).await;
    let one = six_move_ins(base, uuid::Uuid::now_v7()).await;
    drop(one_procs);
    let one_effects = effects(&one_settings).await;
    anju_testkit::cleanup(&one_settings).await.unwrap();

    let two_settings = anju_testkit::settings();
    let two_procs = Replicas::start(&two_settings, &GROUPS, 2, REPLICA_CONNECTIONS).await;
    let two = six_move_ins(two_procs.base, uuid::Uuid::now_v7()).await;
    drop(two_procs);
    let two_effects = effects(&two_settings).await;
    anju_testkit::cleanup(&two_settings).await.unwrap();

    assert_eq!(one, two);
    assert!(
        one_effects.keys().any(|k| k.contains("KeysReleased")),
        "{one_effects:#?}"
    );
    assert_eq!(one_effects, two_effects);
}

/// `journeys` move-ins' effects, each once across the replicas: a key release, five charges
/// and one clearance each.
async fn once_each(settings: &anju_kit::Settings, journeys: usize) {
    let effects = effects(settings).await;
    let count = |key: &str| effects.get(key).copied().unwrap_or_default() as usize;
    assert_eq!(
        count("handover: published anju.events.v1.KeysReleased"),
        journeys,
        "{effects:#?}"
    );
    assert_eq!(
        count("finance: published anju.events.v1.ChargeIssued"),
        5 * journeys,
        "{effects:#?}"
    );
    assert_eq!(
        count("saga: command GrantKeyClearance done"),
        journeys,
        "{effects:#?}"
    );
}

/// Journeys back to back on `workers` workers until `stop`, every third with defects; each
/// journey's outcome is checked as it ends. Returns how many ended.
async fn journeys_until(
    base: u16,
    tenant: uuid::Uuid,
    workers: usize,
    stop: Arc<AtomicBool>,
    waits: Waits,
) -> anyhow::Result<usize> {
    let runs = (0..workers).map(|w| {
        let (stop, waits) = (stop.clone(), waits.clone());
        async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                move_in(base, tenant, &format!("W{w}-{n}"), n % 3 == 1, &waits).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }
    });
    let done = futures::future::try_join_all(runs).await?;
    Ok(done.into_iter().sum())
}

/// Calls, without retrying, one read of each service through its balancer every 20 ms until
/// `stop`: (calls, failures by code). A failure is a call no service answered (unavailable, cut
/// off, timed out, or failed inside); a refusal is an answer.
async fn probe(
    base: u16,
    tenant: uuid::Uuid,
    stop: Arc<AtomicBool>,
) -> (u64, BTreeMap<String, u64>) {
    use anju_kit::Role;
    let calls = AtomicU64::new(0);
    let mut failures = BTreeMap::new();
    let roles = [
        Role::Operator,
        Role::CustomerService,
        Role::MaintenanceDispatcher,
    ];
    let mut sales = sales::sales_service_client::SalesServiceClient::new(authed(
        base, "sales", tenant, "probe", &roles,
    ));
    let mut finance = finance::finance_service_client::FinanceServiceClient::new(authed(
        base, "finance", tenant, "probe", &roles,
    ));
    let mut handover = hv::handover_service_client::HandoverServiceClient::new(authed(
        base, "handover", tenant, "probe", &roles,
    ));
    let mut coordinator = saga::saga_service_client::SagaServiceClient::new(authed(
        base, "saga", tenant, "probe", &roles,
    ));
    let mut maintenance = maintenance::maintenance_service_client::MaintenanceServiceClient::new(
        authed(base, "maintenance", tenant, "probe", &roles),
    );
    let mut note = |result: Result<(), tonic::Status>| {
        calls.fetch_add(1, Ordering::Relaxed);
        if let Err(status) = result
            && matches!(
                status.code(),
                tonic::Code::Unavailable
                    | tonic::Code::Unknown
                    | tonic::Code::Cancelled
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Internal
                    | tonic::Code::Aborted
            )
        {
            *failures.entry(format!("{:?}", status.code())).or_default() += 1;
        }
    };
    while !stop.load(Ordering::Relaxed) {
        note(
            sales
                .list_projects(sales::ListProjectsRequest::default())
                .await
                .map(drop),
        );
        note(
            finance
                .list_charges(finance::ListChargesRequest {
                    unit_id: uuid::Uuid::now_v7().to_string(),
                    ..Default::default()
                })
                .await
                .map(drop),
        );
        note(
            handover
                .get_handover(hv::GetHandoverRequest {
                    unit_id: uuid::Uuid::now_v7().to_string(),
                })
                .await
                .map(drop),
        );
        note(
            coordinator
                .list_sagas(saga::ListSagasRequest::default())
                .await
                .map(drop),
        );
        note(
            maintenance
                .list_work_orders(maintenance::ListWorkOrdersRequest::default())
                .await
                .map(drop),
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (calls.load(Ordering::Relaxed), failures)
}

/// Two replicas of every service, warm: one journey has gone through, so every service has
/// answered and every consumer is attached.
async fn warm_replicas() -> (anju_kit::Settings, Replicas, uuid::Uuid) {
    let settings = anju_testkit::settings();
    let procs = Replicas::start(&settings, &GROUPS, 2, REPLICA_CONNECTIONS).await;
    let tenant = uuid::Uuid::now_v7();
    move_in(procs.base, tenant, "WARM", false, &Waits::default())
        .await
        .unwrap();
    (settings, procs, tenant)
}

#[tokio::test]
async fn replicas_a_replica_killed_stalls_no_client_for_more_than_three_seconds() {
    let (settings, mut procs, tenant) = warm_replicas().await;

    let stop = Arc::new(AtomicBool::new(false));
    let waits = Waits::default();
    let load = journeys_until(procs.base, tenant, 3, stop.clone(), waits.clone());
    // Each replica of each group killed in turn, one second into the load, and restarted.
    let kills = async {
        for group in GROUPS {
            for index in 0..2 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                procs.kill(group, index);
                tokio::time::sleep(Duration::from_secs(1)).await;
                procs.restart(group, index).await;
            }
        }
        stop.store(true, Ordering::Relaxed);
    };
    let (ended, ()) = tokio::join!(load, kills);
    let ended = ended.unwrap();
    let (longest, what) = waits.lock().unwrap().clone();
    println!("{ended} journeys through 8 kills; the longest stall: {longest:?} ({what})");
    assert!(ended >= 6, "{ended} journeys ended");
    assert!(
        longest <= Duration::from_secs(3),
        "the longest stall {longest:?}, waiting for {what}"
    );
    drop(procs);
    once_each(&settings, ended + 1).await;
    anju_testkit::cleanup(&settings).await.unwrap();
}

#[tokio::test]
async fn replicas_a_rolling_restart_under_load_fails_no_journey_and_repeats_nothing() {
    let (settings, mut procs, tenant) = warm_replicas().await;

    let stop = Arc::new(AtomicBool::new(false));
    let waits = Waits::default();
    let load = journeys_until(procs.base, tenant, 3, stop.clone(), waits.clone());
    let probing = probe(procs.base, tenant, stop.clone());
    // Each replica in turn: SIGTERM (it reports NOT_SERVING, drains, exits), started again,
    // serving before the next one goes.
    let restarts = async {
        for group in GROUPS {
            for index in 0..2 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let t = std::time::Instant::now();
                procs.terminate(group, index);
                let stopped = t.elapsed();
                procs.restart(group, index).await;
                println!(
                    "{group} #{index}: stopped in {stopped:?}, serving again after {:?}",
                    t.elapsed()
                );
            }
        }
        stop.store(true, Ordering::Relaxed);
    };
    let (ended, (calls, failures), ()) = tokio::join!(load, probing, restarts);
    // Every journey ended with exactly its effects (checked as each ended).
    let ended = ended.unwrap();
    let failed: u64 = failures.values().sum();
    println!(
        "{ended} journeys through a rolling restart of 8 processes; {failed} of {calls} \
         unretried calls failed ({:.2} %): {failures:?}",
        100.0 * failed as f64 / calls.max(1) as f64
    );
    let (longest, what) = waits.lock().unwrap().clone();
    println!("the longest stall: {longest:?} ({what})");
    assert!(ended >= 6, "{ended} journeys ended");
    assert!(
        calls > 0 && failed * 50 <= calls,
        "at most 2 % of unretried calls fail: {failed} of {calls}"
    );
    assert!(
        longest <= Duration::from_secs(3),
        "the longest stall {longest:?}, waiting for {what}"
    );
    drop(procs);
    once_each(&settings, ended + 1).await;
    anju_testkit::cleanup(&settings).await.unwrap();
}
