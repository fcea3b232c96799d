//! Retention: each service deletes what it no longer needs to keep, on its own, in small
//! batches. Stored responses of request ids (names, phones, complaint texts) after
//! `idempotency_days` (a repeat after that is a new call); published outbox rows after
//! `outbox_days` (the window `anju outbox replay` can re-publish); inbox rows after
//! `inbox_days` (never shorter than the outbox's, so a replayed event is still recognised);
//! and whatever a service adds ([`Sweep`]: the coordinator empties the payloads of commands
//! done for `saga_command_days`).

use std::time::Duration;

use anju_kit::config::RetentionSettings;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Rows one statement removes at most: short transactions, no long locks.
const BATCH: i64 = 1_000;

/// One retention statement: `$1` is the window in seconds, `$2` the batch size; it affects at
/// most `$2` rows, and is repeated until it affects fewer.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub table: &'static str,
    pub sql: &'static str,
    pub window: Duration,
}

/// The sweeps of the platform tables every service database carries.
pub fn platform_sweeps(settings: &RetentionSettings) -> Vec<Sweep> {
    let days = |d: u32| Duration::from_secs(u64::from(d) * 86_400);
    vec![
        Sweep {
            table: "idempotency_keys",
            sql: "delete from idempotency_keys where ctid = any(array(
                      select ctid from idempotency_keys
                      where created_at < now() - make_interval(secs => $1) limit $2))",
            window: days(settings.idempotency_days),
        },
        Sweep {
            table: "outbox",
            sql: "delete from outbox where ctid = any(array(
                      select ctid from outbox
                      where published_at is not null
                        and created_at < now() - make_interval(secs => $1) limit $2))",
            window: days(settings.outbox_days),
        },
        Sweep {
            table: "inbox",
            sql: "delete from inbox where ctid = any(array(
                      select ctid from inbox
                      where received_at < now() - make_interval(secs => $1) limit $2))",
            window: days(settings.inbox_days),
        },
    ]
}

/// Runs every sweep once; returns the rows affected per table.
pub async fn sweep_once(
    pool: &PgPool,
    sweeps: &[Sweep],
) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let mut affected = Vec::with_capacity(sweeps.len());
    for sweep in sweeps {
        let mut total = 0;
        loop {
            let n = sqlx::query(sqlx::AssertSqlSafe(sweep.sql))
                .bind(sweep.window.as_secs_f64())
                .bind(BATCH)
                .execute(pool)
                .await?
                .rows_affected();
            total += n;
            if n < BATCH as u64 {
                break;
            }
        }
        affected.push((sweep.table, total));
    }
    Ok(affected)
}

/// Sweeps every `interval` until shutdown; a failed round is logged and tried again next time.
pub async fn run(
    pool: PgPool,
    sweeps: Vec<Sweep>,
    interval: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
        match sweep_once(&pool, &sweeps).await {
            Ok(affected) => {
                for (table, rows) in affected.into_iter().filter(|(_, rows)| *rows > 0) {
                    tracing::info!(table, rows, "retention removed expired rows");
                }
            }
            Err(err) => tracing::warn!(error = format!("{err:#}"), "retention round failed"),
        }
    }
}
