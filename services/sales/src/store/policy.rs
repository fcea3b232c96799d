//! A project's sales policy, and the purchase-eligibility rule it picks.

use anju_kit::{ServiceError, ServiceResult, time::ProjectZone};
use anju_proto::sales as pb;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::domain::eligibility::{Eligibility, MaxHomesOwned, Unrestricted};

#[derive(Clone, Debug, FromRow)]
pub struct ProjectPolicy {
    pub project_id: Uuid,
    pub hold_hours: i32,
    pub discount_approval_bp: i32,
    pub lapse_refund_bp: i32,
    pub lapse_after_minutes: i32,
    pub max_homes_owned: i32,
    pub cancellation_refund_bp: i32,
    pub min_mortgage_down_payment_bp: i32,
    pub time_zone: String,
}

impl From<ProjectPolicy> for pb::ProjectPolicy {
    fn from(p: ProjectPolicy) -> Self {
        pb::ProjectPolicy {
            project_id: p.project_id.to_string(),
            hold_hours: p.hold_hours,
            discount_approval_bp: p.discount_approval_bp,
            lapse_refund_bp: p.lapse_refund_bp,
            lapse_after_minutes: p.lapse_after_minutes,
            max_homes_owned: p.max_homes_owned,
            cancellation_refund_bp: p.cancellation_refund_bp,
            min_mortgage_down_payment_bp: p.min_mortgage_down_payment_bp,
            time_zone: p.time_zone,
        }
    }
}

const COLUMNS: &str = "project_id, hold_hours, discount_approval_bp, lapse_refund_bp, lapse_after_minutes, \
                       max_homes_owned, cancellation_refund_bp, min_mortgage_down_payment_bp, time_zone";

pub async fn get(
    conn: &mut PgConnection,
    tenant: Uuid,
    project_id: Uuid,
) -> ServiceResult<ProjectPolicy> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from projects where tenant_id = $1 and project_id = $2"
    )))
    .bind(tenant)
    .bind(project_id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::not_found("project"))
}

pub async fn set(
    conn: &mut PgConnection,
    tenant: Uuid,
    p: &ProjectPolicy,
) -> ServiceResult<ProjectPolicy> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update projects set hold_hours = $3, discount_approval_bp = $4, lapse_refund_bp = $5,
                lapse_after_minutes = $6, max_homes_owned = $7, cancellation_refund_bp = $8,
                min_mortgage_down_payment_bp = $9, time_zone = coalesce(nullif($10, ''), time_zone)
         where tenant_id = $1 and project_id = $2 returning {COLUMNS}"
    )))
    .bind(tenant)
    .bind(p.project_id)
    .bind(p.hold_hours)
    .bind(p.discount_approval_bp)
    .bind(p.lapse_refund_bp)
    .bind(p.lapse_after_minutes)
    .bind(p.max_homes_owned)
    .bind(p.cancellation_refund_bp)
    .bind(p.min_mortgage_down_payment_bp)
    .bind(&p.time_zone)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::not_found("project"))
}

impl ProjectPolicy {
    /// The project's clock (its time zone, validated when the policy was set).
    pub fn zone(&self) -> ProjectZone {
        ProjectZone::or_default(&self.time_zone)
    }

    pub fn eligibility(&self) -> Box<dyn Eligibility + Send> {
        if self.max_homes_owned < 0 {
            Box::new(Unrestricted)
        } else {
            Box::new(MaxHomesOwned(self.max_homes_owned))
        }
    }
}
