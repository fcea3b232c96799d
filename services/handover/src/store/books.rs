//! The two books on record, per project, building or layout.

use anju_kit::{ServiceResult, paging::Page};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub struct Book {
    pub book_id: Uuid,
    pub project_id: Uuid,
    pub building_id: Option<Uuid>,
    pub layout: String,
    pub kind: String,
    pub version: String,
    pub document_ref: String,
    pub recorded_at: DateTime<Utc>,
}

const BOOK: &str =
    "book_id, project_id, building_id, layout, kind, version, document_ref, recorded_at";

pub struct NewBook<'a> {
    pub project_id: Uuid,
    pub building_id: Option<Uuid>,
    pub layout: &'a str,
    pub kind: &'static str,
    pub version: &'a str,
    pub document_ref: &'a str,
}

/// Records a book version; `None` when that version of that kind is already on record for the
/// scope.
pub async fn insert(
    conn: &mut PgConnection,
    tenant: Uuid,
    recorded_by: &str,
    b: &NewBook<'_>,
) -> sqlx::Result<Option<Book>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into books (book_id, tenant_id, project_id, building_id, layout, kind, version, document_ref, recorded_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict do nothing
         returning {BOOK}"
    )))
    .bind(anju_kit::ids::new_id())
    .bind(tenant)
    .bind(b.project_id)
    .bind(b.building_id)
    .bind(b.layout)
    .bind(b.kind)
    .bind(b.version)
    .bind(b.document_ref)
    .bind(recorded_by)
    .fetch_optional(conn)
    .await
}

/// The books that go over with a unit's keys: of each kind, the latest version of the most
/// specific scope that covers the unit — its layout's (in its building before the project's),
/// then its building's, then the project's.
pub async fn current(
    conn: &mut PgConnection,
    tenant: Uuid,
    unit_id: Uuid,
) -> sqlx::Result<Vec<Book>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select distinct on (b.kind) {BOOK_B}
         from contracts c left join units u on u.unit_id = c.unit_id
              join books b on b.tenant_id = c.tenant_id and b.project_id = c.project_id
         where c.unit_id = $2 and c.tenant_id = $1
           and (b.building_id is null or b.building_id = c.building_id)
           and (b.layout = '' or b.layout = u.layout)
         order by b.kind, (b.layout <> '') desc, (b.building_id is not null) desc, b.recorded_at desc, b.book_id desc"
    )))
    .bind(tenant)
    .bind(unit_id)
    .fetch_all(conn)
    .await
}

const BOOK_B: &str = "b.book_id, b.project_id, b.building_id, b.layout, b.kind, b.version, b.document_ref, b.recorded_at";

/// A project's books in the order recorded, a page at a time.
pub async fn list(
    pool: &PgPool,
    tenant: Uuid,
    project_id: Uuid,
    page: Page,
) -> ServiceResult<(Vec<Book>, String)> {
    let rows: Vec<Book> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {BOOK} from books where tenant_id = $1 and project_id = $2 and book_id > $3
         order by book_id limit $4"
    )))
    .bind(tenant)
    .bind(project_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |b| b.book_id))
}

/// Whether every unit of the batch has both books on record.
pub async fn batch_ready(conn: &mut PgConnection, batch_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select not exists (
             select 1 from handovers h join contracts c on c.unit_id = h.unit_id
                  left join units u on u.unit_id = h.unit_id
             where h.batch_id = $1
               and (select count(distinct b.kind) from books b
                    where b.tenant_id = h.tenant_id and b.project_id = h.project_id
                      and (b.building_id is null or b.building_id = c.building_id)
                      and (b.layout = '' or b.layout = u.layout)) < 2)",
    )
    .bind(batch_id)
    .fetch_one(conn)
    .await
}
