//! The relay: publishes pending outbox rows in order, in batches, and marks them sent.
//!
//! An idle relay wakes on the `anju_outbox` notification that the first new event raises at
//! commit; a busy one polls again after `busy_poll` (producers then do not notify, since
//! NOTIFY serializes their commits). Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several replicas can run a
//! relay each. A crash between publish and mark republishes on restart; JetStream drops the
//! duplicate inside its window, the consumers' inboxes after it. A publish that finds no stream
//! makes the relay create its service's stream, so it never depends on a consumer (or a start-up
//! step) having created it first, and recovers when a stream was lost.
//!
//! A row JetStream will never take as it is (over the server's `max_payload`, an envelope that
//! does not decode) is quarantined: kept, never claimed again, and the rows behind it go on.
//! A failure that may pass (NATS unreachable, a timeout) quarantines nothing; the batch is
//! retried with backoff.

use std::{collections::BTreeSet, time::Duration};

use anju_proto::events::Envelope;
use async_nats::{
    HeaderMap,
    jetstream::{
        ErrorCode,
        context::{PublishAckFuture, PublishError, PublishErrorKind},
    },
};
use bytes::Bytes;
use futures::future::join_all;
use prost::Message;
use sqlx::{PgPool, postgres::PgListener};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::bus::Bus;

#[derive(Clone, Debug)]
pub struct RelayConfig {
    pub batch_size: i64,
    /// The pause after a round that published something: each round costs a transaction
    /// whatever it carries, and each millisecond here is one more of an event's latency
    /// under load. 5 ms measured no throughput above 2 ms and put 2.5 ms on the relay's hop.
    pub busy_poll: Duration,
    /// The safety-net poll when no notification arrives.
    pub idle_poll: Duration,
    /// Deliberate crash for fault-injection tests; `None` in production.
    pub failpoint: Option<Failpoint>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 256,
            busy_poll: Duration::from_millis(2),
            idle_poll: Duration::from_secs(2),
            failpoint: None,
        }
    }
}

/// Where a relay stops as if its process were killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failpoint {
    /// After JetStream acknowledged the batch and before the mark that it was sent commits.
    AfterPublishBeforeMark,
}

pub struct Relay {
    pool: PgPool,
    bus: Bus,
    config: RelayConfig,
}

struct Pending {
    event_id: Uuid,
    subject: String,
    envelope: Vec<u8>,
    traceparent: String,
}

impl Relay {
    pub fn new(pool: PgPool, bus: Bus, config: RelayConfig) -> Self {
        Self { pool, bus, config }
    }

    /// Runs until `shutdown`; returns an error only when a failpoint fires.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut listener = loop {
            match PgListener::connect_with(&self.pool).await {
                Ok(mut listener) => match listener.listen("anju_outbox").await {
                    Ok(()) => break listener,
                    Err(err) => tracing::warn!(error = %err, "relay cannot listen, retrying"),
                },
                Err(err) => tracing::warn!(error = %err, "relay cannot connect, retrying"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        };
        let mut backoff = Duration::from_millis(100);
        // Rounds in a row that found nothing: a busy relay polls again after `busy_poll`
        // (producers do not notify it then), an idle one backs off to `idle_poll` and waits
        // for the notification the first new event raises.
        let mut quiet: u32 = 0;
        loop {
            match self.drain().await {
                Ok(published) => {
                    backoff = Duration::from_millis(100);
                    quiet = if published > 0 {
                        0
                    } else {
                        quiet.saturating_add(1)
                    };
                }
                Err(err) if self.config.failpoint.is_some() && err.is::<FailpointHit>() => {
                    return Err(err);
                }
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "relay batch failed, retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
            let pause = if quiet == 0 {
                self.config.busy_poll
            } else {
                Duration::from_millis(2u64 << quiet.min(12))
            }
            .min(self.config.idle_poll);
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                notification = listener.recv() => {
                    if let Err(err) = notification {
                        tracing::warn!(error = %err, "relay lost its notification connection");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Publishes batches until nothing is pending; returns how many events went out.
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut published = 0;
        loop {
            let batch = self.publish_batch().await?;
            published += batch;
            if batch < self.config.batch_size as usize {
                return Ok(published);
            }
        }
    }

    /// Publishes one batch and returns how many rows it held.
    async fn publish_batch(&self) -> anyhow::Result<usize> {
        // The batch is claimed and marked sent in one statement; the mark commits only after
        // JetStream acknowledged it, and is taken back for what it did not acknowledge.
        // The mark needs no flush to disk before the commit returns: a mark lost in a crash
        // only republishes, which JetStream's duplicate window and the inboxes absorb. The
        // producers' commits, which must be durable, then do not wait behind it.
        let mut tx = self
            .pool
            .begin_with("begin; set local synchronous_commit = off")
            .await?;
        let mut rows: Vec<(Uuid, String, Vec<u8>, String, i64, i64)> = sqlx::query_as(
            "update outbox o set published_at = now()
             from (select event_id from outbox
                   where published_at is null and quarantined_at is null
                   order by position limit $1 for update skip locked) batch
             where o.event_id = batch.event_id
             returning o.event_id, o.subject, o.envelope, o.traceparent, o.sequence, o.position",
        )
        .bind(self.config.batch_size)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let claimed = rows.len();
        rows.sort_unstable_by_key(|row| row.5);
        let mut outcome = Outcome::default();
        let mut pending = Vec::with_capacity(claimed);
        for (event_id, subject, envelope, traceparent, sequence, _) in rows {
            // The row's sequence was taken at insert time; the envelope learns it here.
            match Envelope::decode(envelope.as_slice()) {
                Ok(mut decoded) => {
                    decoded.sequence = sequence;
                    pending.push(Pending {
                        event_id,
                        subject,
                        envelope: decoded.encode_to_vec(),
                        traceparent,
                    });
                }
                Err(err) => outcome.quarantine(event_id, format!("undecodable envelope: {err}")),
            }
        }
        self.publish(&pending, &mut outcome).await;

        // The publishing service owns its stream; without this, a relay that starts before
        // anything created the stream (or after it was lost) would fail forever.
        for service in &outcome.streamless {
            match self.bus.ensure_stream(service).await {
                Ok(_) => tracing::info!(service, "created the missing stream"),
                Err(err) => tracing::warn!(
                    service,
                    error = format!("{err:#}"),
                    "cannot create the missing stream"
                ),
            }
        }
        if self.config.failpoint == Some(Failpoint::AfterPublishBeforeMark) {
            drop(tx);
            return Err(FailpointHit.into());
        }
        if !outcome.unsent.is_empty() {
            sqlx::query("update outbox set published_at = null where event_id = any($1)")
                .bind(&outcome.unsent)
                .execute(&mut *tx)
                .await?;
        }
        if !outcome.quarantined.is_empty() {
            let (ids, reasons): (Vec<Uuid>, Vec<String>) =
                outcome.quarantined.iter().cloned().unzip();
            sqlx::query(
                "update outbox o set published_at = null, quarantined_at = now(),
                                     quarantine_reason = q.reason
                 from unnest($1::uuid[], $2::text[]) as q(event_id, reason)
                 where o.event_id = q.event_id",
            )
            .bind(&ids)
            .bind(&reasons)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        for (event_id, reason) in &outcome.quarantined {
            tracing::warn!(%event_id, reason, "event quarantined: jetstream will not take it");
        }
        if !outcome.unsent.is_empty() {
            anyhow::bail!(
                "{} of {} events not acknowledged",
                outcome.unsent.len(),
                claimed
            );
        }
        Ok(claimed)
    }

    /// Publishes `pending` in order and sorts each row into `outcome` unless acknowledged.
    /// A transient failure to send stops the batch there: the rows after it stay unsent.
    async fn publish(&self, pending: &[Pending], outcome: &mut Outcome) {
        // Pipelined: every publish is sent before any ack is awaited.
        let mut acks: Vec<(&Pending, PublishAckFuture)> = Vec::with_capacity(pending.len());
        for (i, row) in pending.iter().enumerate() {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", row.event_id.to_string().as_str());
            if !row.traceparent.is_empty() {
                headers.insert("traceparent", row.traceparent.as_str());
            }
            let sent = self
                .bus
                .jetstream()
                .publish_with_headers(
                    row.subject.clone(),
                    headers,
                    Bytes::from(row.envelope.clone()),
                )
                .await;
            match sent {
                Ok(ack) => acks.push((row, ack)),
                Err(err) => match refusal(&err) {
                    Some(reason) => outcome.quarantine(row.event_id, reason),
                    None => {
                        tracing::warn!(event_id = %row.event_id, subject = row.subject, error = %err, "publish not sent");
                        outcome
                            .unsent
                            .extend(pending[i..].iter().map(|row| row.event_id));
                        break;
                    }
                },
            }
        }
        let (rows, futures): (Vec<_>, Vec<_>) = acks.into_iter().unzip();
        let results = join_all(
            futures
                .into_iter()
                .map(std::future::IntoFuture::into_future),
        )
        .await;
        for (row, ack) in rows.into_iter().zip(results) {
            let event_id = row.event_id;
            match ack {
                Ok(ack) => {
                    if ack.duplicate {
                        tracing::debug!(%event_id, "already in the stream");
                    }
                }
                Err(err) if err.kind() == PublishErrorKind::StreamNotFound => {
                    if let Some(service) = service_of(self.bus.prefix(), &row.subject) {
                        outcome.streamless.insert(service.to_string());
                    }
                    outcome.unsent.push(event_id);
                }
                Err(err) => match refusal(&err) {
                    Some(reason) => outcome.quarantine(event_id, reason),
                    None => {
                        tracing::warn!(%event_id, error = %err, "publish not acknowledged");
                        outcome.unsent.push(event_id);
                    }
                },
            }
        }
    }
}

/// What became of a batch's rows besides being acknowledged.
#[derive(Default)]
struct Outcome {
    /// To be retried with the next batch.
    unsent: Vec<Uuid>,
    /// Set aside for good, with the reason.
    quarantined: Vec<(Uuid, String)>,
    /// Services whose stream a publish did not find.
    streamless: BTreeSet<String>,
}

impl Outcome {
    fn quarantine(&mut self, event_id: Uuid, reason: String) {
        self.quarantined.push((event_id, reason));
    }
}

/// Why JetStream will never take this message as it is, or `None` when a later attempt may
/// succeed (NATS unreachable, a timeout, a stream without a leader, storage full).
fn refusal(err: &PublishError) -> Option<String> {
    let source = std::error::Error::source(err);
    let permanent = match err.kind() {
        PublishErrorKind::MaxPayloadExceeded => true,
        PublishErrorKind::Other => source.is_some_and(|source| {
            source.is::<async_nats::SubjectError>()
                || source
                    .downcast_ref::<async_nats::jetstream::Error>()
                    .is_some_and(|api| {
                        matches!(
                            api.error_code(),
                            ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM
                                | ErrorCode::STREAM_HEADER_EXCEEDS_MAXIMUM
                        )
                    })
        }),
        _ => false,
    };
    permanent.then(|| match source {
        Some(source) => format!("{err}: {source}"),
        None => err.to_string(),
    })
}

/// The publishing service named by an outbox subject `<prefix>.<service>.<aggregate>.<event>`.
fn service_of<'s>(prefix: &str, subject: &'s str) -> Option<&'s str> {
    subject
        .strip_prefix(prefix)?
        .strip_prefix('.')?
        .split('.')
        .next()
        .filter(|service| !service.is_empty())
}

/// Returned when a relay failpoint fires.
#[derive(Debug, thiserror::Error)]
#[error("relay failpoint hit")]
pub struct FailpointHit;

/// How many rows wait for the relay, and the age of the oldest (for metrics and `anju status`).
/// Quarantined rows wait for an operator instead: see [`crate::outbox::quarantined`].
pub async fn lag(pool: &PgPool) -> sqlx::Result<(i64, Option<f64>)> {
    sqlx::query_as(
        "select count(*), extract(epoch from now() - min(created_at))::float8
         from outbox where published_at is null and quarantined_at is null",
    )
    .fetch_one(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::service_of;

    #[test]
    fn the_publishing_service_is_the_subject_token_after_the_prefix() {
        assert_eq!(
            service_of("anju", "anju.sales.unit.registered"),
            Some("sales")
        );
        assert_eq!(
            service_of("t1a2b", "t1a2b.producer.widget.probe"),
            Some("producer")
        );
        assert_eq!(service_of("anju", "anjux.sales.unit.registered"), None);
        assert_eq!(service_of("anju", "other.sales.unit.registered"), None);
        assert_eq!(service_of("anju", "anju..unit"), None);
    }
}
