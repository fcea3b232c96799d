//! Settlement groups: the charges a saga waits for together ("handover:<unit_id>",
//! "contract:<contract_id>:down_payment"), and the "purpose settled" event it waits on.
//!
//! All charges of a group share one project, unit, currency and direction, so the group's
//! total is one amount and its event names one unit. Every transaction that changes a charge
//! of a group locks the group's row after the charge's and then re-counts the group: of two
//! concurrent final payments exactly one sees the group settled, and publishes
//! `SettlementGroupSettled` once. A group that owes again (a refund, a new charge) publishes
//! `SettlementGroupReopened`, and settles (and publishes) again when paid. Cancelling the last
//! open charge of a group whose other charges are paid settles it; a group whose charges are
//! all cancelled never settles.
//!
//! A group can be closed (CloseSettlementGroup, [`crate::commands`]): a saga's compensation
//! ends it, and its closing figures are kept on its row. A closed group takes no new charge,
//! and its charges take no payment or refund ("settlement group closed"); it never publishes
//! `SettlementGroupSettled` or `SettlementGroupReopened` again. The close locks every charge of
//! the group before the group's row, so a payment that holds a charge's lock either finishes
//! before the close counts it or, after the close committed, reads the group closed.

use anju_kit::{Refusal, ServiceError, ServiceResult, ids::derived_id};
use anju_messaging::{EventMeta, Outbox};
use anju_proto::{common, events};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::{domain::balance::group_settled, store::charges::Charge};

#[derive(Debug, FromRow)]
struct Group {
    group_id: Uuid,
    project_id: Uuid,
    unit_id: Uuid,
    currency: String,
    direction: String,
    settled: bool,
    closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, FromRow)]
struct Tally {
    live: i64,
    open: i64,
    total: i64,
    outstanding: i64,
    charge_ids: Vec<Uuid>,
}

async fn lock(conn: &mut PgConnection, tenant: Uuid, name: &str) -> ServiceResult<Group> {
    sqlx::query_as(
        "select group_id, project_id, unit_id, currency, direction, settled, closed_at from settlement_groups
         where tenant_id = $1 and settlement_group = $2 for update",
    )
    .bind(tenant)
    .bind(name)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::Unexpected(anyhow::anyhow!("settlement group {name} has no row")))
}

/// Creates the group of a new charge if needed and locks it; refuses a charge that does not
/// share the group's project, unit, currency and direction.
pub async fn join(conn: &mut PgConnection, tenant: Uuid, charge: &Charge) -> ServiceResult<()> {
    let Some(name) = &charge.settlement_group else {
        return Ok(());
    };
    sqlx::query(
        "insert into settlement_groups (tenant_id, settlement_group, group_id, project_id, unit_id, currency, direction)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing",
    )
    .bind(tenant)
    .bind(name)
    .bind(derived_id(&format!("settlement_group:{tenant}:{name}")))
    .bind(charge.project_id)
    .bind(charge.unit_id)
    .bind(&charge.currency)
    .bind(charge.direction.as_str())
    .execute(&mut *conn)
    .await?;
    let group = lock(conn, tenant, name).await?;
    if group.closed_at.is_some() {
        return Err(closed(name, "takes no new charge"));
    }
    let mismatch = if group.project_id != charge.project_id || Some(group.unit_id) != charge.unit_id
    {
        Some("another unit")
    } else if group.currency != charge.currency {
        Some("another currency")
    } else if group.direction != charge.direction.as_str() {
        Some("the other direction")
    } else {
        None
    };
    match mismatch {
        Some(what) => Err(Refusal::new(
            "GROUP_MISMATCH",
            format!(
                "settlement group {name} holds charges of {what}: a group settles one unit's charges in one currency and direction"
            ),
        )
        .with("settlement_group", name)
        .into()),
        None => Ok(()),
    }
}

/// Re-counts the group of a changed charge under the group's lock and publishes its
/// transition to settled or back to owing, if there is one.
pub async fn reconcile(
    conn: &mut PgConnection,
    outbox: &Outbox,
    tenant: Uuid,
    charge: &Charge,
    request_id: &str,
) -> ServiceResult<()> {
    let Some(name) = &charge.settlement_group else {
        return Ok(());
    };
    let group = lock(conn, tenant, name).await?;
    if group.closed_at.is_some() {
        // Closed for good: its closing published what became of it.
        return Ok(());
    }
    let tally: Tally = sqlx::query_as(
        "select count(*) filter (where status <> 'cancelled') as live,
                count(*) filter (where status = 'open') as open,
                coalesce(sum(amount_minor) filter (where status <> 'cancelled'), 0)::bigint as total,
                coalesce(sum(amount_minor - paid_minor + refunded_minor) filter (where status <> 'cancelled'), 0)::bigint
                    as outstanding,
                coalesce(array_agg(charge_id order by created_at, charge_id) filter (where status <> 'cancelled'), '{}')
                    as charge_ids
         from charges where tenant_id = $1 and settlement_group = $2",
    )
    .bind(tenant)
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    let settled = group_settled(tally.live, tally.open);
    if settled == group.settled {
        return Ok(());
    }
    sqlx::query(
        "update settlement_groups set settled = $3, settled_at = case when $3 then now() end
         where tenant_id = $1 and settlement_group = $2",
    )
    .bind(tenant)
    .bind(name)
    .bind(settled)
    .execute(&mut *conn)
    .await?;
    let money = |minor_units| common::Money {
        minor_units,
        currency: group.currency.clone(),
    };
    let meta =
        EventMeta::new(tenant, "settlement_group", group.group_id).caused_by_request(request_id);
    if settled {
        let event = events::SettlementGroupSettled {
            settlement_group: name.clone(),
            unit_id: group.unit_id.to_string(),
            project_id: group.project_id.to_string(),
            total: Some(money(tally.total)),
            charge_ids: tally.charge_ids.iter().map(Uuid::to_string).collect(),
        };
        outbox.append(conn, meta, &event).await?;
        tracing::info!(settlement_group = %name, total = tally.total, "settlement group settled");
    } else {
        let event = events::SettlementGroupReopened {
            settlement_group: name.clone(),
            unit_id: group.unit_id.to_string(),
            project_id: group.project_id.to_string(),
            outstanding: Some(money(tally.outstanding)),
        };
        outbox.append(conn, meta, &event).await?;
        tracing::info!(settlement_group = %name, outstanding = tally.outstanding, "settlement group owes again");
    }
    Ok(())
}

pub(crate) fn closed(name: &str, what: &str) -> ServiceError {
    Refusal::new(
        "GROUP_CLOSED",
        format!("settlement group closed: {name} {what}"),
    )
    .with("settlement_group", name)
    .into()
}

/// Refuses a payment, refund or cancellation on a charge of a closed group (its charges no
/// longer change; the close said what became of them). The caller holds the charge's
/// lock, which the close takes too before it marks the group closed, so reading the group's
/// row without a lock (keeping the lock order charge → payment → cashier day → group) sees
/// every close that could have counted this charge.
pub async fn refuse_if_closed(
    conn: &mut PgConnection,
    tenant: Uuid,
    charge: &Charge,
) -> ServiceResult<()> {
    let Some(name) = &charge.settlement_group else {
        return Ok(());
    };
    let closed_at: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
        "select closed_at from settlement_groups where tenant_id = $1 and settlement_group = $2",
    )
    .bind(tenant)
    .bind(name)
    .fetch_optional(conn)
    .await?;
    match closed_at.flatten() {
        Some(_) => Err(closed(
            name,
            "takes no payment, refund or cancellation on its charges",
        )),
        None => Ok(()),
    }
}

/// A group's row with its closing figures (all zero and empty while it is open).
#[derive(Clone, Debug, FromRow)]
pub struct Record {
    pub group_id: Uuid,
    pub project_id: Uuid,
    pub unit_id: Uuid,
    pub currency: String,
    pub direction: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_cancelled_ids: Vec<Uuid>,
    pub closed_waived_minor: i64,
    pub closed_paid_minor: i64,
    pub closed_refund_owed_minor: i64,
    pub closed_interest_minor: i64,
    pub refund_charge_id: Option<Uuid>,
}

/// Reads a group's row, locked for update if asked (after its charges: see the module docs).
pub async fn record(
    conn: &mut PgConnection,
    tenant: Uuid,
    name: &str,
    for_update: bool,
) -> ServiceResult<Option<Record>> {
    let lock = if for_update { "for update" } else { "" };
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select group_id, project_id, unit_id, currency, direction, closed_at, closed_cancelled_ids,
                closed_waived_minor, closed_paid_minor, closed_refund_owed_minor,
                closed_interest_minor, refund_charge_id
         from settlement_groups where tenant_id = $1 and settlement_group = $2 {lock}"
    )))
    .bind(tenant)
    .bind(name)
    .fetch_optional(conn)
    .await?)
}

/// What closing a group did, as kept on its row.
#[derive(Clone, Debug, Default)]
pub struct Closing {
    pub reason: String,
    pub refund_bp: i32,
    /// Yearly interest on the refunded share, basis points (a rescission).
    pub interest_bp: i32,
    pub interest_minor: i64,
    pub cancelled_ids: Vec<Uuid>,
    pub waived_minor: i64,
    pub paid_minor: i64,
    pub refund_owed_minor: i64,
    pub refund_charge_id: Option<Uuid>,
}

/// Marks a locked, open group closed with its closing figures.
pub async fn store_closing(
    conn: &mut PgConnection,
    tenant: Uuid,
    name: &str,
    closing: &Closing,
) -> ServiceResult<()> {
    let stored = sqlx::query(
        "update settlement_groups
         set closed_at = now(), close_reason = $3, closed_refund_bp = $4, closed_cancelled_ids = $5,
             closed_waived_minor = $6, closed_paid_minor = $7, closed_refund_owed_minor = $8,
             refund_charge_id = $9, closed_interest_minor = $10, closed_interest_bp = $11
         where tenant_id = $1 and settlement_group = $2 and closed_at is null",
    )
    .bind(tenant)
    .bind(name)
    .bind(&closing.reason)
    .bind(closing.refund_bp)
    .bind(&closing.cancelled_ids)
    .bind(closing.waived_minor)
    .bind(closing.paid_minor)
    .bind(closing.refund_owed_minor)
    .bind(closing.refund_charge_id)
    .bind(closing.interest_minor)
    .bind(closing.interest_bp)
    .execute(conn)
    .await?
    .rows_affected();
    if stored != 1 {
        return Err(ServiceError::Unexpected(anyhow::anyhow!(
            "settlement group {name} was not open to close"
        )));
    }
    Ok(())
}

/// How many charges of the group are not among `locked` (a charge that joined the group while
/// a close was locking its charges).
pub async fn joined_besides(
    conn: &mut PgConnection,
    tenant: Uuid,
    group: &str,
    locked: &[Uuid],
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from charges
         where tenant_id = $1 and settlement_group = $2 and not (charge_id = any($3))",
    )
    .bind(tenant)
    .bind(group)
    .bind(locked)
    .fetch_one(conn)
    .await
}

/// Each receivable payment of a group still held (net of refunds) and the days since it was
/// received, to the close (interest on a rescission's refund).
pub async fn payments_held(
    conn: &mut PgConnection,
    tenant: Uuid,
    name: &str,
) -> ServiceResult<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(
        "select p.amount_minor - p.refunded_minor, (current_date - p.received_on)::bigint
         from payments p join charges c on c.charge_id = p.charge_id
         where c.tenant_id = $1 and c.settlement_group = $2 and p.direction = 'receivable'
           and p.amount_minor > p.refunded_minor",
    )
    .bind(tenant)
    .bind(name)
    .fetch_all(conn)
    .await?)
}
