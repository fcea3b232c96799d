//! The connection to NATS JetStream and the naming of subjects, streams and consumers.
//!
//! Subjects are `<prefix>.<service>.<aggregate>.<event>`; each publishing service owns one
//! file-backed stream `<PREFIX>_<SERVICE>` over `<prefix>.<service>.>`. Dead letters go to
//! `<prefix>.dlq.<consumer>` in the stream `<PREFIX>_DLQ`.

use std::time::Duration;

use anju_kit::config::NatsSettings;
use anyhow::Context;
use async_nats::jetstream::{self, stream};

/// How long JetStream drops a republished event id (the relay's crash window).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    prefix: String,
    replicas: usize,
    max_deliver: i64,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// Connects (retrying in the background on loss) and checks that JetStream answers.
    pub async fn connect(settings: &NatsSettings) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name("anju")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None)
            .connect(&settings.url)
            .await
            .with_context(|| format!("connecting to NATS at {}", settings.url))?;
        let jetstream = jetstream::new(client.clone());
        let info = tokio::time::timeout(
            Duration::from_secs(10),
            client.request("$JS.API.INFO", "".into()),
        )
        .await
        .context("JetStream did not answer within 10 s")?
        .context("JetStream is not enabled on this NATS server")?;
        let info: serde_json::Value =
            serde_json::from_slice(&info.payload).context("JetStream account info")?;
        if let Some(error) = info.get("error") {
            anyhow::bail!("JetStream is not available: {error}");
        }
        Ok(Self {
            client,
            jetstream,
            prefix: settings.prefix.clone(),
            replicas: settings.replicas,
            max_deliver: settings.max_deliver,
        })
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn max_deliver(&self) -> i64 {
        self.max_deliver
    }

    pub fn stream_name(&self, service: &str) -> String {
        format!("{}_{}", self.prefix, service).to_ascii_uppercase()
    }

    pub fn subject(&self, service: &str, aggregate_type: &str, event: &str) -> String {
        format!("{}.{}.{}.{}", self.prefix, service, aggregate_type, event)
    }

    /// Every subject a service publishes on.
    pub fn service_subjects(&self, service: &str) -> String {
        format!("{}.{}.>", self.prefix, service)
    }

    pub fn dlq_stream_name(&self) -> String {
        self.stream_name("dlq")
    }

    pub fn dlq_subject(&self, consumer: &str) -> String {
        format!("{}.dlq.{}", self.prefix, consumer)
    }

    /// Creates (or keeps) the stream of a publishing service.
    pub async fn ensure_stream(&self, service: &str) -> anyhow::Result<stream::Stream> {
        let name = self.stream_name(service);
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![self.service_subjects(service)],
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                duplicate_window: DUPLICATE_WINDOW,
                max_age: Duration::from_secs(30 * 24 * 3600),
                ..Default::default()
            })
            .await
            .with_context(|| format!("creating stream {name}"))
    }

    /// Creates (or keeps) the dead-letter stream.
    pub async fn ensure_dlq(&self) -> anyhow::Result<stream::Stream> {
        let name = self.dlq_stream_name();
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![format!("{}.dlq.>", self.prefix)],
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                max_age: Duration::from_secs(90 * 24 * 3600),
                ..Default::default()
            })
            .await
            .with_context(|| format!("creating stream {name}"))
    }
}

/// A copy of `headers` without the named ones.
pub fn headers_without(
    headers: Option<&async_nats::HeaderMap>,
    names: &[&str],
) -> async_nats::HeaderMap {
    let mut copy = async_nats::HeaderMap::new();
    if let Some(headers) = headers {
        for (name, values) in headers.iter() {
            if names.iter().any(|n| n.eq_ignore_ascii_case(name.as_ref())) {
                continue;
            }
            for value in values {
                copy.append(name.clone(), value.clone());
            }
        }
    }
    copy
}
