//! Durable clocks (the statutory 60/90 days from handover, the buyer's choice deadline): rows
//! the sweeper claims when a warning or a breach falls due.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::clocks::{Clock, Deadline};

#[derive(Clone, Debug, FromRow)]
pub struct ClockRow {
    pub contract_id: Uuid,
    pub kind: String,
    pub unit_id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub due_on: NaiveDate,
    pub warn_on: NaiveDate,
    pub warn_at: DateTime<Utc>,
    pub breach_at: DateTime<Utc>,
    pub warned_at: Option<DateTime<Utc>>,
    pub breached_at: Option<DateTime<Utc>>,
    pub met_at: Option<DateTime<Utc>>,
}

impl ClockRow {
    pub fn clock(&self) -> Option<Clock> {
        Clock::parse(&self.kind)
    }
}

const COLUMNS: &str = "contract_id, kind, unit_id, tenant_id, project_id, due_on, warn_on, warn_at,
    breach_at, warned_at, breached_at, met_at";

/// Starts a clock; one per contract and kind, so a repeated start changes nothing.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    conn: &mut PgConnection,
    tenant: Uuid,
    project_id: Uuid,
    unit_id: Uuid,
    contract_id: Uuid,
    clock: Clock,
    d: &Deadline,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into title_clocks (contract_id, kind, unit_id, tenant_id, project_id, due_on, warn_on,
                                   warn_at, breach_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict (contract_id, kind) do nothing",
    )
    .bind(contract_id)
    .bind(clock.as_str())
    .bind(unit_id)
    .bind(tenant)
    .bind(project_id)
    .bind(d.due_on)
    .bind(d.warn_on)
    .bind(d.warn_at)
    .bind(d.breach_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The step a clock counts to is done: it neither warns nor breaches any more.
pub async fn meet(conn: &mut PgConnection, contract_id: Uuid, clock: Clock) -> sqlx::Result<()> {
    sqlx::query(
        "update title_clocks set met_at = now()
         where contract_id = $1 and kind = $2 and met_at is null",
    )
    .bind(contract_id)
    .bind(clock.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn of_contract<'e>(
    db: impl PgExecutor<'e>,
    contract_id: Uuid,
) -> sqlx::Result<Vec<ClockRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from title_clocks where contract_id = $1 order by due_on, kind"
    )))
    .bind(contract_id)
    .fetch_all(db)
    .await
}

/// Clocks with a warning or a breach due (not locked: the sweeper locks each file, then its
/// clock, in the order the API does, and looks again).
pub async fn due(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<ClockRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from title_clocks
         where met_at is null
           and ((warned_at is null and warn_at <= now()) or (breached_at is null and breach_at <= now()))
         order by least(warn_at, breach_at)
         limit $1"
    )))
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn lock(
    conn: &mut PgConnection,
    contract_id: Uuid,
    kind: &str,
) -> sqlx::Result<Option<ClockRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from title_clocks where contract_id = $1 and kind = $2 for update"
    )))
    .bind(contract_id)
    .bind(kind)
    .fetch_optional(conn)
    .await
}

pub async fn mark(
    conn: &mut PgConnection,
    contract_id: Uuid,
    kind: &str,
    warned: bool,
    breached: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "update title_clocks set
             warned_at = case when $3 then coalesce(warned_at, now()) else warned_at end,
             breached_at = case when $4 then coalesce(breached_at, now()) else breached_at end
         where contract_id = $1 and kind = $2",
    )
    .bind(contract_id)
    .bind(kind)
    .bind(warned)
    .bind(breached)
    .execute(conn)
    .await?;
    Ok(())
}
