//! The HandoverService API.

use anju_kit::{Principal, ServiceError, paging::Page, validate::Validator};
use anju_messaging::host::Platform;
use anju_proto::{handover as pb, handover::handover_service_server::HandoverService};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::units;

#[derive(Clone)]
pub struct HandoverApi {
    pool: PgPool,
}

impl HandoverApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
        }
    }
}

#[tonic::async_trait]
impl HandoverService for HandoverApi {
    async fn get_unit(
        &self,
        request: Request<pb::GetUnitRequest>,
    ) -> Result<Response<pb::GetUnitResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let unit_id = v.uuid("unit_id", &request.get_ref().unit_id);
        v.finish()?;
        let unit = units::unit(&self.pool, principal.tenant_id, unit_id).await?;
        if !principal.can_see_project(unit.project_id) {
            return Err(ServiceError::not_found("unit").into());
        }
        Ok(Response::new(pb::GetUnitResponse {
            unit: Some(unit.into()),
        }))
    }

    async fn list_units(
        &self,
        request: Request<pb::ListUnitsRequest>,
    ) -> Result<Response<pb::ListUnitsResponse>, Status> {
        let principal = Principal::of(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        v.finish()?;
        principal.require_project(project_id)?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (units, next_page_token) =
            units::units(&self.pool, principal.tenant_id, project_id, page).await?;
        Ok(Response::new(pb::ListUnitsResponse {
            units: units.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }
}
