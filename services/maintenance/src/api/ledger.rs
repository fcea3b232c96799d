//! The ledger (DOMAIN.md §3.8): a project's monthly repair report and a contractor's quarterly
//! settlement statement, issued once and then kept as issued.

use anju_kit::{
    Principal, Refusal, Role, ServiceError, ServiceResult, audit::Subject, time::ProjectZone,
    time::timestamp, validate::Validator,
};
use anju_messaging::directory;
use anju_proto::{common::Money, events::PartnerFeedItem, maintenance as pb};
use prost::Message;
use uuid::Uuid;

use super::{MaintenanceApi, orders::Origin};
use crate::{
    domain::ledger::{self, Period, average_hundredths},
    store::ledger as sums,
};

fn money(minor: i64, currency: &str) -> Option<Money> {
    Some(Money {
        minor_units: minor,
        currency: currency.into(),
    })
}

/// The period's instants in the project's calendar (China Standard Time).
fn instants(p: Period) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    let zone = ProjectZone::or_default("");
    (zone.start_of(p.from), zone.start_of(p.until))
}

impl MaintenanceApi {
    pub(crate) async fn get_repair_report(
        &self,
        principal: &Principal,
        req: pb::GetRepairReportRequest,
    ) -> ServiceResult<pb::GetRepairReportResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        let period = ledger::month(&req.month);
        if period.is_none() {
            v.violation("month", "must be a month written YYYY-MM");
        }
        v.finish()?;
        principal.require_project(project_id)?;
        directory::require_project(&self.pool, principal, project_id).await?;
        let (from, until) = instants(period.expect("validated"));
        let m = sums::month(&self.pool, principal.tenant_id, project_id, from, until).await?;
        let counts = |rows: Vec<(String, i64)>| {
            rows.into_iter()
                .map(|(name, count)| pb::Count { name, count })
                .collect()
        };
        let amounts = |rows: Vec<(String, i64, String)>| {
            rows.into_iter()
                .map(|(name, minor, currency)| pb::Amount {
                    name,
                    amount: money(minor, &currency),
                })
                .collect()
        };
        Ok(pb::GetRepairReportResponse {
            report: Some(pb::RepairReport {
                project_id: project_id.to_string(),
                month: req.month.trim().to_string(),
                received: m.received,
                closed: m.closed,
                open_at_end: m.open_at_end,
                received_by_source: counts(m.by_source),
                received_by_component: counts(m.by_component),
                breached: m.breached,
                escalated: m.escalated,
                costs: amounts(m.costs),
                charges: amounts(m.charges),
                average_days_to_close_hundredths: average_hundredths(m.close_hundredths, m.closed),
                follow_ups: m.follow_ups,
                average_satisfaction_hundredths: average_hundredths(
                    m.satisfaction_total * 100,
                    m.follow_ups,
                ),
            }),
        })
    }

    /// Whose statement and which quarter (and the request id of an issue): a partner's own, or
    /// the contractor staff name; staff must see every project, as a statement spans them.
    async fn statement_scope(
        &self,
        principal: &Principal,
        contractor_id: &str,
        quarter: &str,
        request_id: Option<&str>,
    ) -> ServiceResult<(Uuid, Period, String)> {
        let mut v = Validator::new();
        let request_id = request_id.map(|r| v.request_id(r)).unwrap_or_default();
        let named = v.optional_uuid("contractor_id", contractor_id);
        let period = ledger::quarter(quarter);
        if period.is_none() {
            v.violation("quarter", "must be a quarter written YYYY-Qn");
        }
        let contractor = principal.contractor_id.or(named);
        if contractor.is_none() {
            v.violation("contractor_id", "is required");
        }
        v.finish()?;
        if principal.contractor_id.is_some()
            && named.is_some_and(|n| Some(n) != principal.contractor_id)
        {
            return Err(ServiceError::not_found("settlement statement"));
        }
        // A statement spans every project: for a project-scoped role there is none. And a
        // contractor the tenant never worked with has none either.
        let contractor = contractor.expect("validated");
        if (principal.contractor_id.is_none() && principal.project_filter().is_some())
            || !sums::known(&self.pool, principal.tenant_id, contractor).await?
        {
            return Err(ServiceError::not_found("settlement statement"));
        }
        Ok((contractor, period.expect("validated"), request_id))
    }

    async fn statement(
        &self,
        tenant: Uuid,
        contractor: Uuid,
        quarter: &str,
        period: Period,
    ) -> ServiceResult<pb::SettlementStatement> {
        if let Some((bytes, issued_at)) =
            sums::issued(&self.pool, tenant, contractor, quarter).await?
        {
            let mut s = pb::SettlementStatement::decode(bytes.as_slice()).map_err(|e| {
                ServiceError::Unexpected(anyhow::anyhow!("a stored statement: {e}"))
            })?;
            s.issued_at = Some(timestamp(issued_at));
            return Ok(s);
        }
        let currency = sums::currency_of(&self.pool, tenant, contractor).await?;
        let (from, until) = instants(period);
        let q = sums::quarter(&self.pool, tenant, contractor, &currency, from, until).await?;
        Ok(pb::SettlementStatement {
            contractor_id: contractor.to_string(),
            quarter: quarter.to_string(),
            orders_completed: q.orders_completed,
            costs: q
                .costs
                .into_iter()
                .map(|(name, minor)| pb::Amount {
                    name,
                    amount: money(minor, &currency),
                })
                .collect(),
            chargebacks: money(q.chargebacks, &currency),
            compensation: money(q.compensation, &currency),
            penalties: money(q.penalties, &currency),
            taken_from_retention: money(q.taken_from_retention, &currency),
            claimed: money(q.claimed, &currency),
            retention_held: money(q.retention_held, &currency),
            retention_taken: money(q.retention_taken, &currency),
            retention_left: money(q.retention_held - q.retention_taken, &currency),
            issued_at: None,
        })
    }

    pub(crate) async fn get_settlement_statement(
        &self,
        principal: &Principal,
        req: pb::GetSettlementStatementRequest,
    ) -> ServiceResult<pb::GetSettlementStatementResponse> {
        let (contractor, period, _) = self
            .statement_scope(principal, &req.contractor_id, &req.quarter, None)
            .await?;
        let statement = self
            .statement(principal.tenant_id, contractor, req.quarter.trim(), period)
            .await?;
        Ok(pb::GetSettlementStatementResponse {
            statement: Some(statement),
        })
    }

    pub(crate) async fn issue_settlement_statement(
        &self,
        principal: &Principal,
        req: pb::IssueSettlementStatementRequest,
    ) -> ServiceResult<pb::IssueSettlementStatementResponse> {
        if principal.has(Role::Contractor) {
            return Err(ServiceError::PermissionDenied(
                "a statement is issued by the developer".into(),
            ));
        }
        let (contractor, period, request_id) = self
            .statement_scope(
                principal,
                &req.contractor_id,
                &req.quarter,
                Some(&req.request_id),
            )
            .await?;
        let quarter = req.quarter.trim().to_string();
        let today = ProjectZone::or_default("").today();
        if today < period.until {
            return Err(Refusal::new(
                "QUARTER_NOT_ENDED",
                "a quarter's statement is issued after the quarter ended",
            )
            .with("quarter", &quarter)
            .with("ends_on", period.until.pred_opt().unwrap_or(period.until))
            .into());
        }
        let statement = self
            .statement(principal.tenant_id, contractor, &quarter, period)
            .await?;
        let outbox = self.outbox.clone();
        self.commands
            .run(
                principal,
                "IssueSettlementStatement",
                &request_id,
                &req,
                async |cmd| {
                    let fresh = sums::issue(
                        cmd.conn(),
                        principal.tenant_id,
                        contractor,
                        &quarter,
                        &statement.encode_to_vec(),
                        &principal.subject,
                    )
                    .await?;
                    if fresh {
                        let origin = Origin {
                            outbox: &outbox,
                            tenant: principal.tenant_id,
                            cause: Some(request_id.clone()),
                        };
                        let ready = PartnerFeedItem {
                            contractor_id: contractor.to_string(),
                            kind: "settlement_ready".into(),
                            detail: quarter.clone(),
                            ..Default::default()
                        };
                        origin.feed(cmd.conn(), contractor, ready).await?;
                    }
                    let issued_at =
                        sums::issued(cmd.conn(), principal.tenant_id, contractor, &quarter)
                            .await?
                            .map(|(_, at)| timestamp(at));
                    Ok((
                        pb::IssueSettlementStatementResponse {
                            statement: Some(pb::SettlementStatement {
                                issued_at,
                                ..statement.clone()
                            }),
                        },
                        Subject::new("contractor", contractor)
                            .with_detail(serde_json::json!({ "quarter": quarter })),
                    ))
                },
            )
            .await
    }
}
