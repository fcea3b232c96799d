//! A batch's or a project's figures after the move-in (seed ⑧ 5.1.10).

use anju_kit::{Principal, ServiceError, ServiceResult};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

/// The figures handed back to customer service.
pub struct Statistics {
    pub units: i64,
    pub handed_over: i64,
    pub defects: i64,
    pub reinspections: i64,
    pub average_days_notice_to_keys: Option<i64>,
    /// Units whose owner refused to accept at some inspection, and the units per reason.
    pub refused: i64,
    pub refusals: Vec<(String, i64)>,
    pub waiting_on_fees: i64,
    pub waiting_on_repairs: i64,
    pub waiting_on_reinspection: i64,
    pub notices_late: i64,
    /// Hundredths of a day, rounded half up.
    pub average_centidays_window_to_keys: Option<i64>,
}

/// The statistics' one row of counts.
#[derive(FromRow)]
struct Figures {
    units: i64,
    handed_over: i64,
    reinspections: i64,
    days: Option<i64>,
    fees: i64,
    repairs: i64,
    reinspection: i64,
    late: i64,
    centidays: Option<i64>,
    refused: i64,
}

/// What the figures are of.
#[derive(Clone, Copy)]
pub enum Scope {
    Batch(Uuid),
    Project(Uuid),
}

pub async fn statistics(
    pool: &PgPool,
    principal: &Principal,
    scope: Scope,
) -> ServiceResult<Statistics> {
    let (batch, project) = match scope {
        Scope::Batch(batch_id) => {
            let project: Option<Uuid> = sqlx::query_scalar(
                "select project_id from batches where tenant_id = $1 and batch_id = $2",
            )
            .bind(principal.tenant_id)
            .bind(batch_id)
            .fetch_optional(pool)
            .await?;
            if !project.is_some_and(|p| principal.can_see_project(p)) {
                return Err(ServiceError::not_found("batch"));
            }
            (Some(batch_id), None)
        }
        Scope::Project(project_id) => {
            principal.require_project(project_id)?;
            (None, Some(project_id))
        }
    };
    // The units in scope, each with its facts: the last inspection failed (and whether the
    // owner was asked back since), fees settled, keys, the window's start in project time.
    let units = "with scope as (
             select h.*, b.window_start, b.time_zone,
                    coalesce(h.fees_settled_at, (select f.settled_at from fee_settlements f
                        where f.unit_id = h.unit_id and f.tenant_id = h.tenant_id)) as settled_at,
                    (select i.at from inspections i where i.unit_id = h.unit_id
                        and i.round = h.inspection_rounds and not i.passed) as failed_at,
                    exists (select 1 from inspections i where i.unit_id = h.unit_id and not i.passed) as refused
             from handovers h join batches b using (batch_id)
             where h.tenant_id = $1 and ($2::uuid is null or h.batch_id = $2) and ($3::uuid is null or h.project_id = $3)
               and exists (select 1 from contracts c where c.unit_id = h.unit_id and c.active))";
    let row: Figures = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{units}
             select count(*) as units, count(keys_released_at) as handed_over,
                    coalesce(sum(greatest(inspection_rounds - 1, 0)), 0)::bigint as reinspections,
                    avg(extract(day from keys_released_at - notice_sent_at))::bigint as days,
                    count(*) filter (where keys_released_at is null and settled_at is null) as fees,
                    count(*) filter (where keys_released_at is null and failed_at is not null
                        and not exists (select 1 from notices n where n.unit_id = scope.unit_id
                                        and n.kind = 'reinspection' and n.sent_at >= scope.failed_at)) as repairs,
                    count(*) filter (where keys_released_at is null and failed_at is not null
                        and exists (select 1 from notices n where n.unit_id = scope.unit_id
                                    and n.kind = 'reinspection' and n.sent_at >= scope.failed_at)) as reinspection,
                    count(*) filter (where notice_late) as late,
                    round(avg(extract(epoch from keys_released_at - (window_start::timestamp at time zone time_zone))
                              / 864)::numeric)::bigint as centidays,
                    count(*) filter (where refused) as refused
             from scope"
        )))
        .bind(principal.tenant_id)
        .bind(batch)
        .bind(project)
        .fetch_one(pool)
        .await?;
    let refusals: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{units}
         select i.refusal_reason, count(distinct i.unit_id) from inspections i join scope using (unit_id)
         where not i.passed and i.refusal_reason is not null
         group by i.refusal_reason order by count(distinct i.unit_id) desc, i.refusal_reason"
    )))
    .bind(principal.tenant_id)
    .bind(batch)
    .bind(project)
    .fetch_all(pool)
    .await?;
    let defects: i64 = sqlx::query_scalar(
        "select count(*) from defects d join handovers h on h.unit_id = d.unit_id
         where h.tenant_id = $1 and ($2::uuid is null or h.batch_id = $2) and ($3::uuid is null or h.project_id = $3)",
    )
    .bind(principal.tenant_id)
    .bind(batch)
    .bind(project)
    .fetch_one(pool)
    .await?;
    let Figures {
        units,
        handed_over,
        reinspections,
        days,
        fees,
        repairs,
        reinspection,
        late,
        centidays,
        refused,
    } = row;
    Ok(Statistics {
        units,
        handed_over,
        defects,
        reinspections,
        average_days_notice_to_keys: days,
        refused,
        refusals,
        waiting_on_fees: fees,
        waiting_on_repairs: repairs,
        waiting_on_reinspection: reinspection,
        notices_late: late,
        average_centidays_window_to_keys: centidays,
    })
}
