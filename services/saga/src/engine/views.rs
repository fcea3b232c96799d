//! The operators' view of the coordinator's tables: sagas, their history and their
//! commands, scoped to the caller's tenant and projects.

use anju_kit::{Principal, ServiceError, ServiceResult, paging::Page};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::store::{SagaView, VIEW};

#[derive(FromRow)]
pub struct HistoryRow {
    pub version: i32,
    pub input: String,
    pub state: String,
    pub note: String,
    pub commands: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(FromRow)]
pub struct CommandRow {
    pub command_id: Uuid,
    pub service: String,
    pub method: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Operators scoped to projects see only those projects' sagas: the condition on parameter
/// `$n`, the principal's project filter (null for every project of the tenant).
fn in_scope(n: usize) -> String {
    format!("(${n}::uuid[] is null or s.project_id = any(${n}))")
}

/// A saga of the principal's tenant and projects; any other is NOT_FOUND.
pub async fn saga(pool: &PgPool, principal: &Principal, saga_id: Uuid) -> ServiceResult<SagaView> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{VIEW} where s.tenant_id = $1 and s.saga_id = $2 and {}",
        in_scope(3)
    )))
    .bind(principal.tenant_id)
    .bind(saga_id)
    .bind(principal.project_filter())
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ServiceError::not_found("saga"))
}

/// What a list of sagas is filtered by.
pub struct Filter {
    pub project_id: Option<Uuid>,
    pub flow: Option<String>,
    pub state: Option<String>,
    pub key: Option<String>,
}

pub async fn sagas(
    pool: &PgPool,
    principal: &Principal,
    filter: Filter,
    page: Page,
) -> ServiceResult<(Vec<SagaView>, String)> {
    let rows: Vec<SagaView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{VIEW} where s.tenant_id = $1 and s.saga_id > $2 and ($3::text is null or s.flow = $3)
           and ($4::text is null or s.state = $4) and ($5::uuid is null or s.project_id = $5)
           and ($8::text is null or s.saga_key = $8)
           and {}
         order by s.saga_id limit $6",
        in_scope(7)
    )))
    .bind(principal.tenant_id)
    .bind(page.after)
    .bind(filter.flow)
    .bind(filter.state)
    .bind(filter.project_id)
    .bind(page.fetch_limit())
    .bind(principal.project_filter())
    .bind(filter.key)
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |s| s.saga_id))
}

/// Sagas past their deadline and not finished: a page of them, and how many there are.
pub async fn stuck(
    pool: &PgPool,
    principal: &Principal,
    page: Page,
) -> ServiceResult<(Vec<SagaView>, i64, String)> {
    let stuck = "s.tenant_id = $1 and not s.terminal and s.deadline < now()";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select count(*) from sagas s where {stuck} and {}",
        in_scope(2)
    )))
    .bind(principal.tenant_id)
    .bind(principal.project_filter())
    .fetch_one(pool)
    .await?;
    let rows: Vec<SagaView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{VIEW} where {stuck} and {} and s.saga_id > $2 order by s.saga_id limit $4",
        in_scope(3)
    )))
    .bind(principal.tenant_id)
    .bind(page.after)
    .bind(principal.project_filter())
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    let (sagas, next) = page.finish(rows, |s| s.saga_id);
    Ok((sagas, total, next))
}

pub async fn history(pool: &PgPool, saga_id: Uuid) -> Result<Vec<HistoryRow>, ServiceError> {
    Ok(sqlx::query_as(
        "select version, input, state, note, commands, at from saga_history where saga_id = $1 order by version",
    )
    .bind(saga_id)
    .fetch_all(pool)
    .await?)
}

pub async fn commands(pool: &PgPool, saga_id: Uuid) -> Result<Vec<CommandRow>, ServiceError> {
    Ok(sqlx::query_as(
        "select command_id, service, method, status, attempts, last_error from saga_commands
         where saga_id = $1 order by created_at, command_id",
    )
    .bind(saga_id)
    .fetch_all(pool)
    .await?)
}

/// Puts a saga's failed commands back to pending, in `conn`'s transaction, and wakes the
/// dispatcher; returns how many.
pub async fn retry_failed(
    conn: &mut sqlx::PgConnection,
    tenant: Uuid,
    saga_id: Uuid,
) -> sqlx::Result<u64> {
    let retried = sqlx::query(
        "update saga_commands set status = 'pending', next_attempt_at = now(), last_error = null
         where saga_id = $1 and tenant_id = $2 and status = 'failed'",
    )
    .bind(saga_id)
    .bind(tenant)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query("select pg_notify('saga_commands', '')")
        .execute(conn)
        .await?;
    Ok(retried)
}
