//! The charges a repair raises (DOMAIN.md §3.5-3.6) — at its close, and on an owner's claim —
//! recorded once each and published for the coordinator to book in finance; and the owner's
//! claims themselves.

use anju_kit::{
    Principal, Refusal, Role, ServiceError, ServiceResult, audit::Subject, ids::new_id,
    time::ProjectZone, validate::Validator,
};
use anju_proto::{events, maintenance as pb};
use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    MaintenanceApi,
    orders::{self, Origin},
};
use crate::{
    domain::{
        charges::{self, Charge},
        warranty::Payer,
    },
    store::{self, RepairRequest, costs, map},
};

/// Who answers for a repair's defect: the map's responsible contractor, else the one the order
/// was escalated from or is with; with its retention left and whether it was released.
async fn responsible(
    conn: &mut PgConnection,
    r: &RepairRequest,
) -> ServiceResult<Option<(Uuid, i64, bool)>> {
    // The map's entry locked: two repairs closing at once must not both take the same retention.
    let entry = match (r.building_id, r.component.as_deref()) {
        (Some(building), Some(component)) => {
            map::of_for_update(&mut *conn, r.tenant_id, building, component).await?
        }
        _ => None,
    };
    let Some(contractor) = entry
        .as_ref()
        .map(|e| e.contractor_id)
        .or(r.escalated_from)
        .or(r.contractor_id)
    else {
        return Ok(None);
    };
    let retention = entry.as_ref().filter(|e| e.contractor_id == contractor);
    let released = match (retention, r.building_id) {
        (Some(e), Some(building)) => map::building_warranty(&mut *conn, r.tenant_id, building)
            .await?
            .and_then(|(accepted, _)| {
                accepted.checked_add_months(chrono::Months::new(12 * e.liability_years as u32))
            })
            .is_some_and(|until| ProjectZone::or_default("").today() > until),
        _ => false,
    };
    Ok(Some((
        contractor,
        retention.map_or(0, |e| e.retention_left),
        released,
    )))
}

/// Records `list` against `contractor` and publishes each new one as `ContractorCharged`.
async fn book(
    conn: &mut PgConnection,
    origin: &Origin<'_>,
    r: &RepairRequest,
    contractor: Option<Uuid>,
    currency: &str,
    list: &[Charge],
) -> ServiceResult<()> {
    for charge in list {
        // A common part has no owner to pay or bill: only what the contractor owes is raised,
        // and finance keeps it on the building.
        if r.unit_id.is_none() && charges::to_owner(charge.purpose) {
            continue;
        }
        let payer_id = if charges::to_owner(charge.purpose) {
            if r.customer_id.is_empty() {
                format!("owner:{}", r.unit_id.unwrap_or_default())
            } else {
                r.customer_id.clone()
            }
        } else {
            contractor.map(|c| c.to_string()).unwrap_or_default()
        };
        let row = costs::ContractorCharge {
            charge_id: new_id(),
            tenant_id: r.tenant_id,
            project_id: r.project_id,
            repair_request_id: r.repair_request_id,
            building_id: r.building_id,
            component: r.component.clone(),
            contractor_id: contractor,
            payer_id: payer_id.clone(),
            purpose: charge.purpose.into(),
            amount_minor: charge.amount,
            currency: currency.into(),
            from_retention_minor: charge.from_retention,
            claim_minor: charge.claim,
            created_at: Utc::now(),
            round: r.round,
        };
        if !costs::charge(conn, &row).await? {
            continue;
        }
        // A unit's repair is charged on the unit; a common part's on its building.
        let event = events::ContractorCharged {
            charge_id: row.charge_id.to_string(),
            repair_request_id: r.repair_request_id.to_string(),
            project_id: r.project_id.to_string(),
            unit_id: r.unit_id.map(|u| u.to_string()).unwrap_or_default(),
            building_id: match r.unit_id {
                Some(_) => String::new(),
                None => r.building_id.map(|b| b.to_string()).unwrap_or_default(),
            },
            payer_id,
            purpose: charge.purpose.into(),
            amount_minor: charge.amount,
            currency: currency.into(),
            from_retention_minor: charge.from_retention,
            claim_minor: charge.claim,
            contractor_id: contractor.map(|c| c.to_string()).unwrap_or_default(),
        };
        let meta = anju_messaging::EventMeta::new(r.tenant_id, "contractor_charge", row.charge_id);
        let meta = match &origin.cause {
            Some(c) => meta.caused_by_request(c),
            None => meta,
        };
        origin.outbox.append(conn, meta, &event).await?;
    }
    Ok(())
}

/// The charges a closing repair raises: the vendor's cost charged back after an escalation,
/// the owner's compensation for a contractor's defect and its recovery; or, outside every
/// warranty or caused by the owner, the bill to the owner.
pub(super) async fn on_close(
    conn: &mut PgConnection,
    origin: &Origin<'_>,
    r: &RepairRequest,
) -> ServiceResult<()> {
    // This round's costs: a reopened repair's second round is charged on its own.
    let lines = costs::of_round(&mut *conn, r.repair_request_id, r.round).await?;
    let cost: i64 = lines.iter().map(|l| l.amount_minor).sum();
    let Some(currency) = lines.first().map(|l| l.currency.clone()) else {
        return Ok(());
    };
    let answering = responsible(conn, r).await?;
    let closing = charges::Closing {
        payer: r.payer(),
        escalated: answering.is_some_and(|(c, _, _)| r.escalated_from == Some(c)),
        cost,
        retention_left: answering.map_or(0, |(_, left, _)| left),
        retention_released: answering.is_some_and(|(_, _, released)| released),
        owned: r.unit_id.is_some(),
    };
    let list = charges::on_close(&closing);
    // Charges against a contractor need one; a bill to the owner does not.
    if answering.is_none() && list.iter().any(|c| !charges::to_owner(c.purpose)) {
        return Ok(());
    }
    let contractor = answering.map(|(c, _, _)| c);
    book(conn, origin, r, contractor, &currency, &list).await
}

impl From<store::costs::OwnerClaim> for pb::OwnerClaim {
    fn from(c: store::costs::OwnerClaim) -> Self {
        pb::OwnerClaim {
            repair_request_id: c.repair_request_id.to_string(),
            contractor_id: c.contractor_id.to_string(),
            amount: Some(anju_proto::common::Money {
                minor_units: c.amount_minor,
                currency: c.currency,
            }),
            description: c.description,
            state: c.state,
            reason: c.reason.unwrap_or_default(),
        }
    }
}

impl MaintenanceApi {
    pub(crate) async fn record_owner_claim(
        &self,
        principal: &Principal,
        req: pb::RecordOwnerClaimRequest,
    ) -> ServiceResult<pb::RecordOwnerClaimResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        let (amount, currency) = v.money("amount", req.amount.as_ref());
        let description = v.free_text("description", &req.description, 2000);
        v.finish()?;
        let outbox = self.outbox.clone();
        self.commands
            .run(
                principal,
                "RecordOwnerClaim",
                &request_id,
                &req,
                async |cmd| {
                    let r = store::visible_for_update(cmd.conn(), principal, id).await?;
                    if r.payer() != Some(Payer::Contractor) {
                        return Err(Refusal::new(
                            "NOT_CONTRACTORS_DEFECT",
                            "the contractor's warranty does not cover this repair",
                        )
                        .with("repair_request_id", id)
                        .into());
                    }
                    let Some((contractor, _, _)) = responsible(cmd.conn(), &r).await? else {
                        return Err(Refusal::new(
                            "NOT_CONTRACTORS_DEFECT",
                            "no contractor answers for this repair",
                        )
                        .with("repair_request_id", id)
                        .into());
                    };
                    let claim = store::costs::OwnerClaim {
                        repair_request_id: id,
                        tenant_id: principal.tenant_id,
                        contractor_id: contractor,
                        amount_minor: amount,
                        currency,
                        description,
                        state: "open".into(),
                        reason: None,
                    };
                    if !store::costs::claim(cmd.conn(), &claim).await? {
                        return Err(
                            Refusal::new("CLAIM_EXISTS", "the repair already has a claim")
                                .with("repair_request_id", id)
                                .into(),
                        );
                    }
                    let origin = Origin {
                        outbox: &outbox,
                        tenant: principal.tenant_id,
                        cause: Some(request_id.clone()),
                    };
                    let item =
                        orders::item(&r, contractor, "owner_claim", &claim.description, None);
                    origin.feed(cmd.conn(), contractor, item).await?;
                    Ok((
                        pb::RecordOwnerClaimResponse {
                            claim: Some(claim.into()),
                        },
                        Subject::new("repair_request", id),
                    ))
                },
            )
            .await
    }

    pub(crate) async fn answer_owner_claim(
        &self,
        principal: &Principal,
        req: pb::AnswerOwnerClaimRequest,
    ) -> ServiceResult<pb::AnswerOwnerClaimResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        let reason = v.optional_free_text("reason", &req.reason, 500);
        if !req.accept && reason.is_none() {
            v.violation("reason", "is required to refuse a claim");
        }
        v.finish()?;
        let outbox = self.outbox.clone();
        self.commands
            .run(
                principal,
                "AnswerOwnerClaim",
                &request_id,
                &req,
                async |cmd| {
                    // The repair as the tenant's staff see it: a claim may be against a contractor
                    // the order is no longer with (the one it was escalated from).
                    let staff = Principal {
                        contractor_id: None,
                        roles: vec![Role::MaintenanceDispatcher],
                        ..principal.clone()
                    };
                    // One answer for "no such repair" and "not your claim": a contractor learns
                    // nothing of the tenant's other repairs.
                    let r = store::visible_for_update(cmd.conn(), &staff, id)
                        .await
                        .map_err(|e| match e {
                            ServiceError::NotFound(_) => ServiceError::not_found("owner claim"),
                            other => other,
                        })?;
                    let claim = store::costs::claim_for_update(cmd.conn(), id)
                        .await?
                        .filter(|c| {
                            principal
                                .contractor_id
                                .is_none_or(|own| own == c.contractor_id)
                        })
                        .ok_or_else(|| ServiceError::not_found("owner claim"))?;
                    if claim.state != "open" {
                        return Err(Refusal::new(
                            "CLAIM_ANSWERED",
                            "the claim is already answered",
                        )
                        .with("state", &claim.state)
                        .into());
                    }
                    let (_, retention_left, released) = responsible(cmd.conn(), &r)
                        .await?
                        .unwrap_or((claim.contractor_id, 0, false));
                    let list = charges::on_claim(
                        claim.amount_minor,
                        !req.accept,
                        retention_left,
                        released,
                    )
                    .ok_or_else(|| ServiceError::invalid("amount", "is too large"))?;
                    let state = if req.accept { "accepted" } else { "refused" };
                    let answered =
                        store::costs::answer_claim(cmd.conn(), id, state, reason.as_deref())
                            .await?;
                    let origin = Origin {
                        outbox: &outbox,
                        tenant: principal.tenant_id,
                        cause: Some(request_id.clone()),
                    };
                    book(
                        cmd.conn(),
                        &origin,
                        &r,
                        Some(claim.contractor_id),
                        &claim.currency,
                        &list,
                    )
                    .await?;
                    let subject = Subject::new("repair_request", id)
                        .with_detail(serde_json::json!({ "claim": state, "reason": reason }));
                    Ok((
                        pb::AnswerOwnerClaimResponse {
                            claim: Some(answered.into()),
                        },
                        subject,
                    ))
                },
            )
            .await
    }
}
