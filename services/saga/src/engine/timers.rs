//! The timer loop: fires due timers once each, each in the transaction that applies it.
//! Timers are rows, so one due while the coordinator was down fires after restart.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Engine, store};

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

    /// Fires at most one due timer; returns how many fired.
    pub async fn fire_due(&self, pool: &PgPool) -> anyhow::Result<usize> {
        let mut tx = pool.begin().await?;
        let due: Option<(Uuid, String)> = sqlx::query_as(
            "select saga_id, name from saga_timers where fired_at is null and fire_at <= now()
             order by fire_at limit 1 for update skip locked",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some((saga_id, name)) = due else {
            return Ok(0);
        };
        sqlx::query("update saga_timers set fired_at = now() where saga_id = $1 and name = $2")
            .bind(saga_id)
            .bind(&name)
            .execute(&mut *tx)
            .await?;
        if let Some(saga) = store::lock_by_id(&mut tx, saga_id).await?
            && !saga.terminal
            && let Some(flow) = self.flow(&saga.flow)
            && let Some(next) = flow.on_timer(&saga.state_data, &name)?
        {
            store::advance(&mut tx, &saga, &next, &format!("timer {name}")).await?;
        }
        tx.commit().await?;
        Ok(1)
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
