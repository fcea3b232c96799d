//! A repair's cost lines and the charges its close raised.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub struct CostLine {
    pub repair_request_id: Uuid,
    pub kind: String,
    pub description: String,
    pub amount_minor: i64,
    pub currency: String,
}

/// Adds cost lines after those already reported.
pub async fn add(
    conn: &mut PgConnection,
    id: Uuid,
    round: i32,
    contractor_id: Option<Uuid>,
    lines: &[CostLine],
) -> sqlx::Result<()> {
    for line in lines {
        sqlx::query(
            "insert into repair_costs (repair_request_id, line, kind, description, amount_minor, currency, contractor_id, round)
             select $1, coalesce(max(line), 0) + 1, $2, $3, $4, $5, $6, $7 from repair_costs where repair_request_id = $1",
        )
        .bind(id)
        .bind(&line.kind)
        .bind(&line.description)
        .bind(line.amount_minor)
        .bind(&line.currency)
        .bind(contractor_id)
        .bind(round)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The cost lines of one round of a repair.
pub async fn of_round<'c>(
    conn: impl PgExecutor<'c>,
    id: Uuid,
    round: i32,
) -> sqlx::Result<Vec<CostLine>> {
    sqlx::query_as(
        "select repair_request_id, kind, description, amount_minor, currency from repair_costs
         where repair_request_id = $1 and round = $2 order by line",
    )
    .bind(id)
    .bind(round)
    .fetch_all(conn)
    .await
}

pub async fn of<'c>(conn: impl PgExecutor<'c>, ids: &[Uuid]) -> sqlx::Result<Vec<CostLine>> {
    sqlx::query_as(
        "select repair_request_id, kind, description, amount_minor, currency from repair_costs
         where repair_request_id = any($1) order by repair_request_id, line",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
}

#[derive(Clone, Debug, FromRow)]
pub struct ContractorCharge {
    pub charge_id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub repair_request_id: Uuid,
    pub building_id: Option<Uuid>,
    pub component: Option<String>,
    pub contractor_id: Option<Uuid>,
    pub payer_id: String,
    pub purpose: String,
    pub amount_minor: i64,
    pub currency: String,
    pub from_retention_minor: i64,
    pub claim_minor: i64,
    pub created_at: DateTime<Utc>,
    pub round: i32,
}

/// Records a charge; `false` if the repair's round already has one of that purpose.
pub async fn charge(conn: &mut PgConnection, c: &ContractorCharge) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "insert into contractor_charges (charge_id, tenant_id, project_id, repair_request_id,
             building_id, component, contractor_id, payer_id, purpose, amount_minor, currency,
             from_retention_minor, claim_minor, created_at, round)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         on conflict (repair_request_id, round, purpose) do nothing",
    )
    .bind(c.charge_id)
    .bind(c.tenant_id)
    .bind(c.project_id)
    .bind(c.repair_request_id)
    .bind(c.building_id)
    .bind(&c.component)
    .bind(c.contractor_id)
    .bind(&c.payer_id)
    .bind(&c.purpose)
    .bind(c.amount_minor)
    .bind(&c.currency)
    .bind(c.from_retention_minor)
    .bind(c.claim_minor)
    .bind(c.created_at)
    .bind(c.round)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Clone, Debug, FromRow)]
pub struct OwnerClaim {
    pub repair_request_id: Uuid,
    pub tenant_id: Uuid,
    pub contractor_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub description: String,
    pub state: String,
    pub reason: Option<String>,
}

/// Records an owner's claim; `false` if the repair has one.
pub async fn claim(conn: &mut PgConnection, c: &OwnerClaim) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "insert into owner_claims (repair_request_id, tenant_id, contractor_id, amount_minor, currency, description)
         values ($1, $2, $3, $4, $5, $6) on conflict do nothing",
    )
    .bind(c.repair_request_id)
    .bind(c.tenant_id)
    .bind(c.contractor_id)
    .bind(c.amount_minor)
    .bind(&c.currency)
    .bind(&c.description)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

const CLAIM_COLUMNS: &str = "repair_request_id, tenant_id, contractor_id, amount_minor, currency, description, state, reason";

pub async fn claim_for_update(
    conn: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Option<OwnerClaim>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CLAIM_COLUMNS} from owner_claims where repair_request_id = $1 for update"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn answer_claim(
    conn: &mut PgConnection,
    id: Uuid,
    state: &str,
    reason: Option<&str>,
) -> sqlx::Result<OwnerClaim> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update owner_claims set state = $2, reason = $3, answered_at = now()
         where repair_request_id = $1 returning {CLAIM_COLUMNS}"
    )))
    .bind(id)
    .bind(state)
    .bind(reason)
    .fetch_one(conn)
    .await
}
