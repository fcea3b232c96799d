//! A fingerprint of a service's database that changes when anything is written: per table,
//! its row count (deletes, inserts) and the newest row version's transaction id (inserts and
//! updates, even an update to the same values).
//!
//! The outbox relay marks rows published on its own schedule, so only the outbox's count is
//! compared. Consumers and the coordinator write on their own schedule too: [`settle`] waits
//! until every database is quiet before a comparison is trusted.

use std::{collections::BTreeMap, time::Duration};

use anju_kit::config::SERVICES;
use sqlx::PgPool;

use crate::TestStack;

/// Per table: (row count, newest row version's transaction id).
pub type Fingerprint = BTreeMap<String, (i64, i64)>;

/// A pool on every service's database, by short name.
pub struct Databases(pub Vec<(&'static str, PgPool)>);

impl Databases {
    pub async fn connect(stack: &TestStack) -> Databases {
        let mut pools = Vec::new();
        for short in SERVICES {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&stack.settings.database_url(short))
                .await
                .unwrap_or_else(|e| panic!("{short} database: {e}"));
            pools.push((short, pool));
        }
        Databases(pools)
    }

    pub fn of(&self, short: &str) -> &PgPool {
        &self
            .0
            .iter()
            .find(|(s, _)| *s == short)
            .unwrap_or_else(|| panic!("no database for {short}"))
            .1
    }

    pub async fn fingerprint(&self, short: &str) -> Fingerprint {
        fingerprint(self.of(short)).await
    }

    /// Waits until no database changes for a while and every outbox is published, so that
    /// what follows is not confused with a consumer's or the coordinator's late write.
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut last = self.all().await;
        let mut quiet = 0;
        while quiet < 3 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            let now = self.all().await;
            quiet = if now == last && self.published().await {
                quiet + 1
            } else {
                0
            };
            last = now;
            assert!(
                tokio::time::Instant::now() < deadline,
                "the databases did not settle"
            );
        }
    }

    async fn all(&self) -> Vec<Fingerprint> {
        let mut all = Vec::new();
        for (_, pool) in &self.0 {
            all.push(fingerprint(pool).await);
        }
        all
    }

    async fn published(&self) -> bool {
        for (_, pool) in &self.0 {
            let pending: i64 =
                sqlx::query_scalar("select count(*) from outbox where published_at is null")
                    .fetch_one(pool)
                    .await
                    .expect("outbox");
            if pending > 0 {
                return false;
            }
        }
        true
    }
}

pub async fn fingerprint(pool: &PgPool) -> Fingerprint {
    let tables: Vec<String> = sqlx::query_scalar(
        "select tablename::text from pg_tables where schemaname = 'public' order by tablename",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    let parts: Vec<String> = tables
        .iter()
        .map(|table| {
            let version = if table == "outbox" {
                "0::bigint".to_string()
            } else {
                "coalesce(max(xmin::text::bigint), 0)".to_string()
            };
            format!("select '{table}'::text, count(*), {version} from \"{table}\"")
        })
        .collect();
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as(sqlx::AssertSqlSafe(parts.join(" union all ")))
            .fetch_all(pool)
            .await
            .expect("fingerprint");
    rows.into_iter()
        .map(|(table, count, version)| (table, (count, version)))
        .collect()
}

/// The tables whose fingerprint differs, with before → after.
pub fn changes(before: &Fingerprint, after: &Fingerprint) -> Vec<String> {
    after
        .iter()
        .filter(|(table, now)| before.get(*table) != Some(*now))
        .map(|(table, now)| format!("{table}: {:?} -> {now:?}", before.get(table)))
        .collect()
}
