//! Catalogue commands: projects, buildings, units and the bulk unit import.

use anju_kit::{
    Principal, ServiceError, ServiceResult, audit::Subject, ids::new_id, validate::Validator,
};
use anju_proto::{events, sales as pb};
use chrono::Utc;

use super::SalesApi;
use crate::store::catalogue::{self, Building, Project, Unit};

/// Largest unit we accept: 100 000 m², in square centimetres.
pub(super) const MAX_UNIT_AREA_CM2: i64 = 100_000 * 10_000;

impl SalesApi {
    pub(super) async fn create_project(
        &self,
        principal: &Principal,
        req: pb::CreateProjectRequest,
    ) -> ServiceResult<pb::CreateProjectResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let code = v.text("code", &req.code, 32);
        v.check(
            code.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
            "code",
            "may hold only A-Z, 0-9 and '-'",
        );
        let name = v.text("name", &req.name, 200);
        let city = v.text("city", &req.city, 100);
        v.finish()?;

        self.commands
            .run(
                principal,
                "CreateProject",
                &request_id,
                &req,
                async |command| {
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
                    command
                        .emit(command.event("project", project.project_id), &event)
                        .await?;
                    let response = pb::CreateProjectResponse {
                        project: Some(project.clone().into()),
                    };
                    Ok((response, Subject::new("project", project.project_id)))
                },
            )
            .await
    }

    pub(super) async fn create_building(
        &self,
        principal: &Principal,
        req: pb::CreateBuildingRequest,
    ) -> ServiceResult<pb::CreateBuildingResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let name = v.text("name", &req.name, 100);
        let floors = v.range("floors", req.floors, 1, 200);
        v.finish()?;
        principal.require_project(project_id)?;

        self.commands
            .run(
                principal,
                "CreateBuilding",
                &request_id,
                &req,
                async |command| {
                    catalogue::project(command.tx(), principal.tenant_id, project_id).await?;
                    let building = Building {
                        building_id: new_id(),
                        project_id,
                        name,
                        floors,
                    };
                    catalogue::insert_building(command.tx(), principal.tenant_id, &building)
                        .await?;
                    let response = pb::CreateBuildingResponse {
                        building: Some(building.clone().into()),
                    };
                    Ok((response, Subject::new("building", building.building_id)))
                },
            )
            .await
    }

    pub(super) async fn register_unit(
        &self,
        principal: &Principal,
        req: pb::RegisterUnitRequest,
    ) -> ServiceResult<pb::RegisterUnitResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let building_id = v.uuid("building_id", &req.building_id);
        let unit_number = v.text("unit_number", &req.unit_number, 32);
        let layout = v.text("layout", &req.layout, 64);
        let orientation = v
            .optional_text("orientation", &req.orientation, 32)
            .unwrap_or_default();
        let area = v.area(
            "forecast_area",
            req.forecast_area.as_ref(),
            MAX_UNIT_AREA_CM2,
        );
        let (price, currency) = v.money("list_price", req.list_price.as_ref());
        v.finish()?;

        self.commands
            .run(
                principal,
                "RegisterUnit",
                &request_id,
                &req,
                async |command| {
                    let building =
                        catalogue::building(command.tx(), principal.tenant_id, building_id).await?;
                    principal
                        .require_project(building.project_id)
                        .map_err(|_| ServiceError::not_found("building"))?;
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
                        customer_id: None,
                    };
                    catalogue::insert_unit(command.tx(), principal.tenant_id, &unit).await?;
                    let proto: pb::Unit = unit.clone().into();
                    let event = registered(&proto);
                    command
                        .emit(command.event("unit", unit.unit_id), &event)
                        .await?;
                    let response = pb::RegisterUnitResponse { unit: Some(proto) };
                    Ok((response, Subject::new("unit", unit.unit_id)))
                },
            )
            .await
    }
}

/// The event a newly registered (or imported) unit publishes.
pub(super) fn registered(unit: &pb::Unit) -> events::UnitRegistered {
    events::UnitRegistered {
        unit_id: unit.unit_id.clone(),
        project_id: unit.project_id.clone(),
        building_id: unit.building_id.clone(),
        unit_number: unit.unit_number.clone(),
        floor: unit.floor,
        layout: unit.layout.clone(),
        forecast_area: unit.forecast_area,
        list_price: unit.list_price.clone(),
    }
}
