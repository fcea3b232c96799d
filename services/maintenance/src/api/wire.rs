//! Rows as the wire shows them: a repair request with its warranty decision, its work order and
//! clocks, its cost lines and sign-offs; a map entry.

use anju_kit::{ServiceResult, time::timestamp};
use anju_proto::{common::Money, maintenance as pb};
use chrono::Utc;
use uuid::Uuid;

use crate::{
    domain::work_order::{Clock, ON_SITE, PLAN, RESPOND},
    store::{self, RepairRequest, costs, map::Responsibility},
};

fn money(minor: i64, currency: &str) -> Money {
    Money {
        minor_units: minor,
        currency: currency.to_string(),
    }
}

fn payer(name: Option<&str>) -> pb::Payer {
    match name {
        Some("contractor") => pb::Payer::Contractor,
        Some("developer") => pb::Payer::Developer,
        Some("caused") => pb::Payer::Caused,
        _ => pb::Payer::Unspecified,
    }
}

fn clock_state(c: Clock) -> pb::ClockState {
    match c {
        Clock::Running => pb::ClockState::Running,
        Clock::Warning => pb::ClockState::Warning,
        Clock::Breached => pb::ClockState::Breached,
        Clock::Met { late: false } => pb::ClockState::Met,
        Clock::Met { late: true } => pb::ClockState::MetLate,
    }
}

impl From<RepairRequest> for pb::RepairRequest {
    fn from(r: RepairRequest) -> Self {
        let now = Utc::now();
        let clocks = r.clocks();
        let work_order = pb::WorkOrder {
            contractor_id: r.contractor_id.map(|c| c.to_string()).unwrap_or_default(),
            backup_vendor_id: r
                .backup_vendor_id
                .map(|c| c.to_string())
                .unwrap_or_default(),
            escalated_from: r.escalated_from.map(|c| c.to_string()).unwrap_or_default(),
            assigned_at: r.assigned_at.map(timestamp),
            state: r.order_state.clone(),
            clocks: [RESPOND, ON_SITE, PLAN]
                .into_iter()
                .filter_map(|name| {
                    let (due, state) = clocks.state(name, now)?;
                    let (done, breached) = match name {
                        RESPOND => (r.responded_at, r.respond_breached),
                        PLAN => (r.plan_at, r.plan_breached),
                        _ => (r.on_site_at, r.on_site_breached),
                    };
                    // The sweeper's mark is the breach of record, even if read a moment early.
                    let state = if breached && done.is_none() {
                        Clock::Breached
                    } else {
                        state
                    };
                    Some(pb::Clock {
                        name: name.into(),
                        due_at: Some(timestamp(due)),
                        state: clock_state(state) as i32,
                        done_at: done.map(timestamp),
                    })
                })
                .collect(),
            not_to_exceed: r
                .not_to_exceed_minor
                .map(|m| money(m, r.currency.as_deref().unwrap_or_default())),
            priority: if r.priority == "urgent" {
                pb::Priority::Urgent
            } else {
                pb::Priority::Normal
            } as i32,
            assignments: r.assignments,
        };
        let source = match r.source.as_str() {
            "owner" => pb::RepairSource::Owner,
            "inspection" => pb::RepairSource::Inspection,
            "complaint" => pb::RepairSource::Complaint,
            _ => pb::RepairSource::Unspecified,
        };
        pb::RepairRequest {
            repair_request_id: r.repair_request_id.to_string(),
            project_id: r.project_id.to_string(),
            unit_id: r.unit_id.map(|u| u.to_string()).unwrap_or_default(),
            source: source as i32,
            category: r.category,
            description: r.description,
            contractor_id: r.contractor_id.map(|c| c.to_string()).unwrap_or_default(),
            created_at: Some(timestamp(r.created_at)),
            reference: r.reference,
            status: match r.status.as_str() {
                "open" => pb::RepairStatus::Open,
                "completed" => pb::RepairStatus::Completed,
                "closed" => pb::RepairStatus::Closed,
                _ => pb::RepairStatus::Unspecified,
            } as i32,
            resolution: r.resolution.unwrap_or_default(),
            closed_at: r.closed_at.map(timestamp),
            completed_at: r.completed_at.map(timestamp),
            sign_offs: Vec::new(),
            component: r.component.unwrap_or_default(),
            building_id: r.building_id.map(|b| b.to_string()).unwrap_or_default(),
            owner_name: r.owner_name,
            owner_phone: r.owner_phone,
            appointment_from: r.appointment_from.map(timestamp),
            appointment_to: r.appointment_to.map(timestamp),
            warranty: Some(pb::WarrantyDecision {
                decided: r.warranty_decided,
                covered: r.warranty_covered.unwrap_or(false),
                payer: payer(r.warranty_payer.as_deref()) as i32,
                contractor_until: r
                    .contractor_until
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                buyer_until: r.buyer_until.map(|d| d.to_string()).unwrap_or_default(),
                reasons: r.warranty_reasons,
            }),
            work_order: Some(work_order),
            cost_lines: Vec::new(),
            photo_refs: r.photo_refs,
            round: r.round,
            follow_up_score: r.follow_up_score.unwrap_or(0),
            common_part: r.common_part.unwrap_or_default(),
            plan: r.plan_state.map(|state| pb::RepairPlan {
                description: r.plan_text.unwrap_or_default(),
                estimate: r
                    .plan_estimate_minor
                    .map(|m| money(m, r.currency.as_deref().unwrap_or_default())),
                state,
            }),
        }
    }
}

/// Requests as answered, each with its sign-offs and cost lines.
pub async fn detailed(
    conn: &mut sqlx::PgConnection,
    requests: Vec<RepairRequest>,
) -> ServiceResult<Vec<pb::RepairRequest>> {
    let ids: Vec<Uuid> = requests.iter().map(|r| r.repair_request_id).collect();
    let signed = store::sign_offs(&mut *conn, &ids).await?;
    let lines = costs::of(&mut *conn, &ids).await?;
    Ok(requests
        .into_iter()
        .map(|r| {
            let id = r.repair_request_id;
            let mut wire: pb::RepairRequest = r.into();
            wire.sign_offs = signed
                .iter()
                .filter(|(of, _)| *of == id)
                .map(|(_, s)| pb::SignOff {
                    party: match s.party.as_str() {
                        "maintenance" => pb::SignOffParty::Maintenance,
                        "owner" => pb::SignOffParty::Owner,
                        "supervising_engineer" => pb::SignOffParty::SupervisingEngineer,
                        "project_department" => pb::SignOffParty::ProjectDepartment,
                        _ => pb::SignOffParty::Unspecified,
                    } as i32,
                    signed_by: s.signed_by.clone(),
                    signed_at: Some(timestamp(s.signed_at)),
                })
                .collect();
            wire.cost_lines = lines
                .iter()
                .filter(|l| l.repair_request_id == id)
                .map(|l| pb::CostLine {
                    kind: l.kind.clone(),
                    description: l.description.clone(),
                    amount: Some(money(l.amount_minor, &l.currency)),
                })
                .collect();
            wire
        })
        .collect())
}

pub async fn one(
    conn: &mut sqlx::PgConnection,
    request: RepairRequest,
) -> ServiceResult<pb::RepairRequest> {
    Ok(detailed(conn, vec![request])
        .await?
        .pop()
        .expect("one in, one out"))
}

impl From<Responsibility> for pb::Responsibility {
    fn from(r: Responsibility) -> Self {
        pb::Responsibility {
            project_id: r.project_id.to_string(),
            building_id: r.building_id.to_string(),
            component: r.component,
            contractor_id: r.contractor_id.to_string(),
            backup_vendor_id: r.backup_vendor_id.to_string(),
            settlement_amount: Some(money(r.settlement_minor, &r.currency)),
            retention: Some(money(r.retention_minor, &r.currency)),
            liability_years: r.liability_years,
            respond_minutes: r.respond_minutes,
            on_site_urgent_minutes: r.on_site_urgent_minutes,
            on_site_normal_minutes: r.on_site_normal_minutes,
            retention_left: Some(money(r.retention_left, &r.currency)),
        }
    }
}
