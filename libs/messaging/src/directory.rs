//! The unit directory: which projects and units each tenant has, learnt from sales'
//! `ProjectCreated` and `UnitRegistered`.
//!
//! Finance, maintenance and complaints take a project and a unit id from their callers. Without
//! a picture of the units, a caller of tenant B naming tenant A's unit would have a charge, a
//! repair or a complaint written in B's books against a unit B does not have. With it, such a
//! unit is NOT_FOUND, the same answer as a unit that does not exist ([`require_unit`], and
//! [`require_project`] for a request that names a project alone).
//!
//! The directory is fed through the inbox like any read model ([`UnitDirectory`], or
//! [`apply`] from a service's own handler of sales events), so it lags sales by the time an
//! event takes to arrive. The coordinator's commands are derived from the same tenant's events
//! and may overtake this service's copy of them, so a unit not yet known is accepted from the
//! coordinator; a unit known under another tenant or project never is.

use anju_kit::{Role, ServiceError, ServiceResult, auth::Principal};
use anju_proto::{
    EventPayload,
    events::{ProjectCreated, UnitRegistered},
};
use anyhow::Context;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{Event, Handler, HandlerError};

/// A handler of sales' events that keeps the directory and nothing else.
pub struct UnitDirectory;

#[async_trait::async_trait]
impl Handler for UnitDirectory {
    fn wants(&self, event_type: &str) -> bool {
        [ProjectCreated::EVENT_TYPE, UnitRegistered::EVENT_TYPE].contains(&event_type)
    }

    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        apply(conn, event).await.map(|_| ())
    }
}

fn id(field: &str, value: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(value)
        .with_context(|| format!("{field} is not a UUID"))
        .map_err(HandlerError::Permanent)
}

/// Applies `event` to the directory if it is a `ProjectCreated` or `UnitRegistered`; tells
/// whether it was one. Sequence-guarded: a stale event never overwrites a newer one, and an id
/// once learnt for one tenant is never moved to another.
pub async fn apply(conn: &mut PgConnection, event: &Event) -> Result<bool, HandlerError> {
    if event.is::<ProjectCreated>() {
        let project: ProjectCreated = event.decode().map_err(HandlerError::Permanent)?;
        sqlx::query(
            "insert into known_projects (project_id, tenant_id, last_sequence) values ($1, $2, $3)
             on conflict (project_id) do nothing",
        )
        .bind(id("ProjectCreated.project_id", &project.project_id)?)
        .bind(event.tenant_id)
        .bind(event.sequence())
        .execute(conn)
        .await?;
        return Ok(true);
    }
    if !event.is::<UnitRegistered>() {
        return Ok(false);
    }
    let unit: UnitRegistered = event.decode().map_err(HandlerError::Permanent)?;
    sqlx::query(
        "insert into known_units (unit_id, tenant_id, project_id, building_id, last_sequence)
         values ($1, $2, $3, $4, $5)
         on conflict (unit_id) do update set
             project_id = excluded.project_id, building_id = excluded.building_id,
             last_sequence = excluded.last_sequence
         where known_units.tenant_id = excluded.tenant_id
           and known_units.last_sequence < excluded.last_sequence",
    )
    .bind(id("UnitRegistered.unit_id", &unit.unit_id)?)
    .bind(event.tenant_id)
    .bind(id("UnitRegistered.project_id", &unit.project_id)?)
    .bind(id("UnitRegistered.building_id", &unit.building_id)?)
    .bind(event.sequence())
    .execute(conn)
    .await?;
    Ok(true)
}

/// Refuses, as NOT_FOUND, a unit the caller's tenant does not have in `project_id`: one known
/// under another tenant or project, and, unless the caller is the coordinator, one not known
/// at all. Checked before anything is written, after the caller's project scope.
pub async fn require_unit(
    pool: &PgPool,
    principal: &Principal,
    project_id: Uuid,
    unit_id: Uuid,
) -> ServiceResult<()> {
    let known: Option<(Uuid, Uuid)> =
        sqlx::query_as("select tenant_id, project_id from known_units where unit_id = $1")
            .bind(unit_id)
            .fetch_optional(pool)
            .await?;
    match known {
        Some((tenant, project)) if tenant == principal.tenant_id && project == project_id => Ok(()),
        None if principal.has(Role::Service) => Ok(()),
        _ => Err(ServiceError::not_found("unit")),
    }
}

/// As [`require_unit`], for a request that names a project and no unit.
pub async fn require_project(
    pool: &PgPool,
    principal: &Principal,
    project_id: Uuid,
) -> ServiceResult<()> {
    let known: Option<Uuid> =
        sqlx::query_scalar("select tenant_id from known_projects where project_id = $1")
            .bind(project_id)
            .fetch_optional(pool)
            .await?;
    match known {
        Some(tenant) if tenant == principal.tenant_id => Ok(()),
        None if principal.has(Role::Service) => Ok(()),
        _ => Err(ServiceError::not_found("project")),
    }
}
