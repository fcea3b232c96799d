//! What handover exports (Prometheus, read from its tables when scraped), per tenant and
//! project: units handed over, and the units of batches by what their keys wait for — the
//! inspection, the fees (keys waiting on fees), both, the coordinator's clearance, or only the
//! counter (cleared, keys not yet handed over); batches by where their plan stands, move-in
//! notices sent late, and key loans out past their return time.

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
    // Fees settled as the unit's row records them or, before its keys, as handover learnt them
    // from finance (fee_settlements), as `store::HANDOVER` reads them.
    let rows: Vec<(Uuid, Uuid, String, i64)> = sqlx::query_as(
        "select h.tenant_id, h.project_id,
                case when h.keys_released_at is not null then 'keys_released'
                     when h.cleared_at is not null then 'awaiting_keys'
                     when h.inspection_passed_at is not null and f.settled_at is not null
                          then 'awaiting_clearance'
                     when h.inspection_passed_at is not null then 'waiting_on_fees'
                     when f.settled_at is not null then 'waiting_on_inspection'
                     else 'waiting_on_inspection_and_fees' end,
                count(*)
         from handovers h
         left join fee_settlements f on f.unit_id = h.unit_id and f.tenant_id = h.tenant_id
         group by 1, 2, 3 order by 1, 2, 3",
    )
    .fetch_all(pool)
    .await?;
    let mut e = Exposition::default();
    e.family(
        "anju_handovers",
        "gauge",
        "Units of handover batches by what their keys wait for (keys_released once handed over).",
    );
    for (tenant, project, state, n) in &rows {
        let (t, p) = (tenant.to_string(), project.to_string());
        e.sample(
            "anju_handovers",
            &[("tenant", &t), ("project", &p), ("state", state)],
            n,
        );
    }
    e.family(
        "anju_units_handed_over_total",
        "counter",
        "Units whose keys were handed over.",
    );
    for (tenant, project, state, n) in &rows {
        if state == "keys_released" {
            let (t, p) = (tenant.to_string(), project.to_string());
            e.sample(
                "anju_units_handed_over_total",
                &[("tenant", &t), ("project", &p)],
                n,
            );
        }
    }
    let batches: Vec<(Uuid, Uuid, String, i64)> = sqlx::query_as(
        "select tenant_id, project_id,
                case when plan_approved_at is not null then 'plan_approved'
                     when plan_submitted_at is not null then 'plan_submitted'
                     else 'plan_none' end,
                count(*)
         from batches group by 1, 2, 3 order by 1, 2, 3",
    )
    .fetch_all(pool)
    .await?;
    e.family(
        "anju_handover_batches",
        "gauge",
        "Handover batches by where their plan stands (no notice goes out before plan_approved).",
    );
    for (tenant, project, state, n) in &batches {
        let (t, p) = (tenant.to_string(), project.to_string());
        e.sample(
            "anju_handover_batches",
            &[("tenant", &t), ("project", &p), ("state", state)],
            n,
        );
    }
    let late: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
        "select tenant_id, project_id, count(*) from handovers where notice_late
         group by 1, 2 order by 1, 2",
    )
    .fetch_all(pool)
    .await?;
    e.family(
        "anju_move_in_notices_late_total",
        "counter",
        "Units whose move-in notice went out after the batch's notice date.",
    );
    for (tenant, project, n) in &late {
        let (t, p) = (tenant.to_string(), project.to_string());
        e.sample(
            "anju_move_in_notices_late_total",
            &[("tenant", &t), ("project", &p)],
            n,
        );
    }
    // Open loans only, on the partial index of open loans by return time.
    let overdue: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
        "select l.tenant_id, s.project_id, count(*) from key_loans l join key_sets s using (key_set_id)
         where l.back_at is null and l.due_back_at < now()
         group by 1, 2 order by 1, 2",
    )
    .fetch_all(pool)
    .await?;
    e.family(
        "anju_key_loans_overdue",
        "gauge",
        "Keys lent out past their return time.",
    );
    for (tenant, project, n) in &overdue {
        let (t, p) = (tenant.to_string(), project.to_string());
        e.sample(
            "anju_key_loans_overdue",
            &[("tenant", &t), ("project", &p)],
            n,
        );
    }
    Ok(e.finish())
}
