//! Buildings' completion filing and initial registration; projects' title policy.

use anju_kit::{
    Principal, Refusal, ServiceError, ServiceResult, audit::Subject, validate::Validator,
};
use anju_messaging::directory;
use anju_proto::title as pb;

use super::{TitleApi, not_found_outside};
use crate::store::registry::{self, Building, Policy};

/// Characters allowed in a project's own checklist item.
fn valid_item(item: &str) -> bool {
    !item.is_empty()
        && item.len() <= 40
        && item
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl From<Building> for pb::Building {
    fn from(b: Building) -> Self {
        pb::Building {
            building_id: b.building_id.to_string(),
            project_id: b.project_id.to_string(),
            filing_number: b.filing_number.unwrap_or_default(),
            filed_on: b.filed_on.map(|d| d.to_string()).unwrap_or_default(),
            registration_number: b.registration_number.unwrap_or_default(),
            registered_on: b.registered_on.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

fn policy_wire(p: &Policy) -> pb::TitlePolicy {
    pb::TitlePolicy {
        project_id: p.project_id.to_string(),
        extra_documents: p.extra_documents.clone(),
        submission_warning_days: p.submission_warning_days,
        title_warning_days: p.title_warning_days,
        choice_days: p.choice_days,
        cancellation_interest_bp: p.cancellation_interest_bp,
        checklist: p.checklist(),
    }
}

impl TitleApi {
    /// NOT_FOUND unless the building holds units of the caller's tenant in `project_id` (as
    /// title learnt them from sales).
    async fn require_building(
        &self,
        principal: &Principal,
        project_id: uuid::Uuid,
        building_id: uuid::Uuid,
    ) -> ServiceResult<()> {
        directory::require_project(&self.pool, principal, project_id).await?;
        if registry::building_known(&self.pool, principal.tenant_id, project_id, building_id)
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::not_found("building"))
        }
    }

    pub(super) async fn record_completion_filing(
        &self,
        principal: &Principal,
        req: pb::RecordCompletionFilingRequest,
    ) -> ServiceResult<pb::RecordCompletionFilingResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let building_id = v.uuid("building_id", &req.building_id);
        let number = v.text("filing_number", &req.filing_number, 100);
        let on = v.date("filed_on", &req.filed_on);
        v.finish()?;
        not_found_outside(principal, project_id, "building")?;
        self.require_building(principal, project_id, building_id)
            .await?;
        self.commands
            .run(
                principal,
                "RecordCompletionFiling",
                &request_id,
                &req,
                async |cmd| {
                    let tenant = cmd.tenant();
                    let building = registry::file_completion(
                        cmd.conn(),
                        tenant,
                        project_id,
                        building_id,
                        &number,
                        on,
                    )
                    .await?;
                    let response = pb::RecordCompletionFilingResponse {
                        building: Some(building.into()),
                    };
                    Ok((response, Subject::new("building", building_id)))
                },
            )
            .await
    }

    pub(super) async fn record_initial_registration(
        &self,
        principal: &Principal,
        req: pb::RecordInitialRegistrationRequest,
    ) -> ServiceResult<pb::RecordInitialRegistrationResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let building_id = v.uuid("building_id", &req.building_id);
        let number = v.text("registration_number", &req.registration_number, 100);
        let on = v.date("registered_on", &req.registered_on);
        v.finish()?;
        not_found_outside(principal, project_id, "building")?;
        self.require_building(principal, project_id, building_id)
            .await?;
        self.commands
            .run(
                principal,
                "RecordInitialRegistration",
                &request_id,
                &req,
                async |cmd| {
                    let tenant = cmd.tenant();
                    let building = registry::building(cmd.conn(), tenant, building_id)
                        .await?
                        .filter(|b| b.project_id == project_id);
                    if !building.as_ref().is_some_and(Building::filed) {
                        return Err(Refusal::new(
                            "COMPLETION_FILING_MISSING",
                            "initial registration needs the completion acceptance filing",
                        )
                        .with("building_id", building_id)
                        .into());
                    }
                    let building = registry::register(cmd.conn(), building_id, &number, on).await?;
                    let response = pb::RecordInitialRegistrationResponse {
                        building: Some(building.into()),
                    };
                    Ok((response, Subject::new("building", building_id)))
                },
            )
            .await
    }

    pub(super) async fn get_building(
        &self,
        principal: &Principal,
        req: pb::GetBuildingRequest,
    ) -> ServiceResult<pb::GetBuildingResponse> {
        let mut v = Validator::new();
        let building_id = v.uuid("building_id", &req.building_id);
        v.finish()?;
        let building = registry::building(&self.pool, principal.tenant_id, building_id)
            .await?
            .filter(|b| principal.can_see_project(b.project_id))
            .ok_or_else(|| ServiceError::not_found("building"))?;
        Ok(pb::GetBuildingResponse {
            building: Some(building.into()),
        })
    }

    pub(super) async fn set_title_policy(
        &self,
        principal: &Principal,
        req: pb::SetTitlePolicyRequest,
    ) -> ServiceResult<pb::SetTitlePolicyResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let p = req.policy.clone().unwrap_or_default();
        let project_id = v.uuid("policy.project_id", &p.project_id);
        v.count("policy.extra_documents", p.extra_documents.len(), 20);
        for (i, item) in p.extra_documents.iter().take(20).enumerate() {
            v.check(
                valid_item(item),
                &format!("policy.extra_documents[{i}]"),
                "lowercase letters, digits and _, at most 40",
            );
        }
        v.range(
            "policy.submission_warning_days",
            p.submission_warning_days,
            1,
            59,
        );
        v.range("policy.title_warning_days", p.title_warning_days, 1, 89);
        v.range("policy.choice_days", p.choice_days, 1, 90);
        v.range(
            "policy.cancellation_interest_bp",
            p.cancellation_interest_bp,
            0,
            2_400,
        );
        v.finish()?;
        principal.require_project(project_id)?;
        directory::require_project(&self.pool, principal, project_id).await?;
        let policy = Policy {
            project_id,
            extra_documents: p.extra_documents.clone(),
            submission_warning_days: p.submission_warning_days,
            title_warning_days: p.title_warning_days,
            choice_days: p.choice_days,
            cancellation_interest_bp: p.cancellation_interest_bp,
        };
        self.commands
            .run(
                principal,
                "SetTitlePolicy",
                &request_id,
                &req,
                async |cmd| {
                    let tenant = cmd.tenant();
                    registry::set_policy(cmd.conn(), tenant, &policy).await?;
                    let response = pb::SetTitlePolicyResponse {
                        policy: Some(policy_wire(&policy)),
                    };
                    Ok((response, Subject::new("project", project_id)))
                },
            )
            .await
    }

    pub(super) async fn get_title_policy(
        &self,
        principal: &Principal,
        req: pb::GetTitlePolicyRequest,
    ) -> ServiceResult<pb::GetTitlePolicyResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        v.finish()?;
        principal.require_project(project_id)?;
        directory::require_project(&self.pool, principal, project_id).await?;
        let policy = registry::policy(&self.pool, principal.tenant_id, project_id).await?;
        Ok(pb::GetTitlePolicyResponse {
            policy: Some(policy_wire(&policy)),
        })
    }
}
