//! The FinanceService API: the reads here, the commands in their own files.
//!
//! Every read is scoped to the caller's tenant and projects; an object outside them is
//! NOT_FOUND. Each command validates everything first (INVALID_ARGUMENT names every bad
//! field and writes nothing), then runs as one idempotent command of the pipeline
//! ([`anju_messaging::Commands`]): the state change, its events in the outbox and its audit
//! row commit together or not at all. RecordPayment, the hot path, runs as the pipeline's
//! documented `Single`/`Attempt` variant.
//!
//! Row locks are always taken in one order — charge, payment, cashier day, settlement group —
//! so concurrent commands serialize where they must and never deadlock. CloseSettlementGroup
//! locks all charges of its group (in charge id order) and then the group's row; the refund it
//! issues locks a second group's row, `"<group>:refund"`, after that.

mod charge;
mod close;
mod group;
mod inputs;
mod payment;
mod refund;

use anju_kit::{Principal, ServiceResult, paging::Page, validate::Validator};
use anju_messaging::{Commands, host::Platform};
use anju_proto::{finance as pb, finance::finance_service_server::FinanceService};
use sqlx::PgPool;

use crate::{
    domain::dates,
    store::{charges, daily_close, payments, statements},
};

#[derive(Clone)]
pub struct FinanceApi {
    pub(crate) pool: PgPool,
    pub(crate) commands: Commands,
}

impl FinanceApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
            commands: Commands::new(platform.pool.clone(), platform.outbox.clone()),
        }
    }

    async fn get_charge(
        &self,
        principal: &Principal,
        req: pb::GetChargeRequest,
    ) -> ServiceResult<pb::GetChargeResponse> {
        let mut v = Validator::new();
        let charge_id = v.uuid("charge_id", &req.charge_id);
        v.finish()?;
        let scope = principal.project_filter();
        let charge =
            charges::get(&self.pool, principal.tenant_id, charge_id, scope.as_deref()).await?;
        Ok(pb::GetChargeResponse {
            charge: Some(charge.into()),
        })
    }

    async fn list_charges(
        &self,
        principal: &Principal,
        req: pb::ListChargesRequest,
    ) -> ServiceResult<pb::ListChargesResponse> {
        let mut v = Validator::new();
        let location = if req.building_id.is_empty() || !req.unit_id.is_empty() {
            let unit_id = v.uuid("unit_id", &req.unit_id);
            v.check(
                req.building_id.is_empty(),
                "building_id",
                "give a unit or a building, not both",
            );
            charges::Location::Unit(unit_id)
        } else {
            charges::Location::Building(v.uuid("building_id", &req.building_id))
        };
        v.finish()?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (charges, next_page_token) = charges::of_location(
            &self.pool,
            principal.tenant_id,
            location,
            principal.project_filter(),
            page,
        )
        .await?;
        Ok(pb::ListChargesResponse {
            charges: charges.into_iter().map(Into::into).collect(),
            next_page_token,
        })
    }

    async fn list_payments(
        &self,
        principal: &Principal,
        req: pb::ListPaymentsRequest,
    ) -> ServiceResult<pb::ListPaymentsResponse> {
        let mut v = Validator::new();
        let charge_id = v.uuid("charge_id", &req.charge_id);
        v.finish()?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let scope = principal.project_filter();
        charges::get(&self.pool, principal.tenant_id, charge_id, scope.as_deref()).await?;
        let (payments, next_page_token) =
            payments::of_charge(&self.pool, principal.tenant_id, charge_id, page).await?;
        Ok(pb::ListPaymentsResponse {
            payments: payments.into_iter().map(Into::into).collect(),
            next_page_token,
        })
    }

    async fn get_daily_report(
        &self,
        principal: &Principal,
        req: pb::GetDailyReportRequest,
    ) -> ServiceResult<pb::GetDailyReportResponse> {
        let mut v = Validator::new();
        let cashier = v.optional_text("cashier_id", &req.cashier_id, 128);
        let date = dates::date_for_read(&mut v, "business_date", &req.business_date);
        v.finish()?;
        let cashier = cashier.unwrap_or_else(|| principal.subject.clone());
        let scope = principal.project_filter();
        let report = daily_close::read_report(
            &self.pool,
            principal.tenant_id,
            &cashier,
            date,
            scope.as_deref(),
        )
        .await?;
        Ok(pb::GetDailyReportResponse {
            report: Some(report.into()),
        })
    }

    async fn get_monthly_statement(
        &self,
        principal: &Principal,
        req: pb::GetMonthlyStatementRequest,
    ) -> ServiceResult<pb::GetMonthlyStatementResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        let month = dates::month(&mut v, "month", &req.month);
        v.finish()?;
        principal.require_project(project_id)?;
        let statement = statements::monthly(
            &self.pool,
            principal.tenant_id,
            project_id,
            &req.month,
            month,
        )
        .await?;
        Ok(pb::GetMonthlyStatementResponse {
            statement: Some(statement),
        })
    }

    async fn get_unit_statement(
        &self,
        principal: &Principal,
        req: pb::GetUnitStatementRequest,
    ) -> ServiceResult<pb::GetUnitStatementResponse> {
        let mut v = Validator::new();
        let unit_id = v.uuid("unit_id", &req.unit_id);
        v.finish()?;
        let statement = statements::unit(
            &self.pool,
            principal.tenant_id,
            unit_id,
            principal.project_filter(),
        )
        .await?;
        Ok(pb::GetUnitStatementResponse {
            statement: Some(statement),
        })
    }
}

anju_kit::rpcs! { impl FinanceService for FinanceApi in pb {
    issue_charge(IssueChargeRequest) -> IssueChargeResponse;
    cancel_charge(CancelChargeRequest) -> CancelChargeResponse;
    close_settlement_group(CloseSettlementGroupRequest) -> CloseSettlementGroupResponse;
    get_charge(GetChargeRequest) -> GetChargeResponse;
    list_charges(ListChargesRequest) -> ListChargesResponse;
    record_payment(RecordPaymentRequest) -> RecordPaymentResponse;
    refund_payment(RefundPaymentRequest) -> RefundPaymentResponse;
    list_payments(ListPaymentsRequest) -> ListPaymentsResponse;
    close_day(CloseDayRequest) -> CloseDayResponse;
    get_daily_report(GetDailyReportRequest) -> GetDailyReportResponse;
    get_monthly_statement(GetMonthlyStatementRequest) -> GetMonthlyStatementResponse;
    get_unit_statement(GetUnitStatementRequest) -> GetUnitStatementResponse;
} }
