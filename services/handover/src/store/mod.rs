//! Handover's SQL. Every function takes the connection it runs on: a command's transaction
//! (from [`anju_messaging::Effect::conn`]) or the pool for reads. Row locks are taken in one
//! order — a handover row (by unit id), then a key loan — and a batch's creation inserts its
//! units' rows in unit id order, as the fee consumer locks them.

pub mod batches;
pub mod books;
pub mod keys;
pub mod notices;
pub mod statistics;
pub mod units;

use anju_kit::{Principal, ServiceError, ServiceResult};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::domain::{
    self,
    unit::{MoveIn, Stage},
};

/// A handover row; whether its fees are settled is what handover has learnt from finance
/// until the keys are released, and what they were released on after.
#[derive(Clone, Debug, FromRow)]
pub struct Handover {
    pub unit_id: Uuid,
    pub batch_id: Uuid,
    pub project_id: Uuid,
    pub customer_id: Uuid,
    pub buyer_name: String,
    pub notice_sent_at: Option<DateTime<Utc>>,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub inspection_rounds: i32,
    pub inspection_passed_at: Option<DateTime<Utc>>,
    pub cleared_at: Option<DateTime<Utc>>,
    pub fees_settled_at: Option<DateTime<Utc>>,
    pub keys_released_at: Option<DateTime<Utc>>,
    pub notice_late: bool,
    /// The owner's reason at the last inspection, when it failed.
    pub refusal_reason: Option<String>,
    pub has_manual: bool,
    pub has_certificate: bool,
    /// The kinds whose owner's set arrived from the contractor.
    pub owner_keys: Vec<String>,
    /// The book versions the owner signed for with the keys.
    pub manual_version: Option<String>,
    pub certificate_version: Option<String>,
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
            missing_book: domain::books::first_missing(self.has_manual, self.has_certificate),
            missing_key: domain::keys::first_missing(&self.owner_keys),
        }
    }
}

/// A book of `kind` on record for the row's unit: its project's, its building's or its
/// layout's (see [`books::current`] for which one goes over).
macro_rules! book_on_record {
    ($kind:literal) => {
        concat!(
            "exists (select 1 from books b where b.tenant_id = handovers.tenant_id and b.project_id = handovers.project_id \
                and b.kind = '", $kind, "' \
                and (b.building_id is null or b.building_id = (select c.building_id from contracts c where c.unit_id = handovers.unit_id)) \
                and (b.layout = '' or b.layout = (select u.layout from units u where u.unit_id = handovers.unit_id)))"
        )
    };
}

const HANDOVER: &str = concat!(
    "unit_id, batch_id, project_id, customer_id, buyer_name, notice_sent_at, checked_in_at, inspection_rounds, \
     inspection_passed_at, cleared_at, keys_released_at, notice_late, \
     coalesce(handovers.fees_settled_at, (select f.settled_at from fee_settlements f \
         where f.unit_id = handovers.unit_id and f.tenant_id = handovers.tenant_id)) as fees_settled_at, \
     (select i.refusal_reason from inspections i \
         where i.unit_id = handovers.unit_id and i.round = handovers.inspection_rounds and not i.passed) as refusal_reason, ",
    book_on_record!("residence_manual"),
    " as has_manual, ",
    book_on_record!("warranty_certificate"),
    " as has_certificate, \
     array(select k.kind from key_sets k where k.unit_id = handovers.unit_id and k.set = 'owner') as owner_keys, \
     (select b.version from books b where b.book_id = handovers.manual_book_id) as manual_version, \
     (select b.version from books b where b.book_id = handovers.certificate_book_id) as certificate_version"
);

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

/// A problem raised at an inspection that is not a defect of the unit.
pub struct Issue<'a> {
    pub issue_id: Uuid,
    pub kind: &'static str,
    pub description: &'a str,
}

/// One inspection round as recorded: passed, or the owner's refusal with its reason; its
/// defects and the issues raised.
pub struct Inspection<'a> {
    pub round: i32,
    pub passed: bool,
    pub refusal_reason: Option<&'a str>,
    pub defects: &'a [Defect<'a>],
    pub issues: &'a [Issue<'a>],
}

/// Records an inspection round of the unit with its defects and issues, and the unit's new
/// round count (passed in this round, or not passed).
pub async fn record_inspection(
    conn: &mut PgConnection,
    principal: &Principal,
    unit_id: Uuid,
    inspection: &Inspection<'_>,
) -> sqlx::Result<()> {
    let (round, passed, defects) = (inspection.round, inspection.passed, inspection.defects);
    let inspection_id = anju_kit::ids::new_id();
    sqlx::query(
        "insert into inspections (inspection_id, tenant_id, unit_id, round, passed, inspector, refusal_reason)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(inspection_id)
    .bind(principal.tenant_id)
    .bind(unit_id)
    .bind(round)
    .bind(passed)
    .bind(&principal.subject)
    .bind(inspection.refusal_reason)
    .execute(&mut *conn)
    .await?;
    for issue in inspection.issues {
        sqlx::query(
            "insert into inspection_issues (issue_id, tenant_id, inspection_id, unit_id, kind, description)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(issue.issue_id)
        .bind(principal.tenant_id)
        .bind(inspection_id)
        .bind(unit_id)
        .bind(issue.kind)
        .bind(issue.description)
        .execute(&mut *conn)
        .await?;
    }
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
/// database refuses a release without it, the inspection and the clearance), the books that go
/// with them, and the owner's set of every kind, now the owner's.
pub async fn release_keys(
    conn: &mut PgConnection,
    unit_id: Uuid,
    signed_by: &str,
    fees_settled_at: Option<DateTime<Utc>>,
    books: &[books::Book],
) -> sqlx::Result<()> {
    let book = |kind: &str| books.iter().find(|b| b.kind == kind).map(|b| b.book_id);
    sqlx::query(
        "update handovers set keys_released_at = now(), signed_by = $2, fees_settled_at = $3,
                manual_book_id = $4, certificate_book_id = $5
         where unit_id = $1",
    )
    .bind(unit_id)
    .bind(signed_by)
    .bind(fees_settled_at)
    .bind(book("residence_manual"))
    .bind(book("warranty_certificate"))
    .execute(&mut *conn)
    .await?;
    sqlx::query("update key_sets set status = 'handed_over' where unit_id = $1 and set = 'owner'")
        .bind(unit_id)
        .execute(conn)
        .await?;
    Ok(())
}
