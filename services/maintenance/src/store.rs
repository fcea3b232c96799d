//! Maintenance's SQL: repair requests and the work orders they carry.

use anju_kit::{Principal, ServiceError, ServiceResult, paging::Page};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub struct RepairRequest {
    pub repair_request_id: Uuid,
    pub project_id: Uuid,
    pub unit_id: Uuid,
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
}

#[derive(Clone, Debug, FromRow)]
pub struct SignOff {
    pub party: String,
    pub signed_by: String,
    pub signed_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, tenant: Uuid, r: &RepairRequest) -> ServiceResult<()> {
    sqlx::query(
        "insert into repair_requests (repair_request_id, tenant_id, project_id, unit_id, source, category,
                                      description, contractor_id, created_at, reference)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(r.repair_request_id)
    .bind(tenant)
    .bind(r.project_id)
    .bind(r.unit_id)
    .bind(&r.source)
    .bind(&r.category)
    .bind(&r.description)
    .bind(r.contractor_id)
    .bind(r.created_at)
    .bind(&r.reference)
    .execute(conn)
    .await?;
    Ok(())
}

const COLUMNS: &str = "repair_request_id, project_id, unit_id, source, category, description, contractor_id, created_at, \
                       reference, status, resolution, closed_at, completed_at";

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

/// Records an open request's work as done, with what was done.
pub async fn complete(
    conn: &mut PgConnection,
    id: Uuid,
    resolution: &str,
) -> ServiceResult<RepairRequest> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update repair_requests set status = 'completed', resolution = $2, completed_at = now()
         where repair_request_id = $1 and status = 'open'
         returning {COLUMNS}"
    )))
    .bind(id)
    .bind(resolution)
    .fetch_one(conn)
    .await?)
}

/// Records `party`'s sign-off (once: a party signing again changes nothing); returns every
/// party that has signed.
pub async fn sign_off(
    conn: &mut PgConnection,
    id: Uuid,
    party: &str,
    signed_by: &str,
) -> ServiceResult<Vec<String>> {
    sqlx::query(
        "insert into repair_sign_offs (repair_request_id, party, signed_by) values ($1, $2, $3)
         on conflict (repair_request_id, party) do nothing",
    )
    .bind(id)
    .bind(party)
    .bind(signed_by)
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query_scalar("select party from repair_sign_offs where repair_request_id = $1")
            .bind(id)
            .fetch_all(conn)
            .await?,
    )
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
        "select repair_request_id, party, signed_by, signed_at from repair_sign_offs
         where repair_request_id = any($1) order by signed_at, party",
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

pub async fn work_orders(
    pool: &PgPool,
    principal: &Principal,
    project_id: Option<Uuid>,
    page: Page,
) -> ServiceResult<(Vec<RepairRequest>, String)> {
    let rows: Vec<RepairRequest> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from repair_requests
         where tenant_id = $1 and repair_request_id > $2
           and ($3::uuid is null or contractor_id = $3)
           and ($4::uuid is null or project_id = $4)
           and ($5::uuid[] is null or project_id = any($5))
         order by repair_request_id limit $6"
    )))
    .bind(principal.tenant_id)
    .bind(page.after)
    .bind(principal.contractor_id)
    .bind(project_id)
    .bind(principal.project_filter())
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |r| r.repair_request_id))
}
