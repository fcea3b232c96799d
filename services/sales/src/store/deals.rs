//! Subscriptions and purchase contracts in the database, and the unit transitions they
//! drive. Each transition is a conditional UPDATE from the one state it may leave
//! ([`crate::domain::deals`] says which).

use anju_kit::{ServiceError, ServiceResult};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::{
    domain::deals::{ContractStatus, SubscriptionStatus},
    store::identity::SealedIdNumber,
};

#[derive(Clone, Debug, FromRow)]
pub struct Subscription {
    pub subscription_id: Uuid,
    pub project_id: Uuid,
    pub unit_id: Uuid,
    pub customer_id: Uuid,
    pub price_minor: i64,
    pub small_deposit_minor: i64,
    pub full_deposit_minor: i64,
    pub currency: String,
    pub top_up_due_on: NaiveDate,
    pub lapses_at: DateTime<Utc>,
    pub lapse_refund_bp: i32,
    /// The keyed hash of the buyer's identity number; the number itself is stored sealed.
    pub id_number_hmac: String,
    #[sqlx(try_from = "String")]
    pub status: SubscriptionStatus,
}

const SUBSCRIPTION_COLUMNS: &str = "subscription_id, project_id, unit_id, customer_id, price_minor, small_deposit_minor, \
    full_deposit_minor, currency, top_up_due_on, lapses_at, lapse_refund_bp, id_number_hmac, status";

pub async fn insert_subscription(
    conn: &mut PgConnection,
    tenant: Uuid,
    s: &Subscription,
    id_number: &SealedIdNumber,
) -> ServiceResult<()> {
    sqlx::query(
        "insert into subscriptions (subscription_id, tenant_id, project_id, unit_id, customer_id, price_minor,
             small_deposit_minor, full_deposit_minor, currency, top_up_due_on, lapses_at, lapse_refund_bp,
             id_number_hmac, id_number_key, id_number_sealed)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(s.subscription_id)
    .bind(tenant)
    .bind(s.project_id)
    .bind(s.unit_id)
    .bind(s.customer_id)
    .bind(s.price_minor)
    .bind(s.small_deposit_minor)
    .bind(s.full_deposit_minor)
    .bind(&s.currency)
    .bind(s.top_up_due_on)
    .bind(s.lapses_at)
    .bind(s.lapse_refund_bp)
    .bind(&id_number.hmac)
    .bind(&id_number.key_id)
    .bind(&id_number.sealed)
    .execute(conn)
    .await
    .map_err(|err| {
        if anju_kit::db::is_unique_violation(&err, "subscriptions_one_live_per_unit") {
            ServiceError::precondition(
                "UNIT_HAS_LIVE_SUBSCRIPTION",
                "the unit already has a live subscription",
            )
        } else {
            err.into()
        }
    })?;
    Ok(())
}

pub async fn subscription(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Uuid,
) -> ServiceResult<Subscription> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {SUBSCRIPTION_COLUMNS} from subscriptions where tenant_id = $1 and subscription_id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::not_found("subscription"))
}

/// Moves a subscription from `from` to `to`; returns `None` when it was not in `from`.
pub async fn move_subscription(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Uuid,
    from: SubscriptionStatus,
    to: SubscriptionStatus,
) -> ServiceResult<Option<Subscription>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update subscriptions set status = $4 where tenant_id = $1 and subscription_id = $2 and status = $3
         returning {SUBSCRIPTION_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(from.as_str())
    .bind(to.as_str())
    .fetch_optional(conn)
    .await?)
}

/// Moves the unit held or owned by `customer` from `from` to `to`; returns whether it moved.
pub async fn move_unit(
    conn: &mut PgConnection,
    tenant: Uuid,
    unit_id: Uuid,
    customer: Uuid,
    from: &str,
    to: &str,
) -> ServiceResult<bool> {
    let release = to == "available";
    let moved = sqlx::query(
        "update units set status = $5,
                customer_id = case when $6 then null else customer_id end,
                hold_expires_at = null
         where tenant_id = $1 and unit_id = $2 and customer_id = $3 and status = $4",
    )
    .bind(tenant)
    .bind(unit_id)
    .bind(customer)
    .bind(from)
    .bind(to)
    .bind(release)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// Takes the unit for a subscription: available, held by this customer, or held past its expiry.
pub async fn take_unit(
    conn: &mut PgConnection,
    tenant: Uuid,
    unit_id: Uuid,
    customer: Uuid,
) -> ServiceResult<bool> {
    let taken = sqlx::query(
        "update units set status = 'held', customer_id = $3, hold_expires_at = null
         where tenant_id = $1 and unit_id = $2
           and (status = 'available'
                or (status = 'held' and customer_id = $3)
                or (status = 'held' and hold_expires_at < now()))",
    )
    .bind(tenant)
    .bind(unit_id)
    .bind(customer)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// One instalment line as stored in the contract.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Line {
    pub due_on: NaiveDate,
    pub amount_minor: i64,
}

#[derive(Clone, Debug, FromRow)]
pub struct Contract {
    pub contract_id: Uuid,
    pub project_id: Uuid,
    pub unit_id: Uuid,
    pub customer_id: Uuid,
    pub subscription_id: Uuid,
    pub price_minor: i64,
    pub currency: String,
    pub contract_area_cm2: i64,
    pub payment_method: String,
    pub down_payment_minor: i64,
    pub down_payment_due_on: NaiveDate,
    pub deposit_credit_minor: i64,
    pub loan_amount_minor: i64,
    pub instalments: sqlx::types::Json<Vec<Line>>,
    #[sqlx(try_from = "String")]
    pub status: ContractStatus,
    pub signed_at: DateTime<Utc>,
    pub lending_bank: String,
}

const CONTRACT_COLUMNS: &str = "contract_id, project_id, unit_id, customer_id, subscription_id, price_minor, currency, \
    contract_area_cm2, payment_method, down_payment_minor, down_payment_due_on, deposit_credit_minor, loan_amount_minor, \
    instalments, status, signed_at, lending_bank";

pub async fn insert_contract(
    conn: &mut PgConnection,
    tenant: Uuid,
    c: &Contract,
) -> ServiceResult<()> {
    sqlx::query(
        "insert into contracts (contract_id, tenant_id, project_id, unit_id, customer_id, subscription_id, price_minor,
             currency, contract_area_cm2, payment_method, down_payment_minor, down_payment_due_on, deposit_credit_minor,
             loan_amount_minor, instalments, signed_at, lending_bank)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(c.contract_id)
    .bind(tenant)
    .bind(c.project_id)
    .bind(c.unit_id)
    .bind(c.customer_id)
    .bind(c.subscription_id)
    .bind(c.price_minor)
    .bind(&c.currency)
    .bind(c.contract_area_cm2)
    .bind(&c.payment_method)
    .bind(c.down_payment_minor)
    .bind(c.down_payment_due_on)
    .bind(c.deposit_credit_minor)
    .bind(c.loan_amount_minor)
    .bind(&c.instalments)
    .bind(c.signed_at)
    .bind(&c.lending_bank)
    .execute(conn)
    .await
    .map_err(|err| {
        if anju_kit::db::is_unique_violation(&err, "contracts_one_live_per_unit")
            || anju_kit::db::is_unique_violation(&err, "contracts_subscription_id_key")
        {
            ServiceError::precondition("UNIT_UNDER_CONTRACT", "the unit is already under contract")
        } else {
            err.into()
        }
    })?;
    Ok(())
}

pub async fn contract(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> ServiceResult<Contract> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CONTRACT_COLUMNS} from contracts where tenant_id = $1 and contract_id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::not_found("contract"))
}

pub async fn cancel_contract(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Uuid,
    reason: &str,
) -> ServiceResult<Option<Contract>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update contracts set status = 'cancelled', cancel_reason = $3, cancelled_at = now()
         where tenant_id = $1 and contract_id = $2 and status = 'signed'
         returning {CONTRACT_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(reason)
    .fetch_optional(conn)
    .await?)
}
