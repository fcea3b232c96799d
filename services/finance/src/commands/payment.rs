//! RecordPayment: money applied to one charge, once per external reference.

use anju_kit::{
    Principal, ServiceError, ServiceResult,
    audit::Subject,
    idempotency::{Claim, Command},
    ids::new_id,
    validate::Validator,
};
use anju_messaging::EventMeta;
use anju_proto::{events, finance as pb};
use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use crate::{
    FinanceApi,
    charges::{self, Charge},
    commands::{Cashier, external_reference},
    daily_close,
    dates::{self, format_date},
    payments::{self, Payment, method_name},
    settlement,
};

/// What the request says the payment is, to compare with a payment of the same reference.
struct Terms<'a> {
    charge_id: Uuid,
    amount: i64,
    currency: &'a str,
    method: &'a str,
    received_on: NaiveDate,
}

impl FinanceApi {
    pub(crate) async fn record_payment(
        &self,
        principal: &Principal,
        req: pb::RecordPaymentRequest,
    ) -> ServiceResult<pb::RecordPaymentResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let charge_id = v.uuid("charge_id", &req.charge_id);
        let (amount, currency) = v.money("amount", req.amount.as_ref());
        let method = pb::PaymentMethod::try_from(req.method)
            .ok()
            .and_then(method_name);
        if method.is_none() {
            v.violation("method", "must name a payment method");
        }
        let reference = external_reference(&mut v, &req.external_reference);
        let received_on = dates::date_for_write(&mut v, "received_on", &req.received_on);
        let cashier = Cashier::read(&mut v, principal, &req.cashier_id);
        v.finish()?;
        let cashier = cashier.resolve(principal)?;
        let terms = Terms {
            charge_id,
            amount,
            currency: &currency,
            method: method.unwrap_or_default(),
            received_on,
        };

        let mut command = match Command::begin(
            &self.pool,
            principal,
            "RecordPayment",
            &request_id,
            &req,
        )
        .await?
        {
            Claim::Replay(response) => return Ok(response),
            Claim::Fresh(command) => command,
        };
        let tenant = principal.tenant_id;
        let scope = principal.project_filter();
        // The charge's lock serializes every payment of it, so of two calls with one external
        // reference the second finds the first's payment below.
        let mut charge = charges::lock(command.tx(), tenant, charge_id, scope.as_deref()).await?;
        if let Some(first) =
            payments::payment_by_reference(command.tx(), tenant, &reference).await?
        {
            return answer_with_first(command, first, &charge, &terms).await;
        }
        settlement::refuse_if_closed(command.tx(), tenant, &charge).await?;
        if currency != charge.currency {
            return Err(ServiceError::invalid(
                "amount.currency",
                format!("must be {}, the charge's currency", charge.currency),
            ));
        }
        let balance = charge.balance().pay(amount, &currency)?;
        daily_close::hold_open(command.tx(), tenant, &cashier, received_on).await?;
        let payment = Payment {
            payment_id: new_id(),
            charge_id,
            project_id: charge.project_id,
            unit_id: charge.unit_id,
            purpose: charge.purpose.clone(),
            direction: charge.direction,
            amount_minor: amount,
            currency: charge.currency.clone(),
            method: terms.method.to_string(),
            external_reference: reference.clone(),
            received_on,
            cashier_id: cashier,
            refunded_minor: 0,
            created_at: Utc::now(),
        };
        if !payments::insert_payment(command.tx(), tenant, &payment, &principal.subject).await? {
            // The same reference was recorded concurrently against another charge.
            let first = payments::payment_by_reference(command.tx(), tenant, &reference)
                .await?
                .ok_or_else(|| {
                    ServiceError::Aborted("payment changed concurrently, retry".into())
                })?;
            return answer_with_first(command, first, &charge, &terms).await;
        }
        charges::store_balance(command.tx(), tenant, &mut charge, balance).await?;
        let event = events::PaymentRecorded {
            payment_id: payment.payment_id.to_string(),
            charge_id: charge.charge_id.to_string(),
            project_id: charge.project_id.to_string(),
            unit_id: charge.unit_id.to_string(),
            purpose: charge.purpose.clone(),
            direction: charge.direction.as_str().to_string(),
            amount: Some(charge.money(amount)),
            method: payment.method.clone(),
            external_reference: reference,
            received_on: format_date(received_on),
            cashier_id: payment.cashier_id.clone(),
            charge_outstanding: Some(charge.money(balance.outstanding())),
            settlement_group: charge.settlement_group.clone().unwrap_or_default(),
        };
        let meta =
            EventMeta::new(tenant, "charge", charge.charge_id).caused_by_request(&request_id);
        self.outbox.append(command.tx(), meta, &event).await?;
        settlement::reconcile(command.tx(), &self.outbox, tenant, &charge, &request_id).await?;

        let subject = Subject::new("payment", payment.payment_id).with_detail(serde_json::json!({
            "charge_id": charge.charge_id,
            "amount_minor": amount,
            "currency": charge.currency,
            "method": payment.method,
            "external_reference": payment.external_reference,
            "received_on": format_date(received_on),
            "cashier_id": payment.cashier_id,
        }));
        let response = pb::RecordPaymentResponse {
            payment: Some(payment.into()),
            charge: Some(charge.into()),
        };
        command.commit(&response, subject).await?;
        Ok(response)
    }
}

/// One external reference is one payment: the first payment answers a repeat with the same
/// terms (under any request id); a repeat with other terms is a conflict.
async fn answer_with_first(
    command: Command,
    first: Payment,
    charge: &Charge,
    terms: &Terms<'_>,
) -> ServiceResult<pb::RecordPaymentResponse> {
    if !first.same_terms(
        terms.charge_id,
        terms.amount,
        terms.currency,
        terms.method,
        terms.received_on,
    ) {
        return Err(ServiceError::AlreadyExists(format!(
            "external_reference {} was already recorded for another payment",
            first.external_reference
        )));
    }
    let subject = Subject::new("payment", first.payment_id).with_detail(
        serde_json::json!({ "repeated_external_reference": first.external_reference }),
    );
    let response = pb::RecordPaymentResponse {
        payment: Some(first.into()),
        charge: Some(charge.clone().into()),
    };
    command.commit(&response, subject).await?;
    Ok(response)
}
