//! Prometheus metrics. Each service renders its own families in the text exposition format at
//! scrape time, from its database ([`Source`]); a process serves those of the services it
//! hosts together on `GET /metrics` at `telemetry.metrics_address` ([`serve`]).
//!
//! Figures a service already keeps in its tables (complaints by clock state, their monthly
//! counts) are read from those tables when scraped, so every replica answers the same and a
//! restart loses nothing; Prometheus computes rates and per-period figures from the counters.

use std::{fmt::Write, future::Future, net::SocketAddr, pin::Pin, sync::Arc};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A service's metrics, rendered when scraped.
pub type Source =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<String>> + Send>> + Send + Sync>;

/// The text exposition format, family by family.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a family: `kind` is `gauge` or `counter`.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: i64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let _ = writeln!(self.out, "{name}{{{}}} {value}", labels.join(","));
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A label value as the format wants it: backslash, double quote and line feed escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
                let mut body = String::new();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::default();
        e.family("anju_x", "gauge", "a test");
        e.sample("anju_x", &[("a", "q\"uote\\\n")], 3);
        assert_eq!(
            e.finish(),
            "# HELP anju_x a test\n# TYPE anju_x gauge\nanju_x{a=\"q\\\"uote\\\\\\n\"} 3\n"
        );
    }
}
