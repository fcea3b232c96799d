//! anju-messaging: domain events on NATS JetStream with exactly-once effects.
//!
//! - [`Outbox::append`] writes an event in the caller's transaction, beside the state change.
//! - [`Relay`] publishes pending rows with `Nats-Msg-Id` = event id, waits for the JetStream
//!   ack, marks them sent; it wakes on `LISTEN anju_outbox` and works in batches.
//! - [`Consumer`] pulls from a durable consumer, applies each event and records
//!   `(consumer, event_id)` in the inbox in one transaction, then acks; a duplicate is acked
//!   and skipped; a failing event is retried with backoff and, after the last attempt, moved to
//!   the dead-letter stream, from where [`dlq::replay`] puts it back.
//! - Trace context travels in the `traceparent` header, so a consumer's span joins the
//!   producer's trace.

pub mod bus;
pub mod command;
pub mod consumer;
pub mod directory;
pub mod dlq;
pub mod event;
pub mod host;
pub mod metrics;
pub mod outbox;
pub mod relay;
pub mod retention;
pub mod settlement;

pub use bus::Bus;
pub use command::{Commands, Effect};
pub use consumer::{
    Consumer, ConsumerConfig, Failpoint as ConsumerFailpoint, Handler, HandlerError,
};
pub use event::{Event, EventMeta};
pub use outbox::Outbox;
pub use relay::{Failpoint as RelayFailpoint, Relay, RelayConfig};

/// The outbox and inbox tables, tracked apart from the service's own migrations.
pub fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.dangerous_set_table_name("_anju_messaging_migrations");
    migrator
}
