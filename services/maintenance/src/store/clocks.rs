//! The work orders whose clocks are due, for the sweeper ([`crate::events::clocks`]).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Up to `limit` orders with a warning or breach due, locked; orders a step holds are skipped
/// and come back at the next sweep.
pub async fn due(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "select repair_request_id from repair_requests
         where clock_next_at <= now() order by clock_next_at limit $1 for update skip locked",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The next instant a clock comes due, if any.
pub async fn next_at(pool: &PgPool) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar(
        "select min(clock_next_at) from repair_requests where clock_next_at is not null",
    )
    .fetch_one(pool)
    .await
}
