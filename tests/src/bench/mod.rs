//! Benchmarks behind `make bench`. Every figure is reported beside a baseline measured on the
//! same machine in the same run (pgbench for Postgres-bound paths), as a ratio.

pub mod complaints;
pub mod outbox;
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
