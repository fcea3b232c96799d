//! Notices (the move-in notice with its fee list, reminders, calls back to re-inspection), the
//! post's tracking numbers and the move-in list the property company reads.

use anju_kit::{Principal, ServiceError, ServiceResult};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

/// Whether the unit's batch has its plan approved, and the unit is still under contract.
pub async fn notice_allowed(conn: &mut PgConnection, unit_id: Uuid) -> sqlx::Result<(bool, bool)> {
    sqlx::query_as(
        "select b.plan_approved_at is not null,
                exists (select 1 from contracts c where c.unit_id = h.unit_id and c.active)
         from handovers h join batches b using (batch_id) where h.unit_id = $1",
    )
    .bind(unit_id)
    .fetch_one(conn)
    .await
}

/// One line of a notice's fee list.
#[derive(Clone, Debug, FromRow)]
pub struct NoticeFee {
    pub purpose: String,
    pub amount: i64,
    pub currency: String,
    pub due_on: NaiveDate,
    pub charge_key: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct Notice {
    pub notice_id: Uuid,
    pub kind: String,
    pub channel: String,
    pub sent_at: DateTime<Utc>,
    pub late: bool,
    pub tracking_number: Option<String>,
    #[sqlx(skip)]
    pub fees: Vec<NoticeFee>,
}

/// The batch's notice date and time zone for a unit's notice.
pub async fn notice_terms(
    conn: &mut PgConnection,
    unit_id: Uuid,
) -> sqlx::Result<(NaiveDate, i32, String)> {
    sqlx::query_as(
        "select b.window_start, b.notice_lead_days, b.time_zone from handovers h join batches b using (batch_id)
         where h.unit_id = $1",
    )
    .bind(unit_id)
    .fetch_one(conn)
    .await
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_notice(
    conn: &mut PgConnection,
    tenant: Uuid,
    unit_id: Uuid,
    kind: &str,
    channel: &str,
    sent_at: DateTime<Utc>,
    late: bool,
    fees: Vec<NoticeFee>,
) -> sqlx::Result<Notice> {
    let notice_id = anju_kit::ids::new_id();
    sqlx::query(
        "insert into notices (notice_id, tenant_id, unit_id, kind, channel, sent_at, late)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(notice_id)
    .bind(tenant)
    .bind(unit_id)
    .bind(kind)
    .bind(channel)
    .bind(sent_at)
    .bind(late)
    .execute(&mut *conn)
    .await?;
    if !fees.is_empty() {
        sqlx::query(
            "insert into notice_fees (notice_id, line, purpose, amount_minor, currency, due_on, charge_key)
             select $1, line::int, purpose, amount, currency, due_on, charge_key
             from unnest($2::text[], $3::bigint[], $4::text[], $5::date[], $6::text[])
                  with ordinality as f (purpose, amount, currency, due_on, charge_key, line)",
        )
        .bind(notice_id)
        .bind(fees.iter().map(|f| f.purpose.clone()).collect::<Vec<_>>())
        .bind(fees.iter().map(|f| f.amount).collect::<Vec<_>>())
        .bind(fees.iter().map(|f| f.currency.clone()).collect::<Vec<_>>())
        .bind(fees.iter().map(|f| f.due_on).collect::<Vec<_>>())
        .bind(fees.iter().map(|f| f.charge_key.clone()).collect::<Vec<_>>())
        .execute(conn)
        .await?;
    }
    Ok(Notice {
        notice_id,
        kind: kind.into(),
        channel: channel.into(),
        sent_at,
        late,
        tracking_number: None,
        fees,
    })
}

/// Marks the unit's first move-in notice late or on time.
pub async fn mark_notice_late(
    conn: &mut PgConnection,
    unit_id: Uuid,
    late: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "update handovers set notice_late = $2 where unit_id = $1 and notice_sent_at is null",
    )
    .bind(unit_id)
    .bind(late)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a posted notice's tracking number; the notice's unit, or NOT_FOUND when there is
/// no notice sent by post with that id the caller may see.
pub async fn record_tracking(
    conn: &mut PgConnection,
    principal: &Principal,
    notice_id: Uuid,
    tracking_number: &str,
) -> ServiceResult<Uuid> {
    let row: Option<(Uuid, Uuid)> = sqlx::query_as(
        "update notices n set tracking_number = $3
         from handovers h
         where n.tenant_id = $1 and n.notice_id = $2 and n.channel = 'post' and h.unit_id = n.unit_id
         returning n.unit_id, h.project_id",
    )
    .bind(principal.tenant_id)
    .bind(notice_id)
    .bind(tracking_number)
    .fetch_optional(conn)
    .await?;
    row.filter(|(_, project)| principal.can_see_project(*project))
        .map(|(unit, _)| unit)
        .ok_or_else(|| ServiceError::not_found("notice sent by post"))
}

/// One notice with its fee list.
pub async fn notice(conn: &mut PgConnection, notice_id: Uuid) -> sqlx::Result<Notice> {
    let mut notice: Notice = sqlx::query_as(
        "select notice_id, kind, channel, sent_at, late, tracking_number from notices where notice_id = $1",
    )
    .bind(notice_id)
    .fetch_one(&mut *conn)
    .await?;
    notice.fees = sqlx::query_as(
        "select purpose, amount_minor as amount, currency, due_on, charge_key from notice_fees
         where notice_id = $1 order by line",
    )
    .bind(notice_id)
    .fetch_all(conn)
    .await?;
    Ok(notice)
}

/// One line of the move-in list.
#[derive(FromRow)]
pub struct ListEntry {
    pub unit_id: Uuid,
    pub unit_number: Option<String>,
    pub owner_name: String,
    pub notice_sent_at: Option<DateTime<Utc>>,
    pub notice_late: bool,
    pub tracking_number: Option<String>,
    pub fees_total: Option<i64>,
    pub currency: Option<String>,
    pub keys_released: bool,
}

/// The batch's move-in list, in unit id order.
pub async fn move_in_list(pool: &PgPool, batch_id: Uuid) -> sqlx::Result<Vec<ListEntry>> {
    sqlx::query_as(
        "select h.unit_id, u.unit_number, h.buyer_name as owner_name, h.notice_sent_at, h.notice_late,
                (select n.tracking_number from notices n where n.unit_id = h.unit_id and n.kind = 'notice'
                   and n.channel = 'post' order by n.sent_at limit 1) as tracking_number,
                (select sum(f.amount_minor)::bigint from notice_fees f where f.notice_id =
                   (select n.notice_id from notices n where n.unit_id = h.unit_id and n.kind = 'notice'
                    order by n.sent_at, n.notice_id limit 1)) as fees_total,
                (select f.currency from notice_fees f join notices n using (notice_id)
                   where n.unit_id = h.unit_id and n.kind = 'notice' limit 1) as currency,
                h.keys_released_at is not null as keys_released
         from handovers h left join units u on u.unit_id = h.unit_id
         where h.batch_id = $1 order by h.unit_id",
    )
    .bind(batch_id)
    .fetch_all(pool)
    .await
}

/// The notices sent to a unit, oldest first, each with its fee list.
pub async fn notices(pool: &PgPool, unit_id: Uuid) -> sqlx::Result<Vec<Notice>> {
    let mut notices: Vec<Notice> = sqlx::query_as(
        "select notice_id, kind, channel, sent_at, late, tracking_number from notices
         where unit_id = $1 order by sent_at, notice_id",
    )
    .bind(unit_id)
    .fetch_all(pool)
    .await?;
    if notices.is_empty() {
        return Ok(notices);
    }
    // By the notices' ids, so the lines are read through their key whatever the planner knows
    // of the tables: joined on the unit instead, a table without statistics yet (a new
    // database, a burst of notices) was hashed whole at every call.
    let ids: Vec<Uuid> = notices.iter().map(|n| n.notice_id).collect();
    let lines: Vec<(Uuid, String, i64, String, NaiveDate, String)> = sqlx::query_as(
        "select notice_id, purpose, amount_minor, currency, due_on, charge_key
         from notice_fees where notice_id = any($1) order by notice_id, line",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    for (notice_id, purpose, amount, currency, due_on, charge_key) in lines {
        if let Some(n) = notices.iter_mut().find(|n| n.notice_id == notice_id) {
            n.fees.push(NoticeFee {
                purpose,
                amount,
                currency,
                due_on,
                charge_key,
            });
        }
    }
    Ok(notices)
}
