//! What an inspection's outcome sends beside the move-in's own steps: a repair request per
//! defect, a complaint per issue raised that is not a defect (seed ⑧ 5.1.11).

use anju_proto::{
    complaints,
    events::{DefectFound, InspectionRecorded, IssueRaised},
    maintenance,
};

use super::State;
use crate::engine::Command;

/// A repair request for a defect found at an inspection.
pub(super) fn repair(e: &InspectionRecorded, defect: &DefectFound) -> Command {
    Command::CreateRepairRequest(maintenance::CreateRepairRequestRequest {
        request_id: String::new(),
        project_id: e.project_id.clone(),
        unit_id: e.unit_id.clone(),
        source: maintenance::RepairSource::Inspection as i32,
        category: defect.category.clone(),
        description: format!(
            "{} ({}, {}): {}",
            defect.room, defect.severity, defect.defect_id, defect.description
        ),
        contractor_id: String::new(),
        reference: defect.defect_id.clone(),
        // The defect's severity decides how fast the contractor must be on site.
        priority: if matches!(defect.severity.as_str(), "major" | "critical") {
            maintenance::Priority::Urgent
        } else {
            maintenance::Priority::Normal
        } as i32,
        customer_id: e.customer_id.clone(),
        owner_name: e.owner_name.clone(),
        ..Default::default()
    })
}

/// ", N issue(s) raised: complaint(s) opened" when the owner raised any.
pub(super) fn raised(issues: usize) -> String {
    if issues == 0 {
        String::new()
    } else {
        format!("; {issues} issue(s) raised: complaint(s) opened")
    }
}

/// A complaint for an issue the owner raised at the inspection, recorded at the counter.
pub(super) fn complaint(state: &State, e: &InspectionRecorded, issue: &IssueRaised) -> Command {
    use complaints::ComplaintCategory as C;
    let category = match issue.kind.as_str() {
        "estate" => C::PropertyManagement,
        "fees" => C::Fees,
        "sales" => C::Sales,
        _ => C::Other,
    };
    Command::RecordComplaint(complaints::RecordComplaintRequest {
        request_id: String::new(),
        project_id: e.project_id.clone(),
        unit_id: e.unit_id.clone(),
        complainant: e.owner_name.clone(),
        channel: complaints::ComplaintChannel::Counter as i32,
        severity: complaints::Severity::Medium as i32,
        text: format!(
            "Raised at the move-in inspection, round {} (issue {}): {}",
            e.round, issue.issue_id, issue.description
        ),
        category: category as i32,
        complainant_kind: complaints::Complainant::Owner as i32,
        customer_id: if e.customer_id.is_empty() {
            state.customer_id.clone()
        } else {
            e.customer_id.clone()
        },
        ..Default::default()
    })
}
