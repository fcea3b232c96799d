//! RefundPayment: money of a receivable payment returned, once per external reference.

use anju_kit::{
    Principal, ServiceError, ServiceResult, audit::Subject, ids::new_id, validate::Validator,
};
use anju_proto::{events, finance as pb};
use chrono::Utc;

use crate::{
    FinanceApi,
    api::inputs::{Cashier, external_reference},
    domain::balance::{Direction, check_refund},
    domain::dates::{self, format_date},
    store::charges::{self, Charge},
    store::daily_close,
    store::payments::{self, Payment, Refund, method_name},
    store::settlement,
};

impl FinanceApi {
    pub(crate) async fn refund_payment(
        &self,
        principal: &Principal,
        req: pb::RefundPaymentRequest,
    ) -> ServiceResult<pb::RefundPaymentResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let payment_id = v.uuid("payment_id", &req.payment_id);
        let (amount, currency) = v.money("amount", req.amount.as_ref());
        // Unspecified: the refund goes back the way the money came.
        let method = match pb::PaymentMethod::try_from(req.method) {
            Ok(pb::PaymentMethod::Unspecified) => None,
            Ok(method) => method_name(method),
            Err(_) => {
                v.violation("method", "must name a payment method or be unspecified");
                None
            }
        };
        let reference = external_reference(&mut v, &req.external_reference);
        let refunded_on = dates::date_for_write(&mut v, "refunded_on", &req.refunded_on);
        let cashier = Cashier::read(&mut v, principal, &req.cashier_id);
        let reason = v
            .optional_free_text("reason", &req.reason, 500)
            .unwrap_or_default();
        v.finish()?;
        let cashier = cashier.resolve(principal)?;

        self.commands.run(principal, "RefundPayment", &request_id, &req, async |command| {
        let tenant = principal.tenant_id;
        let scope = principal.project_filter();
        let charge_id =
            payments::payment(command.tx(), tenant, payment_id, scope.as_deref(), false)
                .await?
                .charge_id;
        let mut charge = charges::lock(command.tx(), tenant, charge_id, scope.as_deref()).await?;
        let mut payment =
            payments::payment(command.tx(), tenant, payment_id, scope.as_deref(), true).await?;
        let method = method.unwrap_or(payment.method.as_str()).to_string();
        if let Some(first) = payments::refund_by_reference(command.tx(), tenant, &reference).await?
        {
            if !first.same_terms(payment_id, amount, &currency, &method, refunded_on) {
                return Err(ServiceError::AlreadyExists(format!(
                    "external_reference {reference} was already recorded for another refund"
                )));
            }
            return Ok(answer(first, payment, charge, "repeated_external_reference"));
        }
        settlement::refuse_if_closed(command.tx(), tenant, &charge).await?;
        if payment.direction == Direction::Payable {
            return Err(ServiceError::precondition(
                "PAYOUT_NOT_REFUNDABLE",
                "a payout is not refunded: issue a receivable charge to recover it",
            ));
        }
        if currency != payment.currency {
            return Err(ServiceError::invalid(
                "amount.currency",
                format!("must be {}, the payment's currency", payment.currency),
            ));
        }
        if refunded_on < payment.received_on {
            return Err(ServiceError::invalid(
                "refunded_on",
                format!(
                    "must not be before the payment's date {}",
                    format_date(payment.received_on)
                ),
            ));
        }
        check_refund(
            payment.amount_minor,
            payment.refunded_minor,
            amount,
            &currency,
        )?;
        let balance = charge.balance().refund(amount, &currency)?;
        daily_close::hold_open(command.tx(), tenant, &cashier, refunded_on).await?;
        let refund = Refund {
            refund_id: new_id(),
            payment_id,
            charge_id,
            project_id: payment.project_id,
            unit_id: payment.unit_id,
            purpose: payment.purpose.clone(),
            amount_minor: amount,
            currency,
            method,
            external_reference: reference.clone(),
            refunded_on,
            cashier_id: cashier,
            reason,
            created_at: Utc::now(),
        };
        if !payments::insert_refund(command.tx(), tenant, &refund, &principal.subject).await? {
            // The same reference was recorded concurrently against another payment.
            return Err(ServiceError::AlreadyExists(format!(
                "external_reference {reference} was already recorded for another refund"
            )));
        }
        let refunded = payment.refunded_minor + amount;
        payments::store_refunded(command.tx(), tenant, &mut payment, refunded).await?;
        charges::store_balance(command.tx(), tenant, &mut charge, balance).await?;
        let event = events::PaymentRefunded {
            refund_id: refund.refund_id.to_string(),
            payment_id: payment_id.to_string(),
            charge_id: charge_id.to_string(),
            project_id: charge.project_id.to_string(),
            unit_id: charge.unit(),
            purpose: charge.purpose.clone(),
            amount: Some(charge.money(amount)),
            method: refund.method.clone(),
            external_reference: reference,
            refunded_on: format_date(refunded_on),
            cashier_id: refund.cashier_id.clone(),
            charge_outstanding: Some(charge.money(balance.outstanding())),
            settlement_group: charge.settlement_group.clone().unwrap_or_default(),
        };
        command.emit(command.event("charge", charge_id), &event).await?;
        settlement::reconcile(command.tx(), self.commands.outbox(), tenant, &charge, &request_id).await?;
        Ok(answer(refund, payment, charge, "refund"))
        }).await
    }
}

/// The response and the audit row of a refund, recorded now or before under its reference.
fn answer(
    refund: Refund,
    payment: Payment,
    charge: Charge,
    what: &str,
) -> (pb::RefundPaymentResponse, Subject) {
    let subject = Subject::new("refund", refund.refund_id).with_detail(serde_json::json!({
        "kind": what,
        "payment_id": refund.payment_id,
        "amount_minor": refund.amount_minor,
        "currency": refund.currency,
        "method": refund.method,
        "external_reference": refund.external_reference,
        "refunded_on": format_date(refund.refunded_on),
        "cashier_id": refund.cashier_id,
    }));
    let response = pb::RefundPaymentResponse {
        refund: Some(refund.into()),
        payment: Some(payment.into()),
        charge: Some(charge.into()),
    };
    (response, subject)
}
