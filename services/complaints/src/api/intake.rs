//! A complaint recorded at once (業主投訴記錄表, seed ④ 4.6.2): validated, routed by its
//! category, its clocks started under the standard in force, `ComplaintRecorded` and
//! `ComplaintRouted` published.

use anju_kit::{
    Principal, ServiceError, ServiceResult, audit::Subject, ids::new_id, time::ProjectZone,
    validate::Validator,
};
use anju_messaging::directory;
use anju_proto::{complaints as pb, events};
use chrono::Utc;
use sqlx::types::Json;

use super::{
    ComplaintsApi,
    desk::{assignment, routed},
    full, id, optional, required,
};
use crate::{
    domain::{
        routing::queue_for,
        vocabulary::{Category, Channel, Complainant, Related, Severity, Status, Target},
    },
    store::{self, Complaint, clocks, standards},
};

impl ComplaintsApi {
    pub(super) async fn record_complaint(
        &self,
        principal: &Principal,
        req: pb::RecordComplaintRequest,
    ) -> ServiceResult<pb::RecordComplaintResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let unit_id = v.optional_uuid("unit_id", &req.unit_id);
        let complainant = v.text("complainant", &req.complainant, 200);
        let channel = required(
            &mut v,
            "channel",
            req.channel,
            Channel::from_wire,
            Channel::names,
        );
        let category = required(
            &mut v,
            "category",
            req.category,
            Category::from_wire,
            Category::names,
        );
        let severity = required(
            &mut v,
            "severity",
            req.severity,
            Severity::from_wire,
            Severity::names,
        );
        let kind = required(
            &mut v,
            "complainant_kind",
            req.complainant_kind,
            Complainant::from_wire,
            Complainant::names,
        );
        let text = v.free_text("text", &req.text, 8000);
        let customer_id = v.optional_uuid("customer_id", &req.customer_id);
        v.check(
            customer_id.is_none() || kind == Some(Complainant::Owner),
            "customer_id",
            "only an owner's complaint names a customer",
        );
        let contact_phone = if req.contact_phone.is_empty() {
            String::new()
        } else {
            v.phone("contact_phone", &req.contact_phone)
        };
        let common_part = v
            .optional_text("common_part", &req.common_part, 200)
            .unwrap_or_default();
        v.check(
            unit_id.is_some() == common_part.is_empty(),
            "common_part",
            "a complaint names either a unit or a common part",
        );
        let related_kind = optional(
            &mut v,
            "related_kind",
            req.related_kind,
            Related::from_wire,
            Related::names,
        );
        let related_id = v.optional_uuid("related_id", &req.related_id);
        v.check(
            related_kind.is_some() == related_id.is_some(),
            "related_id",
            "related_kind and related_id go together",
        );
        v.finish()?;
        let (Some(channel), Some(category), Some(severity), Some(kind)) =
            (channel, category, severity, kind)
        else {
            return Err(ServiceError::invalid("category", "required"));
        };
        principal.require_project(project_id)?;
        match unit_id {
            Some(unit_id) => {
                directory::require_unit(&self.pool, principal, project_id, unit_id).await?
            }
            None => directory::require_project(&self.pool, principal, project_id).await?,
        }
        let standard = standards::for_project(&self.pool, principal.tenant_id, project_id).await?;
        let terms = standard.terms(category, severity);
        let now = Utc::now();
        let zone = ProjectZone::or_default(&terms.calendar.time_zone);
        let queue = queue_for(category, unit_id.is_some());
        let mut complaint = Complaint {
            complaint_id: new_id(),
            tenant_id: principal.tenant_id,
            project_id,
            unit_id,
            complainant,
            complainant_kind: kind.as_str().into(),
            customer_id,
            contact_phone,
            common_part,
            related_kind: related_kind.map(|r| r.as_str().into()),
            related_id,
            channel: channel.as_str().into(),
            category: category.as_str().into(),
            severity: severity.as_str().into(),
            text,
            recorded_at: now,
            recorded_month: zone.date_of(now).format("%Y-%m").to_string(),
            queue: queue.as_str().into(),
            assignee: String::new(),
            status: Status::Open.as_str().into(),
            round: 1,
            reopen_count: 0,
            waiting_since: None,
            waiting_reason: String::new(),
            resolution: String::new(),
            repair_request_id: None,
            repair_closed: false,
            repeat_of: None,
            acknowledged_at: None,
            taken_at: None,
            resolved_at: None,
            closed_at: None,
            terms: Json(terms),
        };
        self.commands
            .run(
                principal,
                "RecordComplaint",
                &request_id,
                &req,
                async |cmd| {
                    if let Some(unit_id) = unit_id {
                        complaint.repeat_of =
                            store::latest_about(cmd.conn(), principal.tenant_id, unit_id).await?;
                    }
                    store::insert(cmd.conn(), &complaint).await?;
                    for target in [Target::Acknowledge, Target::Route, Target::Resolve] {
                        clocks::start(cmd.conn(), &complaint, target, now).await?;
                    }
                    store::assign(
                        cmd.conn(),
                        complaint.complaint_id,
                        &assignment("", queue, "", "routed by category", "routing"),
                    )
                    .await?;
                    let c = &complaint;
                    let recorded = events::ComplaintRecorded {
                        complaint_id: c.complaint_id.to_string(),
                        project_id: project_id.to_string(),
                        unit_id: id(unit_id),
                        category: c.category.clone(),
                        severity: c.severity.clone(),
                        channel: c.channel.clone(),
                        repeat_of: id(c.repeat_of),
                    };
                    cmd.emit(cmd.event("complaint", c.complaint_id), &recorded)
                        .await?;
                    routed(cmd, c).await?;
                    let response = pb::RecordComplaintResponse {
                        complaint: Some(full(cmd.conn(), complaint.clone()).await?),
                    };
                    Ok((response, Subject::new("complaint", complaint.complaint_id)))
                },
            )
            .await
    }
}
