//! The unit inventory (銷控): available → held → subscribed → contracted, back to available
//! on lapse, release or cancellation. Every transition is one conditional UPDATE, so of many
//! concurrent attempts on a unit exactly one wins; the others see why they lost.

use std::convert::Infallible;

use anju_kit::{Principal, Refusal, ServiceError, ServiceResult};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::store::{
    catalogue::{self, Unit},
    customers,
};

const UNIT_COLUMNS: &str = "unit_id, project_id, building_id, unit_number, floor, layout, forecast_area_cm2, \
                            list_price_minor, currency, orientation, status, customer_id";

/// A unit as a hold left it.
#[derive(FromRow)]
pub struct Held {
    #[sqlx(flatten)]
    pub unit: Unit,
    pub hold_expires_at: DateTime<Utc>,
}

/// Holds `unit_id` for `customer_id` for the project's hold period, as the CTEs of one
/// statement (see [`anju_kit::idempotency::Single`]), the last named `effect` returning the
/// unit's row: it locks the customer (as [`customers::served_by`] does, so the lock order is
/// customer → unit), checks that the caller may serve them and that they belong to the unit's
/// project, and takes the unit if it is available (or its hold has expired). When it takes
/// nothing, [`why_not_held`] says why.
pub fn hold(
    q: &mut QueryBuilder<Postgres>,
    principal: &Principal,
    unit_id: Uuid,
    customer_id: Uuid,
) {
    q.push(
        "customer as (
             select project_id, consultant from customers
             where tenant_id = ",
    )
    .push_bind(principal.tenant_id)
    .push(" and customer_id = ")
    .push_bind(customer_id)
    .push(
        " for update),
         effect as (
             update units u set status = 'held', customer_id = ",
    )
    .push_bind(customer_id)
    .push(
        ", hold_expires_at = now() + make_interval(hours => p.hold_hours)
             from projects p, customer c
             where u.tenant_id = ",
    )
    .push_bind(principal.tenant_id)
    .push(" and u.unit_id = ")
    .push_bind(unit_id)
    .push(" and p.project_id = u.project_id and c.project_id = u.project_id and (")
    .push_bind(crate::domain::customers::serves_anyone(principal))
    .push(" or c.consultant = ")
    .push_bind(principal.subject.clone())
    .push(") and (")
    .push_bind(principal.project_filter())
    .push("::uuid[] is null or u.project_id = any(")
    .push_bind(principal.project_filter())
    .push(
        ")) and (u.status = 'available' or (u.status = 'held' and u.hold_expires_at < now()))
             returning u.*)",
    );
}

/// Why [`hold`] took nothing: the checks one by one.
pub async fn why_not_held(
    conn: &mut PgConnection,
    principal: &Principal,
    unit_id: Uuid,
    customer_id: Uuid,
) -> ServiceError {
    let Err(err) = checks(conn, principal, unit_id, customer_id).await;
    err
}

async fn checks(
    conn: &mut PgConnection,
    principal: &Principal,
    unit_id: Uuid,
    customer_id: Uuid,
) -> ServiceResult<Infallible> {
    let customer = customers::served_by(conn, principal, customer_id).await?;
    let unit = catalogue::unit(conn, principal.tenant_id, unit_id).await?;
    if !principal.can_see_project(unit.project_id) {
        return Err(ServiceError::not_found("unit"));
    }
    if unit.project_id != customer.project_id {
        return Err(ServiceError::invalid(
            "customer_id",
            "is a customer of another project",
        ));
    }
    if unit.status != "available" {
        return Err(Refusal::new(
            "UNIT_NOT_AVAILABLE",
            format!(
                "unit {} is {}, not available",
                unit.unit_number, unit.status
            ),
        )
        .with("unit_id", unit.unit_id)
        .with("status", &unit.status)
        .into());
    }
    Err(ServiceError::Aborted(
        "unit changed concurrently, retry the request".into(),
    ))
}

/// Returns a held unit to stock (a subscription or contract is undone through its own flow).
pub async fn release(
    conn: &mut PgConnection,
    principal: &Principal,
    unit_id: Uuid,
) -> ServiceResult<Unit> {
    let unit = catalogue::unit(conn, principal.tenant_id, unit_id).await?;
    if !principal.can_see_project(unit.project_id) {
        return Err(ServiceError::not_found("unit"));
    }
    let released = sqlx::query(
        "update units set status = 'available', customer_id = null, hold_expires_at = null
         where tenant_id = $1 and unit_id = $2 and status = 'held'",
    )
    .bind(principal.tenant_id)
    .bind(unit_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if released == 0 {
        return Err(Refusal::new(
            "UNIT_NOT_HELD",
            format!("unit {} is {}, not held", unit.unit_number, unit.status),
        )
        .with("unit_id", unit.unit_id)
        .with("status", &unit.status)
        .into());
    }
    catalogue::unit(conn, principal.tenant_id, unit_id).await
}

/// Every unit of a building, in floor and number order, for the sales board.
pub async fn board(
    conn: &mut PgConnection,
    tenant: Uuid,
    building_id: Uuid,
) -> ServiceResult<Vec<Unit>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {UNIT_COLUMNS} from units where tenant_id = $1 and building_id = $2
         order by floor desc, unit_number"
    )))
    .bind(tenant)
    .bind(building_id)
    .fetch_all(conn)
    .await?)
}
