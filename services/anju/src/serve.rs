//! `anju serve --target …` and `anju migrate --target …`.

use anju::{Stack, targets};

use crate::output::Output;
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

/// Creates and migrates the databases of the services named by `target`, printing what each
/// took; fails on the first that cannot be migrated.
pub async fn migrate(settings: &Settings, target: &str, output: Output) -> anyhow::Result<()> {
    let names = targets(target)?;
    let done = anju::migrate(settings, &names).await?;
    output.emit(
        || serde_json::json!({ "migrated": done }),
        || {
            for m in &done {
                println!(
                    "{:<12} {:<28} {} migrations applied now, {} in this release",
                    m.service, m.database, m.applied, m.known
                );
            }
        },
    );
    Ok(())
}
