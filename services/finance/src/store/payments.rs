//! Payments applied to charges and refunds of payments, each one per external reference.

use anju_kit::{Refusal, ServiceError, ServiceResult, db::Writes, paging::Page};
use anju_proto::{common, finance as pb};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    domain::balance::Direction,
    domain::dates::format_date,
    store::charges::{CHARGE_COLUMNS, Charge, purpose_of, timestamp},
};

#[derive(Clone, Debug, FromRow, PartialEq, Eq)]
pub struct Payment {
    pub payment_id: Uuid,
    pub charge_id: Uuid,
    pub project_id: Uuid,
    /// `None` for a building's common-part charge.
    pub unit_id: Option<Uuid>,
    pub purpose: String,
    #[sqlx(try_from = "String")]
    pub direction: Direction,
    pub amount_minor: i64,
    pub currency: String,
    pub method: String,
    pub external_reference: String,
    pub received_on: NaiveDate,
    pub cashier_id: String,
    pub refunded_minor: i64,
    pub created_at: DateTime<Utc>,
}

impl Payment {
    /// Whether a second report of this payment's external reference describes the same payment.
    pub fn same_terms(
        &self,
        charge_id: Uuid,
        amount: i64,
        currency: &str,
        method: &str,
        received_on: NaiveDate,
    ) -> bool {
        self.charge_id == charge_id
            && self.amount_minor == amount
            && self.currency == currency
            && self.method == method
            && self.received_on == received_on
    }

    fn money(&self, minor_units: i64) -> common::Money {
        common::Money {
            minor_units,
            currency: self.currency.clone(),
        }
    }
}

impl From<Payment> for pb::Payment {
    fn from(p: Payment) -> Self {
        pb::Payment {
            payment_id: p.payment_id.to_string(),
            charge_id: p.charge_id.to_string(),
            project_id: p.project_id.to_string(),
            unit_id: p.unit_id.map(|u| u.to_string()).unwrap_or_default(),
            purpose: purpose_of(&p.purpose) as i32,
            direction: p.direction.to_proto() as i32,
            amount: Some(p.money(p.amount_minor)),
            method: method_of(&p.method) as i32,
            external_reference: p.external_reference.clone(),
            received_on: format_date(p.received_on),
            cashier_id: p.cashier_id.clone(),
            refunded: Some(p.money(p.refunded_minor)),
            recorded_at: Some(timestamp(p.created_at)),
        }
    }
}

#[derive(Clone, Debug, FromRow, PartialEq, Eq)]
pub struct Refund {
    pub refund_id: Uuid,
    pub payment_id: Uuid,
    pub charge_id: Uuid,
    pub project_id: Uuid,
    /// `None` for a building's common-part charge.
    pub unit_id: Option<Uuid>,
    pub purpose: String,
    pub amount_minor: i64,
    pub currency: String,
    pub method: String,
    pub external_reference: String,
    pub refunded_on: NaiveDate,
    pub cashier_id: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

impl Refund {
    pub fn same_terms(
        &self,
        payment_id: Uuid,
        amount: i64,
        currency: &str,
        method: &str,
        refunded_on: NaiveDate,
    ) -> bool {
        self.payment_id == payment_id
            && self.amount_minor == amount
            && self.currency == currency
            && self.method == method
            && self.refunded_on == refunded_on
    }
}

impl From<Refund> for pb::Refund {
    fn from(r: Refund) -> Self {
        pb::Refund {
            refund_id: r.refund_id.to_string(),
            payment_id: r.payment_id.to_string(),
            charge_id: r.charge_id.to_string(),
            project_id: r.project_id.to_string(),
            unit_id: r.unit_id.map(|u| u.to_string()).unwrap_or_default(),
            amount: Some(common::Money {
                minor_units: r.amount_minor,
                currency: r.currency,
            }),
            method: method_of(&r.method) as i32,
            external_reference: r.external_reference,
            refunded_on: format_date(r.refunded_on),
            cashier_id: r.cashier_id,
            reason: r.reason,
            recorded_at: Some(timestamp(r.created_at)),
        }
    }
}

/// Method names as stored and published.
pub fn method_name(method: pb::PaymentMethod) -> Option<&'static str> {
    use pb::PaymentMethod::*;
    Some(match method {
        Unspecified => return None,
        Cash => "cash",
        BankCard => "bank_card",
        BankTransfer => "bank_transfer",
        WechatPay => "wechat_pay",
        Alipay => "alipay",
        Cheque => "cheque",
        MortgageLoan => "mortgage_loan",
    })
}

pub fn method_of(name: &str) -> pb::PaymentMethod {
    (1..=7)
        .filter_map(|n| pb::PaymentMethod::try_from(n).ok())
        .find(|m| method_name(*m) == Some(name))
        .unwrap_or(pb::PaymentMethod::Unspecified)
}

const PAYMENT_COLUMNS: &str = "payment_id, charge_id, project_id, unit_id, purpose, direction, amount_minor, currency, \
                               method, external_reference, received_on, cashier_id, refunded_minor, created_at";

const REFUND_COLUMNS: &str = "refund_id, payment_id, charge_id, project_id, unit_id, purpose, amount_minor, currency, \
                              method, external_reference, refunded_on, cashier_id, reason, created_at";

/// The trigger that fences closed days speaks as `day closed: …`; the caller sees a refusal.
pub(crate) fn day_closed_or(err: sqlx::Error) -> ServiceError {
    let closed = err.as_database_error().is_some_and(|e| {
        e.code().as_deref() == Some("P0001") && e.message().starts_with("day closed")
    });
    if closed {
        Refusal::new("DAY_CLOSED", "day closed")
            .zh("当日已关账")
            .into()
    } else {
        err.into()
    }
}

pub async fn payment_by_reference(
    conn: &mut PgConnection,
    tenant: Uuid,
    reference: &str,
) -> ServiceResult<Option<Payment>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {PAYMENT_COLUMNS} from payments where tenant_id = $1 and external_reference = $2"
    )))
    .bind(tenant)
    .bind(reference)
    .fetch_optional(conn)
    .await?)
}

/// Inserts the payment as one of `writes`; a payment of the same external reference fails
/// the statement on `payments_tenant_external_reference`.
pub fn insert_payment(writes: &mut Writes, tenant: Uuid, p: &Payment, recorded_by: &str) {
    let from = writes.from_condition();
    writes.add(|q| {
        q.push(
            "insert into payments (payment_id, tenant_id, charge_id, project_id, unit_id, purpose, direction, amount_minor,
                                   currency, method, external_reference, received_on, cashier_id, recorded_by, created_at) select ",
        );
        let mut values = q.separated(", ");
        values
            .push_bind(p.payment_id)
            .push_bind(tenant)
            .push_bind(p.charge_id)
            .push_bind(p.project_id)
            .push_bind(p.unit_id)
            .push_bind(p.purpose.clone())
            .push_bind(p.direction.as_str())
            .push_bind(p.amount_minor)
            .push_bind(p.currency.clone())
            .push_bind(p.method.clone())
            .push_bind(p.external_reference.clone())
            .push_bind(p.received_on)
            .push_bind(p.cashier_id.clone())
            .push_bind(recorded_by.to_string())
            .push_bind(p.created_at);
        q.push(from);
    });
}

/// A payment in the caller's scope, optionally locked; NOT_FOUND outside it.
pub async fn payment(
    conn: &mut PgConnection,
    tenant: Uuid,
    payment_id: Uuid,
    scope: Option<&[Uuid]>,
    for_update: bool,
) -> ServiceResult<Payment> {
    let lock = if for_update { "for update" } else { "" };
    let payment: Option<Payment> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {PAYMENT_COLUMNS} from payments where tenant_id = $1 and payment_id = $2 {lock}"
    )))
    .bind(tenant)
    .bind(payment_id)
    .fetch_optional(conn)
    .await?;
    payment
        .filter(|p| scope.is_none_or(|ids| ids.contains(&p.project_id)))
        .ok_or_else(|| ServiceError::not_found("payment"))
}

pub async fn store_refunded(
    conn: &mut PgConnection,
    tenant: Uuid,
    payment: &mut Payment,
    refunded: i64,
) -> ServiceResult<()> {
    sqlx::query("update payments set refunded_minor = $3 where tenant_id = $1 and payment_id = $2")
        .bind(tenant)
        .bind(payment.payment_id)
        .bind(refunded)
        .execute(conn)
        .await?;
    payment.refunded_minor = refunded;
    Ok(())
}

pub async fn of_charge(
    pool: &PgPool,
    tenant: Uuid,
    charge_id: Uuid,
    page: Page,
) -> ServiceResult<(Vec<Payment>, String)> {
    let rows: Vec<Payment> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {PAYMENT_COLUMNS} from payments
         where tenant_id = $1 and charge_id = $2 and payment_id > $3
         order by payment_id limit $4"
    )))
    .bind(tenant)
    .bind(charge_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |p| p.payment_id))
}

pub async fn refund_by_reference(
    conn: &mut PgConnection,
    tenant: Uuid,
    reference: &str,
) -> ServiceResult<Option<Refund>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {REFUND_COLUMNS} from refunds where tenant_id = $1 and external_reference = $2"
    )))
    .bind(tenant)
    .bind(reference)
    .fetch_optional(conn)
    .await?)
}

/// Inserts the refund unless its external reference exists; returns whether it was inserted.
pub async fn insert_refund(
    conn: &mut PgConnection,
    tenant: Uuid,
    r: &Refund,
    recorded_by: &str,
) -> ServiceResult<bool> {
    let inserted = sqlx::query(
        "insert into refunds (refund_id, tenant_id, payment_id, charge_id, project_id, unit_id, purpose, amount_minor,
                              currency, method, external_reference, refunded_on, cashier_id, reason, recorded_by,
                              created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         on conflict (tenant_id, external_reference) do nothing",
    )
    .bind(r.refund_id)
    .bind(tenant)
    .bind(r.payment_id)
    .bind(r.charge_id)
    .bind(r.project_id)
    .bind(r.unit_id)
    .bind(&r.purpose)
    .bind(r.amount_minor)
    .bind(&r.currency)
    .bind(&r.method)
    .bind(&r.external_reference)
    .bind(r.refunded_on)
    .bind(&r.cashier_id)
    .bind(&r.reason)
    .bind(recorded_by)
    .bind(r.created_at)
    .execute(conn)
    .await
    .map_err(day_closed_or)?
    .rows_affected();
    Ok(inserted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_a_name_that_maps_back() {
        for n in 1..=7 {
            let method = pb::PaymentMethod::try_from(n).unwrap();
            assert_eq!(method_of(method_name(method).unwrap()), method);
        }
        assert_eq!(method_of("barter"), pb::PaymentMethod::Unspecified);
    }
}

/// A charge as read without a lock, with what a payment of it stands on, for
/// the payment's fast path (`api::payment`).
#[derive(FromRow)]
pub struct Glance {
    #[sqlx(flatten)]
    pub charge: Charge,
    /// The cashier's day has its row and is open.
    pub day_open: bool,
}

impl Glance {
    pub async fn read(
        pool: &PgPool,
        tenant: Uuid,
        charge_id: Uuid,
        cashier: &str,
        received_on: NaiveDate,
    ) -> ServiceResult<Option<Self>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {CHARGE_COLUMNS},
                    exists (select from cashier_days d
                            where d.tenant_id = $1 and d.cashier_id = $3 and d.business_date = $4
                              and d.closed_at is null) as day_open
             from charges where tenant_id = $1 and charge_id = $2"
        )))
        .bind(tenant)
        .bind(charge_id)
        .bind(cashier)
        .bind(received_on)
        .fetch_optional(pool)
        .await?)
    }
}

/// What a payment stands on besides its locked charge, in one statement, taking locks in the
/// order every writer of these rows does (charge → payment → cashier day → group): the
/// payment already recorded under the reference, whether the charge's settlement group is
/// closed (read, not locked: see [`crate::store::settlement::refuse_if_closed`]), and the cashier's day,
/// created if needed and else held FOR SHARE (as [`crate::store::daily_close::hold_open`] does).
#[derive(FromRow)]
pub struct Ground {
    pub first_payment_id: Option<Uuid>,
    pub group_closed: bool,
    /// `open` or `closed`; none when the day's row was committed by a transaction newer than
    /// this statement's snapshot (it waited for it, but cannot see it).
    pub day: Option<String>,
}

impl Ground {
    pub async fn read(
        conn: &mut PgConnection,
        tenant: Uuid,
        charge: &Charge,
        reference: &str,
        cashier: &str,
        date: NaiveDate,
    ) -> ServiceResult<Self> {
        Ok(sqlx::query_as(
            "with new_day as (
                 insert into cashier_days (tenant_id, cashier_id, business_date) values ($1, $4, $5)
                 on conflict do nothing returning closed_at),
             old_day as (
                 select closed_at from cashier_days
                 where tenant_id = $1 and cashier_id = $4 and business_date = $5 for share)
             select (select payment_id from payments p
                     where p.tenant_id = $1 and p.external_reference = $3) as first_payment_id,
                    coalesce((select g.closed_at is not null from settlement_groups g
                              where g.tenant_id = $1 and g.settlement_group = $2), false) as group_closed,
                    case when exists (select from new_day) then 'open'
                         else (select case when closed_at is null then 'open' else 'closed' end from old_day)
                    end as day",
        )
        .bind(tenant)
        .bind(&charge.settlement_group)
        .bind(reference)
        .bind(cashier)
        .bind(date)
        .fetch_one(conn)
        .await?)
    }
}
