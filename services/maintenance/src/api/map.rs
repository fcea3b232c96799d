//! The responsibility map and the warranty facts: who answers for each component of a building
//! and on what terms; when a building was accepted; what longer warranty a tenant promises.

use anju_kit::{
    Principal, Refusal, ServiceError, ServiceResult, audit::Subject, validate::Validator,
};
use anju_proto::maintenance as pb;

use super::{MaintenanceApi, orders::DEFAULT_DESIGN_LIFE_YEARS, requests::component};
use crate::{
    domain::{money, work_order::Commitment},
    store::map::{self, Responsibility},
};

/// The longest commitment a contract may give for a step: two weeks, in minutes.
const MAX_COMMITMENT_MINUTES: i32 = 20_160;

fn minutes(v: &mut Validator, field: &str, value: i32, default: chrono::Duration) -> i32 {
    if value == 0 {
        return default.num_minutes() as i32;
    }
    if !(1..=MAX_COMMITMENT_MINUTES).contains(&value) {
        v.violation(
            field,
            format!("must be 0 (the default) or 1 to {MAX_COMMITMENT_MINUTES} minutes"),
        );
    }
    value
}

impl MaintenanceApi {
    pub(crate) async fn set_responsibility(
        &self,
        principal: &Principal,
        req: pb::SetResponsibilityRequest,
    ) -> ServiceResult<pb::SetResponsibilityResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let r = req.responsibility.clone().unwrap_or_default();
        if req.responsibility.is_none() {
            v.violation("responsibility", "is required");
        }
        let project_id = v.uuid("responsibility.project_id", &r.project_id);
        let building_id = v.uuid("responsibility.building_id", &r.building_id);
        let component = component(&mut v, "responsibility.component", &r.component);
        if r.component.trim().is_empty() {
            v.violation("responsibility.component", "is required");
        }
        let contractor_id = v.uuid("responsibility.contractor_id", &r.contractor_id);
        let backup_vendor_id = v.uuid("responsibility.backup_vendor_id", &r.backup_vendor_id);
        v.check(
            contractor_id != backup_vendor_id,
            "responsibility.backup_vendor_id",
            "must be another firm than the contractor",
        );
        let (settlement, currency) = v.money(
            "responsibility.settlement_amount",
            r.settlement_amount.as_ref(),
        );
        let retention = match r.retention.as_ref() {
            None => 0,
            Some(m) => {
                if m.currency != currency {
                    v.violation(
                        "responsibility.retention.currency",
                        "must be the settlement's currency",
                    );
                }
                if m.minor_units < 0 {
                    v.violation(
                        "responsibility.retention.minor_units",
                        "must not be negative",
                    );
                }
                m.minor_units
            }
        };
        let defaults = Commitment::default();
        let respond = minutes(
            &mut v,
            "responsibility.respond_minutes",
            r.respond_minutes,
            defaults.respond_within,
        );
        let urgent = minutes(
            &mut v,
            "responsibility.on_site_urgent_minutes",
            r.on_site_urgent_minutes,
            defaults.on_site_urgent,
        );
        let normal = minutes(
            &mut v,
            "responsibility.on_site_normal_minutes",
            r.on_site_normal_minutes,
            defaults.on_site_normal,
        );
        v.finish()?;
        principal.require_project(project_id)?;
        if !map::building_known(&self.pool, principal.tenant_id, project_id, building_id).await? {
            return Err(ServiceError::not_found("building"));
        }
        // At most 3 % held, for 1 to 2 years (DOMAIN.md §3.5).
        let liability = u32::try_from(r.liability_years).unwrap_or(0);
        if !money::retention_terms_lawful(settlement, retention, liability) {
            return Err(Refusal::new(
                "RETENTION_TERMS_UNLAWFUL",
                "a retention is at most 3 % of the settlement amount, held 1 to 2 years",
            )
            .with(
                "max_retention_minor",
                money::max_retention(settlement).unwrap_or(0),
            )
            .into());
        }
        let entry = Responsibility {
            tenant_id: principal.tenant_id,
            project_id,
            building_id,
            component: component.unwrap_or_default(),
            contractor_id,
            backup_vendor_id,
            settlement_minor: settlement,
            retention_minor: retention,
            currency,
            liability_years: r.liability_years,
            respond_minutes: respond,
            on_site_urgent_minutes: urgent,
            on_site_normal_minutes: normal,
            retention_left: retention,
        };
        self.commands
            .run(
                principal,
                "SetResponsibility",
                &request_id,
                &req,
                async |cmd| {
                    let saved = map::set(cmd.conn(), &entry).await?;
                    let subject = Subject::new("building", building_id)
                        .with_detail(serde_json::json!({ "component": saved.component }));
                    Ok((
                        pb::SetResponsibilityResponse {
                            responsibility: Some(saved.into()),
                        },
                        subject,
                    ))
                },
            )
            .await
    }

    pub(crate) async fn list_responsibilities(
        &self,
        principal: &Principal,
        req: pb::ListResponsibilitiesRequest,
    ) -> ServiceResult<pb::ListResponsibilitiesResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        let building_id = v.optional_uuid("building_id", &req.building_id);
        v.finish()?;
        principal.require_project(project_id)?;
        let entries = map::list(&self.pool, principal, project_id, building_id).await?;
        Ok(pb::ListResponsibilitiesResponse {
            responsibilities: entries.into_iter().map(Into::into).collect(),
        })
    }

    pub(crate) async fn set_building_warranty(
        &self,
        principal: &Principal,
        req: pb::SetBuildingWarrantyRequest,
    ) -> ServiceResult<pb::SetBuildingWarrantyResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let building_id = v.uuid("building_id", &req.building_id);
        let accepted_on = v.date("accepted_on", &req.accepted_on);
        let design_life = if req.design_life_years == 0 {
            DEFAULT_DESIGN_LIFE_YEARS
        } else {
            req.design_life_years
        };
        if !(1..=100).contains(&design_life) {
            v.violation("design_life_years", "must be 0 (50 years) or 1 to 100");
        }
        v.check(
            accepted_on <= anju_kit::time::ProjectZone::or_default("").today(),
            "accepted_on",
            "must not be in the future",
        );
        v.finish()?;
        principal.require_project(project_id)?;
        if !map::building_known(&self.pool, principal.tenant_id, project_id, building_id).await? {
            return Err(ServiceError::not_found("building"));
        }
        self.commands
            .run(
                principal,
                "SetBuildingWarranty",
                &request_id,
                &req,
                async |cmd| {
                    map::set_building_warranty(
                        cmd.conn(),
                        principal.tenant_id,
                        project_id,
                        building_id,
                        accepted_on,
                        design_life,
                    )
                    .await?;
                    Ok((
                        pb::SetBuildingWarrantyResponse {
                            building_id: building_id.to_string(),
                            accepted_on: accepted_on.to_string(),
                            design_life_years: design_life,
                        },
                        Subject::new("building", building_id),
                    ))
                },
            )
            .await
    }

    pub(crate) async fn set_warranty_promise(
        &self,
        principal: &Principal,
        req: pb::SetWarrantyPromiseRequest,
    ) -> ServiceResult<pb::SetWarrantyPromiseResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let component = component(&mut v, "component", &req.component);
        if req.component.trim().is_empty() {
            v.violation("component", "is required");
        }
        if !(0..=600).contains(&req.months) {
            v.violation("months", "must be 0 (none) to 600");
        }
        v.finish()?;
        principal.require_project(project_id)?;
        anju_messaging::directory::require_project(&self.pool, principal, project_id).await?;
        let component = component.unwrap_or_default();
        self.commands
            .run(
                principal,
                "SetWarrantyPromise",
                &request_id,
                &req,
                async |cmd| {
                    map::set_promise(
                        cmd.conn(),
                        principal.tenant_id,
                        project_id,
                        &component,
                        req.months,
                    )
                    .await?;
                    Ok((
                        pb::SetWarrantyPromiseResponse {
                            project_id: project_id.to_string(),
                            component: component.clone(),
                            months: req.months,
                        },
                        Subject::new("project", project_id)
                            .with_detail(serde_json::json!({ "component": component })),
                    ))
                },
            )
            .await
    }
}
