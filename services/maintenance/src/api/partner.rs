//! The partner's steps on its own orders: accept or decline the assignment, check in and out
//! on site. Each is idempotent by the partner's external reference (the request id), and an
//! order that is not the partner's is NOT_FOUND ([`store::visible_for_update`]).

use anju_kit::{Principal, ServiceResult, audit::Subject, validate::Validator};
use anju_proto::maintenance as pb;
use chrono::Utc;

use super::{
    MaintenanceApi,
    orders::{self, Cause, Origin},
    wire,
};
use crate::{domain::order, store};

impl MaintenanceApi {
    pub(crate) async fn accept_work_order(
        &self,
        principal: &Principal,
        req: pb::AcceptWorkOrderRequest,
    ) -> ServiceResult<pb::AcceptWorkOrderResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        v.finish()?;
        self.commands
            .run(
                principal,
                "AcceptWorkOrder",
                &request_id,
                &req,
                async |cmd| {
                    let mut r = store::visible_for_update(cmd.conn(), principal, id).await?;
                    order::may_answer(id, &r.order_state)?;
                    r.responded_at = Some(Utc::now());
                    r.order_state = order::ACCEPTED.into();
                    store::save_order(cmd.conn(), &r).await?;
                    Ok((
                        pb::AcceptWorkOrderResponse {
                            repair_request: Some(wire::one(cmd.conn(), r).await?),
                        },
                        Subject::new("repair_request", id),
                    ))
                },
            )
            .await
    }

    pub(crate) async fn decline_work_order(
        &self,
        principal: &Principal,
        req: pb::DeclineWorkOrderRequest,
    ) -> ServiceResult<pb::DeclineWorkOrderResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        let reason = v.free_text("reason", &req.reason, 500);
        v.finish()?;
        let outbox = self.outbox.clone();
        self.commands
            .run(
                principal,
                "DeclineWorkOrder",
                &request_id,
                &req,
                async |cmd| {
                    let mut r = store::visible_for_update(cmd.conn(), principal, id).await?;
                    order::may_answer(id, &r.order_state)?;
                    let origin = Origin {
                        outbox: &outbox,
                        tenant: principal.tenant_id,
                        cause: Some(request_id.clone()),
                    };
                    let now = Utc::now();
                    orders::escalate(cmd.conn(), &origin, &mut r, Cause::Decline, &reason, now)
                        .await?;
                    let subject = Subject::new("repair_request", id)
                        .with_detail(serde_json::json!({ "reason": reason }));
                    Ok((
                        pb::DeclineWorkOrderResponse {
                            repair_request_id: id.to_string(),
                        },
                        subject,
                    ))
                },
            )
            .await
    }

    pub(crate) async fn check_in_work_order(
        &self,
        principal: &Principal,
        req: pb::CheckInWorkOrderRequest,
    ) -> ServiceResult<pb::CheckInWorkOrderResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        v.finish()?;
        self.commands
            .run(
                principal,
                "CheckInWorkOrder",
                &request_id,
                &req,
                async |cmd| {
                    let mut r = store::visible_for_update(cmd.conn(), principal, id).await?;
                    order::may_check_in(id, &r.order_state)?;
                    // The first visit stops the on-site clock.
                    r.on_site_at.get_or_insert_with(Utc::now);
                    r.order_state = order::ON_SITE.into();
                    store::save_order(cmd.conn(), &r).await?;
                    Ok((
                        pb::CheckInWorkOrderResponse {
                            repair_request: Some(wire::one(cmd.conn(), r).await?),
                        },
                        Subject::new("repair_request", id),
                    ))
                },
            )
            .await
    }

    pub(crate) async fn check_out_work_order(
        &self,
        principal: &Principal,
        req: pb::CheckOutWorkOrderRequest,
    ) -> ServiceResult<pb::CheckOutWorkOrderResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        let progress = v
            .optional_free_text("progress", &req.progress, 2000)
            .unwrap_or_default();
        v.finish()?;
        self.commands
            .run(
                principal,
                "CheckOutWorkOrder",
                &request_id,
                &req,
                async |cmd| {
                    let mut r = store::visible_for_update(cmd.conn(), principal, id).await?;
                    order::may_check_out(id, &r.order_state)?;
                    r.order_state = order::OFF_SITE.into();
                    store::save_order(cmd.conn(), &r).await?;
                    let subject = Subject::new("repair_request", id)
                        .with_detail(serde_json::json!({ "progress": progress }));
                    Ok((
                        pb::CheckOutWorkOrderResponse {
                            repair_request: Some(wire::one(cmd.conn(), r).await?),
                        },
                        subject,
                    ))
                },
            )
            .await
    }

    pub(crate) async fn propose_repair_plan(
        &self,
        principal: &Principal,
        req: pb::ProposeRepairPlanRequest,
    ) -> ServiceResult<pb::ProposeRepairPlanResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        let description = v.free_text("description", &req.description, 4000);
        let (estimate, currency) = v.money("estimate", req.estimate.as_ref());
        v.finish()?;
        self.commands
            .run(
                principal,
                "ProposeRepairPlan",
                &request_id,
                &req,
                async |cmd| {
                    let mut r = store::visible_for_update(cmd.conn(), principal, id).await?;
                    order::cost_total(
                        &[(estimate, currency.clone())],
                        r.currency.as_deref(),
                        None,
                    )?;
                    let needs_approval =
                        order::may_propose(id, &r.order_state, estimate, r.not_to_exceed_minor)?;
                    r.plan_text = Some(description.clone());
                    r.plan_estimate_minor = Some(estimate);
                    // Within the limit the plan stands; above it, a dispatcher decides.
                    let state = if needs_approval {
                        "proposed"
                    } else {
                        "approved"
                    };
                    r.plan_state = Some(state.into());
                    // A plan proposed meets the developer's deadline for one.
                    r.plan_at.get_or_insert_with(chrono::Utc::now);
                    store::save_order(cmd.conn(), &r).await?;
                    Ok((
                        pb::ProposeRepairPlanResponse {
                            repair_request: Some(wire::one(cmd.conn(), r).await?),
                        },
                        Subject::new("repair_request", id)
                            .with_detail(serde_json::json!({ "estimate_minor": estimate })),
                    ))
                },
            )
            .await
    }
}
