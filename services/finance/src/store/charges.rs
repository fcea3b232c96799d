//! Charges: what a payer owes (or is owed) for a unit — or, a contractor's for a building's
//! common part — for one purpose, and its balance.

use anju_kit::{ServiceError, ServiceResult, db::Writes, paging::Page};
use anju_proto::{common, finance as pb};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::balance::{Balance, Direction, Status};

#[derive(Clone, Debug, FromRow, PartialEq, Eq)]
pub struct Charge {
    pub charge_id: Uuid,
    pub project_id: Uuid,
    /// The unit the charge is for; `None` for a building's common part.
    pub unit_id: Option<Uuid>,
    pub payer_id: String,
    pub purpose: String,
    pub amount_minor: i64,
    pub currency: String,
    pub business_key: String,
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    pub direction: Direction,
    pub settlement_group: Option<String>,
    pub paid_minor: i64,
    pub refunded_minor: i64,
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: String,
    /// The unpaid rest given up when the charge's settlement group was closed.
    pub waived_minor: i64,
    pub waived_at: Option<DateTime<Utc>>,
    pub waive_reason: String,
    /// The building of a common part's charge; `None` for a unit's.
    pub building_id: Option<Uuid>,
}

impl Charge {
    /// Whether `other` bills the same thing (ids, timestamps and balance aside; a waiver
    /// lowered the amount, not what was billed).
    pub fn same_terms(&self, other: &Charge) -> bool {
        self.project_id == other.project_id
            && self.unit_id == other.unit_id
            && self.building_id == other.building_id
            && self.payer_id == other.payer_id
            && self.purpose == other.purpose
            && self.billed_minor() == other.billed_minor()
            && self.currency == other.currency
            && self.due_at == other.due_at
            && self.direction == other.direction
            && self.settlement_group == other.settlement_group
    }

    /// The unit as events and responses carry it: empty for a building's common part.
    pub fn unit(&self) -> String {
        self.unit_id.map(|u| u.to_string()).unwrap_or_default()
    }

    /// What the charge was issued for: its amount plus anything waived since.
    pub fn billed_minor(&self) -> i64 {
        self.amount_minor + self.waived_minor
    }

    /// The charge as `balance` leaves it (what a stored balance writes).
    fn set_balance(&mut self, balance: Balance) {
        self.paid_minor = balance.paid;
        self.refunded_minor = balance.refunded;
        self.status = balance.status();
    }

    pub fn balance(&self) -> Balance {
        Balance {
            amount: self.amount_minor,
            paid: self.paid_minor,
            refunded: self.refunded_minor,
            cancelled: self.status == Status::Cancelled,
        }
    }

    pub fn money(&self, minor_units: i64) -> common::Money {
        common::Money {
            minor_units,
            currency: self.currency.clone(),
        }
    }
}

/// Purpose names as stored and published.
pub fn purpose_name(purpose: pb::ChargePurpose) -> Option<&'static str> {
    use pb::ChargePurpose::*;
    Some(match purpose {
        Unspecified => return None,
        Deposit => "deposit",
        DownPayment => "down_payment",
        Instalment => "instalment",
        PropertyFee => "property_fee",
        MaintenanceFund => "maintenance_fund",
        RenovationFee => "renovation_fee",
        TitleFees => "title_fees",
        DeedTax => "deed_tax",
        AreaDifference => "area_difference",
        ContractorChargeback => "contractor_chargeback",
        ContractorPenalty => "contractor_penalty",
        OwnerCompensation => "owner_compensation",
        Refund => "refund",
        RepairFee => "repair_fee",
    })
}

pub fn purpose_of(name: &str) -> pb::ChargePurpose {
    (1..=14)
        .filter_map(|n| pb::ChargePurpose::try_from(n).ok())
        .find(|p| purpose_name(*p) == Some(name))
        .unwrap_or(pb::ChargePurpose::Unspecified)
}

pub use anju_kit::time::timestamp;

impl From<Charge> for pb::Charge {
    fn from(c: Charge) -> Self {
        let balance = c.balance();
        pb::Charge {
            charge_id: c.charge_id.to_string(),
            project_id: c.project_id.to_string(),
            unit_id: c.unit(),
            building_id: c.building_id.map(|b| b.to_string()).unwrap_or_default(),
            payer_id: c.payer_id.clone(),
            purpose: purpose_of(&c.purpose) as i32,
            amount: Some(c.money(c.amount_minor)),
            business_key: c.business_key.clone(),
            due_at: c.due_at.map(timestamp),
            created_at: Some(timestamp(c.created_at)),
            settlement_group: c.settlement_group.clone().unwrap_or_default(),
            direction: c.direction.to_proto() as i32,
            status: c.status.to_proto() as i32,
            paid: Some(c.money(c.paid_minor)),
            refunded: Some(c.money(c.refunded_minor)),
            outstanding: Some(c.money(balance.outstanding())),
            cancelled_at: c.cancelled_at.map(timestamp),
            waived: Some(c.money(c.waived_minor)),
            cancel_reason: c.cancel_reason,
            waive_reason: c.waive_reason,
        }
    }
}

/// A charge's columns, in the order of [`Charge`].
pub const CHARGE_COLUMNS: &str = "charge_id, project_id, unit_id, payer_id, purpose, amount_minor, currency, business_key, \
                       due_at, created_at, direction, settlement_group, paid_minor, refunded_minor, status, \
                       cancelled_at, cancel_reason, waived_minor, waived_at, waive_reason, building_id";

pub async fn by_business_key(
    conn: &mut PgConnection,
    tenant: Uuid,
    key: &str,
) -> ServiceResult<Option<Charge>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CHARGE_COLUMNS} from charges where tenant_id = $1 and business_key = $2"
    )))
    .bind(tenant)
    .bind(key)
    .fetch_optional(conn)
    .await?)
}

/// Inserts the charge unless its business key exists; returns whether it was inserted.
pub async fn insert(conn: &mut PgConnection, tenant: Uuid, c: &Charge) -> ServiceResult<bool> {
    let inserted = sqlx::query(
        "insert into charges (charge_id, tenant_id, project_id, unit_id, payer_id, purpose, amount_minor,
                              currency, business_key, due_at, created_at, direction, settlement_group, building_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         on conflict (tenant_id, business_key) do nothing",
    )
    .bind(c.charge_id)
    .bind(tenant)
    .bind(c.project_id)
    .bind(c.unit_id)
    .bind(&c.payer_id)
    .bind(&c.purpose)
    .bind(c.amount_minor)
    .bind(&c.currency)
    .bind(&c.business_key)
    .bind(c.due_at)
    .bind(c.created_at)
    .bind(c.direction.as_str())
    .bind(&c.settlement_group)
    .bind(c.building_id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Reads a charge in the caller's scope; one outside it is NOT_FOUND like a missing one.
pub async fn get(
    pool: &PgPool,
    tenant: Uuid,
    charge_id: Uuid,
    scope: Option<&[Uuid]>,
) -> ServiceResult<Charge> {
    let charge: Option<Charge> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CHARGE_COLUMNS} from charges where tenant_id = $1 and charge_id = $2"
    )))
    .bind(tenant)
    .bind(charge_id)
    .fetch_optional(pool)
    .await?;
    charge
        .filter(|c| scope.is_none_or(|ids| ids.contains(&c.project_id)))
        .ok_or_else(|| ServiceError::not_found("charge"))
}

/// Locks the charge for a change of its balance; NOT_FOUND outside the caller's scope.
pub async fn lock(
    conn: &mut PgConnection,
    tenant: Uuid,
    charge_id: Uuid,
    scope: Option<&[Uuid]>,
) -> ServiceResult<Charge> {
    let charge: Option<Charge> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CHARGE_COLUMNS} from charges where tenant_id = $1 and charge_id = $2 for update"
    )))
    .bind(tenant)
    .bind(charge_id)
    .fetch_optional(conn)
    .await?;
    charge
        .filter(|c| scope.is_none_or(|ids| ids.contains(&c.project_id)))
        .ok_or_else(|| ServiceError::not_found("charge"))
}

/// Stores the new balance (and the status it implies) of a locked charge after a payment or refund.
pub async fn store_balance(
    conn: &mut PgConnection,
    tenant: Uuid,
    charge: &mut Charge,
    balance: Balance,
) -> ServiceResult<()> {
    let mut writes = Writes::new();
    store_balance_to(&mut writes, tenant, charge, balance);
    writes.execute(conn).await?;
    Ok(())
}

/// Like [`store_balance`], as one of `writes`.
pub fn store_balance_to(writes: &mut Writes, tenant: Uuid, charge: &mut Charge, balance: Balance) {
    writes.add(|q| push_balance_update(q, tenant, charge.charge_id, balance));
    charge.set_balance(balance);
}

/// `update charges set <the balance> where <the charge>`, for more conditions to follow.
fn push_balance_update(
    q: &mut QueryBuilder<Postgres>,
    tenant: Uuid,
    charge_id: Uuid,
    balance: Balance,
) {
    q.push("update charges set paid_minor = ")
        .push_bind(balance.paid)
        .push(", refunded_minor = ")
        .push_bind(balance.refunded)
        .push(", status = ")
        .push_bind(balance.status().as_str())
        .push(" where tenant_id = ")
        .push_bind(tenant)
        .push(" and charge_id = ")
        .push_bind(charge_id);
}

/// Like [`store_balance_to`], for a charge read without a lock: the update takes the charge
/// only if its balance and status are still as read, it is still outside any settlement
/// group, and the CTE `also` returned a row. Returns the update's CTE, which returns a row
/// when it took the charge (for [`Writes::only_if`]).
pub fn store_balance_if_unchanged(
    writes: &mut Writes,
    tenant: Uuid,
    charge: &mut Charge,
    balance: Balance,
    also: &str,
) -> String {
    let updated = writes.add(|q| {
        push_balance_update(q, tenant, charge.charge_id, balance);
        q.push(" and amount_minor = ")
            .push_bind(charge.amount_minor)
            .push(" and paid_minor = ")
            .push_bind(charge.paid_minor)
            .push(" and refunded_minor = ")
            .push_bind(charge.refunded_minor)
            .push(" and status = ")
            .push_bind(charge.status.as_str())
            .push(format_args!(
                " and settlement_group is null and exists (select from {also}) returning charge_id"
            ));
    });
    charge.set_balance(balance);
    updated
}

/// Marks a locked charge cancelled (its balance was checked by [`Balance::cancel`]).
pub async fn store_cancellation(
    conn: &mut PgConnection,
    tenant: Uuid,
    charge: &mut Charge,
    reason: &str,
) -> ServiceResult<()> {
    let cancelled_at: DateTime<Utc> = sqlx::query_scalar(
        "update charges set status = 'cancelled', cancelled_at = now(), cancel_reason = $3
         where tenant_id = $1 and charge_id = $2
         returning cancelled_at",
    )
    .bind(tenant)
    .bind(charge.charge_id)
    .bind(reason)
    .fetch_one(conn)
    .await?;
    charge.status = Status::Cancelled;
    charge.cancelled_at = Some(cancelled_at);
    charge.cancel_reason = reason.to_string();
    Ok(())
}

/// Locks every charge of a settlement group, in charge id order (so two transactions locking
/// a group's charges never deadlock), whatever their status.
pub async fn lock_group(
    conn: &mut PgConnection,
    tenant: Uuid,
    settlement_group: &str,
) -> ServiceResult<Vec<Charge>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CHARGE_COLUMNS} from charges where tenant_id = $1 and settlement_group = $2
         order by charge_id for update"
    )))
    .bind(tenant)
    .bind(settlement_group)
    .fetch_all(conn)
    .await?)
}

/// Waives the unpaid rest of a locked, partly paid charge (see [`Balance::waive`]): its
/// amount becomes what is paid net of refunds and it is settled. Returns the amount waived,
/// or `None` when the charge is not partly paid (nothing is written then).
pub async fn store_waiver(
    conn: &mut PgConnection,
    tenant: Uuid,
    charge: &mut Charge,
    reason: &str,
) -> ServiceResult<Option<i64>> {
    let Some((balance, waived)) = charge.balance().waive() else {
        return Ok(None);
    };
    let waived_at: DateTime<Utc> = sqlx::query_scalar(
        "update charges set amount_minor = $3, waived_minor = waived_minor + $4, status = $5,
                            waived_at = now(), waive_reason = $6
         where tenant_id = $1 and charge_id = $2
         returning waived_at",
    )
    .bind(tenant)
    .bind(charge.charge_id)
    .bind(balance.amount)
    .bind(waived)
    .bind(balance.status().as_str())
    .bind(reason)
    .fetch_one(conn)
    .await?;
    charge.amount_minor = balance.amount;
    charge.waived_minor += waived;
    charge.status = balance.status();
    charge.waived_at = Some(waived_at);
    charge.waive_reason = reason.to_string();
    Ok(Some(waived))
}

/// Where a listing's charges are: a unit's, or a building's common part's.
#[derive(Clone, Copy, Debug)]
pub enum Location {
    Unit(Uuid),
    Building(Uuid),
}

pub async fn of_location(
    pool: &PgPool,
    tenant: Uuid,
    location: Location,
    scope: Option<Vec<Uuid>>,
    page: Page,
) -> ServiceResult<(Vec<Charge>, String)> {
    let (column, id) = match location {
        Location::Unit(id) => ("unit_id", id),
        Location::Building(id) => ("building_id", id),
    };
    let rows: Vec<Charge> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CHARGE_COLUMNS} from charges
         where tenant_id = $1 and {column} = $2 and charge_id > $3 and ($4::uuid[] is null or project_id = any($4))
         order by charge_id limit $5"
    )))
    .bind(tenant)
    .bind(id)
    .bind(page.after)
    .bind(scope)
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |c| c.charge_id))
}

/// Every charge of a unit in scope, oldest first (a unit's account holds tens of charges).
pub async fn all_of_unit(
    pool: &PgPool,
    tenant: Uuid,
    unit_id: Uuid,
    scope: Option<Vec<Uuid>>,
) -> ServiceResult<Vec<Charge>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CHARGE_COLUMNS} from charges
         where tenant_id = $1 and unit_id = $2 and ($3::uuid[] is null or project_id = any($3))
         order by created_at, charge_id"
    )))
    .bind(tenant)
    .bind(unit_id)
    .bind(scope)
    .fetch_all(pool)
    .await?)
}
