//! A batch's plan (seed ⑧ 5.1.1): submitted by customer service, approved by the responsible
//! manager before any notice goes out — the approval schedules each unit's notice.

use std::collections::BTreeSet;

use anju_kit::{Principal, ServiceResult, audit::Subject, validate::Validator};
use anju_proto::handover as pb;
use uuid::Uuid;

use super::{HandoverApi, batches::schedule_notice, wire};
use crate::{
    domain::batch,
    store::batches::{self as batches_store, NewPlan, PlanDay},
};

/// Bounds of a plan.
const MAX_PLAN_DAYS: usize = 200;
const MAX_PLAN_ITEMS: usize = 50;
const MAX_STAFF: usize = 50;

impl HandoverApi {
    pub(super) async fn submit_batch_plan(
        &self,
        principal: &Principal,
        req: pb::SubmitBatchPlanRequest,
    ) -> ServiceResult<pb::SubmitBatchPlanResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let batch_id = v.uuid("batch_id", &req.batch_id);
        let plan = req.plan.clone().unwrap_or_default();
        v.check(
            !plan.days.is_empty(),
            "plan.days",
            "the schedule has at least one day",
        );
        v.count("plan.days", plan.days.len(), MAX_PLAN_DAYS);
        let mut days = Vec::with_capacity(plan.days.len().min(MAX_PLAN_DAYS));
        for (i, d) in plan.days.iter().take(MAX_PLAN_DAYS).enumerate() {
            let field = |name: &str| format!("plan.days[{i}].{name}");
            let day = v.date(&field("date"), &d.date);
            let building_id = v.uuid(&field("building_id"), &d.building_id);
            let counters = v.range(&field("counters"), d.counters, 1, 50);
            v.check(!d.staff.is_empty(), &field("staff"), "at least one person");
            v.count(&field("staff"), d.staff.len(), MAX_STAFF);
            let staff = d
                .staff
                .iter()
                .take(MAX_STAFF)
                .enumerate()
                .map(|(j, s)| v.text(&format!("plan.days[{i}].staff[{j}]"), s, 100))
                .collect();
            days.push(PlanDay {
                day,
                building_id,
                counters,
                staff,
            });
        }
        v.count("plan.materials", plan.materials.len(), MAX_PLAN_ITEMS);
        let materials: Vec<String> = plan
            .materials
            .iter()
            .take(MAX_PLAN_ITEMS)
            .enumerate()
            .map(|(i, m)| v.text(&format!("plan.materials[{i}]"), m, 200))
            .collect();
        v.count("plan.tasks", plan.tasks.len(), MAX_PLAN_ITEMS);
        let (mut tasks, mut departments) = (Vec::new(), Vec::new());
        for (i, t) in plan.tasks.iter().take(MAX_PLAN_ITEMS).enumerate() {
            tasks.push(v.text(&format!("plan.tasks[{i}].task"), &t.task, 200));
            departments.push(v.text(&format!("plan.tasks[{i}].department"), &t.department, 100));
        }
        v.finish()?;
        self.commands
            .run(
                principal,
                "SubmitBatchPlan",
                &request_id,
                &req,
                async |cmd| {
                    let batch = batches_store::batch(cmd.conn(), principal, batch_id, true).await?;
                    batch::may_submit(batch_id, batch.plan_status())?;
                    let mut v = Validator::new();
                    for (i, d) in days.iter().enumerate() {
                        v.check(
                            d.day >= batch.window_start && d.day <= batch.window_end,
                            &format!("plan.days[{i}].date"),
                            "must be within the batch's window",
                        );
                    }
                    v.finish()?;
                    let buildings: BTreeSet<Uuid> = batches_store::buildings(cmd.conn(), batch_id)
                        .await?
                        .into_iter()
                        .collect();
                    let mut v = Validator::new();
                    let mut seen = BTreeSet::new();
                    for (i, d) in days.iter().enumerate() {
                        v.check(
                            buildings.contains(&d.building_id),
                            &format!("plan.days[{i}].building_id"),
                            "not a building of the batch's units",
                        );
                        v.check(
                            seen.insert((d.day, d.building_id)),
                            &format!("plan.days[{i}].date"),
                            "this day of this building is scheduled twice",
                        );
                    }
                    v.finish()?;
                    let scheduled: BTreeSet<Uuid> = days.iter().map(|d| d.building_id).collect();
                    batch::plan_covers(batch_id, &buildings, &scheduled)?;
                    let plan = NewPlan {
                        days: &days,
                        materials: &materials,
                        tasks: &tasks,
                        departments: &departments,
                    };
                    let batch =
                        batches_store::submit_plan(cmd.conn(), batch_id, &principal.subject, &plan)
                            .await?;
                    let view = batches_store::view(cmd.conn(), batch).await?;
                    let response = pb::SubmitBatchPlanResponse {
                        batch: Some(wire::batch(view)),
                    };
                    Ok((response, Subject::new("batch", batch_id)))
                },
            )
            .await
    }

    pub(super) async fn approve_batch_plan(
        &self,
        principal: &Principal,
        req: pb::ApproveBatchPlanRequest,
    ) -> ServiceResult<pb::ApproveBatchPlanResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let batch_id = v.uuid("batch_id", &req.batch_id);
        let read = req
            .plan_submitted_at
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.try_into().ok()?));
        if read.is_none() {
            v.violation("plan_submitted_at", "names the submission approved");
        }
        v.finish()?;
        self.commands
            .run(
                principal,
                "ApproveBatchPlan",
                &request_id,
                &req,
                async |cmd| {
                    let batch = batches_store::batch(cmd.conn(), principal, batch_id, true).await?;
                    // Compared to the microsecond, as the database keeps it.
                    let same = batch.plan_submitted_at.map(|t| t.timestamp_micros())
                        == read.map(|t| t.timestamp_micros());
                    let own = batch.plan_submitted_by.as_deref() == Some(&principal.subject);
                    batch::may_approve(batch_id, batch.plan_status(), same, own)?;
                    let buildings: BTreeSet<Uuid> = batches_store::buildings(cmd.conn(), batch_id)
                        .await?
                        .into_iter()
                        .collect();
                    let scheduled =
                        batches_store::scheduled_buildings(cmd.conn(), batch_id).await?;
                    batch::plan_covers(batch_id, &buildings, &scheduled)?;
                    let batch =
                        batches_store::approve_plan(cmd.conn(), batch_id, &principal.subject)
                            .await?;
                    // The list confirmed from sales' contracts: each unit still contracted
                    // gets its notice on the notice date.
                    for unit_id in batches_store::contracted_units(cmd.conn(), batch_id).await? {
                        schedule_notice(cmd, &batch, unit_id).await?;
                    }
                    let view = batches_store::view(cmd.conn(), batch).await?;
                    let response = pb::ApproveBatchPlanResponse {
                        batch: Some(wire::batch(view)),
                    };
                    Ok((response, Subject::new("batch", batch_id)))
                },
            )
            .await
    }
}
