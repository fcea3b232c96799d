//! anju-testkit: what every anju test needs to talk to the real thing.
//!
//! - [`settings`]: settings with a unique database-name prefix and NATS subject prefix, so each
//!   test owns its databases, streams and consumers on the shared servers, and port 0 for gRPC.
//! - [`NatsServer`]: a private, killable `nats-server -js` for fault injection.
//! - [`token`]: a development JWT for a tenant and roles.
//!
//! The shared Postgres and NATS come from `DATABASE_URL` and `NATS_URL` (as `deploy/stack.sh`
//! exports them); tests never stop or reconfigure them.

pub mod otlp;

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anju_kit::{
    Role, Settings,
    auth::TokenIssuer,
    config::{DEV_HS256_SECRET, Secret},
};
use anyhow::{Context, bail};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// Prefix of every database a test creates: `anjut_<unix seconds>_<id>_<service>`.
pub const TEST_DATABASE_PREFIX: &str = "anjut_";

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A short unique token (lowercase hex) for names.
pub fn unique() -> String {
    let id = Uuid::new_v4().simple().to_string();
    id[..12].to_string()
}

/// Settings for one test: its own databases and subjects, every gRPC port free, quick retries.
pub fn settings() -> Settings {
    anju_kit::telemetry::init_for_tests();
    let mut settings = Settings::default();
    let id = unique();
    settings.database.url = Secret::new(database_url());
    settings.database.name_prefix = format!("{TEST_DATABASE_PREFIX}{}_{id}", unix_now());
    // A test stack holds at most `process_budget` (28) connections, a test of one service 4:
    // two stack tests at once (.config/nextest.toml) fit beside `make run` in Postgres' 100.
    settings.database.max_connections = 4;
    settings.nats.url = nats_url();
    settings.nats.prefix = format!("t{id}");
    settings.nats.max_deliver = 3;
    settings.grpc.base_port = 0;
    settings.grpc.shutdown_grace_ms = 2_000;
    settings.auth.hs256_secret = Some(Secret::new(DEV_HS256_SECRET));
    settings
}

/// A development token for `tenant` with `roles` over all its projects.
pub fn token(tenant: Uuid, roles: &[Role]) -> String {
    TokenIssuer::hs256(DEV_HS256_SECRET)
        .staff(tenant, "test-user", roles)
        .expect("signing a test token")
}

/// A development token for a named user (consultants are told apart by their subject).
pub fn token_for(tenant: Uuid, subject: &str, roles: &[Role]) -> String {
    TokenIssuer::hs256(DEV_HS256_SECRET)
        .staff(tenant, subject, roles)
        .expect("signing a test token")
}

/// A contractor's token: it may see only its own work orders.
pub fn contractor_token(tenant: Uuid, contractor: Uuid) -> String {
    TokenIssuer::hs256(DEV_HS256_SECRET)
        .issue(&anju_kit::auth::Claims {
            sub: format!("contractor-{contractor}"),
            tenant: tenant.to_string(),
            roles: vec![Role::Contractor],
            projects: vec!["*".into()],
            contractor: Some(contractor.to_string()),
            exp: anju_kit::auth::expiry(3600),
            nbf: None,
            iat: None,
            iss: None,
            aud: None,
        })
        .expect("signing a test token")
}

/// Drops test databases left behind by runs more than two hours old.
pub async fn drop_stale_databases() -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(&database_url()).await?;
    let names: Vec<String> =
        sqlx::query_scalar("select datname from pg_database where datname like 'anjut\\_%'")
            .fetch_all(&mut conn)
            .await?;
    let cutoff = unix_now().saturating_sub(2 * 3600);
    for name in names {
        let created = name
            .strip_prefix(TEST_DATABASE_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|ts| ts.parse::<u64>().ok());
        if created.is_some_and(|ts| ts < cutoff) {
            // Names come from pg_database and match the test pattern checked above.
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "drop database if exists \"{name}\" with (force)"
            )))
            .execute(&mut conn)
            .await;
        }
    }
    Ok(())
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// Ports handed out by [`free_port_range`] come in aligned blocks of this many.
const PORT_BLOCK: u16 = 16;
/// Blocks between port 20 000 and the kernel's ephemeral range (32 768 and up).
const PORT_BLOCKS: u16 = 12_000 / PORT_BLOCK;

/// `n` (at most 16) consecutive free ports below the kernel's ephemeral range (where the
/// port-0 binds of tests running alongside land); returns the first.
///
/// The block is reserved for the life of this process by a lock on a file named after it, so
/// no other test process takes it, even while this one's servers are down between a kill and
/// a restart and a probe alone would find the ports free.
pub fn free_port_range(n: u16) -> u16 {
    reserve_port_range(n, port_blocks())
}

/// Every block's first port, from a random one on.
fn port_blocks() -> impl Iterator<Item = u16> {
    let start = u16::from_str_radix(&unique()[..4], 16).unwrap_or(0) % PORT_BLOCKS;
    (0..PORT_BLOCKS).map(move |i| 20_000 + ((start + i) % PORT_BLOCKS) * PORT_BLOCK)
}

fn reserve_port_range(n: u16, bases: impl Iterator<Item = u16>) -> u16 {
    static HELD: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());
    assert!(n <= PORT_BLOCK, "at most {PORT_BLOCK} ports in a range");
    let dir = std::env::temp_dir().join("anju-test-ports");
    std::fs::create_dir_all(&dir).expect("the port reservation directory");
    for base in bases {
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(base.to_string()))
        else {
            continue;
        };
        // An flock: held by another process (or another open of it here), or ours until we
        // exit, however we exit.
        if file.try_lock().is_err() {
            continue;
        }
        if (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            HELD.lock().expect("port reservations").push(file);
            return base;
        }
    }
    panic!("no {n} consecutive free ports")
}

/// A private NATS server with JetStream, which a test may kill and restart.
pub struct NatsServer {
    port: u16,
    store: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts `nats-server -js` (from `NATS_SERVER_BIN`, else the PATH) on a free port.
    pub async fn start() -> anyhow::Result<Self> {
        let store = std::env::temp_dir().join(format!("anju-nats-{}", unique()));
        std::fs::create_dir_all(&store)?;
        let mut server = Self {
            port: free_port(),
            store,
            child: None,
        };
        server.spawn().await?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let binary = std::env::var("NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".into());
        let child = Command::new(&binary)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!("starting {binary} (set NATS_SERVER_BIN; deploy/stack.sh installs one)")
            })?;
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("nats-server did not listen on port {}", self.port)
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same store.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn().await
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// Polls `check` every 20 ms until it yields `Some`, or fails after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Removes what a test made on the shared servers: its databases and its JetStream streams.
pub async fn cleanup(settings: &Settings) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(&database_url()).await?;
    let pattern = format!("{}\\_%", settings.database.name_prefix.replace('_', "\\_"));
    let names: Vec<String> =
        sqlx::query_scalar("select datname from pg_database where datname like $1")
            .bind(pattern)
            .fetch_all(&mut conn)
            .await?;
    for name in names {
        // Names come from pg_database and carry this test's unique prefix.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database if exists \"{name}\" with (force)"
        )))
        .execute(&mut conn)
        .await?;
    }
    let client = async_nats::connect(&settings.nats.url).await?;
    let jetstream = async_nats::jetstream::new(client);
    let prefix = format!("{}_", settings.nats.prefix.to_ascii_uppercase());
    let mut names = jetstream.stream_names();
    let mut ours = Vec::new();
    while let Some(name) = futures_next(&mut names).await {
        if name.starts_with(&prefix) {
            ours.push(name);
        }
    }
    for name in ours {
        let _ = jetstream.delete_stream(&name).await;
    }
    Ok(())
}

async fn futures_next<S: futures::Stream<Item = Result<String, E>> + Unpin, E>(
    stream: &mut S,
) -> Option<String> {
    use futures::StreamExt;
    loop {
        match stream.next().await? {
            Ok(name) => return Some(name),
            Err(_) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reserved range stays taken while nothing listens on it (a killed service not yet
    /// restarted): probing alone would hand it out again.
    #[test]
    fn a_reserved_port_range_is_not_handed_out_again_while_its_ports_are_unbound() {
        let first = free_port_range(7);
        assert!((0..7).all(|i| TcpListener::bind(("127.0.0.1", first + i)).is_ok()));
        let second = reserve_port_range(7, std::iter::once(first).chain(port_blocks()));
        assert_ne!(second, first);
        assert!(second.abs_diff(first) >= 16, "{first} and {second} overlap");
    }
}
