//! Service level standards: the tenant's (stored under the nil project id) and each project's.

use anju_kit::time::ProjectZone;
use sqlx::{PgExecutor, types::Json};
use uuid::Uuid;

use crate::domain::standard::Standard;

/// Where a project's standard comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Project,
    Tenant,
    Default,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Project => "project",
            Source::Tenant => "tenant",
            Source::Default => "default",
        }
    }
}

/// The standard a project's new complaints get: the project's, else the tenant's, else the
/// default. `project_id` None asks for the tenant's.
pub async fn effective<'e>(
    db: impl PgExecutor<'e>,
    tenant: Uuid,
    project_id: Option<Uuid>,
) -> sqlx::Result<(Standard, Source)> {
    let rows: Vec<(Uuid, Json<Standard>)> = sqlx::query_as(
        "select project_id, standard from service_standards
         where tenant_id = $1 and project_id in ($2, $3)",
    )
    .bind(tenant)
    .bind(project_id.unwrap_or(Uuid::nil()))
    .bind(Uuid::nil())
    .fetch_all(db)
    .await?;
    let of = |id: Uuid| {
        rows.iter()
            .find(|(p, _)| *p == id)
            .map(|(_, s)| s.0.clone())
    };
    Ok(match project_id.and_then(of) {
        Some(s) => (s, Source::Project),
        None => match of(Uuid::nil()) {
            Some(s) => (s, Source::Tenant),
            None => (Standard::default(), Source::Default),
        },
    })
}

pub async fn set<'e>(
    db: impl PgExecutor<'e>,
    tenant: Uuid,
    project_id: Option<Uuid>,
    standard: &Standard,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into service_standards (tenant_id, project_id, standard) values ($1, $2, $3)
         on conflict (tenant_id, project_id) do update set standard = excluded.standard,
             updated_at = now()",
    )
    .bind(tenant)
    .bind(project_id.unwrap_or(Uuid::nil()))
    .bind(Json(standard))
    .execute(db)
    .await?;
    Ok(())
}

/// Records a project's time zone (a tz database name sales vouched for); the latest learnt wins.
pub async fn learn_zone<'e>(
    db: impl PgExecutor<'e>,
    tenant: Uuid,
    project_id: Uuid,
    time_zone: &str,
) -> sqlx::Result<()> {
    if ProjectZone::parse(time_zone).is_none() {
        return Ok(());
    }
    sqlx::query(
        "insert into project_zones (project_id, tenant_id, time_zone) values ($1, $2, $3)
         on conflict (project_id) do update set time_zone = excluded.time_zone, learnt_at = now()
         where project_zones.tenant_id = excluded.tenant_id",
    )
    .bind(project_id)
    .bind(tenant)
    .bind(time_zone)
    .execute(db)
    .await?;
    Ok(())
}

/// The standard a project's new complaints get, in the project's time zone when the standard
/// is the tenant's or the default (their hours are each project's local hours); a project's
/// own standard keeps the zone it names.
pub async fn for_project(
    pool: &sqlx::PgPool,
    tenant: Uuid,
    project_id: Uuid,
) -> sqlx::Result<Standard> {
    let (mut standard, source) = effective(pool, tenant, Some(project_id)).await?;
    if source != Source::Project {
        let zone: Option<String> = sqlx::query_scalar(
            "select time_zone from project_zones where project_id = $1 and tenant_id = $2",
        )
        .bind(project_id)
        .bind(tenant)
        .fetch_optional(pool)
        .await?;
        if let Some(zone) = zone {
            standard.calendar.time_zone = zone;
        }
    }
    Ok(standard)
}
