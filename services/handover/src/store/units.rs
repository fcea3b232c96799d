//! Queries over handover's unit read model.

use anju_kit::{Principal, ServiceError, ServiceResult, paging::Page};
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
    pub buyer_name: Option<String>,
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
            contracted: u.buyer_name.is_some(),
            buyer_name: u.buyer_name.unwrap_or_default(),
        }
    }
}

/// A unit as `principal` may see it.
pub async fn unit(
    pool: &PgPool,
    principal: &Principal,
    unit_id: Uuid,
) -> ServiceResult<HandoverUnit> {
    sqlx::query_as(
        "select u.unit_id, u.project_id, u.building_id, u.unit_number, u.forecast_area_cm2, c.buyer_name
         from units u left join contracts c on c.unit_id = u.unit_id and c.active
         where u.tenant_id = $1 and u.unit_id = $2",
    )
    .bind(principal.tenant_id)
    .bind(unit_id)
    .fetch_optional(pool)
    .await?
    .filter(|u: &HandoverUnit| principal.can_see_project(u.project_id))
    .ok_or_else(|| ServiceError::not_found("unit"))
}

pub async fn units(
    pool: &PgPool,
    tenant: Uuid,
    project_id: Uuid,
    page: Page,
) -> ServiceResult<(Vec<HandoverUnit>, String)> {
    let rows: Vec<HandoverUnit> = sqlx::query_as(
        "select u.unit_id, u.project_id, u.building_id, u.unit_number, u.forecast_area_cm2, c.buyer_name
         from units u left join contracts c on c.unit_id = u.unit_id and c.active
         where u.tenant_id = $1 and u.project_id = $2 and u.unit_id > $3
         order by u.unit_id limit $4",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |u| u.unit_id))
}

/// Whether handover knows the project (or the building in it) from sales' units or contracts:
/// books and keys come before any unit is sold.
pub async fn known(
    pool: &PgPool,
    tenant: Uuid,
    project_id: Uuid,
    building_id: Option<Uuid>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from units where tenant_id = $1 and project_id = $2 and ($3::uuid is null or building_id = $3))
             or exists (select 1 from contracts where tenant_id = $1 and project_id = $2 and ($3::uuid is null or building_id = $3))",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(building_id)
    .fetch_one(pool)
    .await
}
