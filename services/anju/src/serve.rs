//! `anju serve --target …`.

use anju::{Stack, targets};
use anju_kit::{Settings, grpc::cancel_on_signal, telemetry};
use tokio_util::sync::CancellationToken;

/// Starts the services named by `target` and serves until SIGINT/SIGTERM.
pub async fn run(settings: Settings, target: &str) -> anyhow::Result<()> {
    let names = targets(target)?;
    let telemetry = telemetry::init(&format!("anju-{target}"), &settings.telemetry)?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
    let stack = Stack::start(&settings, &names, shutdown).await?;
    tracing::info!(services = names.len(), "anju is serving");
    let outcome = stack.wait().await;
    tracing::info!("all services stopped");
    telemetry.shutdown();
    outcome
}
