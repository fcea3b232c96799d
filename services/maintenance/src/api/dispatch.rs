//! A dispatcher's assignment: an order given to the map's responsible contractor or to the one
//! the dispatcher names, classified on the way; a reassignment needs its reason (audited).

use anju_kit::{Principal, Refusal, ServiceResult, audit::Subject, validate::Validator};
use anju_proto::maintenance as pb;
use chrono::Utc;

use super::{
    MaintenanceApi,
    orders::{self, Cause, Origin},
    requests::component,
    wire,
};
use crate::{
    domain::{self, order},
    store,
};

impl MaintenanceApi {
    pub(crate) async fn assign_work_order(
        &self,
        principal: &Principal,
        req: pb::AssignWorkOrderRequest,
    ) -> ServiceResult<pb::AssignWorkOrderResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        let named = v.optional_uuid("contractor_id", &req.contractor_id);
        let component = component(&mut v, "component", &req.component);
        let priority = match pb::Priority::try_from(req.priority) {
            Ok(p) => domain::priority_name(p),
            Err(_) => {
                v.violation("priority", "must be normal or urgent");
                None
            }
        };
        let reason = v.optional_free_text("reason", &req.reason, 500);
        let not_to_exceed = req
            .not_to_exceed
            .as_ref()
            .map(|m| v.money("not_to_exceed", Some(m)));
        let now = Utc::now();
        let plan_by = req.plan_due_at.as_ref().map(|t| {
            let at = anju_kit::time::from_timestamp(t);
            if !at.is_some_and(|at| at > now && at <= now + chrono::Duration::days(30)) {
                v.violation("plan_due_at", "must be within the next 30 days");
            }
            at.unwrap_or(now)
        });
        v.finish()?;
        let outbox = self.outbox.clone();
        self.commands
            .run(
                principal,
                "AssignWorkOrder",
                &request_id,
                &req,
                async |cmd| {
                    let mut r = store::visible_for_update(cmd.conn(), principal, id).await?;
                    domain::complete(id, &r.status)?;
                    if r.contractor_id.is_some() && reason.is_none() {
                        return Err(anju_kit::ServiceError::invalid(
                            "reason",
                            "is required to reassign an order",
                        ));
                    }
                    if let Some(component) = &component {
                        r.component = Some(component.clone());
                    }
                    let reprioritised = priority.is_some_and(|p| p != r.priority);
                    if let Some(priority) = priority {
                        r.priority = priority.into();
                    }
                    if req.owner_caused {
                        r.owner_caused = true;
                    }
                    if let Some(by) = plan_by {
                        r.plan_by = Some(by);
                        r.plan_at = None;
                        r.plan_warned = false;
                        r.plan_breached = false;
                    }
                    if let Some((minor, currency)) = &not_to_exceed {
                        r.not_to_exceed_minor = Some(*minor);
                        r.currency = Some(currency.clone());
                    }
                    if r.component.is_none() {
                        return Err(Refusal::new(
                            "COMPONENT_UNCLASSIFIED",
                            "the request has no component: name one to assign it",
                        )
                        .with("repair_request_id", id)
                        .into());
                    }
                    orders::decide(cmd.conn(), &mut r).await?;
                    let to = match named {
                        Some(named) => named,
                        None => match orders::entry_of(cmd.conn(), &r).await? {
                            Some(entry) => entry.contractor_id,
                            None => {
                                return Err(Refusal::new(
                                "NOT_RESPONSIBLE",
                                "no contractor is responsible for the component in the building",
                            )
                            .with(
                                "building_id",
                                r.building_id.map(|b| b.to_string()).unwrap_or_default(),
                            )
                            .with("component", r.component.clone().unwrap_or_default())
                            .with("project_id", r.project_id)
                            .into());
                            }
                        },
                    };
                    if r.contractor_id == Some(to) && r.order_state != order::UNASSIGNED {
                        // Its terms may change (a plan's deadline, the limit, the priority)
                        // without a new assignment; with nothing to change it is a mistake.
                        if plan_by.is_none() && not_to_exceed.is_none() && priority.is_none() {
                            return Err(Refusal::new(
                                "SAME_CONTRACTOR",
                                "the order is already with that contractor",
                            )
                            .with("contractor_id", to)
                            .into());
                        }
                        if reprioritised {
                            orders::reprioritised(cmd.conn(), &mut r).await?;
                        }
                        store::save_order(cmd.conn(), &r).await?;
                        let subject = Subject::new("repair_request", id).with_detail(
                            serde_json::json!({ "terms_changed_because": reason.clone() }),
                        );
                        return Ok((
                            pb::AssignWorkOrderResponse {
                                repair_request: Some(wire::one(cmd.conn(), r).await?),
                            },
                            subject,
                        ));
                    }
                    let origin = Origin {
                        outbox: &outbox,
                        tenant: principal.tenant_id,
                        cause: Some(request_id.clone()),
                    };
                    let reason_text = reason.clone().unwrap_or_default();
                    orders::assign(
                        cmd.conn(),
                        &origin,
                        &mut r,
                        Some(to),
                        Cause::Dispatcher,
                        &reason_text,
                        Utc::now(),
                    )
                    .await?;
                    let subject =
                        Subject::new("repair_request", id).with_detail(serde_json::json!({
                            "contractor_id": to,
                            "reason": reason_text,
                        }));
                    Ok((
                        pb::AssignWorkOrderResponse {
                            repair_request: Some(wire::one(cmd.conn(), r).await?),
                        },
                        subject,
                    ))
                },
            )
            .await
    }

    pub(crate) async fn decide_repair_plan(
        &self,
        principal: &Principal,
        req: pb::DecideRepairPlanRequest,
    ) -> ServiceResult<pb::DecideRepairPlanResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        let reason = v.optional_free_text("reason", &req.reason, 500);
        if !req.approve && reason.is_none() {
            v.violation("reason", "is required to reject a plan");
        }
        v.finish()?;
        let outbox = self.outbox.clone();
        self.commands
            .run(
                principal,
                "DecideRepairPlan",
                &request_id,
                &req,
                async |cmd| {
                    let mut r = store::visible_for_update(cmd.conn(), principal, id).await?;
                    order::may_decide(id, r.plan_state.as_deref())?;
                    let state = if req.approve {
                        r.not_to_exceed_minor = r.plan_estimate_minor;
                        "approved"
                    } else {
                        "rejected"
                    };
                    r.plan_state = Some(state.into());
                    store::save_order(cmd.conn(), &r).await?;
                    if let Some(contractor) = r.contractor_id {
                        let origin = Origin {
                            outbox: &outbox,
                            tenant: principal.tenant_id,
                            cause: Some(request_id.clone()),
                        };
                        let detail = reason.clone().unwrap_or_default();
                        let item =
                            orders::item(&r, contractor, &format!("plan_{state}"), &detail, None);
                        origin.feed(cmd.conn(), contractor, item).await?;
                    }
                    let subject = Subject::new("repair_request", id)
                        .with_detail(serde_json::json!({ "plan": state, "reason": reason }));
                    Ok((
                        pb::DecideRepairPlanResponse {
                            repair_request: Some(wire::one(cmd.conn(), r).await?),
                        },
                        subject,
                    ))
                },
            )
            .await
    }
}
