//! The outbox writer: an event row in the caller's transaction, beside the state change.

use anju_kit::{ServiceError, db::Writes, telemetry};
use anju_proto::{EventPayload, events::Envelope};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{EventMeta, bus::Bus, event::event_token};

/// The largest encoded envelope an outbox accepts by default. NATS refuses a message over its
/// `max_payload` (1 MiB unless configured otherwise); half of that leaves room for the
/// headers, the subject and a server configured below the default.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 512 * 1024;

/// Writes events of one publishing service.
#[derive(Clone, Debug)]
pub struct Outbox {
    service: &'static str,
    prefix: String,
    max_event_bytes: usize,
}

/// An event whose encoded envelope is over the outbox's limit: the request that caused it
/// carries too much (thousands of defects in one inspection, say), so it is the caller's to fix.
#[derive(Debug, thiserror::Error)]
#[error("event {event_type} is {size} bytes, over the limit of {limit}")]
pub struct EventTooLarge {
    pub event_type: &'static str,
    pub size: usize,
    pub limit: usize,
}

impl From<EventTooLarge> for ServiceError {
    fn from(err: EventTooLarge) -> Self {
        let name = err.event_type.rsplit('.').next().unwrap_or(err.event_type);
        ServiceError::invalid(
            "request",
            format!(
                "too large: its {name} event would be {} bytes, over the limit of {}",
                err.size, err.limit
            ),
        )
    }
}

/// Why [`Outbox::append`] wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    TooLarge(#[from] EventTooLarge),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<AppendError> for ServiceError {
    fn from(err: AppendError) -> Self {
        match err {
            AppendError::TooLarge(err) => err.into(),
            AppendError::Database(err) => err.into(),
        }
    }
}

impl Outbox {
    pub fn new(bus: &Bus, service: &'static str) -> Self {
        Self::with_prefix(bus.prefix(), service)
    }

    /// For writers that have no bus connection at hand (the subject prefix is enough).
    pub fn with_prefix(prefix: impl Into<String>, service: &'static str) -> Self {
        Self {
            service,
            prefix: prefix.into(),
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
        }
    }

    /// Sets the largest encoded envelope this outbox accepts.
    pub fn with_max_event_bytes(mut self, max_event_bytes: usize) -> Self {
        self.max_event_bytes = max_event_bytes;
        self
    }

    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// Appends `payload` to the outbox in the caller's transaction and returns its event id.
    /// The event carries the current span's trace context and the aggregate's next sequence.
    /// An event over the size limit is refused before anything is written.
    pub async fn append<P: EventPayload>(
        &self,
        conn: &mut PgConnection,
        meta: EventMeta,
        payload: &P,
    ) -> Result<Uuid, AppendError> {
        let mut writes = Writes::new();
        let event_id = self.append_to(&mut writes, meta, payload)?;
        writes.execute(conn).await?;
        Ok(event_id)
    }

    /// Like [`Outbox::append`], as two CTEs of `writes` (the aggregate's next sequence and the
    /// outbox row), so the event goes in with the rest of the statement. One statement takes
    /// at most one event per aggregate: two would change the aggregate's sequence row twice.
    /// An event over the size limit adds nothing to `writes`.
    pub fn append_to<P: EventPayload>(
        &self,
        writes: &mut Writes,
        meta: EventMeta,
        payload: &P,
    ) -> Result<Uuid, EventTooLarge> {
        let event_id = Uuid::now_v7();
        let traceparent = telemetry::current_traceparent();
        let now = std::time::SystemTime::now();
        let envelope = Envelope {
            event_id: event_id.to_string(),
            event_type: P::EVENT_TYPE.to_string(),
            tenant_id: meta.tenant_id.to_string(),
            aggregate_type: meta.aggregate_type.to_string(),
            aggregate_id: meta.aggregate_id.clone(),
            // Set by the relay from the row: the sequence is taken in the insert itself.
            sequence: 0,
            occurred_at: Some(prost_types::Timestamp::from(now)),
            correlation_id: meta.correlation_id.unwrap_or_else(|| event_id.to_string()),
            causation_id: meta.causation_id.unwrap_or_default(),
            traceparent: traceparent.clone(),
            payload: payload.encode_to_vec(),
        };
        let envelope = envelope.encode_to_vec();
        if envelope.len() > self.max_event_bytes {
            return Err(EventTooLarge {
                event_type: P::EVENT_TYPE,
                size: envelope.len(),
                limit: self.max_event_bytes,
            });
        }
        let partition = meta
            .partition
            .as_deref()
            .map(|p| format!("{p}."))
            .unwrap_or_default();
        let subject = format!(
            "{}.{}.{}.{partition}{}",
            self.prefix,
            self.service,
            meta.aggregate_type,
            event_token(P::EVENT_TYPE, meta.aggregate_type)
        );
        let aggregate_id = meta.aggregate_id;
        let from = writes.from_condition();
        let next = writes.add(|q| {
            q.push(
                "insert into aggregate_sequences (aggregate_type, aggregate_id, last_sequence) select ",
            )
            .push_bind(meta.aggregate_type)
            .push(", ")
            .push_bind(aggregate_id.clone())
            .push(", 1")
            .push(from)
            .push(
                " on conflict (aggregate_type, aggregate_id)
                 do update set last_sequence = aggregate_sequences.last_sequence + 1
                 returning last_sequence",
            );
        });
        writes.add(|q| {
            q.push(
                "insert into outbox (event_id, subject, event_type, tenant_id, aggregate_type, aggregate_id,
                                     sequence, envelope, traceparent) select ",
            )
            .push_bind(event_id)
            .push(", ")
            .push_bind(subject)
            .push(", ")
            .push_bind(P::EVENT_TYPE)
            .push(", ")
            .push_bind(meta.tenant_id)
            .push(", ")
            .push_bind(meta.aggregate_type)
            .push(", ")
            .push_bind(aggregate_id)
            .push(format_args!(", {next}.last_sequence, "))
            .push_bind(envelope)
            .push(", ")
            .push_bind(traceparent)
            .push(format_args!(" from {next}"));
        });
        Ok(event_id)
    }
}

/// Marks rows created since `since` as unpublished, so the relay sends them again. Harmless:
/// JetStream drops ids inside its duplicate window and every consumer's inbox drops the rest.
pub async fn replay_since(
    pool: &sqlx::PgPool,
    since: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("update outbox set published_at = null where created_at >= $1")
            .bind(since)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// Deletes published rows older than the retention window.
pub async fn prune(
    pool: &sqlx::PgPool,
    older_than: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("delete from outbox where published_at is not null and created_at < $1")
            .bind(older_than)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// An outbox row the relay set aside because JetStream will never take it as it is.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Quarantined {
    pub event_id: Uuid,
    pub subject: String,
    pub event_type: String,
    pub tenant_id: Uuid,
    pub envelope_bytes: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub quarantined_at: chrono::DateTime<chrono::Utc>,
    pub reason: String,
}

/// The quarantined rows, oldest first.
pub async fn quarantined(pool: &sqlx::PgPool) -> sqlx::Result<Vec<Quarantined>> {
    sqlx::query_as(
        "select event_id, subject, event_type, tenant_id, octet_length(envelope) as envelope_bytes,
                created_at, quarantined_at, quarantine_reason as reason
         from outbox where quarantined_at is not null
         order by position",
    )
    .fetch_all(pool)
    .await
}

/// Hands a quarantined row back to the relay (once whatever made it unpublishable is fixed);
/// returns false when no such row is quarantined. A row still unpublishable is quarantined again.
pub async fn release(pool: &sqlx::PgPool, event_id: Uuid) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let released = sqlx::query(
        "update outbox set quarantined_at = null, quarantine_reason = null, published_at = null
         where event_id = $1 and quarantined_at is not null",
    )
    .bind(event_id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if released {
        // An idle relay waits for this notification (or its slow poll).
        sqlx::query("select pg_notify('anju_outbox', '')")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(released)
}
