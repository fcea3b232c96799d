//! Dead letters: inspect and replay what a consumer gave up on.

use anyhow::Context;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures::StreamExt;
use std::time::Duration;

use crate::bus::Bus;

/// One dead letter as an operator sees it.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    pub sequence: u64,
    pub consumer: String,
    pub original_subject: String,
    pub reason: String,
    pub event_id: Option<String>,
}

async fn read(
    bus: &Bus,
    consumer: Option<&str>,
) -> anyhow::Result<Vec<(DeadLetter, async_nats::jetstream::Message)>> {
    let mut stream = bus.ensure_dlq().await?;
    let filter = match consumer {
        Some(name) => bus.dlq_subject(name),
        None => format!("{}.dlq.>", bus.prefix()),
    };
    let pending = stream.info().await?.state.messages;
    if pending == 0 {
        return Ok(Vec::new());
    }
    // An ephemeral reader: it sees every dead letter without moving any durable cursor.
    let reader = stream
        .create_consumer(pull::Config {
            filter_subject: filter,
            ack_policy: AckPolicy::None,
            deliver_policy: DeliverPolicy::All,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await?;
    let mut batch = reader
        .fetch()
        .max_messages(pending as usize)
        .expires(Duration::from_secs(1))
        .messages()
        .await?;
    let mut letters = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.map_err(|e| anyhow::anyhow!(e))?;
        let info = message.info().map_err(|e| anyhow::anyhow!(e))?;
        let get = |name: &str| {
            message
                .headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_string())
        };
        let letter = DeadLetter {
            sequence: info.stream_sequence,
            consumer: get("Anju-Consumer").unwrap_or_default(),
            original_subject: get("Anju-Original-Subject").unwrap_or_default(),
            reason: get("Anju-Dead-Reason").unwrap_or_default(),
            event_id: <anju_proto::events::Envelope as prost::Message>::decode(
                message.payload.as_ref(),
            )
            .ok()
            .map(|e| e.event_id),
        };
        letters.push((letter, message));
    }
    Ok(letters)
}

/// Dead letters per subject (`<prefix>.dlq.<consumer>`), read from the stream's subject counts
/// without creating the stream: none yet, none counted.
pub async fn counts(bus: &Bus) -> anyhow::Result<std::collections::HashMap<String, u64>> {
    use futures::TryStreamExt;
    let stream = match bus.jetstream().get_stream(bus.dlq_stream_name()).await {
        Ok(stream) => stream,
        Err(err) => {
            use async_nats::jetstream::{ErrorCode, context::GetStreamErrorKind};
            if let GetStreamErrorKind::JetStream(e) = err.kind()
                && e.error_code() == ErrorCode::STREAM_NOT_FOUND
            {
                return Ok(Default::default());
            }
            return Err(err.into());
        }
    };
    let mut subjects = stream
        .info_with_subjects(format!("{}.dlq.>", bus.prefix()))
        .await?;
    let mut counts = std::collections::HashMap::new();
    while let Some((subject, n)) = subjects.try_next().await? {
        counts.insert(subject, n as u64);
    }
    Ok(counts)
}

/// Lists the dead letters of one consumer, or of all.
pub async fn list(bus: &Bus, consumer: Option<&str>) -> anyhow::Result<Vec<DeadLetter>> {
    Ok(read(bus, consumer)
        .await?
        .into_iter()
        .map(|(l, _)| l)
        .collect())
}

/// Republishes dead letters to their original subjects and removes them from the DLQ.
/// The replayed copy gets a fresh message id, so JetStream's duplicate window cannot drop it;
/// consumers that had already applied the event skip it by its event id.
pub async fn replay(bus: &Bus, consumer: Option<&str>) -> anyhow::Result<usize> {
    let stream = bus.ensure_dlq().await?;
    let mut replayed = 0;
    for (letter, message) in read(bus, consumer).await? {
        if letter.original_subject.is_empty() {
            continue;
        }
        let mut headers = crate::bus::headers_without(
            message.headers.as_ref(),
            &[
                "Anju-Original-Subject",
                "Anju-Consumer",
                "Anju-Dead-Reason",
                "Nats-Msg-Id",
            ],
        );
        headers.insert(
            "Nats-Msg-Id",
            format!(
                "{}:replay:{}",
                letter.event_id.as_deref().unwrap_or("?"),
                letter.sequence
            )
            .as_str(),
        );
        bus.jetstream()
            .publish_with_headers(
                letter.original_subject.clone(),
                headers,
                message.payload.clone(),
            )
            .await?
            .await
            .context("replay not acknowledged")?;
        stream.delete_message(letter.sequence).await?;
        replayed += 1;
    }
    Ok(replayed)
}
