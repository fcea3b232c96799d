//! The responsibility map and the facts a warranty decision is taken on: buildings' completion
//! acceptance, tenants' promises, units' handovers.

use anju_kit::{Principal, ServiceResult};
use chrono::NaiveDate;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub struct Responsibility {
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub building_id: Uuid,
    pub component: String,
    pub contractor_id: Uuid,
    pub backup_vendor_id: Uuid,
    pub settlement_minor: i64,
    pub retention_minor: i64,
    pub currency: String,
    pub liability_years: i32,
    pub respond_minutes: i32,
    pub on_site_urgent_minutes: i32,
    pub on_site_normal_minutes: i32,
    /// The retention not yet taken by charges.
    pub retention_left: i64,
}

const COLUMNS: &str = "r.tenant_id, r.project_id, r.building_id, r.component, r.contractor_id,
    r.backup_vendor_id, r.settlement_minor, r.retention_minor, r.currency, r.liability_years,
    r.respond_minutes, r.on_site_urgent_minutes, r.on_site_normal_minutes,
    r.retention_minor - coalesce((select sum(c.from_retention_minor) from contractor_charges c
        where c.building_id = r.building_id and c.component = r.component
          and c.contractor_id = r.contractor_id), 0)::bigint as retention_left";

pub async fn set(conn: &mut PgConnection, r: &Responsibility) -> ServiceResult<Responsibility> {
    sqlx::query(
        "insert into responsibilities (building_id, component, tenant_id, project_id, contractor_id,
             backup_vendor_id, settlement_minor, retention_minor, currency, liability_years,
             respond_minutes, on_site_urgent_minutes, on_site_normal_minutes)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         on conflict (building_id, component) do update set
             contractor_id = excluded.contractor_id, backup_vendor_id = excluded.backup_vendor_id,
             settlement_minor = excluded.settlement_minor, retention_minor = excluded.retention_minor,
             currency = excluded.currency, liability_years = excluded.liability_years,
             respond_minutes = excluded.respond_minutes,
             on_site_urgent_minutes = excluded.on_site_urgent_minutes,
             on_site_normal_minutes = excluded.on_site_normal_minutes, updated_at = now()",
    )
    .bind(r.building_id)
    .bind(&r.component)
    .bind(r.tenant_id)
    .bind(r.project_id)
    .bind(r.contractor_id)
    .bind(r.backup_vendor_id)
    .bind(r.settlement_minor)
    .bind(r.retention_minor)
    .bind(&r.currency)
    .bind(r.liability_years)
    .bind(r.respond_minutes)
    .bind(r.on_site_urgent_minutes)
    .bind(r.on_site_normal_minutes)
    .execute(&mut *conn)
    .await?;
    Ok(of(conn, r.tenant_id, r.building_id, &r.component)
        .await?
        .expect("just written"))
}

/// The entry for `component` in a building of the tenant.
pub async fn of<'c>(
    conn: impl PgExecutor<'c>,
    tenant: Uuid,
    building_id: Uuid,
    component: &str,
) -> sqlx::Result<Option<Responsibility>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from responsibilities r
         where r.tenant_id = $1 and r.building_id = $2 and r.component = $3"
    )))
    .bind(tenant)
    .bind(building_id)
    .bind(component)
    .fetch_optional(conn)
    .await
}

/// [`of`], locked until the transaction ends (a charge taking from its retention).
pub async fn of_for_update(
    conn: &mut PgConnection,
    tenant: Uuid,
    building_id: Uuid,
    component: &str,
) -> sqlx::Result<Option<Responsibility>> {
    sqlx::query(
        "select 1 from responsibilities
         where tenant_id = $1 and building_id = $2 and component = $3 for update",
    )
    .bind(tenant)
    .bind(building_id)
    .bind(component)
    .execute(&mut *conn)
    .await?;
    of(conn, tenant, building_id, component).await
}

/// A project's map (at most ten components a building), by building and component.
pub async fn list<'c>(
    conn: impl PgExecutor<'c>,
    principal: &Principal,
    project_id: Uuid,
    building_id: Option<Uuid>,
) -> ServiceResult<Vec<Responsibility>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from responsibilities r
         where r.tenant_id = $1 and r.project_id = $2 and ($3::uuid is null or r.building_id = $3)
         order by r.building_id, r.component limit 1000"
    )))
    .bind(principal.tenant_id)
    .bind(project_id)
    .bind(building_id)
    .fetch_all(conn)
    .await?)
}

/// The building a unit is in, from the unit directory.
pub async fn building_of<'c>(
    conn: impl PgExecutor<'c>,
    unit_id: Uuid,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar::<_, Option<Uuid>>("select building_id from known_units where unit_id = $1")
        .bind(unit_id)
        .fetch_optional(conn)
        .await
        .map(Option::flatten)
}

/// Whether the building is the tenant's, in the project (from the unit directory).
pub async fn building_known<'c>(
    conn: impl PgExecutor<'c>,
    tenant: Uuid,
    project_id: Uuid,
    building_id: Uuid,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from known_units
                        where tenant_id = $1 and project_id = $2 and building_id = $3)",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(building_id)
    .fetch_one(conn)
    .await
}

pub async fn set_building_warranty(
    conn: &mut PgConnection,
    tenant: Uuid,
    project_id: Uuid,
    building_id: Uuid,
    accepted_on: NaiveDate,
    design_life_years: i32,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into building_warranties (building_id, tenant_id, project_id, accepted_on, design_life_years)
         values ($1, $2, $3, $4, $5)
         on conflict (building_id) do update set accepted_on = excluded.accepted_on,
             design_life_years = excluded.design_life_years, updated_at = now()",
    )
    .bind(building_id)
    .bind(tenant)
    .bind(project_id)
    .bind(accepted_on)
    .bind(design_life_years)
    .execute(conn)
    .await?;
    Ok(())
}

/// A building's completion acceptance and design life.
pub async fn building_warranty<'c>(
    conn: impl PgExecutor<'c>,
    tenant: Uuid,
    building_id: Uuid,
) -> sqlx::Result<Option<(NaiveDate, i32)>> {
    sqlx::query_as(
        "select accepted_on, design_life_years from building_warranties
         where tenant_id = $1 and building_id = $2",
    )
    .bind(tenant)
    .bind(building_id)
    .fetch_optional(conn)
    .await
}

pub async fn set_promise(
    conn: &mut PgConnection,
    tenant: Uuid,
    project_id: Uuid,
    component: &str,
    months: i32,
) -> sqlx::Result<()> {
    if months == 0 {
        sqlx::query(
            "delete from warranty_promises where tenant_id = $1 and project_id = $2 and component = $3",
        )
        .bind(tenant)
        .bind(project_id)
        .bind(component)
        .execute(conn)
        .await?;
    } else {
        sqlx::query(
            "insert into warranty_promises (project_id, component, tenant_id, months)
             values ($1, $2, $3, $4)
             on conflict (project_id, component) do update set months = excluded.months",
        )
        .bind(project_id)
        .bind(component)
        .bind(tenant)
        .bind(months)
        .execute(conn)
        .await?;
    }
    Ok(())
}

pub async fn promise<'c>(
    conn: impl PgExecutor<'c>,
    tenant: Uuid,
    project_id: Uuid,
    component: &str,
) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar(
        "select months from warranty_promises
         where tenant_id = $1 and project_id = $2 and component = $3",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(component)
    .fetch_optional(conn)
    .await
}

/// Records a unit's handover (the first one counts).
pub async fn handed_over(
    conn: &mut PgConnection,
    tenant: Uuid,
    unit_id: Uuid,
    on: NaiveDate,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into unit_handovers (unit_id, tenant_id, handed_over_on) values ($1, $2, $3)
         on conflict (unit_id) do nothing",
    )
    .bind(unit_id)
    .bind(tenant)
    .bind(on)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn handover_of<'c>(
    conn: impl PgExecutor<'c>,
    tenant: Uuid,
    unit_id: Uuid,
) -> sqlx::Result<Option<NaiveDate>> {
    sqlx::query_scalar(
        "select handed_over_on from unit_handovers where tenant_id = $1 and unit_id = $2",
    )
    .bind(tenant)
    .bind(unit_id)
    .fetch_optional(conn)
    .await
}
