//! Database bootstrap: one database per service, created when missing, with the platform
//! migrations (this crate's and the messaging crate's) applied before the service's own.
//! Migrations are forward-only and additive. They run at start-up (`ANJU_DATABASE_MIGRATE=apply`,
//! the default), or beforehand by `anju migrate` while the services only check they ran
//! (`verify`, as on Kubernetes).

use std::time::Duration;

use anyhow::Context;
use sqlx::{
    Connection, PgConnection, PgPool, Postgres, QueryBuilder,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions, PgSslMode},
};

use crate::config::{MigrateMode, Settings, with_database};

/// This crate's migrations (idempotency keys, audit log), tracked in their own table so they
/// sit beside any service's migrations in one database.
pub fn platform_migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.dangerous_set_table_name("_anju_kit_migrations");
    migrator
}

/// Connects the service's pool: in `apply` mode after creating its database if needed and
/// applying every migrator; in `verify` mode after checking that `anju migrate` did.
pub async fn connect_service(
    settings: &Settings,
    service: &str,
    migrators: &[&Migrator],
) -> anyhow::Result<PgPool> {
    let name = settings.database_name(service);
    let verify = settings.database.migrate == MigrateMode::Verify;
    if verify {
        if !database_exists(settings.database.url.expose(), &name).await? {
            anyhow::bail!(
                "database {name} does not exist: run `anju migrate --target {service}` first \
                 (ANJU_DATABASE_MIGRATE=verify)"
            );
        }
    } else {
        ensure_database(settings.database.url.expose(), &name).await?;
    }
    // No ping before each acquire: it is a round trip on every call, and a connection that
    // broke while idle (a database restart) fails its next query instead, which the caller
    // sees as UNAVAILABLE and retries with the same request id.
    let pool = PgPoolOptions::new()
        .max_connections(settings.database.max_connections)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_millis(settings.database.acquire_timeout_ms))
        .idle_timeout(Duration::from_secs(60))
        .connect_with(connect_options(&settings.database_url(service))?.options([(
            "lock_timeout",
            format!("{}ms", settings.database.lock_timeout_ms),
        )]))
        .await
        .with_context(|| format!("connecting to database {name}"))?;
    if verify {
        let missing = unapplied(&pool, migrators).await?;
        if !missing.is_empty() {
            anyhow::bail!(
                "database {name} is not migrated to this release ({}): run `anju migrate \
                 --target {service}` first (ANJU_DATABASE_MIGRATE=verify)",
                missing.join(", ")
            );
        }
        return Ok(pool);
    }
    apply(&pool, &name, migrators).await?;
    Ok(pool)
}

/// The platform's and `migrators`' migrations applied to `pool`'s database.
async fn apply(pool: &PgPool, name: &str, migrators: &[&Migrator]) -> anyhow::Result<()> {
    for migrator in std::iter::once(&platform_migrator()).chain(migrators.iter().copied()) {
        migrator
            .run(pool)
            .await
            .with_context(|| format!("migrations of {name}"))?;
    }
    Ok(())
}

/// What `anju migrate` did to one service's database.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Migrated {
    pub service: String,
    pub database: String,
    /// Migrations applied by this run (0 when the database was already up to date).
    pub applied: usize,
    /// Migrations of this release, every one of them now applied.
    pub known: usize,
}

/// `anju migrate`: creates the service's database if needed and applies this release's
/// migrations, on one connection (the migrators lock the database, so two runs at once apply
/// each migration once), without starting the service.
pub async fn migrate_service(
    settings: &Settings,
    service: &str,
    migrators: &[&Migrator],
) -> anyhow::Result<Migrated> {
    let name = settings.database_name(service);
    ensure_database(settings.database.url.expose(), &name).await?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(connect_options(&settings.database_url(service))?)
        .await
        .with_context(|| format!("connecting to database {name}"))?;
    let applied = unapplied(&pool, migrators).await?.len();
    apply(&pool, &name, migrators).await?;
    let known = platform_migrator().iter().count()
        + migrators.iter().map(|m| m.iter().count()).sum::<usize>();
    pool.close().await;
    Ok(Migrated {
        service: service.to_string(),
        database: name,
        applied,
        known,
    })
}

/// This release's migrations — the platform's and `migrators`' — that `pool`'s database has
/// not applied (or applied from a different file), as `version description`.
async fn unapplied(pool: &PgPool, migrators: &[&Migrator]) -> anyhow::Result<Vec<String>> {
    let mut missing = Vec::new();
    for migrator in std::iter::once(&platform_migrator()).chain(migrators.iter().copied()) {
        missing.extend(unapplied_of(pool, migrator).await?);
    }
    Ok(missing)
}

/// As [`unapplied`], of one migrator. Migrations the database has and this release does not
/// know (a newer release's, after a rollback) are not counted: migrations are additive, so an
/// older release runs on a newer schema.
async fn unapplied_of(pool: &PgPool, migrator: &Migrator) -> anyhow::Result<Vec<String>> {
    let table = migrator.table_name.as_ref();
    let exists: bool = sqlx::query_scalar("select to_regclass($1) is not null")
        .bind(table)
        .fetch_one(pool)
        .await?;
    let applied: Vec<(i64, Vec<u8>)> = if exists {
        // The table's name is one of the migrators' own constants, not input.
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select version, checksum from {table} where success"
        )))
        .fetch_all(pool)
        .await?
    } else {
        Vec::new()
    };
    Ok(migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .filter(|m| {
            !applied
                .iter()
                .any(|(v, sum)| *v == m.version && sum.as_slice() == m.checksum.as_ref())
        })
        .map(|m| format!("{} {}", m.version, m.description))
        .collect())
}

/// Whether `database` exists on the server (any role may ask).
async fn database_exists(server_url: &str, database: &str) -> anyhow::Result<bool> {
    exists_on(&mut server_connection(server_url).await?, database).await
}

/// A connection to the server's `postgres` database.
async fn server_connection(server_url: &str) -> anyhow::Result<PgConnection> {
    PgConnection::connect_with(&connect_options(&with_database(server_url, "postgres"))?)
        .await
        .context("connecting to the Postgres server")
}

async fn exists_on(conn: &mut PgConnection, database: &str) -> anyhow::Result<bool> {
    Ok(
        sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
            .bind(database)
            .fetch_one(conn)
            .await?,
    )
}

/// Options for a database URL. A loopback server is reached without TLS unless the URL asks
/// for it (`sslmode=…`): there is no wire to protect, and encryption cost Postgres and the
/// service a tenth of their CPU under load.
pub fn connect_options(url: &str) -> anyhow::Result<PgConnectOptions> {
    let options: PgConnectOptions = url.parse().context("parsing the database URL")?;
    let loopback = matches!(options.get_host(), "127.0.0.1" | "localhost" | "::1")
        || options.get_host().starts_with('/');
    if loopback && !url.contains("sslmode=") {
        return Ok(options.ssl_mode(PgSslMode::Disable));
    }
    Ok(options)
}

/// Creates `database` on the server when it does not exist (a race with another creator is fine).
pub async fn ensure_database(server_url: &str, database: &str) -> anyhow::Result<()> {
    let mut conn = server_connection(server_url).await?;
    if !exists_on(&mut conn, database).await? {
        // The name comes from validated settings (lowercase letters, digits, underscores).
        let created = sqlx::query(sqlx::AssertSqlSafe(format!(
            "create database \"{database}\""
        )))
        .execute(&mut conn)
        .await;
        if let Err(err) = created {
            let duplicate = err
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "42P04" || code == "23505");
            if !duplicate {
                return Err(err).with_context(|| format!("creating database {database}"));
            }
        }
    }
    Ok(())
}

/// Whether a database error is the violation of the named unique constraint.
pub fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.code().as_deref() == Some("23505") && e.constraint() == Some(constraint))
}

/// Writes that go to the database as one statement of data-modifying CTEs
/// (`with w0 as (…), w1 as (…) select 1`), so a command's rows, its events, its claim and its
/// audit row cost one round trip. Every CTE runs to completion whether or not another reads
/// it; one that reads another's `returning` sees it. Two CTEs must not change the same row
/// (Postgres applies only one of them).
///
/// Writes can be made conditional ([`Writes::only_if`]): a CTE that checks what the command
/// was decided on (e.g. a guarded UPDATE) gates every write added after it, which reads its
/// values `from` that CTE and so writes nothing when it returned no row.
pub struct Writes {
    query: QueryBuilder<Postgres>,
    ctes: usize,
    condition: Option<String>,
}

impl Default for Writes {
    fn default() -> Self {
        Self::new()
    }
}

impl Writes {
    pub fn new() -> Self {
        Self {
            query: QueryBuilder::new("with "),
            ctes: 0,
            condition: None,
        }
    }

    /// Gates every write added from now on by the CTE `name` (one of these writes), which
    /// returns one row when the writes may go ahead and none when they may not.
    pub fn only_if(&mut self, name: &str) {
        self.condition = Some(name.to_string());
    }

    /// What a write's `select` ends with: ` from <condition>` under [`Writes::only_if`], else
    /// nothing. Every write built by a `select` of its values pushes it.
    pub fn from_condition(&self) -> String {
        self.condition
            .as_ref()
            .map_or_else(String::new, |name| format!(" from {name}"))
    }

    /// Adds one CTE, whose body `cte` pushes (SQL and binds); returns the CTE's name.
    pub fn add(&mut self, cte: impl FnOnce(&mut QueryBuilder<Postgres>)) -> String {
        let name = format!("w{}", self.ctes);
        if self.ctes > 0 {
            self.query.push(", ");
        }
        self.query.push(format_args!("{name} as ("));
        cte(&mut self.query);
        self.query.push(")");
        self.ctes += 1;
        name
    }

    pub fn is_empty(&self) -> bool {
        self.ctes == 0
    }

    /// Runs every write (nothing when there are none).
    pub async fn execute(mut self, conn: &mut PgConnection) -> sqlx::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        self.query.push(" select 1");
        self.query.build().execute(conn).await?;
        Ok(())
    }

    /// Runs every write; whether the condition of [`Writes::only_if`] held (when it did not,
    /// nothing added after it was written).
    pub async fn execute_if(mut self, conn: &mut PgConnection) -> sqlx::Result<bool> {
        let Some(condition) = self.condition.take() else {
            self.execute(conn).await?;
            return Ok(true);
        };
        self.query
            .push(format_args!(" select exists (select from {condition})"));
        self.query.build_query_scalar().fetch_one(conn).await
    }
}
