//! The ComplaintsService API: wire glue and validation; SQL in [`crate::store`].

use anju_kit::{
    Principal, ServiceResult, audit::Subject, ids::new_id, time::timestamp, validate::Validator,
};
use anju_messaging::{Commands, directory, host::Platform};
use anju_proto::{
    complaints as pb, complaints::complaints_service_server::ComplaintsService, events,
};
use chrono::Utc;
use sqlx::PgPool;

use crate::{
    domain::{CHANNELS, SEVERITIES, name_of, value_of},
    store::{self, Complaint},
};

impl From<Complaint> for pb::Complaint {
    fn from(c: Complaint) -> Self {
        pb::Complaint {
            complaint_id: c.complaint_id.to_string(),
            project_id: c.project_id.to_string(),
            unit_id: c.unit_id.map(|u| u.to_string()).unwrap_or_default(),
            complainant: c.complainant,
            channel: value_of(&CHANNELS, &c.channel, pb::ComplaintChannel::Unspecified) as i32,
            category: c.category,
            severity: value_of(&SEVERITIES, &c.severity, pb::Severity::Unspecified) as i32,
            text: c.text,
            recorded_at: Some(timestamp(c.recorded_at)),
        }
    }
}

#[derive(Clone)]
pub struct ComplaintsApi {
    pool: PgPool,
    commands: Commands,
}

impl ComplaintsApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
            commands: Commands::new(platform.pool.clone(), platform.outbox.clone()),
        }
    }

    async fn record_complaint(
        &self,
        principal: &Principal,
        req: pb::RecordComplaintRequest,
    ) -> ServiceResult<pb::RecordComplaintResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let unit_id = v.optional_uuid("unit_id", &req.unit_id);
        let complainant = v.text("complainant", &req.complainant, 200);
        let channel = name_of(&CHANNELS, pb::ComplaintChannel::try_from(req.channel).ok());
        if channel.is_none() {
            v.violation("channel", "must be phone, written, visit or online");
        }
        let category = v.text("category", &req.category, 64);
        let severity = name_of(&SEVERITIES, pb::Severity::try_from(req.severity).ok());
        if severity.is_none() {
            v.violation("severity", "must be low, medium, high or urgent");
        }
        let text = v.free_text("text", &req.text, 8000);
        v.finish()?;
        principal.require_project(project_id)?;
        match unit_id {
            Some(unit_id) => {
                directory::require_unit(&self.pool, principal, project_id, unit_id).await?
            }
            None => directory::require_project(&self.pool, principal, project_id).await?,
        }
        let complaint = Complaint {
            complaint_id: new_id(),
            project_id,
            unit_id,
            complainant,
            channel: channel.unwrap_or_default().into(),
            category,
            severity: severity.unwrap_or_default().into(),
            text,
            recorded_at: Utc::now(),
        };
        self.commands
            .run(
                principal,
                "RecordComplaint",
                &request_id,
                &req,
                async |cmd| {
                    store::insert(cmd.conn(), principal.tenant_id, &complaint).await?;
                    let event = events::ComplaintRecorded {
                        complaint_id: complaint.complaint_id.to_string(),
                        project_id: project_id.to_string(),
                        unit_id: unit_id.map(|u| u.to_string()).unwrap_or_default(),
                        category: complaint.category.clone(),
                        severity: complaint.severity.clone(),
                    };
                    cmd.emit(cmd.event("complaint", complaint.complaint_id), &event)
                        .await?;
                    let subject = Subject::new("complaint", complaint.complaint_id);
                    let response = pb::RecordComplaintResponse {
                        complaint: Some(complaint.into()),
                    };
                    Ok((response, subject))
                },
            )
            .await
    }

    async fn get_complaint(
        &self,
        principal: &Principal,
        req: pb::GetComplaintRequest,
    ) -> ServiceResult<pb::GetComplaintResponse> {
        let mut v = Validator::new();
        let id = v.uuid("complaint_id", &req.complaint_id);
        v.finish()?;
        let complaint = store::complaint(&self.pool, principal, id).await?;
        Ok(pb::GetComplaintResponse {
            complaint: Some(complaint.into()),
        })
    }
}

anju_kit::rpcs! { impl ComplaintsService for ComplaintsApi in pb {
    record_complaint(RecordComplaintRequest) -> RecordComplaintResponse;
    get_complaint(GetComplaintRequest) -> GetComplaintResponse;
} }
