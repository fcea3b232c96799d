//! The event envelope as producers describe it and consumers receive it.

use anju_proto::{EventPayload, events::Envelope};
use uuid::Uuid;

/// What a producer says about an event besides its payload.
#[derive(Clone, Debug)]
pub struct EventMeta {
    pub tenant_id: Uuid,
    /// Lowercase aggregate name, one subject token: `unit`, `contract`, `handover_batch`.
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    /// The journey this event belongs to; a new one starts at the event itself when empty.
    pub correlation_id: Option<String>,
    /// The event or request that caused this one.
    pub causation_id: Option<String>,
    /// A token between the aggregate and the event in the subject
    /// (`<prefix>.<service>.<aggregate>.<partition>.<event>`), for readers that filter on it
    /// (a partner's own feed).
    pub partition: Option<String>,
}

impl EventMeta {
    pub fn new(tenant_id: Uuid, aggregate_type: &'static str, aggregate_id: impl ToString) -> Self {
        Self {
            tenant_id,
            aggregate_type,
            aggregate_id: aggregate_id.to_string(),
            correlation_id: None,
            causation_id: None,
            partition: None,
        }
    }

    /// Publishes under `partition` (one subject token: letters, digits, `_` and `-`).
    pub fn partitioned(mut self, partition: impl Into<String>) -> Self {
        let partition = partition.into();
        debug_assert!(
            !partition.is_empty()
                && partition
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
        self.partition = Some(partition);
        self
    }

    /// Continues the journey of `cause`: same correlation id, causation = the cause's event id.
    pub fn caused_by(mut self, cause: &Event) -> Self {
        self.correlation_id = Some(cause.envelope.correlation_id.clone());
        self.causation_id = Some(cause.envelope.event_id.clone());
        self
    }

    pub fn caused_by_request(mut self, request_id: &str) -> Self {
        self.causation_id = Some(request_id.to_string());
        self
    }
}

/// A received event: the envelope plus where and how often it was delivered.
#[derive(Clone, Debug)]
pub struct Event {
    pub envelope: Envelope,
    pub event_id: Uuid,
    pub tenant_id: Uuid,
    pub subject: String,
    /// Delivery attempt, starting at 1.
    pub delivered: i64,
}

impl Event {
    pub fn from_envelope(
        envelope: Envelope,
        subject: String,
        delivered: i64,
    ) -> anyhow::Result<Self> {
        let event_id = Uuid::parse_str(&envelope.event_id)
            .map_err(|_| anyhow::anyhow!("envelope event_id is not a UUID"))?;
        let tenant_id = Uuid::parse_str(&envelope.tenant_id)
            .map_err(|_| anyhow::anyhow!("envelope tenant_id is not a UUID"))?;
        Ok(Self {
            envelope,
            event_id,
            tenant_id,
            subject,
            delivered,
        })
    }

    pub fn event_type(&self) -> &str {
        &self.envelope.event_type
    }

    pub fn is<P: EventPayload>(&self) -> bool {
        self.envelope.event_type == P::EVENT_TYPE
    }

    /// Decodes the payload as `P`; fails if the envelope names another type.
    pub fn decode<P: EventPayload>(&self) -> anyhow::Result<P> {
        if !self.is::<P>() {
            anyhow::bail!(
                "event is {}, not {}",
                self.envelope.event_type,
                P::EVENT_TYPE
            );
        }
        Ok(<P as prost::Message>::decode(
            self.envelope.payload.as_slice(),
        )?)
    }

    pub fn sequence(&self) -> i64 {
        self.envelope.sequence
    }
}

/// `UnitRegistered` on aggregate `unit` → `registered`; `ProjectCreated` on `unit` → `project_created`.
pub fn event_token(event_type: &str, aggregate_type: &str) -> String {
    let name = event_type.rsplit('.').next().unwrap_or(event_type);
    let mut snake = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    let prefix = format!("{aggregate_type}_");
    match snake.strip_prefix(&prefix) {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => snake,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_tokens_drop_the_aggregate_prefix() {
        assert_eq!(
            event_token("anju.events.v1.UnitRegistered", "unit"),
            "registered"
        );
        assert_eq!(
            event_token("anju.events.v1.ProjectCreated", "unit"),
            "project_created"
        );
        assert_eq!(
            event_token("anju.events.v1.HandoverBatchOpened", "handover_batch"),
            "opened"
        );
    }
}
