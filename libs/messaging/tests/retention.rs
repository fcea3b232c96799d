//! Retention against a real database: rows past their window go, the rest stay — an outbox
//! row not yet published stays whatever its age, and the coordinator keeps a done command's
//! record while emptying its payload.

use anju_messaging::retention::{platform_sweeps, sweep_once};
use sqlx::PgPool;
use uuid::Uuid;

async fn seed(pool: &PgPool) {
    for (request_id, age) in [("old", "8 days"), ("new", "1 day")] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "insert into idempotency_keys (tenant_id, method, caller, request_id, request_hash, response, created_at)
             values ($1, 'Hold', 'li.na', $2, '', '', now() - interval '{age}')"
        )))
        .bind(Uuid::now_v7())
        .bind(request_id)
        .execute(pool)
        .await
        .unwrap();
    }
    for (published, age) in [(true, "8 days"), (false, "8 days"), (true, "1 day")] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "insert into outbox (event_id, subject, event_type, tenant_id, aggregate_type, aggregate_id,
                                 sequence, envelope, created_at, published_at)
             values ($1, 's', 'T', $2, 'unit', $3, 1, '', now() - interval '{age}',
                     case when $4 then now() - interval '{age}' end)"
        )))
        .bind(Uuid::now_v7())
        .bind(Uuid::now_v7())
        .bind(Uuid::now_v7().to_string())
        .bind(published)
        .execute(pool)
        .await
        .unwrap();
    }
    for age in ["15 days", "8 days"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "insert into inbox (consumer, event_id, event_type, received_at)
             values ('c', $1, 'T', now() - interval '{age}')"
        )))
        .bind(Uuid::now_v7())
        .execute(pool)
        .await
        .unwrap();
    }
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn rows_past_their_window_are_removed_and_the_rest_kept() {
    let settings = anju_testkit::settings();
    let pool =
        anju_kit::db::connect_service(&settings, "retention", &[&anju_messaging::migrator()])
            .await
            .unwrap();
    seed(&pool).await;
    let affected = sweep_once(&pool, &platform_sweeps(&settings.retention))
        .await
        .unwrap();
    assert_eq!(
        affected,
        [("idempotency_keys", 1), ("outbox", 1), ("inbox", 1)]
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from idempotency_keys where request_id = 'new'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from outbox where published_at is null"
        )
        .await,
        1,
        "an unpublished event is never removed"
    );
    assert_eq!(count(&pool, "select count(*) from outbox").await, 2);
    assert_eq!(count(&pool, "select count(*) from inbox").await, 1);
    // A second round finds nothing more.
    let again = sweep_once(&pool, &platform_sweeps(&settings.retention))
        .await
        .unwrap();
    assert!(again.iter().all(|(_, rows)| *rows == 0), "{again:?}");
    pool.close().await;
    anju_testkit::cleanup(&settings).await.unwrap();
}
