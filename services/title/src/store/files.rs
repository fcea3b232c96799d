//! Title files: a unit's survey, its contract as sales published it, and each step to the deed.

use anju_kit::{Principal, Refusal, ServiceError, ServiceResult};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::{
    area::{Band, Difference},
    file::{Choice, Facts},
};

#[derive(Clone, Debug, FromRow)]
pub struct TitleFile {
    pub unit_id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub measured_area_cm2: Option<i64>,
    pub surveyed_at: Option<DateTime<Utc>>,
    pub building_id: Option<Uuid>,
    pub contract_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub buyer_name: String,
    pub contract_area_cm2: Option<i64>,
    pub price_minor: Option<i64>,
    pub currency: String,
    pub mortgaged: bool,
    pub lending_bank: String,
    pub time_zone: String,
    pub cancelled: bool,
    pub surveying_firm: String,
    pub survey_report: String,
    pub handed_over_on: Option<NaiveDate>,
    pub assessed_at: Option<DateTime<Utc>>,
    pub band: Option<String>,
    pub error_ratio_ppm: Option<i64>,
    pub buyer_amount_minor: Option<i64>,
    pub developer_bears_minor: Option<i64>,
    pub choice: Option<String>,
    pub choice_deemed: bool,
    pub choice_due_on: Option<NaiveDate>,
    pub area_settled_at: Option<DateTime<Utc>>,
    pub owner_notified_at: Option<DateTime<Utc>>,
    pub owner_notices: i32,
    pub documents_completed_at: Option<DateTime<Utc>>,
    pub deed_tax_minor: Option<i64>,
    pub registration_fee_minor: Option<i64>,
    pub fees_assessed_at: Option<DateTime<Utc>>,
    pub fees_paid_at: Option<DateTime<Utc>>,
    pub application_receipt: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub deed_number: Option<String>,
    pub deed_issued_on: Option<NaiveDate>,
    pub delivered_to: Option<String>,
    pub delivery_receipt: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
}

pub(super) const COLUMNS: &str =
    "unit_id, tenant_id, project_id, measured_area_cm2, surveyed_at, building_id,
    contract_id, customer_id, buyer_name, contract_area_cm2, price_minor, currency, mortgaged,
    lending_bank, time_zone, cancelled, surveying_firm, survey_report, handed_over_on, assessed_at,
    band, error_ratio_ppm, buyer_amount_minor, developer_bears_minor, choice, choice_deemed,
    choice_due_on, area_settled_at, owner_notified_at, owner_notices, documents_completed_at,
    deed_tax_minor, registration_fee_minor, fees_assessed_at, fees_paid_at, application_receipt,
    submitted_at, deed_number, deed_issued_on, delivered_to, delivery_receipt, delivered_at,
    archived_at";

impl TitleFile {
    pub fn choice(&self) -> Option<Choice> {
        self.choice.as_deref().and_then(Choice::parse)
    }

    pub fn band(&self) -> Option<Band> {
        self.band.as_deref().and_then(Band::parse)
    }

    pub fn zone(&self) -> anju_kit::time::ProjectZone {
        anju_kit::time::ProjectZone::or_default(&self.time_zone)
    }

    /// The file's contract, or the refusal of a step that needs one.
    pub fn contract(&self) -> Result<Uuid, Refusal> {
        match self.contract_id {
            Some(id) if self.cancelled => Err(Refusal::new(
                "CONTRACT_CANCELLED",
                "the unit's contract was cancelled",
            )
            .with("unit_id", self.unit_id)
            .with("contract_id", id)),
            Some(id) => Ok(id),
            None => Err(
                Refusal::new("NO_CONTRACT", "the unit has no signed contract")
                    .with("unit_id", self.unit_id),
            ),
        }
    }

    /// The facts the rules read, given what only other tables know.
    pub fn facts(&self, documents_missing: Vec<String>, building_registered: bool) -> Facts {
        Facts {
            surveyed: self.measured_area_cm2.is_some(),
            has_contract: self.contract_id.is_some(),
            cancelled: self.cancelled,
            assessed: self.assessed_at.is_some(),
            buyer_may_cancel: self.band().is_some_and(|b| b != Band::Within),
            choice: self.choice(),
            area_settled: self.area_settled_at.is_some(),
            documents_missing,
            fees_assessed: self.fees_assessed_at.is_some(),
            fees_paid: self.fees_paid_at.is_some(),
            building_registered,
            submitted: self.submitted_at.is_some(),
            deed_issued: self.deed_issued_on.is_some(),
            delivered: self.delivered_at.is_some(),
            mortgaged: self.mortgaged,
        }
    }
}

/// A unit's file, locked for the caller's transaction; NOT_FOUND outside the caller's tenant
/// and projects.
pub async fn lock(
    conn: &mut PgConnection,
    principal: &Principal,
    unit_id: Uuid,
) -> ServiceResult<TitleFile> {
    lock_unit(conn, principal.tenant_id, unit_id)
        .await?
        .filter(|f| principal.can_see_project(f.project_id))
        .ok_or_else(|| ServiceError::not_found("title file"))
}

/// A unit's file as `principal` may see it.
pub async fn get<'e>(
    db: impl PgExecutor<'e>,
    principal: &Principal,
    unit_id: Uuid,
) -> ServiceResult<TitleFile> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from title_files where tenant_id = $1 and unit_id = $2"
    )))
    .bind(principal.tenant_id)
    .bind(unit_id)
    .fetch_optional(db)
    .await?
    .filter(|f: &TitleFile| principal.can_see_project(f.project_id))
    .ok_or_else(|| ServiceError::not_found("title file"))
}

/// A file by its contract, locked (consumers and the clock sweeper).
pub async fn lock_by_contract(
    conn: &mut PgConnection,
    tenant: Uuid,
    contract_id: Uuid,
) -> sqlx::Result<Option<TitleFile>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from title_files where tenant_id = $1 and contract_id = $2 for update"
    )))
    .bind(tenant)
    .bind(contract_id)
    .fetch_optional(conn)
    .await
}

/// A file by its unit, locked, whatever the caller (consumers).
pub async fn lock_unit(
    conn: &mut PgConnection,
    tenant: Uuid,
    unit_id: Uuid,
) -> sqlx::Result<Option<TitleFile>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from title_files where tenant_id = $1 and unit_id = $2 for update"
    )))
    .bind(tenant)
    .bind(unit_id)
    .fetch_optional(conn)
    .await
}

/// A survey on the unit's file, created if need be. A unit belongs to one tenant and one
/// project for ever: a survey naming it under another is NOT_FOUND. A file whose area
/// difference is assessed keeps its survey: AREA_ALREADY_ASSESSED.
pub async fn record_survey(
    conn: &mut PgConnection,
    tenant: Uuid,
    project_id: Uuid,
    unit_id: Uuid,
    area_cm2: i64,
    firm: &str,
    report: &str,
) -> ServiceResult<TitleFile> {
    let existing: Option<(Uuid, Uuid, Option<Uuid>, bool)> = sqlx::query_as(
        "select tenant_id, project_id, contract_id, assessed_at is not null and not cancelled
         from title_files where unit_id = $1 for update",
    )
    .bind(unit_id)
    .fetch_optional(&mut *conn)
    .await?;
    match existing {
        Some((t, p, _, _)) if t != tenant || p != project_id => {
            return Err(ServiceError::not_found("unit"));
        }
        Some((_, _, contract, true)) => {
            return Err(Refusal::new(
                "AREA_ALREADY_ASSESSED",
                "the area difference of the unit's contract is assessed; the survey stands",
            )
            .with("unit_id", unit_id)
            .with(
                "contract_id",
                contract.map(|c| c.to_string()).unwrap_or_default(),
            )
            .into());
        }
        _ => {}
    }
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into title_files (unit_id, tenant_id, project_id, measured_area_cm2, surveyed_at,
                                  surveying_firm, survey_report)
         values ($1, $2, $3, $4, now(), $5, $6)
         on conflict (unit_id) do update set measured_area_cm2 = excluded.measured_area_cm2,
             surveyed_at = now(), surveying_firm = excluded.surveying_firm,
             survey_report = excluded.survey_report
         returning {COLUMNS}"
    )))
    .bind(unit_id)
    .bind(tenant)
    .bind(project_id)
    .bind(area_cm2)
    .bind(firm)
    .bind(report)
    .fetch_one(conn)
    .await
    .map_err(Into::into)
}

/// A contract as sales published it.
pub struct Contract {
    pub unit_id: Uuid,
    pub project_id: Uuid,
    pub building_id: Uuid,
    pub contract_id: Uuid,
    pub customer_id: Uuid,
    pub buyer_name: String,
    pub contract_area_cm2: i64,
    pub price_minor: i64,
    pub currency: String,
    pub mortgaged: bool,
    pub lending_bank: String,
    pub time_zone: String,
}

/// Records the unit's contract. A new contract for the unit starts the file over but for the
/// survey; a stale or repeated event changes nothing (sequence-guarded). Returns the file when
/// it changed.
pub async fn learn_contract(
    conn: &mut PgConnection,
    tenant: Uuid,
    c: &Contract,
    sequence: i64,
) -> sqlx::Result<Option<TitleFile>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into title_files (unit_id, tenant_id, project_id, building_id, contract_id, customer_id,
             buyer_name, contract_area_cm2, price_minor, currency, mortgaged, lending_bank, time_zone,
             contract_sequence)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         on conflict (unit_id) do update set
             project_id = excluded.project_id, building_id = excluded.building_id,
             contract_id = excluded.contract_id, customer_id = excluded.customer_id,
             buyer_name = excluded.buyer_name, contract_area_cm2 = excluded.contract_area_cm2,
             price_minor = excluded.price_minor, currency = excluded.currency,
             mortgaged = excluded.mortgaged, lending_bank = excluded.lending_bank,
             time_zone = excluded.time_zone, contract_sequence = excluded.contract_sequence,
             cancelled = false, handed_over_on = null, assessed_at = null, band = null,
             error_ratio_ppm = null, buyer_amount_minor = null, developer_bears_minor = null,
             choice = null, choice_deemed = false, choice_due_on = null, area_settled_at = null,
             owner_notified_at = null, owner_notices = 0, documents_completed_at = null,
             deed_tax_minor = null, registration_fee_minor = null, fees_assessed_at = null,
             fees_paid_at = null, application_receipt = null, submitted_at = null,
             deed_number = null, deed_issued_on = null, delivered_to = null,
             delivery_receipt = null, delivered_at = null, archived_at = null
         where title_files.tenant_id = excluded.tenant_id
           and title_files.contract_id is distinct from excluded.contract_id
           and title_files.contract_sequence <= excluded.contract_sequence
         returning {COLUMNS}"
    )))
    .bind(c.unit_id)
    .bind(tenant)
    .bind(c.project_id)
    .bind(c.building_id)
    .bind(c.contract_id)
    .bind(c.customer_id)
    .bind(&c.buyer_name)
    .bind(c.contract_area_cm2)
    .bind(c.price_minor)
    .bind(&c.currency)
    .bind(c.mortgaged)
    .bind(&c.lending_bank)
    .bind(&c.time_zone)
    .bind(sequence)
    .fetch_optional(conn)
    .await
}

/// Marks the file of a cancelled contract; its clocks stop. Returns the file when it changed.
pub async fn cancel_contract(
    conn: &mut PgConnection,
    tenant: Uuid,
    contract_id: Uuid,
) -> sqlx::Result<Option<TitleFile>> {
    let file: Option<TitleFile> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update title_files set cancelled = true
         where tenant_id = $1 and contract_id = $2 and not cancelled
         returning {COLUMNS}"
    )))
    .bind(tenant)
    .bind(contract_id)
    .fetch_optional(&mut *conn)
    .await?;
    if file.is_some() {
        sqlx::query(
            "update title_clocks set met_at = now() where contract_id = $1 and met_at is null",
        )
        .bind(contract_id)
        .execute(conn)
        .await?;
    }
    Ok(file)
}

/// The area difference of the file's contract, assessed once.
pub async fn record_assessment(
    conn: &mut PgConnection,
    unit_id: Uuid,
    d: &Difference,
    choice_due_on: Option<NaiveDate>,
) -> sqlx::Result<TitleFile> {
    // Nothing owed and nothing to choose: settled at once.
    let settled_now = d.buyer_minor == 0 && !d.buyer_may_cancel();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update title_files set assessed_at = now(), band = $2, error_ratio_ppm = $3,
             buyer_amount_minor = $4, developer_bears_minor = $5, choice_due_on = $6,
             area_settled_at = case when $7 then now() end
         where unit_id = $1
         returning {COLUMNS}"
    )))
    .bind(unit_id)
    .bind(d.band.as_str())
    .bind(d.error_ratio_ppm)
    .bind(d.buyer_minor)
    .bind(d.developer_bears_minor)
    .bind(choice_due_on)
    .bind(settled_now)
    .fetch_one(conn)
    .await
}

/// A page of a project's files (by unit id), optionally only those with a clock warned
/// (`at_risk`) or breached (`overdue`) and not met.
pub async fn list<'e>(
    db: impl PgExecutor<'e>,
    tenant: Uuid,
    project_id: Uuid,
    filter: Option<&'static str>,
    after: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<TitleFile>> {
    let clock = match filter {
        Some("overdue") => {
            "and exists (select 1 from title_clocks k where k.contract_id = f.contract_id
                 and k.met_at is null and k.breached_at is not null and k.kind <> 'choice')"
        }
        Some(_) => {
            "and exists (select 1 from title_clocks k where k.contract_id = f.contract_id
                 and k.met_at is null and k.warned_at is not null and k.kind <> 'choice')"
        }
        None => "",
    };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from title_files f
         where f.tenant_id = $1 and f.project_id = $2 and f.unit_id > $3 {clock}
         order by f.unit_id limit $4"
    )))
    .bind(tenant)
    .bind(project_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}
