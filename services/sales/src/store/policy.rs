//! A project's sales policy, and purchase eligibility as a pluggable rule per project.

use anju_kit::{ServiceError, ServiceResult, time::ProjectZone};
use anju_proto::sales as pb;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

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

/// What the counter knows about a buyer when the contract is signed.
pub struct Buyer {
    pub homes_owned: i32,
}

/// A local purchase-eligibility rule (限購). Cities differ; each project picks its rule.
pub trait Eligibility {
    /// `Err` says why the buyer may not buy.
    fn check(&self, buyer: &Buyer) -> Result<(), String>;
}

/// No restriction.
pub struct Unrestricted;

impl Eligibility for Unrestricted {
    fn check(&self, _: &Buyer) -> Result<(), String> {
        Ok(())
    }
}

/// A buyer may already own at most this many homes in the city.
pub struct MaxHomesOwned(pub i32);

impl Eligibility for MaxHomesOwned {
    fn check(&self, buyer: &Buyer) -> Result<(), String> {
        if buyer.homes_owned > self.0 {
            Err(format!(
                "purchase restriction: the buyer owns {} homes, this project allows buyers with at most {}",
                buyer.homes_owned, self.0
            ))
        } else {
            Ok(())
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_count_restriction() {
        let rule = MaxHomesOwned(1);
        assert!(rule.check(&Buyer { homes_owned: 1 }).is_ok());
        let refusal = rule.check(&Buyer { homes_owned: 2 }).unwrap_err();
        assert!(refusal.contains("owns 2 homes"));
        assert!(Unrestricted.check(&Buyer { homes_owned: 9 }).is_ok());
    }
}
