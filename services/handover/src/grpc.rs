//! The HandoverService API.

use anju_kit::{Principal, ServiceError, paging::Page, validate::Validator};
use anju_messaging::host::Platform;
use anju_proto::{handover as pb, handover::handover_service_server::HandoverService};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::{move_in::MoveIn, units};

#[derive(Clone)]
pub struct HandoverApi {
    pool: PgPool,
    move_in: std::sync::Arc<MoveIn>,
}

impl HandoverApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
            move_in: std::sync::Arc::new(MoveIn {
                pool: platform.pool.clone(),
                outbox: platform.outbox.clone(),
                identity: anju_kit::pii::IdentityKey::new(&platform.settings.pii),
            }),
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

    async fn create_batch(
        &self,
        request: Request<pb::CreateBatchRequest>,
    ) -> Result<Response<pb::CreateBatchResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.move_in
                .create_batch(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn record_books_ready(
        &self,
        request: Request<pb::RecordBooksReadyRequest>,
    ) -> Result<Response<pb::RecordBooksReadyResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.move_in
                .books_ready(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn record_notice(
        &self,
        request: Request<pb::RecordNoticeRequest>,
    ) -> Result<Response<pb::RecordNoticeResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.move_in
                .record_notice(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn check_in(
        &self,
        request: Request<pb::CheckInRequest>,
    ) -> Result<Response<pb::CheckInResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.move_in
                .check_in(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn record_inspection(
        &self,
        request: Request<pb::RecordInspectionRequest>,
    ) -> Result<Response<pb::RecordInspectionResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.move_in
                .record_inspection(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn grant_key_clearance(
        &self,
        request: Request<pb::GrantKeyClearanceRequest>,
    ) -> Result<Response<pb::GrantKeyClearanceResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.move_in
                .grant_clearance(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn release_keys(
        &self,
        request: Request<pb::ReleaseKeysRequest>,
    ) -> Result<Response<pb::ReleaseKeysResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.move_in
                .release_keys(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn get_handover(
        &self,
        request: Request<pb::GetHandoverRequest>,
    ) -> Result<Response<pb::GetHandoverResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let unit_id = v.uuid("unit_id", &request.get_ref().unit_id);
        v.finish()?;
        Ok(Response::new(self.move_in.get(&principal, unit_id).await?))
    }

    async fn get_batch_statistics(
        &self,
        request: Request<pb::GetBatchStatisticsRequest>,
    ) -> Result<Response<pb::GetBatchStatisticsResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let batch_id = v.uuid("batch_id", &request.get_ref().batch_id);
        v.finish()?;
        Ok(Response::new(
            self.move_in.statistics(&principal, batch_id).await?,
        ))
    }

    async fn lend_key(
        &self,
        request: Request<pb::LendKeyRequest>,
    ) -> Result<Response<pb::LendKeyResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.move_in
                .lend_key(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn return_key(
        &self,
        request: Request<pb::ReturnKeyRequest>,
    ) -> Result<Response<pb::ReturnKeyResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.move_in
                .return_key(&principal, request.into_inner())
                .await?,
        ))
    }
}
