//! The outbox writer: an event row in the caller's transaction, beside the state change.

use anju_kit::{db::Writes, telemetry};
use anju_proto::{EventPayload, events::Envelope};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{EventMeta, bus::Bus, event::event_token};

/// Writes events of one publishing service.
#[derive(Clone, Debug)]
pub struct Outbox {
    service: &'static str,
    prefix: String,
}

impl Outbox {
    pub fn new(bus: &Bus, service: &'static str) -> Self {
        Self {
            service,
            prefix: bus.prefix().to_string(),
        }
    }

    /// For writers that have no bus connection at hand (the subject prefix is enough).
    pub fn with_prefix(prefix: impl Into<String>, service: &'static str) -> Self {
        Self {
            service,
            prefix: prefix.into(),
        }
    }

    /// Appends `payload` to the outbox in the caller's transaction and returns its event id.
    /// The event carries the current span's trace context and the aggregate's next sequence.
    pub async fn append<P: EventPayload>(
        &self,
        conn: &mut PgConnection,
        meta: EventMeta,
        payload: &P,
    ) -> sqlx::Result<Uuid> {
        let mut writes = Writes::new();
        let event_id = self.append_to(&mut writes, meta, payload);
        writes.execute(conn).await?;
        Ok(event_id)
    }

    /// Like [`Outbox::append`], as two CTEs of `writes` (the aggregate's next sequence and the
    /// outbox row), so the event goes in with the rest of the statement. One statement takes
    /// at most one event per aggregate: two would change the aggregate's sequence row twice.
    pub fn append_to<P: EventPayload>(
        &self,
        writes: &mut Writes,
        meta: EventMeta,
        payload: &P,
    ) -> Uuid {
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
        let subject = format!(
            "{}.{}.{}.{}",
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
            .push_bind(envelope.encode_to_vec())
            .push(", ")
            .push_bind(traceparent)
            .push(format_args!(" from {next}"));
        });
        event_id
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
