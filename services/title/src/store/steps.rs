//! The steps of a title file after its contract and survey: each sets its columns on the
//! unit's row and returns the file as it is after.

use chrono::NaiveDate;
use sqlx::PgConnection;
use uuid::Uuid;

use super::files::{COLUMNS, TitleFile};
use crate::domain::file::Choice;

/// `update title_files set <set> where unit_id = $1 returning …`: `set`'s `$2…` are bound by
/// the caller, in order.
fn step(set: &str) -> String {
    format!("update title_files set {set} where unit_id = $1 returning {COLUMNS}")
}

pub async fn record_choice(
    conn: &mut PgConnection,
    unit_id: Uuid,
    choice: Choice,
    deemed: bool,
) -> sqlx::Result<TitleFile> {
    sqlx::query_as(sqlx::AssertSqlSafe(step("choice = $2, choice_deemed = $3")))
        .bind(unit_id)
        .bind(choice.as_str())
        .bind(deemed)
        .fetch_one(conn)
        .await
}

pub async fn area_settled(conn: &mut PgConnection, unit_id: Uuid) -> sqlx::Result<TitleFile> {
    sqlx::query_as(sqlx::AssertSqlSafe(step(
        "area_settled_at = coalesce(area_settled_at, now())",
    )))
    .bind(unit_id)
    .fetch_one(conn)
    .await
}

/// A settled group reopened (a payment refunded) or closed: its step is unpaid again.
pub async fn unsettled(conn: &mut PgConnection, unit_id: Uuid, part: &str) -> sqlx::Result<()> {
    let sql = match part {
        "area" => "update title_files set area_settled_at = null where unit_id = $1",
        _ => "update title_files set fees_paid_at = null where unit_id = $1",
    };
    sqlx::query(sql).bind(unit_id).execute(conn).await?;
    Ok(())
}

pub async fn fees_paid(conn: &mut PgConnection, unit_id: Uuid) -> sqlx::Result<TitleFile> {
    sqlx::query_as(sqlx::AssertSqlSafe(step(
        "fees_paid_at = coalesce(fees_paid_at, now())",
    )))
    .bind(unit_id)
    .fetch_one(conn)
    .await
}

pub async fn handed_over(
    conn: &mut PgConnection,
    unit_id: Uuid,
    on: NaiveDate,
) -> sqlx::Result<TitleFile> {
    sqlx::query_as(sqlx::AssertSqlSafe(step("handed_over_on = $2")))
        .bind(unit_id)
        .bind(on)
        .fetch_one(conn)
        .await
}

pub async fn owner_notified(conn: &mut PgConnection, unit_id: Uuid) -> sqlx::Result<TitleFile> {
    sqlx::query_as(sqlx::AssertSqlSafe(step(
        "owner_notified_at = now(), owner_notices = owner_notices + 1",
    )))
    .bind(unit_id)
    .fetch_one(conn)
    .await
}

pub async fn documents_completed(
    conn: &mut PgConnection,
    unit_id: Uuid,
) -> sqlx::Result<TitleFile> {
    sqlx::query_as(sqlx::AssertSqlSafe(step(
        "documents_completed_at = coalesce(documents_completed_at, now())",
    )))
    .bind(unit_id)
    .fetch_one(conn)
    .await
}

pub async fn fees_assessed(
    conn: &mut PgConnection,
    unit_id: Uuid,
    deed_tax_minor: i64,
    registration_fee_minor: i64,
) -> sqlx::Result<TitleFile> {
    sqlx::query_as(sqlx::AssertSqlSafe(step(
        "deed_tax_minor = $2, registration_fee_minor = $3, fees_assessed_at = now()",
    )))
    .bind(unit_id)
    .bind(deed_tax_minor)
    .bind(registration_fee_minor)
    .fetch_one(conn)
    .await
}

pub async fn submitted(
    conn: &mut PgConnection,
    unit_id: Uuid,
    receipt: &str,
) -> sqlx::Result<TitleFile> {
    sqlx::query_as(sqlx::AssertSqlSafe(step(
        "application_receipt = $2, submitted_at = now()",
    )))
    .bind(unit_id)
    .bind(receipt)
    .fetch_one(conn)
    .await
}

pub async fn deed_issued(
    conn: &mut PgConnection,
    unit_id: Uuid,
    number: &str,
    on: NaiveDate,
) -> sqlx::Result<TitleFile> {
    sqlx::query_as(sqlx::AssertSqlSafe(step(
        "deed_number = $2, deed_issued_on = $3",
    )))
    .bind(unit_id)
    .bind(number)
    .bind(on)
    .fetch_one(conn)
    .await
}

pub async fn delivered(
    conn: &mut PgConnection,
    unit_id: Uuid,
    to: &str,
    receipt: &str,
) -> sqlx::Result<TitleFile> {
    sqlx::query_as(sqlx::AssertSqlSafe(step(
        "delivered_to = $2, delivery_receipt = $3, delivered_at = now()",
    )))
    .bind(unit_id)
    .bind(to)
    .bind(receipt)
    .fetch_one(conn)
    .await
}

pub async fn archived(conn: &mut PgConnection, unit_id: Uuid) -> sqlx::Result<TitleFile> {
    sqlx::query_as(sqlx::AssertSqlSafe(step("archived_at = now()")))
        .bind(unit_id)
        .fetch_one(conn)
        .await
}
