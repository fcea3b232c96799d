//! The Grafana dashboards of `deploy/grafana` against what the services really export: a stack
//! (every service, one process) runs a move-in to the keys and another unit waiting on its
//! fees, a refused call, a complaint and a repair assigned to a contractor from the
//! responsibility map; Debian's Prometheus scrapes its `/metrics` every second; then every
//! panel's every query — its variables set to all — must return at least one series.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anju_e2e::TestStack;
use anju_kit::Role;
use anju_proto::{
    common::Money,
    complaints as cp, finance as fi,
    maintenance::{self as mt, maintenance_service_client::MaintenanceServiceClient},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Debian's Prometheus: `PROMETHEUS_BIN`, else what `deploy/tools.sh` finds or installs.
fn prometheus_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("PROMETHEUS_BIN") {
        return bin.into();
    }
    let out = Command::new(repo().join("deploy/tools.sh"))
        .arg("prometheus")
        .stderr(Stdio::inherit())
        .output()
        .expect("deploy/tools.sh prometheus");
    assert!(out.status.success(), "no Prometheus");
    String::from_utf8(out.stdout).unwrap().trim().into()
}

struct Prometheus {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    /// Scraping `target` every second (rules evaluated, subqueries stepped, every second).
    fn start(target: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("anju-prometheus-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
                 - job_name: anju\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
            ),
        )
        .unwrap();
        let port = anju_testkit::free_port_range(1);
        let child = Command::new(prometheus_bin())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting prometheus");
        Prometheus { child, dir, port }
    }

    /// GET `path` over HTTP/1.0 (so the body is not chunked): the body.
    async fn get(&self, path: &str) -> Option<String> {
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .ok()?;
        socket
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: prometheus\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut answer = String::new();
        socket.read_to_string(&mut answer).await.ok()?;
        let (head, body) = answer.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.0 200")
            .then(|| body.to_string())
            .or_else(|| {
                eprintln!("prometheus: {path}: {head}\n{body}");
                None
            })
    }

    /// The instant query's result vector (an error is printed and counts as empty).
    async fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        let body = self
            .get(&format!("/api/v1/query?query={}", encode(expr)))
            .await
            .unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Percent-encodes a query parameter.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every query of every panel: (dashboard, panel title, expression with its variables set to
/// all and Grafana's rate interval to a minute).
fn panel_queries() -> Vec<(String, String, String)> {
    let mut queries = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(repo().join("deploy/grafana"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    for file in files {
        let dashboard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let name = dashboard["uid"].as_str().unwrap().to_string();
        for panel in dashboard["panels"].as_array().unwrap() {
            if panel["type"] == "row" {
                continue;
            }
            let targets = panel["targets"].as_array().unwrap();
            assert!(
                !targets.is_empty(),
                "{name}: {} has no query",
                panel["title"]
            );
            for target in targets {
                let expr = target["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$__rate_interval", "1m")
                    .replace("$tenant", ".+")
                    .replace("$project", ".+")
                    .replace("$service", ".+");
                assert!(!expr.contains('$'), "{name}: a variable left in {expr}");
                queries.push((
                    name.clone(),
                    panel["title"].as_str().unwrap().to_string(),
                    expr,
                ));
            }
        }
    }
    queries
}

/// The `anju_…` metric names in a query.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("anju_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

fn cny(minor_units: i64) -> Option<Money> {
    Some(Money {
        minor_units,
        currency: "CNY".into(),
    })
}

#[tokio::test]
async fn every_dashboard_panel_returns_series_from_a_running_stack() {
    let queries = panel_queries();
    let mut settings = anju_testkit::settings();
    settings.telemetry.metrics_address = Some("127.0.0.1:0".into());
    let stack = TestStack::start_with(settings).await.unwrap();
    let metrics = stack.stack.metrics_port().expect("a metrics port");
    let prometheus = Prometheus::start(metrics);

    // A move-in to the keys, and a unit waiting on its fees.
    let j = stack.journey("DASH").await;
    let handed = j.sold_unit("0101", "13800000101").await.unwrap();
    let unpaid = j.sold_unit("0102", "13800000102").await.unwrap();
    j.batch(2, None).await.unwrap();
    j.paid_and_passed(&handed).await.unwrap();
    j.wait_cleared(&handed).await.unwrap();
    j.release(&handed, "keys").await.unwrap().unwrap();
    j.check_in(&unpaid).await.unwrap();
    // A refused call: an answer other than OK.
    let refused = j
        .staff
        .cashier
        .clone()
        .list_charges(fi::ListChargesRequest {
            unit_id: "not-a-unit".into(),
            ..Default::default()
        })
        .await;
    assert!(refused.is_err());
    // A complaint on the desk.
    j.complain(
        "dash",
        &handed,
        cp::ComplaintCategory::PropertyManagement,
        cp::Severity::Medium,
        "the lobby door does not close",
    )
    .await
    .unwrap()
    .unwrap();
    // A repair assigned to the contractor the map names.
    let mut dispatcher = MaintenanceServiceClient::new(stack.authed_with(
        "maintenance",
        &anju_testkit::token_for(stack.tenant, "dispatcher", &[Role::MaintenanceDispatcher]),
    ));
    dispatcher
        .set_responsibility(mt::SetResponsibilityRequest {
            request_id: "dash-map".into(),
            responsibility: Some(mt::Responsibility {
                project_id: j.project_id.clone(),
                building_id: j.building_id.clone(),
                component: "pipe_leaks".into(),
                contractor_id: uuid::Uuid::now_v7().to_string(),
                backup_vendor_id: uuid::Uuid::now_v7().to_string(),
                settlement_amount: cny(100_000_000),
                retention: cny(3_000_000),
                liability_years: 2,
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let repair = dispatcher
        .create_repair_request(mt::CreateRepairRequestRequest {
            request_id: "dash-repair".into(),
            project_id: j.project_id.clone(),
            unit_id: handed.clone(),
            source: mt::RepairSource::Owner as i32,
            category: "leak".into(),
            description: "water under the sink".into(),
            component: "pipe_leaks".into(),
            owner_name: "Li Wei".into(),
            owner_phone: "13800001111".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    let contractor = repair.work_order.unwrap().contractor_id;
    assert!(!contractor.is_empty(), "assigned from the map");
    // The contractor's scorecard: one order in hand, on time; nothing breached or completed.
    let scope = format!(
        "tenant=\"{}\",project=\"{}\",contractor=\"{contractor}\"",
        stack.tenant, j.project_id
    );
    let (_, body) = anju_e2e::scrape_metrics(metrics).await;
    for wanted in [
        format!("anju_work_orders_open{{{scope},clock_state=\"on_time\"}} 1"),
        format!("anju_work_order_breaches_total{{{scope}}} 0"),
        format!("anju_work_orders_completed_total{{{scope}}} 0"),
    ] {
        assert!(body.lines().any(|l| l == wanted), "no {wanted} in:\n{body}");
    }

    // Every metric a query names is one the services declare (a panel that shows zero when
    // nothing happened, `… or vector(0)`, still names real families).
    let (_, body) = anju_e2e::scrape_metrics(metrics).await;
    let declared: std::collections::BTreeSet<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for (dashboard, panel, expr) in &queries {
        for name in metric_names(expr) {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|f| declared.contains(f))
                .unwrap_or(&name);
            assert!(
                declared.contains(family),
                "{dashboard} / {panel}: {name} is not exported"
            );
        }
    }

    // Every query answers with series once Prometheus has scraped the stack a few times.
    let started = Instant::now();
    let mut empty = Vec::new();
    loop {
        empty.clear();
        for (dashboard, panel, expr) in &queries {
            if prometheus.query(expr).await.is_empty() {
                empty.push(format!("{dashboard} / {panel}: {expr}"));
            }
        }
        if empty.is_empty() || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(
        empty.is_empty(),
        "{} of {} panel queries return nothing:\n{}",
        empty.len(),
        queries.len(),
        empty.join("\n")
    );
    // Not vacuous: Prometheus did scrape the stack.
    let up = prometheus.query("up{job=\"anju\"} == 1").await;
    assert_eq!(up.len(), 1, "{up:?}");
    drop(prometheus);
    stack.stop().await.unwrap();
}
