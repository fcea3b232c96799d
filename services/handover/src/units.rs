//! Queries over handover's unit read model.

use anju_kit::{ServiceError, ServiceResult, paging::Page};
use anju_proto::{common, handover as pb};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub struct HandoverUnit {
    pub unit_id: Uuid,
    pub project_id: Uuid,
    pub building_id: Uuid,
    pub unit_number: String,
    pub forecast_area_cm2: i64,
}

impl From<HandoverUnit> for pb::HandoverUnit {
    fn from(u: HandoverUnit) -> Self {
        pb::HandoverUnit {
            unit_id: u.unit_id.to_string(),
            project_id: u.project_id.to_string(),
            building_id: u.building_id.to_string(),
            unit_number: u.unit_number,
            forecast_area: Some(common::Area {
                square_centimetres: u.forecast_area_cm2,
            }),
        }
    }
}

pub async fn unit(pool: &PgPool, tenant: Uuid, unit_id: Uuid) -> ServiceResult<HandoverUnit> {
    sqlx::query_as(
        "select unit_id, project_id, building_id, unit_number, forecast_area_cm2
         from units where tenant_id = $1 and unit_id = $2",
    )
    .bind(tenant)
    .bind(unit_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ServiceError::not_found("unit"))
}

pub async fn units(
    pool: &PgPool,
    tenant: Uuid,
    project_id: Uuid,
    page: Page,
) -> ServiceResult<(Vec<HandoverUnit>, String)> {
    let rows: Vec<HandoverUnit> = sqlx::query_as(
        "select unit_id, project_id, building_id, unit_number, forecast_area_cm2
         from units where tenant_id = $1 and project_id = $2 and unit_id > $3
         order by unit_id limit $4",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |u| u.unit_id))
}
