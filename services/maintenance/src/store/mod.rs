//! Maintenance's SQL: repair requests and the work orders they carry ([`self`]), the
//! responsibility map and the warranty facts ([`map`]), costs and charges ([`costs`]) and the
//! clocks' sweep ([`clocks`]).

pub mod clocks;
pub mod costs;
pub mod fund;
pub mod ledger;
pub mod map;

use anju_kit::{Principal, ServiceError, ServiceResult, paging::Page};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{
    warranty::{Decision, Payer},
    work_order::Clocks,
};

#[derive(Clone, Debug, FromRow)]
pub struct RepairRequest {
    pub repair_request_id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    /// `None` for a common part.
    pub unit_id: Option<Uuid>,
    pub common_part: Option<String>,
    pub source: String,
    pub category: String,
    pub description: String,
    pub contractor_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub reference: String,
    pub status: String,
    pub resolution: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub component: Option<String>,
    pub building_id: Option<Uuid>,
    pub priority: String,
    pub owner_name: String,
    pub owner_phone: String,
    pub appointment_from: Option<DateTime<Utc>>,
    pub appointment_to: Option<DateTime<Utc>>,
    pub customer_id: String,
    pub warranty_decided: bool,
    pub warranty_covered: Option<bool>,
    pub warranty_payer: Option<String>,
    pub contractor_until: Option<NaiveDate>,
    pub buyer_until: Option<NaiveDate>,
    pub warranty_reasons: Vec<String>,
    pub owner_caused: bool,
    pub backup_vendor_id: Option<Uuid>,
    pub escalated_from: Option<Uuid>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub assignments: i32,
    pub order_state: String,
    pub respond_by: Option<DateTime<Utc>>,
    pub on_site_by: Option<DateTime<Utc>>,
    pub responded_at: Option<DateTime<Utc>>,
    pub on_site_at: Option<DateTime<Utc>>,
    pub warn_before_secs: i32,
    pub respond_warned: bool,
    pub respond_breached: bool,
    pub on_site_warned: bool,
    pub on_site_breached: bool,
    pub not_to_exceed_minor: Option<i64>,
    pub currency: Option<String>,
    pub photo_refs: Vec<String>,
    pub round: i32,
    pub follow_up_score: Option<i32>,
    pub plan_text: Option<String>,
    pub plan_estimate_minor: Option<i64>,
    pub plan_state: Option<String>,
    pub plan_by: Option<DateTime<Utc>>,
    pub plan_at: Option<DateTime<Utc>>,
    pub plan_warned: bool,
    pub plan_breached: bool,
    /// Deadlines breached over the order's life, whoever it was with.
    pub breaches: i32,
}

impl RepairRequest {
    pub fn clocks(&self) -> Clocks {
        Clocks {
            respond_by: self.respond_by,
            responded_at: self.responded_at,
            respond_warned: self.respond_warned,
            respond_breached: self.respond_breached,
            on_site_by: self.on_site_by,
            on_site_at: self.on_site_at,
            on_site_warned: self.on_site_warned,
            on_site_breached: self.on_site_breached,
            plan_by: self.plan_by,
            plan_at: self.plan_at,
            plan_warned: self.plan_warned,
            plan_breached: self.plan_breached,
            warn_before: Duration::seconds(self.warn_before_secs.into()),
        }
    }

    pub fn payer(&self) -> Option<Payer> {
        match self.warranty_payer.as_deref()? {
            "contractor" => Some(Payer::Contractor),
            "developer" => Some(Payer::Developer),
            _ => Some(Payer::Caused),
        }
    }

    /// Records a warranty decision on the row (written by [`save_order`]).
    pub fn decided(&mut self, d: &Decision) {
        self.warranty_decided = true;
        self.warranty_covered = Some(d.covered);
        self.warranty_payer = Some(
            match d.payer {
                Payer::Contractor => "contractor",
                Payer::Developer => "developer",
                Payer::Caused => "caused",
            }
            .into(),
        );
        self.contractor_until = Some(d.contractor_until);
        self.buyer_until = d.buyer_until;
        self.warranty_reasons = d.reasons.clone();
    }

    /// Writes the clocks' state back onto the row.
    pub fn set_clocks(&mut self, c: &Clocks) {
        self.respond_by = c.respond_by;
        self.responded_at = c.responded_at;
        self.respond_warned = c.respond_warned;
        self.respond_breached = c.respond_breached;
        self.on_site_by = c.on_site_by;
        self.on_site_at = c.on_site_at;
        self.on_site_warned = c.on_site_warned;
        self.on_site_breached = c.on_site_breached;
        self.plan_by = c.plan_by;
        self.plan_at = c.plan_at;
        self.plan_warned = c.plan_warned;
        self.plan_breached = c.plan_breached;
    }
}

#[derive(Clone, Debug, FromRow)]
pub struct SignOff {
    pub party: String,
    pub signed_by: String,
    pub signed_at: DateTime<Utc>,
}

const COLUMNS: &str = "repair_request_id, tenant_id, project_id, unit_id, common_part, source, category, description,
    contractor_id, created_at, reference, status, resolution, closed_at, completed_at, component,
    building_id, priority, owner_name, owner_phone, appointment_from, appointment_to, customer_id,
    warranty_decided, warranty_covered, warranty_payer, contractor_until, buyer_until,
    warranty_reasons, owner_caused, backup_vendor_id, escalated_from, assigned_at, assignments, order_state,
    respond_by, on_site_by, responded_at, on_site_at, warn_before_secs, respond_warned,
    respond_breached, on_site_warned, on_site_breached, not_to_exceed_minor, currency, photo_refs, round, follow_up_score,
    plan_text, plan_estimate_minor, plan_state, plan_by, plan_at, plan_warned, plan_breached, breaches";

pub async fn insert(conn: &mut PgConnection, r: &RepairRequest) -> ServiceResult<()> {
    sqlx::query(
        "insert into repair_requests (repair_request_id, tenant_id, project_id, unit_id, source, category,
             description, contractor_id, created_at, reference, building_id, priority, owner_name,
             owner_phone, appointment_from, appointment_to, customer_id, not_to_exceed_minor, currency,
             common_part)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
    )
    .bind(r.repair_request_id)
    .bind(r.tenant_id)
    .bind(r.project_id)
    .bind(r.unit_id)
    .bind(&r.source)
    .bind(&r.category)
    .bind(&r.description)
    .bind(r.contractor_id)
    .bind(r.created_at)
    .bind(&r.reference)
    .bind(r.building_id)
    .bind(&r.priority)
    .bind(&r.owner_name)
    .bind(&r.owner_phone)
    .bind(r.appointment_from)
    .bind(r.appointment_to)
    .bind(&r.customer_id)
    .bind(r.not_to_exceed_minor)
    .bind(&r.currency)
    .bind(&r.common_part)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes an order's classification, warranty decision, assignment, steps and clocks, and
/// when the sweeper must look at it next.
pub async fn save_order(conn: &mut PgConnection, r: &RepairRequest) -> ServiceResult<()> {
    let next_at = if r.order_state == crate::domain::order::DONE {
        None
    } else {
        r.clocks().next_at()
    };
    sqlx::query(
        "update repair_requests set component = $2, priority = $3, warranty_decided = $4,
             warranty_covered = $5, warranty_payer = $6, contractor_until = $7, buyer_until = $8,
             warranty_reasons = $9, contractor_id = $10, backup_vendor_id = $11,
             escalated_from = $12, assigned_at = $13, assignments = $14, order_state = $15,
             respond_by = $16, on_site_by = $17, responded_at = $18, on_site_at = $19,
             warn_before_secs = $20, respond_warned = $21, respond_breached = $22,
             on_site_warned = $23, on_site_breached = $24, not_to_exceed_minor = $25,
             currency = $26, clock_next_at = $27, owner_caused = $28, plan_text = $29,
             plan_estimate_minor = $30, plan_state = $31, plan_by = $32, plan_at = $33,
             plan_warned = $34, plan_breached = $35, breaches = $36
         where repair_request_id = $1",
    )
    .bind(r.repair_request_id)
    .bind(&r.component)
    .bind(&r.priority)
    .bind(r.warranty_decided)
    .bind(r.warranty_covered)
    .bind(&r.warranty_payer)
    .bind(r.contractor_until)
    .bind(r.buyer_until)
    .bind(&r.warranty_reasons)
    .bind(r.contractor_id)
    .bind(r.backup_vendor_id)
    .bind(r.escalated_from)
    .bind(r.assigned_at)
    .bind(r.assignments)
    .bind(&r.order_state)
    .bind(r.respond_by)
    .bind(r.on_site_by)
    .bind(r.responded_at)
    .bind(r.on_site_at)
    .bind(r.warn_before_secs)
    .bind(r.respond_warned)
    .bind(r.respond_breached)
    .bind(r.on_site_warned)
    .bind(r.on_site_breached)
    .bind(r.not_to_exceed_minor)
    .bind(&r.currency)
    .bind(next_at)
    .bind(r.owner_caused)
    .bind(&r.plan_text)
    .bind(r.plan_estimate_minor)
    .bind(&r.plan_state)
    .bind(r.plan_by)
    .bind(r.plan_at)
    .bind(r.plan_warned)
    .bind(r.plan_breached)
    .bind(r.breaches)
    .execute(conn)
    .await?;
    Ok(())
}

/// One order as `principal` may see it: within its tenant, its projects and, for a
/// contractor, only its own.
pub async fn visible(
    pool: &PgPool,
    principal: &Principal,
    id: Uuid,
) -> ServiceResult<RepairRequest> {
    find(pool, principal, id, "").await
}

/// [`visible`], locked for an update within `conn`'s transaction.
pub async fn visible_for_update(
    conn: &mut PgConnection,
    principal: &Principal,
    id: Uuid,
) -> ServiceResult<RepairRequest> {
    find(conn, principal, id, "for update").await
}

async fn find<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    principal: &Principal,
    id: Uuid,
    lock: &str,
) -> ServiceResult<RepairRequest> {
    let found: Option<RepairRequest> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from repair_requests
         where tenant_id = $1 and repair_request_id = $2 and ($3::uuid is null or contractor_id = $3) {lock}"
    )))
    .bind(principal.tenant_id)
    .bind(id)
    .bind(principal.contractor_id)
    .fetch_optional(conn)
    .await?;
    found
        .filter(|r| principal.can_see_project(r.project_id))
        .ok_or_else(|| ServiceError::not_found("repair request"))
}

/// One order by id alone, locked: for the sweeper, which acts for no caller.
pub async fn for_update_skip_locked(
    conn: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Option<RepairRequest>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from repair_requests where repair_request_id = $1 for update skip locked"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Records an open request's work as done, with what was done.
pub async fn complete(
    conn: &mut PgConnection,
    id: Uuid,
    resolution: &str,
    photo_refs: &[String],
) -> ServiceResult<RepairRequest> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update repair_requests set status = 'completed', resolution = $2, completed_at = now(),
             order_state = 'done', clock_next_at = null, photo_refs = $3
         where repair_request_id = $1 and status = 'open'
         returning {COLUMNS}"
    )))
    .bind(id)
    .bind(resolution)
    .bind(photo_refs)
    .fetch_one(conn)
    .await?)
}

/// Records `party`'s sign-off of `round` (once: a party signing again changes nothing);
/// returns every party that has signed the round.
pub async fn sign_off(
    conn: &mut PgConnection,
    id: Uuid,
    round: i32,
    party: &str,
    signed_by: &str,
) -> ServiceResult<Vec<String>> {
    sqlx::query(
        "insert into repair_sign_offs (repair_request_id, round, party, signed_by) values ($1, $2, $3, $4)
         on conflict (repair_request_id, round, party) do nothing",
    )
    .bind(id)
    .bind(round)
    .bind(party)
    .bind(signed_by)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_scalar(
        "select party from repair_sign_offs where repair_request_id = $1 and round = $2",
    )
    .bind(id)
    .bind(round)
    .fetch_all(conn)
    .await?)
}

/// Records the follow-up of the request's current round; `false` if it had one.
pub async fn follow_up(
    conn: &mut PgConnection,
    r: &RepairRequest,
    score: i32,
    visitor: &str,
    comment: &str,
) -> ServiceResult<bool> {
    let done = sqlx::query(
        "insert into repair_follow_ups (repair_request_id, round, score, visitor, comment)
         values ($1, $2, $3, $4, $5) on conflict do nothing",
    )
    .bind(r.repair_request_id)
    .bind(r.round)
    .bind(score)
    .bind(visitor)
    .bind(comment)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update repair_requests set follow_up_score = $2, follow_up_by = $3, followed_up_at = now()
         where repair_request_id = $1",
    )
    .bind(r.repair_request_id)
    .bind(score)
    .bind(visitor)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Opens a closed request again in its next round: the work to be done and signed off anew.
pub async fn reopen(conn: &mut PgConnection, id: Uuid) -> ServiceResult<RepairRequest> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update repair_requests set status = 'open', round = round + 1, resolution = null,
             completed_at = null, closed_at = null, responded_at = null, on_site_at = null
         where repair_request_id = $1 and status = 'closed'
         returning {COLUMNS}"
    )))
    .bind(id)
    .fetch_one(conn)
    .await?)
}

/// Closes a completed request whose four parties have signed.
pub async fn close(conn: &mut PgConnection, id: Uuid) -> ServiceResult<RepairRequest> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update repair_requests set status = 'closed', closed_at = now()
         where repair_request_id = $1 and status = 'completed'
         returning {COLUMNS}"
    )))
    .bind(id)
    .fetch_one(conn)
    .await?)
}

/// The sign-offs of some requests, by request.
pub async fn sign_offs<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    ids: &[Uuid],
) -> ServiceResult<Vec<(Uuid, SignOff)>> {
    let rows: Vec<(Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
        "select s.repair_request_id, s.party, s.signed_by, s.signed_at
         from repair_sign_offs s join repair_requests r using (repair_request_id)
         where s.repair_request_id = any($1) and s.round = r.round
         order by s.signed_at, s.party",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, party, signed_by, signed_at)| {
            (
                id,
                SignOff {
                    party,
                    signed_by,
                    signed_at,
                },
            )
        })
        .collect())
}

/// What a staff list is filtered by.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub project_id: Option<Uuid>,
    pub unit_id: Option<Uuid>,
    pub reference: Option<String>,
    pub contractor_id: Option<Uuid>,
    pub status: Option<&'static str>,
    /// "warning" or "breached".
    pub clock_state: Option<&'static str>,
}

pub async fn work_orders(
    pool: &PgPool,
    principal: &Principal,
    filter: &Filter,
    page: Page,
) -> ServiceResult<(Vec<RepairRequest>, String)> {
    // A clock is breached once marked by the sweeper; in its warning window once warned and
    // not yet done or breached.
    let rows: Vec<RepairRequest> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from repair_requests
         where tenant_id = $1 and repair_request_id > $2
           and ($3::uuid is null or contractor_id = $3)
           and ($4::uuid is null or project_id = $4)
           and ($5::uuid[] is null or project_id = any($5))
           and ($7::uuid is null or unit_id = $7)
           and ($8::text is null or reference = $8)
           and ($9::uuid is null or contractor_id = $9)
           and ($10::text is null or status = $10)
           and ($11::text is null
                or ($11 = 'breached' and breaches > 0)
                or ($11 = 'warning'
                    and ((respond_warned and not respond_breached and responded_at is null)
                         or (on_site_warned and not on_site_breached and on_site_at is null))))
         order by repair_request_id limit $6"
    )))
    .bind(principal.tenant_id)
    .bind(page.after)
    .bind(principal.contractor_id)
    .bind(filter.project_id)
    .bind(principal.project_filter())
    .bind(page.fetch_limit())
    .bind(filter.unit_id)
    .bind(&filter.reference)
    .bind(filter.contractor_id)
    .bind(filter.status)
    .bind(filter.clock_state)
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |r| r.repair_request_id))
}
