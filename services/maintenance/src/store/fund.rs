//! The special maintenance fund's rows: units' owners and areas, the projects' vote rules, the
//! proposals with their electorate and ballots.

use anju_kit::{Principal, ServiceError, ServiceResult};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// The owner key of the developer's unsold units.
pub const DEVELOPER: &str = "developer";

pub async fn unit_registered(
    conn: &mut PgConnection,
    tenant: Uuid,
    unit: Uuid,
    project: Uuid,
    building: Uuid,
    area_cm2: i64,
) -> sqlx::Result<()> {
    // A registration repeated (or arriving after the sale) keeps the contract's area.
    sqlx::query(
        "insert into unit_owners (unit_id, tenant_id, project_id, building_id, area_cm2)
         values ($1, $2, $3, $4, $5)
         on conflict (unit_id) do update set
             area_cm2 = case when unit_owners.contract_id is null then excluded.area_cm2
                             else unit_owners.area_cm2 end
         where unit_owners.tenant_id = excluded.tenant_id",
    )
    .bind(unit)
    .bind(tenant)
    .bind(project)
    .bind(building)
    .bind(area_cm2)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn sold(
    conn: &mut PgConnection,
    tenant: Uuid,
    unit: Uuid,
    contract: Uuid,
    owner: &str,
    area_cm2: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "update unit_owners set owner_id = $3, contract_id = $4,
             area_cm2 = case when $5 > 0 then $5 else area_cm2 end
         where unit_id = $1 and tenant_id = $2",
    )
    .bind(unit)
    .bind(tenant)
    .bind(owner)
    .bind(contract)
    .bind(area_cm2)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn cancelled(
    conn: &mut PgConnection,
    tenant: Uuid,
    unit: Uuid,
    contract: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "update unit_owners set owner_id = null, contract_id = null
         where unit_id = $1 and tenant_id = $2 and contract_id = $3",
    )
    .bind(unit)
    .bind(tenant)
    .bind(contract)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_rule(
    conn: &mut PgConnection,
    tenant: Uuid,
    project: Uuid,
    rule: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into fund_vote_rules (project_id, tenant_id, rule) values ($1, $2, $3)
         on conflict (project_id) do update set rule = excluded.rule",
    )
    .bind(project)
    .bind(tenant)
    .bind(rule)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn rule_of<'c>(
    conn: impl PgExecutor<'c>,
    tenant: Uuid,
    project: Uuid,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("select rule from fund_vote_rules where tenant_id = $1 and project_id = $2")
        .bind(tenant)
        .bind(project)
        .fetch_optional(conn)
        .await
}

#[derive(Clone, Debug, FromRow)]
pub struct Proposal {
    pub proposal_id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub building_id: Uuid,
    pub component: String,
    pub description: String,
    pub amount_minor: i64,
    pub currency: String,
    pub rule: String,
    pub state: String,
    pub vote_closes_at: DateTime<Utc>,
    pub participating_area: Option<i64>,
    pub participating_owners: Option<i64>,
    pub approving_area: Option<i64>,
    pub approving_owners: Option<i64>,
    pub approval_reference: Option<String>,
    pub transfer_reference: Option<String>,
}

const COLUMNS: &str = "proposal_id, tenant_id, project_id, building_id, component, description,
    amount_minor, currency, rule, state, vote_closes_at, participating_area, participating_owners,
    approving_area, approving_owners, approval_reference, transfer_reference";

/// Inserts a proposal with its electorate: every unit of the building, each with its owner
/// (the developer for the unsold) and area. Returns the number of units.
pub async fn propose(conn: &mut PgConnection, p: &Proposal) -> sqlx::Result<u64> {
    sqlx::query(
        "insert into fund_proposals (proposal_id, tenant_id, project_id, building_id, component,
             description, amount_minor, currency, rule, vote_closes_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(p.proposal_id)
    .bind(p.tenant_id)
    .bind(p.project_id)
    .bind(p.building_id)
    .bind(&p.component)
    .bind(&p.description)
    .bind(p.amount_minor)
    .bind(&p.currency)
    .bind(&p.rule)
    .bind(p.vote_closes_at)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query(
        "insert into fund_electorate (proposal_id, unit_id, owner_id, area_cm2)
         select $1, unit_id, coalesce(owner_id, $4), area_cm2 from unit_owners
         where tenant_id = $2 and building_id = $3",
    )
    .bind(p.proposal_id)
    .bind(p.tenant_id)
    .bind(p.building_id)
    .bind(DEVELOPER)
    .execute(conn)
    .await?
    .rows_affected())
}

/// A proposal as `principal` may see it, locked when `lock` is `for update`.
pub async fn visible<'c>(
    conn: impl PgExecutor<'c>,
    principal: &Principal,
    id: Uuid,
    lock: &str,
) -> ServiceResult<Proposal> {
    let found: Option<Proposal> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from fund_proposals where tenant_id = $1 and proposal_id = $2 {lock}"
    )))
    .bind(principal.tenant_id)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    found
        .filter(|p| principal.can_see_project(p.project_id))
        .ok_or_else(|| ServiceError::not_found("fund proposal"))
}

/// The electorate: (owner, units' area) per owner.
pub async fn electorate<'c>(
    conn: impl PgExecutor<'c>,
    id: Uuid,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "select owner_id, area_cm2 from fund_electorate where proposal_id = $1 order by unit_id",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

/// The electorate unit by unit: (unit, owner, area), in unit order.
pub async fn units<'c>(
    conn: impl PgExecutor<'c>,
    id: Uuid,
) -> sqlx::Result<Vec<(Uuid, String, i64)>> {
    sqlx::query_as(
        "select unit_id, owner_id, area_cm2 from fund_electorate where proposal_id = $1 order by unit_id",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

pub async fn ballots<'c>(
    conn: impl PgExecutor<'c>,
    id: Uuid,
) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "select owner_id, choice from fund_ballots where proposal_id = $1 order by owner_id",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

/// Records a ballot; `false` if the owner voted already.
pub async fn cast(
    conn: &mut PgConnection,
    id: Uuid,
    owner: &str,
    choice: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "insert into fund_ballots (proposal_id, owner_id, choice) values ($1, $2, $3)
         on conflict do nothing",
    )
    .bind(id)
    .bind(owner)
    .bind(choice)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Writes the count and the outcome of a closed vote.
pub async fn close(
    conn: &mut PgConnection,
    id: Uuid,
    state: &str,
    t: &crate::domain::vote::Tally,
) -> sqlx::Result<()> {
    sqlx::query(
        "update fund_proposals set state = $2, closed_at = now(), participating_area = $3,
             participating_owners = $4, approving_area = $5, approving_owners = $6
         where proposal_id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(t.participating_area)
    .bind(t.participating_owners)
    .bind(t.approving_area)
    .bind(t.approving_owners)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn approve(conn: &mut PgConnection, id: Uuid, reference: &str) -> sqlx::Result<()> {
    sqlx::query(
        "update fund_proposals set state = 'approved', approval_reference = $2, approved_at = now()
         where proposal_id = $1",
    )
    .bind(id)
    .bind(reference)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn transfer(conn: &mut PgConnection, id: Uuid, reference: &str) -> sqlx::Result<()> {
    sqlx::query(
        "update fund_proposals set state = 'transferred', transfer_reference = $2,
             transferred_at = now()
         where proposal_id = $1",
    )
    .bind(id)
    .bind(reference)
    .execute(conn)
    .await?;
    Ok(())
}
