//! CloseSettlementGroup: a saga's compensation ends a settlement group.
//!
//! In one transaction, under the locks of every charge of the group and then the group's row
//! (the lock order of [`crate::commands`]):
//! - an open charge with nothing paid net of refunds is cancelled with the reason, as
//!   CancelCharge does (`ChargeCancelled`);
//! - a partly paid charge has its unpaid rest waived: its amount is lowered to what is paid
//!   net of refunds and it is settled, the waived amount and reason recorded on it. Lowering
//!   the amount (rather than a new status) keeps every balance check of `charges` as it is,
//!   and the charge's `amount + waived` still shows what was billed;
//! - a fully paid (or already cancelled) charge is left as it is;
//! - `refund_bp` basis points of the total paid net of refunds, rounded down, is owed back: a
//!   payable charge of purpose `refund`, business key and settlement group
//!   `"<group>:refund"`, issued through IssueCharge's path (`ChargeIssued`), due now, for the
//!   group's project, unit and currency and the payer who paid;
//! - the group is marked closed with those figures and `SettlementGroupClosed` is published.
//!   Closing cancels and waives without re-counting the group, so a close never publishes
//!   `SettlementGroupSettled`, and a closed group never does again.
//!
//! Closing a closed group answers with its stored figures and changes nothing; a group the
//! caller cannot see (unknown, another tenant's, outside the caller's projects) answers
//! `existed = false` and changes nothing.
//!
//! Payables are cancelled and waived as receivables are, but a refund is money the payer
//! paid coming back: a group of payables (money the developer paid out) closed with a refund
//! owed is refused (FAILED_PRECONDITION, nothing written), as is a refund owed by a group paid
//! by more than one payer, where one refund charge cannot say whom it is owed to.

use anju_kit::{
    Principal, ServiceError, ServiceResult, audit::Subject, ids::new_id, validate::Validator,
};
use anju_messaging::EventMeta;
use anju_proto::{common, events, finance as pb};
use chrono::{SubsecRound, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    FinanceApi,
    domain::balance::{Direction, Status, refund_interest, refund_share},
    store::charges::{self, Charge},
    store::settlement::{self, Closing, Record},
};

impl FinanceApi {
    pub(crate) async fn close_settlement_group(
        &self,
        principal: &Principal,
        req: pb::CloseSettlementGroupRequest,
    ) -> ServiceResult<pb::CloseSettlementGroupResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let name = v.text("settlement_group", &req.settlement_group, 200);
        let refund_bp = v.range("refund_bp", req.refund_bp, 0, 10_000);
        let interest_bp = v.range("interest_bp", req.interest_bp, 0, 2_400);
        let reason = v.free_text("reason", &req.reason, 1000);
        v.finish()?;

        self.commands.run(principal, "CloseSettlementGroup", &request_id, &req, async |command| {
        let tenant = principal.tenant_id;
        // A closed group stays closed, so its stored figures answer without any lock.
        let found = settlement::record(command.tx(), tenant, &name, false)
            .await?
            .filter(|group| principal.can_see_project(group.project_id));
        let (response, effect) = match found {
            None => (unknown(&name), "unknown"),
            Some(group) if group.closed_at.is_some() => {
                (stored_answer(&name, &group), "already closed")
            }
            Some(_) => {
                let closing = Closing {
                    reason: reason.clone(),
                    refund_bp,
                    interest_bp,
                    ..Closing::default()
                };
                self.close(command.tx(), tenant, &name, closing, &request_id)
                    .await?
            }
        };
        let subject = Subject::new("settlement_group", &name).with_detail(serde_json::json!({
            "effect": effect,
            "refund_bp": refund_bp,
            "interest_bp": interest_bp,
            "reason": reason,
            "cancelled_charge_ids": response.cancelled_charge_ids,
            "waived_minor": response.waived.as_ref().map(|m| m.minor_units),
            "paid_minor": response.paid.as_ref().map(|m| m.minor_units),
            "refund_owed_minor": response.refund_owed.as_ref().map(|m| m.minor_units),
            "refund_charge_id": response.refund_charge_id,
        }));
        Ok((response, subject))
}).await
    }

    /// Closes an open group the caller sees; returns the answer and what it did.
    async fn close(
        &self,
        conn: &mut PgConnection,
        tenant: Uuid,
        name: &str,
        mut closing: Closing,
        request_id: &str,
    ) -> ServiceResult<(pb::CloseSettlementGroupResponse, &'static str)> {
        let mut charges = charges::lock_group(conn, tenant, name).await?;
        let group = settlement::record(conn, tenant, name, true)
            .await?
            .ok_or_else(|| {
                ServiceError::Unexpected(anyhow::anyhow!("settlement group {name} has no row"))
            })?;
        if group.closed_at.is_some() {
            // A concurrent close committed while this one waited for the locks.
            return Ok((stored_answer(name, &group), "already closed"));
        }
        // Holding the group's row, no charge can join it any more; one that joined while the
        // charges were being locked would escape the close, so the caller retries instead.
        let locked: Vec<Uuid> = charges.iter().map(|c| c.charge_id).collect();
        let joined = settlement::joined_besides(&mut *conn, tenant, name, &locked).await?;
        if joined > 0 {
            return Err(ServiceError::Aborted(format!(
                "a charge joined settlement group {name} while it was being closed, retry"
            )));
        }

        charges.sort_by_key(|c| (c.created_at, c.charge_id));
        let mut payers: Vec<&str> = Vec::new();
        for charge in &mut charges {
            let net = charge.balance().net_paid();
            closing.paid_minor = closing
                .paid_minor
                .checked_add(net)
                .ok_or_else(|| ServiceError::Unexpected(anyhow::anyhow!("paid total overflows")))?;
            match charge.status {
                Status::Open if net == 0 => {
                    self.cancel(conn, tenant, charge, &closing.reason, request_id)
                        .await?;
                    closing.cancelled_ids.push(charge.charge_id);
                }
                Status::Open => {
                    let waived = charges::store_waiver(conn, tenant, charge, &closing.reason)
                        .await?
                        .unwrap_or_default();
                    closing.waived_minor += waived;
                }
                Status::Settled | Status::Cancelled => {}
            }
        }
        for charge in charges.iter().filter(|c| c.balance().net_paid() > 0) {
            if !payers.contains(&charge.payer_id.as_str()) {
                payers.push(&charge.payer_id);
            }
        }

        closing.refund_owed_minor = refund_share(closing.paid_minor, closing.refund_bp);
        if closing.interest_bp > 0 && closing.refund_bp > 0 {
            let held = settlement::payments_held(&mut *conn, tenant, name).await?;
            closing.interest_minor = refund_interest(&held, closing.refund_bp, closing.interest_bp);
            closing.refund_owed_minor += closing.interest_minor;
        }
        if closing.refund_owed_minor > 0 {
            if group.direction != Direction::Receivable.as_str() {
                return Err(ServiceError::precondition(
                    "GROUP_HOLDS_PAYABLES",
                    format!(
                        "settlement group {name} holds payables: what the developer paid out is not refunded to the payee; close it with refund_bp 0"
                    ),
                ));
            }
            let [payer] = payers.as_slice() else {
                return Err(ServiceError::precondition(
                    "GROUP_PAID_BY_MANY",
                    format!(
                        "settlement group {name} was paid by {} payers ({}): one refund cannot say whom it is owed to",
                        payers.len(),
                        payers.join(", ")
                    ),
                ));
            };
            let refund_group = format!("{name}:refund");
            let now = Utc::now().trunc_subsecs(6);
            let refund = Charge {
                charge_id: new_id(),
                project_id: group.project_id,
                unit_id: Some(group.unit_id),
                payer_id: payer.to_string(),
                purpose: "refund".to_string(),
                amount_minor: closing.refund_owed_minor,
                currency: group.currency.clone(),
                business_key: refund_group.clone(),
                due_at: Some(now),
                created_at: now,
                direction: Direction::Payable,
                settlement_group: Some(refund_group),
                paid_minor: 0,
                refunded_minor: 0,
                status: Status::Open,
                cancelled_at: None,
                cancel_reason: String::new(),
                waived_minor: 0,
                waived_at: None,
                waive_reason: String::new(),
                building_id: None,
            };
            let refund = self.issue(conn, tenant, refund, request_id).await?;
            closing.refund_charge_id = Some(refund.charge_id);
        }

        settlement::store_closing(conn, tenant, name, &closing).await?;
        let money = |minor_units| {
            Some(common::Money {
                minor_units,
                currency: group.currency.clone(),
            })
        };
        let event = events::SettlementGroupClosed {
            settlement_group: name.to_string(),
            project_id: group.project_id.to_string(),
            unit_id: group.unit_id.to_string(),
            waived: money(closing.waived_minor),
            paid: money(closing.paid_minor),
            refund_owed: money(closing.refund_owed_minor),
            interest: money(closing.interest_minor),
            refund_charge_id: closing
                .refund_charge_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            cancelled_charge_ids: closing.cancelled_ids.iter().map(Uuid::to_string).collect(),
        };
        let meta = EventMeta::new(tenant, "settlement_group", group.group_id)
            .caused_by_request(request_id);
        self.commands.outbox().append(conn, meta, &event).await?;
        tracing::info!(
            settlement_group = %name,
            cancelled = closing.cancelled_ids.len(),
            waived = closing.waived_minor,
            paid = closing.paid_minor,
            refund_owed = closing.refund_owed_minor,
            "settlement group closed"
        );
        let stored = Record {
            closed_at: Some(Utc::now()),
            closed_cancelled_ids: closing.cancelled_ids,
            closed_waived_minor: closing.waived_minor,
            closed_paid_minor: closing.paid_minor,
            closed_refund_owed_minor: closing.refund_owed_minor,
            closed_interest_minor: closing.interest_minor,
            refund_charge_id: closing.refund_charge_id,
            ..group
        };
        Ok((stored_answer(name, &stored), "closed"))
    }
}

fn unknown(name: &str) -> pb::CloseSettlementGroupResponse {
    pb::CloseSettlementGroupResponse {
        settlement_group: name.to_string(),
        existed: false,
        ..Default::default()
    }
}

/// The answer of a closed group, from its closing figures: the same for the close that closed
/// it and for every close after.
fn stored_answer(name: &str, group: &Record) -> pb::CloseSettlementGroupResponse {
    let money = |minor_units| {
        Some(common::Money {
            minor_units,
            currency: group.currency.clone(),
        })
    };
    pb::CloseSettlementGroupResponse {
        settlement_group: name.to_string(),
        existed: true,
        cancelled_charge_ids: group
            .closed_cancelled_ids
            .iter()
            .map(Uuid::to_string)
            .collect(),
        waived: money(group.closed_waived_minor),
        paid: money(group.closed_paid_minor),
        refund_owed: money(group.closed_refund_owed_minor),
        interest: money(group.closed_interest_minor),
        refund_charge_id: group
            .refund_charge_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
    }
}
