//! Charges: what a payer owes (or is owed) for a unit, for one purpose.

use anju_kit::{ServiceError, ServiceResult, paging::Page};
use anju_proto::{common, finance as pb};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow, PartialEq, Eq)]
pub struct Charge {
    pub charge_id: Uuid,
    pub project_id: Uuid,
    pub unit_id: Uuid,
    pub payer_id: String,
    pub purpose: String,
    pub amount_minor: i64,
    pub currency: String,
    pub business_key: String,
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Charge {
    /// Whether `other` bills the same thing (ids and timestamps aside).
    pub fn same_terms(&self, other: &Charge) -> bool {
        self.project_id == other.project_id
            && self.unit_id == other.unit_id
            && self.payer_id == other.payer_id
            && self.purpose == other.purpose
            && self.amount_minor == other.amount_minor
            && self.currency == other.currency
            && self.due_at == other.due_at
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
    })
}

fn purpose_of(name: &str) -> pb::ChargePurpose {
    (1..=12)
        .filter_map(|n| pb::ChargePurpose::try_from(n).ok())
        .find(|p| purpose_name(*p) == Some(name))
        .unwrap_or(pb::ChargePurpose::Unspecified)
}

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

impl From<Charge> for pb::Charge {
    fn from(c: Charge) -> Self {
        pb::Charge {
            charge_id: c.charge_id.to_string(),
            project_id: c.project_id.to_string(),
            unit_id: c.unit_id.to_string(),
            payer_id: c.payer_id,
            purpose: purpose_of(&c.purpose) as i32,
            amount: Some(common::Money {
                minor_units: c.amount_minor,
                currency: c.currency,
            }),
            business_key: c.business_key,
            due_at: c.due_at.map(timestamp),
            created_at: Some(timestamp(c.created_at)),
        }
    }
}

const COLUMNS: &str = "charge_id, project_id, unit_id, payer_id, purpose, amount_minor, currency, business_key, due_at, created_at";

pub async fn by_business_key(conn: &mut PgConnection, tenant: Uuid, key: &str) -> ServiceResult<Option<Charge>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from charges where tenant_id = $1 and business_key = $2"
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
                              currency, business_key, due_at, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
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
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

pub async fn get(pool: &PgPool, tenant: Uuid, charge_id: Uuid) -> ServiceResult<Charge> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from charges where tenant_id = $1 and charge_id = $2"
    )))
    .bind(tenant)
    .bind(charge_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ServiceError::not_found("charge"))
}

pub async fn of_unit(pool: &PgPool, tenant: Uuid, unit_id: Uuid, scope: Option<Vec<Uuid>>, page: Page) -> ServiceResult<(Vec<Charge>, String)> {
    let rows: Vec<Charge> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from charges
         where tenant_id = $1 and unit_id = $2 and charge_id > $3 and ($4::uuid[] is null or project_id = any($4))
         order by charge_id limit $5"
    )))
    .bind(tenant)
    .bind(unit_id)
    .bind(page.after)
    .bind(scope)
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |c| c.charge_id))
}
