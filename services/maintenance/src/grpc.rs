//! The MaintenanceService API.

use anju_kit::{
    Principal, Refusal, ServiceResult,
    audit::Subject,
    idempotency::{Claim, Command},
    ids::new_id,
    paging::Page,
    validate::Validator,
};
use anju_messaging::{EventMeta, Outbox, directory, host::Platform};
use anju_proto::{
    events, maintenance as pb, maintenance::maintenance_service_server::MaintenanceService,
};
use chrono::Utc;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::repairs::{self, RepairRequest, source_name};

#[derive(Clone)]
pub struct MaintenanceApi {
    pool: PgPool,
    outbox: Outbox,
}

impl MaintenanceApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
            outbox: platform.outbox.clone(),
        }
    }

    async fn create(
        &self,
        principal: &Principal,
        req: pb::CreateRepairRequestRequest,
    ) -> ServiceResult<pb::CreateRepairRequestResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        let source = pb::RepairSource::try_from(req.source)
            .ok()
            .and_then(source_name);
        if source.is_none() {
            v.violation("source", "must be owner, inspection or complaint");
        }
        let category = v.text("category", &req.category, 64);
        let description = v.free_text("description", &req.description, 4000);
        let contractor_id = v.optional_uuid("contractor_id", &req.contractor_id);
        let reference = v
            .optional_text("reference", &req.reference, 200)
            .unwrap_or_default();
        v.finish()?;
        principal.require_project(project_id)?;
        directory::require_unit(&self.pool, principal, project_id, unit_id).await?;

        let mut command = match Command::begin(
            &self.pool,
            principal,
            "CreateRepairRequest",
            &request_id,
            &req,
        )
        .await?
        {
            Claim::Replay(response) => return Ok(response),
            Claim::Fresh(command) => command,
        };
        let repair = RepairRequest {
            repair_request_id: new_id(),
            project_id,
            unit_id,
            source: source.unwrap_or_default().to_string(),
            category,
            description,
            contractor_id,
            created_at: Utc::now(),
            reference,
            status: "open".into(),
            resolution: None,
            closed_at: None,
        };
        repairs::insert(command.tx(), principal.tenant_id, &repair).await?;
        let event = events::RepairRequested {
            repair_request_id: repair.repair_request_id.to_string(),
            project_id: project_id.to_string(),
            unit_id: unit_id.to_string(),
            source: repair.source.clone(),
            category: repair.category.clone(),
            contractor_id: contractor_id.map(|c| c.to_string()).unwrap_or_default(),
            reference: repair.reference.clone(),
        };
        let meta = EventMeta::new(
            principal.tenant_id,
            "repair_request",
            repair.repair_request_id,
        )
        .caused_by_request(&request_id);
        self.outbox.append(command.tx(), meta, &event).await?;
        let response = pb::CreateRepairRequestResponse {
            repair_request: Some(repair.clone().into()),
        };
        command
            .commit(
                &response,
                Subject::new("repair_request", repair.repair_request_id),
            )
            .await?;
        Ok(response)
    }

    async fn close(
        &self,
        principal: &Principal,
        req: pb::CloseRepairRequestRequest,
    ) -> ServiceResult<pb::CloseRepairRequestResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        let resolution = v.free_text("resolution", &req.resolution, 4000);
        v.finish()?;
        let mut command = match Command::begin(
            &self.pool,
            principal,
            "CloseRepairRequest",
            &request_id,
            &req,
        )
        .await?
        {
            Claim::Replay(response) => return Ok(response),
            Claim::Fresh(command) => command,
        };
        let open = repairs::visible_for_update(command.tx(), principal, id).await?;
        if open.status != "open" {
            return Err(Refusal::new(
                "REPAIR_ALREADY_CLOSED",
                "the repair request is already closed",
            )
            .with("repair_request_id", id)
            .into());
        }
        let closed = repairs::close(command.tx(), id, &resolution).await?;
        let event = events::RepairRequestClosed {
            repair_request_id: id.to_string(),
            project_id: closed.project_id.to_string(),
            unit_id: closed.unit_id.to_string(),
            source: closed.source.clone(),
            reference: closed.reference.clone(),
            contractor_id: closed
                .contractor_id
                .map(|c| c.to_string())
                .unwrap_or_default(),
            resolution: resolution.clone(),
        };
        let meta = EventMeta::new(principal.tenant_id, "repair_request", id)
            .caused_by_request(&request_id);
        self.outbox.append(command.tx(), meta, &event).await?;
        let response = pb::CloseRepairRequestResponse {
            repair_request: Some(closed.into()),
        };
        command
            .commit(&response, Subject::new("repair_request", id))
            .await?;
        Ok(response)
    }
}

#[tonic::async_trait]
impl MaintenanceService for MaintenanceApi {
    async fn create_repair_request(
        &self,
        request: Request<pb::CreateRepairRequestRequest>,
    ) -> Result<Response<pb::CreateRepairRequestResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.create(&principal, request.into_inner()).await?,
        ))
    }

    async fn get_repair_request(
        &self,
        request: Request<pb::GetRepairRequestRequest>,
    ) -> Result<Response<pb::GetRepairRequestResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let id = v.uuid("repair_request_id", &request.get_ref().repair_request_id);
        v.finish()?;
        let repair = repairs::visible(&self.pool, &principal, id).await?;
        Ok(Response::new(pb::GetRepairRequestResponse {
            repair_request: Some(repair.into()),
        }))
    }

    async fn close_repair_request(
        &self,
        request: Request<pb::CloseRepairRequestRequest>,
    ) -> Result<Response<pb::CloseRepairRequestResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.close(&principal, request.into_inner()).await?,
        ))
    }

    async fn list_work_orders(
        &self,
        request: Request<pb::ListWorkOrdersRequest>,
    ) -> Result<Response<pb::ListWorkOrdersResponse>, Status> {
        let principal = Principal::of(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let project_id = v.optional_uuid("project_id", &req.project_id);
        v.finish()?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (orders, next_page_token) =
            repairs::work_orders(&self.pool, &principal, project_id, page).await?;
        Ok(Response::new(pb::ListWorkOrdersResponse {
            work_orders: orders.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }
}
