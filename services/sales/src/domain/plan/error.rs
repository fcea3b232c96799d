//! Why a purchase plan cannot be computed, naming the input field at fault.

use std::fmt;

/// An input field of a purchase plan, displayed as its wire name (`discounts_bp[1]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    ListPriceFen,
    /// The list of discounts as a whole.
    DiscountsBp,
    /// One discount, by its position in the list.
    DiscountBp(usize),
    ApprovalThresholdBp,
    MinMortgageDownPaymentRatioBp,
    DownPaymentRatioBp,
    /// The number of monthly parts of developer instalments.
    Months,
    TermMonths,
    AnnualRatePpm,
    ProvidentFundAmountFen,
    ProvidentFundRatePpm,
    CommercialRatePpm,
    /// The principal handed to [`super::amortize`] directly.
    PrincipalFen,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::DiscountBp(index) => return write!(f, "discounts_bp[{index}]"),
            Self::ListPriceFen => "list_price_fen",
            Self::DiscountsBp => "discounts_bp",
            Self::ApprovalThresholdBp => "approval_threshold_bp",
            Self::MinMortgageDownPaymentRatioBp => "min_mortgage_down_payment_ratio_bp",
            Self::DownPaymentRatioBp => "down_payment_ratio_bp",
            Self::Months => "months",
            Self::TermMonths => "term_months",
            Self::AnnualRatePpm => "annual_rate_ppm",
            Self::ProvidentFundAmountFen => "provident_fund_amount_fen",
            Self::ProvidentFundRatePpm => "provident_fund_rate_ppm",
            Self::CommercialRatePpm => "commercial_rate_ppm",
            Self::PrincipalFen => "principal_fen",
        };
        f.write_str(name)
    }
}

/// A purchase plan refused for one input; the gRPC layer reports it as INVALID_ARGUMENT with
/// `field()` and `description()` as the field violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The value lies outside `min..=max`.
    OutOfRange { field: Field, min: i64, max: i64 },
    /// The list holds more than `max` entries.
    TooMany { field: Field, max: usize },
    /// The value is in range but unusable with the rest of the plan.
    Refused { field: Field, reason: &'static str },
    /// An amount left `i64`. Unreachable within the bounds the inputs are checked against;
    /// reported rather than wrapped or panicked on.
    Overflow { field: Field },
}

impl PlanError {
    pub fn field(&self) -> Field {
        match self {
            Self::OutOfRange { field, .. }
            | Self::TooMany { field, .. }
            | Self::Refused { field, .. }
            | Self::Overflow { field } => *field,
        }
    }

    /// Describes what is wrong with the field, without naming it.
    pub fn description(&self) -> String {
        match self {
            Self::OutOfRange { min, max, .. } => format!("must be between {min} and {max}"),
            Self::TooMany { max, .. } => format!("must hold at most {max} entries"),
            Self::Refused { reason, .. } => (*reason).to_string(),
            Self::Overflow { .. } => "too large to compute".to_string(),
        }
    }

    /// The same error attributed to another field, for amounts derived from it.
    pub(super) fn at(self, field: Field) -> Self {
        match self {
            Self::OutOfRange { min, max, .. } => Self::OutOfRange { field, min, max },
            Self::TooMany { max, .. } => Self::TooMany { field, max },
            Self::Refused { reason, .. } => Self::Refused { field, reason },
            Self::Overflow { .. } => Self::Overflow { field },
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field(), self.description())
    }
}

impl std::error::Error for PlanError {}
