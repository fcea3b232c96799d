//! The event backbone end to end, against real Postgres and real NATS JetStream.
//!
//! Two "services" each own a database: `producer` writes a widget and a `Probe` event in one
//! transaction (transactional outbox); `consumer` applies each probe to its `applied` table
//! through [`Consumer`] (inbox in the same transaction). The effect is an *upsert that counts*,
//! so a duplicate application shows up as `applied_count = 2` instead of being absorbed.
//!
//! Every test owns its databases, subject prefix, streams and durable consumer (from
//! `anju_testkit::settings()`), so the tests run in parallel on the shared servers; the
//! NATS-restart test runs against a private, killable `nats-server`.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anju_messaging::{
    ConsumerConfig, ConsumerFailpoint, EventMeta, RelayConfig, RelayFailpoint, dlq,
};
use anju_proto::events::Probe;
use anju_testkit::NatsServer;
use fixture::{Fixture, Poison};

/// Upper bound for anything that should take well under a second (generous for a loaded CI box).
const SOON: Duration = Duration::from_secs(20);

mod fixture {
    use std::{
        collections::HashMap,
        sync::{Arc, Mutex},
        time::Duration,
    };

    use anju_kit::{Settings, telemetry};
    use anju_messaging::{
        Bus, Consumer, ConsumerConfig, Event, EventMeta, Handler, HandlerError, Outbox, Relay,
        RelayConfig,
    };
    use anju_proto::{EventPayload, events::Probe};
    use anyhow::Context;
    use async_nats::jetstream::consumer::{Info as ConsumerInfo, pull};
    use sqlx::{Connection, PgConnection, PgPool};
    use tokio::task::JoinHandle;
    use tokio_util::sync::CancellationToken;
    use tracing::Instrument;
    use uuid::Uuid;

    pub const PRODUCER: &str = "producer";
    pub const CONSUMER: &str = "consumer";
    /// Durable name of the consuming service's subscription to the producer's stream.
    pub const DURABLE: &str = "consumer-from-producer";

    /// The consuming service's effect table: one row per probe, counting applications.
    const CONSUMER_SCHEMA: &str = "create table if not exists applied (
        probe_id      text        primary key,
        applied_count int         not null,
        trace_id      text        not null,
        applied_at    timestamptz not null default now()
    )";
    const PRODUCER_SCHEMA: &str = "create table if not exists widgets (
        id   uuid primary key,
        name text not null
    )";

    /// Spans carry OpenTelemetry ids (the level filter applies to log output only).
    fn init_tracing() {
        anju_kit::telemetry::init_for_tests();
    }

    /// How the handler treats one probe id.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Poison {
        /// Fails with `HandlerError::Transient` on every attempt.
        Transient,
        /// Fails with `HandlerError::Permanent`.
        Permanent,
        /// Takes this long, then applies.
        Slow(Duration),
    }

    /// The consuming service's handler: upserts a counting row per probe.
    #[derive(Default)]
    pub struct ProbeHandler {
        /// Handler invocations per probe id (duplicates skipped by the inbox never get here).
        attempts: Mutex<HashMap<String, u32>>,
        poison: Mutex<HashMap<String, Poison>>,
    }

    impl ProbeHandler {
        pub fn poison(&self, probe_id: &str, how: Poison) {
            self.poison
                .lock()
                .unwrap()
                .insert(probe_id.to_string(), how);
        }

        pub fn cure(&self, probe_id: &str) {
            self.poison.lock().unwrap().remove(probe_id);
        }

        pub fn attempts(&self, probe_id: &str) -> u32 {
            self.attempts
                .lock()
                .unwrap()
                .get(probe_id)
                .copied()
                .unwrap_or(0)
        }
    }

    #[async_trait::async_trait]
    impl Handler for ProbeHandler {
        fn wants(&self, event_type: &str) -> bool {
            event_type == Probe::EVENT_TYPE
        }

        async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
            let probe: Probe = event.decode().map_err(HandlerError::Permanent)?;
            *self
                .attempts
                .lock()
                .unwrap()
                .entry(probe.probe_id.clone())
                .or_default() += 1;
            let poison = self.poison.lock().unwrap().get(&probe.probe_id).copied();
            match poison {
                Some(Poison::Transient) => {
                    return Err(HandlerError::Transient(anyhow::anyhow!(
                        "probe {} is not ready yet",
                        probe.probe_id
                    )));
                }
                Some(Poison::Permanent) => {
                    return Err(HandlerError::Permanent(anyhow::anyhow!(
                        "probe {} is malformed",
                        probe.probe_id
                    )));
                }
                Some(Poison::Slow(takes)) => tokio::time::sleep(takes).await,
                None => {}
            }
            let trace_id = telemetry::trace_id_of(&tracing::Span::current());
            sqlx::query(
                "insert into applied (probe_id, applied_count, trace_id) values ($1, 1, $2)
                 on conflict (probe_id) do update set applied_count = applied.applied_count + 1",
            )
            .bind(&probe.probe_id)
            .bind(trace_id)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }
    }

    /// A relay or consumer running as a task: stopped cleanly, or ended by its failpoint (a kill).
    pub struct Running {
        token: CancellationToken,
        handle: JoinHandle<anyhow::Result<()>>,
    }

    impl Running {
        fn spawn<F>(run: impl FnOnce(CancellationToken) -> F) -> Self
        where
            F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
        {
            let token = CancellationToken::new();
            let handle = tokio::spawn(run(token.clone()));
            Self { token, handle }
        }

        /// Clean shutdown: cancels and waits; the run must end without error.
        pub async fn stop(self) -> anyhow::Result<()> {
            self.token.cancel();
            tokio::time::timeout(Duration::from_secs(10), self.handle)
                .await
                .context("did not stop within 10 s")??
        }

        /// Waits for the task to end by itself (a failpoint) and returns its result.
        pub async fn finished(self) -> anyhow::Result<()> {
            let mut handle = self.handle;
            match tokio::time::timeout(Duration::from_secs(30), &mut handle).await {
                Ok(result) => result?,
                Err(_) => {
                    handle.abort();
                    anyhow::bail!("did not end by itself within 30 s")
                }
            }
        }
    }

    /// Two services' databases, the bus and a handler, per test.
    pub struct Fixture {
        pub settings: Settings,
        pub producer: PgPool,
        pub consumer: PgPool,
        pub bus: Bus,
        pub outbox: Outbox,
        pub handler: Arc<ProbeHandler>,
        pub tenant: Uuid,
    }

    impl Fixture {
        /// Fresh databases and subject prefix on the shared servers.
        pub async fn new() -> anyhow::Result<Self> {
            Self::with_settings(settings()).await
        }

        pub async fn with_settings(settings: Settings) -> anyhow::Result<Self> {
            let messaging = anju_messaging::migrator();
            let producer =
                anju_kit::db::connect_service(&settings, PRODUCER, &[&messaging]).await?;
            sqlx::query(PRODUCER_SCHEMA).execute(&producer).await?;
            let consumer =
                anju_kit::db::connect_service(&settings, CONSUMER, &[&messaging]).await?;
            sqlx::query(CONSUMER_SCHEMA).execute(&consumer).await?;
            let bus = Bus::connect(&settings.nats).await?;
            let outbox = Outbox::with_prefix(settings.nats.prefix.clone(), PRODUCER);
            Ok(Self {
                settings,
                producer,
                consumer,
                bus,
                outbox,
                handler: Arc::new(ProbeHandler::default()),
                tenant: Uuid::now_v7(),
            })
        }

        /// The producer's business transaction: a widget and its event, committed together.
        pub async fn produce_one(&self, probe_id: &str) -> anyhow::Result<Uuid> {
            self.produce_for(self.tenant, probe_id).await
        }

        /// Like [`Self::produce_one`], for `tenant`.
        pub async fn produce_for(&self, tenant: Uuid, probe_id: &str) -> anyhow::Result<Uuid> {
            let mut tx = self.producer.begin().await?;
            let widget = Uuid::now_v7();
            sqlx::query("insert into widgets (id, name) values ($1, $2)")
                .bind(widget)
                .bind(probe_id)
                .execute(&mut *tx)
                .await?;
            let probe = Probe {
                probe_id: probe_id.to_string(),
                note: "backbone test".into(),
            };
            let event_id = self
                .outbox
                .append(&mut tx, EventMeta::new(tenant, "widget", widget), &probe)
                .await?;
            tx.commit().await?;
            Ok(event_id)
        }

        /// Like [`Self::produce_one`], inside a span; returns the span's trace id.
        pub async fn produce_traced(&self, probe_id: &str) -> anyhow::Result<String> {
            let span = tracing::info_span!("produce", probe_id);
            let trace_id = telemetry::trace_id_of(&span);
            self.produce_one(probe_id).instrument(span).await?;
            Ok(trace_id)
        }

        /// `n` events named `<label>-0` … in `n` transactions; returns their probe ids.
        pub async fn produce(&self, label: &str, n: usize) -> anyhow::Result<Vec<String>> {
            let mut ids = Vec::with_capacity(n);
            for i in 0..n {
                let id = format!("{label}-{i}");
                self.produce_one(&id).await?;
                ids.push(id);
            }
            Ok(ids)
        }

        pub fn consumer_config(&self) -> ConsumerConfig {
            let mut config = ConsumerConfig::new(DURABLE, PRODUCER, self.settings.nats.max_deliver);
            config.ack_wait = Duration::from_secs(1);
            config.backoff = vec![Duration::from_millis(50), Duration::from_millis(100)];
            config
        }

        pub fn relay_config(&self) -> RelayConfig {
            RelayConfig {
                idle_poll: Duration::from_millis(500),
                ..RelayConfig::default()
            }
        }

        pub fn spawn_relay(&self, config: RelayConfig) -> Running {
            let relay = Relay::new(self.producer.clone(), self.bus.clone(), config);
            Running::spawn(|token| relay.run(token))
        }

        pub fn spawn_consumer(&self, config: ConsumerConfig) -> Running {
            let handler: Arc<dyn Handler> = self.handler.clone();
            let consumer = Consumer::new(self.consumer.clone(), self.bus.clone(), config, handler);
            Running::spawn(|token| consumer.run(token))
        }

        /// `applied_count` per probe id in the consumer's database.
        pub async fn counts(&self) -> anyhow::Result<HashMap<String, i32>> {
            let rows: Vec<(String, i32)> =
                sqlx::query_as("select probe_id, applied_count from applied")
                    .fetch_all(&self.consumer)
                    .await?;
            Ok(rows.into_iter().collect())
        }

        pub async fn trace_id_applied(&self, probe_id: &str) -> anyhow::Result<String> {
            Ok(
                sqlx::query_scalar("select trace_id from applied where probe_id = $1")
                    .bind(probe_id)
                    .fetch_one(&self.consumer)
                    .await?,
            )
        }

        pub async fn inbox_rows(&self) -> anyhow::Result<i64> {
            Ok(
                sqlx::query_scalar("select count(*) from inbox where consumer = $1")
                    .bind(DURABLE)
                    .fetch_one(&self.consumer)
                    .await?,
            )
        }

        /// Outbox rows waiting for the relay (not marked published, not quarantined).
        pub async fn unpublished(&self) -> anyhow::Result<i64> {
            Ok(sqlx::query_scalar(
                "select count(*) from outbox where published_at is null and quarantined_at is null",
            )
            .fetch_one(&self.producer)
            .await?)
        }

        /// The stored envelope of an outbox row.
        pub async fn envelope(&self, event_id: Uuid) -> anyhow::Result<Vec<u8>> {
            Ok(
                sqlx::query_scalar("select envelope from outbox where event_id = $1")
                    .bind(event_id)
                    .fetch_one(&self.producer)
                    .await?,
            )
        }

        /// Overwrites an outbox row's envelope, as a bug or a hand edit could.
        pub async fn set_envelope(&self, event_id: Uuid, envelope: &[u8]) -> anyhow::Result<()> {
            sqlx::query("update outbox set envelope = $2 where event_id = $1")
                .bind(event_id)
                .bind(envelope)
                .execute(&self.producer)
                .await?;
            Ok(())
        }

        pub async fn outbox_rows(&self) -> anyhow::Result<i64> {
            Ok(sqlx::query_scalar("select count(*) from outbox")
                .fetch_one(&self.producer)
                .await?)
        }

        /// Messages in the producer's stream (0 when it does not exist yet).
        pub async fn stream_messages(&self) -> anyhow::Result<u64> {
            match self
                .bus
                .jetstream()
                .get_stream(self.bus.stream_name(PRODUCER))
                .await
            {
                Ok(mut stream) => Ok(stream.info().await?.state.messages),
                Err(_) => Ok(0),
            }
        }

        pub async fn durable_info(&self) -> anyhow::Result<ConsumerInfo> {
            let stream = self
                .bus
                .jetstream()
                .get_stream(self.bus.stream_name(PRODUCER))
                .await?;
            let mut consumer = stream
                .get_consumer::<pull::Config>(DURABLE)
                .await
                .map_err(|err| anyhow::anyhow!(err))?;
            Ok(consumer.info().await?.clone())
        }

        /// Waits until the consumer has created the stream and its durable.
        pub async fn wait_consumer_ready(&self) -> anyhow::Result<()> {
            let fx = self;
            anju_testkit::eventually(
                Duration::from_secs(20),
                "the durable consumer",
                || async move { Ok(fx.durable_info().await.ok().map(|_| ())) },
            )
            .await
        }

        /// Waits until every id in `ids` has been applied at least once.
        pub async fn wait_applied(&self, ids: &[String], timeout: Duration) -> anyhow::Result<()> {
            let fx = self;
            anju_testkit::eventually(
                timeout,
                &format!("{} probes applied", ids.len()),
                || async move {
                    let counts = fx.counts().await?;
                    Ok(ids.iter().all(|id| counts.contains_key(id)).then_some(()))
                },
            )
            .await
        }

        /// Waits until nothing is in flight: the outbox is drained and the durable consumer has
        /// acknowledged (or terminated) everything in the stream. After this, a duplicate that
        /// was going to happen has happened.
        pub async fn wait_quiet(&self, timeout: Duration) -> anyhow::Result<()> {
            let fx = self;
            anju_testkit::eventually(
                timeout,
                "outbox drained and every message acked",
                || async move {
                    if fx.unpublished().await? > 0 {
                        return Ok(None);
                    }
                    let last = {
                        let mut stream = fx
                            .bus
                            .jetstream()
                            .get_stream(fx.bus.stream_name(PRODUCER))
                            .await?;
                        stream.info().await?.state.last_sequence
                    };
                    let info = fx.durable_info().await?;
                    Ok((info.num_pending == 0
                        && info.num_ack_pending == 0
                        && info.ack_floor.stream_sequence >= last)
                        .then_some(()))
                },
            )
            .await
        }

        /// The core claim: each of `ids` applied exactly once, and nothing else applied.
        pub async fn assert_exactly_once(&self, ids: &[String]) -> anyhow::Result<()> {
            let counts = self.counts().await?;
            let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
            assert!(twice.is_empty(), "applied more than once: {twice:?}");
            let missing: Vec<_> = ids.iter().filter(|id| !counts.contains_key(*id)).collect();
            assert!(missing.is_empty(), "never applied: {missing:?}");
            assert_eq!(counts.len(), ids.len(), "unexpected extra effects");
            Ok(())
        }
    }

    /// Removes the test's streams and databases, also when the test failed. The work runs on a
    /// thread of its own with its own connections: the test's runtime, blocked in this drop, may
    /// be a current-thread one that could not drive the test's own clients.
    impl Drop for Fixture {
        fn drop(&mut self) {
            let streams = [self.bus.stream_name(PRODUCER), self.bus.dlq_stream_name()];
            let nats_url = self.settings.nats.url.clone();
            let server_url = self.settings.database.url.expose().to_string();
            let databases =
                [PRODUCER, CONSUMER].map(|service| self.settings.database_name(service));
            let cleanup = async move {
                if let Ok(client) = async_nats::connect(&nats_url).await {
                    let js = async_nats::jetstream::new(client);
                    for stream in streams {
                        let _ = js.delete_stream(stream).await;
                    }
                }
                let postgres = anju_kit::config::with_database(&server_url, "postgres");
                if let Ok(mut conn) = PgConnection::connect(&postgres).await {
                    for name in databases {
                        // The name comes from testkit's settings: lowercase letters, digits, '_'.
                        let drop = format!("drop database if exists \"{name}\" with (force)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                            .execute(&mut conn)
                            .await;
                    }
                }
            };
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    tokio::time::timeout(Duration::from_secs(15), cleanup).await
                })?;
                anyhow::Ok(())
            })
            .join();
        }
    }

    /// testkit's per-test settings, with spans that carry trace ids.
    pub fn settings() -> Settings {
        init_tracing();
        anju_testkit::settings()
    }
}

/// Case 1: 50 events, each committed with its widget, reach the consumer exactly once; every
/// outbox row ends marked published. The relay's poll is set to a minute, so arrival within
/// seconds proves it is woken by the commit-time notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_other_service_exactly_once() -> anyhow::Result<()> {
    let fx = Fixture::new().await?;
    let relay = fx.spawn_relay(RelayConfig {
        idle_poll: Duration::from_secs(60),
        ..RelayConfig::default()
    });
    let consumer = fx.spawn_consumer(fx.consumer_config());

    // Let the relay start listening and the consumer create the stream and durable first,
    // so the measured latency is the steady-state one.
    fx.wait_consumer_ready().await?;
    let started = Instant::now();
    let ids = fx.produce("happy", 50).await?;
    fx.wait_applied(&ids, SOON).await?;
    let elapsed = started.elapsed();
    fx.wait_quiet(SOON).await?;

    fx.assert_exactly_once(&ids).await?;
    assert_eq!(fx.outbox_rows().await?, 50);
    assert_eq!(
        fx.unpublished().await?,
        0,
        "every outbox row is marked published"
    );
    assert_eq!(fx.inbox_rows().await?, 50);
    assert_eq!(
        fx.stream_messages().await?,
        50,
        "one stream message per event"
    );

    // Latency sanity: commit (outbox created_at) to effect (applied_at), on one Postgres clock.
    let produced: HashMap<String, f64> = sqlx::query_as(
        "select w.name, extract(epoch from o.created_at)::float8
         from outbox o join widgets w on w.id::text = o.aggregate_id",
    )
    .fetch_all(&fx.producer)
    .await?
    .into_iter()
    .collect();
    let applied: Vec<(String, f64)> =
        sqlx::query_as("select probe_id, extract(epoch from applied_at)::float8 from applied")
            .fetch_all(&fx.consumer)
            .await?;
    let latencies: Vec<f64> = applied.iter().map(|(id, at)| at - produced[id]).collect();
    let max = latencies.iter().copied().fold(0.0, f64::max);
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    eprintln!(
        "50 events in {elapsed:?}; commit→effect median {:.1} ms, max {:.1} ms",
        median * 1e3,
        max * 1e3
    );
    assert!(
        max < 5.0,
        "commit→effect took {max:.2} s; the relay should wake on the notification, not its 60 s poll"
    );

    relay.stop().await?;
    consumer.stop().await?;
    Ok(())
}

/// Case 2: the relay is down (killed after the business transactions committed, before it
/// published anything). Nothing reaches the consumer while it is down; once a relay runs again,
/// every event arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_committed_while_the_relay_is_down_arrive_once_it_is_back() -> anyhow::Result<()> {
    let fx = Fixture::new().await?;
    let consumer = fx.spawn_consumer(fx.consumer_config());
    fx.wait_consumer_ready().await?;

    let ids = fx.produce("orphan", 30).await?;
    // A negative check needs some time to pass: give a publisher that should not exist the
    // chance to show itself. (Not a wait for something to happen.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fx.unpublished().await?, 30, "the events wait in the outbox");
    assert_eq!(fx.stream_messages().await?, 0, "nothing was published");
    assert!(fx.counts().await?.is_empty(), "nothing was applied");

    let relay = fx.spawn_relay(fx.relay_config());
    fx.wait_applied(&ids, SOON).await?;
    fx.wait_quiet(SOON).await?;
    fx.assert_exactly_once(&ids).await?;
    assert_eq!(fx.unpublished().await?, 0);
    assert_eq!(fx.stream_messages().await?, 30);

    relay.stop().await?;
    consumer.stop().await?;
    Ok(())
}

/// Events committed before their service's stream exists: the relay's first publishes find no
/// stream, so it takes back their sent mark (claimed with the batch), creates the stream and
/// publishes them on its next round; none is marked sent without being in the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_without_a_stream_yet_wait_until_the_relay_has_created_it() -> anyhow::Result<()> {
    let fx = Fixture::new().await?;
    // No consumer: nothing else creates the producer's stream.
    let ids = fx.produce("early", 20).await?;
    assert_eq!(
        fx.stream_messages().await?,
        0,
        "the stream does not exist yet"
    );

    let relay = fx.spawn_relay(fx.relay_config());
    anju_testkit::eventually(SOON, "the outbox drained into the new stream", || async {
        let (unpublished, messages) = (fx.unpublished().await?, fx.stream_messages().await?);
        assert!(
            messages as i64 >= ids.len() as i64 - unpublished,
            "{} rows marked sent, {messages} messages in the stream",
            ids.len() as i64 - unpublished
        );
        Ok((unpublished == 0).then_some(()))
    })
    .await?;
    assert_eq!(fx.stream_messages().await?, ids.len() as u64);
    relay.stop().await?;
    Ok(())
}

/// Case 3: JetStream acknowledged the batch but the relay died before marking the rows sent.
/// The next relay publishes them all again: JetStream drops the copies (same `Nats-Msg-Id`
/// inside its duplicate window) and the effects stay at one. Beyond the window — simulated by
/// republishing an envelope under a new message id, as `anju outbox replay` would — the
/// consumer's inbox drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_sent_mark_republishes_without_a_second_effect() -> anyhow::Result<()> {
    let fx = Fixture::new().await?;
    let consumer = fx.spawn_consumer(fx.consumer_config());
    fx.wait_consumer_ready().await?;
    let ids = fx.produce("unmarked", 20).await?;

    let crashed = fx.spawn_relay(RelayConfig {
        failpoint: Some(RelayFailpoint::AfterPublishBeforeMark),
        ..fx.relay_config()
    });
    let err = crashed
        .finished()
        .await
        .expect_err("the failpoint ends the relay");
    assert!(
        err.is::<anju_messaging::relay::FailpointHit>(),
        "unexpected error: {err:#}"
    );
    assert_eq!(
        fx.unpublished().await?,
        20,
        "the sent marks were lost with the relay"
    );
    fx.wait_applied(&ids, SOON).await?;
    assert_eq!(fx.stream_messages().await?, 20);

    let relay = fx.spawn_relay(fx.relay_config());
    fx.wait_quiet(SOON).await?;
    assert_eq!(
        fx.unpublished().await?,
        0,
        "the second relay marked every row"
    );
    assert_eq!(
        fx.stream_messages().await?,
        20,
        "JetStream dropped the republished ids inside its duplicate window"
    );
    fx.assert_exactly_once(&ids).await?;

    // After the duplicate window: the same envelope under a different message id.
    let (event_id, subject, envelope): (uuid::Uuid, String, Vec<u8>) =
        sqlx::query_as("select event_id, subject, envelope from outbox order by position limit 1")
            .fetch_one(&fx.producer)
            .await?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "Nats-Msg-Id",
        format!("{event_id}:replayed-after-window").as_str(),
    );
    let ack = fx
        .bus
        .jetstream()
        .publish_with_headers(subject, headers, envelope.into())
        .await?
        .await?;
    assert!(!ack.duplicate, "a new message id passes JetStream's dedupe");
    fx.wait_quiet(SOON).await?; // the durable acked it, so the consumer has processed it
    assert_eq!(fx.stream_messages().await?, 21);
    fx.assert_exactly_once(&ids).await?;
    assert_eq!(fx.inbox_rows().await?, 20);
    assert_eq!(
        fx.handler.attempts(&ids[0]),
        1,
        "the inbox skipped it before the handler ran"
    );

    relay.stop().await?;
    consumer.stop().await?;
    Ok(())
}

/// A batch whose handler outlasts the ack wait (1 s here) is held by its consumer with
/// progress acks: JetStream delivers it once, not again to the consumer beside it (another
/// replica) while the first is still at work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_slower_than_the_ack_wait_is_delivered_once() -> anyhow::Result<()> {
    let fx = Fixture::new().await?;
    let relay = fx.spawn_relay(fx.relay_config());
    fx.handler
        .poison("slow-0", Poison::Slow(Duration::from_millis(2_500)));
    let ids = fx.produce("slow", 1).await?;
    let first = fx.spawn_consumer(fx.consumer_config());
    let second = fx.spawn_consumer(fx.consumer_config());
    fx.wait_applied(&ids, SOON).await?;
    fx.wait_quiet(SOON).await?;
    fx.assert_exactly_once(&ids).await?;
    assert_eq!(fx.handler.attempts("slow-0"), 1);
    assert_eq!(
        fx.durable_info().await?.delivered.consumer_sequence,
        1,
        "delivered once: held while slow, not redelivered"
    );
    relay.stop().await?;
    first.stop().await?;
    second.stop().await?;
    Ok(())
}

/// Case 4: a consumer committed its effects and inbox rows and died before acking. The
/// messages come back after `ack_wait` to the restarted consumer (same durable), which finds
/// them in the inbox and acks them without running the handler again. (The relay runs before
/// any consumer created the stream, which it must then create itself.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_before_its_ack_does_not_apply_twice() -> anyhow::Result<()> {
    let fx = Fixture::new().await?;
    // No consumer has run yet, so no stream exists: the relay must create its own.
    let relay = fx.spawn_relay(fx.relay_config());
    let ids = fx.produce("unacked", 20).await?;
    anju_testkit::eventually(SOON, "every event published", || async {
        Ok((fx.unpublished().await? == 0).then_some(()))
    })
    .await?;
    assert_eq!(fx.stream_messages().await?, 20);

    let crashed = fx.spawn_consumer(ConsumerConfig {
        failpoint: Some(ConsumerFailpoint::AfterCommitBeforeAck),
        ..fx.consumer_config()
    });
    let err = crashed
        .finished()
        .await
        .expect_err("the failpoint ends the consumer");
    assert!(
        err.is::<anju_messaging::consumer::FailpointHit>(),
        "unexpected error: {err:#}"
    );
    let committed = fx.counts().await?;
    assert!(!committed.is_empty(), "the first batch was committed");
    assert!(committed.values().all(|n| *n == 1));
    assert_eq!(
        fx.inbox_rows().await?,
        committed.len() as i64,
        "inbox rows beside the effects"
    );
    assert_eq!(
        fx.durable_info().await?.ack_floor.stream_sequence,
        0,
        "nothing was acked"
    );

    let consumer = fx.spawn_consumer(fx.consumer_config());
    fx.wait_applied(&ids, SOON).await?;
    fx.wait_quiet(SOON).await?;
    fx.assert_exactly_once(&ids).await?;
    assert_eq!(fx.inbox_rows().await?, 20);
    for id in &ids {
        assert_eq!(
            fx.handler.attempts(id),
            1,
            "{id}: the redelivery was skipped by the inbox"
        );
    }
    let delivered = fx.durable_info().await?.delivered.consumer_sequence;
    assert!(
        delivered >= (ids.len() + committed.len()) as u64,
        "the {} committed-but-unacked messages were delivered again (deliveries: {delivered})",
        committed.len()
    );

    relay.stop().await?;
    consumer.stop().await?;
    Ok(())
}

/// Case 5: NATS is killed (SIGKILL) and restarted while events are being written. The relay
/// and the consumer recover by themselves and every event is applied exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_and_consumer_ride_out_a_nats_restart() -> anyhow::Result<()> {
    let mut nats = NatsServer::start().await?;
    let mut settings = fixture::settings();
    settings.nats.url = nats.url();
    let fx = Fixture::with_settings(settings).await?;
    let relay = fx.spawn_relay(fx.relay_config());
    let consumer = fx.spawn_consumer(fx.consumer_config());
    fx.wait_consumer_ready().await?;

    const OUTAGE: Duration = Duration::from_secs(6);
    let total = 200;
    let produce = async {
        let mut ids = Vec::with_capacity(total);
        for i in 0..total {
            let id = format!("flow-{i}");
            fx.produce_one(&id).await?;
            ids.push(id);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        anyhow::Ok(ids)
    };
    let chaos = async {
        // Kill it once events are demonstrably flowing end to end.
        anju_testkit::eventually(SOON, "30 events applied", || async {
            Ok((fx.counts().await?.len() >= 30).then_some(()))
        })
        .await?;
        nats.kill();
        let down_at = fx.counts().await?.len();
        // Longer than JetStream's publish-ack timeout (5 s), so the relay's in-flight publishes
        // fail and are retried rather than merely buffered by the client across a blip.
        tokio::time::sleep(OUTAGE).await;
        nats.restart().await?;
        anyhow::Ok((down_at, Instant::now()))
    };
    let (ids, chaos) = tokio::join!(produce, chaos);
    let (ids, (down_at, restarted)) = (ids?, chaos?);

    fx.wait_applied(&ids, Duration::from_secs(90)).await?;
    let recovered = restarted.elapsed();
    fx.wait_quiet(Duration::from_secs(60)).await?;
    fx.assert_exactly_once(&ids).await?;
    eprintln!(
        "NATS killed after {down_at} of {total} events applied, down {OUTAGE:?}; all applied {recovered:?} \
         after the restart; the stream holds {} messages",
        fx.stream_messages().await?
    );

    relay.stop().await?;
    consumer.stop().await?;
    drop(fx); // its clean-up still needs the private server
    drop(nats);
    Ok(())
}

/// Case 6: one event fails transiently on every attempt, another permanently. Both end on the
/// dead-letter subject (the transient one after exactly `max_deliver` attempts, the permanent
/// one at once) with their reason and original subject, while the events around them are
/// applied. Once the handler accepts them, `dlq::replay` applies each exactly once and empties
/// the dead-letter queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_events_are_dead_lettered_and_replayed_once_fixed() -> anyhow::Result<()> {
    let fx = Fixture::new().await?;
    let max_deliver = fx.settings.nats.max_deliver;
    assert_eq!(max_deliver, 3);
    let (transient, permanent) = (
        "poison-transient".to_string(),
        "poison-permanent".to_string(),
    );
    fx.handler.poison(&transient, Poison::Transient);
    fx.handler.poison(&permanent, Poison::Permanent);
    let relay = fx.spawn_relay(fx.relay_config());
    let consumer = fx.spawn_consumer(fx.consumer_config());

    let mut ids = fx.produce("before", 10).await?;
    let transient_event = fx.produce_one(&transient).await?;
    let permanent_event = fx.produce_one(&permanent).await?;
    ids.extend(fx.produce("after", 10).await?);

    fx.wait_applied(&ids, SOON).await?;
    let letters = anju_testkit::eventually(SOON, "two dead letters", || async {
        let letters = dlq::list(&fx.bus, Some(fixture::DURABLE)).await?;
        Ok((letters.len() >= 2).then_some(letters))
    })
    .await?;
    fx.wait_quiet(SOON).await?;
    fx.assert_exactly_once(&ids).await?;

    assert_eq!(letters.len(), 2, "{letters:?}");
    let subject = fx.bus.subject(fixture::PRODUCER, "widget", "probe");
    for (event_id, reason) in [
        (transient_event, "not ready yet"),
        (permanent_event, "malformed"),
    ] {
        let letter = letters
            .iter()
            .find(|l| l.event_id.as_deref() == Some(event_id.to_string().as_str()))
            .unwrap_or_else(|| panic!("no dead letter for {event_id}: {letters:?}"));
        assert_eq!(letter.consumer, fixture::DURABLE);
        assert_eq!(letter.original_subject, subject);
        assert!(
            letter.reason.contains(reason),
            "reason {:?} lacks {reason:?}",
            letter.reason
        );
    }
    assert_eq!(
        fx.handler.attempts(&transient),
        max_deliver as u32,
        "transient: exactly max_deliver attempts"
    );
    assert_eq!(fx.handler.attempts(&permanent), 1, "permanent: no retry");

    fx.handler.cure(&transient);
    fx.handler.cure(&permanent);
    assert_eq!(dlq::replay(&fx.bus, Some(fixture::DURABLE)).await?, 2);
    let all: Vec<String> = ids
        .iter()
        .cloned()
        .chain([transient.clone(), permanent.clone()])
        .collect();
    fx.wait_applied(&all, SOON).await?;
    fx.wait_quiet(SOON).await?;
    fx.assert_exactly_once(&all).await?;
    assert!(
        dlq::list(&fx.bus, Some(fixture::DURABLE)).await?.is_empty(),
        "the DLQ is empty after replay"
    );
    assert_eq!(fx.handler.attempts(&transient), max_deliver as u32 + 1);
    assert_eq!(fx.handler.attempts(&permanent), 2);

    relay.stop().await?;
    consumer.stop().await?;
    Ok(())
}

/// Case 7: the producer's trace continues in the consumer: the handler's span has the trace
/// id of the span the event was written in. An event written outside any span starts a trace
/// of its own in the consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_joins_the_producers_trace() -> anyhow::Result<()> {
    let fx = Fixture::new().await?;
    let relay = fx.spawn_relay(fx.relay_config());
    let consumer = fx.spawn_consumer(fx.consumer_config());

    let produced_in = fx.produce_traced("traced").await?;
    assert_ne!(
        produced_in,
        "0".repeat(32),
        "the producer span has an OpenTelemetry trace id"
    );
    fx.produce_one("untraced").await?;
    let traceparent: String =
        sqlx::query_scalar("select traceparent from outbox order by position limit 1")
            .fetch_one(&fx.producer)
            .await?;
    assert_eq!(
        anju_kit::telemetry::trace_id_in(&traceparent),
        Some(produced_in.as_str())
    );

    let ids = vec!["traced".to_string(), "untraced".to_string()];
    fx.wait_applied(&ids, SOON).await?;
    assert_eq!(
        fx.trace_id_applied("traced").await?,
        produced_in,
        "the handler ran in the producer's trace"
    );
    let untraced = fx.trace_id_applied("untraced").await?;
    assert_ne!(
        untraced,
        "0".repeat(32),
        "the consumer span has a trace of its own"
    );
    assert_ne!(untraced, produced_in);

    relay.stop().await?;
    consumer.stop().await?;
    Ok(())
}

/// Focused check of the outbox writer alone (no NATS): the row holds a decodable envelope
/// with the payload, subject `<prefix>.<service>.<aggregate>.<event>`, the tenant, and a
/// sequence counting per aggregate; a rolled-back transaction leaves no row and no sequence.
#[tokio::test]
async fn the_outbox_row_holds_the_envelope_with_per_aggregate_sequences() -> anyhow::Result<()> {
    use anju_proto::events::Envelope;
    use prost::Message as _;

    let fx = Fixture::new().await?;
    let widget = uuid::Uuid::now_v7();
    let probe = |n: &str| Probe {
        probe_id: n.into(),
        note: "seq".into(),
    };
    let mut tx = fx.producer.begin().await?;
    fx.outbox
        .append(
            &mut tx,
            EventMeta::new(fx.tenant, "widget", widget),
            &probe("a"),
        )
        .await?;
    fx.outbox
        .append(
            &mut tx,
            EventMeta::new(fx.tenant, "widget", widget),
            &probe("b"),
        )
        .await?;
    tx.commit().await?;
    let mut tx = fx.producer.begin().await?;
    fx.outbox
        .append(
            &mut tx,
            EventMeta::new(fx.tenant, "widget", widget),
            &probe("rolled-back"),
        )
        .await?;
    tx.rollback().await?;
    let mut tx = fx.producer.begin().await?;
    let last = fx
        .outbox
        .append(
            &mut tx,
            EventMeta::new(fx.tenant, "widget", widget),
            &probe("c"),
        )
        .await?;
    fx.outbox
        .append(
            &mut tx,
            EventMeta::new(fx.tenant, "widget", uuid::Uuid::now_v7()),
            &probe("other"),
        )
        .await?;
    tx.commit().await?;

    let rows: Vec<(uuid::Uuid, String, i64, Vec<u8>)> = sqlx::query_as(
        "select event_id, subject, sequence, envelope from outbox order by position",
    )
    .fetch_all(&fx.producer)
    .await?;
    let sequences: Vec<i64> = rows.iter().map(|r| r.2).collect();
    assert_eq!(
        sequences,
        [1, 2, 3, 1],
        "per aggregate, gapless across a rollback"
    );
    let (event_id, subject, _, bytes) = &rows[2];
    assert_eq!(*event_id, last);
    assert_eq!(
        *subject,
        format!("{}.producer.widget.probe", fx.settings.nats.prefix)
    );
    let envelope = Envelope::decode(bytes.as_slice())?;
    let event = anju_messaging::Event::from_envelope(envelope, subject.clone(), 1)?;
    assert_eq!(event.event_id, last);
    assert_eq!(event.tenant_id, fx.tenant);
    // The sequence is taken in the insert; the relay stamps it on the published envelope.
    let relay = fx.spawn_relay(fx.relay_config());
    anju_testkit::eventually(Duration::from_secs(10), "the relay to publish", || async {
        Ok((fx.unpublished().await? == 0).then_some(()))
    })
    .await?;
    relay.stop().await?;
    let stream = fx
        .bus
        .jetstream()
        .get_stream(fx.bus.stream_name("producer"))
        .await?;
    let published = stream.get_raw_message(3).await?;
    let published = Envelope::decode(published.payload.as_ref())?;
    assert_eq!(published.event_id, last.to_string());
    assert_eq!(published.sequence, 3);
    assert_eq!(event.envelope.aggregate_id, widget.to_string());
    assert_eq!(
        event.envelope.correlation_id,
        last.to_string(),
        "a new journey starts at the event"
    );
    assert_eq!(event.decode::<Probe>()?.probe_id, "c");

    Ok(())
}

/// An event over the outbox's size limit (a request carrying thousands of items, say) is
/// refused before anything is written, as an invalid argument the caller can fix; the caller's
/// transaction stays usable and takes no sequence number for it.
#[tokio::test]
async fn an_event_over_the_size_limit_is_refused_before_anything_is_written() -> anyhow::Result<()>
{
    use anju_kit::{ServiceError, db::Writes};
    use anju_messaging::outbox::{AppendError, DEFAULT_MAX_EVENT_BYTES};

    let fx = Fixture::new().await?;
    let widget = uuid::Uuid::now_v7();
    let meta = || EventMeta::new(fx.tenant, "widget", widget);
    let probe = |note: String| Probe {
        probe_id: "sized".into(),
        note,
    };
    let huge = probe("x".repeat(DEFAULT_MAX_EVENT_BYTES));

    let mut tx = fx.producer.begin().await?;
    let refused = fx.outbox.append(&mut tx, meta(), &huge).await;
    let Err(AppendError::TooLarge(err)) = refused else {
        panic!("an oversized event was not refused: {refused:?}");
    };
    assert!(err.size > DEFAULT_MAX_EVENT_BYTES, "{err}");
    let status: tonic::Status = ServiceError::from(err).into();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");

    let mut writes = Writes::new();
    assert!(fx.outbox.append_to(&mut writes, meta(), &huge).is_err());
    assert!(writes.is_empty(), "a refused event adds no write");

    let strict = fx.outbox.clone().with_max_event_bytes(64);
    let refused = strict.append(&mut tx, meta(), &probe("y".repeat(64))).await;
    assert!(
        matches!(refused, Err(AppendError::TooLarge(_))),
        "{refused:?}"
    );

    fx.outbox
        .append(&mut tx, meta(), &probe("within the limit".into()))
        .await?;
    tx.commit().await?;
    let sequences: Vec<i64> = sqlx::query_scalar("select sequence from outbox")
        .fetch_all(&fx.producer)
        .await?;
    assert_eq!(
        sequences,
        [1],
        "only the event within the limit, first of its aggregate"
    );
    Ok(())
}

/// Rows JetStream will never take — one over the server's max_payload, one whose envelope does
/// not decode — are quarantined: kept, never claimed again, and the events committed after them
/// (another tenant's here) arrive. Once fixed and released, they are published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpublishable_row_is_quarantined_and_the_rows_behind_it_flow_on() -> anyhow::Result<()>
{
    use anju_messaging::outbox;
    use anju_proto::events::Envelope;
    use prost::Message as _;

    let fx = Fixture::new().await?;
    let consumer = fx.spawn_consumer(fx.consumer_config());
    fx.wait_consumer_ready().await?;

    let oversized = fx.produce_one("oversized").await?;
    let original = fx.envelope(oversized).await?;
    let mut envelope = Envelope::decode(original.as_slice())?;
    envelope.payload = vec![0; fx.bus.client().max_payload() + 1];
    fx.set_envelope(oversized, &envelope.encode_to_vec())
        .await?;
    let garbled = fx.produce_one("garbled").await?;
    let garbled_original = fx.envelope(garbled).await?;
    fx.set_envelope(garbled, &[0xff; 16]).await?;
    let other_tenant = uuid::Uuid::now_v7();
    let mut behind = Vec::new();
    for i in 0..10 {
        let id = format!("behind-{i}");
        fx.produce_for(other_tenant, &id).await?;
        behind.push(id);
    }

    let relay = fx.spawn_relay(fx.relay_config());
    fx.wait_applied(&behind, SOON).await?;
    let set_aside = anju_testkit::eventually(SOON, "both rows quarantined", || async {
        let rows = outbox::quarantined(&fx.producer).await?;
        Ok((rows.len() == 2).then_some(rows))
    })
    .await?;
    assert_eq!(
        set_aside.iter().map(|q| q.event_id).collect::<Vec<_>>(),
        [oversized, garbled]
    );
    assert!(
        set_aside[0].reason.contains("max payload"),
        "{}",
        set_aside[0].reason
    );
    assert!(
        set_aside[1].reason.contains("undecodable"),
        "{}",
        set_aside[1].reason
    );
    fx.wait_quiet(SOON).await?;
    assert_eq!(fx.stream_messages().await?, behind.len() as u64);
    assert_eq!(anju_messaging::relay::lag(&fx.producer).await?.0, 0);

    fx.set_envelope(oversized, &original).await?;
    fx.set_envelope(garbled, &garbled_original).await?;
    assert!(outbox::release(&fx.producer, oversized).await?);
    assert!(outbox::release(&fx.producer, garbled).await?);
    assert!(
        !outbox::release(&fx.producer, garbled).await?,
        "only a quarantined row is released"
    );
    let all: Vec<String> = ["oversized", "garbled"]
        .into_iter()
        .map(String::from)
        .chain(behind)
        .collect();
    fx.wait_applied(&all, SOON).await?;
    fx.wait_quiet(SOON).await?;
    fx.assert_exactly_once(&all).await?;
    assert!(outbox::quarantined(&fx.producer).await?.is_empty());

    relay.stop().await?;
    consumer.stop().await?;
    Ok(())
}

/// Locks one row per key (the probe's note), slowly, and counts the deadlocks Postgres broke.
struct Locking {
    deadlocks: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl anju_messaging::Handler for Locking {
    fn wants(&self, event_type: &str) -> bool {
        event_type == <Probe as anju_proto::EventPayload>::EVENT_TYPE
    }

    fn lock_key(&self, event: &anju_messaging::Event) -> Option<String> {
        event.decode::<Probe>().ok().map(|p| p.note)
    }

    async fn handle(
        &self,
        conn: &mut sqlx::PgConnection,
        event: &anju_messaging::Event,
    ) -> Result<(), anju_messaging::HandlerError> {
        let probe: Probe = event
            .decode()
            .map_err(anju_messaging::HandlerError::Permanent)?;
        let locked = sqlx::query("update locked set n = n + 1 where key = $1")
            .bind(&probe.note)
            .execute(&mut *conn)
            .await;
        let slept = match locked {
            Ok(_) => {
                sqlx::query("select pg_sleep(0.002)")
                    .execute(&mut *conn)
                    .await
            }
            Err(err) => Err(err),
        };
        match slept {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("40P01") => {
                self.deadlocks
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Err(anju_messaging::HandlerError::Transient(err.into()))
            }
            Err(err) => Err(anju_messaging::HandlerError::Transient(err.into())),
        }
    }
}

/// Two consumers of one stream (as the coordinator has one per source) touch the same rows in
/// opposite orders, each batch in one transaction. Applying a batch in the handler's lock-key
/// order makes them wait for each other instead of deadlocking (which Postgres only breaks
/// after its one-second `deadlock_timeout`).
#[tokio::test]
async fn consumers_touching_the_same_rows_in_opposite_orders_do_not_deadlock() -> anyhow::Result<()>
{
    const KEYS: usize = 80;
    let fx = Fixture::new().await?;
    sqlx::query("create table locked (key text primary key, n int not null default 0)")
        .execute(&fx.consumer)
        .await?;
    let keys: Vec<String> = (0..KEYS).map(|k| format!("k{k:04}")).collect();
    sqlx::query("insert into locked (key) select unnest($1::text[])")
        .bind(&keys)
        .execute(&fx.consumer)
        .await?;
    // "left" events name the keys upwards, "right" events downwards.
    for side in ["left", "right"] {
        let mut tx = fx.producer.begin().await?;
        let ordered: Vec<&String> = if side == "left" {
            keys.iter().collect()
        } else {
            keys.iter().rev().collect()
        };
        for key in ordered {
            let probe = Probe {
                probe_id: format!("{side}-{key}"),
                note: key.clone(),
            };
            fx.outbox
                .append(
                    &mut tx,
                    EventMeta::new(fx.tenant, side, uuid::Uuid::now_v7()),
                    &probe,
                )
                .await?;
        }
        tx.commit().await?;
    }
    let relay = fx.spawn_relay(fx.relay_config());
    anju_testkit::eventually(SOON, "the relay to publish", || async {
        Ok((fx.unpublished().await? == 0).then_some(()))
    })
    .await?;
    relay.stop().await?;

    let handler = std::sync::Arc::new(Locking {
        deadlocks: Default::default(),
    });
    let consumers: Vec<_> = ["left", "right"]
        .into_iter()
        .map(|side| {
            let mut config = fx.consumer_config();
            config.name = format!("consumer-{side}");
            config.filter_subject = Some(format!(
                "{}.{}.{side}.>",
                fx.settings.nats.prefix,
                fixture::PRODUCER
            ));
            let consumer = anju_messaging::Consumer::new(
                fx.consumer.clone(),
                fx.bus.clone(),
                config,
                handler.clone() as std::sync::Arc<dyn anju_messaging::Handler>,
            );
            let token = tokio_util::sync::CancellationToken::new();
            let run = tokio::spawn({
                let token = token.clone();
                async move { consumer.run(token).await }
            });
            (token, run)
        })
        .collect();
    anju_testkit::eventually(SOON, "both sides applied", || async {
        let applied: i64 = sqlx::query_scalar("select coalesce(sum(n), 0)::bigint from locked")
            .fetch_one(&fx.consumer)
            .await?;
        Ok((applied == 2 * KEYS as i64).then_some(()))
    })
    .await?;
    for (token, run) in consumers {
        token.cancel();
        run.await??;
    }
    let uneven: i64 = sqlx::query_scalar("select count(*) from locked where n <> 2")
        .fetch_one(&fx.consumer)
        .await?;
    assert_eq!(uneven, 0, "each side applied each key once");
    assert_eq!(
        handler.deadlocks.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "deadlocks broken by Postgres"
    );
    Ok(())
}
