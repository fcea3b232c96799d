//! Title's SQL: files ([`files`]) and their steps ([`steps`]), the counter's documents,
//! buildings and policies ([`registry`]), and the durable clocks ([`clocks`]).

pub mod clocks;
pub mod files;
pub mod registry;
pub mod steps;

use sqlx::PgConnection;

use crate::domain::file::Facts;
use clocks::ClockRow;
use files::TitleFile;
use registry::{Building, Document, Policy};

/// A file with everything its rules and its answer read from other tables.
pub struct Loaded {
    pub file: TitleFile,
    pub documents: Vec<Document>,
    pub building: Option<Building>,
    pub policy: Policy,
    pub clocks: Vec<ClockRow>,
}

impl Loaded {
    pub fn missing(&self) -> Vec<String> {
        registry::missing(&self.policy.checklist(), &self.documents)
    }

    pub fn facts(&self) -> Facts {
        let registered = self.building.as_ref().is_some_and(Building::registered);
        self.file.facts(self.missing(), registered)
    }
}

/// A read-only transaction that sees one snapshot: a file and its clocks, documents and
/// building as they stood together (read one by one, a step committing in between would
/// show a clock without the handover that started it).
pub async fn snapshot(
    pool: &sqlx::PgPool,
) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query("set transaction isolation level repeatable read read only")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

pub async fn load(conn: &mut PgConnection, file: TitleFile) -> sqlx::Result<Loaded> {
    let (documents, clocks) = match file.contract_id {
        Some(contract) => (
            registry::documents(&mut *conn, contract).await?,
            clocks::of_contract(&mut *conn, contract).await?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let building = match file.building_id {
        Some(b) => registry::building(&mut *conn, file.tenant_id, b).await?,
        None => None,
    };
    let policy = registry::policy(&mut *conn, file.tenant_id, file.project_id).await?;
    Ok(Loaded {
        file,
        documents,
        building,
        policy,
        clocks,
    })
}
