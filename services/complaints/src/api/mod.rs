//! The ComplaintsService API: wire glue and validation. The rules are in [`crate::domain`], the
//! SQL in [`crate::store`]; each mutating RPC runs through the command pipeline.

mod desk;
mod intake;
mod repairs;
mod standards;

use anju_kit::{Principal, ServiceResult, paging::Page, time::timestamp, validate::Validator};
use anju_messaging::{Commands, host::Platform};
use anju_proto::{complaints as pb, complaints::complaints_service_server::ComplaintsService};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    domain::vocabulary::{
        Category, Channel, Complainant, Queue, Related, Severity, Status, Target,
    },
    store::{self, Complaint, Filter, clocks::ClockRow, stats},
};

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

    async fn get_complaint(
        &self,
        principal: &Principal,
        req: pb::GetComplaintRequest,
    ) -> ServiceResult<pb::GetComplaintResponse> {
        let mut v = Validator::new();
        let id = v.uuid("complaint_id", &req.complaint_id);
        v.finish()?;
        let mut tx = self.pool.begin().await?;
        let complaint = store::get(&mut *tx, principal, id).await?;
        Ok(pb::GetComplaintResponse {
            complaint: Some(full(&mut tx, complaint).await?),
        })
    }

    async fn list_complaints(
        &self,
        principal: &Principal,
        req: pb::ListComplaintsRequest,
    ) -> ServiceResult<pb::ListComplaintsResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        let unit_id = v.optional_uuid("unit_id", &req.unit_id);
        let customer_id = v.optional_uuid("customer_id", &req.customer_id);
        let queue = optional(&mut v, "queue", req.queue, Queue::from_wire, Queue::names);
        let status = optional(
            &mut v,
            "status",
            req.status,
            Status::from_wire,
            Status::names,
        );
        let clocks = match pb::ClockFilter::try_from(req.clocks) {
            Ok(pb::ClockFilter::Unspecified) => None,
            Ok(pb::ClockFilter::AtRiskOrBreached) => Some("at_risk"),
            Ok(pb::ClockFilter::Breached) => Some("breached"),
            Err(_) => {
                v.violation("clocks", "unknown clock filter");
                None
            }
        };
        v.finish()?;
        let page = Page::parse(req.page_size, &req.page_token)?;
        principal.require_project(project_id)?;
        let filter = Filter {
            queue: queue.map(|q| q.as_str().to_string()),
            clocks,
            unit_id,
            customer_id,
            status: status.map(|s| s.as_str().to_string()),
        };
        let mut tx = self.pool.begin().await?;
        let rows = store::list(
            &mut *tx,
            principal.tenant_id,
            project_id,
            &filter,
            page.after,
            page.fetch_limit(),
        )
        .await?;
        let (rows, next_page_token) = page.finish(rows, |c| c.complaint_id);
        let mut complaints = Vec::with_capacity(rows.len());
        for c in rows {
            let clocks = store::clocks::of_complaint(&mut *tx, c.complaint_id).await?;
            complaints.push(wire(&c, &clocks));
        }
        Ok(pb::ListComplaintsResponse {
            complaints,
            next_page_token,
        })
    }

    async fn get_complaint_statistics(
        &self,
        principal: &Principal,
        req: pb::GetComplaintStatisticsRequest,
    ) -> ServiceResult<pb::GetComplaintStatisticsResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        let from = month(&mut v, "from_month", &req.from_month);
        let to = month(&mut v, "to_month", &req.to_month);
        if let (Some(from), Some(to)) = (from, to) {
            let span = (to.0 - from.0) * 12 + i32::from(to.1) - i32::from(from.1);
            v.check(
                (0..36).contains(&span),
                "to_month",
                "from_month to to_month, at most 36 months",
            );
        }
        v.finish()?;
        principal.require_project(project_id)?;
        let name =
            |m: Option<(i32, u8)>| m.map(|(y, m)| format!("{y:04}-{m:02}")).unwrap_or_default();
        let months = stats::months(
            &self.pool,
            principal.tenant_id,
            project_id,
            &name(from),
            &name(to),
        )
        .await?;
        let counts = |m: &std::collections::BTreeMap<String, i64>| {
            m.iter()
                .map(|(key, count)| pb::Count {
                    key: key.clone(),
                    count: *count,
                })
                .collect()
        };
        Ok(pb::GetComplaintStatisticsResponse {
            months: months
                .into_iter()
                .map(|(month, m)| pb::MonthStatistics {
                    month,
                    complaints: m.complaints,
                    by_category: counts(&m.by_category),
                    by_channel: counts(&m.by_channel),
                    compliance: m
                        .compliance
                        .iter()
                        .map(|(target, (met, missed))| pb::TargetCompliance {
                            target: Target::wire_of(target),
                            met: *met,
                            missed: *missed,
                        })
                        .collect(),
                    breaches: m.breaches,
                    follow_ups: m.follow_ups,
                    satisfaction_total: m.satisfaction_total,
                    satisfied: m.satisfied,
                    reopened: m.reopened,
                    repeats: m.repeats,
                    closed: m.closed,
                })
                .collect(),
        })
    }
}

/// An optional enum filter: unspecified keeps everything, an unknown value is refused.
fn optional<T>(
    v: &mut Validator,
    field: &str,
    value: i32,
    parse: fn(i32) -> Option<T>,
    names: fn() -> String,
) -> Option<T> {
    if value == 0 {
        return None;
    }
    let parsed = parse(value);
    if parsed.is_none() {
        v.violation(field, format!("must be one of {}", names()));
    }
    parsed
}

/// A required enum field.
fn required<T>(
    v: &mut Validator,
    field: &str,
    value: i32,
    parse: fn(i32) -> Option<T>,
    names: fn() -> String,
) -> Option<T> {
    let parsed = parse(value);
    if parsed.is_none() {
        v.violation(field, format!("required: one of {}", names()));
    }
    parsed
}

/// `YYYY-MM` as (year, month).
fn month(v: &mut Validator, field: &str, value: &str) -> Option<(i32, u8)> {
    let parsed = value
        .split_once('-')
        .filter(|(y, m)| y.len() == 4 && m.len() == 2)
        .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u8>().ok()?)))
        .filter(|(y, m)| (2000..=2200).contains(y) && (1..=12).contains(m));
    if parsed.is_none() {
        v.violation(field, "a month as YYYY-MM");
    }
    parsed
}

fn id(u: Option<Uuid>) -> String {
    u.map(|u| u.to_string()).unwrap_or_default()
}

fn clock(k: &ClockRow) -> pb::Clock {
    let state = match (k.stopped_at, k.met) {
        (Some(_), Some(true)) => pb::ClockState::Met,
        (Some(_), _) => pb::ClockState::Missed,
        (None, _) if k.breached_at.is_some() => pb::ClockState::Breached,
        (None, _) if k.warned_at.is_some() => pb::ClockState::AtRisk,
        (None, _) if k.running_since.is_none() => pb::ClockState::Paused,
        (None, _) => pb::ClockState::Running,
    };
    pb::Clock {
        target: Target::wire_of(&k.target),
        round: k.round,
        target_minutes: k.target_minutes,
        state: state as i32,
        started_at: Some(timestamp(k.started_at)),
        due_at: k.due_at.map(timestamp),
        warn_at: k.warn_at.map(timestamp),
        stopped_at: k.stopped_at.map(timestamp),
        consumed_seconds: k.consumed_seconds,
    }
}

/// A complaint on the wire with its clocks (what a listing shows).
fn wire(c: &Complaint, clocks: &[ClockRow]) -> pb::Complaint {
    pb::Complaint {
        complaint_id: c.complaint_id.to_string(),
        project_id: c.project_id.to_string(),
        unit_id: id(c.unit_id),
        complainant: c.complainant.clone(),
        channel: Channel::wire_of(&c.channel),
        severity: Severity::wire_of(&c.severity),
        text: c.text.clone(),
        recorded_at: Some(timestamp(c.recorded_at)),
        category: Category::wire_of(&c.category),
        complainant_kind: Complainant::wire_of(&c.complainant_kind),
        customer_id: id(c.customer_id),
        contact_phone: c.contact_phone.clone(),
        common_part: c.common_part.clone(),
        related_kind: c.related_kind.as_deref().map_or(0, Related::wire_of),
        related_id: id(c.related_id),
        queue: Queue::wire_of(&c.queue),
        assignee: c.assignee.clone(),
        status: Status::wire_of(&c.status),
        round: c.round,
        reopen_count: c.reopen_count,
        waiting_on_owner: c.waiting_since.is_some(),
        resolution: c.resolution.clone(),
        repair_request_id: id(c.repair_request_id),
        repair_closed: c.repair_closed,
        repeat_of: id(c.repeat_of),
        acknowledged_at: c.acknowledged_at.map(timestamp),
        taken_at: c.taken_at.map(timestamp),
        resolved_at: c.resolved_at.map(timestamp),
        closed_at: c.closed_at.map(timestamp),
        clocks: clocks.iter().map(clock).collect(),
        ..Default::default()
    }
}

/// A complaint with everything about it: clocks, assignments, follow-ups, escalations and
/// the other complaints about its unit.
async fn full(conn: &mut PgConnection, c: Complaint) -> ServiceResult<pb::Complaint> {
    let clocks = store::clocks::of_complaint(&mut *conn, c.complaint_id).await?;
    let mut out = wire(&c, &clocks);
    out.assignments = store::assignments(&mut *conn, c.complaint_id)
        .await?
        .into_iter()
        .map(|a| pb::Assignment {
            from_queue: Queue::wire_of(&a.from_queue),
            to_queue: Queue::wire_of(&a.to_queue),
            assignee: a.assignee,
            reason: a.reason,
            assigned_by: a.assigned_by,
            assigned_at: Some(timestamp(a.assigned_at)),
        })
        .collect();
    out.follow_ups = store::follow_ups(&mut *conn, c.complaint_id)
        .await?
        .into_iter()
        .map(|f| pb::FollowUp {
            round: f.round,
            visited_by: f.visited_by,
            satisfaction: f.satisfaction,
            notes: f.notes,
            visited_at: Some(timestamp(f.visited_at)),
        })
        .collect();
    out.escalations = store::escalations(&mut *conn, c.complaint_id)
        .await?
        .into_iter()
        .map(|e| pb::Escalation {
            target: Target::wire_of(&e.target),
            round: e.round,
            escalated_to: e.escalated_to,
            escalated_at: Some(timestamp(e.escalated_at)),
        })
        .collect();
    out.same_unit = store::same_unit(&mut *conn, &c)
        .await?
        .into_iter()
        .map(|s| pb::ComplaintSummary {
            complaint_id: s.complaint_id.to_string(),
            category: Category::wire_of(&s.category),
            status: Status::wire_of(&s.status),
            recorded_at: Some(timestamp(s.recorded_at)),
        })
        .collect();
    Ok(out)
}

anju_kit::rpcs! { impl ComplaintsService for ComplaintsApi in pb {
    record_complaint(RecordComplaintRequest) -> RecordComplaintResponse;
    get_complaint(GetComplaintRequest) -> GetComplaintResponse;
    list_complaints(ListComplaintsRequest) -> ListComplaintsResponse;
    acknowledge_complaint(AcknowledgeComplaintRequest) -> AcknowledgeComplaintResponse;
    take_complaint(TakeComplaintRequest) -> TakeComplaintResponse;
    reassign_complaint(ReassignComplaintRequest) -> ReassignComplaintResponse;
    wait_on_owner(WaitOnOwnerRequest) -> WaitOnOwnerResponse;
    resume_complaint(ResumeComplaintRequest) -> ResumeComplaintResponse;
    resolve_complaint(ResolveComplaintRequest) -> ResolveComplaintResponse;
    record_follow_up(RecordFollowUpRequest) -> RecordFollowUpResponse;
    record_repair_progress(RecordRepairProgressRequest) -> RecordRepairProgressResponse;
    set_service_standard(SetServiceStandardRequest) -> SetServiceStandardResponse;
    get_service_standard(GetServiceStandardRequest) -> GetServiceStandardResponse;
    get_complaint_statistics(GetComplaintStatisticsRequest) -> GetComplaintStatisticsResponse;
} }
