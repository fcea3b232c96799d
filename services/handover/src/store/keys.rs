//! Every key from its arrival, and the loans of spare and working keys.

use anju_kit::{Principal, ServiceError, ServiceResult, paging::Page};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::keys::Holder;

#[derive(Clone, Debug, FromRow)]
pub struct KeySet {
    pub key_set_id: Uuid,
    pub project_id: Uuid,
    pub building_id: Uuid,
    pub unit_id: Option<Uuid>,
    pub floor: Option<i32>,
    pub installation: Option<String>,
    pub kind: String,
    pub set: String,
    pub tag: String,
    pub status: String,
    pub received_at: DateTime<Utc>,
}

const KEY_SET: &str = "key_set_id, project_id, building_id, unit_id, floor, installation, kind, \"set\", tag, status, received_at";

/// One key arriving from the contractor.
pub struct Receipt<'a> {
    pub holder: Holder,
    pub kind: &'a str,
    pub set: &'a str,
    pub tag: &'a str,
}

/// Why a receipt was not recorded.
pub enum Conflict {
    /// The tag is another key's in the project.
    Tag(String),
    /// The holder already has that kind in that set.
    Set(String),
}

/// Records the keys (all or none, the caller's transaction rolls back on a conflict).
pub async fn receive(
    conn: &mut PgConnection,
    principal: &Principal,
    project_id: Uuid,
    building_id: Uuid,
    receipts: &[Receipt<'_>],
) -> sqlx::Result<Result<Vec<KeySet>, Conflict>> {
    let mut received = Vec::with_capacity(receipts.len());
    for r in receipts {
        let (unit, floor, installation) = match &r.holder {
            Holder::Unit(u) => (Some(*u), None, None),
            Holder::Floor(f) => (None, Some(*f), None),
            Holder::Installation(i) => (None, None, Some(i.as_str())),
        };
        let taken: Option<String> = sqlx::query_scalar(
            "select tag from key_sets where tenant_id = $1 and project_id = $2 and tag = $3",
        )
        .bind(principal.tenant_id)
        .bind(project_id)
        .bind(r.tag)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(tag) = taken {
            return Ok(Err(Conflict::Tag(tag)));
        }
        let row: Option<KeySet> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "insert into key_sets (key_set_id, tenant_id, project_id, building_id, unit_id, floor, installation,
                                   kind, \"set\", tag, status, received_by)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'in_office', $11)
             on conflict do nothing
             returning {KEY_SET}"
        )))
        .bind(anju_kit::ids::new_id())
        .bind(principal.tenant_id)
        .bind(project_id)
        .bind(building_id)
        .bind(unit)
        .bind(floor)
        .bind(installation)
        .bind(r.kind)
        .bind(r.set)
        .bind(r.tag)
        .bind(&principal.subject)
        .fetch_optional(&mut *conn)
        .await?;
        match row {
            Some(row) => received.push(row),
            None => return Ok(Err(Conflict::Set(r.tag.to_string()))),
        }
    }
    Ok(Ok(received))
}

/// Whether handover knows every one of `units` (distinct) in that building of the project,
/// from sales' units or contracts: one query for a whole receipt.
pub async fn units_in_building(
    conn: &mut PgConnection,
    tenant: Uuid,
    project_id: Uuid,
    building_id: Uuid,
    units: &[Uuid],
) -> sqlx::Result<bool> {
    let known: i64 = sqlx::query_scalar(
        "select count(*) from unnest($4::uuid[]) as asked (unit_id)
         where exists (select 1 from units u where u.unit_id = asked.unit_id and u.tenant_id = $1
                         and u.project_id = $2 and u.building_id = $3)
            or exists (select 1 from contracts c where c.unit_id = asked.unit_id and c.tenant_id = $1
                         and c.project_id = $2 and c.building_id = $3)",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(building_id)
    .bind(units)
    .fetch_one(conn)
    .await?;
    Ok(usize::try_from(known).is_ok_and(|n| n == units.len()))
}

/// A building's keys (or one unit's), in the order received, a page at a time.
pub async fn list(
    pool: &PgPool,
    tenant: Uuid,
    project_id: Uuid,
    building_id: Option<Uuid>,
    unit_id: Option<Uuid>,
    page: Page,
) -> ServiceResult<(Vec<KeySet>, String)> {
    let rows: Vec<KeySet> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {KEY_SET} from key_sets
         where tenant_id = $1 and project_id = $2 and ($3::uuid is null or building_id = $3)
           and ($4::uuid is null or unit_id = $4) and key_set_id > $5
         order by key_set_id limit $6"
    )))
    .bind(tenant)
    .bind(project_id)
    .bind(building_id)
    .bind(unit_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |k| k.key_set_id))
}

/// A unit's keys.
pub async fn of_unit(conn: &mut PgConnection, unit_id: Uuid) -> sqlx::Result<Vec<KeySet>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {KEY_SET} from key_sets where unit_id = $1 order by kind, \"set\""
    )))
    .bind(unit_id)
    .fetch_all(conn)
    .await
}

/// The key a loan is asked for: by tag, or a unit's spare of a kind (taking it out is one
/// conditional update, [`take`]).
pub async fn lendable(
    conn: &mut PgConnection,
    principal: &Principal,
    tag: Option<(Uuid, &str)>,
    unit_kind: Option<(Uuid, &str)>,
) -> ServiceResult<KeySet> {
    let (unit, kind) = unit_kind.unzip();
    let (project, tag) = tag.unzip();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {KEY_SET} from key_sets
         where tenant_id = $1
           and (($2::text is not null and project_id = $5 and tag = $2)
                or ($2::text is null and unit_id = $3 and kind = $4 and \"set\" = 'spare'))"
    )))
    .bind(principal.tenant_id)
    .bind(tag)
    .bind(unit)
    .bind(kind)
    .bind(project)
    .fetch_optional(conn)
    .await?
    .filter(|k: &KeySet| principal.can_see_project(k.project_id))
    .ok_or_else(|| ServiceError::not_found("key"))
}

#[derive(Clone, Debug, FromRow)]
pub struct KeyLoan {
    pub loan_id: Uuid,
    pub unit_id: Option<Uuid>,
    pub kind: String,
    pub tag: String,
    pub key_set_id: Uuid,
    pub borrower: String,
    pub borrower_organisation: String,
    pub reason: String,
    pub purpose: String,
    pub out_at: DateTime<Utc>,
    pub due_back_at: DateTime<Utc>,
    pub back_at: Option<DateTime<Utc>>,
}

const LOAN: &str = "loan_id, unit_id, kind, tag, key_set_id, borrower, borrower_organisation, reason, purpose, \
                    out_at, due_back_at, back_at";

/// A loan being made.
pub struct NewLoan<'a> {
    pub borrower: &'a str,
    pub borrower_organisation: &'a str,
    pub reason: &'a str,
    pub purpose: &'a str,
    pub due_back_at: DateTime<Utc>,
}

/// Takes the key out of the office; `false` when it is already out.
pub async fn take(conn: &mut PgConnection, key_set_id: Uuid) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "update key_sets set status = 'on_loan' where key_set_id = $1 and status = 'in_office'",
    )
    .bind(key_set_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn lend(
    conn: &mut PgConnection,
    principal: &Principal,
    key: &KeySet,
    loan: &NewLoan<'_>,
) -> sqlx::Result<KeyLoan> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into key_loans (loan_id, tenant_id, unit_id, kind, key_set_id, tag, borrower, borrower_organisation,
                                reason, purpose, due_back_at, lent_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         returning {LOAN}"
    )))
    .bind(anju_kit::ids::new_id())
    .bind(principal.tenant_id)
    .bind(key.unit_id)
    .bind(&key.kind)
    .bind(key.key_set_id)
    .bind(&key.tag)
    .bind(loan.borrower)
    .bind(loan.borrower_organisation)
    .bind(loan.reason)
    .bind(loan.purpose)
    .bind(loan.due_back_at)
    .bind(&principal.subject)
    .fetch_one(conn)
    .await
}

/// Closes an open loan of the caller's tenant and projects (NOT_FOUND otherwise) and puts the
/// key back in the office.
pub async fn close_loan(
    conn: &mut PgConnection,
    principal: &Principal,
    loan_id: Uuid,
) -> ServiceResult<KeyLoan> {
    let key: Option<(Uuid, Uuid)> = sqlx::query_as(
        "select s.key_set_id, s.project_id from key_loans l join key_sets s using (key_set_id)
         where l.tenant_id = $1 and l.loan_id = $2 and l.back_at is null
         for update of s",
    )
    .bind(principal.tenant_id)
    .bind(loan_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((key_set_id, _)) = key.filter(|(_, project)| principal.can_see_project(*project))
    else {
        return Err(ServiceError::not_found("open key loan"));
    };
    let loan: KeyLoan = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update key_loans set back_at = now(), returned_to = $2
         where loan_id = $1 and back_at is null
         returning {LOAN}"
    )))
    .bind(loan_id)
    .bind(&principal.subject)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::not_found("open key loan"))?;
    sqlx::query("update key_sets set status = 'in_office' where key_set_id = $1")
        .bind(key_set_id)
        .execute(conn)
        .await?;
    Ok(loan)
}

/// A project's open loans (only the overdue ones when asked), the longest out first.
pub async fn open_loans(
    pool: &PgPool,
    tenant: Uuid,
    project_id: Uuid,
    overdue_only: bool,
    page: Page,
) -> ServiceResult<(Vec<KeyLoan>, String)> {
    let rows: Vec<KeyLoan> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {LOAN_L} from key_loans l join key_sets s using (key_set_id)
         where l.tenant_id = $1 and s.project_id = $2 and l.back_at is null
           and (not $3 or l.due_back_at < now()) and l.loan_id > $4
         order by l.loan_id limit $5"
    )))
    .bind(tenant)
    .bind(project_id)
    .bind(overdue_only)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |l| l.loan_id))
}

const LOAN_L: &str = "l.loan_id, l.unit_id, l.kind, l.tag, l.key_set_id, l.borrower, l.borrower_organisation, \
                      l.reason, l.purpose, l.out_at, l.due_back_at, l.back_at";
