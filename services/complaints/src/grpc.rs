//! The ComplaintsService API.

use anju_kit::{
    Principal, ServiceError, ServiceResult,
    audit::Subject,
    idempotency::{Claim, Command},
    ids::new_id,
    validate::Validator,
};
use anju_messaging::{EventMeta, Outbox, directory, host::Platform};
use anju_proto::{
    complaints as pb, complaints::complaints_service_server::ComplaintsService, events,
};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
struct Complaint {
    complaint_id: Uuid,
    project_id: Uuid,
    unit_id: Option<Uuid>,
    complainant: String,
    channel: String,
    category: String,
    severity: String,
    text: String,
    recorded_at: DateTime<Utc>,
}

const CHANNELS: [(pb::ComplaintChannel, &str); 4] = [
    (pb::ComplaintChannel::Phone, "phone"),
    (pb::ComplaintChannel::Written, "written"),
    (pb::ComplaintChannel::Visit, "visit"),
    (pb::ComplaintChannel::Online, "online"),
];

const SEVERITIES: [(pb::Severity, &str); 4] = [
    (pb::Severity::Low, "low"),
    (pb::Severity::Medium, "medium"),
    (pb::Severity::High, "high"),
    (pb::Severity::Urgent, "urgent"),
];

fn name_of<E: PartialEq + Copy>(
    table: &[(E, &'static str)],
    value: Option<E>,
) -> Option<&'static str> {
    let value = value?;
    table.iter().find(|(e, _)| *e == value).map(|(_, n)| *n)
}

fn value_of<E: Copy>(table: &[(E, &'static str)], name: &str, default: E) -> E {
    table
        .iter()
        .find(|(_, n)| *n == name)
        .map_or(default, |(e, _)| *e)
}

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
            recorded_at: Some(prost_types::Timestamp {
                seconds: c.recorded_at.timestamp(),
                nanos: c.recorded_at.timestamp_subsec_nanos() as i32,
            }),
        }
    }
}

#[derive(Clone)]
pub struct ComplaintsApi {
    pool: PgPool,
    outbox: Outbox,
}

impl ComplaintsApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
            outbox: platform.outbox.clone(),
        }
    }

    async fn record(
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

        let mut command =
            match Command::begin(&self.pool, principal, "RecordComplaint", &request_id, &req)
                .await?
            {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
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
        sqlx::query(
            "insert into complaints (complaint_id, tenant_id, project_id, unit_id, complainant, channel, category,
                                     severity, text, recorded_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(complaint.complaint_id)
        .bind(principal.tenant_id)
        .bind(complaint.project_id)
        .bind(complaint.unit_id)
        .bind(&complaint.complainant)
        .bind(&complaint.channel)
        .bind(&complaint.category)
        .bind(&complaint.severity)
        .bind(&complaint.text)
        .bind(complaint.recorded_at)
        .execute(&mut **command.tx())
        .await?;
        let event = events::ComplaintRecorded {
            complaint_id: complaint.complaint_id.to_string(),
            project_id: project_id.to_string(),
            unit_id: unit_id.map(|u| u.to_string()).unwrap_or_default(),
            category: complaint.category.clone(),
            severity: complaint.severity.clone(),
        };
        let meta = EventMeta::new(principal.tenant_id, "complaint", complaint.complaint_id)
            .caused_by_request(&request_id);
        self.outbox.append(command.tx(), meta, &event).await?;
        let response = pb::RecordComplaintResponse {
            complaint: Some(complaint.clone().into()),
        };
        command
            .commit(&response, Subject::new("complaint", complaint.complaint_id))
            .await?;
        Ok(response)
    }
}

#[tonic::async_trait]
impl ComplaintsService for ComplaintsApi {
    async fn record_complaint(
        &self,
        request: Request<pb::RecordComplaintRequest>,
    ) -> Result<Response<pb::RecordComplaintResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.record(&principal, request.into_inner()).await?,
        ))
    }

    async fn get_complaint(
        &self,
        request: Request<pb::GetComplaintRequest>,
    ) -> Result<Response<pb::GetComplaintResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let id = v.uuid("complaint_id", &request.get_ref().complaint_id);
        v.finish()?;
        let complaint: Complaint = sqlx::query_as(
            "select complaint_id, project_id, unit_id, complainant, channel, category, severity, text, recorded_at
             from complaints where tenant_id = $1 and complaint_id = $2",
        )
        .bind(principal.tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(ServiceError::from)?
        .filter(|c: &Complaint| principal.can_see_project(c.project_id))
        .ok_or_else(|| ServiceError::not_found("complaint"))?;
        Ok(Response::new(pb::GetComplaintResponse {
            complaint: Some(complaint.into()),
        }))
    }
}
