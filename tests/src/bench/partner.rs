//! Partner contractors at scale: `streams` contractors hold `WatchWorkOrderFeed` open while
//! `orders` work orders are opened (a dispatcher names a contractor), then accepted, checked in
//! and completed through the partner API by their contractors, 16 at a time.
//!
//! The figures: orders opened and completed per second, and the time from an assignment's
//! answer (its transaction committed) to the item's arrival on its contractor's stream, p50
//! and p99 — beside a baseline measured in the same run: the same number of plain NATS
//! subscriptions, one message each published and received, the floor of any delivery through
//! the bus.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anju_proto::{
    common::Money,
    maintenance::{self as mt, maintenance_service_client::MaintenanceServiceClient},
};
use futures::{StreamExt, stream};
use uuid::Uuid;

use super::{ms, quantile};

/// Concurrent orders in flight.
const WORKERS: usize = 16;
/// Feed streams per HTTP/2 connection.
const STREAMS_PER_CONNECTION: usize = 100;

pub struct Report {
    pub streams: usize,
    pub orders: usize,
    pub orders_per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub nats_p50: Duration,
    pub nats_p99: Duration,
}

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

fn cny(minor_units: i64) -> Option<Money> {
    Some(Money {
        minor_units,
        currency: "CNY".into(),
    })
}

/// The floor: `n` plain NATS subscriptions on subjects of their own, one message each.
async fn nats_baseline(url: &str, prefix: &str, n: usize) -> anyhow::Result<Vec<Duration>> {
    let client = async_nats::connect(url).await?;
    let mut subs = Vec::new();
    for i in 0..n {
        subs.push(client.subscribe(format!("{prefix}.baseline.{i}")).await?);
    }
    client.flush().await?;
    let mut latencies = Vec::new();
    for (i, sub) in subs.iter_mut().enumerate() {
        let sent = Instant::now();
        client
            .publish(format!("{prefix}.baseline.{i}"), "x".into())
            .await?;
        tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("a baseline subscription ended"))?;
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    Ok(latencies)
}

pub async fn run(streams: usize, orders: usize) -> anyhow::Result<Report> {
    let super::Bench {
        settings,
        stack,
        tenant,
        journey,
    } = super::start(streams >= super::MEASURING_FROM, "PARTNER-BENCH").await?;
    let unit = journey.register_unit("0101").await?.unit_id;
    let port = stack
        .port("maintenance")
        .unwrap_or_else(|| settings.grpc_port("maintenance"));
    let dispatcher = journey.staff.dispatcher.clone();
    // The unit known to maintenance before the clock starts.
    let db = sqlx::PgPool::connect_lazy(&settings.database_url("maintenance"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sqlx::query_scalar::<_, i64>("select count(*) from known_units where unit_id = $1")
        .bind(Uuid::parse_str(&unit)?)
        .fetch_one(&db)
        .await?
        == 0
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "maintenance never learnt the unit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    eprintln!("partner bench: opening {streams} feeds");
    let contractors: Vec<Uuid> = (0..streams).map(|_| Uuid::now_v7()).collect();
    let arrivals: Arrivals = Arc::new(Mutex::new(HashMap::new()));
    let mut connections = Vec::new();
    for _ in 0..streams.div_ceil(STREAMS_PER_CONNECTION) {
        connections.push(
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?
                .connect()
                .await?,
        );
    }
    let client_of = |i: usize, contractor: Uuid| {
        let token = anju_testkit::contractor_token(tenant, contractor);
        let channel = connections[i / STREAMS_PER_CONNECTION].clone();
        MaintenanceServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("a header"),
            );
            Ok(r)
        })
    };
    let mut feeds = tokio::task::JoinSet::new();
    for (i, contractor) in contractors.iter().enumerate() {
        let mut client = client_of(i, *contractor);
        let mut feed = client
            .watch_work_order_feed(mt::WatchWorkOrderFeedRequest::default())
            .await?
            .into_inner();
        let arrivals = arrivals.clone();
        feeds.spawn(async move {
            while let Some(Ok(item)) = feed.next().await {
                if item.kind == "assigned" {
                    arrivals
                        .lock()
                        .expect("arrivals")
                        .insert(item.repair_request_id, Instant::now());
                }
            }
        });
    }

    eprintln!("partner bench: {orders} orders through the partner API");
    let started = Instant::now();
    let answered: Vec<anyhow::Result<(String, Instant)>> = stream::iter(0..orders)
        .map(|n| {
            let contractor = contractors[n % streams];
            let mut partner = client_of(n % streams, contractor);
            let mut dispatcher = dispatcher.clone();
            let (project, unit) = (journey.project_id.clone(), unit.clone());
            async move {
                let order = dispatcher
                    .create_repair_request(mt::CreateRepairRequestRequest {
                        request_id: format!("bench-order-{n}"),
                        project_id: project,
                        unit_id: unit,
                        source: mt::RepairSource::Owner as i32,
                        category: "leak".into(),
                        description: "a drip under the sink".into(),
                        contractor_id: contractor.to_string(),
                        component: "pipe_leaks".into(),
                        not_to_exceed: cny(100_000),
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .repair_request
                    .ok_or_else(|| anyhow::anyhow!("no order"))?;
                let assigned = Instant::now();
                let id = order.repair_request_id;
                partner
                    .accept_work_order(mt::AcceptWorkOrderRequest {
                        request_id: format!("accept-{n}"),
                        repair_request_id: id.clone(),
                    })
                    .await?;
                partner
                    .check_in_work_order(mt::CheckInWorkOrderRequest {
                        request_id: format!("in-{n}"),
                        repair_request_id: id.clone(),
                    })
                    .await?;
                partner
                    .complete_work_order(mt::CompleteWorkOrderRequest {
                        request_id: format!("done-{n}"),
                        repair_request_id: id.clone(),
                        resolution: "new seal".into(),
                        cost_lines: vec![mt::CostLine {
                            kind: "labour".into(),
                            description: "an hour".into(),
                            amount: cny(30_000),
                        }],
                        ..Default::default()
                    })
                    .await?;
                Ok((id, assigned))
            }
        })
        .buffer_unordered(WORKERS)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let answered: Vec<(String, Instant)> = answered.into_iter().collect::<anyhow::Result<_>>()?;
    // Every assignment on its stream.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = arrivals.lock().expect("arrivals").len();
        if got >= orders {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{got} of {orders} assignments reached their streams"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut latencies: Vec<Duration> = {
        let arrivals = arrivals.lock().expect("arrivals");
        answered
            .iter()
            .map(|(id, assigned)| {
                arrivals
                    .get(id)
                    .map(|at| at.saturating_duration_since(*assigned))
                    .unwrap_or(Duration::MAX)
            })
            .collect()
    };
    latencies.sort();
    feeds.abort_all();
    let baseline = nats_baseline(&settings.nats.url, &settings.nats.prefix, streams).await?;
    stack.stop().await?;
    anju_testkit::cleanup(&settings).await?;
    Ok(Report {
        streams,
        orders,
        orders_per_second: orders as f64 / elapsed.as_secs_f64().max(1e-6),
        p50: quantile(&latencies, 0.50),
        p99: quantile(&latencies, 0.99),
        nats_p50: quantile(&baseline, 0.50),
        nats_p99: quantile(&baseline, 0.99),
    })
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::from("### Maintenance: partner contractors on their feeds\n\n");
        out += &format!(
            "- {} contractors each holding `WatchWorkOrderFeed` open; {} work orders opened by a dispatcher, then accepted, checked in and completed with a cost line by their contractors ({} at a time): **{:.0} orders/s** opened and completed\n",
            self.streams, self.orders, WORKERS, self.orders_per_second
        );
        out += "\n| from the assignment's answer to the item on its contractor's stream | p50 | p99 |\n|---|---|---|\n";
        out += &format!(
            "| anju (outbox → relay → JetStream → the contractor's ordered consumer → gRPC stream) | {} | {} |\n",
            ms(self.p50),
            ms(self.p99)
        );
        out += &format!(
            "| baseline: plain NATS publish → subscriber, {} subscriptions | {} | {} |\n",
            self.streams,
            ms(self.nats_p50),
            ms(self.nats_p99)
        );
        out
    }
}
