//! A project's sales policy: hold period, discount approval line, lapse and cancellation
//! refunds, purchase restriction, minimum mortgage down payment, time zone.

use anju_kit::{Principal, ServiceResult, audit::Subject, time::ProjectZone, validate::Validator};
use anju_proto::sales as pb;

use super::SalesApi;
use crate::store::policy::{self, ProjectPolicy};

impl SalesApi {
    pub(super) async fn set_project_policy(
        &self,
        principal: &Principal,
        req: pb::SetProjectPolicyRequest,
    ) -> ServiceResult<pb::SetProjectPolicyResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let p = req.policy.clone().unwrap_or_default();
        let project_id = v.uuid("policy.project_id", &p.project_id);
        v.range("policy.hold_hours", p.hold_hours, 1, 720);
        v.range(
            "policy.discount_approval_bp",
            p.discount_approval_bp,
            0,
            10_000,
        );
        v.range("policy.lapse_refund_bp", p.lapse_refund_bp, 0, 10_000);
        v.range(
            "policy.lapse_after_minutes",
            p.lapse_after_minutes,
            0,
            10_080,
        );
        v.range("policy.max_homes_owned", p.max_homes_owned, -1, 100);
        v.range(
            "policy.cancellation_refund_bp",
            p.cancellation_refund_bp,
            0,
            10_000,
        );
        v.range(
            "policy.min_mortgage_down_payment_bp",
            p.min_mortgage_down_payment_bp,
            1,
            10_000,
        );
        let time_zone = v.optional_text("policy.time_zone", &p.time_zone, 64);
        let zone = time_zone.as_deref().map(ProjectZone::parse);
        if zone == Some(None) {
            v.violation(
                "policy.time_zone",
                "must be a tz database name such as Asia/Shanghai",
            );
        }
        v.finish()?;
        principal.require_project(project_id)?;
        self.commands
            .run(
                principal,
                "SetProjectPolicy",
                &request_id,
                &req,
                async |command| {
                    let policy = ProjectPolicy {
                        project_id,
                        hold_hours: p.hold_hours,
                        discount_approval_bp: p.discount_approval_bp,
                        lapse_refund_bp: p.lapse_refund_bp,
                        lapse_after_minutes: p.lapse_after_minutes,
                        max_homes_owned: p.max_homes_owned,
                        cancellation_refund_bp: p.cancellation_refund_bp,
                        min_mortgage_down_payment_bp: p.min_mortgage_down_payment_bp,
                        // Empty keeps the project's current zone.
                        time_zone: zone
                            .flatten()
                            .map(|z| z.name().to_string())
                            .unwrap_or_default(),
                    };
                    let stored = policy::set(command.tx(), principal.tenant_id, &policy).await?;
                    let response = pb::SetProjectPolicyResponse {
                        policy: Some(stored.into()),
                    };
                    Ok((response, Subject::new("project", project_id)))
                },
            )
            .await
    }
}
