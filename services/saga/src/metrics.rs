//! What the coordinator exports (Prometheus, read from its tables when scraped): sagas open by
//! flow and state per tenant and project — the journeys' funnel — and finished, the stuck ones,
//! commands not yet done, and timers due but not fired with the lateness of the oldest.

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

fn id(u: &Option<Uuid>) -> String {
    u.map(|u| u.to_string()).unwrap_or_default()
}

pub async fn render(pool: &PgPool) -> anyhow::Result<String> {
    let mut e = Exposition::default();
    let sagas: Vec<(Uuid, Option<Uuid>, String, String, bool, i64)> = sqlx::query_as(
        "select tenant_id, project_id, flow, state, terminal, count(*) from sagas
         group by 1, 2, 3, 4, 5 order by 1, 2, 3, 4",
    )
    .fetch_all(pool)
    .await?;
    for (terminal, name, kind, help) in [
        (
            false,
            "anju_sagas_open",
            "gauge",
            "Sagas under way, by flow and the state they wait in.",
        ),
        (
            true,
            "anju_sagas_finished_total",
            "counter",
            "Sagas finished, by flow and the state they ended in.",
        ),
    ] {
        e.family(name, kind, help);
        for (tenant, project, flow, state, done, n) in &sagas {
            if *done == terminal {
                let (t, p) = (tenant.to_string(), id(project));
                let labels = [
                    ("tenant", t.as_str()),
                    ("project", p.as_str()),
                    ("flow", flow.as_str()),
                    ("state", state.as_str()),
                ];
                e.sample(name, &labels, n);
            }
        }
    }
    let stuck: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "select tenant_id, flow, count(*) from sagas where not terminal and deadline < now()
         group by 1, 2 order by 1, 2",
    )
    .fetch_all(pool)
    .await?;
    e.family(
        "anju_sagas_stuck",
        "gauge",
        "Sagas past their deadline and not finished.",
    );
    for (tenant, flow, n) in &stuck {
        let t = tenant.to_string();
        e.sample("anju_sagas_stuck", &[("tenant", &t), ("flow", flow)], n);
    }
    let commands: Vec<(String, i64)> = sqlx::query_as(
        "select status, count(*) from saga_commands
         where status in ('pending', 'running', 'failed') group by 1 order by 1",
    )
    .fetch_all(pool)
    .await?;
    e.family(
        "anju_saga_commands",
        "gauge",
        "Commands not yet done: pending (also those retrying), running, failed (refused).",
    );
    for status in ["pending", "running", "failed"] {
        let n = commands
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        e.sample("anju_saga_commands", &[("status", status)], n);
    }
    let (due, late_ms): (i64, i64) = sqlx::query_as(
        "select count(*), coalesce((extract(epoch from now() - min(fire_at)) * 1000)::bigint, 0)
         from saga_timers where fired_at is null and fire_at <= now()",
    )
    .fetch_one(pool)
    .await?;
    e.family(
        "anju_saga_timers_due",
        "gauge",
        "Timers due and not yet fired.",
    );
    e.sample("anju_saga_timers_due", &[], due);
    e.family(
        "anju_saga_timer_lateness_seconds",
        "gauge",
        "How late the oldest due timer is (0 when none is due).",
    );
    e.sample(
        "anju_saga_timer_lateness_seconds",
        &[],
        format!("{}.{:03}", late_ms / 1000, late_ms % 1000),
    );
    Ok(e.finish())
}
