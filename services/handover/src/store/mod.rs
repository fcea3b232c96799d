//! Handover's SQL. Every function takes the connection it runs on: a command's transaction
//! (from [`anju_messaging::Effect::conn`]) or the pool for reads. Row locks are taken in one
//! order — a handover row (by unit id), then a key loan — and a batch's creation inserts its
//! units' rows in unit id order, as the fee consumer locks them.

pub mod batches;
pub mod keys;
pub mod units;

use anju_kit::{Principal, ServiceError, ServiceResult};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::domain::unit::{MoveIn, Stage};

/// A handover row; whether its fees are settled is what handover has learnt from finance
/// until the keys are released, and what they were released on after.
#[derive(Clone, Debug, FromRow)]
pub struct Handover {
    pub unit_id: Uuid,
    pub batch_id: Uuid,
    pub project_id: Uuid,
    pub buyer_name: String,
    pub notice_sent_at: Option<DateTime<Utc>>,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub inspection_rounds: i32,
    pub inspection_passed_at: Option<DateTime<Utc>>,
    pub cleared_at: Option<DateTime<Utc>>,
    pub fees_settled_at: Option<DateTime<Utc>>,
    pub keys_released_at: Option<DateTime<Utc>>,
}

impl Handover {
    /// The row's facts as the move-in state machine sees them.
    pub fn move_in(&self) -> MoveIn {
        let rounds = self.inspection_rounds;
        let stage = if self.keys_released_at.is_some() {
            Stage::KeysReleased
        } else if self.inspection_passed_at.is_some() {
            Stage::Passed { rounds }
        } else if self.checked_in_at.is_some() {
            Stage::Inspecting { rounds }
        } else if self.notice_sent_at.is_some() {
            Stage::Notified
        } else {
            Stage::Listed
        };
        MoveIn {
            unit_id: self.unit_id,
            stage,
            fees_settled: self.fees_settled_at.is_some(),
            cleared: self.cleared_at.is_some(),
        }
    }
}

const HANDOVER: &str = "unit_id, batch_id, project_id, buyer_name, notice_sent_at, checked_in_at, inspection_rounds, \
                        inspection_passed_at, cleared_at, keys_released_at, \
                        coalesce(handovers.fees_settled_at, (select f.settled_at from fee_settlements f \
                            where f.unit_id = handovers.unit_id and f.tenant_id = handovers.tenant_id)) as fees_settled_at";

/// A unit's move-in as `principal` may see it; locked (FOR UPDATE) when `lock`.
pub async fn handover(
    conn: &mut PgConnection,
    principal: &Principal,
    unit_id: Uuid,
    lock: bool,
) -> ServiceResult<Handover> {
    let lock = if lock { " for update" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {HANDOVER} from handovers where tenant_id = $1 and unit_id = $2{lock}"
    )))
    .bind(principal.tenant_id)
    .bind(unit_id)
    .fetch_optional(conn)
    .await?
    .filter(|h: &Handover| principal.can_see_project(h.project_id))
    .ok_or_else(|| ServiceError::not_found("handover"))
}

/// A unit's move-in, locked, as `principal` may see it.
pub async fn locked(
    conn: &mut PgConnection,
    principal: &Principal,
    unit_id: Uuid,
) -> ServiceResult<Handover> {
    handover(conn, principal, unit_id, true).await
}

/// The row again, after a command changed it.
pub async fn reread(conn: &mut PgConnection, unit_id: Uuid) -> ServiceResult<Handover> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {HANDOVER} from handovers where unit_id = $1"
    )))
    .bind(unit_id)
    .fetch_one(conn)
    .await?)
}

/// A moment of the unit's move-in, kept once (the first time) on its row.
#[derive(Clone, Copy)]
pub enum Moment {
    NoticeSent,
    CheckedIn,
    Cleared,
}

pub async fn mark(conn: &mut PgConnection, unit_id: Uuid, moment: Moment) -> sqlx::Result<()> {
    let column = match moment {
        Moment::NoticeSent => "notice_sent_at",
        Moment::CheckedIn => "checked_in_at",
        Moment::Cleared => "cleared_at",
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "update handovers set {column} = coalesce({column}, now()) where unit_id = $1"
    )))
    .bind(unit_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The keyed hash of the buyer's identity number on the unit's active contract.
pub async fn buyer_id_hash(conn: &mut PgConnection, unit_id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("select buyer_id_hash from contracts where unit_id = $1 and active")
        .bind(unit_id)
        .fetch_optional(conn)
        .await
}

/// One defect of an inspection, as recorded.
pub struct Defect<'a> {
    pub defect_id: Uuid,
    pub room: &'a str,
    pub category: &'a str,
    pub description: &'a str,
    pub severity: &'a str,
    pub photo_refs: &'a [String],
}

/// Records inspection `round` of the unit with its defects, and the unit's new round count
/// (passed in this round, or not passed).
pub async fn record_inspection(
    conn: &mut PgConnection,
    principal: &Principal,
    unit_id: Uuid,
    round: i32,
    passed: bool,
    defects: &[Defect<'_>],
) -> sqlx::Result<()> {
    let inspection_id = anju_kit::ids::new_id();
    sqlx::query(
        "insert into inspections (inspection_id, tenant_id, unit_id, round, passed, inspector) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(inspection_id)
    .bind(principal.tenant_id)
    .bind(unit_id)
    .bind(round)
    .bind(passed)
    .bind(&principal.subject)
    .execute(&mut *conn)
    .await?;
    for d in defects {
        sqlx::query(
            "insert into defects (defect_id, tenant_id, inspection_id, unit_id, room, category, description, severity, photo_refs)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(d.defect_id)
        .bind(principal.tenant_id)
        .bind(inspection_id)
        .bind(unit_id)
        .bind(d.room)
        .bind(d.category)
        .bind(d.description)
        .bind(d.severity)
        .bind(d.photo_refs)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "update handovers set inspection_rounds = $2,
                inspection_passed_at = case when $3 then now() else null end
         where unit_id = $1",
    )
    .bind(unit_id)
    .bind(round)
    .bind(passed)
    .execute(conn)
    .await?;
    Ok(())
}

/// When the unit's handover fees were settled, as handover knows it now; `None` while they
/// are owed. The row is held (FOR SHARE) until the caller's transaction ends, so a settlement
/// event being applied waits for a key release reading it, or the release for the event: a
/// release never goes ahead on a settlement that a committed `Reopened` had already undone.
pub async fn fees_settled_at(
    conn: &mut PgConnection,
    tenant: Uuid,
    unit_id: Uuid,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "select settled_at from fee_settlements where unit_id = $1 and tenant_id = $2 for share",
    )
    .bind(unit_id)
    .bind(tenant)
    .fetch_optional(conn)
    .await?
    .flatten())
}

/// Hands the keys over: the release on the row (with the settlement it was released on — the
/// database refuses a release without it, the inspection and the clearance) and the key sets.
pub async fn release_keys(
    conn: &mut PgConnection,
    tenant: Uuid,
    unit_id: Uuid,
    signed_by: &str,
    fees_settled_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update handovers set keys_released_at = now(), signed_by = $2, fees_settled_at = $3
         where unit_id = $1",
    )
    .bind(unit_id)
    .bind(signed_by)
    .bind(fees_settled_at)
    .execute(&mut *conn)
    .await?;
    let (kinds, sets, statuses): (Vec<&str>, Vec<&str>, Vec<&str>) =
        crate::domain::keys::released().fold(
            (Vec::new(), Vec::new(), Vec::new()),
            |(mut k, mut s, mut st), (kind, set, status)| {
                k.push(kind);
                s.push(set);
                st.push(status);
                (k, s, st)
            },
        );
    sqlx::query(
        "insert into keys (tenant_id, unit_id, kind, set, status)
         select $1, $2, k.kind, k.\"set\", k.status from unnest($3::text[], $4::text[], $5::text[]) as k (kind, \"set\", status)",
    )
    .bind(tenant)
    .bind(unit_id)
    .bind(kinds)
    .bind(sets)
    .bind(statuses)
    .execute(conn)
    .await?;
    Ok(())
}
