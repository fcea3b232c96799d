//! The MaintenanceService API: wire glue and validation; rules in [`crate::domain`], SQL in
//! [`crate::store`].

use anju_kit::{
    Principal, Role, ServiceResult, audit::Subject, ids::new_id, paging::Page, time::timestamp,
    validate::Validator,
};
use anju_messaging::{Commands, directory, host::Platform};
use anju_proto::{
    events, maintenance as pb, maintenance::maintenance_service_server::MaintenanceService,
};
use chrono::Utc;
use sqlx::PgPool;

use crate::{
    domain::{self, source_name},
    store::{self, RepairRequest},
};

impl From<RepairRequest> for pb::RepairRequest {
    fn from(r: RepairRequest) -> Self {
        let source = match r.source.as_str() {
            "owner" => pb::RepairSource::Owner,
            "inspection" => pb::RepairSource::Inspection,
            "complaint" => pb::RepairSource::Complaint,
            _ => pb::RepairSource::Unspecified,
        };
        pb::RepairRequest {
            repair_request_id: r.repair_request_id.to_string(),
            project_id: r.project_id.to_string(),
            unit_id: r.unit_id.to_string(),
            source: source as i32,
            category: r.category,
            description: r.description,
            contractor_id: r.contractor_id.map(|c| c.to_string()).unwrap_or_default(),
            created_at: Some(timestamp(r.created_at)),
            reference: r.reference,
            status: match r.status.as_str() {
                "open" => pb::RepairStatus::Open,
                "completed" => pb::RepairStatus::Completed,
                "closed" => pb::RepairStatus::Closed,
                _ => pb::RepairStatus::Unspecified,
            } as i32,
            resolution: r.resolution.unwrap_or_default(),
            closed_at: r.closed_at.map(timestamp),
            completed_at: r.completed_at.map(timestamp),
            sign_offs: Vec::new(),
        }
    }
}

/// Requests as answered, each with its sign-offs.
async fn with_sign_offs<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    requests: Vec<RepairRequest>,
) -> ServiceResult<Vec<pb::RepairRequest>> {
    let ids: Vec<uuid::Uuid> = requests.iter().map(|r| r.repair_request_id).collect();
    let signed = store::sign_offs(conn, &ids).await?;
    Ok(requests
        .into_iter()
        .map(|r| {
            let id = r.repair_request_id;
            let mut wire: pb::RepairRequest = r.into();
            wire.sign_offs = signed
                .iter()
                .filter(|(of, _)| *of == id)
                .map(|(_, s)| pb::SignOff {
                    party: match s.party.as_str() {
                        "maintenance" => pb::SignOffParty::Maintenance,
                        "owner" => pb::SignOffParty::Owner,
                        "supervising_engineer" => pb::SignOffParty::SupervisingEngineer,
                        "project_department" => pb::SignOffParty::ProjectDepartment,
                        _ => pb::SignOffParty::Unspecified,
                    } as i32,
                    signed_by: s.signed_by.clone(),
                    signed_at: Some(timestamp(s.signed_at)),
                })
                .collect();
            wire
        })
        .collect())
}

async fn one_with_sign_offs<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    request: RepairRequest,
) -> ServiceResult<pb::RepairRequest> {
    Ok(with_sign_offs(conn, vec![request])
        .await?
        .pop()
        .expect("one in, one out"))
}

#[derive(Clone)]
pub struct MaintenanceApi {
    pool: PgPool,
    commands: Commands,
}

impl MaintenanceApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
            commands: Commands::new(platform.pool.clone(), platform.outbox.clone()),
        }
    }

    async fn create_repair_request(
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
        // A complaint's repairs are the coordinator's to open: their reference links them back
        // to the complaint they resolve.
        v.check(
            !reference.starts_with("complaint:") || principal.has(Role::Service),
            "reference",
            "references starting complaint: are the coordinator's",
        );
        v.finish()?;
        principal.require_project(project_id)?;
        directory::require_unit(&self.pool, principal, project_id, unit_id).await?;
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
            completed_at: None,
        };
        self.commands
            .run(
                principal,
                "CreateRepairRequest",
                &request_id,
                &req,
                async |cmd| {
                    store::insert(cmd.conn(), principal.tenant_id, &repair).await?;
                    let event = events::RepairRequested {
                        repair_request_id: repair.repair_request_id.to_string(),
                        project_id: project_id.to_string(),
                        unit_id: unit_id.to_string(),
                        source: repair.source.clone(),
                        category: repair.category.clone(),
                        contractor_id: contractor_id.map(|c| c.to_string()).unwrap_or_default(),
                        reference: repair.reference.clone(),
                    };
                    cmd.emit(
                        cmd.event("repair_request", repair.repair_request_id),
                        &event,
                    )
                    .await?;
                    let subject = Subject::new("repair_request", repair.repair_request_id);
                    let response = pb::CreateRepairRequestResponse {
                        repair_request: Some(repair.into()),
                    };
                    Ok((response, subject))
                },
            )
            .await
    }

    async fn get_repair_request(
        &self,
        principal: &Principal,
        req: pb::GetRepairRequestRequest,
    ) -> ServiceResult<pb::GetRepairRequestResponse> {
        let mut v = Validator::new();
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        v.finish()?;
        let repair = store::visible(&self.pool, principal, id).await?;
        Ok(pb::GetRepairRequestResponse {
            repair_request: Some(one_with_sign_offs(&self.pool, repair).await?),
        })
    }

    async fn complete_work_order(
        &self,
        principal: &Principal,
        req: pb::CompleteWorkOrderRequest,
    ) -> ServiceResult<pb::CompleteWorkOrderResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        let resolution = v.free_text("resolution", &req.resolution, 4000);
        v.finish()?;
        self.commands
            .run(
                principal,
                "CompleteWorkOrder",
                &request_id,
                &req,
                async |cmd| {
                    let open = store::visible_for_update(cmd.conn(), principal, id).await?;
                    domain::complete(id, &open.status)?;
                    let done = store::complete(cmd.conn(), id, &resolution).await?;
                    let response = pb::CompleteWorkOrderResponse {
                        repair_request: Some(done.into()),
                    };
                    Ok((response, Subject::new("repair_request", id)))
                },
            )
            .await
    }

    async fn sign_off_repair(
        &self,
        principal: &Principal,
        req: pb::SignOffRepairRequest,
    ) -> ServiceResult<pb::SignOffRepairResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        let party = pb::SignOffParty::try_from(req.party)
            .ok()
            .and_then(domain::party_name);
        if party.is_none() {
            v.violation("party", "must name the party signing off");
        }
        let signed_by = v.text("signed_by", &req.signed_by, 100);
        v.finish()?;
        let party = party.unwrap_or_default();
        // Each party signs with its own role; the tenant's administrator may sign for any.
        let role = domain::signer(party).expect("a named party has a role");
        if !principal.has(role) && !principal.has(anju_kit::Role::Admin) {
            return Err(anju_kit::ServiceError::PermissionDenied(format!(
                "the {party} sign-off is given by the {role} role"
            )));
        }
        self.commands
            .run(principal, "SignOffRepair", &request_id, &req, async |cmd| {
                let completed = store::visible_for_update(cmd.conn(), principal, id).await?;
                domain::may_sign_off(id, &completed.status)?;
                let signed = store::sign_off(cmd.conn(), id, party, &signed_by).await?;
                let now = if domain::signed_off(&signed) {
                    let closed = store::close(cmd.conn(), id).await?;
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
                        resolution: closed.resolution.clone().unwrap_or_default(),
                    };
                    cmd.emit(cmd.event("repair_request", id), &event).await?;
                    closed
                } else {
                    completed
                };
                let response = pb::SignOffRepairResponse {
                    repair_request: Some(one_with_sign_offs(cmd.conn(), now).await?),
                };
                let subject = Subject::new("repair_request", id)
                    .with_detail(serde_json::json!({ "party": party, "signed_by": signed_by }));
                Ok((response, subject))
            })
            .await
    }

    async fn list_work_orders(
        &self,
        principal: &Principal,
        req: pb::ListWorkOrdersRequest,
    ) -> ServiceResult<pb::ListWorkOrdersResponse> {
        let mut v = Validator::new();
        let project_id = v.optional_uuid("project_id", &req.project_id);
        v.finish()?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (orders, next_page_token) =
            store::work_orders(&self.pool, principal, project_id, page).await?;
        Ok(pb::ListWorkOrdersResponse {
            work_orders: with_sign_offs(&self.pool, orders).await?,
            next_page_token,
        })
    }
}

anju_kit::rpcs! { impl MaintenanceService for MaintenanceApi in pb {
    create_repair_request(CreateRepairRequestRequest) -> CreateRepairRequestResponse;
    get_repair_request(GetRepairRequestRequest) -> GetRepairRequestResponse;
    complete_work_order(CompleteWorkOrderRequest) -> CompleteWorkOrderResponse;
    sign_off_repair(SignOffRepairRequest) -> SignOffRepairResponse;
    list_work_orders(ListWorkOrdersRequest) -> ListWorkOrdersResponse;
} }
