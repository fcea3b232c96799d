//! Statements built on charges, payments and refunds.
//!
//! - The monthly income and expense statement of a project is cash-based: payments and
//!   refunds count in the month of their business date, by the charge's purpose. Income is
//!   what receivables brought in, refunds what was returned of it, payouts what payables
//!   (owner compensation, area difference refunds) paid out; net = income − refunds − payouts.
//! - A unit's statement lists every charge with billed, paid, refunded and outstanding.

use anju_kit::{ServiceError, ServiceResult};
use anju_proto::finance as pb;
use chrono::NaiveDate;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::{
    domain::figures::{Account, Cash, account_totals, cash_totals},
    store::charges::{self, purpose_of},
};

#[derive(Debug, FromRow)]
struct MonthLine {
    purpose: String,
    currency: String,
    receipts_minor: i64,
    refunds_minor: i64,
    payouts_minor: i64,
}

/// A project's statement for the month starting `first` (the next month starts at `next`).
pub async fn monthly(
    pool: &PgPool,
    tenant: Uuid,
    project_id: Uuid,
    month: &str,
    (first, next): (NaiveDate, NaiveDate),
) -> ServiceResult<pb::MonthlyStatement> {
    let rows: Vec<MonthLine> = sqlx::query_as(
        "select purpose, currency,
                coalesce(sum(amount_minor) filter (where kind = 'receipt'), 0)::bigint as receipts_minor,
                coalesce(sum(amount_minor) filter (where kind = 'refund'), 0)::bigint as refunds_minor,
                coalesce(sum(amount_minor) filter (where kind = 'payout'), 0)::bigint as payouts_minor
         from (select purpose, currency, amount_minor,
                      case direction when 'payable' then 'payout' else 'receipt' end as kind
               from payments
               where tenant_id = $1 and project_id = $2 and received_on >= $3 and received_on < $4
               union all
               select purpose, currency, amount_minor, 'refund'
               from refunds
               where tenant_id = $1 and project_id = $2 and refunded_on >= $3 and refunded_on < $4) moves
         group by purpose, currency
         order by purpose, currency",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(first)
    .bind(next)
    .fetch_all(pool)
    .await?;
    let cash = |r: &MonthLine| Cash {
        receipts: r.receipts_minor,
        refunds: r.refunds_minor,
        payouts: r.payouts_minor,
    };
    Ok(pb::MonthlyStatement {
        project_id: project_id.to_string(),
        month: month.to_string(),
        lines: rows
            .iter()
            .map(|r| pb::MonthlyStatementLine {
                purpose: purpose_of(&r.purpose) as i32,
                figures: Some(cash(r).to_proto(&r.currency)),
            })
            .collect(),
        totals: cash_totals(rows.iter().map(|r| (r.currency.as_str(), cash(r)))),
    })
}

/// A unit's account; NOT_FOUND when the caller sees no charge of it (a foreign unit and an
/// unknown one answer alike).
pub async fn unit(
    pool: &PgPool,
    tenant: Uuid,
    unit_id: Uuid,
    scope: Option<Vec<Uuid>>,
) -> ServiceResult<pb::UnitStatement> {
    let charges = charges::all_of_unit(pool, tenant, unit_id, scope).await?;
    let Some(first) = charges.first() else {
        return Err(ServiceError::not_found("unit account"));
    };
    let project_id = first.project_id.to_string();
    let account = |c: &charges::Charge| {
        let balance = c.balance();
        Account {
            billed: balance.billed(),
            paid: balance.paid,
            refunded: balance.refunded,
        }
    };
    let totals = account_totals(
        charges
            .iter()
            .map(|c| (c.direction.to_proto(), c.currency.as_str(), account(c))),
    );
    let lines = charges
        .iter()
        .map(|c| pb::UnitStatementLine {
            figures: Some(account(c).to_proto(&c.currency)),
            charge: Some(c.clone().into()),
        })
        .collect();
    Ok(pb::UnitStatement {
        unit_id: unit_id.to_string(),
        project_id,
        lines,
        totals,
    })
}
