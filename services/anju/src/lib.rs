//! The module manager behind `anju serve --target …` (after Grafana Loki's `-target`):
//! starts any set of services in one process, each with its own database, gRPC port and
//! consumers. The binary and the end-to-end tests both use [`Stack`].

use std::collections::BTreeMap;

use anju_kit::{Settings, config::SERVICES};
use anyhow::bail;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Running services and the ports they serve on.
pub struct Stack {
    ports: BTreeMap<&'static str, u16>,
    running: JoinSet<anyhow::Result<()>>,
    shutdown: CancellationToken,
    metrics_port: Option<u16>,
}

/// Points `settings` at services started in this process (their ports may have been 0).
fn settings_with_endpoints(
    settings: &mut Settings,
    ports: &BTreeMap<&'static str, u16>,
) -> Settings {
    for (name, port) in ports {
        let url = settings.url_at(*port);
        settings
            .grpc
            .endpoints
            .entry(name.to_string())
            .or_insert(url);
    }
    settings.clone()
}

/// Resolves `all`, one service name or a comma-separated list to the services to run.
pub fn targets(target: &str) -> anyhow::Result<Vec<&'static str>> {
    if target == "all" {
        return Ok(SERVICES.to_vec());
    }
    // One service, or several separated by commas (`sales,finance`).
    let mut names = Vec::new();
    for one in target.split(',').map(str::trim) {
        match SERVICES.iter().find(|s| **s == one) {
            Some(name) if !names.contains(name) => names.push(*name),
            Some(_) => {}
            None => bail!(
                "unknown target {one:?}; expected all, or services among {}",
                SERVICES.join(", ")
            ),
        }
    }
    Ok(names)
}

/// `anju migrate --target …`: each named service's database created if needed and brought to
/// this release's migrations (the platform's, the messaging crate's and the service's own),
/// without starting anything — a Kubernetes Job before the rollout, so the services' own
/// roles need no right to create databases or tables (`ANJU_DATABASE_MIGRATE=verify`).
pub async fn migrate(
    settings: &Settings,
    names: &[&'static str],
) -> anyhow::Result<Vec<anju_kit::db::Migrated>> {
    let messaging = anju_messaging::migrator();
    let mut done = Vec::new();
    for name in names {
        let own = match *name {
            "sales" => anju_sales::migrator(),
            "finance" => anju_finance::migrator(),
            "handover" => anju_handover::migrator(),
            "maintenance" => anju_maintenance::migrator(),
            "complaints" => anju_complaints::migrator(),
            "title" => anju_title::migrator(),
            "saga" => anju_saga::migrator(),
            other => bail!("unknown service {other}"),
        };
        done.push(anju_kit::db::migrate_service(settings, name, &[&messaging, &own]).await?);
    }
    Ok(done)
}

macro_rules! start_service {
    ($crate_name:ident, $running:expr, $metrics:expr, $settings:expr, $shutdown:expr) => {{
        let host = $crate_name::build($settings, $shutdown).await?;
        let port = host.port();
        $metrics.push(($crate_name::NAME, host.metrics()));
        $running.spawn(host.run_until_stopped());
        port
    }};
}

impl Stack {
    /// Builds and starts each named service; they stop when `shutdown` is cancelled.
    pub async fn start(
        settings: &Settings,
        names: &[&'static str],
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let mut running = JoinSet::new();
        let mut ports = BTreeMap::new();
        let mut metrics = Vec::new();
        // The coordinator calls the others: start it last, pointed at where they listen.
        let mut ordered: Vec<&'static str> =
            names.iter().copied().filter(|n| *n != "saga").collect();
        if names.contains(&"saga") {
            ordered.push("saga");
        }
        let mut settings = settings.clone();
        settings.database.max_connections = settings.pool_size(ordered.len());
        for name in ordered {
            let settings = &settings_with_endpoints(&mut settings, &ports);
            let token = shutdown.clone();
            let port = match name {
                "sales" => start_service!(anju_sales, running, metrics, settings, token),
                "finance" => start_service!(anju_finance, running, metrics, settings, token),
                "handover" => start_service!(anju_handover, running, metrics, settings, token),
                "maintenance" => {
                    start_service!(anju_maintenance, running, metrics, settings, token)
                }
                "complaints" => start_service!(anju_complaints, running, metrics, settings, token),
                "title" => start_service!(anju_title, running, metrics, settings, token),
                "saga" => start_service!(anju_saga, running, metrics, settings, token),
                other => bail!("unknown service {other}"),
            };
            tracing::info!(service = name, port, "service started");
            ports.insert(name, port);
        }
        let metrics_port = match &settings.telemetry.metrics_address {
            Some(address) => {
                let (listener, port) = anju_messaging::metrics::bind(address).await?;
                tracing::info!(port, "serving metrics at /metrics");
                running.spawn(anju_messaging::metrics::serve(
                    listener,
                    metrics,
                    shutdown.clone(),
                ));
                Some(port)
            }
            None => None,
        };
        Ok(Self {
            ports,
            running,
            shutdown,
            metrics_port,
        })
    }

    pub fn port(&self, service: &str) -> Option<u16> {
        self.ports.get(service).copied()
    }

    /// Where this process serves its services' Prometheus metrics, if it does.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub fn ports(&self) -> &BTreeMap<&'static str, u16> {
        &self.ports
    }

    /// Waits until every service stopped; one failing stops the others.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut failed = false;
        while let Some(joined) = self.running.join_next().await {
            let outcome = joined.map_err(anyhow::Error::new).and_then(|r| r);
            if let Err(err) = outcome {
                tracing::error!(
                    error = format!("{err:#}"),
                    "service stopped with an error; stopping the others"
                );
                failed = true;
                self.shutdown.cancel();
            }
        }
        if failed {
            bail!("a service failed");
        }
        Ok(())
    }

    /// Stops every service and waits for them.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// Typed clients that carry a bearer token (and the trace context) on every call.
pub mod journey;

pub mod client {
    use std::time::Duration;

    use anju_kit::grpc::ClientAuth;
    use anyhow::Context;
    use tonic::{service::interceptor::InterceptedService, transport::Channel};

    pub type Authed = InterceptedService<Channel, ClientAuth>;

    /// A lazily connecting channel to `host:port`.
    pub fn channel(host: &str, port: u16) -> anyhow::Result<Channel> {
        channel_at(&format!("http://{host}:{port}"))
    }

    pub fn authed(host: &str, port: u16, token: &str) -> anyhow::Result<Authed> {
        authed_at(&format!("http://{host}:{port}"), token)
    }

    /// A lazily connecting channel to a service's URL (`http://saga.anju.svc:7006`, or what
    /// `Settings::endpoint` gives): host names are resolved when it connects.
    pub fn channel_at(url: &str) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(url.to_string())
            .with_context(|| format!("service address {url}"))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(15))
            .connect_lazy())
    }

    pub fn authed_at(url: &str, token: &str) -> anyhow::Result<Authed> {
        Ok(InterceptedService::new(
            channel_at(url)?,
            ClientAuth::bearer(token)?,
        ))
    }
}
