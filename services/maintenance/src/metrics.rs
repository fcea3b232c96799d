//! What maintenance exports (Prometheus, read from its tables when scraped), per tenant and
//! project: repair requests open (not done yet, or done and waiting for their sign-offs) and
//! closed, by where they came from; and per contractor, its work orders in hand by where their
//! clocks stand (on time, warned, breached), the deadlines it breached and the orders it
//! completed — the contractor scorecard.

use std::sync::Arc;

use anju_messaging::metrics::{Exposition, Source};
use sqlx::PgPool;
use uuid::Uuid;

pub fn source(pool: PgPool) -> Source {
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move { render(&pool).await })
    })
}

pub async fn render(pool: &PgPool) -> anyhow::Result<String> {
    let rows: Vec<(Uuid, Uuid, String, String, i64)> = sqlx::query_as(
        "select tenant_id, project_id, source, status, count(*) from repair_requests
         group by 1, 2, 3, 4 order by 1, 2, 3, 4",
    )
    .fetch_all(pool)
    .await?;
    let mut e = Exposition::default();
    e.family(
        "anju_repairs_open",
        "gauge",
        "Repair requests not closed: open (work to do) or completed (waiting for sign-offs).",
    );
    for (tenant, project, source, status, n) in &rows {
        if status != "closed" {
            let (t, p) = (tenant.to_string(), project.to_string());
            let labels = [
                ("tenant", t.as_str()),
                ("project", p.as_str()),
                ("source", source.as_str()),
                ("status", status.as_str()),
            ];
            e.sample("anju_repairs_open", &labels, n);
        }
    }
    e.family(
        "anju_repairs_closed_total",
        "counter",
        "Repair requests closed by their four sign-offs.",
    );
    // Every (tenant, project, source) with repairs, at zero before its first close (a counter
    // starts at 0, so its increase is there from the start).
    let mut closed: std::collections::BTreeMap<(String, String, &str), i64> = Default::default();
    for (tenant, project, source, status, n) in &rows {
        let count = closed
            .entry((tenant.to_string(), project.to_string(), source.as_str()))
            .or_default();
        if status == "closed" {
            *count += n;
        }
    }
    for ((t, p, source), n) in &closed {
        let labels = [
            ("tenant", t.as_str()),
            ("project", p.as_str()),
            ("source", *source),
        ];
        e.sample("anju_repairs_closed_total", &labels, n);
    }
    work_orders(pool, &mut e).await?;
    Ok(e.finish())
}

/// The contractors' figures. A breach counts against the contractor that breached (the one an
/// escalated order came from); an order in hand counts for the contractor holding it.
async fn work_orders(pool: &PgPool, e: &mut Exposition) -> anyhow::Result<()> {
    // Ids as text: they are only label values here.
    let open: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "select tenant_id::text, project_id::text, contractor_id::text,
                case when respond_breached or on_site_breached or plan_breached then 'breached'
                     when respond_warned or on_site_warned or plan_warned then 'at_risk'
                     else 'on_time' end,
                count(*)
         from repair_requests
         where contractor_id is not null and order_state not in ('unassigned', 'done')
           and status <> 'closed'
         group by 1, 2, 3, 4 order by 1, 2, 3, 4",
    )
    .fetch_all(pool)
    .await?;
    e.family(
        "anju_work_orders_open",
        "gauge",
        "Work orders in a contractor's hand (assigned, accepted, on or off site), by the worst of their clocks: on_time, at_risk (warned), breached.",
    );
    for (tenant, project, contractor, clock_state, n) in &open {
        let labels = [
            ("tenant", tenant.as_str()),
            ("project", project.as_str()),
            ("contractor", contractor.as_str()),
            ("clock_state", clock_state.as_str()),
        ];
        e.sample("anju_work_orders_open", &labels, n);
    }
    let totals: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "select tenant_id::text, project_id::text, coalesce(escalated_from, contractor_id)::text,
                sum(breaches)::bigint,
                count(*) filter (where order_state = 'done' and escalated_from is null)
         from repair_requests
         where coalesce(escalated_from, contractor_id) is not null
         group by 1, 2, 3 order by 1, 2, 3",
    )
    .fetch_all(pool)
    .await?;
    for (name, help, pick_done) in [
        (
            "anju_work_order_breaches_total",
            "Deadlines a contractor let pass (respond, on site, repair plan), each once.",
            false,
        ),
        (
            "anju_work_orders_completed_total",
            "Work orders a responsible contractor completed itself (not escalated away).",
            true,
        ),
    ] {
        e.family(name, "counter", help);
        for (tenant, project, contractor, breaches, done) in &totals {
            let labels = [
                ("tenant", tenant.as_str()),
                ("project", project.as_str()),
                ("contractor", contractor.as_str()),
            ];
            e.sample(name, &labels, if pick_done { done } else { breaches });
        }
    }
    Ok(())
}
