//! The unit inventory (銷控): available → held → subscribed → contracted, back to available
//! on lapse, release or cancellation. Every transition is one conditional UPDATE, so of many
//! concurrent attempts on a unit exactly one wins; the others see why they lost.

use anju_kit::{Principal, ServiceError, ServiceResult};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::catalogue::{self, Unit};

const UNIT_COLUMNS: &str = "unit_id, project_id, building_id, unit_number, floor, layout, forecast_area_cm2, \
                            list_price_minor, currency, orientation, status, customer_id";

/// Holds `unit_id` for `customer_id` for the project's hold period.
pub async fn hold(
    conn: &mut PgConnection,
    principal: &Principal,
    unit_id: Uuid,
    customer_id: Uuid,
) -> ServiceResult<(Unit, DateTime<Utc>)> {
    let held: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "update units u set status = 'held', customer_id = $3,
                hold_expires_at = now() + make_interval(hours => p.hold_hours)
         from projects p
         where u.tenant_id = $1 and u.unit_id = $2 and p.project_id = u.project_id
           and (u.status = 'available' or (u.status = 'held' and u.hold_expires_at < now()))
         returning u.unit_id, u.hold_expires_at",
    )
    .bind(principal.tenant_id)
    .bind(unit_id)
    .bind(customer_id)
    .fetch_optional(&mut *conn)
    .await?;
    let unit = catalogue::unit(conn, principal.tenant_id, unit_id).await?;
    if !principal.can_see_project(unit.project_id) {
        return Err(ServiceError::not_found("unit"));
    }
    match held {
        Some((_, expires)) => Ok((unit, expires)),
        None => Err(ServiceError::precondition(format!(
            "unit {} is {}, not available",
            unit.unit_number, unit.status
        ))),
    }
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
        return Err(ServiceError::precondition(format!(
            "unit {} is {}, not held",
            unit.unit_number, unit.status
        )));
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
