//! What maintenance exports (Prometheus, read from its tables when scraped), per tenant and
//! project: repair requests open (not done yet, or done and waiting for their sign-offs) and
//! closed, by where they came from.

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
    for (tenant, project, source, status, n) in &rows {
        if status == "closed" {
            let (t, p) = (tenant.to_string(), project.to_string());
            let labels = [
                ("tenant", t.as_str()),
                ("project", p.as_str()),
                ("source", source.as_str()),
            ];
            e.sample("anju_repairs_closed_total", &labels, n);
        }
    }
    Ok(e.finish())
}
