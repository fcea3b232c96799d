//! Batches and the notices sent to their units.

use anju_kit::{
    Principal, ServiceError, ServiceResult, audit::Subject, ids::new_id, validate::Validator,
};
use anju_proto::{common, events, handover as pb};

use super::{HandoverApi, unit_request, wire};
use crate::{
    domain::batch::{NOTICE_KINDS, fee},
    store::{
        self, Moment,
        batches::{self as batches_store, NewBatch, NoticeFee},
    },
};

impl HandoverApi {
    pub(super) async fn create_batch(
        &self,
        principal: &Principal,
        req: pb::CreateBatchRequest,
    ) -> ServiceResult<pb::CreateBatchResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let building_id = v.optional_uuid("building_id", &req.building_id);
        let name = v.text("name", &req.name, 200);
        let start = v.date("window_start", &req.window_start);
        let end = v.date("window_end", &req.window_end);
        v.check(
            end >= start,
            "window_end",
            "must not be before window_start",
        );
        let rate = req
            .property_fee_per_square_metre_month
            .clone()
            .unwrap_or_default();
        v.check(
            rate.minor_units >= 0,
            "property_fee_per_square_metre_month.minor_units",
            "must not be negative",
        );
        v.check(
            rate.currency.len() == 3,
            "property_fee_per_square_metre_month.currency",
            "must be an ISO 4217 code",
        );
        let months = v.range("prepaid_months", req.prepaid_months, 1, 24);
        let cost = req
            .construction_cost_per_square_metre
            .clone()
            .unwrap_or_default();
        v.check(
            cost.minor_units >= 0,
            "construction_cost_per_square_metre.minor_units",
            "must not be negative",
        );
        v.check(
            cost.currency == rate.currency,
            "construction_cost_per_square_metre.currency",
            "must be the fee's currency",
        );
        // 2007 Measures for Special Maintenance Funds art. 7: 5-8 % of the construction cost.
        let fund_bp = v.range("maintenance_fund_bp", req.maintenance_fund_bp, 500, 800);
        v.finish()?;
        principal.require_project(project_id)?;
        if !batches_store::known(&self.pool, principal.tenant_id, project_id, building_id).await? {
            return Err(ServiceError::not_found(if building_id.is_some() {
                "building"
            } else {
                "project"
            }));
        }
        let terms = NewBatch {
            batch_id: new_id(),
            project_id,
            building_id,
            name: &name,
            window_start: start,
            window_end: end,
            currency: &rate.currency,
            property_fee_per_m2_month: rate.minor_units,
            prepaid_months: months,
            construction_cost_per_m2: cost.minor_units,
            maintenance_fund_bp: fund_bp,
        };
        let money = |minor_units| {
            Some(common::Money {
                minor_units,
                currency: rate.currency.clone(),
            })
        };
        self.commands
            .run(principal, "CreateBatch", &request_id, &req, async |cmd| {
                let tenant = cmd.tenant();
                let batch = batches_store::insert(cmd.conn(), tenant, &terms).await?;
                let contracted =
                    batches_store::contracted(cmd.conn(), tenant, project_id, building_id).await?;
                if contracted.is_empty() {
                    return Err(ServiceError::precondition(
                        "NO_CONTRACTED_UNIT",
                        "no contracted unit is waiting for a handover batch here",
                    ));
                }
                for unit in &contracted {
                    let overflow = || ServiceError::invalid("fees", "overflow");
                    let property_fee = fee(rate.minor_units, unit.area_cm2, i64::from(months), 1)
                        .ok_or_else(overflow)?;
                    let fund = fee(cost.minor_units, unit.area_cm2, i64::from(fund_bp), 10_000)
                        .ok_or_else(overflow)?;
                    batches_store::add_unit(cmd.conn(), tenant, &batch, unit).await?;
                    let event = events::UnitAddedToBatch {
                        batch_id: batch.batch_id.to_string(),
                        project_id: project_id.to_string(),
                        unit_id: unit.unit_id.to_string(),
                        customer_id: unit.customer_id.to_string(),
                        window_start: start.to_string(),
                        time_zone: unit.time_zone.clone(),
                        property_fee: money(property_fee),
                        maintenance_fund: money(fund),
                    };
                    cmd.emit(cmd.event("handover", unit.unit_id), &event)
                        .await?;
                }
                let units = batches_store::units(cmd.conn(), batch.batch_id).await?;
                let batch_id = batch.batch_id;
                let response = pb::CreateBatchResponse {
                    batch: Some(wire::batch(batch, units)),
                };
                Ok((response, Subject::new("batch", batch_id)))
            })
            .await
    }

    pub(super) async fn record_books_ready(
        &self,
        principal: &Principal,
        req: pb::RecordBooksReadyRequest,
    ) -> ServiceResult<pb::RecordBooksReadyResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let batch_id = v.uuid("batch_id", &req.batch_id);
        v.finish()?;
        self.commands
            .run(
                principal,
                "RecordBooksReady",
                &request_id,
                &req,
                async |cmd| {
                    let batch = batches_store::books_ready(cmd.conn(), principal, batch_id).await?;
                    let units = batches_store::units(cmd.conn(), batch_id).await?;
                    let response = pb::RecordBooksReadyResponse {
                        batch: Some(wire::batch(batch, units)),
                    };
                    Ok((response, Subject::new("batch", batch_id)))
                },
            )
            .await
    }

    pub(super) async fn record_notice(
        &self,
        principal: &Principal,
        req: pb::RecordNoticeRequest,
    ) -> ServiceResult<pb::RecordNoticeResponse> {
        let mut v = Validator::new();
        let (request_id, unit_id) = unit_request(&mut v, &req.request_id, &req.unit_id);
        v.check(
            NOTICE_KINDS.contains(&req.kind.as_str()),
            "kind",
            "must be notice, reminder or reinspection",
        );
        let channel = v.text("channel", &req.channel, 32);
        v.check(
            req.kind != "notice" || !req.fees.is_empty(),
            "fees",
            "a move-in notice lists the unit's fees",
        );
        v.check(req.fees.len() <= 50, "fees", "at most 50 lines");
        let mut fees = Vec::with_capacity(req.fees.len());
        for (n, fee) in req.fees.iter().take(50).enumerate() {
            let field = |name: &str| format!("fees[{n}].{name}");
            let purpose = v.text(&field("purpose"), &fee.purpose, 64);
            let (amount, currency) = v.money(&field("amount"), fee.amount.as_ref());
            let due_on = v.date(&field("due_on"), &fee.due_on);
            let charge_key = v.text(&field("charge_key"), &fee.charge_key, 200);
            fees.push(NoticeFee {
                purpose,
                amount,
                currency,
                due_on,
                charge_key,
            });
        }
        v.check(
            fees.iter()
                .try_fold(0i64, |sum, f| sum.checked_add(f.amount))
                .is_some(),
            "fees",
            "the total is too large",
        );
        if let Some(first) = fees.first() {
            v.check(
                fees.iter().all(|f| f.currency == first.currency),
                "fees",
                "all lines in one currency",
            );
        }
        v.finish()?;
        self.commands
            .run(principal, "RecordNotice", &request_id, &req, async |cmd| {
                store::locked(cmd.conn(), principal, unit_id).await?;
                let tenant = cmd.tenant();
                let notice = batches_store::insert_notice(
                    cmd.conn(),
                    tenant,
                    unit_id,
                    &req.kind,
                    &channel,
                    fees,
                )
                .await?;
                if req.kind == "notice" {
                    store::mark(cmd.conn(), unit_id, Moment::NoticeSent).await?;
                }
                let response = pb::RecordNoticeResponse {
                    handover: Some(store::reread(cmd.conn(), unit_id).await?.into()),
                    notice: Some(notice.into()),
                };
                Ok((response, Subject::new("handover", unit_id)))
            })
            .await
    }
}
