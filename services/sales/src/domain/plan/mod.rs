//! The purchase plan (置業計劃表): from a unit's list price, the discounts offered and the
//! buyer's payment method to the price, the down payment and every monthly payment.
//!
//! Pure arithmetic, no I/O. Money is `i64` fen; discounts and ratios are basis points, rates
//! parts per million. Amounts are exact integers rounded half-up to the fen where the rules
//! say; `Decimal` is used only for the equal-instalment formula's `(1+r)^n`. Inputs are
//! bounded and arithmetic is checked, so nothing wraps or panics.

mod error;
mod price;
mod request;
mod schedule;
mod terms;

pub use error::{Field, PlanError};
pub use price::{DiscountShare, MAX_DISCOUNTS, MAX_PRICE_FEN, PriceQuote, quote};
pub use request::{MortgageRequest, PaymentMethod, PlanPolicy, PlanRequest};
pub use schedule::{Repayment, Row, Schedule, amortize};
pub use terms::{Discount, DownPaymentRatio, OutOfRange, Rate, Term};

use request::Payment;

/// Banks lend whole yuan.
const FEN_PER_YUAN: i64 = 100;

/// The plan handed to the buyer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchasePlan {
    pub quote: PriceQuote,
    /// Paid at signing; the whole price for a full payment. For a mortgage it includes the
    /// fen below a whole yuan that the bank does not lend.
    pub down_payment_fen: i64,
    pub financing: Financing,
}

/// How the price beyond the down payment is paid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Financing {
    FullPayment,
    /// Interest-free parts, the last absorbing the rounding remainder.
    Instalments(Schedule),
    Mortgage {
        lender: Lender,
        rate: Rate,
        schedule: Schedule,
    },
    Combined(CombinedLoan),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lender {
    Commercial,
    ProvidentFund,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CombinedLoan {
    pub provident_fund: Schedule,
    pub commercial: Schedule,
    /// Both loans, month by month: what the buyer pays.
    pub total: Schedule,
}

/// Prices the unit and schedules its payment, or names the first input that prevents it.
pub fn purchase_plan(
    request: &PlanRequest,
    policy: &PlanPolicy,
) -> Result<PurchasePlan, PlanError> {
    let discounts = request::discounts(&request.discounts_bp)?;
    let quote = quote(
        request.list_price_fen,
        &discounts,
        policy.approval_threshold,
    )?;
    let payment = Payment::parse(&request.payment, policy)?;
    let price = quote.price_fen;
    // Every amount below derives from the price; a schedule's own field is no input here.
    let by_price = |e: PlanError| e.at(Field::ListPriceFen);

    let (down_payment_fen, financing) = match payment {
        Payment::Full => (price, Financing::FullPayment),
        Payment::Instalments { term, down_payment } => {
            let down = down_payment.of(price).ok_or(PlanError::Overflow {
                field: Field::ListPriceFen,
            })?;
            if down == price {
                return Err(PlanError::Refused {
                    field: Field::DownPaymentRatioBp,
                    reason: "leaves nothing to pay in instalments",
                });
            }
            // Interest-free equal parts are equal principal at rate 0.
            let parts = amortize(price - down, Rate::ZERO, term, Repayment::EqualPrincipal)
                .map_err(by_price)?;
            (down, Financing::Instalments(parts))
        }
        Payment::Mortgage {
            lender,
            down_payment,
            loan,
        } => {
            let (down, principal) = mortgage_split(price, down_payment)?;
            let schedule = loan.amortize(principal).map_err(by_price)?;
            let rate = loan.rate;
            (
                down,
                Financing::Mortgage {
                    lender,
                    rate,
                    schedule,
                },
            )
        }
        Payment::Combined {
            down_payment,
            provident_fund_amount_fen,
            provident_fund,
            commercial,
        } => {
            let (down, principal) = mortgage_split(price, down_payment)?;
            let fund_part = principal.min(provident_fund_amount_fen);
            let provident_fund = provident_fund.amortize(fund_part).map_err(by_price)?;
            let commercial = commercial
                .amortize(principal - fund_part)
                .map_err(by_price)?;
            let total = provident_fund.combine(&commercial).map_err(by_price)?;
            let loan = CombinedLoan {
                provident_fund,
                commercial,
                total,
            };
            (down, Financing::Combined(loan))
        }
    };
    Ok(PurchasePlan {
        quote,
        down_payment_fen,
        financing,
    })
}

/// The down payment and the loan: the bank lends whole yuan, rounded down, and the fen it
/// does not lend join the down payment.
fn mortgage_split(price_fen: i64, down_payment: DownPaymentRatio) -> Result<(i64, i64), PlanError> {
    let asked = down_payment.of(price_fen).ok_or(PlanError::Overflow {
        field: Field::ListPriceFen,
    })?;
    let loan = (price_fen - asked) / FEN_PER_YUAN * FEN_PER_YUAN;
    if loan == 0 {
        return Err(PlanError::Refused {
            field: Field::DownPaymentRatioBp,
            reason: "leaves nothing to borrow",
        });
    }
    Ok((price_fen - loan, loan))
}

#[cfg(test)]
mod tests;
