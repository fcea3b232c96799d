//! A repair's close: the four parties' sign-offs — the fourth closes the request and raises
//! its charges — and the follow-up visit whose unsatisfied score reopens it.

use anju_kit::{Principal, Role, ServiceError, ServiceResult, audit::Subject, validate::Validator};
use anju_proto::{events, maintenance as pb};
use chrono::Utc;

use super::{
    MaintenanceApi,
    orders::{self, Cause, Origin},
    wire,
};
use crate::{
    domain,
    store::{self, RepairRequest},
};

impl MaintenanceApi {
    pub(crate) async fn sign_off_repair(
        &self,
        principal: &Principal,
        req: pb::SignOffRepairRequest,
    ) -> ServiceResult<pb::SignOffRepairResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        let party = pb::SignOffParty::try_from(req.party)
            .ok()
            .and_then(domain::party_name);
        if party.is_none() {
            v.violation("party", "must name the party signing off");
        }
        let signed_by = v.text("signed_by", &req.signed_by, 100);
        v.finish()?;
        let party = party.unwrap_or_default();
        // Each party signs with its own role; the tenant's administrator may sign for any.
        let role = domain::signer(party).expect("a named party has a role");
        if !principal.has(role) && !principal.has(Role::Admin) {
            return Err(ServiceError::PermissionDenied(format!(
                "the {party} sign-off is given by the {role} role"
            )));
        }
        let outbox = self.outbox.clone();
        self.commands
            .run(principal, "SignOffRepair", &request_id, &req, async |cmd| {
                let completed = store::visible_for_update(cmd.conn(), principal, id).await?;
                domain::may_sign_off(id, &completed.status)?;
                let signed =
                    store::sign_off(cmd.conn(), id, completed.round, party, &signed_by).await?;
                let now = if domain::signed_off(&signed) {
                    let closed = store::close(cmd.conn(), id).await?;
                    let event = events::RepairRequestClosed {
                        repair_request_id: id.to_string(),
                        project_id: closed.project_id.to_string(),
                        unit_id: closed.unit_id.map(|u| u.to_string()).unwrap_or_default(),
                        source: closed.source.clone(),
                        reference: closed.reference.clone(),
                        contractor_id: closed
                            .contractor_id
                            .map(|c| c.to_string())
                            .unwrap_or_default(),
                        resolution: closed.resolution.clone().unwrap_or_default(),
                    };
                    cmd.emit(cmd.event("repair_request", id), &event).await?;
                    let origin = Origin {
                        outbox: &outbox,
                        tenant: principal.tenant_id,
                        cause: Some(request_id.clone()),
                    };
                    super::charges::on_close(cmd.conn(), &origin, &closed).await?;
                    if let Some(contractor) = closed.contractor_id {
                        let item = orders::item(&closed, contractor, "signed_off", "", None);
                        origin.feed(cmd.conn(), contractor, item).await?;
                    }
                    closed
                } else {
                    completed
                };
                let response = pb::SignOffRepairResponse {
                    repair_request: Some(wire::one(cmd.conn(), now).await?),
                };
                let subject = Subject::new("repair_request", id)
                    .with_detail(serde_json::json!({ "party": party, "signed_by": signed_by }));
                Ok((response, subject))
            })
            .await
    }

    pub(crate) async fn record_repair_follow_up(
        &self,
        principal: &Principal,
        req: pb::RecordRepairFollowUpRequest,
    ) -> ServiceResult<pb::RecordRepairFollowUpResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        let visitor = v.text("visitor", &req.visitor, 100);
        v.range("satisfaction", req.satisfaction, 1, 5);
        let comment = v
            .optional_free_text("comment", &req.comment, 2000)
            .unwrap_or_default();
        v.finish()?;
        let outbox = self.outbox.clone();
        self.commands
            .run(
                principal,
                "RecordRepairFollowUp",
                &request_id,
                &req,
                async |cmd| {
                    let closed = store::visible_for_update(cmd.conn(), principal, id).await?;
                    domain::may_follow_up(id, &closed.status)?;
                    if !store::follow_up(cmd.conn(), &closed, req.satisfaction, &visitor, &comment)
                        .await?
                    {
                        return Err(domain::followed_up(closed.round).into());
                    }
                    let reopened = domain::reopens(req.satisfaction);
                    let now = if reopened {
                        let mut open = store::reopen(cmd.conn(), id).await?;
                        let origin = Origin {
                            outbox: &outbox,
                            tenant: principal.tenant_id,
                            cause: Some(request_id.clone()),
                        };
                        // Back to the contractor that did the work, with new clocks.
                        let to = open.contractor_id;
                        orders::assign(
                            cmd.conn(),
                            &origin,
                            &mut open,
                            to,
                            Cause::Reopen,
                            &format!("the owner scored the follow-up {}/5", req.satisfaction),
                            Utc::now(),
                        )
                        .await?;
                        open
                    } else {
                        RepairRequest {
                            follow_up_score: Some(req.satisfaction),
                            ..closed
                        }
                    };
                    let subject = Subject::new("repair_request", id).with_detail(
                        serde_json::json!({ "satisfaction": req.satisfaction, "visitor": visitor }),
                    );
                    Ok((
                        pb::RecordRepairFollowUpResponse {
                            repair_request: Some(wire::one(cmd.conn(), now).await?),
                            reopened,
                        },
                        subject,
                    ))
                },
            )
            .await
    }
}
