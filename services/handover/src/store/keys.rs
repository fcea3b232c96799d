//! The spare keys the management office lends out and takes back.

use anju_kit::{Principal, ServiceError, ServiceResult};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub struct KeyLoan {
    pub loan_id: Uuid,
    pub unit_id: Uuid,
    pub kind: String,
    pub borrower: String,
    pub purpose: String,
    pub out_at: DateTime<Utc>,
    pub back_at: Option<DateTime<Utc>>,
}

const LOAN: &str = "loan_id, unit_id, kind, borrower, purpose, out_at, back_at";

/// Takes the unit's spare key of `kind` out of the office; `false` when it is already out.
pub async fn take_spare(conn: &mut PgConnection, unit_id: Uuid, kind: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "update keys set status = 'on_loan' where unit_id = $1 and kind = $2 and set = 'spare' and status = 'in_office'",
    )
    .bind(unit_id)
    .bind(kind)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn lend(
    conn: &mut PgConnection,
    principal: &Principal,
    unit_id: Uuid,
    kind: &str,
    borrower: &str,
    purpose: &str,
) -> sqlx::Result<KeyLoan> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into key_loans (loan_id, tenant_id, unit_id, kind, borrower, purpose, lent_by)
         values ($1, $2, $3, $4, $5, $6, $7)
         returning {LOAN}"
    )))
    .bind(anju_kit::ids::new_id())
    .bind(principal.tenant_id)
    .bind(unit_id)
    .bind(kind)
    .bind(borrower)
    .bind(purpose)
    .bind(&principal.subject)
    .fetch_one(conn)
    .await
}

/// Closes an open loan (NOT_FOUND when there is none of the caller's tenant).
pub async fn close_loan(
    conn: &mut PgConnection,
    principal: &Principal,
    loan_id: Uuid,
) -> ServiceResult<KeyLoan> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update key_loans set back_at = now(), returned_to = $3
         where tenant_id = $1 and loan_id = $2 and back_at is null
         returning {LOAN}"
    )))
    .bind(principal.tenant_id)
    .bind(loan_id)
    .bind(&principal.subject)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::not_found("open key loan"))
}

/// The spare key of `kind` is back in the office.
pub async fn put_back_spare(
    conn: &mut PgConnection,
    unit_id: Uuid,
    kind: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "update keys set status = 'in_office' where unit_id = $1 and kind = $2 and set = 'spare'",
    )
    .bind(unit_id)
    .bind(kind)
    .execute(conn)
    .await?;
    Ok(())
}
