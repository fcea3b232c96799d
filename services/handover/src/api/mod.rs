//! The HandoverService API: wire glue and validation. Each handler validates its request
//! (INVALID_ARGUMENT names every bad field, before anything is written), then reads through
//! [`crate::store`] or runs as a command of the pipeline ([`anju_messaging::Commands`]):
//! load from the store, decide with [`crate::domain`], write through the store.

mod batches;
mod counter;
mod wire;

use anju_kit::{Principal, ServiceResult, paging::Page, pii::IdentityKey, validate::Validator};
use anju_messaging::{Commands, host::Platform};
use anju_proto::{handover as pb, handover::handover_service_server::HandoverService};
use sqlx::PgPool;

use crate::store;

#[derive(Clone)]
pub struct HandoverApi {
    pool: PgPool,
    commands: Commands,
    /// Checks the buyer's identity number against the keyed hash in sales' contract event.
    identity: IdentityKey,
}

impl HandoverApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
            commands: Commands::new(platform.pool.clone(), platform.outbox.clone()),
            identity: IdentityKey::new(&platform.settings.pii),
        }
    }

    async fn get_unit(
        &self,
        principal: &Principal,
        req: pb::GetUnitRequest,
    ) -> ServiceResult<pb::GetUnitResponse> {
        let mut v = Validator::new();
        let unit_id = v.uuid("unit_id", &req.unit_id);
        v.finish()?;
        let unit = store::units::unit(&self.pool, principal, unit_id).await?;
        Ok(pb::GetUnitResponse {
            unit: Some(unit.into()),
        })
    }

    async fn list_units(
        &self,
        principal: &Principal,
        req: pb::ListUnitsRequest,
    ) -> ServiceResult<pb::ListUnitsResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        v.finish()?;
        principal.require_project(project_id)?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (units, next_page_token) =
            store::units::units(&self.pool, principal.tenant_id, project_id, page).await?;
        Ok(pb::ListUnitsResponse {
            units: units.into_iter().map(Into::into).collect(),
            next_page_token,
        })
    }

    async fn get_handover(
        &self,
        principal: &Principal,
        req: pb::GetHandoverRequest,
    ) -> ServiceResult<pb::GetHandoverResponse> {
        let mut v = Validator::new();
        let unit_id = v.uuid("unit_id", &req.unit_id);
        v.finish()?;
        let mut conn = self.pool.acquire().await?;
        let handover = store::handover(&mut conn, principal, unit_id, false).await?;
        drop(conn);
        let notices = store::batches::notices(&self.pool, unit_id).await?;
        Ok(pb::GetHandoverResponse {
            handover: Some(handover.into()),
            notices: notices.into_iter().map(Into::into).collect(),
        })
    }

    async fn get_batch_statistics(
        &self,
        principal: &Principal,
        req: pb::GetBatchStatisticsRequest,
    ) -> ServiceResult<pb::GetBatchStatisticsResponse> {
        let mut v = Validator::new();
        let batch_id = v.uuid("batch_id", &req.batch_id);
        v.finish()?;
        let s = store::batches::statistics(&self.pool, principal, batch_id).await?;
        let count = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(pb::GetBatchStatisticsResponse {
            units: count(s.units),
            handed_over: count(s.handed_over),
            defects: count(s.defects),
            reinspections: count(s.reinspections),
            average_days_notice_to_keys: count(s.average_days_notice_to_keys.unwrap_or(0)),
        })
    }
}

anju_kit::rpcs! { impl HandoverService for HandoverApi in pb {
    get_unit(GetUnitRequest) -> GetUnitResponse;
    list_units(ListUnitsRequest) -> ListUnitsResponse;
    create_batch(CreateBatchRequest) -> CreateBatchResponse;
    record_books_ready(RecordBooksReadyRequest) -> RecordBooksReadyResponse;
    record_notice(RecordNoticeRequest) -> RecordNoticeResponse;
    check_in(CheckInRequest) -> CheckInResponse;
    record_inspection(RecordInspectionRequest) -> RecordInspectionResponse;
    grant_key_clearance(GrantKeyClearanceRequest) -> GrantKeyClearanceResponse;
    release_keys(ReleaseKeysRequest) -> ReleaseKeysResponse;
    lend_key(LendKeyRequest) -> LendKeyResponse;
    return_key(ReturnKeyRequest) -> ReturnKeyResponse;
    get_handover(GetHandoverRequest) -> GetHandoverResponse;
    get_batch_statistics(GetBatchStatisticsRequest) -> GetBatchStatisticsResponse;
} }

/// The request id and unit of a command on one unit.
fn unit_request(v: &mut Validator, request_id: &str, unit_id: &str) -> (String, uuid::Uuid) {
    (v.request_id(request_id), v.uuid("unit_id", unit_id))
}
