//! Buildings' filings and registrations, projects' title policies, and the owner's documents.

use anju_kit::{ServiceError, ServiceResult};
use chrono::NaiveDate;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::file::checklist;

#[derive(Clone, Debug, FromRow)]
pub struct Building {
    pub building_id: Uuid,
    pub project_id: Uuid,
    pub filing_number: Option<String>,
    pub filed_on: Option<NaiveDate>,
    pub registration_number: Option<String>,
    pub registered_on: Option<NaiveDate>,
}

impl Building {
    pub fn filed(&self) -> bool {
        self.filed_on.is_some()
    }

    pub fn registered(&self) -> bool {
        self.registered_on.is_some()
    }
}

const BUILDING: &str =
    "building_id, project_id, filing_number, filed_on, registration_number, registered_on";

pub async fn building<'e>(
    db: impl PgExecutor<'e>,
    tenant: Uuid,
    building_id: Uuid,
) -> sqlx::Result<Option<Building>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {BUILDING} from title_buildings where tenant_id = $1 and building_id = $2"
    )))
    .bind(tenant)
    .bind(building_id)
    .fetch_optional(db)
    .await
}

/// Whether sales registered units of `building_id` in the tenant's `project_id`.
pub async fn building_known<'e>(
    db: impl PgExecutor<'e>,
    tenant: Uuid,
    project_id: Uuid,
    building_id: Uuid,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from known_units
                        where tenant_id = $1 and project_id = $2 and building_id = $3)",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(building_id)
    .fetch_one(db)
    .await
}

/// Which of `units` sales registered in the tenant's `project_id`.
pub async fn units_known<'e>(
    db: impl PgExecutor<'e>,
    tenant: Uuid,
    project_id: Uuid,
    units: &[Uuid],
) -> sqlx::Result<std::collections::HashSet<Uuid>> {
    let known: Vec<Uuid> = sqlx::query_scalar(
        "select unit_id from known_units
         where tenant_id = $1 and project_id = $2 and unit_id = any($3)",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(units)
    .fetch_all(db)
    .await?;
    Ok(known.into_iter().collect())
}

/// Records the completion filing; a building of another tenant or project is NOT_FOUND.
pub async fn file_completion(
    conn: &mut PgConnection,
    tenant: Uuid,
    project_id: Uuid,
    building_id: Uuid,
    number: &str,
    on: NaiveDate,
) -> ServiceResult<Building> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into title_buildings (building_id, tenant_id, project_id, filing_number, filed_on)
         values ($1, $2, $3, $4, $5)
         on conflict (building_id) do update set filing_number = excluded.filing_number,
             filed_on = excluded.filed_on
         where title_buildings.tenant_id = excluded.tenant_id
           and title_buildings.project_id = excluded.project_id
         returning {BUILDING}"
    )))
    .bind(building_id)
    .bind(tenant)
    .bind(project_id)
    .bind(number)
    .bind(on)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::not_found("building"))
}

pub async fn register(
    conn: &mut PgConnection,
    building_id: Uuid,
    number: &str,
    on: NaiveDate,
) -> sqlx::Result<Building> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update title_buildings set registration_number = $2, registered_on = $3
         where building_id = $1 returning {BUILDING}"
    )))
    .bind(building_id)
    .bind(number)
    .bind(on)
    .fetch_one(conn)
    .await
}

#[derive(Clone, Debug, FromRow)]
pub struct Policy {
    pub project_id: Uuid,
    pub extra_documents: Vec<String>,
    pub submission_warning_days: i32,
    pub title_warning_days: i32,
    pub choice_days: i32,
    pub cancellation_interest_bp: i32,
}

impl Policy {
    pub fn defaults(project_id: Uuid) -> Self {
        Self {
            project_id,
            extra_documents: Vec::new(),
            submission_warning_days: 10,
            title_warning_days: 15,
            choice_days: 30,
            cancellation_interest_bp: 345,
        }
    }

    pub fn checklist(&self) -> Vec<String> {
        checklist(&self.extra_documents)
    }
}

pub async fn policy<'e>(
    db: impl PgExecutor<'e>,
    tenant: Uuid,
    project_id: Uuid,
) -> sqlx::Result<Policy> {
    let found: Option<Policy> = sqlx::query_as(
        "select project_id, extra_documents, submission_warning_days, title_warning_days,
                choice_days, cancellation_interest_bp
         from title_policies where tenant_id = $1 and project_id = $2",
    )
    .bind(tenant)
    .bind(project_id)
    .fetch_optional(db)
    .await?;
    Ok(found.unwrap_or_else(|| Policy::defaults(project_id)))
}

pub async fn set_policy(conn: &mut PgConnection, tenant: Uuid, p: &Policy) -> ServiceResult<()> {
    let done = sqlx::query(
        "insert into title_policies (project_id, tenant_id, extra_documents, submission_warning_days,
             title_warning_days, choice_days, cancellation_interest_bp)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (project_id) do update set extra_documents = excluded.extra_documents,
             submission_warning_days = excluded.submission_warning_days,
             title_warning_days = excluded.title_warning_days, choice_days = excluded.choice_days,
             cancellation_interest_bp = excluded.cancellation_interest_bp
         where title_policies.tenant_id = excluded.tenant_id",
    )
    .bind(p.project_id)
    .bind(tenant)
    .bind(&p.extra_documents)
    .bind(p.submission_warning_days)
    .bind(p.title_warning_days)
    .bind(p.choice_days)
    .bind(p.cancellation_interest_bp)
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ServiceError::not_found("project"));
    }
    Ok(())
}

#[derive(Clone, Debug, FromRow)]
pub struct Document {
    pub item: String,
    pub status: String,
    pub reason: String,
    pub rejections: i32,
}

pub async fn documents<'e>(
    db: impl PgExecutor<'e>,
    contract_id: Uuid,
) -> sqlx::Result<Vec<Document>> {
    sqlx::query_as(
        "select item, status, reason, rejections from title_documents
         where contract_id = $1 order by item",
    )
    .bind(contract_id)
    .fetch_all(db)
    .await
}

/// The checklist items not accepted for a contract.
pub fn missing(checklist: &[String], reviewed: &[Document]) -> Vec<String> {
    checklist
        .iter()
        .filter(|item| {
            !reviewed
                .iter()
                .any(|d| &d.item == *item && d.status == "accepted")
        })
        .cloned()
        .collect()
}

pub async fn review(
    conn: &mut PgConnection,
    unit_id: Uuid,
    contract_id: Uuid,
    item: &str,
    accepted: bool,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into title_documents (unit_id, contract_id, item, status, reason, rejections)
         values ($1, $2, $3, $4, $5, case when $4 = 'rejected' then 1 else 0 end)
         on conflict (contract_id, item) do update set status = excluded.status,
             reason = excluded.reason, updated_at = now(),
             rejections = title_documents.rejections + excluded.rejections",
    )
    .bind(unit_id)
    .bind(contract_id)
    .bind(item)
    .bind(if accepted { "accepted" } else { "rejected" })
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}
