//! The complaints desk under a standing load of running clocks: at each size (complaints with
//! their acknowledge, route and resolve clocks running), complaints filed and routed per second
//! and the latency of a transition (the department taking a complaint, which stops its route
//! clock); then, with the largest load standing, how late a breach event comes after its due
//! instant.
//!
//! Every service runs in this process. The standing complaints are written straight into
//! complaints' tables as the service would have (three running clocks each, due days ahead,
//! so none fires while measuring): the curve is about what a transition costs beside them, not
//! about filing them. Lateness is read from complaints' own rows: the breach mark commits with
//! its event, one Postgres clock for both instants.

use std::time::{Duration, Instant};

use anju::{client, journey::Journey};
use anju_complaints::domain::{
    standard::Standard,
    vocabulary::{Category, Severity},
};
use anju_kit::Role;
use anju_proto::complaints as cp;
use anyhow::Context;
use futures::{StreamExt, stream};
use sqlx::PgPool;
use uuid::Uuid;

use super::quantile;

/// Concurrent desks filing and departments taking.
const DESKS: usize = 16;

pub struct Point {
    /// Complaints with running clocks standing in the database.
    pub standing: usize,
    pub clocks: i64,
    pub filed_per_second: f64,
    pub take_p50: Duration,
    pub take_p99: Duration,
}

pub struct Report {
    pub points: Vec<Point>,
    pub breaches: usize,
    pub lateness_p50: Duration,
    pub lateness_p99: Duration,
    pub lateness_max: Duration,
}

/// Writes standing complaints until `total` stand, each with three running clocks due days
/// ahead.
async fn stand(db: &PgPool, tenant: Uuid, project: Uuid, total: usize) -> anyhow::Result<()> {
    let terms = serde_json::to_value(Standard::default().terms(Category::Fees, Severity::Low))?;
    let have: i64 =
        sqlx::query_scalar("select count(*) from complaints where complainant = 'standing'")
            .fetch_one(db)
            .await?;
    let mut have = have as usize;
    while have < total {
        let n = (total - have).min(20_000) as i64;
        sqlx::query(
            "with c as (
                 insert into complaints (complaint_id, tenant_id, project_id, complainant, channel,
                     category, severity, text, common_part, queue, terms, recorded_month)
                 select gen_random_uuid(), $1, $2, 'standing', 'phone', 'fees', 'low',
                        'standing complaint', 'lift', 'finance', $3, to_char(now(), 'YYYY-MM')
                 from generate_series(1, $4)
                 returning complaint_id)
             insert into complaint_clocks (complaint_id, round, target, tenant_id, project_id,
                 target_minutes, started_at, running_since, warn_at, due_at, next_at)
             select c.complaint_id, 1, t.target, $1, $2, 600, now(), now(), w.at, w.at + interval '1 day', w.at
             from c
             cross join (values ('acknowledge'), ('route'), ('resolve')) as t(target)
             cross join lateral (select now() + interval '3 days'
                                        + random() * interval '27 days' as at) as w",
        )
        .bind(tenant)
        .bind(project)
        .bind(&terms)
        .bind(n)
        .execute(db)
        .await?;
        have += n as usize;
    }
    sqlx::query("analyze complaints").execute(db).await?;
    sqlx::query("analyze complaint_clocks").execute(db).await?;
    Ok(())
}

fn complaint(journey: &Journey, step: &str, severity: cp::Severity) -> cp::RecordComplaintRequest {
    cp::RecordComplaintRequest {
        request_id: journey.request_id(step),
        project_id: journey.project_id.clone(),
        complainant: "Owner".into(),
        complainant_kind: cp::Complainant::Owner as i32,
        channel: cp::ComplaintChannel::Phone as i32,
        category: cp::ComplaintCategory::Fees as i32,
        severity: severity as i32,
        text: "the lift maintenance fee charged twice".into(),
        common_part: "lift 2".into(),
        ..Default::default()
    }
}

/// Files `n` complaints (`DESKS` at a time); returns their ids and the seconds it took.
async fn file(
    journey: &Journey,
    tag: &str,
    n: usize,
    severity: cp::Severity,
) -> anyhow::Result<(Vec<String>, Duration)> {
    let clock = Instant::now();
    let filed = stream::iter(0..n)
        .map(|i| {
            let mut desk = journey.staff.complaints_desk.clone();
            let request = complaint(journey, &format!("{tag}-{i}"), severity);
            async move {
                desk.record_complaint(request)
                    .await
                    .map(|r| r.into_inner().complaint.unwrap_or_default().complaint_id)
            }
        })
        .buffer_unordered(DESKS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    Ok((filed, clock.elapsed()))
}

/// The finance desk takes each complaint (`DESKS` at a time); each call's latency.
async fn take(journey: &Journey, tag: &str, ids: &[String]) -> anyhow::Result<Vec<Duration>> {
    Ok(stream::iter(ids.iter().enumerate())
        .map(|(i, id)| {
            let mut fees = journey.staff.fees_desk.clone();
            let request = cp::TakeComplaintRequest {
                request_id: format!("take-{tag}-{i}"),
                complaint_id: id.clone(),
                assignee: "cashier".into(),
            };
            async move {
                let clock = Instant::now();
                fees.take_complaint(request).await.map(|_| clock.elapsed())
            }
        })
        .buffer_unordered(DESKS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?)
}

pub async fn run(sizes: &[usize], per_point: usize, breaches: usize) -> anyhow::Result<Report> {
    let super::Bench {
        settings,
        stack,
        tenant,
        journey,
    } = super::start(per_point >= super::MEASURING_FROM, "COMPLAINTS-BENCH").await?;
    let db = PgPool::connect_lazy(&settings.database_url("complaints"))?;
    let project = Uuid::parse_str(&journey.project_id)?;
    // Complaints learns the project from sales' events.
    journey
        .eventually("complaints to know the project", || async {
            let known: i64 =
                sqlx::query_scalar("select count(*) from known_projects where project_id = $1")
                    .bind(project)
                    .fetch_one(&db)
                    .await?;
            Ok((known == 1).then_some(()))
        })
        .await?;

    // A warm-up round, unmeasured: the first point would otherwise also pay for the pools,
    // the caches and the coordinator's consumers getting under way.
    let (warm, _) = file(
        &journey,
        "warm-up",
        per_point.div_ceil(2),
        cp::Severity::Low,
    )
    .await?;
    take(&journey, "warm-up", &warm).await?;

    let mut points = Vec::new();
    for (p, &standing) in sizes.iter().enumerate() {
        eprintln!("complaints bench: {standing} complaints with clocks running");
        stand(&db, tenant, project, standing).await?;
        let clocks: i64 =
            sqlx::query_scalar("select count(*) from complaint_clocks where next_at is not null")
                .fetch_one(&db)
                .await?;
        let (filed, took) = file(&journey, &format!("p{p}"), per_point, cp::Severity::Low).await?;
        let filed_per_second = per_point as f64 / took.as_secs_f64().max(1e-6);
        let mut takes = take(&journey, &format!("p{p}"), &filed).await?;
        takes.sort();
        points.push(Point {
            standing,
            clocks,
            filed_per_second,
            take_p50: quantile(&takes, 0.5),
            take_p99: quantile(&takes, 0.99),
        });
    }

    // Breaches beside the largest load: an urgent complaint's acknowledgement due at once, one
    // filed every 20 ms.
    eprintln!("complaints bench: {breaches} breaches");
    let mut standard = journey
        .staff
        .complaints_desk
        .clone()
        .get_service_standard(cp::GetServiceStandardRequest {
            project_id: journey.project_id.clone(),
        })
        .await?
        .into_inner()
        .standard
        .context("a standard")?;
    standard.project_id = journey.project_id.clone();
    standard.targets = vec![cp::SeverityTargets {
        category: cp::ComplaintCategory::Fees as i32,
        severity: cp::Severity::Urgent as i32,
        targets: Some(cp::TargetSet {
            acknowledge_minutes: 0,
            route_minutes: 600,
            resolve_minutes: 6000,
            follow_up_minutes: 6000,
        }),
    }];
    let admin = anju_testkit::token_for(tenant, "admin", &[Role::Admin]);
    let mut complaints =
        cp::complaints_service_client::ComplaintsServiceClient::new(client::authed(
            "127.0.0.1",
            stack.port("complaints").context("port")?,
            &admin,
        )?);
    complaints
        .set_service_standard(cp::SetServiceStandardRequest {
            request_id: "bench-standard".into(),
            standard: Some(standard),
        })
        .await?;
    let mut urgent = Vec::new();
    for i in 0..breaches {
        let mut desk = journey.staff.complaints_desk.clone();
        let request = complaint(&journey, &format!("urgent-{i}"), cp::Severity::Urgent);
        urgent.push(
            desk.record_complaint(request)
                .await?
                .into_inner()
                .complaint
                .unwrap_or_default()
                .complaint_id,
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ids: Vec<Uuid> = urgent
        .iter()
        .map(|id| Uuid::parse_str(id))
        .collect::<Result<_, _>>()?;
    journey
        .eventually("every acknowledgement breached", || async {
            let n: i64 = sqlx::query_scalar(
                "select count(*) from complaint_clocks
                 where complaint_id = any($1) and target = 'acknowledge' and breached_at is not null",
            )
            .bind(&ids)
            .fetch_one(&db)
            .await?;
            Ok((n as usize == breaches).then_some(()))
        })
        .await?;
    let late: Vec<f64> = sqlx::query_scalar(
        "select extract(epoch from breached_at - due_at)::float8 from complaint_clocks
         where complaint_id = any($1) and target = 'acknowledge'",
    )
    .bind(&ids)
    .fetch_all(&db)
    .await?;
    let mut late: Vec<Duration> = late
        .into_iter()
        .map(|s| Duration::from_secs_f64(s.max(0.0)))
        .collect();
    late.sort();
    stack.stop().await?;
    Ok(Report {
        points,
        breaches,
        lateness_p50: quantile(&late, 0.5),
        lateness_p99: quantile(&late, 0.99),
        lateness_max: late.last().copied().unwrap_or_default(),
    })
}

impl Report {
    /// The largest load's figure over the smallest's.
    pub fn spread(&self, of: impl Fn(&Point) -> f64) -> f64 {
        match (self.points.first(), self.points.last()) {
            (Some(a), Some(b)) if of(a) > 0.0 => of(b) / of(a),
            _ => 1.0,
        }
    }

    pub fn markdown(&self) -> String {
        let mut out =
            String::from("### Complaints: filing and transitions beside running clocks\n\n");
        out += "| complaints with clocks running | open clocks | filed and routed / s | take p50 | take p99 |\n|---|---|---|---|---|\n";
        for p in &self.points {
            out += &format!(
                "| {} | {} | {:.0} | {} | {} |\n",
                p.standing,
                p.clocks,
                p.filed_per_second,
                super::ms(p.take_p50),
                super::ms(p.take_p99)
            );
        }
        out += &format!(
            "\n- largest load over smallest: filing rate ×{:.2}, take p50 ×{:.2}\n",
            self.spread(|p| p.filed_per_second),
            self.spread(|p| p.take_p50.as_secs_f64())
        );
        out += &format!(
            "- {} breaches beside the largest load: an event **{} after its due instant at p99** (p50 {}, worst {})\n",
            self.breaches,
            super::ms(self.lateness_p99),
            super::ms(self.lateness_p50),
            super::ms(self.lateness_max)
        );
        out
    }
}
