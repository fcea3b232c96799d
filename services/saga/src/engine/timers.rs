//! The timer loop: fires due timers once each, each in the transaction that applies it.
//! Timers are rows, so one due while the coordinator was down fires after restart. Timers due
//! together (a batch's notices on their date) fire up to [`BATCH`] to a transaction, each
//! behind a savepoint, so one that fails does not hold up the others; it is tried again later.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::{Engine, store};

/// The most timers fired in one transaction: each behind a savepoint, and Postgres caches 64
/// subtransactions per transaction before every snapshot gets slower.
const BATCH: i64 = 64;

/// How long a timer whose firing failed waits before it is tried again, so failing timers do
/// not fill every round.
const RETRY_AFTER_SECONDS: i64 = 30;

impl Engine {
    pub async fn run_timers(self, pool: PgPool, shutdown: CancellationToken) -> anyhow::Result<()> {
        loop {
            let fired = match self.fire_due(&pool).await {
                Ok(n) => n,
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "timer round failed");
                    0
                }
            };
            if fired > 0 {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    /// Fires the due timers, up to [`BATCH`] in one transaction; returns how many fired. A
    /// timer whose firing fails is rolled back to its savepoint and left due (it is tried
    /// again on the next round), the others fire.
    pub async fn fire_due(&self, pool: &PgPool) -> anyhow::Result<usize> {
        let mut tx = pool.begin().await?;
        // The timers and their sagas are locked together, skipping any a step holds (an event
        // being applied, an operator's cancellation, another round): this round waits for no
        // lock while it holds others, so it waits on nothing in a circle.
        let due: Vec<(Uuid, String, String)> = sqlx::query_as(
            "select t.saga_id, t.name, t.traceparent
             from saga_timers t join sagas s using (saga_id)
             where t.fired_at is null and t.fire_at <= now()
             order by t.fire_at limit $1 for update of t, s skip locked",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let mut fired = 0;
        for (saga_id, name, traceparent) in due {
            sqlx::query("savepoint timer").execute(&mut *tx).await?;
            // The step a timer fires belongs to the trace of the transition that set it.
            let span = tracing::info_span!(
                "saga.timer",
                otel.name = %format!("timer {name}"),
                saga.id = %saga_id,
                saga.timer = %name,
                trace_id = tracing::field::Empty,
                span_id = tracing::field::Empty,
            );
            anju_kit::telemetry::continue_trace(&span, &traceparent);
            match self.fire(&mut tx, saga_id, &name).instrument(span).await {
                Ok(true) => {
                    sqlx::query("release savepoint timer")
                        .execute(&mut *tx)
                        .await?;
                    fired += 1;
                }
                Ok(false) => {
                    sqlx::query("release savepoint timer")
                        .execute(&mut *tx)
                        .await?;
                }
                Err(err) => {
                    tracing::warn!(%saga_id, timer = name, error = format!("{err:#}"), "timer failed; tried again in {RETRY_AFTER_SECONDS} s");
                    sqlx::query("rollback to savepoint timer")
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "update saga_timers set fire_at = now() + make_interval(secs => $3)
                         where saga_id = $1 and name = $2",
                    )
                    .bind(saga_id)
                    .bind(&name)
                    .bind(RETRY_AFTER_SECONDS as f64)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(fired)
    }

    /// Fires one timer in the caller's transaction: marks it fired and applies it to its saga.
    /// `false` when an earlier firing of this round cancelled or moved it.
    async fn fire(
        &self,
        tx: &mut sqlx::PgConnection,
        saga_id: Uuid,
        name: &str,
    ) -> anyhow::Result<bool> {
        let marked = sqlx::query(
            "update saga_timers set fired_at = now()
             where saga_id = $1 and name = $2 and fired_at is null and fire_at <= now()",
        )
        .bind(saga_id)
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked == 0 {
            return Ok(false);
        }
        if let Some(saga) = store::lock_by_id(tx, saga_id).await?
            && !saga.terminal
            && let Some(flow) = self.flow(&saga.flow)
            && let Some(next) = flow.on_timer(&saga.state_data, name)?
        {
            store::advance(tx, &saga, &next, &format!("timer {name}")).await?;
        }
        Ok(true)
    }

    /// An operator's cancellation: the flow's compensation, in one transaction.
    pub async fn cancel(
        &self,
        pool: &PgPool,
        tenant: Uuid,
        saga_id: Uuid,
        reason: &str,
    ) -> anyhow::Result<Option<store::SagaRow>> {
        let mut tx = pool.begin().await?;
        let Some(saga) = store::lock_by_id(&mut tx, saga_id)
            .await?
            .filter(|s| s.tenant_id == tenant)
        else {
            return Ok(None);
        };
        if saga.terminal {
            return Ok(Some(saga));
        }
        let flow = self
            .flow(&saga.flow)
            .ok_or_else(|| anyhow::anyhow!("unknown flow {}", saga.flow))?;
        let next = flow.on_cancel(&saga.state_data)?;
        let saga = store::advance(
            &mut tx,
            &saga,
            &next,
            &format!("cancelled by operator: {reason}"),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(saga))
    }
}
