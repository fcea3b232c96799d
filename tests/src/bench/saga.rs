//! The coordinator under load: move-in journeys end to end, saga state transitions per second,
//! and the time from the last input (fees settled or inspection passed, whichever came last)
//! to the key clearance.
//!
//! Every service runs in this process; the coordinator runs in a stack of its own so it can be
//! stopped while its inputs pile up. Three measurements:
//!
//! 1. **Backlog drain, starts.** With the coordinator stopped, a batch of `units` units opens;
//!    then the coordinator starts and drains the `UnitAddedToBatch` backlog. Each start
//!    transition writes the saga, its history line, three commands and a timer.
//! 2. **Backlog drain, settlements and inspections.** With the coordinator stopped again, every
//!    owner pays and passes the inspection; the coordinator then drains both inputs per unit,
//!    the second of which grants the clearance.
//! 3. **Journeys.** With the coordinator running, `owners` concurrent owners each take their
//!    units through a second batch: fees paid, checked in, inspected, keys released.
//!
//! Rates in 1 and 2 come from the coordinator's own timestamps (first to last transition), so
//! start-up is not counted. Latencies come from the services' timestamps, all from one
//! Postgres clock: `cleared_at − greatest(settled_at, inspection_passed_at)`.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anju::{
    Stack, client,
    journey::{Buyer, ID_NUMBER, Journey, Staff},
};
use anju_kit::{Role, Settings, config::SERVICES};
use anju_proto::{
    common::{Area, Money},
    finance, handover as hv, sales as pb,
};
use anyhow::Context;
use futures::{StreamExt, stream};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{ms, quantile};

const PRICE: i64 = 200_000_000;
/// Concurrent sellers while setting up the sold units (not measured).
const SELLERS: usize = 16;
/// How often a client looks again for what the coordinator does. Latencies are taken from the
/// services' own timestamps, so this adds load, not latency, and is kept moderate.
const POLL: Duration = Duration::from_millis(50);

fn cny(minor_units: i64) -> Option<Money> {
    Some(Money {
        minor_units,
        currency: "CNY".into(),
    })
}

pub struct Drain {
    pub transitions: i64,
    /// The coordinator's transactions: a consumer applies a batch of inputs in one.
    pub transactions: i64,
    pub seconds: f64,
}

impl Drain {
    fn per_second(&self) -> f64 {
        self.transitions as f64 / self.seconds.max(1e-6)
    }
}

pub struct Report {
    pub units: usize,
    pub journeys: usize,
    pub owners: usize,
    pub starts: Drain,
    pub inputs: Drain,
    pub journeys_per_second: f64,
    /// Seconds from opening the journeys' batch to every fee charged and notice recorded.
    pub opened: f64,
    pub journey_transitions_per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Where the time goes when the inspection is the last input: (hop, p50, p99).
    pub hops: Vec<(&'static str, Duration, Duration)>,
    /// Deadlocks Postgres broke in the coordinator's database during the run.
    pub deadlocks: i64,
    /// pgbench, one client: the commits/s of a bare transaction on the same database server.
    pub pgbench_1: Option<f64>,
}

/// The stack, the coordinator apart, and one tenant's staff.
struct Bench {
    settings: Settings,
    coordinator_settings: Settings,
    tenant: Uuid,
    services: Stack,
    coordinator: Option<Stack>,
    /// Where an unreachable coordinator's calls hang.
    silent: Option<std::net::TcpListener>,
    /// The shared journey fixture, as this tenant's staff.
    journey: Journey,
    saga_db: PgPool,
    handover_db: PgPool,
    finance_db: PgPool,
}

impl Bench {
    async fn start(measuring: bool) -> anyhow::Result<Self> {
        anju_testkit::drop_stale_databases().await?;
        let mut settings = anju_testkit::settings();
        super::pools(&mut settings, measuring);
        let others: Vec<&'static str> = SERVICES.iter().copied().filter(|s| *s != "saga").collect();
        let services = Stack::start(&settings, &others, CancellationToken::new()).await?;
        let mut coordinator_settings = settings.clone();
        for (name, port) in services.ports() {
            coordinator_settings
                .grpc
                .endpoints
                .insert(name.to_string(), format!("http://127.0.0.1:{port}"));
        }
        let tenant = Uuid::now_v7();
        // The coordinator runs in a stack of its own, started later: the journey's operator
        // client (which the benchmark never calls) points at the configured port meanwhile.
        let at = |service: &str, subject: &str, roles: &[Role]| {
            let port = services
                .port(service)
                .unwrap_or_else(|| settings.grpc_port(service));
            client::authed(
                "127.0.0.1",
                port,
                &anju_testkit::token_for(tenant, subject, roles),
            )
        };
        let staff = Staff::new(at)?;
        let mut journey = Journey::open(staff, "SAGA-BENCH", "bench-").await?;
        journey.patience = Duration::from_secs(300);
        journey.poll = POLL;
        journey.price = PRICE;
        let connect = |service: &str| PgPool::connect_lazy(&settings.database_url(service));
        let bench = Bench {
            saga_db: connect("saga")?,
            handover_db: connect("handover")?,
            finance_db: connect("finance")?,
            coordinator_settings,
            tenant,
            services,
            coordinator: None,
            silent: None,
            journey,
            settings,
        };
        Ok(bench)
    }

    /// Starts the coordinator; with `reachable` false, the services it commands are pointed at
    /// a socket that accepts connections and never answers (services hanging), so the
    /// transitions it makes are measured without the work they cause downstream: its calls
    /// wait, and the stopping coordinator hands their claims back.
    async fn start_coordinator(&mut self, reachable: bool) -> anyhow::Result<()> {
        let mut settings = self.coordinator_settings.clone();
        self.silent = None;
        if !reachable {
            let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
            let port = silent.local_addr()?.port();
            for endpoint in settings.grpc.endpoints.values_mut() {
                *endpoint = format!("http://127.0.0.1:{port}");
            }
            self.silent = Some(silent);
        }
        let stack = Stack::start(&settings, &["saga"], CancellationToken::new()).await?;
        self.coordinator = Some(stack);
        Ok(())
    }

    async fn stop_coordinator(&mut self) -> anyhow::Result<()> {
        if let Some(stack) = self.coordinator.take() {
            stack.stop().await?;
        }
        Ok(())
    }

    /// A building of `n` units, each sold through subscription, deposits and contract.
    async fn sold_building(&self, name: &str, n: usize) -> anyhow::Result<(String, Vec<String>)> {
        let mut sales = self.journey.staff.manager.clone();
        let building = sales
            .create_building(pb::CreateBuildingRequest {
                request_id: format!("bench-building-{name}"),
                project_id: self.journey.project_id.clone(),
                name: name.into(),
                floors: 30,
            })
            .await?
            .into_inner()
            .building
            .context("building")?;
        let rows = (0..n)
            .map(|i| pb::ImportUnitRow {
                unit_number: format!("{name}-{i:05}"),
                floor: 1 + (i % 30) as i32,
                layout: "2房1廳".into(),
                forecast_area: Some(Area {
                    square_centimetres: 850_000,
                }),
                list_price: cny(PRICE),
                orientation: "south".into(),
            })
            .collect();
        let units: Vec<pb::Unit> = sales
            .import_units(tokio_stream::iter([pb::ImportUnitsRequest {
                request_id: format!("bench-import-{name}"),
                building_id: building.building_id.clone(),
                rows,
            }]))
            .await?
            .into_inner()
            .units;
        let sold = stream::iter(units.iter().enumerate())
            .map(|(i, unit)| {
                let buyer = Buyer {
                    phone: format!("13{}{i:08}", if name == "drain" { 5 } else { 6 }),
                    name: format!("Owner {name}-{i}"),
                    id_number: ID_NUMBER.into(),
                };
                async move { self.journey.sell(unit, &buyer).await }
            })
            .buffer_unordered(SELLERS)
            .collect::<Vec<_>>()
            .await;
        for outcome in sold {
            outcome?;
        }
        Ok((
            building.building_id,
            units.into_iter().map(|u| u.unit_id).collect(),
        ))
    }

    /// The handover batch of building `building_id`'s `units` units.
    async fn batch(&self, building_id: &str, units: usize) -> anyhow::Result<hv::Batch> {
        self.journey.batch(units, Some(building_id)).await
    }

    /// Waits, outside what is measured, until handover knows the building's contracted units.
    async fn contracted(&self, building_id: &str, units: usize) -> anyhow::Result<()> {
        self.journey.contracted(units, Some(building_id)).await
    }

    /// Waits for the clearance and handover's record of the settled fees, then hands the keys
    /// over.
    async fn keys(&self, unit_id: &str) -> anyhow::Result<()> {
        self.journey.wait_cleared(unit_id).await?;
        self.journey
            .release(unit_id, &format!("keys-{unit_id}"))
            .await??;
        Ok(())
    }

    /// Waits until `sql` (a count) on `pool` reaches `target`.
    async fn until(pool: &PgPool, sql: &str, target: i64, what: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_one(pool)
                .await?;
            if n >= target {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "{what}: {n} of {target}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Every event the services wrote is on the bus.
    async fn all_published(&self) -> anyhow::Result<()> {
        for pool in [&self.handover_db, &self.finance_db] {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let left: i64 =
                    sqlx::query_scalar("select count(*) from outbox where published_at is null")
                        .fetch_one(pool)
                        .await?;
                if left == 0 {
                    break;
                }
                anyhow::ensure!(Instant::now() < deadline, "{left} events unpublished");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// Transitions of move-in sagas after `since`, and the seconds from the first of them to
    /// now (the caller has just seen the last one; polled every 5 ms). The database and this
    /// process read one clock. A transition's timestamp is its transaction's start, so the
    /// coordinator's own start-up is not counted.
    async fn drained(&self, since: chrono::DateTime<chrono::Utc>) -> anyhow::Result<Drain> {
        let now = chrono::Utc::now();
        let (transitions, transactions, first): (i64, i64, Option<chrono::DateTime<chrono::Utc>>) =
            sqlx::query_as(
                "select count(*), count(distinct h.at), min(h.at)
                 from saga_history h join sagas s using (saga_id)
                 where s.flow = 'move_in' and h.at > $1",
            )
            .bind(since)
            .fetch_one(&self.saga_db)
            .await?;
        let seconds = first
            .and_then(|first| (now - first).to_std().ok())
            .unwrap_or_default()
            .as_secs_f64();
        Ok(Drain {
            transitions,
            transactions,
            seconds,
        })
    }

    async fn now(&self) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
        Ok(sqlx::query_scalar("select now()")
            .fetch_one(&self.saga_db)
            .await?)
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        self.stop_coordinator().await?;
        self.services.stop().await?;
        anju_testkit::cleanup(&self.settings).await?;
        Ok(())
    }
}

/// `units` move-ins drained from backlogs, then `journeys` journeys by `owners` owners.
pub async fn run(units: usize, journeys: usize, owners: usize) -> anyhow::Result<Report> {
    let mut bench = Bench::start(units >= super::MEASURING_FROM).await?;
    bench.start_coordinator(true).await?;
    eprintln!("saga bench: selling {} units", units + journeys);
    let (drain_building, drain_units) = bench.sold_building("drain", units).await?;
    let (journey_building, journey_units) = bench.sold_building("journey", journeys).await?;
    Bench::until(
        &bench.handover_db,
        "select count(*) from contracts where active",
        (units + journeys) as i64,
        "handover to learn the contracts",
    )
    .await?;

    // 1. Starts: the batch opens while the coordinator is down; it drains the backlog.
    eprintln!("saga bench: backlog of {units} batch entries");
    bench.stop_coordinator().await?;
    bench.batch(&drain_building, units).await?;
    bench.all_published().await?;
    let since = bench.now().await?;
    bench.start_coordinator(false).await?;
    // Each unit: its start (two charges), its notice scheduled by the plan's approval (a
    // timer) and the notice date come (the notice by post and by SMS).
    let started = format!(
        "select count(*) from saga_timers t join sagas s using (saga_id)
         where s.flow = 'move_in' and s.tenant_id = '{}' and t.name = 'notice' and t.fired_at is not null",
        bench.tenant
    );
    Bench::until(
        &bench.saga_db,
        &started,
        units as i64,
        "move-ins started, notices sent",
    )
    .await?;
    let starts = bench.drained(since).await?;
    // The services come back into reach: the commands go out (after their retry delay).
    bench.stop_coordinator().await?;
    bench.start_coordinator(true).await?;
    let fees: Vec<Vec<finance::Charge>> = stream::iter(&drain_units)
        .map(|unit_id| bench.journey.charges(unit_id, "handover:", 2))
        .buffer_unordered(SELLERS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(fees.len() == units);
    // The notices go out on the coordinator's timer, after the charges: the owners need them.
    Bench::until(
        &bench.handover_db,
        &format!(
            "select count(*) from handovers where notice_sent_at is not null and tenant_id = '{}'",
            bench.tenant
        ),
        units as i64,
        "the move-in notices",
    )
    .await?;

    // 2. Settlements and inspections: all in while the coordinator is down; it drains them.
    eprintln!(
        "saga bench: backlog of {} payments and inspections",
        2 * units
    );
    bench.stop_coordinator().await?;
    let inputs = stream::iter(&drain_units)
        .map(|unit_id| bench.journey.paid_and_passed(unit_id))
        .buffer_unordered(SELLERS)
        .collect::<Vec<_>>()
        .await;
    for input in inputs {
        input?;
    }
    bench.all_published().await?;
    let since = bench.now().await?;
    bench.start_coordinator(false).await?;
    let cleared = format!(
        "select count(*) from sagas where flow = 'move_in' and tenant_id = '{}' and state in ('cleared', 'keys_released')",
        bench.tenant
    );
    Bench::until(&bench.saga_db, &cleared, units as i64, "move-ins cleared").await?;
    let inputs = bench.drained(since).await?;
    bench.stop_coordinator().await?;
    bench.start_coordinator(true).await?;
    let released = stream::iter(&drain_units)
        .map(|unit_id| bench.keys(unit_id))
        .buffer_unordered(SELLERS)
        .collect::<Vec<_>>()
        .await;
    for r in released {
        r?;
    }
    let ended = format!(
        "select count(*) from sagas where flow = 'move_in' and tenant_id = '{}' and state = 'keys_released'",
        bench.tenant
    );
    Bench::until(&bench.saga_db, &ended, units as i64, "move-ins ended").await?;

    // 3. Journeys with the coordinator running: owners in parallel, each unit start to keys.
    eprintln!("saga bench: {journeys} journeys by {owners} owners");
    let since = bench.now().await?;
    bench.contracted(&journey_building, journeys).await?;
    // The batch is made ready (created, its fees charged; its plan, books and keys recorded);
    // the run starts at the plan's approval, which sends the notices.
    let batch = bench
        .journey
        .ready_batch(journeys, Some(&journey_building))
        .await?;
    let began = Instant::now();
    bench.journey.approve_plan(&batch.batch_id).await?;
    // The batch opening is a burst (every unit's fees and notice at once); the owners come
    // once it is out, so the latencies below are the steady state, not the burst.
    let open = format!(
        "select count(*) from saga_commands c join sagas s using (saga_id)
         where s.flow = 'move_in' and s.tenant_id = '{}' and c.status = 'done'",
        bench.tenant
    );
    Bench::until(
        &bench.saga_db,
        &open,
        // Per unit two charges and the notice by post and by SMS; per drained unit its clearance.
        4 * (units + journeys) as i64 + units as i64,
        "the batch's fees and notices",
    )
    .await?;
    let opened = began.elapsed().as_secs_f64();
    let bench = Arc::new(bench);
    let done = stream::iter(journey_units.clone())
        .map(|unit_id| {
            let bench = bench.clone();
            async move {
                bench.journey.paid_and_passed(&unit_id).await?;
                bench.keys(&unit_id).await
            }
        })
        .buffer_unordered(owners)
        .collect::<Vec<_>>()
        .await;
    for d in done {
        d?;
    }
    let elapsed = began.elapsed().as_secs_f64();
    let journey_transitions = bench.drained(since).await?.transitions;
    let latencies = clearance_latencies(&bench, &journey_units).await?;
    let hops = hops(&bench, &journey_units).await?;
    let deadlocks: i64 = sqlx::query_scalar(
        "select deadlocks from pg_stat_database where datname = current_database()",
    )
    .fetch_one(&bench.saga_db)
    .await?;
    let bench = Arc::into_inner(bench).context("bench still shared")?;
    bench.stop().await?;
    Ok(Report {
        units,
        journeys,
        owners,
        starts,
        inputs,
        journeys_per_second: journeys as f64 / elapsed,
        opened,
        journey_transitions_per_second: journey_transitions as f64 / elapsed,
        p50: quantile(&latencies, 0.5),
        p99: quantile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        hops,
        deadlocks,
        pgbench_1: super::pgbench().get("tps_1").copied(),
    })
}

/// Per unit: clearance time − the later of fees settled and inspection passed, sorted.
async fn clearance_latencies(bench: &Bench, units: &[String]) -> anyhow::Result<Vec<Duration>> {
    let ids: Vec<Uuid> = units.iter().map(|u| u.parse()).collect::<Result<_, _>>()?;
    let handovers: Vec<(
        Uuid,
        chrono::DateTime<chrono::Utc>,
        chrono::DateTime<chrono::Utc>,
    )> = sqlx::query_as(
        "select unit_id, inspection_passed_at, cleared_at from handovers
             where unit_id = any($1) and cleared_at is not null",
    )
    .bind(&ids)
    .fetch_all(&bench.handover_db)
    .await?;
    let groups: Vec<String> = units.iter().map(|u| format!("handover:{u}")).collect();
    let settled: Vec<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "select settlement_group, settled_at from settlement_groups
         where settlement_group = any($1) and settled_at is not null",
    )
    .bind(&groups)
    .fetch_all(&bench.finance_db)
    .await?;
    let mut latencies: Vec<Duration> = handovers
        .into_iter()
        .filter_map(|(unit, passed, cleared)| {
            let key = format!("handover:{unit}");
            let paid = settled.iter().find(|(g, _)| *g == key)?.1;
            (cleared - passed.max(paid)).to_std().ok()
        })
        .collect();
    anyhow::ensure!(
        latencies.len() == units.len(),
        "{} of {} units have all three timestamps",
        latencies.len(),
        units.len()
    );
    latencies.sort();
    Ok(latencies)
}

type At = chrono::DateTime<chrono::Utc>;

/// For units whose inspection came after their fees: the inspection's commit to the event on
/// the bus (relay), to the coordinator's transition (consumer), to the clearance command's
/// claim (dispatcher wake-up), to the clearance committed in handover (the gRPC call).
async fn hops(
    bench: &Bench,
    units: &[String],
) -> anyhow::Result<Vec<(&'static str, Duration, Duration)>> {
    let ids: Vec<Uuid> = units.iter().map(|u| u.parse()).collect::<Result<_, _>>()?;
    let handover: Vec<(Uuid, At, At, At)> = sqlx::query_as(
        "select h.unit_id, o.created_at, o.published_at, h.cleared_at
         from handovers h join outbox o
           on o.aggregate_id = h.unit_id::text and o.event_type = 'anju.events.v1.InspectionRecorded'
         where h.unit_id = any($1) and o.published_at is not null and h.cleared_at is not null",
    )
    .bind(&ids)
    .fetch_all(&bench.handover_db)
    .await?;
    let groups: Vec<String> = units.iter().map(|u| format!("handover:{u}")).collect();
    let settled: Vec<(String, At)> = sqlx::query_as(
        "select settlement_group, settled_at from settlement_groups
         where settlement_group = any($1) and settled_at is not null",
    )
    .bind(&groups)
    .fetch_all(&bench.finance_db)
    .await?;
    let keys: Vec<String> = units.to_vec();
    let coordinator: Vec<(String, At, At)> = sqlx::query_as(
        "select s.saga_key, h.at, c.claimed_at
         from sagas s
         join saga_history h on h.saga_id = s.saga_id and h.input like 'event InspectionRecorded%'
         join saga_commands c on c.saga_id = s.saga_id and c.method = 'GrantKeyClearance'
         where s.flow = 'move_in' and s.saga_key = any($1) and c.claimed_at is not null",
    )
    .bind(&keys)
    .fetch_all(&bench.saga_db)
    .await?;
    let mut relay = Vec::new();
    let mut consume = Vec::new();
    let mut wake = Vec::new();
    let mut call = Vec::new();
    for (unit, inspected, published, cleared) in handover {
        let paid = settled
            .iter()
            .find(|(g, _)| *g == format!("handover:{unit}"))
            .map(|(_, at)| *at);
        let Some((_, transition, claimed)) =
            coordinator.iter().find(|(k, _, _)| *k == unit.to_string())
        else {
            continue;
        };
        if paid.is_none_or(|paid| paid > inspected) {
            continue;
        }
        let span = |from: At, to: At| (to - from).to_std().unwrap_or_default();
        relay.push(span(inspected, published));
        consume.push(span(published, *transition));
        wake.push(span(*transition, *claimed));
        call.push(span(*claimed, cleared));
    }
    Ok([
        ("inspection committed → on the bus (relay)", relay),
        ("on the bus → transition (coordinator's consumer)", consume),
        ("transition → clearance command claimed (dispatcher)", wake),
        ("claimed → clearance committed (gRPC to handover)", call),
    ]
    .into_iter()
    .map(|(name, mut samples)| {
        samples.sort();
        (name, quantile(&samples, 0.5), quantile(&samples, 0.99))
    })
    .collect())
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::from("### Saga coordinator: move-in journeys and transitions\n\n");
        out += "| measurement | transitions | transactions | seconds | transitions/s |\n|---|---|---|---|---|\n";
        for (name, d) in [
            (
                "backlog drain, commanded services hanging: move-in starts (per unit: added to the batch, 2 charges; notice scheduled, a timer; the notice date, 2 notices)",
                &self.starts,
            ),
            (
                "backlog drain, commanded services hanging: fees settled + inspection passed (the second grants clearance)",
                &self.inputs,
            ),
        ] {
            out += &format!(
                "| {name} | {} | {} | {:.2} | {:.0} |\n",
                d.transitions,
                d.transactions,
                d.seconds,
                d.per_second()
            );
        }
        let drained = (self.starts.transitions + self.inputs.transitions) as f64
            / (self.starts.seconds + self.inputs.seconds).max(1e-6);
        out += &format!(
            "\n- {} units drained from backlogs: {:.0} transitions/s overall{}\n",
            self.units,
            drained,
            self.pgbench_1
                .map(|tps| format!(
                    "; pgbench's single-client commit rate on this server is {tps:.0}/s, and the coordinator commits a consumer's batch of inputs in one transaction"
                ))
                .unwrap_or_default()
        );
        out += &format!(
            "- {} journeys end to end (batch → fees charged → notice → check-in → fees paid → inspection → clearance → keys) by {} concurrent owners: {:.1} journeys/s, {:.0} transitions/s\n",
            self.journeys,
            self.owners,
            self.journeys_per_second,
            self.journey_transitions_per_second
        );
        out += &format!(
            "- of which opening the batch (from the approval of its plan, made ready before with its books and every unit's keys: every unit's two charges and notice by post and SMS delivered, {} commands): {:.2} s; the owners start after it\n",
            4 * self.journeys,
            self.opened
        );
        out += &format!(
            "- last input → clearance during the journeys: p50 {}, p99 {}, max {}\n",
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        );
        out += "\n| hop (inspection the last input) | p50 | p99 |\n|---|---|---|\n";
        for (hop, p50, p99) in &self.hops {
            out += &format!("| {hop} | {} | {} |\n", ms(*p50), ms(*p99));
        }
        out += &format!(
            "\n- deadlocks in the coordinator's database during the run: {}\n",
            self.deadlocks
        );
        out += &format!(
            "- targets: ≥ 1,000 transitions/s: {}; p99 last input → clearance < 100 ms: {}\n",
            if drained >= 1_000.0 { "met" } else { "NOT met" },
            if self.p99 < Duration::from_millis(100) {
                "met"
            } else {
                "NOT met"
            }
        );
        out
    }
}
