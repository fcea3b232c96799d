//! The work orders whose clocks are due, for the sweeper ([`crate::events::clocks`]).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// Up to `limit` orders with a warning or breach due, the most overdue first (each is then
/// locked on its own, [`crate::store::for_update_skip_locked`]).
pub async fn due(pool: &PgPool, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "select repair_request_id from repair_requests
         where clock_next_at <= now() order by clock_next_at limit $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Moves an order whose clock failed to fire `after` later.
pub async fn postpone(pool: &PgPool, id: Uuid, after: std::time::Duration) -> sqlx::Result<()> {
    sqlx::query(
        "update repair_requests set clock_next_at = now() + make_interval(secs => $2)
         where repair_request_id = $1 and clock_next_at is not null",
    )
    .bind(id)
    .bind(after.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

/// The next instant a clock comes due, if any.
pub async fn next_at(pool: &PgPool) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar(
        "select min(clock_next_at) from repair_requests where clock_next_at is not null",
    )
    .fetch_one(pool)
    .await
}
