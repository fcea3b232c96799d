//! Prometheus metrics. Each service renders its own families in the text exposition format at
//! scrape time, from its database ([`Source`]); a process serves those of the services it
//! hosts together on `GET /metrics` at `telemetry.metrics_address` ([`serve`]), after the
//! process's RPC rate, errors and durations (`anju_kit::metrics`).
//!
//! Figures a service already keeps in its tables (complaints by clock state, their monthly
//! counts) are read from those tables when scraped, so every replica answers the same and a
//! restart loses nothing; Prometheus computes rates and per-period figures from the counters.

use std::{future::Future, net::SocketAddr, pin::Pin, sync::Arc};

use sqlx::PgPool;

pub use anju_kit::metrics::Exposition;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A service's metrics, rendered when scraped.
pub type Source =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<String>> + Send>> + Send + Sync>;

/// Several sources as one, rendered in order.
pub fn combined(sources: Vec<Source>) -> Source {
    let sources = Arc::new(sources);
    Arc::new(move || {
        let sources = sources.clone();
        Box::pin(async move {
            let mut out = String::new();
            for source in sources.iter() {
                out += &source().await?;
            }
            Ok(out)
        })
    })
}

/// What every service exports about its platform: the outbox's backlog, the age of its oldest
/// unpublished event and its quarantined rows, and the database pool in use.
pub fn platform(pool: PgPool, service: &'static str) -> Source {
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move {
            let (backlog, oldest_ms, quarantined): (i64, i64, i64) = sqlx::query_as(
                "select count(*) filter (where quarantined_at is null),
                        coalesce((extract(epoch from now() - min(created_at)
                                  filter (where quarantined_at is null)) * 1000)::bigint, 0),
                        count(*) filter (where quarantined_at is not null)
                 from outbox where published_at is null",
            )
            .fetch_one(&pool)
            .await?;
            let mut e = Exposition::default();
            let labels = [("service", service)];
            e.family(
                "anju_outbox_backlog",
                "gauge",
                "Events written and not yet published to JetStream.",
            );
            e.sample("anju_outbox_backlog", &labels, backlog);
            e.family(
                "anju_outbox_oldest_age_seconds",
                "gauge",
                "How long the oldest unpublished event has waited (0 when none waits).",
            );
            e.sample(
                "anju_outbox_oldest_age_seconds",
                &labels,
                format!("{}.{:03}", oldest_ms / 1000, oldest_ms % 1000),
            );
            e.family(
                "anju_outbox_quarantined",
                "gauge",
                "Events set aside as unpublishable, waiting for an operator.",
            );
            e.sample("anju_outbox_quarantined", &labels, quarantined);
            let size = pool.size();
            let idle = pool.num_idle() as u32;
            e.family(
                "anju_db_pool_connections",
                "gauge",
                "The service's database connections, in use and idle.",
            );
            e.sample(
                "anju_db_pool_connections",
                &[("service", service), ("state", "in_use")],
                size.saturating_sub(idle),
            );
            e.sample(
                "anju_db_pool_connections",
                &[("service", service), ("state", "idle")],
                idle,
            );
            e.family(
                "anju_db_pool_max_connections",
                "gauge",
                "The most connections the service's pool opens.",
            );
            e.sample(
                "anju_db_pool_max_connections",
                &labels,
                pool.options().get_max_connections(),
            );
            Ok(e.finish())
        })
    })
}

/// A service's consumers as JetStream counts them: events not yet delivered (the lag),
/// delivered and not yet acknowledged, and redelivered; and the dead letters of each. A
/// consumer JetStream does not know (yet) is left out.
pub fn consumers(bus: crate::Bus, consumers: Vec<(String, String)>) -> Source {
    let consumers = Arc::new(consumers);
    Arc::new(move || {
        let (bus, consumers) = (bus.clone(), consumers.clone());
        Box::pin(async move {
            let mut e = Exposition::default();
            let mut rows = Vec::new();
            for (name, source) in consumers.iter() {
                let Ok(stream) = bus.jetstream().get_stream(bus.stream_name(source)).await else {
                    continue;
                };
                if let Ok(info) = stream.consumer_info(name).await {
                    rows.push((name.clone(), info));
                }
            }
            for (family, help, value) in [
                (
                    "anju_consumer_pending",
                    "Events on the stream the consumer has not been delivered yet (its lag).",
                    (|i: &async_nats::jetstream::consumer::Info| i.num_pending)
                        as fn(&async_nats::jetstream::consumer::Info) -> u64,
                ),
                (
                    "anju_consumer_ack_pending",
                    "Events delivered and not yet acknowledged.",
                    |i| i.num_ack_pending as u64,
                ),
                (
                    "anju_consumer_redelivered",
                    "Events delivered more than once and still unacknowledged.",
                    |i| i.num_redelivered as u64,
                ),
            ] {
                e.family(family, "gauge", help);
                for (name, info) in &rows {
                    e.sample(family, &[("consumer", name.as_str())], value(info));
                }
            }
            e.family(
                "anju_dead_letters",
                "gauge",
                "Events a consumer gave up on, waiting on the dead-letter stream for an operator.",
            );
            for (name, _) in consumers.iter() {
                let dead = crate::dlq::count(&bus, name).await.unwrap_or(0);
                e.sample("anju_dead_letters", &[("consumer", name.as_str())], dead);
            }
            Ok(e.finish())
        })
    })
}

/// Binds `address` (port 0: any free one); the listener and its port.
pub async fn bind(address: &str) -> anyhow::Result<(TcpListener, u16)> {
    let address: SocketAddr = tokio::net::lookup_host(address)
        .await
        .with_context(|| format!("metrics address {address}"))?
        .next()
        .with_context(|| format!("metrics address {address} resolves to nothing"))?;
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the metrics address {address}"))?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

/// Serves `GET /metrics` with every source's families until `shutdown`. A source that fails
/// is left out of that scrape (and logged); the others are served.
pub async fn serve(
    listener: TcpListener,
    sources: Vec<(&'static str, Source)>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let sources = Arc::new(sources);
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let sources = sources.clone();
            async move {
                // The process's RPC metrics, then each service's own.
                let mut body = anju_kit::metrics::render_rpcs();
                for (service, source) in sources.iter() {
                    match source().await {
                        Ok(text) => body += &text,
                        Err(err) => {
                            tracing::warn!(service, error = format!("{err:#}"), "metrics failed")
                        }
                    }
                }
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    body,
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
