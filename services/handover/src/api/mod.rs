//! The HandoverService API: wire glue and validation. Each handler validates its request
//! (INVALID_ARGUMENT names every bad field, before anything is written), then reads through
//! [`crate::store`] or runs as a command of the pipeline ([`anju_messaging::Commands`]):
//! load from the store, decide with [`crate::domain`], write through the store.

mod batches;
mod books;
mod counter;
mod keys;
mod notices;
mod plans;
mod wire;

use anju_kit::{Principal, ServiceResult, paging::Page, pii::IdentityKey, validate::Validator};
use anju_messaging::{Commands, host::Platform};
use anju_proto::{handover as pb, handover::handover_service_server::HandoverService};
use sqlx::PgPool;

use crate::store::{self, statistics::Scope};

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
        let notices = store::notices::notices(&self.pool, unit_id).await?;
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
        let scope = if req.project_id.is_empty() {
            Scope::Batch(v.uuid("batch_id", &req.batch_id))
        } else {
            v.check(
                req.batch_id.is_empty(),
                "batch_id",
                "name a batch or a project, not both",
            );
            Scope::Project(v.uuid("project_id", &req.project_id))
        };
        v.finish()?;
        let s = store::statistics::statistics(&self.pool, principal, scope).await?;
        let count = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(pb::GetBatchStatisticsResponse {
            units: count(s.units),
            handed_over: count(s.handed_over),
            defects: count(s.defects),
            reinspections: count(s.reinspections),
            average_days_notice_to_keys: count(s.average_days_notice_to_keys.unwrap_or(0)),
            refused: count(s.refused),
            refusals: s
                .refusals
                .into_iter()
                .map(|(reason, units)| pb::RefusalCount {
                    reason,
                    units: count(units),
                })
                .collect(),
            waiting_on_fees: count(s.waiting_on_fees),
            waiting_on_repairs: count(s.waiting_on_repairs),
            waiting_on_reinspection: count(s.waiting_on_reinspection),
            notices_late: count(s.notices_late),
            average_days_window_to_keys_centi: count(
                s.average_centidays_window_to_keys.unwrap_or(0),
            ),
        })
    }
}

anju_kit::rpcs! { impl HandoverService for HandoverApi in pb {
    get_unit(GetUnitRequest) -> GetUnitResponse;
    list_units(ListUnitsRequest) -> ListUnitsResponse;
    get_handover_settings(GetHandoverSettingsRequest) -> GetHandoverSettingsResponse;
    set_handover_settings(SetHandoverSettingsRequest) -> SetHandoverSettingsResponse;
    create_batch(CreateBatchRequest) -> CreateBatchResponse;
    add_batch_units(AddBatchUnitsRequest) -> AddBatchUnitsResponse;
    get_batch(GetBatchRequest) -> GetBatchResponse;
    submit_batch_plan(SubmitBatchPlanRequest) -> SubmitBatchPlanResponse;
    approve_batch_plan(ApproveBatchPlanRequest) -> ApproveBatchPlanResponse;
    record_book(RecordBookRequest) -> RecordBookResponse;
    list_books(ListBooksRequest) -> ListBooksResponse;
    record_notice(RecordNoticeRequest) -> RecordNoticeResponse;
    record_notice_tracking(RecordNoticeTrackingRequest) -> RecordNoticeTrackingResponse;
    get_move_in_list(GetMoveInListRequest) -> GetMoveInListResponse;
    check_in(CheckInRequest) -> CheckInResponse;
    record_inspection(RecordInspectionRequest) -> RecordInspectionResponse;
    grant_key_clearance(GrantKeyClearanceRequest) -> GrantKeyClearanceResponse;
    release_keys(ReleaseKeysRequest) -> ReleaseKeysResponse;
    receive_keys(ReceiveKeysRequest) -> ReceiveKeysResponse;
    list_keys(ListKeysRequest) -> ListKeysResponse;
    lend_key(LendKeyRequest) -> LendKeyResponse;
    return_key(ReturnKeyRequest) -> ReturnKeyResponse;
    list_key_loans(ListKeyLoansRequest) -> ListKeyLoansResponse;
    get_handover(GetHandoverRequest) -> GetHandoverResponse;
    get_batch_statistics(GetBatchStatisticsRequest) -> GetBatchStatisticsResponse;
} }

/// The request id and unit of a command on one unit.
fn unit_request(v: &mut Validator, request_id: &str, unit_id: &str) -> (String, uuid::Uuid) {
    (v.request_id(request_id), v.uuid("unit_id", unit_id))
}
