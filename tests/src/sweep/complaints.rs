//! The world's complaints: the project's service level standard; a quality complaint about the
//! unit, acknowledged and routed to maintenance, where the coordinator opens its repair; a fees
//! complaint taken by its department, paused on the owner and resumed, reassigned, resolved
//! and followed up; the desk's list and the month's statistics.

use anju_proto::complaints as cp;

use super::{Caller, world::World};

impl World<'_> {
    pub(super) async fn complaints(&mut self, code: &str) {
        let (project, unit) = (self.id("project"), self.id("unit"));
        let standard: cp::GetServiceStandardResponse = self
            .admin(
                "complaints",
                "GetServiceStandard",
                cp::GetServiceStandardRequest {
                    project_id: project.clone(),
                },
            )
            .await;
        let mut standard = standard.standard.expect("standard");
        standard.project_id = project.clone();
        standard.supervisor = "Desk supervisor Li".into();
        let _: cp::SetServiceStandardResponse = self
            .admin(
                "complaints",
                "SetServiceStandard",
                cp::SetServiceStandardRequest {
                    request_id: format!("standard-{code}"),
                    standard: Some(standard),
                },
            )
            .await;

        let record = |suffix: &str, category: cp::ComplaintCategory| cp::RecordComplaintRequest {
            request_id: format!("complaint-{suffix}-{code}"),
            project_id: project.clone(),
            unit_id: unit.clone(),
            complainant: "Owner 0301".into(),
            complainant_kind: cp::Complainant::Owner as i32,
            channel: cp::ComplaintChannel::Phone as i32,
            category: category as i32,
            severity: cp::Severity::Medium as i32,
            text: "water through the bathroom ceiling".into(),
            contact_phone: "13800138000".into(),
            ..Default::default()
        };
        let quality: cp::RecordComplaintResponse = self
            .admin(
                "complaints",
                "RecordComplaint",
                record("quality", cp::ComplaintCategory::Quality),
            )
            .await;
        let complaint = quality.complaint.expect("complaint").complaint_id;
        self.ids.insert("complaint", complaint.clone());
        let _: cp::AcknowledgeComplaintResponse = self
            .admin(
                "complaints",
                "AcknowledgeComplaint",
                cp::AcknowledgeComplaintRequest {
                    request_id: format!("ack-{code}"),
                    complaint_id: complaint.clone(),
                },
            )
            .await;
        // The coordinator opens the repair and reports it back.
        let linked: cp::GetComplaintResponse = self
            .admin_eventually(
                "complaints",
                "GetComplaint",
                cp::GetComplaintRequest {
                    complaint_id: complaint.clone(),
                },
                |c: &cp::GetComplaintResponse| {
                    c.complaint
                        .as_ref()
                        .is_some_and(|c| !c.repair_request_id.is_empty())
                },
            )
            .await;
        let repair = linked.complaint.expect("complaint").repair_request_id;
        self.ids.insert("complaint_repair", repair.clone());
        let _ = self
            .send::<_, cp::RecordRepairProgressResponse>(
                "complaints",
                "RecordRepairProgress",
                Caller::Coordinator,
                &cp::RecordRepairProgressRequest {
                    request_id: format!("repair-progress-{code}"),
                    complaint_id: complaint.clone(),
                    round: 1,
                    repair_request_id: repair,
                    closed: false,
                    resolution: String::new(),
                },
            )
            .await
            .expect("the coordinator reports the repair");

        let fees: cp::RecordComplaintResponse = self
            .admin(
                "complaints",
                "RecordComplaint",
                record("fees", cp::ComplaintCategory::Fees),
            )
            .await;
        let fees = fees.complaint.expect("complaint").complaint_id;
        self.ids.insert("complaint_fees", fees.clone());
        let _: cp::TakeComplaintResponse = self
            .admin(
                "complaints",
                "TakeComplaint",
                cp::TakeComplaintRequest {
                    request_id: format!("take-{code}"),
                    complaint_id: fees.clone(),
                    assignee: "Cashier Wang".into(),
                },
            )
            .await;
        let _: cp::WaitOnOwnerResponse = self
            .admin(
                "complaints",
                "WaitOnOwner",
                cp::WaitOnOwnerRequest {
                    request_id: format!("wait-{code}"),
                    complaint_id: fees.clone(),
                    reason: "the owner looks for the receipt".into(),
                },
            )
            .await;
        let _: cp::ResumeComplaintResponse = self
            .admin(
                "complaints",
                "ResumeComplaint",
                cp::ResumeComplaintRequest {
                    request_id: format!("resume-{code}"),
                    complaint_id: fees.clone(),
                },
            )
            .await;
        let _: cp::ReassignComplaintResponse = self
            .admin(
                "complaints",
                "ReassignComplaint",
                cp::ReassignComplaintRequest {
                    request_id: format!("reassign-{code}"),
                    complaint_id: fees.clone(),
                    queue: cp::Queue::CustomerService as i32,
                    assignee: "Desk Zhao".into(),
                    reason: "a question about the notice, not a charge".into(),
                },
            )
            .await;
        let _: cp::ResolveComplaintResponse = self
            .admin(
                "complaints",
                "ResolveComplaint",
                cp::ResolveComplaintRequest {
                    request_id: format!("resolve-{code}"),
                    complaint_id: fees.clone(),
                    resolution: "the notice explained line by line".into(),
                },
            )
            .await;
        let _: cp::RecordFollowUpResponse = self
            .admin(
                "complaints",
                "RecordFollowUp",
                cp::RecordFollowUpRequest {
                    request_id: format!("follow-up-{code}"),
                    complaint_id: fees,
                    visited_by: "Desk Zhao".into(),
                    satisfaction: 4,
                    notes: String::new(),
                },
            )
            .await;
        let _: cp::ListComplaintsResponse = self
            .admin(
                "complaints",
                "ListComplaints",
                cp::ListComplaintsRequest {
                    project_id: project.clone(),
                    unit_id: unit,
                    ..Default::default()
                },
            )
            .await;
        let month = (chrono::Utc::now() + chrono::Duration::hours(8))
            .format("%Y-%m")
            .to_string();
        let _: cp::GetComplaintStatisticsResponse = self
            .admin(
                "complaints",
                "GetComplaintStatistics",
                cp::GetComplaintStatisticsRequest {
                    project_id: project,
                    from_month: month.clone(),
                    to_month: month,
                },
            )
            .await;
    }
}
