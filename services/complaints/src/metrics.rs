//! What complaints exports for dashboards (Prometheus, read from its tables when scraped): the
//! open complaints by queue and clock state, and the monthly statistics' figures as counters —
//! recorded by category and channel, clocks met and missed, breaches, follow-ups and their
//! satisfaction, reopens, repeats, closed — per tenant and project.

use std::sync::Arc;

use anju_messaging::metrics::{Exposition, Source};
use sqlx::PgPool;
use uuid::Uuid;

/// Complaints' metrics source.
pub fn source(pool: PgPool) -> Source {
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move { render(&pool).await })
    })
}

fn ids(tenant: &Uuid, project: &Uuid) -> (String, String) {
    (tenant.to_string(), project.to_string())
}

pub async fn render(pool: &PgPool) -> anyhow::Result<String> {
    let mut e = Exposition::default();

    let open: Vec<(Uuid, Uuid, String, String, i64)> = sqlx::query_as(
        "select tenant_id, project_id, queue, state, count(*) from (
             select c.tenant_id, c.project_id, c.queue,
                    case when bool_or(k.breached_at is not null) then 'breached'
                         when bool_or(k.warned_at is not null) then 'at_risk'
                         when c.waiting_since is not null then 'paused'
                         else 'on_time' end as state
             from complaints c
             left join complaint_clocks k
               on k.complaint_id = c.complaint_id and k.stopped_at is null
             where c.status <> 'closed'
             group by c.complaint_id) open
         group by 1, 2, 3, 4 order by 1, 2, 3, 4",
    )
    .fetch_all(pool)
    .await?;
    e.family(
        "anju_complaints_open",
        "gauge",
        "Open complaints by queue and the worst state of their running clocks.",
    );
    for (tenant, project, queue, state, n) in &open {
        let (t, p) = ids(tenant, project);
        e.sample(
            "anju_complaints_open",
            &[
                ("tenant", &t),
                ("project", &p),
                ("queue", queue),
                ("clock_state", state),
            ],
            *n,
        );
    }

    let recorded: Vec<(Uuid, Uuid, String, String, i64)> = sqlx::query_as(
        "select tenant_id, project_id, category, channel, count(*) from complaints
         group by 1, 2, 3, 4 order by 1, 2, 3, 4",
    )
    .fetch_all(pool)
    .await?;
    e.family(
        "anju_complaints_recorded_total",
        "counter",
        "Complaints recorded, by category and channel.",
    );
    for (tenant, project, category, channel, n) in &recorded {
        let (t, p) = ids(tenant, project);
        e.sample(
            "anju_complaints_recorded_total",
            &[
                ("tenant", &t),
                ("project", &p),
                ("category", category),
                ("channel", channel),
            ],
            *n,
        );
    }

    let totals: Vec<(Uuid, Uuid, i64, i64, i64)> = sqlx::query_as(
        "select tenant_id, project_id, count(*) filter (where status = 'closed'),
                coalesce(sum(reopen_count), 0)::bigint, count(repeat_of)
         from complaints group by 1, 2 order by 1, 2",
    )
    .fetch_all(pool)
    .await?;
    for (name, help, pick) in [
        (
            "anju_complaints_closed_total",
            "Complaints closed after a satisfied follow-up.",
            2usize,
        ),
        (
            "anju_complaints_reopened_total",
            "Reopens after an unsatisfied follow-up.",
            3,
        ),
        (
            "anju_complaints_repeats_total",
            "Complaints repeating an earlier one about the same unit.",
            4,
        ),
    ] {
        e.family(name, "counter", help);
        for (tenant, project, closed, reopened, repeats) in &totals {
            let (t, p) = ids(tenant, project);
            let value = [*closed, *reopened, *repeats][pick - 2];
            e.sample(name, &[("tenant", &t), ("project", &p)], value);
        }
    }

    let clocks: Vec<(Uuid, Uuid, String, i64, i64, i64)> = sqlx::query_as(
        "select tenant_id, project_id, target, count(*) filter (where met),
                count(*) filter (where not met), count(breached_at)
         from complaint_clocks group by 1, 2, 3 order by 1, 2, 3",
    )
    .fetch_all(pool)
    .await?;
    e.family(
        "anju_complaint_clocks_stopped_total",
        "counter",
        "Clocks stopped, by target and whether they met it (deadline compliance).",
    );
    for (tenant, project, target, met, missed, _) in &clocks {
        let (t, p) = ids(tenant, project);
        for (outcome, n) in [("met", met), ("missed", missed)] {
            e.sample(
                "anju_complaint_clocks_stopped_total",
                &[
                    ("tenant", &t),
                    ("project", &p),
                    ("target", target),
                    ("outcome", outcome),
                ],
                *n,
            );
        }
    }
    e.family(
        "anju_complaint_clock_breaches_total",
        "counter",
        "Clocks breached (each escalated to the supervisor once), by target.",
    );
    for (tenant, project, target, _, _, breached) in &clocks {
        let (t, p) = ids(tenant, project);
        e.sample(
            "anju_complaint_clock_breaches_total",
            &[("tenant", &t), ("project", &p), ("target", target)],
            *breached,
        );
    }

    let visits: Vec<(Uuid, Uuid, i64, i64, i64)> = sqlx::query_as(
        // Every project with complaints, at zero before its first visit (a counter starts at
        // 0, so its rate and increase are there from the start).
        "select c.tenant_id, c.project_id, count(f.complaint_id),
                coalesce(sum(f.satisfaction), 0)::bigint,
                count(f.complaint_id) filter (where not f.reopened)
         from complaints c left join complaint_follow_ups f using (complaint_id)
         group by 1, 2 order by 1, 2",
    )
    .fetch_all(pool)
    .await?;
    for (name, help, pick) in [
        (
            "anju_complaint_follow_ups_total",
            "Follow-up visits.",
            0usize,
        ),
        (
            "anju_complaint_satisfaction_score_total",
            "Sum of the follow-ups' satisfaction scores (1–5): over the visits, the average.",
            1,
        ),
        (
            "anju_complaint_follow_ups_satisfied_total",
            "Follow-ups whose owner was satisfied (3–5).",
            2,
        ),
    ] {
        e.family(name, "counter", help);
        for (tenant, project, visits, total, satisfied) in &visits {
            let (t, p) = ids(tenant, project);
            e.sample(
                name,
                &[("tenant", &t), ("project", &p)],
                [*visits, *total, *satisfied][pick],
            );
        }
    }
    Ok(e.finish())
}
