//! Benchmarks behind `make bench`. Every figure is reported beside a baseline measured on the
//! same machine in the same run (pgbench for Postgres-bound paths), as a ratio.

pub mod complaints;
pub mod outbox;
pub mod partner;
pub mod rpc;
pub mod saga;
pub mod title;

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

/// Baselines written by `deploy/bench/pgbench.sh` (`tps_1=…`, `tps_64=…`).
pub fn pgbench() -> BTreeMap<String, f64> {
    let path = results_dir().join("pgbench.txt");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            Some((key.trim().to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// Pools for a benchmark's stack: 16 connections a service for a measuring run; the tests'
/// own budget for a smoke run, which shares a default Postgres (100 connections) with the
/// other stacks of `make test`.
pub fn pools(settings: &mut anju_kit::Settings, measuring: bool) {
    if measuring {
        settings.database.max_connections = 16;
        settings.database.process_budget = 16 * 7;
    }
}

/// A benchmark's world: every service in this process (pools as [`pools`] sizes them), a
/// fresh tenant, and the shared journey fixture in a new project of it, patient for 5 minutes.
pub struct Bench {
    pub settings: anju_kit::Settings,
    pub stack: anju::Stack,
    pub tenant: uuid::Uuid,
    pub journey: anju::journey::Journey,
}

pub async fn start(measuring: bool, code: &str) -> anyhow::Result<Bench> {
    anju_testkit::drop_stale_databases().await?;
    let mut settings = anju_testkit::settings();
    pools(&mut settings, measuring);
    let stack = anju::Stack::start(
        &settings,
        &anju_kit::config::SERVICES,
        tokio_util::sync::CancellationToken::new(),
    )
    .await?;
    let tenant = uuid::Uuid::now_v7();
    let staff = anju::journey::Staff::new(|service, subject, roles: &[anju_kit::Role]| {
        let port = stack
            .port(service)
            .unwrap_or_else(|| settings.grpc_port(service));
        anju::client::authed(
            "127.0.0.1",
            port,
            &anju_testkit::token_for(tenant, subject, roles),
        )
    })?;
    let mut journey = anju::journey::Journey::open(staff, code, "bench-").await?;
    journey.patience = Duration::from_secs(300);
    Ok(Bench {
        settings,
        stack,
        tenant,
        journey,
    })
}

/// A run this small is a smoke test of the benchmark's path, not a measurement.
pub const MEASURING_FROM: usize = 100;

pub fn results_dir() -> PathBuf {
    let dir = std::env::var_os("ANJU_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.anju/bench")));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// The value at quantile `q` (0..=1) of sorted samples.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
