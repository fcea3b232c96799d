//! The daily close (日收日清): each cashier's takings of a business date, frozen once closed.
//!
//! A payment or refund takes its cashier's day row FOR SHARE and refuses a closed day; the
//! close takes it FOR UPDATE, so it waits for every write checked against the open day, sums
//! them, and freezes the lines. A write arriving after the close sees the day closed. The
//! frozen lines are the record: a closed day's report is read from them, never recomputed,
//! and a trigger refuses any change to them.

use anju_kit::{Refusal, ServiceError, ServiceResult, db::Writes};
use anju_proto::finance as pb;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    domain::dates::format_date,
    domain::figures::{Cash, cash_totals},
    store::charges::timestamp,
    store::payments::method_of,
};

/// One cashier's takings of one project, method and currency.
#[derive(Clone, Debug, FromRow, PartialEq, Eq)]
pub struct Line {
    pub project_id: Uuid,
    pub method: String,
    pub currency: String,
    pub receipts_minor: i64,
    pub refunds_minor: i64,
    pub payouts_minor: i64,
    pub receipt_count: i32,
    pub refund_count: i32,
    pub payout_count: i32,
}

impl Line {
    fn cash(&self) -> Cash {
        Cash {
            receipts: self.receipts_minor,
            refunds: self.refunds_minor,
            payouts: self.payouts_minor,
        }
    }
}

#[derive(Clone, Debug, FromRow)]
struct Day {
    closed_at: Option<DateTime<Utc>>,
    closed_by: Option<String>,
}

pub struct Report {
    pub cashier_id: String,
    pub date: NaiveDate,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub lines: Vec<Line>,
}

impl From<Report> for pb::DailyReport {
    fn from(r: Report) -> Self {
        let totals = cash_totals(r.lines.iter().map(|l| (l.currency.as_str(), l.cash())));
        pb::DailyReport {
            cashier_id: r.cashier_id,
            business_date: format_date(r.date),
            closed: r.closed_at.is_some(),
            closed_at: r.closed_at.map(timestamp),
            closed_by: r.closed_by.unwrap_or_default(),
            lines: r
                .lines
                .iter()
                .map(|l| pb::DailyReportLine {
                    project_id: l.project_id.to_string(),
                    method: method_of(&l.method) as i32,
                    figures: Some(l.cash().to_proto(&l.currency)),
                    receipt_count: l.receipt_count,
                    refund_count: l.refund_count,
                    payout_count: l.payout_count,
                })
                .collect(),
            totals,
        }
    }
}

async fn ensure_day(
    conn: &mut PgConnection,
    tenant: Uuid,
    cashier: &str,
    date: NaiveDate,
) -> ServiceResult<()> {
    sqlx::query(
        "insert into cashier_days (tenant_id, cashier_id, business_date) values ($1, $2, $3) on conflict do nothing",
    )
    .bind(tenant)
    .bind(cashier)
    .bind(date)
    .execute(conn)
    .await?;
    Ok(())
}

/// Holds the cashier's day open for a payment or refund dated on it; refuses a closed day.
pub async fn hold_open(
    conn: &mut PgConnection,
    tenant: Uuid,
    cashier: &str,
    date: NaiveDate,
) -> ServiceResult<()> {
    ensure_day(conn, tenant, cashier, date).await?;
    let day: Day = sqlx::query_as(
        "select closed_at, closed_by from cashier_days
         where tenant_id = $1 and cashier_id = $2 and business_date = $3 for share",
    )
    .bind(tenant)
    .bind(cashier)
    .bind(date)
    .fetch_one(conn)
    .await?;
    if day.closed_at.is_some() {
        return Err(day_closed(cashier, date));
    }
    Ok(())
}

/// The cashier's day as a CTE of `writes`: it holds the day's row FOR SHARE (as [`hold_open`]
/// does, so a close waits for the writes, or they see it closed) and returns it only while
/// the day is open. A day without its row yet returns nothing.
pub fn share_open_day(writes: &mut Writes, tenant: Uuid, cashier: &str, date: NaiveDate) -> String {
    let cashier = cashier.to_string();
    writes.add(|q| {
        q.push("select from cashier_days where tenant_id = ")
            .push_bind(tenant)
            .push(" and cashier_id = ")
            .push_bind(cashier)
            .push(" and business_date = ")
            .push_bind(date)
            .push(" and closed_at is null for share");
    })
}

/// The refusal of a write dated on a closed day.
pub fn day_closed(cashier: &str, date: NaiveDate) -> ServiceError {
    Refusal::new(
        "DAY_CLOSED",
        format!(
            "day closed: the takings of cashier {cashier} on {} are closed",
            format_date(date)
        ),
    )
    .with("cashier_id", cashier)
    .with("business_date", format_date(date))
    .zh(format!(
        "收款员 {cashier} {} 的日结已关账",
        format_date(date)
    ))
    .into()
}

/// The live takings: payments received and refunds paid by the cashier on the date.
async fn live_lines(
    conn: &mut PgConnection,
    tenant: Uuid,
    cashier: &str,
    date: NaiveDate,
    scope: Option<&[Uuid]>,
) -> ServiceResult<Vec<Line>> {
    Ok(sqlx::query_as(
        "select project_id, method, currency,
                coalesce(sum(amount_minor) filter (where kind = 'receipt'), 0)::bigint as receipts_minor,
                coalesce(sum(amount_minor) filter (where kind = 'refund'), 0)::bigint as refunds_minor,
                coalesce(sum(amount_minor) filter (where kind = 'payout'), 0)::bigint as payouts_minor,
                (count(*) filter (where kind = 'receipt'))::int as receipt_count,
                (count(*) filter (where kind = 'refund'))::int as refund_count,
                (count(*) filter (where kind = 'payout'))::int as payout_count
         from (select project_id, method, currency, amount_minor,
                      case direction when 'payable' then 'payout' else 'receipt' end as kind
               from payments where tenant_id = $1 and cashier_id = $2 and received_on = $3
               union all
               select project_id, method, currency, amount_minor, 'refund'
               from refunds where tenant_id = $1 and cashier_id = $2 and refunded_on = $3) moves
         where $4::uuid[] is null or project_id = any($4)
         group by project_id, method, currency
         order by project_id, method, currency",
    )
    .bind(tenant)
    .bind(cashier)
    .bind(date)
    .bind(scope)
    .fetch_all(conn)
    .await?)
}

async fn frozen_lines(
    conn: &mut PgConnection,
    tenant: Uuid,
    cashier: &str,
    date: NaiveDate,
    scope: Option<&[Uuid]>,
) -> ServiceResult<Vec<Line>> {
    Ok(sqlx::query_as(
        "select project_id, method, currency, receipts_minor, refunds_minor, payouts_minor,
                receipt_count, refund_count, payout_count
         from daily_close_lines
         where tenant_id = $1 and cashier_id = $2 and business_date = $3
           and ($4::uuid[] is null or project_id = any($4))
         order by project_id, method, currency",
    )
    .bind(tenant)
    .bind(cashier)
    .bind(date)
    .bind(scope)
    .fetch_all(conn)
    .await?)
}

/// Closes the cashier's day (or finds it closed) and returns its frozen report.
pub async fn close(
    conn: &mut PgConnection,
    tenant: Uuid,
    cashier: &str,
    date: NaiveDate,
    closed_by: &str,
    scope: Option<&[Uuid]>,
) -> ServiceResult<Report> {
    ensure_day(conn, tenant, cashier, date).await?;
    let day: Day = sqlx::query_as(
        "select closed_at, closed_by from cashier_days
         where tenant_id = $1 and cashier_id = $2 and business_date = $3 for update",
    )
    .bind(tenant)
    .bind(cashier)
    .bind(date)
    .fetch_one(&mut *conn)
    .await?;
    if day.closed_at.is_none() {
        for line in live_lines(conn, tenant, cashier, date, None).await? {
            sqlx::query(
                "insert into daily_close_lines (tenant_id, cashier_id, business_date, project_id, method, currency,
                                                receipts_minor, refunds_minor, payouts_minor,
                                                receipt_count, refund_count, payout_count)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(tenant)
            .bind(cashier)
            .bind(date)
            .bind(line.project_id)
            .bind(&line.method)
            .bind(&line.currency)
            .bind(line.receipts_minor)
            .bind(line.refunds_minor)
            .bind(line.payouts_minor)
            .bind(line.receipt_count)
            .bind(line.refund_count)
            .bind(line.payout_count)
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query(
            "update cashier_days set closed_at = now(), closed_by = $4
             where tenant_id = $1 and cashier_id = $2 and business_date = $3",
        )
        .bind(tenant)
        .bind(cashier)
        .bind(date)
        .bind(closed_by)
        .execute(&mut *conn)
        .await?;
        tracing::info!(cashier_id = cashier, business_date = %date, "day closed");
    }
    report(conn, tenant, cashier, date, scope).await
}

/// The day's report: the frozen lines once closed, the live takings before.
pub async fn report(
    conn: &mut PgConnection,
    tenant: Uuid,
    cashier: &str,
    date: NaiveDate,
    scope: Option<&[Uuid]>,
) -> ServiceResult<Report> {
    let day: Option<Day> = sqlx::query_as(
        "select closed_at, closed_by from cashier_days where tenant_id = $1 and cashier_id = $2 and business_date = $3",
    )
    .bind(tenant)
    .bind(cashier)
    .bind(date)
    .fetch_optional(&mut *conn)
    .await?;
    let (closed_at, closed_by) = day.map_or((None, None), |d| (d.closed_at, d.closed_by));
    let lines = if closed_at.is_some() {
        frozen_lines(conn, tenant, cashier, date, scope).await?
    } else {
        live_lines(conn, tenant, cashier, date, scope).await?
    };
    Ok(Report {
        cashier_id: cashier.to_string(),
        date,
        closed_at,
        closed_by,
        lines,
    })
}

/// Reads a report outside any transaction.
pub async fn read_report(
    pool: &PgPool,
    tenant: Uuid,
    cashier: &str,
    date: NaiveDate,
    scope: Option<&[Uuid]>,
) -> ServiceResult<Report> {
    let mut conn = pool.acquire().await?;
    report(&mut conn, tenant, cashier, date, scope).await
}
