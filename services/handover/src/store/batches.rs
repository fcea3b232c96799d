//! Batches, their plans, their units and the notices sent to them.

use anju_kit::{Principal, ServiceError, ServiceResult};

use crate::domain::batch::{PlanStatus, Settings};
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
    pub time_zone: String,
    pub plan_lead_months: i32,
    pub notice_lead_days: i32,
    pub notices_at: DateTime<Utc>,
    pub lead_override_reason: Option<String>,
    pub lead_overridden_by: Option<String>,
    pub plan_materials: Option<Vec<String>>,
    pub plan_tasks: Option<Vec<String>>,
    pub plan_departments: Option<Vec<String>>,
    pub plan_submitted_by: Option<String>,
    pub plan_submitted_at: Option<DateTime<Utc>>,
    pub plan_approved_by: Option<String>,
    pub plan_approved_at: Option<DateTime<Utc>>,
}

impl Batch {
    pub fn plan_status(&self) -> PlanStatus {
        if self.plan_approved_at.is_some() {
            PlanStatus::Approved
        } else if self.plan_submitted_at.is_some() {
            PlanStatus::Submitted
        } else {
            PlanStatus::None
        }
    }
}

const BATCH: &str = "batch_id, project_id, building_id, name, window_start, window_end, time_zone, plan_lead_months, notice_lead_days, \
                     notices_at, lead_override_reason, lead_overridden_by, plan_materials, plan_tasks, plan_departments, \
                     plan_submitted_by, plan_submitted_at, plan_approved_by, plan_approved_at";

/// A day of a batch's plan.
#[derive(Clone, Debug, FromRow)]
pub struct PlanDay {
    pub day: NaiveDate,
    pub building_id: Uuid,
    pub counters: i32,
    pub staff: Vec<String>,
}

/// A batch as shown: its row, its units, its buildings, its plan's days and whether every
/// unit has both books.
pub struct BatchView {
    pub batch: Batch,
    pub units: Vec<Uuid>,
    pub buildings: Vec<Uuid>,
    pub days: Vec<PlanDay>,
    pub books_ready: bool,
}

pub async fn view(conn: &mut PgConnection, batch: Batch) -> sqlx::Result<BatchView> {
    let units = units(&mut *conn, batch.batch_id).await?;
    let buildings = buildings(&mut *conn, batch.batch_id).await?;
    let days = sqlx::query_as(
        "select day, building_id, counters, staff from plan_days where batch_id = $1 order by line",
    )
    .bind(batch.batch_id)
    .fetch_all(&mut *conn)
    .await?;
    let books_ready = super::books::batch_ready(conn, batch.batch_id).await?;
    Ok(BatchView {
        batch,
        units,
        buildings,
        days,
        books_ready,
    })
}

/// The buildings of the batch's units.
pub async fn buildings(conn: &mut PgConnection, batch_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "select distinct c.building_id from handovers h join contracts c on c.unit_id = h.unit_id
         where h.batch_id = $1 order by 1",
    )
    .bind(batch_id)
    .fetch_all(conn)
    .await
}

/// The batch as `principal` may see it; locked (FOR UPDATE) when `lock`.
pub async fn batch(
    conn: &mut PgConnection,
    principal: &Principal,
    batch_id: Uuid,
    lock: bool,
) -> ServiceResult<Batch> {
    let lock = if lock { " for update" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {BATCH} from batches where tenant_id = $1 and batch_id = $2{lock}"
    )))
    .bind(principal.tenant_id)
    .bind(batch_id)
    .fetch_optional(conn)
    .await?
    .filter(|b: &Batch| principal.can_see_project(b.project_id))
    .ok_or_else(|| ServiceError::not_found("batch"))
}

/// The tenant's settings (the seed's defaults until it sets its own).
pub async fn settings(conn: &mut PgConnection, tenant: Uuid) -> sqlx::Result<Settings> {
    let row: Option<(i32, i32, i32)> = sqlx::query_as(
        "select plan_lead_months, notice_lead_days, notice_minute from handover_settings where tenant_id = $1",
    )
    .bind(tenant)
    .fetch_optional(conn)
    .await?;
    Ok(row.map_or_else(Settings::default, |(p, n, m)| Settings {
        plan_lead_months: p,
        notice_lead_days: n,
        notice_minute: m,
    }))
}

pub async fn set_settings(conn: &mut PgConnection, tenant: Uuid, s: &Settings) -> sqlx::Result<()> {
    sqlx::query(
        "insert into handover_settings (tenant_id, plan_lead_months, notice_lead_days, notice_minute)
         values ($1, $2, $3, $4)
         on conflict (tenant_id) do update set plan_lead_months = $2, notice_lead_days = $3, notice_minute = $4,
             updated_at = now()",
    )
    .bind(tenant)
    .bind(s.plan_lead_months)
    .bind(s.notice_lead_days)
    .bind(s.notice_minute)
    .execute(conn)
    .await?;
    Ok(())
}

/// The submitted plan replaces any earlier one.
pub struct NewPlan<'a> {
    pub days: &'a [PlanDay],
    pub materials: &'a [String],
    pub tasks: &'a [String],
    pub departments: &'a [String],
}

pub async fn submit_plan(
    conn: &mut PgConnection,
    batch_id: Uuid,
    submitted_by: &str,
    plan: &NewPlan<'_>,
) -> sqlx::Result<Batch> {
    sqlx::query("delete from plan_days where batch_id = $1")
        .bind(batch_id)
        .execute(&mut *conn)
        .await?;
    for (line, d) in plan.days.iter().enumerate() {
        sqlx::query(
            "insert into plan_days (batch_id, line, day, building_id, counters, staff) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(batch_id)
        .bind(i32::try_from(line).unwrap_or(i32::MAX))
        .bind(d.day)
        .bind(d.building_id)
        .bind(d.counters)
        .bind(&d.staff)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update batches set plan_materials = $2, plan_tasks = $3, plan_departments = $4,
                plan_submitted_by = $5, plan_submitted_at = now()
         where batch_id = $1 returning {BATCH}"
    )))
    .bind(batch_id)
    .bind(plan.materials)
    .bind(plan.tasks)
    .bind(plan.departments)
    .bind(submitted_by)
    .fetch_one(conn)
    .await
}

pub async fn approve_plan(
    conn: &mut PgConnection,
    batch_id: Uuid,
    approved_by: &str,
) -> sqlx::Result<Batch> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update batches set plan_approved_by = $2, plan_approved_at = now()
         where batch_id = $1 returning {BATCH}"
    )))
    .bind(batch_id)
    .bind(approved_by)
    .fetch_one(conn)
    .await
}

/// The batch's units still under an active contract (the list the notices go to), in unit id
/// order.
pub async fn contracted_units(conn: &mut PgConnection, batch_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "select h.unit_id from handovers h join contracts c on c.unit_id = h.unit_id
         where h.batch_id = $1 and c.active order by h.unit_id",
    )
    .bind(batch_id)
    .fetch_all(conn)
    .await
}

/// A new batch's terms.
pub struct NewBatch<'a> {
    pub batch_id: Uuid,
    pub project_id: Uuid,
    pub building_id: Option<Uuid>,
    pub name: &'a str,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    pub time_zone: &'a str,
    pub plan_lead_months: i32,
    pub notice_lead_days: i32,
    pub notices_at: DateTime<Utc>,
    pub lead_override_reason: Option<&'a str>,
    pub lead_overridden_by: Option<&'a str>,
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
    pub building_id: Uuid,
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
                              maintenance_fund_bp, time_zone, notice_lead_days, notices_at, lead_override_reason,
                              lead_overridden_by, plan_lead_months)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
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
    .bind(b.time_zone)
    .bind(b.notice_lead_days)
    .bind(b.notices_at)
    .bind(b.lead_override_reason)
    .bind(b.lead_overridden_by)
    .bind(b.plan_lead_months)
    .fetch_one(conn)
    .await
}

/// Serialises the batches of a project (their creation and late joiners), so two at once do
/// not both take the same contracted unit.
pub async fn lock_project(conn: &mut PgConnection, project_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1::text, 7))")
        .bind(project_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The buildings the batch's plan schedules.
pub async fn scheduled_buildings(
    conn: &mut PgConnection,
    batch_id: Uuid,
) -> sqlx::Result<std::collections::BTreeSet<Uuid>> {
    let rows: Vec<Uuid> =
        sqlx::query_scalar("select distinct building_id from plan_days where batch_id = $1")
            .bind(batch_id)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// The project's time zone, as sales stated it on its contracts.
pub async fn time_zone(
    pool: &PgPool,
    tenant: Uuid,
    project_id: Uuid,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "select time_zone from contracts where tenant_id = $1 and project_id = $2 order by unit_id limit 1",
    )
    .bind(tenant)
    .bind(project_id)
    .fetch_optional(pool)
    .await
}

/// A batch's fee terms, for units that join it later.
pub struct Terms {
    pub currency: String,
    pub property_fee_per_m2_month: i64,
    pub prepaid_months: i32,
    pub construction_cost_per_m2: i64,
    pub maintenance_fund_bp: i32,
}

pub async fn terms(conn: &mut PgConnection, batch_id: Uuid) -> sqlx::Result<Terms> {
    let (currency, property_fee_per_m2_month, prepaid_months, construction_cost_per_m2, maintenance_fund_bp) =
        sqlx::query_as(
            "select currency, property_fee_per_m2_month_minor, prepaid_months, construction_cost_per_m2_minor,
                    maintenance_fund_bp
             from batches where batch_id = $1",
        )
        .bind(batch_id)
        .fetch_one(conn)
        .await?;
    Ok(Terms {
        currency,
        property_fee_per_m2_month,
        prepaid_months,
        construction_cost_per_m2,
        maintenance_fund_bp,
    })
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
        "select c.unit_id, c.building_id, c.customer_id, c.buyer_name, c.area_cm2, c.time_zone from contracts c
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
