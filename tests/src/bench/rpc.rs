//! Concurrent consultants holding units and cashiers recording payments, through the full
//! stack (auth, validation, idempotency, audit, the database and the outbox), against a bare
//! tonic service answering a trivial RPC on the same machine in the same run, at several
//! numbers of concurrent callers: saturation is where more callers add latency, not RPCs/s.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anju_kit::Role;
use anju_proto::{
    common::Money,
    finance::{self, finance_service_client::FinanceServiceClient},
    sales::{self as pb, sales_service_client::SalesServiceClient},
};
use futures::future::join_all;
use tokio::sync::Mutex;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use super::{ms, quantile};
use crate::{Authed, TestStack, project_with_building};

pub struct Measure {
    pub calls: usize,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

fn measure(mut latencies: Vec<Duration>, elapsed: Duration) -> Measure {
    latencies.sort();
    Measure {
        calls: latencies.len(),
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: quantile(&latencies, 0.5),
        p99: quantile(&latencies, 0.99),
    }
}

pub struct Point {
    pub callers: usize,
    pub echo: Measure,
    pub anju: Measure,
}

pub struct Report {
    pub points: Vec<Point>,
    pub telemetry: Option<Telemetry>,
}

/// The same calls with OpenTelemetry spans (exported over OTLP) and the RPC metrics on, then
/// off, alternating which goes first, at one number of callers.
pub struct Telemetry {
    pub callers: usize,
    pub on: Vec<Measure>,
    pub off: Vec<Measure>,
    /// Spans the OTLP receiver got during the run.
    pub spans_exported: u64,
}

/// What the telemetry run measures: `pairs` on/off pairs at `callers` callers, exporting to
/// `sink`.
pub struct TelemetryRun {
    pub callers: usize,
    pub pairs: usize,
    pub sink: anju_testkit::otlp::Receiver,
}

fn mean(measures: &[Measure], f: impl Fn(&Measure) -> f64) -> f64 {
    measures.iter().map(f).sum::<f64>() / measures.len().max(1) as f64
}

impl Telemetry {
    /// RPCs/s with telemetry on over RPCs/s with it off.
    pub fn ratio(&self) -> f64 {
        mean(&self.on, |m| m.per_second) / mean(&self.off, |m| m.per_second)
    }
}

/// A bare tonic server (health only: no auth, no database) and `calls` health checks.
async fn echo(callers: usize, calls: usize) -> anyhow::Result<Measure> {
    let (_, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            ),
    );
    let channel = anju::client::channel("127.0.0.1", port)?;
    let per_caller = calls / callers;
    let started = Instant::now();
    let runs = (0..callers).map(|_| {
        let mut client = HealthClient::new(channel.clone());
        async move {
            let mut latencies = Vec::with_capacity(per_caller);
            for _ in 0..per_caller {
                let at = Instant::now();
                client
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await?;
                latencies.push(at.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }
    });
    let mut all = Vec::new();
    for run in join_all(runs).await {
        all.extend(run?);
    }
    let elapsed = started.elapsed();
    server.abort();
    Ok(measure(all, elapsed))
}

/// One stack; for each number of concurrent callers in `sweep`, `calls` more calls (half
/// holds of fresh units, half payments of fresh charges), beside the bare service at the same
/// concurrency.
pub async fn run(
    sweep: &[usize],
    calls: usize,
    telemetry: Option<TelemetryRun>,
) -> anyhow::Result<Report> {
    let mut settings = anju_testkit::settings();
    // Each service at its own pool size, as it runs alone (a test stack shares fewer).
    settings.database.max_connections = anju_kit::Settings::default().database.max_connections;
    settings.database.process_budget = settings.database.max_connections * 7;
    let stack = TestStack::start_with(settings).await?;
    let mut manager = stack.sales(&[Role::SalesManager]);
    let (project, building) = project_with_building(&mut manager, "BENCH-1").await?;
    let holds = calls / 2;
    let payments = calls - holds;
    let telemetry_points = telemetry.as_ref().map_or(0, |t| 2 * t.pairs);
    let points_run = sweep.len() + telemetry_points;
    let total = calls * points_run;

    // Units to hold and to charge, in imports of at most 5,000 rows.
    let mut unit_ids = Vec::with_capacity(total);
    for (chunk, start) in (0..total).step_by(5_000).enumerate() {
        let rows = (start..(start + 5_000).min(total))
            .map(|i| pb::ImportUnitRow {
                unit_number: format!("U{i:06}"),
                floor: 1 + (i % 30) as i32,
                layout: "2房1廳".into(),
                forecast_area: Some(anju_proto::common::Area {
                    square_centimetres: 850_000,
                }),
                list_price: Some(Money {
                    minor_units: 200_000_000,
                    currency: "CNY".into(),
                }),
                orientation: "south".into(),
            })
            .collect();
        let imported = manager
            .import_units(tokio_stream::iter([pb::ImportUnitsRequest {
                request_id: format!("bench-import-{chunk}"),
                building_id: building.clone(),
                rows,
            }]))
            .await?
            .into_inner();
        unit_ids.extend(imported.units.into_iter().map(|u| u.unit_id));
    }
    // One customer per consultant, for the largest sweep point.
    let most = sweep
        .iter()
        .copied()
        .chain(telemetry.as_ref().map(|t| t.callers))
        .max()
        .unwrap_or(2);
    let mut consultants = Vec::new();
    for c in 0..most / 2 {
        let mut client = stack.sales_as(&format!("consultant.{c}"), &[Role::SalesConsultant]);
        let customer = client
            .record_visit(pb::RecordVisitRequest {
                request_id: format!("bench-visit-{c}"),
                project_id: project.clone(),
                phone: format!("1380000{c:04}"),
                name: "Bench".into(),
                channel: pb::VisitChannel::WalkIn as i32,
                note: String::new(),
                referrer_phone: String::new(),
            })
            .await?
            .into_inner()
            .customer
            .expect("customer");
        consultants.push((client, customer.customer_id));
    }
    // Charges to pay, issued ahead: one per unit of each point's second half.
    let service = anju_kit::auth::CoordinatorIssuer::development().token(stack.tenant)?;
    let issuer = FinanceServiceClient::new(stack.authed_with("finance", &service));
    let charge_units: Vec<String> = unit_ids
        .chunks(calls)
        .flat_map(|point| point[holds..].to_vec())
        .collect();
    let charge_ids = Arc::new(Mutex::new(Vec::with_capacity(charge_units.len())));
    let issue = charge_units
        .chunks(charge_units.len().div_ceil(16).max(1))
        .map(|chunk| {
            let mut issuer = issuer.clone();
            let (project, charge_ids, chunk) =
                (project.clone(), charge_ids.clone(), chunk.to_vec());
            async move {
                for unit_id in chunk {
                    let charge = issuer
                        .issue_charge(finance::IssueChargeRequest {
                            request_id: format!("bench-charge-{unit_id}"),
                            project_id: project.clone(),
                            unit_id: unit_id.clone(),
                            payer_id: "owner".into(),
                            purpose: finance::ChargePurpose::PropertyFee as i32,
                            amount: Some(Money {
                                minor_units: 93_450,
                                currency: "CNY".into(),
                            }),
                            business_key: format!("bench:{unit_id}:property_fee"),
                            ..Default::default()
                        })
                        .await?
                        .into_inner()
                        .charge
                        .expect("charge");
                    charge_ids.lock().await.push(charge.charge_id);
                }
                Ok::<_, anyhow::Error>(())
            }
        });
    for issued in join_all(issue).await {
        issued?;
    }
    let charge_ids: Vec<String> = charge_ids.lock().await.clone();
    let hold_units: Vec<String> = unit_ids
        .chunks(calls)
        .flat_map(|point| point[..holds].to_vec())
        .collect();

    let today = (chrono::Utc::now() + chrono::Duration::hours(8))
        .date_naive()
        .to_string();
    let slice = |n: usize| {
        (
            &hold_units[n * holds..(n + 1) * holds],
            &charge_ids[n * payments..(n + 1) * payments],
        )
    };
    let mut points = Vec::new();
    for (n, &callers) in sweep.iter().enumerate() {
        let echo = echo(callers, calls).await?;
        let anju = consultants_and_cashiers(
            &stack,
            &consultants[..callers / 2],
            callers - callers / 2,
            slice(n).0,
            slice(n).1,
            &today,
        )
        .await?;
        points.push(Point {
            callers,
            echo,
            anju,
        });
    }
    let telemetry = match telemetry {
        Some(run) => {
            let exported = run.sink.counted();
            let (mut on, mut off) = (Vec::new(), Vec::new());
            // Spans exist only in the "on" halves: those are the ones exported.
            anju_kit::telemetry::set_exporting(true);
            for pair in 0..run.pairs {
                let order = if pair % 2 == 0 {
                    [true, false]
                } else {
                    [false, true]
                };
                for (i, enabled) in order.into_iter().enumerate() {
                    let (units, charges) = slice(sweep.len() + 2 * pair + i);
                    anju_kit::telemetry::set_enabled(enabled);
                    let measured = consultants_and_cashiers(
                        &stack,
                        &consultants[..run.callers / 2],
                        run.callers - run.callers / 2,
                        units,
                        charges,
                        &today,
                    )
                    .await?;
                    if enabled {
                        on.push(measured)
                    } else {
                        off.push(measured)
                    }
                }
            }
            // As in the other benchmarks: spans made, not exported.
            anju_kit::telemetry::set_enabled(true);
            anju_kit::telemetry::set_exporting(false);
            Some(Telemetry {
                callers: run.callers,
                on,
                off,
                spans_exported: run.sink.counted() - exported,
            })
        }
        None => None,
    };
    stack.stop().await?;
    Ok(Report { points, telemetry })
}

/// The measured run: consultants hold `units`, `cashiers` pay `charges`, all at once.
async fn consultants_and_cashiers(
    stack: &TestStack,
    consultants: &[(SalesServiceClient<Authed>, String)],
    cashiers: usize,
    units: &[String],
    charges: &[String],
    today: &str,
) -> anyhow::Result<Measure> {
    let hold_share = units.len().div_ceil(consultants.len().max(1));
    let pay_share = charges.len().div_ceil(cashiers.max(1));
    eprintln!(
        "rpc: {} calls by {} callers",
        units.len() + charges.len(),
        consultants.len() + cashiers
    );
    let started = Instant::now();
    let mut runs = Vec::new();
    for (n, (client, customer_id)) in consultants.iter().enumerate() {
        let mine: Vec<String> = units
            .iter()
            .skip(n * hold_share)
            .take(hold_share)
            .cloned()
            .collect();
        let (mut client, customer_id) = (client.clone(), customer_id.clone());
        runs.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(mine.len());
            for unit_id in mine {
                let at = Instant::now();
                client
                    .hold_unit(pb::HoldUnitRequest {
                        request_id: format!("bench-hold-{unit_id}"),
                        unit_id,
                        customer_id: customer_id.clone(),
                    })
                    .await?;
                latencies.push(at.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    for n in 0..cashiers {
        let token =
            anju_testkit::token_for(stack.tenant, &format!("cashier.{n}"), &[Role::Cashier]);
        let mut client = FinanceServiceClient::new(stack.authed_with("finance", &token));
        let mine: Vec<String> = charges
            .iter()
            .skip(n * pay_share)
            .take(pay_share)
            .cloned()
            .collect();
        let today = today.to_string();
        runs.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(mine.len());
            for charge_id in mine {
                let at = Instant::now();
                client
                    .record_payment(finance::RecordPaymentRequest {
                        request_id: format!("bench-pay-{charge_id}"),
                        charge_id: charge_id.clone(),
                        amount: Some(Money {
                            minor_units: 93_450,
                            currency: "CNY".into(),
                        }),
                        method: finance::PaymentMethod::WechatPay as i32,
                        external_reference: format!("WX-{charge_id}"),
                        received_on: today.clone(),
                        cashier_id: String::new(),
                    })
                    .await?;
                latencies.push(at.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for run in join_all(runs).await {
        all.extend(run??);
    }
    Ok(measure(all, started.elapsed()))
}

impl Point {
    /// ≥ 2,000 database-writing RPCs/s with p99 < 20 ms.
    fn meets_target(&self) -> bool {
        self.anju.per_second >= 2_000.0 && self.anju.p99 < Duration::from_millis(20)
    }
}

impl Report {
    /// Of the points that meet the target, or else of all, the one with the most RPCs/s.
    fn best(&self) -> Option<&Point> {
        let rate = |a: &&Point, b: &&Point| a.anju.per_second.total_cmp(&b.anju.per_second);
        self.points
            .iter()
            .filter(|p| p.meets_target())
            .max_by(rate)
            .or_else(|| self.points.iter().max_by(rate))
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "### Database-writing RPCs (holds and payments) against a bare tonic service\n\n",
        );
        out += "| callers | anju RPCs/s | anju p50 | anju p99 | bare tonic RPCs/s | bare p99 | anju / bare |\n";
        out += "|---|---|---|---|---|---|---|\n";
        for p in &self.points {
            out += &format!(
                "| {} | {:.0} | {} | {} | {:.0} | {} | {:.1} % |\n",
                p.callers,
                p.anju.per_second,
                ms(p.anju.p50),
                ms(p.anju.p99),
                p.echo.per_second,
                ms(p.echo.p99),
                100.0 * p.anju.per_second / p.echo.per_second
            );
        }
        let calls = self.points.first().map_or(0, |p| p.anju.calls);
        out += &format!(
            "\n- {calls} calls per row (half HoldUnit by consultants, half RecordPayment by cashiers), each on fresh units and charges; the bare service answers health checks (no auth, no database) at the same concurrency; the ratio is what auth, validation, idempotency, audit, Postgres and the outbox cost\n"
        );
        if let Some(t) = &self.telemetry {
            let rate = |m: &[Measure]| mean(m, |m| m.per_second);
            let p99 = |m: &[Measure]| mean(m, |m| m.p99.as_secs_f64() * 1000.0);
            out += &format!(
                "\n**Telemetry's cost** at {} callers, {} pairs of runs alternating which goes first: with OpenTelemetry spans (exported over OTLP/gRPC to a receiver on this machine: {} spans) and the RPC metrics on, {:.0} RPCs/s (p99 {:.1} ms); off, {:.0} RPCs/s (p99 {:.1} ms): on / off = {:.3}; target within 5 %: {}.\n",
                t.callers,
                t.on.len(),
                t.spans_exported,
                rate(&t.on),
                p99(&t.on),
                rate(&t.off),
                p99(&t.off),
                t.ratio(),
                if t.ratio() >= 0.95 { "met" } else { "NOT met" }
            );
        }
        if let Some(best) = self.best() {
            let met = best.meets_target();
            out += &format!(
                "- target ≥ 2,000 database-writing RPCs/s with p99 < 20 ms: {} (best: {:.0}/s, p99 {} at {} callers)\n",
                if met { "met" } else { "NOT met" },
                best.anju.per_second,
                ms(best.anju.p99),
                best.callers
            );
        }
        out
    }
}
