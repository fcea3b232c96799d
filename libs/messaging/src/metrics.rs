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

/// How long one source may take to render before a scrape goes on without it.
const SOURCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Several sources as one, rendered together; one that fails or takes longer than 5 s is left
/// out of that scrape (and logged) and the others are served.
pub fn combined(sources: Vec<Source>) -> Source {
    let sources = Arc::new(sources);
    Arc::new(move || {
        let sources = sources.clone();
        Box::pin(async move {
            let rendered = futures::future::join_all(
                sources
                    .iter()
                    .map(|source| tokio::time::timeout(SOURCE_TIMEOUT, source())),
            )
            .await;
            let mut out = String::new();
            for result in rendered {
                match result {
                    Ok(Ok(text)) => out += &text,
                    Ok(Err(err)) => tracing::warn!(error = format!("{err:#}"), "metrics failed"),
                    Err(_) => tracing::warn!("metrics took too long; left out of this scrape"),
                }
            }
            Ok(out)
        })
    })
}

/// Text from several sources with each family once: its HELP and TYPE lines, then every
/// sample of it whichever source wrote it (a process hosting several services renders the
/// platform's families once per service).
pub fn merge(text: &str) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut families: std::collections::HashMap<String, (Vec<String>, Vec<String>)> =
        std::collections::HashMap::new();
    let mut current = String::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
        {
            current = rest.split(' ').next().unwrap_or("").to_string();
            let family = families.entry(current.clone()).or_insert_with(|| {
                order.push(current.clone());
                Default::default()
            });
            if family.0.len() < 2 && !family.0.iter().any(|h| h == line) {
                family.0.push(line.to_string());
            }
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap_or("");
        // A histogram's _bucket, _sum and _count belong to the family declared before them.
        let family = if name.starts_with(current.as_str()) && !current.is_empty() {
            current.clone()
        } else {
            name.to_string()
        };
        families
            .entry(family.clone())
            .or_insert_with(|| {
                order.push(family.clone());
                Default::default()
            })
            .1
            .push(line.to_string());
    }
    let mut out = String::new();
    for name in order {
        if let Some((head, samples)) = families.get(&name) {
            for line in head.iter().chain(samples) {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// What every service exports about its platform: the outbox's backlog, the age of its oldest
/// unpublished event and its quarantined rows, and the database pool in use.
pub fn platform(pool: PgPool, service: &'static str) -> Source {
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move {
            // Each count on the partial index that holds its rows, not the whole retained outbox.
            let (backlog, oldest_ms): (i64, i64) = sqlx::query_as(
                "select count(*),
                        coalesce((extract(epoch from now() - min(created_at)) * 1000)::bigint, 0)
                 from outbox where published_at is null and quarantined_at is null",
            )
            .fetch_one(&pool)
            .await?;
            let quarantined: i64 = sqlx::query_scalar(
                "select count(*) from outbox
                 where published_at is null and quarantined_at is not null",
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
            // Left out, not 0, when the dead-letter stream cannot be read: a failed read must
            // not clear an alert.
            if let Ok(dead) = crate::dlq::counts(&bus).await {
                for (name, _) in consumers.iter() {
                    let n = dead.get(&bus.dlq_subject(name)).copied().unwrap_or(0);
                    e.sample("anju_dead_letters", &[("consumer", name.as_str())], n);
                }
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
/// Serves `GET /metrics` (at most four scrapes at once; a fifth waits) until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    sources: Vec<(&'static str, Source)>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let sources = Arc::new(sources);
    let scrapes = Arc::new(tokio::sync::Semaphore::new(4));
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (sources, scrapes) = (sources.clone(), scrapes.clone());
            async move {
                let _permit = scrapes.acquire().await;
                // The process's RPC metrics, then each service's own, each family once.
                let mut body = anju_kit::metrics::render_rpcs();
                let all: Vec<Source> = sources.iter().map(|(_, s)| s.clone()).collect();
                if let Ok(text) = combined(all)().await {
                    body += &text;
                }
                let body = merge(&body);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_of_several_services_are_merged_into_one_each() {
        let text = "# HELP anju_outbox_backlog b\n# TYPE anju_outbox_backlog gauge\n\
                    anju_outbox_backlog{service=\"sales\"} 1\n\
                    # HELP anju_h h\n# TYPE anju_h histogram\nanju_h_bucket{le=\"+Inf\"} 2\n\
                    anju_h_sum 0.5\nanju_h_count 2\n\
                    # HELP anju_outbox_backlog b\n# TYPE anju_outbox_backlog gauge\n\
                    anju_outbox_backlog{service=\"title\"} 3\n";
        assert_eq!(
            merge(text),
            "# HELP anju_outbox_backlog b\n# TYPE anju_outbox_backlog gauge\n\
             anju_outbox_backlog{service=\"sales\"} 1\nanju_outbox_backlog{service=\"title\"} 3\n\
             # HELP anju_h h\n# TYPE anju_h histogram\nanju_h_bucket{le=\"+Inf\"} 2\n\
             anju_h_sum 0.5\nanju_h_count 2\n"
        );
    }
}
