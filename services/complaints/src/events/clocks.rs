//! The clock sweeper: it wakes for the next clock's warning or breach (at least every quarter
//! second), claims the clocks due and, in the transaction that marks each, publishes
//! `ComplaintClockWarned` / `ComplaintClockBreached` and records the escalation to the
//! complaint's supervisor. Each fires once whatever the restarts: the mark, the escalation and
//! the event commit together, and a second sweeper finds them marked under the complaint's lock.
//! A complaint a step holds is skipped and comes back at the next sweep, so one busy complaint
//! holds up no other tenant's clocks.

use std::time::Duration;

use anju_messaging::{EventMeta, Outbox};
use anju_proto::events::{ComplaintClockBreached, ComplaintClockWarned};
use chrono::Utc;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::store::{self, clocks};

const MOST: Duration = Duration::from_millis(250);
const LEAST: Duration = Duration::from_millis(20);
const BATCH: i64 = 200;

pub async fn run(pool: PgPool, outbox: Outbox, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        let wait = match sweep(&pool, &outbox).await {
            // A full batch fired: more may be due at once.
            Ok(n) if n as i64 == BATCH => LEAST,
            Ok(_) => next_wait(&pool).await.unwrap_or(MOST),
            Err(err) => {
                tracing::warn!(error = %err, "complaint clock sweep failed; retrying");
                MOST
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Until the next warning or breach, between 20 and 250 ms.
async fn next_wait(pool: &PgPool) -> sqlx::Result<Duration> {
    let next: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("select min(next_at) from complaint_clocks where next_at is not null")
            .fetch_one(pool)
            .await?;
    Ok(anju_kit::time::sweep_wait(next, Utc::now(), LEAST, MOST))
}

/// Fires the due warnings and breaches of one batch; returns how many clocks it fired. One
/// complaint that fails is left for the next sweep (its own savepoint) and fires nothing; the
/// others go on.
pub async fn sweep(pool: &PgPool, outbox: &Outbox) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let due = clocks::due(&mut tx, BATCH).await?;
    let mut fired = 0;
    for listed in &due {
        let mut one = sqlx::Connection::begin(&mut *tx).await?;
        match fire(&mut one, outbox, listed).await {
            Ok(true) => {
                one.commit().await?;
                fired += 1;
            }
            Ok(false) => one.rollback().await?,
            Err(err) => {
                tracing::warn!(
                    complaint_id = %listed.complaint_id,
                    error = format!("{err:#}"),
                    "a complaint's clock failed to fire; it is tried again at the next sweep"
                );
                one.rollback().await?;
            }
        }
    }
    tx.commit().await?;
    Ok(fired)
}

/// Fires one listed clock if it is still due; tells whether it did.
async fn fire(
    tx: &mut sqlx::PgConnection,
    outbox: &Outbox,
    listed: &clocks::ClockRow,
) -> anyhow::Result<bool> {
    let Some(c) = store::lock_unless_busy(&mut *tx, listed.complaint_id).await? else {
        return Ok(false);
    };
    // Looked at again under the complaint's lock: a step or another sweeper may have
    // stopped, paused or fired it meanwhile.
    let Some(k) = clocks::get(&mut *tx, listed.complaint_id, listed.round, &listed.target).await?
    else {
        return Ok(false);
    };
    if k.stopped_at.is_some() || k.running_since.is_none() {
        return Ok(false);
    }
    let now = Utc::now();
    let warn = k.warned_at.is_none() && k.warn_at.is_some_and(|at| at <= now);
    let breach = k.breached_at.is_none() && k.due_at.is_some_and(|at| at <= now);
    if !warn && !breach {
        return Ok(false);
    }
    clocks::mark(&mut *tx, &k, warn, breach, now).await?;
    let meta = || EventMeta::new(c.tenant_id, "complaint", c.complaint_id);
    let due_at = k.due_at.map(|d| d.to_rfc3339()).unwrap_or_default();
    if warn {
        let event = ComplaintClockWarned {
            complaint_id: c.complaint_id.to_string(),
            project_id: c.project_id.to_string(),
            target: k.target.clone(),
            round: k.round,
            due_at: due_at.clone(),
        };
        outbox.append(&mut *tx, meta(), &event).await?;
    }
    if breach {
        let supervisor = c.terms.0.supervisor.clone();
        store::escalate(&mut *tx, c.complaint_id, k.round, &k.target, &supervisor).await?;
        let event = ComplaintClockBreached {
            complaint_id: c.complaint_id.to_string(),
            project_id: c.project_id.to_string(),
            target: k.target.clone(),
            round: k.round,
            due_at,
            escalated_to: supervisor,
            queue: c.queue.clone(),
        };
        outbox.append(&mut *tx, meta(), &event).await?;
    }
    Ok(true)
}
