//! Reception, attribution, follow-ups and the unit inventory.

use anju_kit::{
    Principal, ServiceResult, audit::Subject, idempotency::Single, validate::Validator,
};
use anju_proto::sales as pb;

use super::SalesApi;
use crate::store::{
    catalogue,
    customers::{self, Visit, channel_name, grade_name},
    inventory,
};

impl SalesApi {
    pub(super) async fn record_visit(
        &self,
        principal: &Principal,
        req: pb::RecordVisitRequest,
    ) -> ServiceResult<pb::RecordVisitResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let phone = v.phone("phone", &req.phone);
        let name = v.text("name", &req.name, 100);
        let channel = channel_name(req.channel);
        if channel.is_none() {
            v.violation(
                "channel",
                "must be hotline, expo, walk-in, promotion, referral or visit",
            );
        }
        let note = v
            .optional_free_text("note", &req.note, 2000)
            .unwrap_or_default();
        let referrer = if req.referrer_phone.trim().is_empty() {
            None
        } else {
            Some(v.phone("referrer_phone", &req.referrer_phone))
        };
        v.finish()?;
        principal.require_project(project_id)?;

        self.commands
            .run(
                principal,
                "RecordVisit",
                &request_id,
                &req,
                async |command| {
                    catalogue::project(command.tx(), principal.tenant_id, project_id).await?;
                    let visit = Visit {
                        project_id,
                        phone: &phone,
                        name: &name,
                        channel: channel.unwrap_or_default(),
                        note: &note,
                        referrer_phone: referrer.as_deref(),
                    };
                    let (customer, first_visit) =
                        customers::record_visit(command.tx(), principal, &visit).await?;
                    let response = pb::RecordVisitResponse {
                        customer: Some(customer.clone().view(principal)),
                        first_visit,
                    };
                    Ok((response, Subject::new("customer", customer.customer_id)))
                },
            )
            .await
    }

    pub(super) async fn reassign_customer(
        &self,
        principal: &Principal,
        req: pb::ReassignCustomerRequest,
    ) -> ServiceResult<pb::ReassignCustomerResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let customer_id = v.uuid("customer_id", &req.customer_id);
        let to = v.text("to_consultant", &req.to_consultant, 128);
        let reason = v.free_text("reason", &req.reason, 1000);
        v.finish()?;
        self.commands
            .run(
                principal,
                "ReassignCustomer",
                &request_id,
                &req,
                async |command| {
                    let customer =
                        customers::reassign(command.tx(), principal, customer_id, &to, &reason)
                            .await?;
                    let response = pb::ReassignCustomerResponse {
                        customer: Some(customer.view(principal)),
                    };
                    let subject = Subject::new("customer", customer_id)
                        .with_detail(serde_json::json!({ "to": to, "reason": reason }));
                    Ok((response, subject))
                },
            )
            .await
    }

    pub(super) async fn grade_customer(
        &self,
        principal: &Principal,
        req: pb::GradeCustomerRequest,
    ) -> ServiceResult<pb::GradeCustomerResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let customer_id = v.uuid("customer_id", &req.customer_id);
        let grade = grade_name(req.grade);
        if grade.is_none() {
            v.violation("grade", "must be A, B or C");
        }
        let next = v.optional_date("next_follow_up_on", &req.next_follow_up_on);
        v.finish()?;
        self.commands
            .run(
                principal,
                "GradeCustomer",
                &request_id,
                &req,
                async |command| {
                    let customer = customers::set_grade(
                        command.tx(),
                        principal,
                        customer_id,
                        grade.unwrap_or_default(),
                        next,
                    )
                    .await?;
                    let response = pb::GradeCustomerResponse {
                        customer: Some(customer.view(principal)),
                    };
                    Ok((response, Subject::new("customer", customer_id)))
                },
            )
            .await
    }

    pub(super) async fn log_follow_up(
        &self,
        principal: &Principal,
        req: pb::LogFollowUpRequest,
    ) -> ServiceResult<pb::LogFollowUpResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let customer_id = v.uuid("customer_id", &req.customer_id);
        let note = v.free_text("note", &req.note, 2000);
        let next = v.optional_date("next_follow_up_on", &req.next_follow_up_on);
        v.finish()?;
        self.commands
            .run(
                principal,
                "LogFollowUp",
                &request_id,
                &req,
                async |command| {
                    let customer =
                        customers::follow_up(command.tx(), principal, customer_id, &note, next)
                            .await?;
                    let response = pb::LogFollowUpResponse {
                        customer: Some(customer.view(principal)),
                    };
                    Ok((response, Subject::new("customer", customer_id)))
                },
            )
            .await
    }

    pub(super) async fn hold_unit(
        &self,
        principal: &Principal,
        req: pb::HoldUnitRequest,
    ) -> ServiceResult<pb::HoldUnitResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        let customer_id = v.uuid("customer_id", &req.customer_id);
        v.finish()?;
        let single = Single::new(&self.pool, principal, "HoldUnit", &request_id, &req);
        let subject = Subject::new("unit", unit_id);
        let held = match single
            .returning("units", subject, |q| {
                inventory::hold(q, principal, unit_id, customer_id)
            })
            .await?
        {
            Some(held) => held,
            None => {
                // The connection goes back before the stored answer is looked up.
                let err = {
                    let mut conn = self.pool.acquire().await?;
                    inventory::why_not_held(&mut conn, principal, unit_id, customer_id).await
                };
                single.refused_row("units", err).await?
            }
        };
        let inventory::Held {
            unit,
            hold_expires_at,
        } = held;
        Ok(pb::HoldUnitResponse {
            unit: Some(unit.into()),
            hold_expires_at: Some(catalogue::timestamp(hold_expires_at)),
        })
    }

    pub(super) async fn release_unit(
        &self,
        principal: &Principal,
        req: pb::ReleaseUnitRequest,
    ) -> ServiceResult<pb::ReleaseUnitResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        v.finish()?;
        self.commands
            .run(
                principal,
                "ReleaseUnit",
                &request_id,
                &req,
                async |command| {
                    let current =
                        catalogue::unit(command.tx(), principal.tenant_id, unit_id).await?;
                    if let Some(customer_id) = current.customer_id {
                        customers::served_by(command.tx(), principal, customer_id).await?;
                    }
                    let unit = inventory::release(command.tx(), principal, unit_id).await?;
                    let response = pb::ReleaseUnitResponse {
                        unit: Some(unit.into()),
                    };
                    Ok((response, Subject::new("unit", unit_id)))
                },
            )
            .await
    }
}
