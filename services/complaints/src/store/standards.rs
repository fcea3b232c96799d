//! Service level standards: the tenant's (stored under the nil project id) and each project's.

use sqlx::{PgExecutor, types::Json};
use uuid::Uuid;

use crate::domain::standard::Standard;

/// Where a project's standard comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Project,
    Tenant,
    Default,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Project => "project",
            Source::Tenant => "tenant",
            Source::Default => "default",
        }
    }
}

/// The standard a project's new complaints get: the project's, else the tenant's, else the
/// default. `project_id` None asks for the tenant's.
pub async fn effective<'e>(
    db: impl PgExecutor<'e>,
    tenant: Uuid,
    project_id: Option<Uuid>,
) -> sqlx::Result<(Standard, Source)> {
    let rows: Vec<(Uuid, Json<Standard>)> = sqlx::query_as(
        "select project_id, standard from service_standards
         where tenant_id = $1 and project_id in ($2, $3)",
    )
    .bind(tenant)
    .bind(project_id.unwrap_or(Uuid::nil()))
    .bind(Uuid::nil())
    .fetch_all(db)
    .await?;
    let of = |id: Uuid| {
        rows.iter()
            .find(|(p, _)| *p == id)
            .map(|(_, s)| s.0.clone())
    };
    Ok(match project_id.and_then(of) {
        Some(s) => (s, Source::Project),
        None => match of(Uuid::nil()) {
            Some(s) => (s, Source::Tenant),
            None => (Standard::default(), Source::Default),
        },
    })
}

pub async fn set<'e>(
    db: impl PgExecutor<'e>,
    tenant: Uuid,
    project_id: Option<Uuid>,
    standard: &Standard,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into service_standards (tenant_id, project_id, standard) values ($1, $2, $3)
         on conflict (tenant_id, project_id) do update set standard = excluded.standard,
             updated_at = now()",
    )
    .bind(tenant)
    .bind(project_id.unwrap_or(Uuid::nil()))
    .bind(Json(standard))
    .execute(db)
    .await?;
    Ok(())
}
