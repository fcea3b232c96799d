//! The one shape of every anju service process: its database (created and migrated), its
//! bus connection and stream, its outbox relay, its consumers and its gRPC server, all
//! stopped by one cancellation token, and its retention sweeps. Every service's `build`
//! returns a [`ServiceHost`].

use std::{sync::Arc, time::Duration};

use anju_kit::{
    Settings,
    auth::{Authenticator, Policy},
    db,
    grpc::GrpcServer,
};
use sqlx::{PgPool, migrate::Migrator};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{Bus, Consumer, ConsumerConfig, Handler, Outbox, Relay, RelayConfig};

/// Everything a service's handlers and consumers need from the platform.
#[derive(Clone)]
pub struct Platform {
    pub service: &'static str,
    pub settings: Settings,
    pub pool: PgPool,
    pub bus: Bus,
    pub outbox: Outbox,
}

impl Platform {
    /// Connects the service's database (migrating it) and the bus (creating its stream).
    pub async fn connect(
        settings: &Settings,
        service: &'static str,
        migrator: &Migrator,
    ) -> anyhow::Result<Self> {
        let pool = db::connect_service(settings, service, &[&crate::migrator(), migrator]).await?;
        let bus = Bus::connect(&settings.nats).await?;
        bus.ensure_stream(service).await?;
        bus.ensure_dlq().await?;
        let outbox = Outbox::new(&bus, service).with_max_event_bytes(settings.nats.max_event_bytes);
        Ok(Self {
            service,
            settings: settings.clone(),
            pool,
            bus,
            outbox,
        })
    }

    /// The durable consumer `<service>-from-<source>` with the configured redelivery bound.
    pub fn consumer(&self, source: &str, handler: Arc<dyn Handler>) -> Consumer {
        let config = self.consumer_config(source);
        Consumer::new(self.pool.clone(), self.bus.clone(), config, handler)
    }

    fn consumer_config(&self, source: &str) -> ConsumerConfig {
        ConsumerConfig::new(
            format!("{}-from-{}", self.service, source),
            source,
            self.settings.nats.max_deliver,
        )
    }

    /// As [`Self::consumer`], for a handler that wants one event of `source`'s stream
    /// (`aggregate_type`, `P`): JetStream delivers only that subject, so the rest of the
    /// stream costs this service nothing. The durable's filter is set when it is created.
    pub fn consumer_of<P: anju_proto::EventPayload>(
        &self,
        source: &str,
        aggregate_type: &str,
        handler: Arc<dyn Handler>,
    ) -> Consumer {
        let mut config = self.consumer_config(source);
        config.filter_subject = Some(self.bus.subject(
            source,
            aggregate_type,
            &crate::event::event_token(P::EVENT_TYPE, aggregate_type),
        ));
        Consumer::new(self.pool.clone(), self.bus.clone(), config, handler)
    }
}

/// A running service: background tasks plus a bound gRPC server.
pub struct ServiceHost {
    server: GrpcServer,
    tasks: JoinSet<anyhow::Result<()>>,
    shutdown: CancellationToken,
    metrics: Vec<crate::metrics::Source>,
    bus: Bus,
    /// (durable name, source) of each consumer, for their lag.
    consumers: Vec<(String, String)>,
}

impl ServiceHost {
    /// Binds the service's gRPC port and starts its relay; add consumers with [`Self::spawn`].
    pub async fn start(platform: &Platform, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let authenticator = Arc::new(Authenticator::from_settings(&platform.settings.auth).await?);
        authenticator.keep_fresh();
        let server = GrpcServer::bind(&platform.settings, platform.service, authenticator).await?;
        let mut tasks = JoinSet::new();
        let relay = Relay::new(
            platform.pool.clone(),
            platform.bus.clone(),
            RelayConfig::default(),
        );
        tasks.spawn(relay.run(shutdown.clone()));
        let retention = &platform.settings.retention;
        tasks.spawn(crate::retention::run(
            platform.pool.clone(),
            crate::retention::platform_sweeps(retention),
            Duration::from_secs(retention.sweep_interval_seconds),
            shutdown.clone(),
        ));
        Ok(Self {
            server,
            tasks,
            shutdown,
            metrics: vec![crate::metrics::platform(
                platform.pool.clone(),
                platform.service,
            )],
            bus: platform.bus.clone(),
            consumers: Vec::new(),
        })
    }

    /// The service's own metrics, beside the platform's (outbox, pool), served by its process
    /// at `telemetry.metrics_address`.
    pub fn with_metrics(mut self, source: crate::metrics::Source) -> Self {
        self.metrics.push(source);
        self
    }

    pub fn metrics(&self) -> crate::metrics::Source {
        let mut sources = self.metrics.clone();
        sources.push(crate::metrics::consumers(
            self.bus.clone(),
            self.consumers.clone(),
        ));
        crate::metrics::combined(sources)
    }

    pub fn add_service<S>(mut self, service: S, policy: Policy) -> Self
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.server = self.server.add_service(service, policy);
        self
    }

    /// Runs a consumer until shutdown.
    pub fn spawn_consumer(&mut self, consumer: Consumer) {
        let config = consumer.config();
        self.consumers
            .push((config.name.clone(), config.source.clone()));
        self.tasks.spawn(consumer.run(self.shutdown.clone()));
    }

    /// Runs a background task of the service (a dispatcher, a timer loop) until shutdown.
    pub fn spawn<F, Fut>(&mut self, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.tasks.spawn(task(self.shutdown.clone()));
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Serves until the shutdown token is cancelled, then waits for the background tasks.
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        let served = self.server.serve(self.shutdown.clone()).await;
        self.shutdown.cancel();
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::error!(error = format!("{err:#}"), "background task failed")
                }
                Err(err) => tracing::error!(error = %err, "background task panicked"),
            }
        }
        served
    }
}
