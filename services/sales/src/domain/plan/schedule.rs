//! Repayment schedules: equal instalment (等額本息) and equal principal (等額本金).
//!
//! Each month's interest is the remaining principal times the monthly rate, rounded half-up to
//! the fen. The last month repays whatever principal remains, so the principal parts always
//! add up to the loan exactly.

use rust_decimal::{Decimal, MathematicalOps, RoundingStrategy, prelude::ToPrimitive};

use super::error::{Field, PlanError};
use super::price::MAX_PRICE_FEN;
use super::terms::{Rate, Term, div_round_half_up, to_fen};

/// How a loan is repaid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Repayment {
    /// 等額本息: the same payment `P·r·(1+r)^n / ((1+r)^n − 1)` every month, its interest share
    /// falling as the principal is repaid.
    EqualInstalment,
    /// 等額本金: the same principal `P/n` every month plus that month's interest, so payments
    /// fall month by month.
    EqualPrincipal,
}

/// One month of a schedule; `payment_fen = principal_fen + interest_fen`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Row {
    /// From 1.
    pub month: u16,
    pub payment_fen: i64,
    pub principal_fen: i64,
    pub interest_fen: i64,
    /// The principal still owed after this month.
    pub remaining_fen: i64,
}

/// Every month of a loan, with its totals. Built only by [`amortize`] and
/// [`Schedule::combine`], so the rows always repay the principal and the totals match them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    principal_fen: i64,
    rows: Vec<Row>,
    total_interest_fen: i64,
    total_paid_fen: i64,
}

impl Schedule {
    pub fn principal_fen(&self) -> i64 {
        self.principal_fen
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The first month's payment: the monthly payment of an equal-instalment loan.
    pub fn first_payment_fen(&self) -> i64 {
        self.rows.first().map_or(0, |row| row.payment_fen)
    }

    pub fn total_interest_fen(&self) -> i64 {
        self.total_interest_fen
    }

    /// Principal plus total interest.
    pub fn total_paid_fen(&self) -> i64 {
        self.total_paid_fen
    }

    /// Two loans repaid side by side (a combined loan's provident-fund and commercial parts),
    /// summed month by month; a loan already repaid adds nothing to the later months.
    pub fn combine(&self, other: &Schedule) -> Result<Schedule, PlanError> {
        let overflow = PlanError::Overflow {
            field: Field::PrincipalFen,
        };
        self.try_combine(other).ok_or(overflow)
    }

    fn try_combine(&self, other: &Schedule) -> Option<Schedule> {
        let months = self.rows.len().max(other.rows.len());
        let rows = (0..months)
            .map(|index| {
                let a = self.rows.get(index).copied().unwrap_or_default();
                let b = other.rows.get(index).copied().unwrap_or_default();
                Some(Row {
                    month: u16::try_from(index + 1).ok()?,
                    payment_fen: a.payment_fen.checked_add(b.payment_fen)?,
                    principal_fen: a.principal_fen.checked_add(b.principal_fen)?,
                    interest_fen: a.interest_fen.checked_add(b.interest_fen)?,
                    remaining_fen: a.remaining_fen.checked_add(b.remaining_fen)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Self::from_rows(self.principal_fen.checked_add(other.principal_fen)?, rows)
    }

    fn from_rows(principal_fen: i64, rows: Vec<Row>) -> Option<Self> {
        let mut total_interest_fen: i64 = 0;
        let mut total_paid_fen: i64 = 0;
        for row in &rows {
            total_interest_fen = total_interest_fen.checked_add(row.interest_fen)?;
            total_paid_fen = total_paid_fen.checked_add(row.payment_fen)?;
        }
        Some(Self {
            principal_fen,
            rows,
            total_interest_fen,
            total_paid_fen,
        })
    }
}

/// The month-by-month schedule repaying `principal_fen` (0 to [`MAX_PRICE_FEN`]) over `term`.
pub fn amortize(
    principal_fen: i64,
    rate: Rate,
    term: Term,
    repayment: Repayment,
) -> Result<Schedule, PlanError> {
    let field = Field::PrincipalFen;
    if !(0..=MAX_PRICE_FEN).contains(&principal_fen) {
        return Err(PlanError::OutOfRange {
            field,
            min: 0,
            max: MAX_PRICE_FEN,
        });
    }
    build(principal_fen, rate, term, repayment).ok_or(PlanError::Overflow { field })
}

fn build(principal_fen: i64, rate: Rate, term: Term, repayment: Repayment) -> Option<Schedule> {
    let months = term.months();
    // Equal instalment: the whole payment; equal principal: the principal part.
    let level = match repayment {
        Repayment::EqualInstalment => level_payment(principal_fen, rate, term)?,
        Repayment::EqualPrincipal => equal_part(principal_fen, term)?,
    };
    let mut rows = Vec::with_capacity(months.into());
    let mut remaining = principal_fen;
    for month in 1..=months {
        let interest = rate.monthly_interest_fen(remaining)?;
        let principal = if month == months {
            remaining
        } else {
            let due = match repayment {
                // Never negative: the payment covers the first month's interest, the largest.
                Repayment::EqualInstalment => level.checked_sub(interest)?,
                Repayment::EqualPrincipal => level,
            };
            // Parts rounded up every month can repay a loan of a few yuan early; it stays repaid.
            due.clamp(0, remaining)
        };
        remaining = remaining.checked_sub(principal)?;
        rows.push(Row {
            month,
            payment_fen: principal.checked_add(interest)?,
            principal_fen: principal,
            interest_fen: interest,
            remaining_fen: remaining,
        });
    }
    Schedule::from_rows(principal_fen, rows)
}

/// The equal-instalment payment `P·r·(1+r)^n / ((1+r)^n − 1)`, rounded half-up to the fen; at
/// rate 0 its limit `P/n`. `r` and `(1+r)^n` carry Decimal's 28 significant digits, far more
/// than the fen needs; a one-month term never uses this payment (its only month is the last).
fn level_payment(principal_fen: i64, rate: Rate, term: Term) -> Option<i64> {
    if rate.is_zero() {
        return equal_part(principal_fen, term);
    }
    let monthly = rate.monthly()?;
    let growth = Decimal::ONE
        .checked_add(monthly)?
        .checked_powu(term.months().into())?;
    let factor = monthly
        .checked_mul(growth)?
        .checked_div(growth.checked_sub(Decimal::ONE)?)?;
    Decimal::from(principal_fen)
        .checked_mul(factor)?
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
}

/// `P/n` rounded half-up to the fen.
fn equal_part(principal_fen: i64, term: Term) -> Option<i64> {
    to_fen(div_round_half_up(
        principal_fen.into(),
        term.months().into(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected figures come from an independent Python implementation of the same rules using
    // `decimal` at 100 significant digits with ROUND_HALF_UP (interest on each month's
    // remaining principal, the last month repaying the rest); the equal-instalment payments
    // also match published bank-calculator figures where noted.

    fn schedule(principal_fen: i64, ppm: i64, months: i64, repayment: Repayment) -> Schedule {
        let rate = Rate::from_annual_ppm(ppm).unwrap();
        amortize(principal_fen, rate, Term::new(months).unwrap(), repayment).unwrap()
    }

    fn row(month: u16, payment: i64, principal: i64, interest: i64, remaining: i64) -> Row {
        Row {
            month,
            payment_fen: payment,
            principal_fen: principal,
            interest_fen: interest,
            remaining_fen: remaining,
        }
    }

    fn first_and_last(schedule: &Schedule) -> (Row, Row) {
        (schedule.rows()[0], *schedule.rows().last().unwrap())
    }

    #[test]
    fn equal_instalment_matches_the_published_payment() {
        // 1,000,000 yuan at 4.9 % over 30 years: 5,307.27 yuan a month, as every Chinese bank
        // calculator shows (exact: 530_726.7206… fen)
        let loan = schedule(100_000_000, 49_000, 360, Repayment::EqualInstalment);
        assert_eq!(loan.first_payment_fen(), 530_727);
        let (first, last) = first_and_last(&loan);
        assert_eq!(first, row(1, 530_727, 122_394, 408_333, 99_877_606));
        assert_eq!(last, row(360, 530_519, 528_362, 2_157, 0));
        assert_eq!(loan.total_interest_fen(), 91_061_512);
        assert_eq!(loan.total_paid_fen(), 191_061_512);

        // 500,000 yuan of provident-fund loan at 3.1 % over 20 years (exact: 279_808.4487… fen)
        let loan = schedule(50_000_000, 31_000, 240, Repayment::EqualInstalment);
        let (first, last) = first_and_last(&loan);
        assert_eq!(first, row(1, 279_808, 150_641, 129_167, 49_849_359));
        assert_eq!(last, row(240, 279_952, 279_231, 721, 0));
        assert_eq!(loan.total_interest_fen(), 17_154_064);
        assert_eq!(loan.total_paid_fen(), 67_154_064);
    }

    #[test]
    fn equal_principal_repays_the_same_principal_each_month() {
        // Total interest: bank calculators show 737,041.67 yuan (P·r·(n+1)/2, unrounded); the
        // schedule rounds each month's interest to the fen, giving 737,041.08 yuan
        let loan = schedule(100_000_000, 49_000, 360, Repayment::EqualPrincipal);
        let (first, last) = first_and_last(&loan);
        assert_eq!(first, row(1, 686_111, 277_778, 408_333, 99_722_222));
        assert_eq!(last, row(360, 278_832, 277_698, 1_134, 0));
        assert_eq!(loan.total_interest_fen(), 73_704_108);
        assert_eq!(loan.total_paid_fen(), 173_704_108);

        let loan = schedule(50_000_000, 31_000, 240, Repayment::EqualPrincipal);
        let (first, last) = first_and_last(&loan);
        assert_eq!(first, row(1, 337_500, 208_333, 129_167, 49_791_667));
        assert_eq!(last, row(240, 208_951, 208_413, 538, 0));
        assert_eq!(loan.total_interest_fen(), 15_564_609);
    }

    #[test]
    fn rows_repay_the_principal_exactly_and_add_up_to_the_totals() {
        let principals = [0, 1, 180, 99_999, 100_000_000, 123_456_789, MAX_PRICE_FEN];
        let rates = [0, 1, 31_000, 49_000, Rate::MAX_PPM];
        let terms = [1, 2, 13, 359, 360];
        for principal in principals {
            for ppm in rates {
                for months in terms {
                    for repayment in [Repayment::EqualInstalment, Repayment::EqualPrincipal] {
                        let case =
                            format!("{principal} fen, {ppm} ppm, {months} months, {repayment:?}");
                        let loan = schedule(principal, ppm, months, repayment);
                        let rows = loan.rows();
                        assert_eq!(rows.len(), usize::try_from(months).unwrap(), "{case}");
                        let principal_sum: i64 = rows.iter().map(|r| r.principal_fen).sum();
                        let interest_sum: i64 = rows.iter().map(|r| r.interest_fen).sum();
                        let paid_sum: i64 = rows.iter().map(|r| r.payment_fen).sum();
                        assert_eq!(principal_sum, principal, "{case}");
                        assert_eq!(interest_sum, loan.total_interest_fen(), "{case}");
                        assert_eq!(paid_sum, loan.total_paid_fen(), "{case}");
                        assert_eq!(paid_sum, principal + interest_sum, "{case}");
                        let mut owed = principal;
                        for (index, r) in rows.iter().enumerate() {
                            assert_eq!(usize::from(r.month), index + 1, "{case}");
                            assert!(r.principal_fen >= 0 && r.interest_fen >= 0, "{case}");
                            assert_eq!(r.payment_fen, r.principal_fen + r.interest_fen, "{case}");
                            owed -= r.principal_fen;
                            assert_eq!(r.remaining_fen, owed, "{case}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_largest_loans_keep_fen_precision() {
        // Python decimal: 10^12 fen at 4.9 % over 360 months: exact 5_307_267_206.2281… fen
        let loan = schedule(1_000_000_000_000, 49_000, 360, Repayment::EqualInstalment);
        assert_eq!(loan.first_payment_fen(), 5_307_267_206);
        // Python decimal: 10^15 fen at 100 % over 360 months: exact 83_333_333_333_358.8286… fen
        let loan = schedule(
            MAX_PRICE_FEN,
            Rate::MAX_PPM,
            360,
            Repayment::EqualInstalment,
        );
        assert_eq!(loan.first_payment_fen(), 83_333_333_333_359);
    }

    #[test]
    fn a_zero_rate_splits_the_principal_and_the_last_month_takes_the_remainder() {
        // 1,000,000 fen over 7 months: six parts of round(142_857.14) and 142_858 last
        for repayment in [Repayment::EqualInstalment, Repayment::EqualPrincipal] {
            let loan = schedule(1_000_000, 0, 7, repayment);
            let payments: Vec<i64> = loan.rows().iter().map(|r| r.payment_fen).collect();
            assert_eq!(
                payments,
                [
                    142_857, 142_857, 142_857, 142_857, 142_857, 142_857, 142_858
                ]
            );
            assert_eq!(loan.total_interest_fen(), 0);
        }
    }

    #[test]
    fn a_one_month_loan_repays_everything_with_half_a_fen_rounded_up() {
        // 45_150 fen at 4 %: one month's interest is 150.5 fen exactly, rounded half-up to 151
        for repayment in [Repayment::EqualInstalment, Repayment::EqualPrincipal] {
            let loan = schedule(45_150, 40_000, 1, repayment);
            assert_eq!(loan.rows(), [row(1, 45_301, 45_150, 151, 0)]);
        }
    }
}
