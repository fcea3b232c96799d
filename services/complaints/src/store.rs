//! Complaints' SQL.

use anju_kit::{Principal, ServiceError, ServiceResult};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub struct Complaint {
    pub complaint_id: Uuid,
    pub project_id: Uuid,
    pub unit_id: Option<Uuid>,
    pub complainant: String,
    pub channel: String,
    pub category: String,
    pub severity: String,
    pub text: String,
    pub recorded_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, tenant: Uuid, c: &Complaint) -> sqlx::Result<()> {
    sqlx::query(
        "insert into complaints (complaint_id, tenant_id, project_id, unit_id, complainant, channel, category,
                                 severity, text, recorded_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(c.complaint_id)
    .bind(tenant)
    .bind(c.project_id)
    .bind(c.unit_id)
    .bind(&c.complainant)
    .bind(&c.channel)
    .bind(&c.category)
    .bind(&c.severity)
    .bind(&c.text)
    .bind(c.recorded_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A complaint as `principal` may see it.
pub async fn complaint(
    pool: &PgPool,
    principal: &Principal,
    complaint_id: Uuid,
) -> ServiceResult<Complaint> {
    sqlx::query_as(
        "select complaint_id, project_id, unit_id, complainant, channel, category, severity, text, recorded_at
         from complaints where tenant_id = $1 and complaint_id = $2",
    )
    .bind(principal.tenant_id)
    .bind(complaint_id)
    .fetch_optional(pool)
    .await?
    .filter(|c: &Complaint| principal.can_see_project(c.project_id))
    .ok_or_else(|| ServiceError::not_found("complaint"))
}
