//! The validated figures a purchase plan is made of: a value of these types is always usable.

use rust_decimal::Decimal;

use super::error::{Field, PlanError};

/// Basis points in 100 %.
pub(super) const WHOLE_BP: i64 = 10_000;

/// An annual rate in parts per million over twelve months: the monthly rate's denominator.
const MONTHLY_RATE_DENOMINATOR: i128 = 12_000_000;

/// A value outside the range its type allows; [`OutOfRange::at`] names the field it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    pub min: i64,
    pub max: i64,
}

impl OutOfRange {
    pub fn at(self, field: Field) -> PlanError {
        PlanError::OutOfRange {
            field,
            min: self.min,
            max: self.max,
        }
    }
}

fn bounded<T: TryFrom<i64>>(value: i64, min: i64, max: i64) -> Result<T, OutOfRange> {
    let out_of_range = OutOfRange { min, max };
    if !(min..=max).contains(&value) {
        return Err(out_of_range);
    }
    T::try_from(value).map_err(|_| out_of_range)
}

/// A discount in basis points of the price: 9.5 折 (the buyer pays 95 %) is 500 bp, 98 折 is
/// 200 bp. A project's approval threshold is a discount too. 100 % off is no sale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Discount(u16);

impl Discount {
    pub const MAX_BP: i64 = WHOLE_BP - 1;

    pub fn new(bp: i64) -> Result<Self, OutOfRange> {
        bounded(bp, 0, Self::MAX_BP).map(Self)
    }

    pub fn bp(self) -> u16 {
        self.0
    }

    /// The share of the price the buyer still pays, in basis points (9.5 折 → 9_500).
    pub(super) fn kept_bp(self) -> i128 {
        i128::from(WHOLE_BP) - i128::from(self.0)
    }
}

/// The share of the price paid up front (首付款), in basis points: more than nothing, at most all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DownPaymentRatio(u16);

impl DownPaymentRatio {
    /// 20 %: the usual minimum for a mortgage on a first home; each project sets its own
    /// (`ProjectPolicy.min_mortgage_down_payment_bp`, this by default).
    pub const DEFAULT_MORTGAGE_MINIMUM: Self = Self(2_000);

    pub fn new(bp: i64) -> Result<Self, OutOfRange> {
        bounded(bp, 1, WHOLE_BP).map(Self)
    }

    pub fn bp(self) -> u16 {
        self.0
    }

    /// The down payment on `price_fen`, rounded half-up to the fen.
    pub(super) fn of(self, price_fen: i64) -> Option<i64> {
        let share = i128::from(price_fen).checked_mul(i128::from(self.0))?;
        to_fen(div_round_half_up(share, i128::from(WHOLE_BP))?)
    }
}

/// An annual interest rate in parts per million (3.95 % = 39_500 ppm), at most 100 %; the
/// monthly rate is a twelfth of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(u32);

impl Rate {
    pub const ZERO: Self = Self(0);
    pub const MAX_PPM: i64 = 1_000_000;

    pub fn from_annual_ppm(ppm: i64) -> Result<Self, OutOfRange> {
        bounded(ppm, 0, Self::MAX_PPM).map(Self)
    }

    pub fn annual_ppm(self) -> u32 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// One month's interest on `balance_fen`, rounded half-up to the fen. Integer arithmetic,
    /// so interest of exactly x.5 fen rounds up rather than wherever a decimal expansion of
    /// the monthly rate lands.
    pub fn monthly_interest_fen(self, balance_fen: i64) -> Option<i64> {
        let scaled = i128::from(balance_fen).checked_mul(i128::from(self.0))?;
        to_fen(div_round_half_up(scaled, MONTHLY_RATE_DENOMINATOR)?)
    }

    /// The monthly rate, to Decimal's 28 digits (a twelfth rarely terminates).
    pub(super) fn monthly(self) -> Option<Decimal> {
        Decimal::from(self.0).checked_div(Decimal::from(MONTHLY_RATE_DENOMINATOR))
    }
}

/// A term in months: 1 to 360 (30 years, the longest mortgage Chinese banks grant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term(u16);

impl Term {
    pub const MAX_MONTHS: i64 = 360;

    pub fn new(months: i64) -> Result<Self, OutOfRange> {
        bounded(months, 1, Self::MAX_MONTHS).map(Self)
    }

    pub fn months(self) -> u16 {
        self.0
    }
}

/// `numerator / denominator` rounded half-up, for a non-negative numerator and a positive
/// denominator (the only kind money has here).
pub(super) fn div_round_half_up(numerator: i128, denominator: i128) -> Option<i128> {
    if numerator < 0 || denominator <= 0 {
        return None;
    }
    let (quotient, remainder) = (numerator / denominator, numerator % denominator);
    // `2·remainder ≥ denominator`, without doubling
    if remainder >= denominator - remainder {
        quotient.checked_add(1)
    } else {
        Some(quotient)
    }
}

pub(super) fn to_fen(amount: i128) -> Option<i64> {
    i64::try_from(amount).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_a_fen_rounds_up_and_less_rounds_down() {
        assert_eq!(div_round_half_up(5, 10), Some(1));
        assert_eq!(div_round_half_up(4_999, 10_000), Some(0));
        assert_eq!(div_round_half_up(15, 10), Some(2));
        assert_eq!(div_round_half_up(-5, 10), None);
        assert_eq!(div_round_half_up(5, 0), None);
        // 45_150 fen at 4 % for a month is 45_150 · 40_000 / 12_000_000 = 150.5 fen exactly
        let rate = Rate::from_annual_ppm(40_000).unwrap();
        assert_eq!(rate.monthly_interest_fen(45_150), Some(151));
    }

    #[test]
    fn ranges_are_enforced() {
        assert_eq!(Discount::new(9_999).map(Discount::bp), Ok(9_999));
        assert_eq!(
            Discount::new(10_000),
            Err(OutOfRange { min: 0, max: 9_999 })
        );
        assert_eq!(
            DownPaymentRatio::new(0),
            Err(OutOfRange {
                min: 1,
                max: 10_000
            })
        );
        assert_eq!(
            Rate::from_annual_ppm(-1),
            Err(OutOfRange {
                min: 0,
                max: 1_000_000
            })
        );
        assert_eq!(Term::new(361), Err(OutOfRange { min: 1, max: 360 }));
        assert_eq!(Term::new(i64::MAX), Err(OutOfRange { min: 1, max: 360 }));
    }
}
