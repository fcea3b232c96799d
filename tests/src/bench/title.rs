//! A building's survey through title, the coordinator and finance: `units` sold units, one
//! survey report of all of them imported through `ImportSurvey`, every area difference
//! assessed by title, charged in finance by the coordinator, then paid by cashiers and seen
//! settled by title.
//!
//! Every service runs in this process. The stages are read from the services' own timestamps,
//! all from one Postgres clock: the import's answer, each title saga's creation (the
//! coordinator's transaction that took `AreaDifferenceAssessed` and wrote the charge command)
//! and each charge's creation in finance. The figures: seconds from sending the report to the
//! last charge issued, and how those seconds divide between title (the import's transaction),
//! the way to the coordinator (relay, JetStream, its consumer) and on to finance (its
//! dispatcher, finance's IssueCharge).

use std::time::{Duration, Instant};

use anju::journey::{Buyer, ID_NUMBER, Journey};
use anju_proto::{
    common::{Area, Money},
    finance, sales as pb, title as tt,
};
use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use sqlx::PgPool;
use uuid::Uuid;

use super::{ms, quantile};

const PRICE: i64 = 200_000_000;
/// The contract area every unit is sold with: 85 m².
const AREA: i64 = 850_000;
/// Concurrent sellers and cashiers (setting up, and paying, respectively).
const SELLERS: usize = 16;
/// Rows per message of the streamed report.
const CHUNK: usize = 250;

pub struct Report {
    pub units: usize,
    /// Sending the report → its answer (title surveyed, assessed and published every unit).
    pub import: Duration,
    /// Sending the report → the last title saga started in the coordinator.
    pub coordinator: Duration,
    /// Sending the report → the last area difference charged in finance.
    pub charged: Duration,
    /// Per unit: title's events committed (the import answered) → its saga started; saga
    /// started → charge issued.
    pub to_coordinator: (Duration, Duration),
    pub to_finance: (Duration, Duration),
    /// Paying every charge (by `SELLERS` cashiers) → title has seen each settled.
    pub settled: Duration,
    pub pgbench_1: Option<f64>,
}

fn cny(minor_units: i64) -> Option<Money> {
    Some(Money {
        minor_units,
        currency: "CNY".into(),
    })
}

async fn until(pool: &PgPool, sql: &str, target: i64, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(pool)
            .await?;
        if n >= target {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{what}: {n} of {target}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Per-unit gaps, sorted.
fn gaps(pairs: &[(DateTime<Utc>, DateTime<Utc>)]) -> Vec<Duration> {
    let mut gaps: Vec<Duration> = pairs
        .iter()
        .map(|(from, to)| (*to - *from).to_std().unwrap_or_default())
        .collect();
    gaps.sort();
    gaps
}

pub async fn run(units: usize) -> anyhow::Result<Report> {
    let super::Bench {
        settings,
        stack,
        tenant,
        mut journey,
    } = super::start(units >= super::MEASURING_FROM, "TITLE-BENCH").await?;
    journey.poll = Duration::from_millis(50);
    journey.price = PRICE;
    let connect = |service: &str| PgPool::connect_lazy(&settings.database_url(service));
    let (title_db, saga_db, finance_db) =
        (connect("title")?, connect("saga")?, connect("finance")?);

    eprintln!("title bench: selling {units} units");
    let sold = sold_units(&journey, units).await?;
    until(
        &title_db,
        "select count(*) from title_files where contract_id is not null",
        units as i64,
        "title to learn the contracts",
    )
    .await?;

    eprintln!("title bench: importing a survey of {units} units");
    let rows: Vec<tt::SurveyRow> = sold
        .iter()
        .enumerate()
        .map(|(i, unit)| tt::SurveyRow {
            line: i as i32 + 2,
            unit_id: unit.clone(),
            // Every unit a little larger: each buyer owes a difference, charged in finance.
            measured_area: Some(Area {
                square_centimetres: AREA + 1 + (i as i64 % 2_000),
            }),
        })
        .collect();
    let mut messages = vec![tt::ImportSurveyRequest {
        request_id: "bench-survey".into(),
        project_id: journey.project_id.clone(),
        surveying_firm: "Bench Surveying".into(),
        report_number: "BENCH-1".into(),
        rows: Vec::new(),
    }];
    messages.extend(rows.chunks(CHUNK).map(|c| tt::ImportSurveyRequest {
        rows: c.to_vec(),
        ..Default::default()
    }));
    let sent: DateTime<Utc> = sqlx::query_scalar("select now()")
        .fetch_one(&title_db)
        .await?;
    let clock = Instant::now();
    let answer = journey
        .staff
        .title_officer
        .clone()
        .import_survey(stream::iter(messages))
        .await?
        .into_inner();
    let import = clock.elapsed();
    anyhow::ensure!(answer.assessed as usize == units, "assessed {answer:?}");
    until(
        &finance_db,
        &format!(
            "select count(*) from charges where tenant_id = '{tenant}' and purpose = 'area_difference'"
        ),
        units as i64,
        "every difference charged",
    )
    .await?;

    // Title's events are written in the import's one transaction and become visible when it
    // commits, just before its answer: the hop to the coordinator counts from there.
    let committed = sent + chrono::Duration::from_std(import)?;
    // A title saga's key is its contract; its creation is the transaction that started it.
    let contracts: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "select contract_id, unit_id from title_files where contract_id is not null",
    )
    .fetch_all(&title_db)
    .await?;
    let started: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "select saga_key, created_at from sagas where flow = 'title' and tenant_id = $1",
    )
    .bind(tenant)
    .fetch_all(&saga_db)
    .await?;
    let sagas: Vec<(String, DateTime<Utc>)> = started
        .into_iter()
        .filter_map(|(contract, at)| {
            let unit = contracts.iter().find(|(c, _)| c.to_string() == contract)?.1;
            Some((unit.to_string(), at))
        })
        .collect();
    let charges: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "select unit_id, created_at from charges where tenant_id = $1 and purpose = 'area_difference'",
    )
    .bind(tenant)
    .fetch_all(&finance_db)
    .await?;
    let saga_at = |unit: &str| sagas.iter().find(|(u, _)| u == unit).map(|(_, at)| *at);
    let to_coordinator: Vec<_> = sagas.iter().map(|(_, at)| (committed, *at)).collect();
    let to_finance: Vec<_> = charges
        .iter()
        .filter_map(|(unit, at)| Some((saga_at(&unit.to_string())?, *at)))
        .collect();
    let last = |times: &mut dyn Iterator<Item = DateTime<Utc>>| {
        times
            .max()
            .map(|t| (t - sent).to_std().unwrap_or_default())
            .unwrap_or_default()
    };
    let coordinator = last(&mut sagas.iter().map(|(_, at)| *at));
    let charged = last(&mut charges.iter().map(|(_, at)| *at));
    let (to_coordinator, to_finance) = (gaps(&to_coordinator), gaps(&to_finance));

    eprintln!("title bench: paying {units} differences");
    let clock = Instant::now();
    let due: Vec<finance::Charge> = stream::iter(&sold)
        .map(|unit| journey.fees_of(unit, ":area", 1))
        .buffer_unordered(SELLERS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|r| r.map(|mut c| c.remove(0)))
        .collect::<Result<_, _>>()?;
    let paid = stream::iter(due.chunks(1).enumerate())
        .map(|(i, charge)| {
            let journey = &journey;
            async move { journey.pay(charge, &format!("AREA-{i}")).await }
        })
        .buffer_unordered(SELLERS)
        .collect::<Vec<_>>()
        .await;
    for outcome in paid {
        outcome?;
    }
    until(
        &title_db,
        "select count(*) from title_files where area_settled_at is not null",
        units as i64,
        "title to see every difference paid",
    )
    .await?;
    let settled = clock.elapsed();
    stack.stop().await?;
    Ok(Report {
        units,
        import,
        coordinator,
        charged,
        to_coordinator: (
            quantile(&to_coordinator, 0.5),
            quantile(&to_coordinator, 0.99),
        ),
        to_finance: (quantile(&to_finance, 0.5), quantile(&to_finance, 0.99)),
        settled,
        pgbench_1: super::pgbench().get("tps_1").copied(),
    })
}

/// `n` units of one building, each sold through subscription, deposits and contract.
async fn sold_units(journey: &Journey, n: usize) -> anyhow::Result<Vec<String>> {
    let rows = (0..n)
        .map(|i| pb::ImportUnitRow {
            unit_number: format!("T-{i:05}"),
            floor: 1 + (i % 30) as i32,
            layout: "2房1廳".into(),
            forecast_area: Some(Area {
                square_centimetres: AREA,
            }),
            list_price: cny(PRICE),
            orientation: "south".into(),
        })
        .collect();
    let units: Vec<pb::Unit> = journey
        .staff
        .manager
        .clone()
        .import_units(tokio_stream::iter([pb::ImportUnitsRequest {
            request_id: "bench-units".into(),
            building_id: journey.building_id.clone(),
            rows,
        }]))
        .await?
        .into_inner()
        .units;
    let sold = stream::iter(units.iter().enumerate())
        .map(|(i, unit)| {
            let buyer = Buyer {
                phone: format!("137{i:08}"),
                name: format!("Owner {i}"),
                id_number: ID_NUMBER.into(),
            };
            async move { journey.sell(unit, &buyer).await }
        })
        .buffer_unordered(SELLERS)
        .collect::<Vec<_>>()
        .await;
    for outcome in sold {
        outcome.context("a sale")?;
    }
    Ok(units.into_iter().map(|u| u.unit_id).collect())
}

impl Report {
    pub fn markdown(&self) -> String {
        let total = self.charged.as_secs_f64().max(1e-6);
        let share = |d: Duration| 100.0 * d.as_secs_f64() / total;
        let title = self.import;
        let coordinator = self.coordinator.saturating_sub(self.import);
        let finance = self.charged.saturating_sub(self.coordinator);
        let mut out =
            String::from("### Title: a building's survey to every area difference in finance\n\n");
        out += &format!(
            "- {} units, one survey report streamed to `ImportSurvey` (all or nothing): **{:.2} s from sending it to the last difference charged in finance** ({:.0} units/s)\n",
            self.units,
            self.charged.as_secs_f64(),
            self.units as f64 / total
        );
        out += "\n| stage (to its last unit) | seconds from sending | share |\n|---|---|---|\n";
        out += &format!(
            "| title: survey recorded, difference assessed, event written (one transaction) | {:.2} | {:.0} % |\n",
            title.as_secs_f64(),
            share(title)
        );
        out += &format!(
            "| coordinator: relay → JetStream → title flow started, charge command written | {:.2} | {:.0} % |\n",
            self.coordinator.as_secs_f64(),
            share(coordinator)
        );
        out += &format!(
            "| finance: dispatcher → IssueCharge → charge written | {:.2} | {:.0} % |\n",
            self.charged.as_secs_f64(),
            share(finance)
        );
        out += &format!(
            "\n- per unit, title's events committed (the import answered) → its saga started: p50 {}, p99 {}; saga started → charge in finance: p50 {}, p99 {}\n",
            ms(self.to_coordinator.0),
            ms(self.to_coordinator.1),
            ms(self.to_finance.0),
            ms(self.to_finance.1)
        );
        out += &format!(
            "- then {} cashiers paying every difference until title has seen each settled: {:.2} s ({:.0} payments/s)\n",
            SELLERS,
            self.settled.as_secs_f64(),
            self.units as f64 / self.settled.as_secs_f64().max(1e-6)
        );
        if let Some(tps) = self.pgbench_1 {
            out += &format!(
                "- baseline: pgbench's single-client commit rate on this server is {tps:.0}/s; the survey took {:.1} commits' worth of that per unit end to end\n",
                tps * total / self.units as f64
            );
        }
        out
    }
}
