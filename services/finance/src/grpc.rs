//! The FinanceService API.

use anju_kit::{
    Principal, ServiceError, ServiceResult,
    audit::Subject,
    idempotency::{Claim, Command},
    ids::new_id,
    paging::Page,
    validate::Validator,
};
use anju_messaging::{EventMeta, Outbox, host::Platform};
use anju_proto::{events, finance as pb, finance::finance_service_server::FinanceService};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::charges::{self, Charge, purpose_name};

#[derive(Clone)]
pub struct FinanceApi {
    pool: PgPool,
    outbox: Outbox,
}

impl FinanceApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
            outbox: platform.outbox.clone(),
        }
    }

    async fn issue_charge(&self, principal: &Principal, req: pb::IssueChargeRequest) -> ServiceResult<pb::IssueChargeResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        let payer_id = v.text("payer_id", &req.payer_id, 128);
        let purpose = pb::ChargePurpose::try_from(req.purpose).ok().and_then(purpose_name);
        if purpose.is_none() {
            v.violation("purpose", "must name a charge purpose");
        }
        let (amount, currency) = v.money("amount", req.amount.as_ref());
        let business_key = v.text("business_key", &req.business_key, 200);
        let due_at = req.due_at.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32));
        if req.due_at.is_some() && due_at.is_none() {
            v.violation("due_at", "is not a valid timestamp");
        }
        v.finish()?;
        principal.require_project(project_id)?;

        let mut command = match Command::begin(&self.pool, principal, "IssueCharge", &request_id, &req).await? {
            Claim::Replay(response) => return Ok(response),
            Claim::Fresh(command) => command,
        };
        let charge = Charge {
            charge_id: new_id(),
            project_id,
            unit_id,
            payer_id,
            purpose: purpose.unwrap_or_default().to_string(),
            amount_minor: amount,
            currency,
            business_key,
            due_at,
            created_at: Utc::now(),
        };
        let charge = if charges::insert(command.tx(), principal.tenant_id, &charge).await? {
            let event = events::ChargeIssued {
                charge_id: charge.charge_id.to_string(),
                project_id: charge.project_id.to_string(),
                unit_id: charge.unit_id.to_string(),
                payer_id: charge.payer_id.clone(),
                purpose: charge.purpose.clone(),
                amount: req.amount.clone(),
                business_key: charge.business_key.clone(),
            };
            let meta = EventMeta::new(principal.tenant_id, "charge", charge.charge_id).caused_by_request(&request_id);
            self.outbox.append(command.tx(), meta, &event).await?;
            charge
        } else {
            // The business key was billed before (by another request id): same terms is the
            // same charge; different terms is a conflict the caller must resolve.
            let existing = charges::by_business_key(command.tx(), principal.tenant_id, &charge.business_key)
                .await?
                .ok_or_else(|| ServiceError::Aborted("charge changed concurrently, retry".into()))?;
            if !existing.same_terms(&charge) {
                return Err(ServiceError::AlreadyExists(format!(
                    "business_key {} already billed with different terms",
                    charge.business_key
                )));
            }
            existing
        };
        let response = pb::IssueChargeResponse {
            charge: Some(charge.clone().into()),
        };
        command.commit(&response, Subject::new("charge", charge.charge_id)).await?;
        Ok(response)
    }
}

#[tonic::async_trait]
impl FinanceService for FinanceApi {
    async fn issue_charge(&self, request: Request<pb::IssueChargeRequest>) -> Result<Response<pb::IssueChargeResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(self.issue_charge(&principal, request.into_inner()).await?))
    }

    async fn get_charge(&self, request: Request<pb::GetChargeRequest>) -> Result<Response<pb::GetChargeResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let charge_id = v.uuid("charge_id", &request.get_ref().charge_id);
        v.finish()?;
        let charge = charges::get(&self.pool, principal.tenant_id, charge_id).await?;
        if !principal.can_see_project(charge.project_id) {
            return Err(ServiceError::not_found("charge").into());
        }
        Ok(Response::new(pb::GetChargeResponse {
            charge: Some(charge.into()),
        }))
    }

    async fn list_charges(&self, request: Request<pb::ListChargesRequest>) -> Result<Response<pb::ListChargesResponse>, Status> {
        let principal = Principal::of(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let unit_id = v.uuid("unit_id", &req.unit_id);
        v.finish()?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (charges, next_page_token) =
            charges::of_unit(&self.pool, principal.tenant_id, unit_id, principal.project_filter(), page).await?;
        Ok(Response::new(pb::ListChargesResponse {
            charges: charges.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }
}
