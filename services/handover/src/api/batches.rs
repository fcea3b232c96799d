//! Batches (seed ⑧ 5.1.1): the tenant's leads, the list confirmed from sales' contracts, the
//! planning lead and a manager's override of it, units joining later. Their plans are in
//! [`super::plans`].

use std::collections::BTreeSet;

use anju_kit::{
    Principal, Refusal, Role, ServiceError, ServiceResult,
    audit::Subject,
    ids::new_id,
    time::{ProjectZone, timestamp},
    validate::Validator,
};
use anju_messaging::Effect;
use anju_proto::{common, events, handover as pb};
use uuid::Uuid;

use super::{HandoverApi, wire};
use crate::{
    domain::batch::{self, NOTICE_LEAD_DAYS, PLAN_LEAD_MONTHS, PlanStatus, Settings, fee},
    store::batches::{self as batches_store, Batch, Contracted, NewBatch, Terms},
};

impl HandoverApi {
    pub(super) async fn get_handover_settings(
        &self,
        principal: &Principal,
        _req: pb::GetHandoverSettingsRequest,
    ) -> ServiceResult<pb::GetHandoverSettingsResponse> {
        let mut conn = self.pool.acquire().await?;
        let settings = batches_store::settings(&mut conn, principal.tenant_id).await?;
        Ok(pb::GetHandoverSettingsResponse {
            settings: Some(wire::settings(settings)),
        })
    }

    pub(super) async fn set_handover_settings(
        &self,
        principal: &Principal,
        req: pb::SetHandoverSettingsRequest,
    ) -> ServiceResult<pb::SetHandoverSettingsResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let s = req.settings.unwrap_or_default();
        let settings = Settings {
            plan_lead_months: v.range(
                "settings.plan_lead_months",
                s.plan_lead_months,
                PLAN_LEAD_MONTHS.0,
                PLAN_LEAD_MONTHS.1,
            ),
            notice_lead_days: v.range(
                "settings.notice_lead_days",
                s.notice_lead_days,
                NOTICE_LEAD_DAYS.0,
                NOTICE_LEAD_DAYS.1,
            ),
            notice_minute: v.range("settings.notice_minute", s.notice_minute, 0, 1439),
        };
        v.finish()?;
        // The settings are the tenant's: a manager scoped to some projects does not set them.
        if principal.project_filter().is_some() {
            return Err(ServiceError::PermissionDenied(
                "the tenant's move-in settings are set by a manager of every project".into(),
            ));
        }
        self.commands
            .run(
                principal,
                "SetHandoverSettings",
                &request_id,
                &req,
                async |cmd| {
                    let tenant = cmd.tenant();
                    batches_store::set_settings(cmd.conn(), tenant, &settings).await?;
                    let response = pb::SetHandoverSettingsResponse {
                        settings: Some(wire::settings(settings)),
                    };
                    Ok((response, Subject::new("handover_settings", tenant)))
                },
            )
            .await
    }

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
        v.check(
            (end - start).num_days() <= 92,
            "window_end",
            "a window lasts at most three months",
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
        let override_reason =
            v.optional_free_text("lead_override_reason", &req.lead_override_reason, 500);
        v.finish()?;
        principal.require_project(project_id)?;
        if !batches_store::known(&self.pool, principal.tenant_id, project_id, building_id).await? {
            return Err(ServiceError::not_found(if building_id.is_some() {
                "building"
            } else {
                "project"
            }));
        }
        // Only the responsible manager overrides the planning lead.
        if override_reason.is_some() && !principal.has(Role::CustomerServiceManager) {
            return Err(Refusal::new(
                "OVERRIDE_NOT_MANAGER",
                "only a customer service manager may override the planning lead",
            )
            .into());
        }
        let zone = ProjectZone::or_default(
            &batches_store::time_zone(&self.pool, principal.tenant_id, project_id)
                .await?
                .unwrap_or_default(),
        );
        if start < zone.today() {
            return Err(ServiceError::invalid(
                "window_start",
                "must not be in the past (project time)",
            ));
        }
        let rate_minor = rate.minor_units;
        let currency = rate.currency.clone();
        self.commands
            .run(principal, "CreateBatch", &request_id, &req, async |cmd| {
                let tenant = cmd.tenant();
                batches_store::lock_project(cmd.conn(), project_id).await?;
                let settings = batches_store::settings(cmd.conn(), tenant).await?;
                batch::plan_lead(zone.today(), start, &settings, override_reason.is_some())?;
                let terms = NewBatch {
                    batch_id: new_id(),
                    project_id,
                    building_id,
                    name: &name,
                    window_start: start,
                    window_end: end,
                    time_zone: zone.name(),
                    plan_lead_months: settings.plan_lead_months,
                    notice_lead_days: settings.notice_lead_days,
                    notices_at: batch::notices_at(start, &settings, &zone),
                    lead_override_reason: override_reason.as_deref(),
                    lead_overridden_by: override_reason
                        .as_ref()
                        .map(|_| principal.subject.as_str()),
                    currency: &currency,
                    property_fee_per_m2_month: rate_minor,
                    prepaid_months: months,
                    construction_cost_per_m2: cost.minor_units,
                    maintenance_fund_bp: fund_bp,
                };
                let batch = batches_store::insert(cmd.conn(), tenant, &terms).await?;
                let contracted =
                    batches_store::contracted(cmd.conn(), tenant, project_id, building_id).await?;
                if contracted.is_empty() {
                    return Err(ServiceError::precondition(
                        "NO_CONTRACTED_UNIT",
                        "no contracted unit is waiting for a handover batch here",
                    ));
                }
                let terms = batches_store::terms(cmd.conn(), batch.batch_id).await?;
                add_units(cmd, &batch, &terms, &contracted).await?;
                let batch_id = batch.batch_id;
                let view = batches_store::view(cmd.conn(), batch).await?;
                let response = pb::CreateBatchResponse {
                    batch: Some(wire::batch(view)),
                };
                let subject = Subject::new("batch", batch_id).with_detail(serde_json::json!({
                    "lead_override_reason": override_reason,
                }));
                Ok((response, subject))
            })
            .await
    }

    pub(super) async fn add_batch_units(
        &self,
        principal: &Principal,
        req: pb::AddBatchUnitsRequest,
    ) -> ServiceResult<pb::AddBatchUnitsResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let batch_id = v.uuid("batch_id", &req.batch_id);
        v.finish()?;
        self.commands
            .run(principal, "AddBatchUnits", &request_id, &req, async |cmd| {
                let batch = batches_store::batch(cmd.conn(), principal, batch_id, true).await?;
                let tenant = cmd.tenant();
                batches_store::lock_project(cmd.conn(), batch.project_id).await?;
                let contracted = batches_store::contracted(
                    cmd.conn(),
                    tenant,
                    batch.project_id,
                    batch.building_id,
                )
                .await?;
                if batch.plan_status() != PlanStatus::None {
                    // A plan on file schedules every building: a unit of another building
                    // waits for a batch of its own.
                    let mut buildings: BTreeSet<Uuid> =
                        batches_store::buildings(cmd.conn(), batch_id)
                            .await?
                            .into_iter()
                            .collect();
                    let scheduled =
                        batches_store::scheduled_buildings(cmd.conn(), batch_id).await?;
                    buildings.extend(contracted.iter().map(|u| u.building_id));
                    batch::plan_covers(batch_id, &buildings, &scheduled)?;
                }
                let terms = batches_store::terms(cmd.conn(), batch_id).await?;
                add_units(cmd, &batch, &terms, &contracted).await?;
                if batch.plan_approved_at.is_some() {
                    // Joining after the approval: the notice on its date, at once past it.
                    for unit in &contracted {
                        schedule_notice(cmd, &batch, unit.unit_id).await?;
                    }
                }
                let view = batches_store::view(cmd.conn(), batch).await?;
                let response = pb::AddBatchUnitsResponse {
                    batch: Some(wire::batch(view)),
                    added_unit_ids: contracted.iter().map(|u| u.unit_id.to_string()).collect(),
                };
                Ok((response, Subject::new("batch", batch_id)))
            })
            .await
    }

    pub(super) async fn get_batch(
        &self,
        principal: &Principal,
        req: pb::GetBatchRequest,
    ) -> ServiceResult<pb::GetBatchResponse> {
        let mut v = Validator::new();
        let batch_id = v.uuid("batch_id", &req.batch_id);
        v.finish()?;
        let mut conn = self.pool.acquire().await?;
        let batch = batches_store::batch(&mut conn, principal, batch_id, false).await?;
        let view = batches_store::view(&mut conn, batch).await?;
        Ok(pb::GetBatchResponse {
            batch: Some(wire::batch(view)),
        })
    }
}

/// Puts contracted units in the batch, each with its handover fees (UnitAddedToBatch starts
/// its move-in with the coordinator).
async fn add_units(
    cmd: &mut Effect<'_>,
    batch: &Batch,
    terms: &Terms,
    units: &[Contracted],
) -> ServiceResult<()> {
    let money = |minor_units| {
        Some(common::Money {
            minor_units,
            currency: terms.currency.clone(),
        })
    };
    let tenant = cmd.tenant();
    for unit in units {
        let overflow = || ServiceError::invalid("fees", "overflow");
        let property_fee = fee(
            terms.property_fee_per_m2_month,
            unit.area_cm2,
            i64::from(terms.prepaid_months),
            1,
        )
        .ok_or_else(overflow)?;
        let fund = fee(
            terms.construction_cost_per_m2,
            unit.area_cm2,
            i64::from(terms.maintenance_fund_bp),
            10_000,
        )
        .ok_or_else(overflow)?;
        batches_store::add_unit(cmd.conn(), tenant, batch, unit).await?;
        let event = events::UnitAddedToBatch {
            batch_id: batch.batch_id.to_string(),
            project_id: batch.project_id.to_string(),
            unit_id: unit.unit_id.to_string(),
            customer_id: unit.customer_id.to_string(),
            window_start: batch.window_start.to_string(),
            time_zone: unit.time_zone.clone(),
            property_fee: money(property_fee),
            maintenance_fund: money(fund),
        };
        cmd.emit(cmd.event("handover", unit.unit_id), &event)
            .await?;
    }
    Ok(())
}

/// Tells the coordinator when the unit's move-in notice goes out: the batch's notice time.
pub(super) async fn schedule_notice(
    cmd: &mut Effect<'_>,
    batch: &Batch,
    unit_id: Uuid,
) -> ServiceResult<()> {
    let event = events::MoveInNoticeScheduled {
        unit_id: unit_id.to_string(),
        batch_id: batch.batch_id.to_string(),
        project_id: batch.project_id.to_string(),
        notice_at: Some(timestamp(batch.notices_at)),
    };
    cmd.emit(cmd.event("handover", unit_id), &event).await?;
    Ok(())
}
