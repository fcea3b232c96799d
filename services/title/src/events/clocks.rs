//! The clock sweeper: every second it claims the clocks whose warning or breach is due and, in
//! the transaction that marks each, publishes `TitleClockWarned` / `TitleClockBreached` (or,
//! for a buyer's choice left unanswered, records the buyer as keeping the home). Each is
//! published once, whatever the restarts: the mark and the event commit together, and a
//! second sweeper skips the rows the first holds.

use std::time::Duration;

use anju_messaging::{EventMeta, Outbox};
use anju_proto::events::{BuyerChoiceRecorded, TitleClockBreached, TitleClockWarned};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::publish::{StepError, money};
use crate::{
    domain::{
        clocks::Clock,
        file::{Choice, developer_at_fault, waiting_for},
    },
    store::{self, clocks as rows, files, steps},
};

const EVERY: Duration = Duration::from_secs(1);
const BATCH: i64 = 200;

pub async fn run(pool: PgPool, outbox: Outbox, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        match sweep(&pool, &outbox).await {
            // A full batch: more may be due at once.
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "title clock sweep failed; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// Fires the due warnings and breaches of one batch; returns how many clocks it handled.
pub async fn sweep(pool: &PgPool, outbox: &Outbox) -> Result<usize, StepError> {
    let mut tx = pool.begin().await?;
    let due = rows::due(&mut tx, BATCH).await?;
    let now = chrono::Utc::now();
    for listed in &due {
        let Some(file) =
            files::lock_by_contract(&mut tx, listed.tenant_id, listed.contract_id).await?
        else {
            // The unit's file moved on to another contract: this one's clocks stop (else they
            // would be listed as due at every sweep).
            if let Some(kind) = Clock::parse(&listed.kind) {
                rows::meet(&mut tx, listed.contract_id, kind).await?;
            }
            continue;
        };
        // Looked at again under the file's lock: another sweeper may have fired it meanwhile.
        let Some(clock) = rows::lock(&mut tx, listed.contract_id, &listed.kind).await? else {
            continue;
        };
        if clock.met_at.is_some() {
            continue;
        }
        let warn = clock.warned_at.is_none() && clock.warn_at <= now;
        let breach = clock.breached_at.is_none() && clock.breach_at <= now;
        rows::mark(&mut tx, clock.contract_id, &clock.kind, warn, breach).await?;
        let meta = || EventMeta::new(clock.tenant_id, "title_file", clock.unit_id);
        if clock.clock() == Some(Clock::Choice) {
            // Unanswered by the deadline: the buyer keeps the home.
            if breach && file.choice.is_none() && !file.cancelled {
                let file = steps::record_choice(&mut tx, file.unit_id, Choice::Keep, true).await?;
                rows::meet(&mut tx, clock.contract_id, Clock::Choice).await?;
                let event = BuyerChoiceRecorded {
                    contract_id: clock.contract_id.to_string(),
                    unit_id: clock.unit_id.to_string(),
                    project_id: clock.project_id.to_string(),
                    customer_id: file.customer_id.map(|c| c.to_string()).unwrap_or_default(),
                    choice: Choice::Keep.as_str().into(),
                    deemed: true,
                    buyer_amount: money(file.buyer_amount_minor.unwrap_or(0), &file.currency),
                    interest_bp: 0,
                };
                outbox.append(&mut tx, meta(), &event).await?;
            }
            continue;
        }
        let loaded = store::load(&mut tx, file).await?;
        let waits: Vec<String> = waiting_for(&loaded.facts())
            .into_iter()
            .map(str::to_string)
            .collect();
        if warn {
            let event = TitleClockWarned {
                contract_id: clock.contract_id.to_string(),
                unit_id: clock.unit_id.to_string(),
                project_id: clock.project_id.to_string(),
                clock: clock.kind.clone(),
                due_on: clock.due_on.to_string(),
                waiting_for: waits.clone(),
            };
            outbox.append(&mut tx, meta(), &event).await?;
        }
        if breach {
            let refs: Vec<&str> = waits.iter().map(String::as_str).collect();
            let event = TitleClockBreached {
                contract_id: clock.contract_id.to_string(),
                unit_id: clock.unit_id.to_string(),
                project_id: clock.project_id.to_string(),
                clock: clock.kind.clone(),
                due_on: clock.due_on.to_string(),
                developer_at_fault: developer_at_fault(&refs),
                waiting_for: waits,
            };
            outbox.append(&mut tx, meta(), &event).await?;
        }
    }
    tx.commit().await?;
    Ok(due.len())
}
