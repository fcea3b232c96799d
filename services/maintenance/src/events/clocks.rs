//! The work-order clock sweeper: it wakes for the next warning or breach (at least every
//! quarter second), takes the orders due and, in the transaction that marks each clock,
//! publishes `WorkOrderClockWarned` / `WorkOrderClockBreached` with the contractor's feed item
//! and, on a breach by the responsible contractor, reassigns the order to the backup vendor
//! (DOMAIN.md §3.5). Each fires once whatever the restarts or the number of sweepers: the marks,
//! the escalation and the events commit together, under the order's lock, one order a
//! transaction; an order a step holds is skipped and comes back at the next sweep, so one busy
//! order holds up no other.

use std::time::Duration;

use anju_messaging::{EventMeta, Outbox};
use anju_proto::events::{WorkOrderClockBreached, WorkOrderClockWarned};
use chrono::Utc;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    api::orders::{self, Cause, Origin},
    domain::work_order::Firing,
    store::{self, clocks},
};

const MOST: Duration = Duration::from_millis(250);
const LEAST: Duration = Duration::from_millis(20);
const BATCH: i64 = 200;
/// How long an order whose clock failed to fire waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(30);

pub async fn run(pool: PgPool, outbox: Outbox, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        let wait = match sweep(&pool, &outbox).await {
            Ok(n) if n as i64 == BATCH => LEAST,
            Ok(_) => next_wait(&pool).await.unwrap_or(MOST),
            Err(err) => {
                tracing::warn!(error = %err, "work-order clock sweep failed; retrying");
                MOST
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn next_wait(pool: &PgPool) -> sqlx::Result<Duration> {
    let next = clocks::next_at(pool).await?;
    Ok(anju_kit::time::sweep_wait(next, Utc::now(), LEAST, MOST))
}

/// Fires the due warnings and breaches of one batch, each order in its own short
/// transaction (so no lock outlives its order); returns how many orders it took. An order
/// that fails is tried again 30 s later, not first in every sweep; the others go on.
pub async fn sweep(pool: &PgPool, outbox: &Outbox) -> anyhow::Result<usize> {
    let due = clocks::due(pool, BATCH).await?;
    let mut fired = 0;
    for id in &due {
        let mut tx = pool.begin().await?;
        match fire(&mut tx, outbox, *id).await {
            Ok(true) => {
                tx.commit().await?;
                fired += 1;
            }
            Ok(false) => tx.rollback().await?,
            Err(err) => {
                tracing::warn!(
                    repair_request_id = %id,
                    error = format!("{err:#}"),
                    "a work order's clock failed to fire; it is tried again in 30 s"
                );
                tx.rollback().await?;
                clocks::postpone(pool, *id, RETRY_AFTER).await?;
            }
        }
    }
    Ok(fired)
}

/// Fires order `id`'s due clocks; `false` when a step holds the order (it comes back at the
/// next sweep).
async fn fire(conn: &mut PgConnection, outbox: &Outbox, id: Uuid) -> anyhow::Result<bool> {
    let Some(mut r) = store::for_update_skip_locked(conn, id).await? else {
        return Ok(false);
    };
    let now = Utc::now();
    let mut clocks = r.clocks();
    let due = clocks.due(now);
    let origin = Origin {
        outbox,
        tenant: r.tenant_id,
        cause: None,
    };
    let mut breached = None;
    for (name, firing, by) in &due {
        clocks.fired(name, *firing);
        let contractor = r.contractor_id.map(|c| c.to_string()).unwrap_or_default();
        let meta = || EventMeta::new(r.tenant_id, "repair_request", id);
        match firing {
            Firing::Warn => {
                let event = WorkOrderClockWarned {
                    repair_request_id: id.to_string(),
                    project_id: r.project_id.to_string(),
                    contractor_id: contractor,
                    clock: name.to_string(),
                    due_at_unix: by.timestamp(),
                    assignment: r.assignments,
                };
                outbox.append(conn, meta(), &event).await?;
            }
            Firing::Breach => {
                let event = WorkOrderClockBreached {
                    repair_request_id: id.to_string(),
                    project_id: r.project_id.to_string(),
                    contractor_id: contractor,
                    clock: name.to_string(),
                    due_at_unix: by.timestamp(),
                    assignment: r.assignments,
                };
                outbox.append(conn, meta(), &event).await?;
                r.breaches += 1;
                breached.get_or_insert(*name);
            }
        }
        if let Some(contractor) = r.contractor_id {
            let kind = match firing {
                Firing::Warn => "clock_warning",
                Firing::Breach => "clock_breached",
            };
            let item = orders::item(&r, contractor, kind, name, Some(*by));
            origin.feed(conn, contractor, item).await?;
        }
    }
    r.set_clocks(&clocks);
    store::save_order(conn, &r).await?;
    if let Some(clock) = breached {
        let reason = format!("the {clock} deadline passed");
        orders::escalate(conn, &origin, &mut r, Cause::Breach, &reason, now).await?;
    }
    Ok(true)
}
