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

use anju_kit::{ServiceError, ServiceResult, ids::derived_id};
use anju_messaging::{EventMeta, Outbox};
use anju_proto::{common, events};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::{balance::group_settled, charges::Charge};

#[derive(Debug, FromRow)]
struct Group {
    group_id: Uuid,
    project_id: Uuid,
    unit_id: Uuid,
    currency: String,
    direction: String,
    settled: bool,
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
        "select group_id, project_id, unit_id, currency, direction, settled from settlement_groups
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
    let mismatch = if group.project_id != charge.project_id || group.unit_id != charge.unit_id {
        Some("another unit")
    } else if group.currency != charge.currency {
        Some("another currency")
    } else if group.direction != charge.direction.as_str() {
        Some("the other direction")
    } else {
        None
    };
    match mismatch {
        Some(what) => Err(ServiceError::precondition(format!(
            "settlement group {name} holds charges of {what}: a group settles one unit's charges in one currency and direction"
        ))),
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
