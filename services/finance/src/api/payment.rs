//! RecordPayment: money applied to one charge, once per external reference.

use anju_kit::{
    Principal, ServiceError, ServiceResult,
    audit::Subject,
    db::{Writes, is_unique_violation},
    idempotency::{Attempt, Single},
    ids::new_id,
    validate::Validator,
};
use anju_messaging::EventMeta;
use anju_proto::{events, finance as pb};
use chrono::{NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    FinanceApi,
    api::inputs::{Cashier, external_reference},
    domain::balance::Balance,
    domain::dates::{self, format_date},
    store::charges::{self, Charge},
    store::daily_close,
    store::payments::{self, Payment, method_name},
    store::settlement,
};

/// What the request says the payment is (the first five compared with a payment of the
/// same reference), and whose day it is taken on.
struct Terms<'a> {
    charge_id: Uuid,
    amount: i64,
    currency: &'a str,
    method: &'a str,
    received_on: NaiveDate,
    reference: &'a str,
    cashier: &'a str,
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
            reference: &reference,
            cashier: &cashier,
        };

        let single = Single::new(&self.pool, principal, "RecordPayment", &request_id, &req);
        if let Some(response) = self
            .pay_at_once(&single, principal, &request_id, &terms)
            .await?
        {
            return Ok(response);
        }

        let mut attempt = single.into_attempt().await?;
        let tenant = principal.tenant_id;
        let scope = principal.project_filter();
        // The charge's lock serializes every payment of it; what stands beside it is read
        // after the lock, in a statement of its own, so it sees what the lock waited for.
        let decided = match charges::lock(attempt.tx(), tenant, charge_id, scope.as_deref()).await {
            Ok(charge) => decide(attempt.tx(), tenant, &charge, &terms)
                .await
                .map(|outcome| (charge, outcome)),
            Err(err) => Err(err),
        };
        let (mut charge, balance) = match decided {
            Ok((charge, Outcome::Pay(balance))) => (charge, balance),
            Ok((charge, Outcome::Repeat(first))) => {
                return answer_with_first(attempt, first, &charge, &terms).await;
            }
            Err(err) => return attempt.refused(err).await,
        };
        let mut writes = Writes::new();
        charges::store_balance_to(&mut writes, tenant, &mut charge, balance);
        let (subject, response) =
            match self.paid(&mut writes, principal, &request_id, &charge, &terms) {
                Ok(paid) => paid,
                Err(err) => return attempt.refused(err).await,
            };
        let refused = |err| write_refused(err, &reference);
        if charge.settlement_group.is_some() {
            // The group is re-counted with this payment in: its writes go first.
            let flushed = match writes.execute(attempt.tx()).await {
                Ok(()) => {
                    settlement::reconcile(
                        attempt.tx(),
                        self.commands.outbox(),
                        tenant,
                        &charge,
                        &request_id,
                    )
                    .await
                }
                Err(err) => Err(refused(err)),
            };
            if let Err(err) = flushed {
                return attempt.refused(err).await;
            }
            writes = Writes::new();
        }
        attempt.commit(writes, response, subject, refused).await
    }

    /// The common payment, in two statements and no transaction: a read of the charge and
    /// its cashier's day, then, when that is a charge outside any settlement group, on a day
    /// already open and within its balance, one statement that writes the payment only if
    /// the charge and the day are still as read (and holds the day as
    /// [`daily_close::hold_open`] does). A reference recorded before fails that statement
    /// on its unique key. `None`: nothing was written, and the locked path decides, a repeat
    /// and every refusal included.
    async fn pay_at_once(
        &self,
        single: &Single,
        principal: &Principal,
        request_id: &str,
        terms: &Terms<'_>,
    ) -> ServiceResult<Option<pb::RecordPaymentResponse>> {
        let tenant = principal.tenant_id;
        let Some(glance) = payments::Glance::read(
            &self.pool,
            tenant,
            terms.charge_id,
            terms.cashier,
            terms.received_on,
        )
        .await?
        else {
            return Ok(None);
        };
        let mut charge = glance.charge;
        let common = principal.can_see_project(charge.project_id)
            && charge.settlement_group.is_none()
            && glance.day_open
            && terms.currency == charge.currency;
        let balance = match charge.balance().pay(terms.amount, terms.currency) {
            Ok(balance) if common => balance,
            _ => return Ok(None),
        };
        let mut writes = Writes::new();
        let day =
            daily_close::share_open_day(&mut writes, tenant, terms.cashier, terms.received_on);
        let unchanged =
            charges::store_balance_if_unchanged(&mut writes, tenant, &mut charge, balance, &day);
        writes.only_if(&unchanged);
        let (subject, response) = self.paid(&mut writes, principal, request_id, &charge, terms)?;
        single.commit_if(writes, response, subject).await
    }

    /// The payment of `charge` (at its new balance, stored by one of `writes`): its row and
    /// its event, added to `writes`, and the call's audit subject and response.
    fn paid(
        &self,
        writes: &mut Writes,
        principal: &Principal,
        request_id: &str,
        charge: &Charge,
        terms: &Terms<'_>,
    ) -> ServiceResult<(Subject, pb::RecordPaymentResponse)> {
        let tenant = principal.tenant_id;
        let payment = Payment {
            payment_id: new_id(),
            charge_id: charge.charge_id,
            project_id: charge.project_id,
            unit_id: charge.unit_id,
            purpose: charge.purpose.clone(),
            direction: charge.direction,
            amount_minor: terms.amount,
            currency: charge.currency.clone(),
            method: terms.method.to_string(),
            external_reference: terms.reference.to_string(),
            received_on: terms.received_on,
            cashier_id: terms.cashier.to_string(),
            refunded_minor: 0,
            created_at: Utc::now(),
        };
        payments::insert_payment(writes, tenant, &payment, &principal.subject);
        let event = events::PaymentRecorded {
            payment_id: payment.payment_id.to_string(),
            charge_id: charge.charge_id.to_string(),
            project_id: charge.project_id.to_string(),
            unit_id: charge.unit(),
            purpose: charge.purpose.clone(),
            direction: charge.direction.as_str().to_string(),
            amount: Some(charge.money(terms.amount)),
            method: payment.method.clone(),
            external_reference: terms.reference.to_string(),
            received_on: format_date(terms.received_on),
            cashier_id: payment.cashier_id.clone(),
            charge_outstanding: Some(charge.money(charge.balance().outstanding())),
            settlement_group: charge.settlement_group.clone().unwrap_or_default(),
        };
        let meta = EventMeta::new(tenant, "charge", charge.charge_id).caused_by_request(request_id);
        self.commands.outbox().append_to(writes, meta, &event)?;
        let subject = Subject::new("payment", payment.payment_id).with_detail(serde_json::json!({
            "charge_id": charge.charge_id,
            "amount_minor": terms.amount,
            "currency": charge.currency,
            "method": payment.method,
            "external_reference": payment.external_reference,
            "received_on": format_date(terms.received_on),
            "cashier_id": payment.cashier_id,
        }));
        let response = pb::RecordPaymentResponse {
            payment: Some(payment.into()),
            charge: Some(charge.clone().into()),
        };
        Ok((subject, response))
    }
}

/// What a payment of a locked charge comes to.
enum Outcome {
    /// The reference was recorded before: the first payment answers (or refuses) the repeat.
    Repeat(Payment),
    /// A new payment, leaving the charge at this balance.
    Pay(Balance),
}

/// Decides a payment of `charge`, locked by the caller, in the order the checks have always
/// run: a repeated reference, a closed group, the currency, the balance, the cashier's day.
async fn decide(
    conn: &mut PgConnection,
    tenant: Uuid,
    charge: &Charge,
    terms: &Terms<'_>,
) -> ServiceResult<Outcome> {
    let (reference, cashier) = (terms.reference, terms.cashier);
    let ground =
        payments::Ground::read(conn, tenant, charge, reference, cashier, terms.received_on).await?;
    if ground.first_payment_id.is_some() {
        let first = payments::payment_by_reference(conn, tenant, reference)
            .await?
            .ok_or_else(|| {
                ServiceError::Unexpected(anyhow::anyhow!("payment {reference} vanished"))
            })?;
        return Ok(Outcome::Repeat(first));
    }
    if ground.group_closed {
        let name = charge.settlement_group.as_deref().unwrap_or_default();
        return Err(settlement::closed(
            name,
            "takes no payment, refund or cancellation on its charges",
        ));
    }
    if terms.currency != charge.currency {
        return Err(ServiceError::invalid(
            "amount.currency",
            format!("must be {}, the charge's currency", charge.currency),
        ));
    }
    let balance = charge.balance().pay(terms.amount, terms.currency)?;
    match ground.day.as_deref() {
        Some("closed") => return Err(daily_close::day_closed(cashier, terms.received_on)),
        Some(_) => {}
        // The day's row was committed by a transaction the read's snapshot predates: take it
        // the long way, which sees it.
        None => daily_close::hold_open(conn, tenant, cashier, terms.received_on).await?,
    }
    Ok(Outcome::Pay(balance))
}

/// A refused write: the payment's external reference was taken meanwhile (by a payment of
/// another charge: this charge's are serialized by its lock), or its day was closed.
fn write_refused(err: sqlx::Error, reference: &str) -> ServiceError {
    if is_unique_violation(&err, "payments_tenant_external_reference") {
        return reference_taken(reference);
    }
    payments::day_closed_or(err)
}

fn reference_taken(reference: &str) -> ServiceError {
    ServiceError::AlreadyExists(format!(
        "external_reference {reference} was already recorded for another payment"
    ))
}

/// One external reference is one payment: the first payment answers a repeat with the same
/// terms (under any request id); a repeat with other terms is a conflict.
async fn answer_with_first(
    attempt: Attempt,
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
        let err = reference_taken(&first.external_reference);
        return attempt.refused(err).await;
    }
    let subject = Subject::new("payment", first.payment_id).with_detail(
        serde_json::json!({ "repeated_external_reference": first.external_reference }),
    );
    let response = pb::RecordPaymentResponse {
        payment: Some(first.into()),
        charge: Some(charge.clone().into()),
    };
    attempt
        .commit(Writes::new(), response, subject, ServiceError::from)
        .await
}
