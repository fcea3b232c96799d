//! Statistics per month (DOMAIN.md §4.4): by category and channel, deadline compliance,
//! satisfaction, reopens and repeat complaints, each counted in the month the complaint was
//! recorded.

use std::collections::BTreeMap;

use sqlx::PgPool;
use uuid::Uuid;

#[derive(Clone, Debug, Default)]
pub struct Month {
    pub complaints: i64,
    pub by_category: BTreeMap<String, i64>,
    pub by_channel: BTreeMap<String, i64>,
    /// target → (met, missed)
    pub compliance: BTreeMap<String, (i64, i64)>,
    pub breaches: i64,
    pub follow_ups: i64,
    pub satisfaction_total: i64,
    pub satisfied: i64,
    pub reopened: i64,
    pub repeats: i64,
    pub closed: i64,
}

pub async fn months(
    pool: &PgPool,
    tenant: Uuid,
    project_id: Uuid,
    from: &str,
    to: &str,
) -> sqlx::Result<BTreeMap<String, Month>> {
    let mut out: BTreeMap<String, Month> = BTreeMap::new();
    let per: Vec<(String, String, String, i64, i64, i64, i64)> = sqlx::query_as(
        "select recorded_month, category, channel, count(*), count(repeat_of),
                sum(reopen_count)::bigint, count(*) filter (where status = 'closed')
         from complaints
         where tenant_id = $1 and project_id = $2 and recorded_month between $3 and $4
         group by recorded_month, category, channel",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for (month, category, channel, n, repeats, reopened, closed) in per {
        let m = out.entry(month).or_default();
        m.complaints += n;
        *m.by_category.entry(category).or_default() += n;
        *m.by_channel.entry(channel).or_default() += n;
        m.repeats += repeats;
        m.reopened += reopened;
        m.closed += closed;
    }
    let clocks: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "select c.recorded_month, k.target, count(*) filter (where k.met),
                count(*) filter (where not k.met), count(k.breached_at)
         from complaint_clocks k join complaints c using (complaint_id)
         where c.tenant_id = $1 and c.project_id = $2 and c.recorded_month between $3 and $4
         group by c.recorded_month, k.target",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for (month, target, met, missed, breaches) in clocks {
        let m = out.entry(month).or_default();
        m.compliance.insert(target, (met, missed));
        m.breaches += breaches;
    }
    let visits: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "select c.recorded_month, count(*), sum(f.satisfaction)::bigint,
                count(*) filter (where not f.reopened)
         from complaint_follow_ups f join complaints c using (complaint_id)
         where c.tenant_id = $1 and c.project_id = $2 and c.recorded_month between $3 and $4
         group by c.recorded_month",
    )
    .bind(tenant)
    .bind(project_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for (month, n, total, satisfied) in visits {
        let m = out.entry(month).or_default();
        m.follow_ups = n;
        m.satisfaction_total = total;
        m.satisfied = satisfied;
    }
    Ok(out)
}
