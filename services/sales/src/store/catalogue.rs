//! The catalogue: projects, buildings and units, always read and written within one tenant.

use anju_kit::{ServiceError, ServiceResult, db::is_unique_violation, paging::Page};
use anju_proto::{common, sales as pb};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub struct Project {
    pub project_id: Uuid,
    pub code: String,
    pub name: String,
    pub city: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, FromRow)]
pub struct Building {
    pub building_id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub floors: i32,
}

#[derive(Clone, Debug, FromRow)]
pub struct Unit {
    pub unit_id: Uuid,
    pub project_id: Uuid,
    pub building_id: Uuid,
    pub unit_number: String,
    pub floor: i32,
    pub layout: String,
    pub forecast_area_cm2: i64,
    pub list_price_minor: i64,
    pub currency: String,
    pub orientation: String,
    pub status: String,
    pub customer_id: Option<Uuid>,
}

/// The unit inventory (銷控) states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitStatus {
    Available,
    Held,
    Subscribed,
    Contracted,
}

impl UnitStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "available" => Some(Self::Available),
            "held" => Some(Self::Held),
            "subscribed" => Some(Self::Subscribed),
            "contracted" => Some(Self::Contracted),
            _ => None,
        }
    }

    pub fn to_proto(self) -> pb::UnitStatus {
        match self {
            Self::Available => pb::UnitStatus::Available,
            Self::Held => pb::UnitStatus::Held,
            Self::Subscribed => pb::UnitStatus::Subscribed,
            Self::Contracted => pb::UnitStatus::Contracted,
        }
    }
}

pub use anju_kit::time::timestamp;

impl From<Project> for pb::Project {
    fn from(p: Project) -> Self {
        pb::Project {
            project_id: p.project_id.to_string(),
            code: p.code,
            name: p.name,
            city: p.city,
            created_at: Some(timestamp(p.created_at)),
        }
    }
}

impl From<Building> for pb::Building {
    fn from(b: Building) -> Self {
        pb::Building {
            building_id: b.building_id.to_string(),
            project_id: b.project_id.to_string(),
            name: b.name,
            floors: b.floors,
        }
    }
}

impl From<Unit> for pb::Unit {
    fn from(u: Unit) -> Self {
        let status =
            UnitStatus::parse(&u.status).map_or(pb::UnitStatus::Unspecified, UnitStatus::to_proto);
        pb::Unit {
            unit_id: u.unit_id.to_string(),
            project_id: u.project_id.to_string(),
            building_id: u.building_id.to_string(),
            unit_number: u.unit_number,
            floor: u.floor,
            layout: u.layout,
            forecast_area: Some(common::Area {
                square_centimetres: u.forecast_area_cm2,
            }),
            list_price: Some(common::Money {
                minor_units: u.list_price_minor,
                currency: u.currency,
            }),
            orientation: u.orientation,
            status: status as i32,
            customer_id: u.customer_id.map(|c| c.to_string()).unwrap_or_default(),
        }
    }
}

pub async fn insert_project(
    conn: &mut PgConnection,
    tenant: Uuid,
    project: &Project,
) -> ServiceResult<()> {
    sqlx::query(
        "insert into projects (project_id, tenant_id, code, name, city, created_at) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(project.project_id)
    .bind(tenant)
    .bind(&project.code)
    .bind(&project.name)
    .bind(&project.city)
    .bind(project.created_at)
    .execute(conn)
    .await
    .map_err(|err| {
        if is_unique_violation(&err, "projects_tenant_code_key") {
            ServiceError::AlreadyExists(format!("a project with code {} already exists", project.code))
        } else {
            err.into()
        }
    })?;
    Ok(())
}

const PROJECT_COLUMNS: &str = "project_id, code, name, city, created_at";

pub async fn project(
    conn: &mut PgConnection,
    tenant: Uuid,
    project_id: Uuid,
) -> ServiceResult<Project> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {PROJECT_COLUMNS} from projects where tenant_id = $1 and project_id = $2"
    )))
    .bind(tenant)
    .bind(project_id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::not_found("project"))
}

pub async fn projects(
    pool: &PgPool,
    tenant: Uuid,
    scope: Option<Vec<Uuid>>,
    page: Page,
) -> ServiceResult<(Vec<Project>, String)> {
    let rows: Vec<Project> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {PROJECT_COLUMNS} from projects
         where tenant_id = $1 and project_id > $2 and ($3::uuid[] is null or project_id = any($3))
         order by project_id limit $4"
    )))
    .bind(tenant)
    .bind(page.after)
    .bind(scope)
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |p| p.project_id))
}

pub async fn insert_building(
    conn: &mut PgConnection,
    tenant: Uuid,
    building: &Building,
) -> ServiceResult<()> {
    sqlx::query(
        "insert into buildings (building_id, tenant_id, project_id, name, floors) values ($1, $2, $3, $4, $5)",
    )
    .bind(building.building_id)
    .bind(tenant)
    .bind(building.project_id)
    .bind(&building.name)
    .bind(building.floors)
    .execute(conn)
    .await
    .map_err(|err| {
        if is_unique_violation(&err, "buildings_project_name_key") {
            ServiceError::AlreadyExists(format!("building {} already exists in this project", building.name))
        } else {
            err.into()
        }
    })?;
    Ok(())
}

pub async fn building(
    conn: &mut PgConnection,
    tenant: Uuid,
    building_id: Uuid,
) -> ServiceResult<Building> {
    sqlx::query_as(
        "select building_id, project_id, name, floors from buildings where tenant_id = $1 and building_id = $2",
    )
    .bind(tenant)
    .bind(building_id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::not_found("building"))
}

pub async fn insert_unit(conn: &mut PgConnection, tenant: Uuid, unit: &Unit) -> ServiceResult<()> {
    sqlx::query(
        "insert into units (unit_id, tenant_id, project_id, building_id, unit_number, floor, layout,
                            forecast_area_cm2, list_price_minor, currency, orientation, status)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(unit.unit_id)
    .bind(tenant)
    .bind(unit.project_id)
    .bind(unit.building_id)
    .bind(&unit.unit_number)
    .bind(unit.floor)
    .bind(&unit.layout)
    .bind(unit.forecast_area_cm2)
    .bind(unit.list_price_minor)
    .bind(&unit.currency)
    .bind(&unit.orientation)
    .bind(&unit.status)
    .execute(conn)
    .await
    .map_err(|err| {
        if is_unique_violation(&err, "units_building_number_key") {
            ServiceError::AlreadyExists(format!("unit {} already exists in this building", unit.unit_number))
        } else {
            err.into()
        }
    })?;
    Ok(())
}

const UNIT_COLUMNS: &str = "unit_id, project_id, building_id, unit_number, floor, layout, forecast_area_cm2, \
                            list_price_minor, currency, orientation, status, customer_id";

pub async fn unit(conn: &mut PgConnection, tenant: Uuid, unit_id: Uuid) -> ServiceResult<Unit> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {UNIT_COLUMNS} from units where tenant_id = $1 and unit_id = $2"
    )))
    .bind(tenant)
    .bind(unit_id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::not_found("unit"))
}

pub async fn units(
    pool: &PgPool,
    tenant: Uuid,
    building_id: Uuid,
    page: Page,
) -> ServiceResult<(Vec<Unit>, String)> {
    let rows: Vec<Unit> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {UNIT_COLUMNS} from units
         where tenant_id = $1 and building_id = $2 and unit_id > $3
         order by unit_id limit $4"
    )))
    .bind(tenant)
    .bind(building_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |u| u.unit_id))
}

/// The unit numbers already taken in a building.
pub async fn unit_numbers(
    conn: &mut PgConnection,
    tenant: Uuid,
    building_id: Uuid,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("select unit_number from units where tenant_id = $1 and building_id = $2")
        .bind(tenant)
        .bind(building_id)
        .fetch_all(conn)
        .await
}
