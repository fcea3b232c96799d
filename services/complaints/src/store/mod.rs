//! Complaints' SQL: the complaints ([`self`]), their clocks ([`clocks`]), the standards
//! ([`standards`]) and the statistics ([`stats`]).

pub mod clocks;
pub mod standards;
pub mod stats;

use anju_kit::{Principal, ServiceError, ServiceResult};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor, types::Json};
use uuid::Uuid;

use crate::domain::{standard::Terms, vocabulary::Queue};

#[derive(Clone, Debug, FromRow)]
pub struct Complaint {
    pub complaint_id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub unit_id: Option<Uuid>,
    pub complainant: String,
    pub complainant_kind: String,
    pub customer_id: Option<Uuid>,
    pub contact_phone: String,
    pub common_part: String,
    pub related_kind: Option<String>,
    pub related_id: Option<Uuid>,
    pub channel: String,
    pub category: String,
    pub severity: String,
    pub text: String,
    pub recorded_at: DateTime<Utc>,
    pub recorded_month: String,
    pub queue: String,
    pub assignee: String,
    pub status: String,
    pub round: i32,
    pub reopen_count: i32,
    pub waiting_since: Option<DateTime<Utc>>,
    pub waiting_reason: String,
    pub resolution: String,
    pub repair_request_id: Option<Uuid>,
    pub repair_closed: bool,
    pub repeat_of: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub taken_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub terms: Json<Terms>,
}

impl Complaint {
    pub fn queue(&self) -> Queue {
        Queue::parse(&self.queue).unwrap_or(Queue::CustomerService)
    }
}

const COLUMNS: &str = "complaint_id, tenant_id, project_id, unit_id, complainant, complainant_kind,
    customer_id, contact_phone, common_part, related_kind, related_id, channel, category, severity,
    text, recorded_at, recorded_month, queue, assignee, status, round, reopen_count, waiting_since,
    waiting_reason, resolution, repair_request_id, repair_closed, repeat_of, acknowledged_at,
    taken_at, resolved_at, closed_at, terms";

pub async fn insert(conn: &mut PgConnection, c: &Complaint) -> sqlx::Result<()> {
    sqlx::query(
        "insert into complaints (complaint_id, tenant_id, project_id, unit_id, complainant,
             complainant_kind, customer_id, contact_phone, common_part, related_kind, related_id,
             channel, category, severity, text, recorded_at, recorded_month, queue, repeat_of, terms)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                 $19, $20)",
    )
    .bind(c.complaint_id)
    .bind(c.tenant_id)
    .bind(c.project_id)
    .bind(c.unit_id)
    .bind(&c.complainant)
    .bind(&c.complainant_kind)
    .bind(c.customer_id)
    .bind(&c.contact_phone)
    .bind(&c.common_part)
    .bind(&c.related_kind)
    .bind(c.related_id)
    .bind(&c.channel)
    .bind(&c.category)
    .bind(&c.severity)
    .bind(&c.text)
    .bind(c.recorded_at)
    .bind(&c.recorded_month)
    .bind(&c.queue)
    .bind(c.repeat_of)
    .bind(&c.terms)
    .execute(conn)
    .await?;
    Ok(())
}

/// The latest complaint about a unit before now, which a new one repeats.
pub async fn latest_about(
    conn: &mut PgConnection,
    tenant: Uuid,
    unit_id: Uuid,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "select complaint_id from complaints where tenant_id = $1 and unit_id = $2
         order by recorded_at desc limit 1",
    )
    .bind(tenant)
    .bind(unit_id)
    .fetch_optional(conn)
    .await
}

/// A complaint as `principal` may see it (NOT_FOUND for another tenant's or project's).
pub async fn get<'e>(
    db: impl PgExecutor<'e>,
    principal: &Principal,
    complaint_id: Uuid,
) -> ServiceResult<Complaint> {
    fetch(db, principal, complaint_id, "").await
}

/// As [`get`], locked for a step.
pub async fn lock(
    conn: &mut PgConnection,
    principal: &Principal,
    complaint_id: Uuid,
) -> ServiceResult<Complaint> {
    fetch(conn, principal, complaint_id, "for update").await
}

async fn fetch<'e>(
    db: impl PgExecutor<'e>,
    principal: &Principal,
    complaint_id: Uuid,
    lock: &str,
) -> ServiceResult<Complaint> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from complaints where tenant_id = $1 and complaint_id = $2 {lock}"
    )))
    .bind(principal.tenant_id)
    .bind(complaint_id)
    .fetch_optional(db)
    .await?
    .filter(|c: &Complaint| principal.can_see_project(c.project_id))
    .ok_or_else(|| ServiceError::not_found("complaint"))
}

/// Locks a complaint by id alone, for the clock sweeper: `None` also when a step holds it —
/// the sweeper goes on with the other tenants' clocks and comes back to this one.
pub async fn lock_unless_busy(
    conn: &mut PgConnection,
    complaint_id: Uuid,
) -> sqlx::Result<Option<Complaint>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from complaints where complaint_id = $1 for update skip locked"
    )))
    .bind(complaint_id)
    .fetch_optional(conn)
    .await
}

/// Writes back the fields a step changes.
pub async fn save(conn: &mut PgConnection, c: &Complaint) -> sqlx::Result<()> {
    sqlx::query(
        "update complaints set queue = $2, assignee = $3, status = $4, round = $5,
             reopen_count = $6, waiting_since = $7, waiting_reason = $8, resolution = $9,
             repair_request_id = $10, repair_closed = $11, acknowledged_at = $12, taken_at = $13,
             resolved_at = $14, closed_at = $15
         where complaint_id = $1",
    )
    .bind(c.complaint_id)
    .bind(&c.queue)
    .bind(&c.assignee)
    .bind(&c.status)
    .bind(c.round)
    .bind(c.reopen_count)
    .bind(c.waiting_since)
    .bind(&c.waiting_reason)
    .bind(&c.resolution)
    .bind(c.repair_request_id)
    .bind(c.repair_closed)
    .bind(c.acknowledged_at)
    .bind(c.taken_at)
    .bind(c.resolved_at)
    .bind(c.closed_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// What a listing keeps.
#[derive(Default)]
pub struct Filter {
    pub queue: Option<String>,
    /// "at_risk" (warned or breached) or "breached", of running clocks.
    pub clocks: Option<&'static str>,
    pub unit_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub status: Option<String>,
}

/// A project's complaints, oldest first (uuid v7 ids order by time), after `after`.
pub async fn list<'e>(
    db: impl PgExecutor<'e>,
    tenant: Uuid,
    project_id: Uuid,
    filter: &Filter,
    after: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<Complaint>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from complaints c
         where tenant_id = $1 and project_id = $2
           and ($3::text is null or queue = $3)
           and ($4::uuid is null or unit_id = $4)
           and ($5::uuid is null or customer_id = $5)
           and ($6::text is null or status = $6)
           and complaint_id > $7
           and ($8::text is null or exists (
                select 1 from complaint_clocks k
                where k.complaint_id = c.complaint_id and k.stopped_at is null
                  and (k.breached_at is not null or ($8 = 'at_risk' and k.warned_at is not null))))
         order by complaint_id
         limit $9"
    )))
    .bind(tenant)
    .bind(project_id)
    .bind(&filter.queue)
    .bind(filter.unit_id)
    .bind(filter.customer_id)
    .bind(&filter.status)
    .bind(after)
    .bind(filter.clocks)
    .bind(limit)
    .fetch_all(db)
    .await
}

#[derive(Clone, Debug, FromRow)]
pub struct Summary {
    pub complaint_id: Uuid,
    pub category: String,
    pub status: String,
    pub recorded_at: DateTime<Utc>,
}

/// The other complaints about a unit, newest first.
pub async fn same_unit<'e>(db: impl PgExecutor<'e>, c: &Complaint) -> sqlx::Result<Vec<Summary>> {
    let Some(unit_id) = c.unit_id else {
        return Ok(Vec::new());
    };
    sqlx::query_as(
        "select complaint_id, category, status, recorded_at from complaints
         where tenant_id = $1 and unit_id = $2 and complaint_id <> $3
         order by recorded_at desc limit 50",
    )
    .bind(c.tenant_id)
    .bind(unit_id)
    .bind(c.complaint_id)
    .fetch_all(db)
    .await
}

#[derive(Clone, Debug, FromRow)]
pub struct AssignmentRow {
    pub from_queue: String,
    pub to_queue: String,
    pub assignee: String,
    pub reason: String,
    pub assigned_by: String,
    pub assigned_at: DateTime<Utc>,
}

pub async fn assign(
    conn: &mut PgConnection,
    complaint_id: Uuid,
    a: &AssignmentRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into complaint_assignments (complaint_id, seq, from_queue, to_queue, assignee,
             reason, assigned_by)
         select $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6
         from complaint_assignments where complaint_id = $1",
    )
    .bind(complaint_id)
    .bind(&a.from_queue)
    .bind(&a.to_queue)
    .bind(&a.assignee)
    .bind(&a.reason)
    .bind(&a.assigned_by)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn assignments<'e>(
    db: impl PgExecutor<'e>,
    complaint_id: Uuid,
) -> sqlx::Result<Vec<AssignmentRow>> {
    sqlx::query_as(
        "select from_queue, to_queue, assignee, reason, assigned_by, assigned_at
         from complaint_assignments where complaint_id = $1 order by seq",
    )
    .bind(complaint_id)
    .fetch_all(db)
    .await
}

#[derive(Clone, Debug, FromRow)]
pub struct FollowUpRow {
    pub round: i32,
    pub visited_by: String,
    pub satisfaction: i32,
    pub notes: String,
    pub reopened: bool,
    pub visited_at: DateTime<Utc>,
}

pub async fn follow_up(
    conn: &mut PgConnection,
    complaint_id: Uuid,
    f: &FollowUpRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into complaint_follow_ups (complaint_id, round, visited_by, satisfaction, notes,
             reopened)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(complaint_id)
    .bind(f.round)
    .bind(&f.visited_by)
    .bind(f.satisfaction)
    .bind(&f.notes)
    .bind(f.reopened)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn follow_ups<'e>(
    db: impl PgExecutor<'e>,
    complaint_id: Uuid,
) -> sqlx::Result<Vec<FollowUpRow>> {
    sqlx::query_as(
        "select round, visited_by, satisfaction, notes, reopened, visited_at
         from complaint_follow_ups where complaint_id = $1 order by round",
    )
    .bind(complaint_id)
    .fetch_all(db)
    .await
}

#[derive(Clone, Debug, FromRow)]
pub struct EscalationRow {
    pub round: i32,
    pub target: String,
    pub escalated_to: String,
    pub escalated_at: DateTime<Utc>,
}

/// Records an escalation; once per clock.
pub async fn escalate(
    conn: &mut PgConnection,
    complaint_id: Uuid,
    round: i32,
    target: &str,
    to: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into complaint_escalations (complaint_id, round, target, escalated_to)
         values ($1, $2, $3, $4) on conflict do nothing",
    )
    .bind(complaint_id)
    .bind(round)
    .bind(target)
    .bind(to)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn escalations<'e>(
    db: impl PgExecutor<'e>,
    complaint_id: Uuid,
) -> sqlx::Result<Vec<EscalationRow>> {
    sqlx::query_as(
        "select round, target, escalated_to, escalated_at
         from complaint_escalations where complaint_id = $1 order by escalated_at, target",
    )
    .bind(complaint_id)
    .fetch_all(db)
    .await
}
