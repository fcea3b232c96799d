//! The timer loop: fires due timers once each, each in the transaction that applies it.
//! Timers are rows, so one due while the coordinator was down fires after restart. Timers due
//! together (a batch's notices on their date) fire up to [`BATCH`] to a transaction, each
//! behind a savepoint, so one that fails does not hold up the others.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Engine, store};

/// The most timers fired in one transaction.
const BATCH: i64 = 64;

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
        let mut due: Vec<(Uuid, String, String)> = sqlx::query_as(
            "select t.saga_id, t.name, s.flow || '/' || s.saga_key
             from saga_timers t join sagas s using (saga_id)
             where t.fired_at is null and t.fire_at <= now()
             order by t.fire_at limit $1 for update of t skip locked",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        // Sagas are locked in the order the event consumer locks them (flow/key), so a batch
        // of timers and a batch of events never wait on each other in a circle.
        due.sort_by(|a, b| a.2.cmp(&b.2));
        let mut fired = 0;
        for (saga_id, name, _) in due {
            sqlx::query("savepoint timer").execute(&mut *tx).await?;
            match self.fire(&mut tx, saga_id, &name).await {
                Ok(()) => {
                    sqlx::query("release savepoint timer")
                        .execute(&mut *tx)
                        .await?;
                    fired += 1;
                }
                Err(err) => {
                    tracing::warn!(%saga_id, timer = name, error = format!("{err:#}"), "timer failed; left due");
                    sqlx::query("rollback to savepoint timer")
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(fired)
    }

    /// Fires one timer in the caller's transaction: marks it fired and applies it to its saga.
    async fn fire(
        &self,
        tx: &mut sqlx::PgConnection,
        saga_id: Uuid,
        name: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("update saga_timers set fired_at = now() where saga_id = $1 and name = $2")
            .bind(saga_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if let Some(saga) = store::lock_by_id(tx, saga_id).await?
            && !saga.terminal
            && let Some(flow) = self.flow(&saga.flow)
            && let Some(next) = flow.on_timer(&saga.state_data, name)?
        {
            store::advance(tx, &saga, &next, &format!("timer {name}")).await?;
        }
        Ok(())
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
