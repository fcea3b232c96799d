//! Prometheus metrics. Each service renders its own families in the text exposition format at
//! scrape time, from its database ([`Source`]); a process serves those of the services it
//! hosts together on `GET /metrics` at `telemetry.metrics_address` ([`serve`]), after the
//! process's RPC rate, errors and durations (`anju_kit::metrics`).
//!
//! Figures a service already keeps in its tables (complaints by clock state, their monthly
//! counts) are read from those tables when scraped, so every replica answers the same and a
//! restart loses nothing; Prometheus computes rates and per-period figures from the counters.

use std::{future::Future, net::SocketAddr, pin::Pin, sync::Arc};

pub use anju_kit::metrics::Exposition;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A service's metrics, rendered when scraped.
pub type Source =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<String>> + Send>> + Send + Sync>;

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
