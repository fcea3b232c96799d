//! Title's SQL.

use anju_kit::{Principal, ServiceError, ServiceResult};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub struct TitleFile {
    pub unit_id: Uuid,
    pub project_id: Uuid,
    pub measured_area_cm2: Option<i64>,
    pub surveyed_at: Option<DateTime<Utc>>,
}

/// Records a survey on the unit's title file. A unit belongs to one tenant and one project for
/// ever: a survey naming it under another is NOT_FOUND; a later survey corrects the area.
pub async fn record_survey(
    conn: &mut PgConnection,
    tenant: Uuid,
    project_id: Uuid,
    unit_id: Uuid,
    area_cm2: i64,
) -> ServiceResult<TitleFile> {
    sqlx::query_as(
        "insert into title_files (unit_id, tenant_id, project_id, measured_area_cm2, surveyed_at)
         values ($1, $2, $3, $4, now())
         on conflict (unit_id) do update set measured_area_cm2 = excluded.measured_area_cm2, surveyed_at = now()
         where title_files.tenant_id = excluded.tenant_id and title_files.project_id = excluded.project_id
         returning unit_id, project_id, measured_area_cm2, surveyed_at",
    )
    .bind(unit_id)
    .bind(tenant)
    .bind(project_id)
    .bind(area_cm2)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::not_found("unit"))
}

/// A unit's title file as `principal` may see it.
pub async fn title_file(
    pool: &PgPool,
    principal: &Principal,
    unit_id: Uuid,
) -> ServiceResult<TitleFile> {
    sqlx::query_as(
        "select unit_id, project_id, measured_area_cm2, surveyed_at from title_files
         where tenant_id = $1 and unit_id = $2",
    )
    .bind(principal.tenant_id)
    .bind(unit_id)
    .fetch_optional(pool)
    .await?
    .filter(|f: &TitleFile| principal.can_see_project(f.project_id))
    .ok_or_else(|| ServiceError::not_found("title file"))
}
