//! Outbox to inbox: events per second sustained, and commit-to-commit latency at a fixed
//! 200 events/s, on the real Postgres and JetStream.
//!
//! A producer database commits one state row and one outbox row per event; the relay
//! publishes; a durable consumer applies each event to a second database through its inbox.
//! The consumer's effect raises a NOTIFY, which Postgres delivers only at commit, so the
//! latency measured is from the producer's commit to the consumer's commit.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anju_messaging::{
    Bus, Consumer, ConsumerConfig, Event, EventMeta, Handler, HandlerError, Outbox, Relay,
    RelayConfig,
};
use anju_proto::{EventPayload, events::Probe};
use anyhow::Context;
use sqlx::{PgConnection, PgPool, postgres::PgListener};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{ms, pgbench, quantile};

/// The consumer's effect: one row per event. While `timed` is set (the latency run), it also
/// raises a NOTIFY, which Postgres delivers at commit, to timestamp the consumer's commit; the
/// throughput run leaves it out, so measuring does not weigh on what is measured.
struct Applied {
    timed: Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait::async_trait]
impl Handler for Applied {
    fn wants(&self, event_type: &str) -> bool {
        event_type == Probe::EVENT_TYPE
    }

    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        let probe: Probe = event.decode().map_err(HandlerError::Permanent)?;
        sqlx::query("insert into bench_applied (probe_id) values ($1)")
            .bind(&probe.probe_id)
            .execute(&mut *conn)
            .await?;
        if self.timed.load(std::sync::atomic::Ordering::Relaxed) {
            sqlx::query("select pg_notify('bench_applied', $1)")
                .bind(&probe.probe_id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

pub struct Report {
    pub events: usize,
    pub producers: usize,
    /// How fast the producers committed (state row + outbox row per transaction).
    pub committed_per_second: f64,
    pub events_per_second: f64,
    pub commits_per_event: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub rate: u32,
}

/// Transaction ids handed out so far, cluster-wide: every writing transaction takes one, so the
/// difference across the run counts the write transactions (the benchmark runs alone).
async fn xids(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("select pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
            .fetch_one(pool)
            .await?,
    )
}

async fn produce(pool: &PgPool, outbox: &Outbox, tenant: Uuid) -> anyhow::Result<String> {
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    sqlx::query("insert into bench_orders (id) values ($1)")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let probe = Probe {
        probe_id: id.to_string(),
        note: String::new(),
    };
    outbox
        .append(&mut tx, EventMeta::new(tenant, "order", id), &probe)
        .await?;
    tx.commit().await?;
    Ok(id.to_string())
}

pub async fn run(
    sustained_events: usize,
    producers: usize,
    rate: u32,
    seconds: u64,
) -> anyhow::Result<Report> {
    let mut settings = anju_testkit::settings();
    settings.database.max_connections = (producers as u32 + 16).max(48);
    let producer =
        anju_kit::db::connect_service(&settings, "benchproducer", &[&anju_messaging::migrator()])
            .await?;
    let consumer =
        anju_kit::db::connect_service(&settings, "benchconsumer", &[&anju_messaging::migrator()])
            .await?;
    sqlx::query("create table if not exists bench_orders (id uuid primary key)")
        .execute(&producer)
        .await?;
    sqlx::query("create table if not exists bench_applied (probe_id text primary key)")
        .execute(&consumer)
        .await?;

    let bus = Bus::connect(&settings.nats).await?;
    bus.ensure_stream("benchproducer").await?;
    let outbox = Outbox::new(&bus, "benchproducer");
    let shutdown = CancellationToken::new();
    tokio::spawn(
        Relay::new(producer.clone(), bus.clone(), RelayConfig::default()).run(shutdown.clone()),
    );
    let timed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let config = ConsumerConfig::new("benchconsumer-from-benchproducer", "benchproducer", 5);
    tokio::spawn(
        Consumer::new(
            consumer.clone(),
            bus.clone(),
            config,
            Arc::new(Applied {
                timed: timed.clone(),
            }),
        )
        .run(shutdown.clone()),
    );

    // Every consumer commit, timestamped as the notification arrives.
    let applied: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut listener = PgListener::connect_with(&consumer).await?;
    listener.listen("bench_applied").await?;
    {
        let applied = applied.clone();
        tokio::spawn(async move {
            while let Ok(n) = listener.recv().await {
                applied
                    .lock()
                    .expect("lock")
                    .insert(n.payload().to_string(), Instant::now());
            }
        });
    }
    let tenant = Uuid::now_v7();
    let wait_applied = |count: usize| {
        let consumer = consumer.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let applied: i64 = sqlx::query_scalar("select count(*) from bench_applied")
                    .fetch_one(&consumer)
                    .await?;
                if applied as usize >= count {
                    return Ok::<(), anyhow::Error>(());
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "events were not all applied within 120 s"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };

    // Warm-up: streams, consumers, connection pools.
    for _ in 0..200 {
        produce(&producer, &outbox, tenant).await?;
    }
    wait_applied(200).await?;

    // 1. Sustained: `producers` concurrent producers until `sustained_events` are applied.
    let commits_before = xids(&producer).await?;
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..producers {
        let (pool, outbox, next) = (producer.clone(), outbox.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < sustained_events {
                produce(&pool, &outbox, tenant).await?;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for p in tasks {
        p.await.context("producer task")??;
    }
    let produced = started.elapsed();
    wait_applied(200 + sustained_events).await?;
    let elapsed = started.elapsed();
    let commits_after = xids(&producer).await?;
    let commits_per_event = (commits_after - commits_before) as f64 / sustained_events as f64;

    // 2. Latency at a fixed rate.
    timed.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut committed: Vec<(String, Instant)> = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let total = rate as usize * seconds as usize;
    for _ in 0..total {
        ticker.tick().await;
        let id = produce(&producer, &outbox, tenant).await?;
        committed.push((id, Instant::now()));
    }
    wait_applied(200 + sustained_events + total).await?;
    // The notifications follow the commits within milliseconds.
    let deadline = Instant::now() + Duration::from_secs(5);
    while committed
        .iter()
        .any(|(id, _)| !applied.lock().expect("lock").contains_key(id))
    {
        anyhow::ensure!(Instant::now() < deadline, "commit notifications missing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut latencies: Vec<Duration> = {
        let applied = applied.lock().expect("lock");
        committed
            .iter()
            .filter_map(|(id, at)| {
                applied
                    .get(id)
                    .map(|done| done.saturating_duration_since(*at))
            })
            .collect()
    };
    latencies.sort();
    shutdown.cancel();
    anju_testkit::cleanup(&settings).await?;

    Ok(Report {
        events: sustained_events,
        producers,
        committed_per_second: sustained_events as f64 / produced.as_secs_f64(),
        events_per_second: sustained_events as f64 / elapsed.as_secs_f64(),
        commits_per_event,
        p50: quantile(&latencies, 0.50),
        p99: quantile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        rate,
    })
}

impl Report {
    /// A Markdown section comparing the result with the pgbench baseline and the targets.
    pub fn markdown(&self) -> String {
        let baseline = pgbench();
        let mut out =
            String::from("### Outbox → JetStream → inbox\n\n| measure | value |\n|---|---|\n");
        out += &format!(
            "| sustained events/s ({} events, {} producers) | {:.0} |\n",
            self.events, self.producers, self.events_per_second
        );
        out += &format!(
            "| producers' own commit rate (state + outbox row per transaction) | {:.0} |\n",
            self.committed_per_second
        );
        out += &format!(
            "| Postgres write transactions per event (producer, relay, consumer; measured) | {:.2} |\n",
            self.commits_per_event
        );
        out += &format!(
            "| commit→commit latency at {} events/s: p50 / p99 / max | {} / {} / {} |\n",
            self.rate,
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        );
        for (key, label) in [("tps_1", "1 client"), ("tps_64", "64 clients")] {
            if let Some(tps) = baseline.get(key) {
                let ceiling = tps / self.commits_per_event;
                out += &format!(
                    "| pgbench single-row insert TPS, {label} | {tps:.0} → {:.0} events/s at {:.2} commits/event; anju reaches {:.0} % of it |\n",
                    ceiling,
                    self.commits_per_event,
                    100.0 * self.events_per_second / ceiling
                );
            }
        }
        out += "\n";
        for (key, label) in [("tps_1", "1 client"), ("tps_64", "64 clients")] {
            if let Some(tps) = baseline.get(key) {
                let needed = 0.5 * tps / self.commits_per_event;
                out += &format!(
                    "- target ≥ 50 % of pgbench ({label}) / commits per event = {needed:.0} events/s: {}\n",
                    if self.events_per_second >= needed {
                        "met"
                    } else {
                        "NOT met"
                    }
                );
            }
        }
        if baseline.is_empty() {
            out += "- pgbench baseline missing: run `make bench`, which measures it first\n";
        }
        out += &format!(
            "- target p99 < 50 ms at 200 events/s: {}\n",
            if self.p99 < Duration::from_millis(50) {
                "met"
            } else {
                "NOT met"
            }
        );
        out
    }
}
