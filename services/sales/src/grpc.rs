//! The SalesService API: validation, tenant and project scope, idempotent commands, events.

use anju_kit::{
    Principal, ServiceError, ServiceResult,
    audit::Subject,
    idempotency::{Claim, Command},
    ids::new_id,
    paging::Page,
    validate::Validator,
};
use anju_messaging::{EventMeta, Outbox, host::Platform};
use anju_proto::{events, sales as pb, sales::sales_service_server::SalesService};
use chrono::Utc;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::catalogue::{self, Building, Project, Unit};

/// Largest unit we accept: 100 000 m², in square centimetres.
const MAX_UNIT_AREA_CM2: i64 = 100_000 * 10_000;

#[derive(Clone)]
pub struct SalesApi {
    pool: PgPool,
    outbox: Outbox,
}

impl SalesApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
            outbox: platform.outbox.clone(),
        }
    }

    async fn create_project(&self, principal: &Principal, req: pb::CreateProjectRequest) -> ServiceResult<pb::CreateProjectResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let code = v.text("code", &req.code, 32);
        v.check(
            code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
            "code",
            "may hold only A-Z, 0-9 and '-'",
        );
        let name = v.text("name", &req.name, 200);
        let city = v.text("city", &req.city, 100);
        v.finish()?;

        let mut command = match Command::begin(&self.pool, principal, "CreateProject", &request_id, &req).await? {
            Claim::Replay(response) => return Ok(response),
            Claim::Fresh(command) => command,
        };
        let project = Project {
            project_id: new_id(),
            code,
            name,
            city,
            created_at: Utc::now(),
        };
        catalogue::insert_project(command.tx(), principal.tenant_id, &project).await?;
        let event = events::ProjectCreated {
            project_id: project.project_id.to_string(),
            code: project.code.clone(),
            name: project.name.clone(),
            city: project.city.clone(),
        };
        let meta = EventMeta::new(principal.tenant_id, "project", project.project_id).caused_by_request(&request_id);
        self.outbox.append(command.tx(), meta, &event).await?;
        let response = pb::CreateProjectResponse {
            project: Some(project.clone().into()),
        };
        command.commit(&response, Subject::new("project", project.project_id)).await?;
        Ok(response)
    }

    async fn create_building(&self, principal: &Principal, req: pb::CreateBuildingRequest) -> ServiceResult<pb::CreateBuildingResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let name = v.text("name", &req.name, 100);
        let floors = v.range("floors", req.floors, 1, 200);
        v.finish()?;
        principal.require_project(project_id)?;

        let mut command = match Command::begin(&self.pool, principal, "CreateBuilding", &request_id, &req).await? {
            Claim::Replay(response) => return Ok(response),
            Claim::Fresh(command) => command,
        };
        catalogue::project(command.tx(), principal.tenant_id, project_id).await?;
        let building = Building {
            building_id: new_id(),
            project_id,
            name,
            floors,
        };
        catalogue::insert_building(command.tx(), principal.tenant_id, &building).await?;
        let response = pb::CreateBuildingResponse {
            building: Some(building.clone().into()),
        };
        command.commit(&response, Subject::new("building", building.building_id)).await?;
        Ok(response)
    }

    async fn register_unit(&self, principal: &Principal, req: pb::RegisterUnitRequest) -> ServiceResult<pb::RegisterUnitResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let building_id = v.uuid("building_id", &req.building_id);
        let unit_number = v.text("unit_number", &req.unit_number, 32);
        let layout = v.text("layout", &req.layout, 64);
        let orientation = v.optional_text("orientation", &req.orientation, 32).unwrap_or_default();
        let area = v.area("forecast_area", req.forecast_area.as_ref(), MAX_UNIT_AREA_CM2);
        let (price, currency) = v.money("list_price", req.list_price.as_ref());
        v.finish()?;

        let mut command = match Command::begin(&self.pool, principal, "RegisterUnit", &request_id, &req).await? {
            Claim::Replay(response) => return Ok(response),
            Claim::Fresh(command) => command,
        };
        let building = catalogue::building(command.tx(), principal.tenant_id, building_id).await?;
        principal.require_project(building.project_id).map_err(|_| ServiceError::not_found("building"))?;
        if req.floor < -5 || req.floor > building.floors || req.floor == 0 {
            return Err(ServiceError::invalid(
                "floor",
                format!("must be between -5 and {} and not 0", building.floors),
            ));
        }
        let unit = Unit {
            unit_id: new_id(),
            project_id: building.project_id,
            building_id,
            unit_number,
            floor: req.floor,
            layout,
            forecast_area_cm2: area,
            list_price_minor: price,
            currency,
            orientation,
            status: "available".into(),
        };
        catalogue::insert_unit(command.tx(), principal.tenant_id, &unit).await?;
        let proto: pb::Unit = unit.clone().into();
        let event = events::UnitRegistered {
            unit_id: proto.unit_id.clone(),
            project_id: proto.project_id.clone(),
            building_id: proto.building_id.clone(),
            unit_number: proto.unit_number.clone(),
            floor: proto.floor,
            layout: proto.layout.clone(),
            forecast_area: proto.forecast_area,
            list_price: proto.list_price.clone(),
        };
        let meta = EventMeta::new(principal.tenant_id, "unit", unit.unit_id).caused_by_request(&request_id);
        self.outbox.append(command.tx(), meta, &event).await?;
        let response = pb::RegisterUnitResponse { unit: Some(proto) };
        command.commit(&response, Subject::new("unit", unit.unit_id)).await?;
        Ok(response)
    }
}

#[tonic::async_trait]
impl SalesService for SalesApi {
    async fn create_project(
        &self,
        request: Request<pb::CreateProjectRequest>,
    ) -> Result<Response<pb::CreateProjectResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(self.create_project(&principal, request.into_inner()).await?))
    }

    async fn get_project(&self, request: Request<pb::GetProjectRequest>) -> Result<Response<pb::GetProjectResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &request.get_ref().project_id);
        v.finish()?;
        principal.require_project(project_id)?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let project = catalogue::project(&mut conn, principal.tenant_id, project_id).await?;
        Ok(Response::new(pb::GetProjectResponse {
            project: Some(project.into()),
        }))
    }

    async fn list_projects(
        &self,
        request: Request<pb::ListProjectsRequest>,
    ) -> Result<Response<pb::ListProjectsResponse>, Status> {
        let principal = Principal::of(&request)?;
        let page = request.get_ref().page.clone().unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (projects, next_page_token) =
            catalogue::projects(&self.pool, principal.tenant_id, principal.project_filter(), page).await?;
        Ok(Response::new(pb::ListProjectsResponse {
            projects: projects.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn create_building(
        &self,
        request: Request<pb::CreateBuildingRequest>,
    ) -> Result<Response<pb::CreateBuildingResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(self.create_building(&principal, request.into_inner()).await?))
    }

    async fn register_unit(
        &self,
        request: Request<pb::RegisterUnitRequest>,
    ) -> Result<Response<pb::RegisterUnitResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(self.register_unit(&principal, request.into_inner()).await?))
    }

    async fn get_unit(&self, request: Request<pb::GetUnitRequest>) -> Result<Response<pb::GetUnitResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let unit_id = v.uuid("unit_id", &request.get_ref().unit_id);
        v.finish()?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let unit = catalogue::unit(&mut conn, principal.tenant_id, unit_id).await?;
        if !principal.can_see_project(unit.project_id) {
            return Err(ServiceError::not_found("unit").into());
        }
        Ok(Response::new(pb::GetUnitResponse { unit: Some(unit.into()) }))
    }

    async fn list_units(&self, request: Request<pb::ListUnitsRequest>) -> Result<Response<pb::ListUnitsResponse>, Status> {
        let principal = Principal::of(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let building_id = v.uuid("building_id", &req.building_id);
        v.finish()?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let building = catalogue::building(&mut conn, principal.tenant_id, building_id).await?;
        if !principal.can_see_project(building.project_id) {
            return Err(ServiceError::not_found("building").into());
        }
        drop(conn);
        let (units, next_page_token) = catalogue::units(&self.pool, principal.tenant_id, building_id, page).await?;
        Ok(Response::new(pb::ListUnitsResponse {
            units: units.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }
}
