//! The purchase plan (置業計劃表) over the wire: the unit's list price and the project's
//! discount threshold from the catalogue, the arithmetic from [`crate::domain::plan`].

use anju_kit::{Principal, ServiceError, ServiceResult, validate::Validator};
use anju_proto::{common, sales as pb};

use super::SalesApi;
use crate::{
    domain::plan::{
        self, Financing, MortgageRequest, PaymentMethod, PlanPolicy, PlanRequest, Repayment,
        Schedule,
    },
    store::{catalogue, policy},
};

fn money(minor_units: i64, currency: &str) -> Option<common::Money> {
    Some(common::Money {
        minor_units,
        currency: currency.to_string(),
    })
}

impl SalesApi {
    pub(super) async fn compute_purchase_plan(
        &self,
        principal: &Principal,
        req: pb::ComputePurchasePlanRequest,
    ) -> ServiceResult<pb::ComputePurchasePlanResponse> {
        let mut v = Validator::new();
        let unit_id = v.uuid("unit_id", &req.unit_id);
        let method = pb::PaymentMethod::try_from(req.payment_method)
            .unwrap_or(pb::PaymentMethod::Unspecified);
        if method == pb::PaymentMethod::Unspecified {
            v.violation("payment_method", "must name a payment method");
        }
        let repayment =
            match pb::Repayment::try_from(req.repayment).unwrap_or(pb::Repayment::Unspecified) {
                pb::Repayment::EqualPrincipal => Repayment::EqualPrincipal,
                _ => Repayment::EqualInstalment,
            };
        v.finish()?;

        let mut conn = self.pool.acquire().await?;
        let unit = catalogue::unit(&mut conn, principal.tenant_id, unit_id).await?;
        if !principal.can_see_project(unit.project_id) {
            return Err(ServiceError::not_found("unit"));
        }
        let project_policy = policy::get(&mut conn, principal.tenant_id, unit.project_id).await?;
        drop(conn);

        let mortgage = MortgageRequest {
            down_payment_ratio_bp: i64::from(req.down_payment_ratio_bp),
            term_months: i64::from(req.term_months),
            annual_rate_ppm: i64::from(req.annual_rate_ppm),
            repayment,
        };
        let payment = match method {
            pb::PaymentMethod::FullPayment => PaymentMethod::FullPayment,
            pb::PaymentMethod::Instalments => PaymentMethod::Instalments {
                months: i64::from(req.term_months),
                down_payment_ratio_bp: i64::from(req.down_payment_ratio_bp),
            },
            pb::PaymentMethod::CommercialMortgage => PaymentMethod::CommercialMortgage(mortgage),
            pb::PaymentMethod::ProvidentFundMortgage => {
                PaymentMethod::ProvidentFundMortgage(mortgage)
            }
            _ => PaymentMethod::Combined {
                down_payment_ratio_bp: i64::from(req.down_payment_ratio_bp),
                term_months: i64::from(req.term_months),
                repayment,
                provident_fund_amount_fen: req
                    .provident_fund_amount
                    .as_ref()
                    .map_or(0, |m| m.minor_units),
                provident_fund_rate_ppm: i64::from(req.provident_fund_rate_ppm),
                commercial_rate_ppm: i64::from(req.annual_rate_ppm),
            },
        };
        let request = PlanRequest {
            list_price_fen: unit.list_price_minor,
            discounts_bp: req.discounts_bp.iter().map(|d| i64::from(*d)).collect(),
            payment,
        };
        let plan_policy = PlanPolicy::parse(
            i64::from(project_policy.discount_approval_bp),
            i64::from(project_policy.min_mortgage_down_payment_bp),
        )
        .map_err(|e| ServiceError::Unexpected(anyhow::anyhow!("project policy: {e}")))?;
        let plan = plan::purchase_plan(&request, &plan_policy)
            .map_err(|e| ServiceError::invalid(e.field().to_string(), e.description()))?;

        let currency = unit.currency.as_str();
        let schedule: Option<&Schedule> = match &plan.financing {
            Financing::FullPayment => None,
            Financing::Instalments(schedule) => Some(schedule),
            Financing::Mortgage { schedule, .. } => Some(schedule),
            Financing::Combined(loan) => Some(&loan.total),
        };
        let (financed, first, interest, paid, rows) = match schedule {
            None => (0, 0, 0, 0, Vec::new()),
            Some(s) => (
                s.principal_fen(),
                s.first_payment_fen(),
                s.total_interest_fen(),
                s.total_paid_fen(),
                s.rows()
                    .iter()
                    .map(|r| pb::PlanRow {
                        month: i32::from(r.month),
                        payment: money(r.payment_fen, currency),
                        principal: money(r.principal_fen, currency),
                        interest: money(r.interest_fen, currency),
                        remaining: money(r.remaining_fen, currency),
                    })
                    .collect(),
            ),
        };
        Ok(pb::ComputePurchasePlanResponse {
            list_price: money(plan.quote.list_price_fen, currency),
            price: money(plan.quote.price_fen, currency),
            effective_discount_bp: i32::from(plan.quote.effective_discount_bp),
            needs_manager_approval: plan.quote.needs_manager_approval,
            down_payment: money(plan.down_payment_fen, currency),
            financed: money(financed, currency),
            first_payment: money(first, currency),
            total_interest: money(interest, currency),
            total_paid: money(paid, currency),
            schedule: rows,
        })
    }
}
