//! The ledger's sums: a project's month of repairs, a contractor's quarter.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// A project's month, counted between `from` and `until` (instants).
#[derive(Clone, Debug, Default)]
pub struct Month {
    pub received: i64,
    pub closed: i64,
    pub open_at_end: i64,
    pub by_source: Vec<(String, i64)>,
    pub by_component: Vec<(String, i64)>,
    pub breached: i64,
    pub escalated: i64,
    pub costs: Vec<(String, i64, String)>,
    pub charges: Vec<(String, i64, String)>,
    /// Hundredths of a day summed over the closed, and how many closed.
    pub close_hundredths: i64,
    pub follow_ups: i64,
    pub satisfaction_total: i64,
}

pub async fn month(
    pool: &PgPool,
    tenant: Uuid,
    project: Uuid,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> sqlx::Result<Month> {
    let (received, closed, open_at_end, breached, escalated, close_hundredths): (
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    ) = sqlx::query_as(
        "select count(*) filter (where created_at >= $3 and created_at < $4),
                count(*) filter (where closed_at >= $3 and closed_at < $4),
                count(*) filter (where created_at < $4 and (closed_at is null or closed_at >= $4)),
                count(*) filter (where created_at >= $3 and created_at < $4
                                   and breaches > 0),
                count(*) filter (where created_at >= $3 and created_at < $4
                                   and escalated_from is not null),
                coalesce(sum(round(extract(epoch from closed_at - created_at) * 100 / 86400))
                         filter (where closed_at >= $3 and closed_at < $4), 0)::bigint
         from repair_requests where tenant_id = $1 and project_id = $2",
    )
    .bind(tenant)
    .bind(project)
    .bind(from)
    .bind(until)
    .fetch_one(pool)
    .await?;
    let counted = |column: &'static str| {
        sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(format!(
            "select coalesce({column}, 'unclassified'), count(*) from repair_requests
             where tenant_id = $1 and project_id = $2 and created_at >= $3 and created_at < $4
             group by 1 order by 1"
        )))
        .bind(tenant)
        .bind(project)
        .bind(from)
        .bind(until)
        .fetch_all(pool)
    };
    let by_source = counted("source").await?;
    let by_component = counted("component").await?;
    let costs = sqlx::query_as(
        "select c.kind, sum(c.amount_minor)::bigint, c.currency
         from repair_costs c join repair_requests r using (repair_request_id)
         where r.tenant_id = $1 and r.project_id = $2 and c.reported_at >= $3 and c.reported_at < $4
         group by c.kind, c.currency order by 1, 3",
    )
    .bind(tenant)
    .bind(project)
    .bind(from)
    .bind(until)
    .fetch_all(pool)
    .await?;
    let charges = sqlx::query_as(
        "select purpose, sum(amount_minor)::bigint, currency from contractor_charges
         where tenant_id = $1 and project_id = $2 and created_at >= $3 and created_at < $4
         group by purpose, currency order by 1, 3",
    )
    .bind(tenant)
    .bind(project)
    .bind(from)
    .bind(until)
    .fetch_all(pool)
    .await?;
    let (follow_ups, satisfaction_total): (i64, i64) = sqlx::query_as(
        "select count(*), coalesce(sum(f.score), 0)::bigint
         from repair_follow_ups f join repair_requests r using (repair_request_id)
         where r.tenant_id = $1 and r.project_id = $2 and f.visited_at >= $3 and f.visited_at < $4",
    )
    .bind(tenant)
    .bind(project)
    .bind(from)
    .bind(until)
    .fetch_one(pool)
    .await?;
    Ok(Month {
        received,
        closed,
        open_at_end,
        by_source,
        by_component,
        breached,
        escalated,
        costs,
        charges,
        close_hundredths,
        follow_ups,
        satisfaction_total,
    })
}

/// A contractor's quarter, in the currency of its contracts.
#[derive(Clone, Debug, Default)]
pub struct Quarter {
    pub orders_completed: i64,
    pub costs: Vec<(String, i64)>,
    pub chargebacks: i64,
    pub compensation: i64,
    pub penalties: i64,
    pub taken_from_retention: i64,
    pub claimed: i64,
    pub retention_held: i64,
    pub retention_taken: i64,
}

pub async fn quarter(
    pool: &PgPool,
    tenant: Uuid,
    contractor: Uuid,
    currency: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> sqlx::Result<Quarter> {
    let orders_completed: i64 = sqlx::query_scalar(
        "select count(distinct c.repair_request_id) from repair_costs c
         join repair_requests r using (repair_request_id)
         where r.tenant_id = $1 and c.contractor_id = $2 and r.completed_at >= $3 and r.completed_at < $4",
    )
    .bind(tenant)
    .bind(contractor)
    .bind(from)
    .bind(until)
    .fetch_one(pool)
    .await?;
    let costs = sqlx::query_as(
        "select c.kind, sum(c.amount_minor)::bigint from repair_costs c
         join repair_requests r using (repair_request_id)
         where r.tenant_id = $1 and c.contractor_id = $2 and c.currency = $5
           and c.reported_at >= $3 and c.reported_at < $4
         group by c.kind order by 1",
    )
    .bind(tenant)
    .bind(contractor)
    .bind(from)
    .bind(until)
    .bind(currency)
    .fetch_all(pool)
    .await?;
    let (chargebacks, compensation, penalties, taken, claimed): (i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "select coalesce(sum(amount_minor) filter (where purpose in ('chargeback', 'claim_recovery')), 0)::bigint,
                    coalesce(sum(amount_minor) filter (where purpose = 'compensation_recovery'), 0)::bigint,
                    coalesce(sum(amount_minor) filter (where purpose = 'claim_penalty'), 0)::bigint,
                    coalesce(sum(from_retention_minor), 0)::bigint,
                    coalesce(sum(claim_minor), 0)::bigint
             from contractor_charges
             where tenant_id = $1 and contractor_id = $2 and currency = $5
               and payer_id = $2::text and created_at >= $3 and created_at < $4",
        )
        .bind(tenant)
        .bind(contractor)
        .bind(from)
        .bind(until)
        .bind(currency)
        .fetch_one(pool)
        .await?;
    let retention_held: i64 = sqlx::query_scalar(
        "select coalesce(sum(retention_minor), 0)::bigint from responsibilities
         where tenant_id = $1 and contractor_id = $2 and currency = $3",
    )
    .bind(tenant)
    .bind(contractor)
    .bind(currency)
    .fetch_one(pool)
    .await?;
    let retention_taken: i64 = sqlx::query_scalar(
        "select coalesce(sum(from_retention_minor), 0)::bigint from contractor_charges
         where tenant_id = $1 and contractor_id = $2 and currency = $3 and created_at < $4",
    )
    .bind(tenant)
    .bind(contractor)
    .bind(currency)
    .bind(until)
    .fetch_one(pool)
    .await?;
    Ok(Quarter {
        orders_completed,
        costs,
        chargebacks,
        compensation,
        penalties,
        taken_from_retention: taken,
        claimed,
        retention_held,
        retention_taken,
    })
}

/// The currency of a contractor's contracts with the tenant (CNY when it has none).
pub async fn currency_of<'c>(
    conn: impl PgExecutor<'c>,
    tenant: Uuid,
    contractor: Uuid,
) -> sqlx::Result<String> {
    let found: Option<String> = sqlx::query_scalar(
        "select currency from responsibilities where tenant_id = $1 and contractor_id = $2 limit 1",
    )
    .bind(tenant)
    .bind(contractor)
    .fetch_optional(conn)
    .await?;
    Ok(found.unwrap_or_else(|| "CNY".into()))
}

/// A statement as issued, if it was.
pub async fn issued<'c>(
    conn: impl PgExecutor<'c>,
    tenant: Uuid,
    contractor: Uuid,
    quarter: &str,
) -> sqlx::Result<Option<(Vec<u8>, DateTime<Utc>)>> {
    sqlx::query_as(
        "select statement, issued_at from settlement_statements
         where tenant_id = $1 and contractor_id = $2 and quarter = $3",
    )
    .bind(tenant)
    .bind(contractor)
    .bind(quarter)
    .fetch_optional(conn)
    .await
}

/// Records an issued statement; `false` if the quarter's was issued already.
pub async fn issue(
    conn: &mut sqlx::PgConnection,
    tenant: Uuid,
    contractor: Uuid,
    quarter: &str,
    statement: &[u8],
    issued_by: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "insert into settlement_statements (tenant_id, contractor_id, quarter, statement, issued_by)
         values ($1, $2, $3, $4, $5) on conflict do nothing",
    )
    .bind(tenant)
    .bind(contractor)
    .bind(quarter)
    .bind(statement)
    .bind(issued_by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the tenant works with the contractor: in its map, or on one of its orders.
pub async fn known(pool: &PgPool, tenant: Uuid, contractor: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from responsibilities
                        where tenant_id = $1 and (contractor_id = $2 or backup_vendor_id = $2))
             or exists (select 1 from repair_requests where tenant_id = $1 and contractor_id = $2)",
    )
    .bind(tenant)
    .bind(contractor)
    .fetch_one(pool)
    .await
}
