//! A repair from the contractor's report to the four sign-offs that close its request
//! (DOMAIN.md §3.7): what the move-in flow's re-inspection waits for.

use anju_proto::maintenance::{self as mt, SignOffParty};
use tonic::Status;

use super::Journey;

impl Journey {
    /// The work on repair request `order` reported done (by the dispatcher, for the
    /// contractor): the request waits for its sign-offs.
    pub async fn work_done(
        &self,
        order: &str,
        resolution: &str,
    ) -> anyhow::Result<Result<mt::RepairRequest, Status>> {
        let request = mt::CompleteWorkOrderRequest {
            request_id: self.request_id(&format!("complete-{order}")),
            repair_request_id: order.into(),
            resolution: resolution.into(),
            ..Default::default()
        };
        Ok(self
            .answer("the work reported done", || {
                let mut dispatcher = self.staff.dispatcher.clone();
                let request = request.clone();
                async move { dispatcher.complete_work_order(request).await }
            })
            .await?
            .map(|r| r.repair_request.unwrap_or_default()))
    }

    /// `party`'s sign-off of repair request `order`, by the staff who give it.
    pub async fn sign_off(
        &self,
        order: &str,
        party: SignOffParty,
    ) -> anyhow::Result<Result<mt::RepairRequest, Status>> {
        let client = match party {
            SignOffParty::Owner => &self.staff.owner_desk,
            SignOffParty::SupervisingEngineer => &self.staff.engineer,
            SignOffParty::ProjectDepartment => &self.staff.project_department,
            _ => &self.staff.dispatcher,
        };
        let request = mt::SignOffRepairRequest {
            request_id: self.request_id(&format!("sign-off-{order}-{}", party.as_str_name())),
            repair_request_id: order.into(),
            party: party as i32,
            signed_by: format!("{} signature", party.as_str_name().to_lowercase()),
        };
        Ok(self
            .answer("a sign-off", || {
                let mut client = client.clone();
                let request = request.clone();
                async move { client.sign_off_repair(request).await }
            })
            .await?
            .map(|r| r.repair_request.unwrap_or_default()))
    }

    /// The four parties of DOMAIN.md §3.7, in the order they sign in the journey.
    pub const SIGN_OFF_PARTIES: [SignOffParty; 4] = [
        SignOffParty::Maintenance,
        SignOffParty::Owner,
        SignOffParty::SupervisingEngineer,
        SignOffParty::ProjectDepartment,
    ];

    /// Repair request `order` done and signed off by all four parties: it closes.
    pub async fn repaired(
        &self,
        order: &str,
        resolution: &str,
    ) -> anyhow::Result<mt::RepairRequest> {
        self.work_done(order, resolution).await??;
        let mut last = None;
        for party in Self::SIGN_OFF_PARTIES {
            last = Some(self.sign_off(order, party).await??);
        }
        last.ok_or_else(|| anyhow::anyhow!("no sign-off"))
    }
}
