//! IssueCharge and CancelCharge.

use anju_kit::{
    Principal, ServiceError, ServiceResult, audit::Subject, ids::new_id, validate::Validator,
};
use anju_messaging::{EventMeta, directory};
use anju_proto::{events, finance as pb};
use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    FinanceApi,
    domain::balance::{Direction, Status},
    store::charges::{self, Charge, purpose_name},
    store::settlement,
};

impl FinanceApi {
    pub(crate) async fn issue_charge(
        &self,
        principal: &Principal,
        req: pb::IssueChargeRequest,
    ) -> ServiceResult<pb::IssueChargeResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        // A unit's charge, or a contractor's for a building's common part (no owner, so only
        // the contractor's purposes, receivable, in no settlement group).
        let (unit_id, building_id) = if req.building_id.is_empty() || !req.unit_id.is_empty() {
            v.check(
                req.building_id.is_empty(),
                "building_id",
                "give a unit or a building, not both",
            );
            (Some(v.uuid("unit_id", &req.unit_id)), None)
        } else {
            (None, Some(v.uuid("building_id", &req.building_id)))
        };
        let payer_id = v.text("payer_id", &req.payer_id, 128);
        let purpose = pb::ChargePurpose::try_from(req.purpose)
            .ok()
            .and_then(purpose_name);
        if purpose.is_none() {
            v.violation("purpose", "must name a charge purpose");
        }
        let (amount, currency) = v.money("amount", req.amount.as_ref());
        let business_key = v.text("business_key", &req.business_key, 200);
        let due_at = req.due_at.as_ref().and_then(anju_kit::time::from_timestamp);
        if req.due_at.is_some() && due_at.is_none() {
            v.violation("due_at", "is not a valid timestamp");
        }
        let settlement_group = v.optional_text("settlement_group", &req.settlement_group, 200);
        if settlement_group
            .as_ref()
            .is_some_and(|g| g.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            v.violation(
                "settlement_group",
                "must not contain spaces or control characters",
            );
        }
        let direction = match pb::ChargeDirection::try_from(req.direction) {
            Err(_) => {
                v.violation("direction", "must be receivable or payable");
                Direction::Receivable
            }
            Ok(requested) => purpose.map_or(Direction::Receivable, |purpose| {
                Direction::for_purpose(purpose, requested).unwrap_or_else(|why| {
                    v.violation("direction", why);
                    Direction::Receivable
                })
            }),
        };
        if building_id.is_some() {
            v.check(
                matches!(
                    pb::ChargePurpose::try_from(req.purpose),
                    Ok(pb::ChargePurpose::ContractorChargeback
                        | pb::ChargePurpose::ContractorPenalty)
                ),
                "building_id",
                "a building's common part is charged only a contractor's chargeback or penalty",
            );
            v.check(
                settlement_group.is_none(),
                "settlement_group",
                "a building's charge belongs to no settlement group",
            );
        }
        v.finish()?;
        principal.require_project(project_id)?;
        match unit_id {
            Some(unit_id) => {
                directory::require_unit(&self.pool, principal, project_id, unit_id).await?
            }
            None => directory::require_project(&self.pool, principal, project_id).await?,
        }

        self.commands
            .run(
                principal,
                "IssueCharge",
                &request_id,
                &req,
                async |command| {
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
                        direction,
                        settlement_group,
                        paid_minor: 0,
                        refunded_minor: 0,
                        status: Status::Open,
                        cancelled_at: None,
                        cancel_reason: String::new(),
                        waived_minor: 0,
                        waived_at: None,
                        waive_reason: String::new(),
                        building_id,
                    };
                    let charge = self
                        .issue(command.tx(), principal.tenant_id, charge, &request_id)
                        .await?;
                    let response = pb::IssueChargeResponse {
                        charge: Some(charge.clone().into()),
                    };
                    Ok((response, Subject::new("charge", charge.charge_id)))
                },
            )
            .await
    }

    pub(crate) async fn cancel_charge(
        &self,
        principal: &Principal,
        req: pb::CancelChargeRequest,
    ) -> ServiceResult<pb::CancelChargeResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let charge_id = v.uuid("charge_id", &req.charge_id);
        let reason = v.free_text("reason", &req.reason, 500);
        v.finish()?;

        self.commands
            .run(
                principal,
                "CancelCharge",
                &request_id,
                &req,
                async |command| {
                    let tenant = principal.tenant_id;
                    let scope = principal.project_filter();
                    let mut charge =
                        charges::lock(command.tx(), tenant, charge_id, scope.as_deref()).await?;
                    if charge.status != Status::Cancelled {
                        settlement::refuse_if_closed(command.tx(), tenant, &charge).await?;
                        self.cancel(command.tx(), tenant, &mut charge, &reason, &request_id)
                            .await?;
                        settlement::reconcile(
                            command.tx(),
                            self.commands.outbox(),
                            tenant,
                            &charge,
                            &request_id,
                        )
                        .await?;
                    }
                    let response = pb::CancelChargeResponse {
                        charge: Some(charge.clone().into()),
                    };
                    let subject = Subject::new("charge", charge.charge_id)
                        .with_detail(serde_json::json!({ "cancelled": reason }));
                    Ok((response, subject))
                },
            )
            .await
    }

    /// Issues a new charge: joins its settlement group (refused when closed), inserts it and
    /// publishes `ChargeIssued`, or — its business key billed before — returns the charge as it
    /// now is when the terms are the same (ALREADY_EXISTS when they differ). IssueCharge and the
    /// refund of CloseSettlementGroup both issue through here.
    pub(crate) async fn issue(
        &self,
        conn: &mut PgConnection,
        tenant: Uuid,
        charge: Charge,
        request_id: &str,
    ) -> ServiceResult<Charge> {
        settlement::join(conn, tenant, &charge).await?;
        if charges::insert(conn, tenant, &charge).await? {
            let event = events::ChargeIssued {
                charge_id: charge.charge_id.to_string(),
                project_id: charge.project_id.to_string(),
                unit_id: charge.unit(),
                payer_id: charge.payer_id.clone(),
                purpose: charge.purpose.clone(),
                amount: Some(charge.money(charge.amount_minor)),
                business_key: charge.business_key.clone(),
                settlement_group: charge.settlement_group.clone().unwrap_or_default(),
                direction: charge.direction.as_str().to_string(),
                building_id: charge
                    .building_id
                    .map(|b| b.to_string())
                    .unwrap_or_default(),
            };
            let meta =
                EventMeta::new(tenant, "charge", charge.charge_id).caused_by_request(request_id);
            self.commands
                .outbox()
                .append(&mut *conn, meta, &event)
                .await?;
            settlement::reconcile(conn, self.commands.outbox(), tenant, &charge, request_id)
                .await?;
            return Ok(charge);
        }
        // The business key was billed before (by another request id): same terms is the same
        // charge — whatever has happened to it since, even a cancellation — and different terms
        // is a conflict the caller must resolve.
        let existing = charges::by_business_key(conn, tenant, &charge.business_key)
            .await?
            .ok_or_else(|| ServiceError::Aborted("charge changed concurrently, retry".into()))?;
        if !existing.same_terms(&charge) {
            return Err(ServiceError::AlreadyExists(format!(
                "business_key {} already billed with different terms",
                charge.business_key
            )));
        }
        Ok(existing)
    }

    /// Cancels a locked charge nothing is paid on (net of refunds) and publishes
    /// `ChargeCancelled`; the caller re-counts its settlement group if it should.
    pub(crate) async fn cancel(
        &self,
        conn: &mut PgConnection,
        tenant: Uuid,
        charge: &mut Charge,
        reason: &str,
        request_id: &str,
    ) -> ServiceResult<()> {
        charge.balance().cancel(&charge.currency)?;
        charges::store_cancellation(conn, tenant, charge, reason).await?;
        let event = events::ChargeCancelled {
            charge_id: charge.charge_id.to_string(),
            project_id: charge.project_id.to_string(),
            unit_id: charge.unit(),
            purpose: charge.purpose.clone(),
            amount: Some(charge.money(charge.amount_minor)),
            business_key: charge.business_key.clone(),
            settlement_group: charge.settlement_group.clone().unwrap_or_default(),
            reason: reason.to_string(),
        };
        let meta = EventMeta::new(tenant, "charge", charge.charge_id).caused_by_request(request_id);
        self.commands.outbox().append(conn, meta, &event).await?;
        Ok(())
    }
}
