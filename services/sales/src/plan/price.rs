//! The price after discounts, and whether a sales manager must approve them.

use super::error::{Field, PlanError};
use super::terms::{Discount, WHOLE_BP, div_round_half_up, to_fen};

/// The largest list price accepted: 10^13 yuan, far above any home, low enough that no
/// figure derived from it can leave `i64`.
pub const MAX_PRICE_FEN: i64 = 1_000_000_000_000_000;

/// The most discounts that may be stacked: keeps the exact product of the list price and
/// every discount (10^15 · 10^(4·5)) within `i128`.
pub const MAX_DISCOUNTS: usize = 5;

/// The price a buyer is offered, and whether its discount needs a manager's approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceQuote {
    pub list_price_fen: i64,
    /// The list price times every discount's kept share, rounded half-up to the fen once.
    pub price_fen: i64,
    /// The combined discount, rounded up to the basis point: comparing it with a threshold
    /// gives the same answer as comparing the exact discount.
    pub effective_discount_bp: u16,
    /// The combined discount exceeds the project's approval threshold.
    pub needs_manager_approval: bool,
}

/// Applies `discounts` one after another to the list price; the discounts multiply
/// (9.5 折 then 9.8 折 is 93.1 % of the list price, 690 bp off).
pub fn quote(
    list_price_fen: i64,
    discounts: &[Discount],
    approval_threshold: Discount,
) -> Result<PriceQuote, PlanError> {
    if !(1..=MAX_PRICE_FEN).contains(&list_price_fen) {
        return Err(PlanError::OutOfRange {
            field: Field::ListPriceFen,
            min: 1,
            max: MAX_PRICE_FEN,
        });
    }
    if discounts.len() > MAX_DISCOUNTS {
        return Err(PlanError::TooMany {
            field: Field::DiscountsBp,
            max: MAX_DISCOUNTS,
        });
    }
    let overflow = PlanError::Overflow {
        field: Field::ListPriceFen,
    };
    let (price_fen, effective_discount_bp) =
        discounted(list_price_fen, discounts).ok_or(overflow)?;
    if price_fen == 0 {
        return Err(PlanError::Refused {
            field: Field::DiscountsBp,
            reason: "leave a price of zero",
        });
    }
    Ok(PriceQuote {
        list_price_fen,
        price_fen,
        effective_discount_bp,
        needs_manager_approval: effective_discount_bp > approval_threshold.bp(),
    })
}

/// The discounted price and the combined discount, exactly: the kept shares multiply to
/// `kept / whole`, with `whole = 10_000^k`.
fn discounted(list_price_fen: i64, discounts: &[Discount]) -> Option<(i64, u16)> {
    let mut kept: i128 = 1;
    let mut whole: i128 = 1;
    for discount in discounts {
        kept = kept.checked_mul(discount.kept_bp())?;
        whole = whole.checked_mul(i128::from(WHOLE_BP))?;
    }
    let price = div_round_half_up(i128::from(list_price_fen).checked_mul(kept)?, whole)?;
    // ceil((whole − kept) · 10_000 / whole)
    let off = whole.checked_sub(kept)?.checked_mul(i128::from(WHOLE_BP))?;
    let off_bp = off.checked_add(whole - 1)? / whole;
    Some((to_fen(price)?, u16::try_from(off_bp).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discounts(bps: &[i64]) -> Vec<Discount> {
        bps.iter().map(|bp| Discount::new(*bp).unwrap()).collect()
    }

    fn threshold(bp: i64) -> Discount {
        Discount::new(bp).unwrap()
    }

    #[test]
    fn discounts_multiply_and_round_once_half_up() {
        let price = |list_price_fen| {
            let offer = quote(list_price_fen, &discounts(&[500, 200]), threshold(1_000)).unwrap();
            offer.price_fen
        };
        // 2,350,000 yuan at 9.5 折 then 9.8 折: 235_000_000 · 0.95 · 0.98 = 218_785_000 fen
        assert_eq!(price(235_000_000), 218_785_000);
        // Python decimal: 235_000_008 · 0.931 = 218_785_007.448 → 218_785_007; rounding after
        // each discount would give round(round(235_000_008 · 0.95) · 0.98) = 218_785_008
        assert_eq!(price(235_000_008), 218_785_007);
        // Python decimal: 235_000_500 · 0.931 = 218_785_465.5 exactly → half-up 218_785_466
        assert_eq!(price(235_000_500), 218_785_466);
    }

    #[test]
    fn a_discount_above_the_threshold_needs_a_manager() {
        let at = quote(235_000_000, &discounts(&[500, 200]), threshold(690)).unwrap();
        assert_eq!(at.effective_discount_bp, 690);
        assert!(!at.needs_manager_approval);
        let above = quote(235_000_000, &discounts(&[500, 200]), threshold(689)).unwrap();
        assert!(above.needs_manager_approval);

        // 0.95 · 0.98 · 0.99 = 0.92169: 783.1 bp off, reported as 784 and above a 783 threshold
        let three = discounts(&[500, 200, 100]);
        let quote783 = quote(235_000_000, &three, threshold(783)).unwrap();
        assert_eq!(quote783.price_fen, 216_597_150);
        assert_eq!(quote783.effective_discount_bp, 784);
        assert!(quote783.needs_manager_approval);
        assert!(
            !quote(235_000_000, &three, threshold(784))
                .unwrap()
                .needs_manager_approval
        );

        let none = quote(235_000_000, &[], threshold(0)).unwrap();
        assert_eq!(
            (none.price_fen, none.effective_discount_bp),
            (235_000_000, 0)
        );
        assert!(!none.needs_manager_approval);
    }

    #[test]
    fn the_largest_price_with_the_most_discounts_is_exact() {
        // Python decimal: 10^15 · 0.99^5 = 950_990_049_900_000 fen exactly; 490.099501 bp off
        let most = discounts(&[100; MAX_DISCOUNTS]);
        let offer = quote(MAX_PRICE_FEN, &most, threshold(0)).unwrap();
        assert_eq!(offer.price_fen, 950_990_049_900_000);
        assert_eq!(offer.effective_discount_bp, 491);
    }

    #[test]
    fn refuses_what_cannot_be_priced() {
        let too_many = discounts(&[100; MAX_DISCOUNTS + 1]);
        let err = quote(1_000_000, &too_many, threshold(0)).unwrap_err();
        assert_eq!(
            err,
            PlanError::TooMany {
                field: Field::DiscountsBp,
                max: MAX_DISCOUNTS
            }
        );
        // 1 fen at 0.01 % of the list price is 0.0001 fen
        let err = quote(1, &discounts(&[9_999]), threshold(0)).unwrap_err();
        assert_eq!(err.field(), Field::DiscountsBp);
        let err = quote(MAX_PRICE_FEN + 1, &[], threshold(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "list_price_fen: must be between 1 and 1000000000000000"
        );
    }
}
