//! A complaint at the desk (DOMAIN.md §4): recorded about a unit, acknowledged, resolved (or,
//! routed to maintenance, resolved by its repair's sign-off) and followed up.

use anju_proto::complaints::{self as cp, Complaint};
use tonic::Status;

use super::Journey;

impl Journey {
    /// An owner's complaint about `unit_id`, recorded by the desk.
    pub async fn complain(
        &self,
        step: &str,
        unit_id: &str,
        category: cp::ComplaintCategory,
        severity: cp::Severity,
        text: &str,
    ) -> anyhow::Result<Result<Complaint, Status>> {
        let request = cp::RecordComplaintRequest {
            request_id: self.request_id(&format!("complaint-{step}")),
            project_id: self.project_id.clone(),
            unit_id: unit_id.into(),
            complainant: "Owner".into(),
            complainant_kind: cp::Complainant::Owner as i32,
            channel: cp::ComplaintChannel::Phone as i32,
            category: category as i32,
            severity: severity as i32,
            text: text.into(),
            ..Default::default()
        };
        Ok(self
            .answer("a complaint recorded", || {
                let mut desk = self.staff.complaints_desk.clone();
                let request = request.clone();
                async move { desk.record_complaint(request).await }
            })
            .await?
            .map(|r| r.complaint.unwrap_or_default()))
    }

    pub async fn complaint(&self, complaint_id: &str) -> anyhow::Result<Complaint> {
        let request = cp::GetComplaintRequest {
            complaint_id: complaint_id.into(),
        };
        Ok(self
            .call("the complaint", || {
                let mut desk = self.staff.complaints_desk.clone();
                let request = request.clone();
                async move { desk.get_complaint(request).await }
            })
            .await?
            .complaint
            .unwrap_or_default())
    }

    /// Waits until the complaint is as `done` wants it.
    pub async fn wait_complaint(
        &self,
        complaint_id: &str,
        what: &str,
        done: impl Fn(&Complaint) -> bool,
    ) -> anyhow::Result<Complaint> {
        self.eventually(what, || async {
            let c = self.complaint(complaint_id).await?;
            Ok(done(&c).then_some(c))
        })
        .await
    }

    pub async fn acknowledge(
        &self,
        complaint_id: &str,
    ) -> anyhow::Result<Result<Complaint, Status>> {
        let request = cp::AcknowledgeComplaintRequest {
            request_id: self.request_id(&format!("ack-{complaint_id}")),
            complaint_id: complaint_id.into(),
        };
        Ok(self
            .answer("the complaint acknowledged", || {
                let mut desk = self.staff.complaints_desk.clone();
                let request = request.clone();
                async move { desk.acknowledge_complaint(request).await }
            })
            .await?
            .map(|r| r.complaint.unwrap_or_default()))
    }

    /// The follow-up visit of the complaint's current round, with the owner's score.
    pub async fn follow_up(
        &self,
        complaint_id: &str,
        round: i32,
        satisfaction: i32,
    ) -> anyhow::Result<Result<Complaint, Status>> {
        let request = cp::RecordFollowUpRequest {
            request_id: self.request_id(&format!("follow-up-{complaint_id}-{round}")),
            complaint_id: complaint_id.into(),
            visited_by: "desk.zheng".into(),
            satisfaction,
            notes: String::new(),
        };
        Ok(self
            .answer("the follow-up visit", || {
                let mut desk = self.staff.complaints_desk.clone();
                let request = request.clone();
                async move { desk.record_follow_up(request).await }
            })
            .await?
            .map(|r| r.complaint.unwrap_or_default()))
    }

    /// The complaint routed to maintenance: the repair the coordinator opened for its current
    /// round, done and signed off by its four parties.
    pub async fn complaint_repaired(
        &self,
        complaint_id: &str,
        round: i32,
        resolution: &str,
    ) -> anyhow::Result<Complaint> {
        let linked = self
            .wait_complaint(complaint_id, "the complaint's repair opened", |c| {
                c.round == round && !c.repair_request_id.is_empty()
            })
            .await?;
        self.repaired(&linked.repair_request_id, resolution).await?;
        self.wait_complaint(complaint_id, "the complaint resolved by its repair", |c| {
            c.round == round && c.status == cp::ComplaintStatus::Resolved as i32
        })
        .await
    }
}
