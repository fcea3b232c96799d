//! Durable pull consumers with inbox deduplication, bounded redelivery and dead letters.
//!
//! Messages are taken in batches of whatever is ready; each batch is one transaction: one
//! statement records the whole batch in the inbox (learning which events are new), then each
//! new event's handler runs. If a handler fails, the batch is redone with a savepoint per
//! event, so only the failing events are retried later with backoff; on its last allowed
//! attempt an event is published to the dead-letter subject instead. Acks go out only after
//! the commit, so a crash before the ack means redelivery, and the inbox makes it a no-op.

use std::{collections::HashSet, sync::Arc, time::Duration};

use anju_kit::telemetry;
use anju_proto::events::Envelope;
use anyhow::Context;
use async_nats::{
    HeaderMap,
    jetstream::{
        AckKind, Message,
        consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
    },
};
use futures::StreamExt;
use prost::Message as _;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{Event, bus::Bus};

/// What a handler reports when it cannot apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth another attempt (a dependency was down, a conflict).
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
    /// Will never succeed: straight to the dead-letter subject.
    #[error("permanent: {0:#}")]
    Permanent(anyhow::Error),
}

impl From<sqlx::Error> for HandlerError {
    fn from(err: sqlx::Error) -> Self {
        Self::Transient(err.into())
    }
}

impl From<anyhow::Error> for HandlerError {
    fn from(err: anyhow::Error) -> Self {
        Self::Transient(err)
    }
}

/// Applies events to the consuming service's database, inside the transaction it is given.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Event types (`anju.events.v1.…`) this handler applies; others are acked untouched.
    fn wants(&self, event_type: &str) -> bool;

    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError>;

    /// The key of the rows `event`'s handler locks, if it locks any. A batch is applied in one
    /// transaction, in the order of these keys (stable: one key's events keep their order), so
    /// that consumers of different streams touching the same rows wait for each other instead
    /// of deadlocking.
    fn lock_key(&self, _event: &Event) -> Option<String> {
        None
    }
}

#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    /// Durable name, unique per consuming service and source: `handover-from-sales`.
    pub name: String,
    /// The publishing service whose stream is read.
    pub source: String,
    /// Subject filter inside the source stream; the whole stream when `None`.
    pub filter_subject: Option<String>,
    pub max_deliver: i64,
    /// Redelivery delays after a failed attempt; the last one repeats.
    pub backoff: Vec<Duration>,
    /// Redelivery of a message whose consumer died before acking: how long another replica
    /// (or the restarted process) waits for what the dead one had taken. A live consumer holds
    /// the batch it is applying with progress acks every quarter of this, so work that is
    /// merely slow is not delivered again.
    pub ack_wait: Duration,
    pub batch_size: usize,
    pub failpoint: Option<Failpoint>,
}

/// The default [`ConsumerConfig::ack_wait`]: a killed consumer's messages are taken up again
/// within two seconds.
pub const ACK_WAIT: Duration = Duration::from_secs(2);

impl ConsumerConfig {
    pub fn new(name: impl Into<String>, source: impl Into<String>, max_deliver: i64) -> Self {
        Self {
            name: name.into(),
            source: source.into(),
            filter_subject: None,
            max_deliver,
            backoff: vec![
                Duration::from_millis(200),
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(30),
            ],
            ack_wait: ACK_WAIT,
            batch_size: 128,
            failpoint: None,
        }
    }
}

/// Where a consumer stops as if its process were killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failpoint {
    /// After the batch's effects are committed and before any ack is sent.
    AfterCommitBeforeAck,
}

pub struct Consumer {
    pool: PgPool,
    bus: Bus,
    config: ConsumerConfig,
    handler: Arc<dyn Handler>,
}

/// A message decoded and judged before any database work.
enum Prepared {
    Done(Outcome),
    Ready(Box<Event>, tracing::Span),
}

#[derive(Clone)]
enum Outcome {
    Applied,
    Duplicate,
    Ignored,
    Retry(Duration),
    DeadLetter(String),
}

impl Consumer {
    pub fn new(pool: PgPool, bus: Bus, config: ConsumerConfig, handler: Arc<dyn Handler>) -> Self {
        Self {
            pool,
            bus,
            config,
            handler,
        }
    }

    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    async fn durable(&self) -> anyhow::Result<PullConsumer> {
        let stream = self.bus.ensure_stream(&self.config.source).await?;
        self.bus.ensure_dlq().await?;
        let filter = self
            .config
            .filter_subject
            .clone()
            .unwrap_or_else(|| self.bus.service_subjects(&self.config.source));
        // Created, or updated when an earlier release left it with another filter or ack
        // wait (JetStream's create-or-update).
        stream
            .create_consumer(pull::Config {
                durable_name: Some(self.config.name.clone()),
                filter_subject: filter,
                ack_policy: AckPolicy::Explicit,
                deliver_policy: DeliverPolicy::All,
                ack_wait: self.config.ack_wait,
                // Redelivery is bounded by this consumer, which dead-letters on the last
                // attempt; the server's own cap stays above it as a backstop.
                max_deliver: self.config.max_deliver + 1,
                max_ack_pending: 10_000,
                ..Default::default()
            })
            .await
            .with_context(|| format!("creating consumer {}", self.config.name))
    }

    /// Consumes until `shutdown`, reconnecting after NATS outages. Returns an error only
    /// when a failpoint fires.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        loop {
            let result = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                result = self.consume() => result,
            };
            match result {
                Err(err) if err.is::<FailpointHit>() => return Err(err),
                Err(err) => {
                    tracing::warn!(consumer = %self.config.name, error = format!("{err:#}"), "consumer interrupted, resuming")
                }
                Ok(()) => {
                    tracing::debug!(consumer = %self.config.name, "message stream ended, resuming")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    async fn consume(&self) -> anyhow::Result<()> {
        let consumer = self.durable().await?;
        // No more is pulled ahead than one batch: whatever waits unacked in this process's
        // buffer is what a kill would delay by `ack_wait`.
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.config.batch_size)
            .heartbeat(Duration::from_secs(15))
            .messages()
            .await?;
        let mut batches = messages.ready_chunks(self.config.batch_size);
        while let Some(batch) = batches.next().await {
            let mut ready = Vec::with_capacity(batch.len());
            for item in batch {
                match item {
                    Ok(message) => ready.push(message),
                    Err(err) => tracing::debug!(error = %err, "pull stream hiccup"),
                }
            }
            if !ready.is_empty() {
                self.apply_batch(ready).await?;
            }
        }
        Ok(())
    }

    async fn apply_batch(&self, messages: Vec<Message>) -> anyhow::Result<()> {
        let mut batch: Vec<(Message, Prepared)> = messages
            .into_iter()
            .map(|m| {
                let prepared = self.prepare(&m);
                (m, prepared)
            })
            .collect();
        batch.sort_by_cached_key(|(_, prepared)| match prepared {
            Prepared::Ready(event, _) => self.handler.lock_key(event),
            Prepared::Done(_) => None,
        });
        let (messages, prepared): (Vec<Message>, Vec<Prepared>) = batch.into_iter().unzip();
        let apply = async {
            match self.apply_all(&prepared).await? {
                Ok(outcomes) => Ok::<_, anyhow::Error>(outcomes),
                // A handler failed: apply one by one, each in its own savepoint, so only the
                // failing events are retried. The failure already seen is not provoked again.
                Err(failed) => self.apply_each(&prepared, failed).await,
            }
        };
        let outcomes = tokio::select! {
            outcomes = apply => outcomes?,
            never = self.hold(&messages) => match never {},
        };
        if self.config.failpoint == Some(Failpoint::AfterCommitBeforeAck) {
            return Err(FailpointHit.into());
        }
        for (message, outcome) in messages.iter().zip(outcomes) {
            let ack = match outcome {
                Outcome::Applied | Outcome::Duplicate | Outcome::Ignored => message.ack().await,
                Outcome::Retry(delay) => message.ack_with(AckKind::Nak(Some(delay))).await,
                Outcome::DeadLetter(reason) => {
                    self.dead_letter(message, &reason).await?;
                    message.ack_with(AckKind::Term).await
                }
            };
            if let Err(err) = ack {
                // The message comes back after ack_wait; the inbox makes that harmless.
                tracing::warn!(consumer = %self.config.name, error = %err, "ack failed");
            }
        }
        Ok(())
    }

    /// Keeps `messages` from being redelivered while they are applied: a progress ack for each
    /// every quarter of `ack_wait`, for as long as the caller polls this.
    async fn hold(&self, messages: &[Message]) -> std::convert::Infallible {
        let every = self.config.ack_wait / 4;
        loop {
            tokio::time::sleep(every).await;
            for message in messages {
                if let Err(err) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(consumer = %self.config.name, error = %err, "progress ack failed");
                }
            }
        }
    }

    /// Decodes a message and decides whether it needs the handler at all.
    fn prepare(&self, message: &Message) -> Prepared {
        let delivered = message.info().map(|info| info.delivered).unwrap_or(1);
        let envelope = match Envelope::decode(message.payload.as_ref()) {
            Ok(envelope) => envelope,
            Err(err) => {
                return Prepared::Done(Outcome::DeadLetter(format!("undecodable envelope: {err}")));
            }
        };
        let event = match Event::from_envelope(envelope, message.subject.to_string(), delivered) {
            Ok(event) => event,
            Err(err) => return Prepared::Done(Outcome::DeadLetter(format!("{err:#}"))),
        };
        if !self.handler.wants(event.event_type()) {
            return Prepared::Done(Outcome::Ignored);
        }
        // OpenTelemetry's messaging conventions (`process` of one message), beside the names
        // the logs have always used.
        let span = tracing::info_span!(
            "consume",
            otel.name = %format!("process {}", message.subject),
            otel.kind = "consumer",
            messaging.system = "nats",
            messaging.operation.type = "process",
            messaging.destination.name = %message.subject,
            messaging.consumer.group.name = %self.config.name,
            messaging.message.id = %event.event_id,
            consumer = %self.config.name,
            event_type = %event.event_type(),
            event_id = %event.event_id,
            delivered,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        let parent = header(message.headers.as_ref(), "traceparent")
            .unwrap_or_else(|| event.envelope.traceparent.clone());
        telemetry::continue_trace(&span, &parent);
        Prepared::Ready(Box::new(event), span)
    }

    /// The fast path: one transaction, one inbox statement for the whole batch, every handler
    /// in turn. `Err` carries the first handler failure (nothing was committed).
    async fn apply_all(
        &self,
        prepared: &[Prepared],
    ) -> anyhow::Result<Result<Vec<Outcome>, (usize, HandlerError)>> {
        let (ids, types): (Vec<Uuid>, Vec<String>) = prepared
            .iter()
            .filter_map(|p| match p {
                Prepared::Ready(event, _) => Some((event.event_id, event.event_type().to_string())),
                Prepared::Done(_) => None,
            })
            .unzip();
        if ids.is_empty() {
            // Nothing for the handler (every event ignored or undecodable): no transaction.
            return Ok(Ok(prepared
                .iter()
                .filter_map(|p| match p {
                    Prepared::Done(outcome) => Some(outcome.clone()),
                    Prepared::Ready(..) => None,
                })
                .collect()));
        }
        let mut tx = self.pool.begin().await?;
        let fresh: HashSet<Uuid> = sqlx::query_scalar(
            "insert into inbox (consumer, event_id, event_type)
                 select $1, id, kind from unnest($2::uuid[], $3::text[]) as t(id, kind)
                 on conflict do nothing returning event_id",
        )
        .bind(&self.config.name)
        .bind(&ids)
        .bind(&types)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let mut applied = HashSet::new();
        let mut outcomes = Vec::with_capacity(prepared.len());
        for (index, p) in prepared.iter().enumerate() {
            match p {
                Prepared::Done(outcome) => outcomes.push(outcome.clone()),
                // Seen before, or twice in this batch: the inbox already holds it.
                Prepared::Ready(event, _)
                    if !fresh.contains(&event.event_id) || !applied.insert(event.event_id) =>
                {
                    outcomes.push(Outcome::Duplicate);
                }
                Prepared::Ready(event, span) => {
                    if let Err(err) = self
                        .handler
                        .handle(&mut tx, event)
                        .instrument(span.clone())
                        .await
                    {
                        return Ok(Err((index, err)));
                    }
                    outcomes.push(Outcome::Applied);
                }
            }
        }
        tx.commit().await?;
        Ok(Ok(outcomes))
    }

    /// The careful path: each event in its own savepoint with its own inbox row.
    async fn apply_each(
        &self,
        prepared: &[Prepared],
        failed: (usize, HandlerError),
    ) -> anyhow::Result<Vec<Outcome>> {
        let (failed_index, failure) = failed;
        let mut failure = Some(failure);
        let mut tx = self.pool.begin().await?;
        let mut outcomes = Vec::with_capacity(prepared.len());
        for (index, p) in prepared.iter().enumerate() {
            let outcome = match p {
                Prepared::Done(outcome) => outcome.clone(),
                Prepared::Ready(event, span) if index == failed_index => {
                    let _entered = span.enter();
                    match failure.take() {
                        Some(err) => self.judge(event, err),
                        None => Outcome::Retry(self.backoff(event.delivered)),
                    }
                }
                Prepared::Ready(event, span) => {
                    self.apply_one(&mut tx, event)
                        .instrument(span.clone())
                        .await?
                }
            };
            outcomes.push(outcome);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn apply_one(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        event: &Event,
    ) -> anyhow::Result<Outcome> {
        let mut savepoint = sqlx::Connection::begin(&mut **tx).await?;
        let fresh = sqlx::query(
            "insert into inbox (consumer, event_id, event_type) values ($1, $2, $3)
             on conflict do nothing",
        )
        .bind(&self.config.name)
        .bind(event.event_id)
        .bind(event.event_type())
        .execute(&mut *savepoint)
        .await?
        .rows_affected()
            == 1;
        if !fresh {
            savepoint.rollback().await?;
            tracing::debug!("duplicate skipped");
            return Ok(Outcome::Duplicate);
        }
        match self.handler.handle(&mut savepoint, event).await {
            Ok(()) => {
                savepoint.commit().await?;
                Ok(Outcome::Applied)
            }
            Err(err) => {
                savepoint.rollback().await?;
                Ok(self.judge(event, err))
            }
        }
    }

    /// What becomes of an event whose handler failed on this delivery.
    fn judge(&self, event: &Event, err: HandlerError) -> Outcome {
        let last_attempt = event.delivered >= self.config.max_deliver;
        match err {
            HandlerError::Permanent(cause) => {
                tracing::warn!(
                    error = format!("{cause:#}"),
                    "event refused, dead-lettering"
                );
                Outcome::DeadLetter(format!("{cause:#}"))
            }
            HandlerError::Transient(cause) if last_attempt => {
                tracing::warn!(
                    error = format!("{cause:#}"),
                    "last attempt failed, dead-lettering"
                );
                Outcome::DeadLetter(format!("{cause:#}"))
            }
            HandlerError::Transient(cause) => {
                tracing::info!(error = format!("{cause:#}"), "event failed, will retry");
                Outcome::Retry(self.backoff(event.delivered))
            }
        }
    }

    fn backoff(&self, delivered: i64) -> Duration {
        let index = usize::try_from(delivered.saturating_sub(1)).unwrap_or(0);
        self.config
            .backoff
            .get(index)
            .or(self.config.backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }

    async fn dead_letter(&self, message: &Message, reason: &str) -> anyhow::Result<()> {
        // The DLQ is a different stream; keep the original id out of its dedupe window.
        let mut headers = crate::bus::headers_without(message.headers.as_ref(), &["Nats-Msg-Id"]);
        headers.insert("Anju-Original-Subject", message.subject.as_str());
        headers.insert("Anju-Consumer", self.config.name.as_str());
        headers.insert(
            "Anju-Dead-Reason",
            reason.replace(['\r', '\n'], " ").as_str(),
        );
        self.bus
            .jetstream()
            .publish_with_headers(
                self.bus.dlq_subject(&self.config.name),
                headers,
                message.payload.clone(),
            )
            .await?
            .await
            .context("dead-letter publish not acknowledged")?;
        tracing::warn!(consumer = %self.config.name, subject = %message.subject, reason, "event dead-lettered");
        Ok(())
    }
}

/// Returned when a consumer failpoint fires.
#[derive(Debug, thiserror::Error)]
#[error("consumer failpoint hit")]
pub struct FailpointHit;

fn header(headers: Option<&HeaderMap>, name: &str) -> Option<String> {
    headers
        .and_then(|h| h.get(name))
        .map(|v| v.as_str().to_string())
        .filter(|v| !v.is_empty())
}
