//! Batches, their units and the notices sent to them.

use anju_kit::{Principal, ServiceError, ServiceResult};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub struct Batch {
    pub batch_id: Uuid,
    pub project_id: Uuid,
    pub building_id: Option<Uuid>,
    pub name: String,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    pub books_ready_at: Option<DateTime<Utc>>,
}

const BATCH: &str =
    "batch_id, project_id, building_id, name, window_start, window_end, books_ready_at";

/// A new batch's terms.
pub struct NewBatch<'a> {
    pub batch_id: Uuid,
    pub project_id: Uuid,
    pub building_id: Option<Uuid>,
    pub name: &'a str,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    pub currency: &'a str,
    pub property_fee_per_m2_month: i64,
    pub prepaid_months: i32,
    pub construction_cost_per_m2: i64,
    pub maintenance_fund_bp: i32,
}

/// A unit under an active contract, waiting for a batch.
#[derive(FromRow)]
pub struct Contracted {
    pub unit_id: Uuid,
    pub customer_id: Uuid,
    pub buyer_name: String,
    pub area_cm2: i64,
    pub time_zone: String,
}

/// Whether handover heard of the project (or the building in it) from any contract sales
/// reported: one it never heard of, another tenant's included, does not exist here.
pub async fn known(
    pool: &PgPool,
    tenant: Uuid,
    project_id: Uuid,
    building_id: Option<Uuid>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from contracts
                        where tenant_id = $1 and project_id = $2 and ($3::uuid is null or building_id = $3))",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(building_id)
    .fetch_one(pool)
    .await
}

pub async fn insert(
    conn: &mut PgConnection,
    tenant: Uuid,
    b: &NewBatch<'_>,
) -> sqlx::Result<Batch> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into batches (batch_id, tenant_id, project_id, building_id, name, window_start, window_end, currency,
                              property_fee_per_m2_month_minor, prepaid_months, construction_cost_per_m2_minor,
                              maintenance_fund_bp)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         returning {BATCH}"
    )))
    .bind(b.batch_id)
    .bind(tenant)
    .bind(b.project_id)
    .bind(b.building_id)
    .bind(b.name)
    .bind(b.window_start)
    .bind(b.window_end)
    .bind(b.currency)
    .bind(b.property_fee_per_m2_month)
    .bind(b.prepaid_months)
    .bind(b.construction_cost_per_m2)
    .bind(b.maintenance_fund_bp)
    .fetch_one(conn)
    .await
}

/// The handover list comes from sales: units under an active contract in the project (or
/// building), not yet in a batch, in unit id order.
pub async fn contracted(
    conn: &mut PgConnection,
    tenant: Uuid,
    project_id: Uuid,
    building_id: Option<Uuid>,
) -> sqlx::Result<Vec<Contracted>> {
    sqlx::query_as(
        "select c.unit_id, c.customer_id, c.buyer_name, c.area_cm2, c.time_zone from contracts c
         where c.tenant_id = $1 and c.project_id = $2 and c.active and ($3::uuid is null or c.building_id = $3)
           and not exists (select 1 from handovers h where h.unit_id = c.unit_id)
         order by c.unit_id",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(building_id)
    .fetch_all(conn)
    .await
}

/// Puts a contracted unit in the batch: its handover row.
pub async fn add_unit(
    conn: &mut PgConnection,
    tenant: Uuid,
    batch: &Batch,
    unit: &Contracted,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into handovers (unit_id, tenant_id, batch_id, project_id, customer_id, buyer_name)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(unit.unit_id)
    .bind(tenant)
    .bind(batch.batch_id)
    .bind(batch.project_id)
    .bind(unit.customer_id)
    .bind(&unit.buyer_name)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn units(conn: &mut PgConnection, batch_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("select unit_id from handovers where batch_id = $1 order by unit_id")
        .bind(batch_id)
        .fetch_all(conn)
        .await
}

/// Records that the batch's property books are ready (once), as `principal` may see it.
pub async fn books_ready(
    conn: &mut PgConnection,
    principal: &Principal,
    batch_id: Uuid,
) -> ServiceResult<Batch> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update batches set books_ready_at = coalesce(books_ready_at, now()) where tenant_id = $1 and batch_id = $2
         returning {BATCH}"
    )))
    .bind(principal.tenant_id)
    .bind(batch_id)
    .fetch_optional(conn)
    .await?
    .filter(|b: &Batch| principal.can_see_project(b.project_id))
    .ok_or_else(|| ServiceError::not_found("batch"))
}

/// One line of a notice's fee list.
#[derive(Clone, Debug, FromRow)]
pub struct NoticeFee {
    pub purpose: String,
    pub amount: i64,
    pub currency: String,
    pub due_on: NaiveDate,
    pub charge_key: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct Notice {
    pub notice_id: Uuid,
    pub kind: String,
    pub channel: String,
    pub sent_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub fees: Vec<NoticeFee>,
}

pub async fn insert_notice(
    conn: &mut PgConnection,
    tenant: Uuid,
    unit_id: Uuid,
    kind: &str,
    channel: &str,
    fees: Vec<NoticeFee>,
) -> sqlx::Result<Notice> {
    let notice_id = anju_kit::ids::new_id();
    let sent_at: DateTime<Utc> = sqlx::query_scalar(
        "insert into notices (notice_id, tenant_id, unit_id, kind, channel) values ($1, $2, $3, $4, $5)
         returning sent_at",
    )
    .bind(notice_id)
    .bind(tenant)
    .bind(unit_id)
    .bind(kind)
    .bind(channel)
    .fetch_one(&mut *conn)
    .await?;
    if !fees.is_empty() {
        sqlx::query(
            "insert into notice_fees (notice_id, line, purpose, amount_minor, currency, due_on, charge_key)
             select $1, line::int, purpose, amount, currency, due_on, charge_key
             from unnest($2::text[], $3::bigint[], $4::text[], $5::date[], $6::text[])
                  with ordinality as f (purpose, amount, currency, due_on, charge_key, line)",
        )
        .bind(notice_id)
        .bind(fees.iter().map(|f| f.purpose.clone()).collect::<Vec<_>>())
        .bind(fees.iter().map(|f| f.amount).collect::<Vec<_>>())
        .bind(fees.iter().map(|f| f.currency.clone()).collect::<Vec<_>>())
        .bind(fees.iter().map(|f| f.due_on).collect::<Vec<_>>())
        .bind(fees.iter().map(|f| f.charge_key.clone()).collect::<Vec<_>>())
        .execute(conn)
        .await?;
    }
    Ok(Notice {
        notice_id,
        kind: kind.into(),
        channel: channel.into(),
        sent_at,
        fees,
    })
}

/// The notices sent to a unit, oldest first, each with its fee list.
pub async fn notices(pool: &PgPool, unit_id: Uuid) -> sqlx::Result<Vec<Notice>> {
    let mut notices: Vec<Notice> = sqlx::query_as(
        "select notice_id, kind, channel, sent_at from notices where unit_id = $1 order by sent_at, notice_id",
    )
    .bind(unit_id)
    .fetch_all(pool)
    .await?;
    let lines: Vec<(Uuid, String, i64, String, NaiveDate, String)> = sqlx::query_as(
        "select f.notice_id, f.purpose, f.amount_minor, f.currency, f.due_on, f.charge_key
         from notice_fees f join notices n using (notice_id)
         where n.unit_id = $1 order by f.notice_id, f.line",
    )
    .bind(unit_id)
    .fetch_all(pool)
    .await?;
    for (notice_id, purpose, amount, currency, due_on, charge_key) in lines {
        if let Some(n) = notices.iter_mut().find(|n| n.notice_id == notice_id) {
            n.fees.push(NoticeFee {
                purpose,
                amount,
                currency,
                due_on,
                charge_key,
            });
        }
    }
    Ok(notices)
}

/// A batch's figures: units, handed over, defects, re-inspections, average days from notice
/// to keys.
pub struct Statistics {
    pub units: i64,
    pub handed_over: i64,
    pub defects: i64,
    pub reinspections: i64,
    pub average_days_notice_to_keys: Option<i64>,
}

pub async fn statistics(
    pool: &PgPool,
    principal: &Principal,
    batch_id: Uuid,
) -> ServiceResult<Statistics> {
    let project: Option<Uuid> =
        sqlx::query_scalar("select project_id from batches where tenant_id = $1 and batch_id = $2")
            .bind(principal.tenant_id)
            .bind(batch_id)
            .fetch_optional(pool)
            .await?;
    if !project.is_some_and(|p| principal.can_see_project(p)) {
        return Err(ServiceError::not_found("batch"));
    }
    let (units, handed_over, reinspections, days): (i64, i64, i64, Option<i64>) = sqlx::query_as(
        "select count(*), count(keys_released_at), coalesce(sum(greatest(inspection_rounds - 1, 0)), 0)::bigint,
                avg(extract(day from keys_released_at - notice_sent_at))::bigint
         from handovers where batch_id = $1",
    )
    .bind(batch_id)
    .fetch_one(pool)
    .await?;
    let defects: i64 = sqlx::query_scalar(
        "select count(*) from defects d join handovers h on h.unit_id = d.unit_id where h.batch_id = $1",
    )
    .bind(batch_id)
    .fetch_one(pool)
    .await?;
    Ok(Statistics {
        units,
        handed_over,
        defects,
        reinspections,
        average_days_notice_to_keys: days,
    })
}
