//! What a consultant enters and what the project allows, checked field by field.

use super::error::{Field, PlanError};
use super::price::{MAX_DISCOUNTS, MAX_PRICE_FEN};
use super::schedule::{Repayment, Schedule, amortize};
use super::terms::{Discount, DownPaymentRatio, Rate, Term, WHOLE_BP};
use super::{FEN_PER_YUAN, Lender};

/// A project's rules for purchase plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanPolicy {
    /// A combined discount above this needs a sales manager's approval.
    pub approval_threshold: Discount,
    /// The least down payment any mortgage may have.
    pub min_mortgage_down_payment: DownPaymentRatio,
}

impl PlanPolicy {
    /// A policy with the default minimum mortgage down payment.
    pub fn new(approval_threshold: Discount) -> Self {
        Self {
            approval_threshold,
            min_mortgage_down_payment: DownPaymentRatio::DEFAULT_MORTGAGE_MINIMUM,
        }
    }

    /// Reads a policy from a project's stored settings.
    pub fn parse(
        approval_threshold_bp: i64,
        min_mortgage_down_payment_ratio_bp: i64,
    ) -> Result<Self, PlanError> {
        Ok(Self {
            approval_threshold: Discount::new(approval_threshold_bp)
                .map_err(|e| e.at(Field::ApprovalThresholdBp))?,
            min_mortgage_down_payment: DownPaymentRatio::new(min_mortgage_down_payment_ratio_bp)
                .map_err(|e| e.at(Field::MinMortgageDownPaymentRatioBp))?,
        })
    }
}

/// What a consultant enters for a unit, as it arrives: every figure is checked by
/// [`purchase_plan`](super::purchase_plan), which names the field at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanRequest {
    pub list_price_fen: i64,
    /// Applied one after another.
    pub discounts_bp: Vec<i64>,
    pub payment: PaymentMethod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentMethod {
    FullPayment,
    /// Developer instalments: after the down payment, `months` equal interest-free parts.
    Instalments {
        months: i64,
        down_payment_ratio_bp: i64,
    },
    CommercialMortgage(MortgageRequest),
    ProvidentFundMortgage(MortgageRequest),
    /// A provident-fund loan up to `provident_fund_amount_fen` and a commercial loan for the
    /// rest, both over the same term and repaid the same way.
    Combined {
        down_payment_ratio_bp: i64,
        term_months: i64,
        repayment: Repayment,
        provident_fund_amount_fen: i64,
        provident_fund_rate_ppm: i64,
        commercial_rate_ppm: i64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MortgageRequest {
    pub down_payment_ratio_bp: i64,
    pub term_months: i64,
    pub annual_rate_ppm: i64,
    pub repayment: Repayment,
}

/// The discounts, each checked and named by its position.
pub(super) fn discounts(discounts_bp: &[i64]) -> Result<Vec<Discount>, PlanError> {
    if discounts_bp.len() > MAX_DISCOUNTS {
        return Err(PlanError::TooMany {
            field: Field::DiscountsBp,
            max: MAX_DISCOUNTS,
        });
    }
    discounts_bp
        .iter()
        .enumerate()
        .map(|(index, bp)| Discount::new(*bp).map_err(|e| e.at(Field::DiscountBp(index))))
        .collect()
}

/// A [`PaymentMethod`] whose every figure has been checked.
#[derive(Clone, Copy, Debug)]
pub(super) enum Payment {
    Full,
    Instalments {
        term: Term,
        down_payment: DownPaymentRatio,
    },
    Mortgage {
        lender: Lender,
        down_payment: DownPaymentRatio,
        loan: Loan,
    },
    Combined {
        down_payment: DownPaymentRatio,
        /// Whole yuan.
        provident_fund_amount_fen: i64,
        provident_fund: Loan,
        commercial: Loan,
    },
}

/// One loan's checked terms.
#[derive(Clone, Copy, Debug)]
pub(super) struct Loan {
    pub(super) term: Term,
    pub(super) rate: Rate,
    pub(super) repayment: Repayment,
}

impl Loan {
    pub(super) fn amortize(self, principal_fen: i64) -> Result<Schedule, PlanError> {
        amortize(principal_fen, self.rate, self.term, self.repayment)
    }
}

impl Payment {
    pub(super) fn parse(method: &PaymentMethod, policy: &PlanPolicy) -> Result<Self, PlanError> {
        match *method {
            PaymentMethod::FullPayment => Ok(Self::Full),
            PaymentMethod::Instalments {
                months,
                down_payment_ratio_bp,
            } => Ok(Self::Instalments {
                term: term(months, Field::Months)?,
                down_payment: DownPaymentRatio::new(down_payment_ratio_bp)
                    .map_err(|e| e.at(Field::DownPaymentRatioBp))?,
            }),
            PaymentMethod::CommercialMortgage(request) => {
                Self::mortgage(Lender::Commercial, &request, policy)
            }
            PaymentMethod::ProvidentFundMortgage(request) => {
                Self::mortgage(Lender::ProvidentFund, &request, policy)
            }
            PaymentMethod::Combined {
                down_payment_ratio_bp,
                term_months,
                repayment,
                provident_fund_amount_fen,
                provident_fund_rate_ppm,
                commercial_rate_ppm,
            } => {
                let down_payment = mortgage_down_payment(down_payment_ratio_bp, policy)?;
                let term = term(term_months, Field::TermMonths)?;
                let field = Field::ProvidentFundAmountFen;
                if !(FEN_PER_YUAN..=MAX_PRICE_FEN).contains(&provident_fund_amount_fen) {
                    return Err(PlanError::OutOfRange {
                        field,
                        min: FEN_PER_YUAN,
                        max: MAX_PRICE_FEN,
                    });
                }
                if provident_fund_amount_fen % FEN_PER_YUAN != 0 {
                    return Err(PlanError::Refused {
                        field,
                        reason: "must be whole yuan",
                    });
                }
                let loan = |ppm, field| -> Result<Loan, PlanError> {
                    let rate = rate(ppm, field)?;
                    Ok(Loan {
                        term,
                        rate,
                        repayment,
                    })
                };
                Ok(Self::Combined {
                    down_payment,
                    provident_fund_amount_fen,
                    provident_fund: loan(provident_fund_rate_ppm, Field::ProvidentFundRatePpm)?,
                    commercial: loan(commercial_rate_ppm, Field::CommercialRatePpm)?,
                })
            }
        }
    }

    fn mortgage(
        lender: Lender,
        request: &MortgageRequest,
        policy: &PlanPolicy,
    ) -> Result<Self, PlanError> {
        Ok(Self::Mortgage {
            lender,
            down_payment: mortgage_down_payment(request.down_payment_ratio_bp, policy)?,
            loan: Loan {
                term: term(request.term_months, Field::TermMonths)?,
                rate: rate(request.annual_rate_ppm, Field::AnnualRatePpm)?,
                repayment: request.repayment,
            },
        })
    }
}

fn term(months: i64, field: Field) -> Result<Term, PlanError> {
    Term::new(months).map_err(|e| e.at(field))
}

fn rate(ppm: i64, field: Field) -> Result<Rate, PlanError> {
    Rate::from_annual_ppm(ppm).map_err(|e| e.at(field))
}

/// A mortgage's down payment: a valid ratio no lower than the project's minimum.
fn mortgage_down_payment(bp: i64, policy: &PlanPolicy) -> Result<DownPaymentRatio, PlanError> {
    let field = Field::DownPaymentRatioBp;
    let min = policy.min_mortgage_down_payment;
    let ratio = DownPaymentRatio::new(bp).map_err(|e| e.at(field))?;
    if ratio < min {
        return Err(PlanError::OutOfRange {
            field,
            min: min.bp().into(),
            max: WHOLE_BP,
        });
    }
    Ok(ratio)
}
