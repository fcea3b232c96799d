//! The desk's steps on a recorded complaint: acknowledged, taken, reassigned, paused while
//! waiting on the owner, resolved and followed up; and what they share with recording it
//! ([`super::intake`]) and with the coordinator's repair reports ([`super::repairs`]).

use anju_kit::{
    Principal, Refusal, Role, ServiceError, ServiceResult, audit::Subject, validate::Validator,
};
use anju_messaging::Effect;
use anju_proto::{complaints as pb, events};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{ComplaintsApi, full, required};
use crate::{
    domain::{
        reopens,
        routing::{handles, takers},
        vocabulary::{Queue, Status, Target},
    },
    store::{self, AssignmentRow, Complaint, FollowUpRow, clocks},
};

impl ComplaintsApi {
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
                    .with("repair_request_id", super::id(c.repair_request_id))
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
}

pub(super) fn assignment(
    from: &str,
    to: Queue,
    assignee: &str,
    reason: &str,
    by: &str,
) -> AssignmentRow {
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
pub(super) async fn routed(cmd: &mut Effect<'_>, c: &Complaint) -> ServiceResult<()> {
    let event = events::ComplaintRouted {
        complaint_id: c.complaint_id.to_string(),
        project_id: c.project_id.to_string(),
        unit_id: super::id(c.unit_id),
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
/// resolution implies them), the follow-up clock starts. The caller saves the complaint.
pub(super) async fn resolve(
    cmd: &mut Effect<'_>,
    c: &mut Complaint,
    resolution: String,
) -> ServiceResult<()> {
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
    clocks::start(cmd.conn(), c, Target::FollowUp, now).await?;
    let event = events::ComplaintResolved {
        complaint_id: c.complaint_id.to_string(),
        project_id: c.project_id.to_string(),
        round: c.round,
        resolution: c.resolution.clone(),
        repair_request_id: super::id(c.repair_request_id),
    };
    cmd.emit(cmd.event("complaint", c.complaint_id), &event)
        .await?;
    Ok(())
}
