//! The desk's steps: a complaint recorded, acknowledged, taken, reassigned, paused while
//! waiting on the owner, resolved (by hand or by its repair's sign-off) and followed up.

use anju_kit::{
    Principal, Refusal, Role, ServiceError, ServiceResult, audit::Subject, ids::new_id,
    time::ProjectZone, validate::Validator,
};
use anju_messaging::{Effect, directory};
use anju_proto::{complaints as pb, events};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use super::{ComplaintsApi, full, optional, required};
use crate::{
    domain::{
        reopens,
        routing::{handles, queue_for, takers},
        vocabulary::{Category, Channel, Complainant, Queue, Related, Severity, Status, Target},
    },
    store::{self, AssignmentRow, Complaint, FollowUpRow, clocks, standards},
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

    pub(super) async fn acknowledge_complaint(
        &self,
        principal: &Principal,
        req: pb::AcknowledgeComplaintRequest,
    ) -> ServiceResult<pb::AcknowledgeComplaintResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let complaint_id = v.uuid("complaint_id", &req.complaint_id);
        v.finish()?;
        let at = (
            principal,
            "AcknowledgeComplaint",
            request_id.as_str(),
            complaint_id,
        );
        let complaint = self
            .step(at, &req, async |cmd, c| {
                if c.acknowledged_at.is_some() {
                    return Err(refusal("ALREADY_ACKNOWLEDGED", "acknowledged already", c));
                }
                let now = Utc::now();
                c.acknowledged_at = Some(now);
                clocks::stop(cmd.conn(), c, Target::Acknowledge, now).await?;
                Ok(serde_json::Value::Null)
            })
            .await?;
        Ok(pb::AcknowledgeComplaintResponse {
            complaint: Some(complaint),
        })
    }

    pub(super) async fn take_complaint(
        &self,
        principal: &Principal,
        req: pb::TakeComplaintRequest,
    ) -> ServiceResult<pb::TakeComplaintResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let complaint_id = v.uuid("complaint_id", &req.complaint_id);
        let assignee = v.text("assignee", &req.assignee, 200);
        v.finish()?;
        let at = (
            principal,
            "TakeComplaint",
            request_id.as_str(),
            complaint_id,
        );
        let complaint = self
            .step(at, &req, async |cmd, c| {
                let queue = c.queue();
                if queue == Queue::Maintenance {
                    return Err(refusal(
                        "NOT_YOUR_QUEUE",
                        "maintenance takes a complaint by opening its repair request",
                        c,
                    ));
                }
                let member =
                    principal.has(Role::Admin) || takers(queue).iter().any(|r| principal.has(*r));
                if !member {
                    return Err(refusal(
                        "NOT_YOUR_QUEUE",
                        format!("only {} takes this complaint", queue.as_str()),
                        c,
                    ));
                }
                if c.taken_at.is_some() {
                    return Err(refusal("ALREADY_TAKEN", "taken already", c));
                }
                not_resolved(c)?;
                let now = Utc::now();
                c.taken_at = Some(now);
                c.assignee = assignee.clone();
                clocks::stop(cmd.conn(), c, Target::Route, now).await?;
                Ok(serde_json::json!({ "assignee": assignee }))
            })
            .await?;
        Ok(pb::TakeComplaintResponse {
            complaint: Some(complaint),
        })
    }

    pub(super) async fn reassign_complaint(
        &self,
        principal: &Principal,
        req: pb::ReassignComplaintRequest,
    ) -> ServiceResult<pb::ReassignComplaintResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let complaint_id = v.uuid("complaint_id", &req.complaint_id);
        let queue = required(&mut v, "queue", req.queue, Queue::from_wire, Queue::names);
        let assignee = v
            .optional_text("assignee", &req.assignee, 200)
            .unwrap_or_default();
        let reason = v.free_text("reason", &req.reason, 500);
        v.finish()?;
        let Some(queue) = queue else {
            return Err(ServiceError::invalid("queue", "required"));
        };
        let at = (
            principal,
            "ReassignComplaint",
            request_id.as_str(),
            complaint_id,
        );
        let complaint = self
            .step(at, &req, async |cmd, c| {
                not_resolved(c)?;
                let from = c.queue();
                if from == queue && c.assignee == assignee {
                    return Err(refusal(
                        "SAME_QUEUE",
                        "the complaint is in that queue already",
                        c,
                    ));
                }
                if queue == Queue::Maintenance && c.unit_id.is_none() {
                    return Err(ServiceError::invalid(
                        "queue",
                        "maintenance repairs a unit; this complaint is about a common part",
                    ));
                }
                let by = &principal.subject;
                let row = assignment(from.as_str(), queue, &assignee, &reason, by);
                store::assign(cmd.conn(), complaint_id, &row).await?;
                c.queue = queue.as_str().into();
                c.assignee = assignee.clone();
                if from != queue {
                    // The new department takes it anew; the route clock, if it still runs, runs
                    // until then.
                    c.taken_at = None;
                    routed(cmd, c).await?;
                }
                Ok(serde_json::json!({
                    "from": from.as_str(), "to": queue.as_str(),
                    "assignee": assignee, "reason": reason,
                }))
            })
            .await?;
        Ok(pb::ReassignComplaintResponse {
            complaint: Some(complaint),
        })
    }

    pub(super) async fn wait_on_owner(
        &self,
        principal: &Principal,
        req: pb::WaitOnOwnerRequest,
    ) -> ServiceResult<pb::WaitOnOwnerResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let complaint_id = v.uuid("complaint_id", &req.complaint_id);
        let reason = v.free_text("reason", &req.reason, 500);
        v.finish()?;
        let at = (principal, "WaitOnOwner", request_id.as_str(), complaint_id);
        let complaint = self
            .step(at, &req, async |cmd, c| {
                works(principal, c)?;
                if c.waiting_since.is_some() {
                    return Err(refusal(
                        "ALREADY_WAITING",
                        "waiting on the owner already",
                        c,
                    ));
                }
                let now = Utc::now();
                clocks::pause(cmd.conn(), c, now).await?;
                c.waiting_since = Some(now);
                c.waiting_reason = reason.clone();
                Ok(serde_json::json!({ "reason": reason }))
            })
            .await?;
        Ok(pb::WaitOnOwnerResponse {
            complaint: Some(complaint),
        })
    }

    pub(super) async fn resume_complaint(
        &self,
        principal: &Principal,
        req: pb::ResumeComplaintRequest,
    ) -> ServiceResult<pb::ResumeComplaintResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let complaint_id = v.uuid("complaint_id", &req.complaint_id);
        v.finish()?;
        let at = (
            principal,
            "ResumeComplaint",
            request_id.as_str(),
            complaint_id,
        );
        let complaint = self
            .step(at, &req, async |cmd, c| {
                works(principal, c)?;
                if c.waiting_since.is_none() {
                    return Err(refusal("NOT_WAITING", "not waiting on the owner", c));
                }
                c.waiting_since = None;
                c.waiting_reason = String::new();
                clocks::resume(cmd.conn(), c, Utc::now()).await?;
                Ok(serde_json::Value::Null)
            })
            .await?;
        Ok(pb::ResumeComplaintResponse {
            complaint: Some(complaint),
        })
    }

    pub(super) async fn resolve_complaint(
        &self,
        principal: &Principal,
        req: pb::ResolveComplaintRequest,
    ) -> ServiceResult<pb::ResolveComplaintResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let complaint_id = v.uuid("complaint_id", &req.complaint_id);
        let resolution = v.free_text("resolution", &req.resolution, 4000);
        v.finish()?;
        let at = (
            principal,
            "ResolveComplaint",
            request_id.as_str(),
            complaint_id,
        );
        let complaint = self
            .step(at, &req, async |cmd, c| {
                works(principal, c)?;
                not_resolved(c)?;
                if c.queue() == Queue::Maintenance && !c.repair_closed {
                    return Err(Refusal::new(
                        "REPAIR_OPEN",
                        "its repair's sign-off resolves a complaint routed to maintenance",
                    )
                    .with("complaint_id", complaint_id)
                    .with("repair_request_id", id(c.repair_request_id))
                    .into());
                }
                resolve(cmd, c, resolution.clone()).await?;
                Ok(serde_json::Value::Null)
            })
            .await?;
        Ok(pb::ResolveComplaintResponse {
            complaint: Some(complaint),
        })
    }

    pub(super) async fn record_follow_up(
        &self,
        principal: &Principal,
        req: pb::RecordFollowUpRequest,
    ) -> ServiceResult<pb::RecordFollowUpResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let complaint_id = v.uuid("complaint_id", &req.complaint_id);
        let visited_by = v.text("visited_by", &req.visited_by, 200);
        v.range("satisfaction", req.satisfaction, 1, 5);
        let notes = v
            .optional_free_text("notes", &req.notes, 2000)
            .unwrap_or_default();
        v.finish()?;
        let at = (
            principal,
            "RecordFollowUp",
            request_id.as_str(),
            complaint_id,
        );
        let complaint = self
            .step(at, &req, async |cmd, c| {
                if c.status != Status::Resolved.as_str() {
                    return Err(refusal("NOT_RESOLVED", "a follow-up needs a resolution", c));
                }
                let now = Utc::now();
                let reopened = reopens(req.satisfaction as u32);
                let visit = FollowUpRow {
                    round: c.round,
                    visited_by: visited_by.clone(),
                    satisfaction: req.satisfaction,
                    notes: notes.clone(),
                    reopened,
                    visited_at: now,
                };
                store::follow_up(cmd.conn(), complaint_id, &visit).await?;
                clocks::stop(cmd.conn(), c, Target::FollowUp, now).await?;
                let followed = events::ComplaintFollowedUp {
                    complaint_id: complaint_id.to_string(),
                    project_id: c.project_id.to_string(),
                    round: c.round,
                    satisfaction: req.satisfaction,
                    reopened,
                };
                cmd.emit(cmd.event("complaint", complaint_id), &followed)
                    .await?;
                c.waiting_since = None;
                c.waiting_reason = String::new();
                if reopened {
                    // Back to its department in a new round, with fresh clocks.
                    c.round += 1;
                    c.reopen_count += 1;
                    c.status = Status::Open.as_str().into();
                    c.resolution = String::new();
                    c.resolved_at = None;
                    c.taken_at = None;
                    c.repair_request_id = None;
                    c.repair_closed = false;
                    store::save(cmd.conn(), c).await?;
                    for target in [Target::Route, Target::Resolve] {
                        clocks::start(cmd.conn(), c, target, now).await?;
                    }
                    routed(cmd, c).await?;
                } else {
                    c.status = Status::Closed.as_str().into();
                    c.closed_at = Some(now);
                    let closed = events::ComplaintClosed {
                        complaint_id: complaint_id.to_string(),
                        project_id: c.project_id.to_string(),
                        rounds: c.round,
                    };
                    cmd.emit(cmd.event("complaint", complaint_id), &closed)
                        .await?;
                }
                Ok(serde_json::json!({ "satisfaction": req.satisfaction, "reopened": reopened }))
            })
            .await?;
        Ok(pb::RecordFollowUpResponse {
            complaint: Some(complaint),
        })
    }

    /// A step of the desk on one complaint: locked and refused if closed, changed by `body`
    /// (which may refuse, and emits its events), saved, and answered as it is now; the audit
    /// row names the complaint with `body`'s detail. A retry gets the first answer back.
    async fn step<Req: prost::Message>(
        &self,
        (principal, method, request_id, complaint_id): (&Principal, &'static str, &str, Uuid),
        req: &Req,
        body: impl AsyncFnOnce(&mut Effect<'_>, &mut Complaint) -> ServiceResult<serde_json::Value>,
    ) -> ServiceResult<pb::Complaint> {
        self.commands
            .run(principal, method, request_id, req, async |cmd| {
                let mut c = open(cmd.conn(), principal, complaint_id).await?;
                let detail = body(cmd, &mut c).await?;
                store::save(cmd.conn(), &c).await?;
                let mut subject = Subject::new("complaint", complaint_id);
                if !detail.is_null() {
                    subject = subject.with_detail(detail);
                }
                Ok((full(cmd.conn(), c).await?, subject))
            })
            .await
    }

    pub(super) async fn record_repair_progress(
        &self,
        principal: &Principal,
        req: pb::RecordRepairProgressRequest,
    ) -> ServiceResult<pb::RecordRepairProgressResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let complaint_id = v.uuid("complaint_id", &req.complaint_id);
        let repair_id = v.uuid("repair_request_id", &req.repair_request_id);
        v.range("round", req.round, 1, 10_000);
        let resolution = v
            .optional_free_text("resolution", &req.resolution, 4000)
            .unwrap_or_default();
        v.finish()?;
        self.commands
            .run(
                principal,
                "RecordRepairProgress",
                &request_id,
                &req,
                async |cmd| {
                    let mut c = store::lock(cmd.conn(), principal, complaint_id).await?;
                    // A report about an earlier round, or a complaint moved on, changes nothing:
                    // the coordinator's retries and late events are harmless.
                    let current = req.round == c.round
                        && c.status != Status::Closed.as_str()
                        && c.repair_request_id.is_none_or(|r| r == repair_id);
                    if current {
                        let now = Utc::now();
                        if c.repair_request_id.is_none() {
                            c.repair_request_id = Some(repair_id);
                            if c.queue() == Queue::Maintenance && c.taken_at.is_none() {
                                c.taken_at = Some(now);
                                clocks::stop(cmd.conn(), &c, Target::Route, now).await?;
                            }
                        }
                        if req.closed && !c.repair_closed {
                            c.repair_closed = true;
                            let open = c.status == Status::Open.as_str();
                            if open && c.queue() == Queue::Maintenance {
                                let text = format!("repair signed off: {resolution}");
                                resolve(cmd, &mut c, text).await?;
                            }
                        }
                        store::save(cmd.conn(), &c).await?;
                    }
                    let response = pb::RecordRepairProgressResponse {
                        complaint: Some(full(cmd.conn(), c).await?),
                    };
                    let subject = Subject::new("complaint", complaint_id).with_detail(
                        serde_json::json!({ "repair_request_id": repair_id, "closed": req.closed }),
                    );
                    Ok((response, subject))
                },
            )
            .await
    }
}

fn id(u: Option<Uuid>) -> String {
    super::id(u)
}

fn assignment(from: &str, to: Queue, assignee: &str, reason: &str, by: &str) -> AssignmentRow {
    AssignmentRow {
        from_queue: from.into(),
        to_queue: to.as_str().into(),
        assignee: assignee.into(),
        reason: reason.into(),
        assigned_by: by.into(),
        assigned_at: DateTime::<Utc>::MIN_UTC,
    }
}

fn refusal(reason: &'static str, message: impl Into<String>, c: &Complaint) -> ServiceError {
    Refusal::new(reason, message)
        .with("complaint_id", c.complaint_id)
        .into()
}

/// Refuses a step that needs the complaint still open (not resolved, awaiting its follow-up).
fn not_resolved(c: &Complaint) -> ServiceResult<()> {
    if c.status == Status::Resolved.as_str() {
        return Err(refusal(
            "ALREADY_RESOLVED",
            "resolved; it waits for its follow-up",
            c,
        ));
    }
    Ok(())
}

/// Refuses a caller outside the complaint's department (and the desk).
fn works(principal: &Principal, c: &Complaint) -> ServiceResult<()> {
    if handles(c.queue(), &principal.roles) {
        return Ok(());
    }
    Err(refusal(
        "NOT_YOUR_QUEUE",
        format!("the complaint is {}'s", c.queue().as_str()),
        c,
    ))
}

/// The complaint, locked, refused if closed.
async fn open(
    conn: &mut PgConnection,
    principal: &Principal,
    complaint_id: Uuid,
) -> ServiceResult<Complaint> {
    let c = store::lock(conn, principal, complaint_id).await?;
    if c.status == Status::Closed.as_str() {
        return Err(refusal("COMPLAINT_CLOSED", "the complaint is closed", &c));
    }
    Ok(c)
}

/// The complaint is in its queue's hands (at recording, on a reassignment, on a reopen).
async fn routed(cmd: &mut Effect<'_>, c: &Complaint) -> ServiceResult<()> {
    let event = events::ComplaintRouted {
        complaint_id: c.complaint_id.to_string(),
        project_id: c.project_id.to_string(),
        unit_id: id(c.unit_id),
        queue: c.queue.clone(),
        round: c.round,
        category: c.category.clone(),
        text: c.text.chars().take(2000).collect(),
    };
    cmd.emit(cmd.event("complaint", c.complaint_id), &event)
        .await?;
    Ok(())
}

/// Resolved: the resolve clock stops (and any acknowledge or route clock still running, as the
/// resolution implies them), the follow-up clock starts.
async fn resolve(cmd: &mut Effect<'_>, c: &mut Complaint, resolution: String) -> ServiceResult<()> {
    let now = Utc::now();
    for target in [Target::Acknowledge, Target::Route, Target::Resolve] {
        clocks::stop(cmd.conn(), c, target, now).await?;
    }
    c.status = Status::Resolved.as_str().into();
    c.resolution = resolution;
    c.resolved_at = Some(now);
    // Whatever the desk waited on the owner for is behind it: the follow-up clock runs.
    c.waiting_since = None;
    c.waiting_reason = String::new();
    c.acknowledged_at = c.acknowledged_at.or(Some(now));
    c.taken_at = c.taken_at.or(Some(now));
    store::save(cmd.conn(), c).await?;
    clocks::start(cmd.conn(), c, Target::FollowUp, now).await?;
    let event = events::ComplaintResolved {
        complaint_id: c.complaint_id.to_string(),
        project_id: c.project_id.to_string(),
        round: c.round,
        resolution: c.resolution.clone(),
        repair_request_id: id(c.repair_request_id),
    };
    cmd.emit(cmd.event("complaint", c.complaint_id), &event)
        .await?;
    Ok(())
}
