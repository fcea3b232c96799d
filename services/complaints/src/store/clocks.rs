//! A complaint's clocks as rows: started, paused, resumed and stopped by the complaint's steps
//! (under the complaint's lock), warned and breached by the sweeper ([`crate::events::clocks`]).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

use super::Complaint;
use crate::domain::{
    clocks::{consumed, met, schedule},
    vocabulary::Target,
};

#[derive(Clone, Debug, FromRow)]
pub struct ClockRow {
    pub complaint_id: Uuid,
    pub round: i32,
    pub target: String,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub target_minutes: i32,
    pub started_at: DateTime<Utc>,
    pub consumed_seconds: i64,
    pub running_since: Option<DateTime<Utc>>,
    pub warn_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub warned_at: Option<DateTime<Utc>>,
    pub breached_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub met: Option<bool>,
}

impl ClockRow {
    pub fn target(&self) -> Option<Target> {
        Target::parse(&self.target)
    }

    /// The next instant the sweeper has work on this clock.
    fn next_at(&self) -> Option<DateTime<Utc>> {
        if self.stopped_at.is_some() || self.running_since.is_none() {
            None
        } else if self.warned_at.is_none() {
            self.warn_at
        } else if self.breached_at.is_none() {
            self.due_at
        } else {
            None
        }
    }
}

const COLUMNS: &str = "complaint_id, round, target, tenant_id, project_id, target_minutes,
    started_at, consumed_seconds, running_since, warn_at, due_at, warned_at, breached_at,
    stopped_at, met";

async fn write(conn: &mut PgConnection, k: &ClockRow) -> sqlx::Result<()> {
    sqlx::query(
        "insert into complaint_clocks (complaint_id, round, target, tenant_id, project_id,
             target_minutes, started_at, consumed_seconds, running_since, warn_at, due_at,
             next_at, warned_at, breached_at, stopped_at, met)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         on conflict (complaint_id, round, target) do update set
             consumed_seconds = excluded.consumed_seconds, running_since = excluded.running_since,
             warn_at = excluded.warn_at, due_at = excluded.due_at, next_at = excluded.next_at,
             warned_at = excluded.warned_at, breached_at = excluded.breached_at,
             stopped_at = excluded.stopped_at, met = excluded.met",
    )
    .bind(k.complaint_id)
    .bind(k.round)
    .bind(&k.target)
    .bind(k.tenant_id)
    .bind(k.project_id)
    .bind(k.target_minutes)
    .bind(k.started_at)
    .bind(k.consumed_seconds)
    .bind(k.running_since)
    .bind(k.warn_at)
    .bind(k.due_at)
    .bind(k.next_at())
    .bind(k.warned_at)
    .bind(k.breached_at)
    .bind(k.stopped_at)
    .bind(k.met)
    .execute(conn)
    .await?;
    Ok(())
}

/// Starts the complaint's clock to `target` in its current round (paused if the complaint
/// waits on the owner). A clock already there is left as it is.
pub async fn start(
    conn: &mut PgConnection,
    c: &Complaint,
    target: Target,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    if of_round(&mut *conn, c.complaint_id, c.round)
        .await?
        .iter()
        .any(|k| k.target == target.as_str())
    {
        return Ok(());
    }
    let terms = &c.terms.0;
    let running = c.waiting_since.is_none();
    let s = schedule(terms, target, now, 0);
    let row = ClockRow {
        complaint_id: c.complaint_id,
        round: c.round,
        target: target.as_str().into(),
        tenant_id: c.tenant_id,
        project_id: c.project_id,
        target_minutes: terms.targets.minutes(target) as i32,
        started_at: now,
        consumed_seconds: 0,
        running_since: running.then_some(now),
        warn_at: running.then_some(s.warn_at),
        due_at: running.then_some(s.due_at),
        warned_at: None,
        breached_at: None,
        stopped_at: None,
        met: None,
    };
    write(conn, &row).await
}

/// Stops the clock to `target` in the complaint's current round; tells whether it met its
/// target (`None` when no such clock runs).
pub async fn stop(
    conn: &mut PgConnection,
    c: &Complaint,
    target: Target,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<bool>> {
    let Some(mut k) = of_round(&mut *conn, c.complaint_id, c.round)
        .await?
        .into_iter()
        .find(|k| k.target == target.as_str() && k.stopped_at.is_none())
    else {
        return Ok(None);
    };
    let terms = &c.terms.0;
    if let Some(since) = k.running_since {
        k.consumed_seconds = consumed(terms, since, now, k.consumed_seconds);
    }
    let due = k.running_since.and(k.due_at);
    let ok = met(terms, target, now, due, k.consumed_seconds);
    k.stopped_at = Some(now);
    k.met = Some(ok);
    write(conn, &k).await?;
    Ok(Some(ok))
}

/// Pauses every running clock of the complaint, keeping what each consumed.
pub async fn pause(conn: &mut PgConnection, c: &Complaint, now: DateTime<Utc>) -> sqlx::Result<()> {
    for mut k in running(&mut *conn, c.complaint_id).await? {
        let Some(since) = k.running_since else {
            continue;
        };
        k.consumed_seconds = consumed(&c.terms.0, since, now, k.consumed_seconds);
        k.running_since = None;
        k.warn_at = None;
        k.due_at = None;
        write(conn, &k).await?;
    }
    Ok(())
}

/// Resumes every paused clock of the complaint with what is left of its budget.
pub async fn resume(
    conn: &mut PgConnection,
    c: &Complaint,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    for mut k in running(&mut *conn, c.complaint_id).await? {
        let Some(target) = k.target() else { continue };
        if k.running_since.is_some() {
            continue;
        }
        let s = schedule(&c.terms.0, target, now, k.consumed_seconds);
        k.running_since = Some(now);
        k.warn_at = Some(s.warn_at);
        k.due_at = Some(s.due_at);
        write(conn, &k).await?;
    }
    Ok(())
}

/// Clocks not stopped (running or paused).
async fn running(conn: &mut PgConnection, complaint_id: Uuid) -> sqlx::Result<Vec<ClockRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from complaint_clocks where complaint_id = $1 and stopped_at is null"
    )))
    .bind(complaint_id)
    .fetch_all(conn)
    .await
}

async fn of_round<'e>(
    db: impl PgExecutor<'e>,
    complaint_id: Uuid,
    round: i32,
) -> sqlx::Result<Vec<ClockRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from complaint_clocks where complaint_id = $1 and round = $2"
    )))
    .bind(complaint_id)
    .bind(round)
    .fetch_all(db)
    .await
}

pub async fn of_complaint<'e>(
    db: impl PgExecutor<'e>,
    complaint_id: Uuid,
) -> sqlx::Result<Vec<ClockRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from complaint_clocks where complaint_id = $1
         order by round, started_at, target"
    )))
    .bind(complaint_id)
    .fetch_all(db)
    .await
}

/// Clocks with a warning or a breach due, earliest first: one probe of the `next_at` index.
/// Not locked: the sweeper locks each complaint, then looks again.
pub async fn due(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<ClockRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from complaint_clocks
         where next_at is not null and next_at <= now()
         order by next_at
         limit $1"
    )))
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn get(
    conn: &mut PgConnection,
    complaint_id: Uuid,
    round: i32,
    target: &str,
) -> sqlx::Result<Option<ClockRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from complaint_clocks
         where complaint_id = $1 and round = $2 and target = $3"
    )))
    .bind(complaint_id)
    .bind(round)
    .bind(target)
    .fetch_optional(conn)
    .await
}

/// Marks a clock warned and/or breached.
pub async fn mark(
    conn: &mut PgConnection,
    k: &ClockRow,
    warned: bool,
    breached: bool,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let mut k = k.clone();
    if warned {
        k.warned_at = k.warned_at.or(Some(now));
    }
    if breached {
        k.breached_at = k.breached_at.or(Some(now));
    }
    write(conn, &k).await
}
