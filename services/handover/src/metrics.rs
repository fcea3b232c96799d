//! What handover exports (Prometheus, read from its tables when scraped), per tenant and
//! project: units handed over, and the units of batches by what their keys wait for — the
//! inspection, the fees (keys waiting on fees), both, the coordinator's clearance, or only the
//! counter (cleared, keys not yet handed over).

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
    Ok(e.finish())
}
