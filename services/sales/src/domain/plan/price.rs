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
    let overflow = || PlanError::Overflow {
        field: Field::ListPriceFen,
    };
    let (price_fen, share) = discounted(list_price_fen, discounts).ok_or_else(overflow)?;
    let effective_discount_bp = u16::try_from(share.bp_rounded_up()).map_err(|_| overflow())?;
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
        needs_manager_approval: share.needs_manager(approval_threshold.bp().into()),
    })
}

/// A discount of `off / whole` of the list price, and whether it needs a sales manager: the
/// project's approval threshold is a ceiling the discount may reach but not exceed (DOMAIN.md
/// §1, 置業計劃表: approved discounts). Compared exactly, so no rounding can let a discount
/// above the threshold through (3.009 % against 3 % needs the manager); the basis points
/// reported are rounded up for the same reason. The one rule for `ComputePurchasePlan` and
/// `SignSubscription`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscountShare {
    off: i128,
    whole: i128,
}

impl DiscountShare {
    /// The share `list − price` of `list` (a price above the list is no discount).
    pub fn of_price(list_price_fen: i64, price_fen: i64) -> Option<Self> {
        (list_price_fen > 0).then(|| Self {
            off: (i128::from(list_price_fen) - i128::from(price_fen)).max(0),
            whole: i128::from(list_price_fen),
        })
    }

    /// The discount rounded up to the basis point.
    pub fn bp_rounded_up(&self) -> i128 {
        (self.off * i128::from(WHOLE_BP) + self.whole - 1) / self.whole
    }

    /// The rule: the discount exceeds `threshold_bp` basis points.
    pub fn needs_manager(&self, threshold_bp: i64) -> bool {
        self.off * i128::from(WHOLE_BP) > i128::from(threshold_bp) * self.whole
    }
}

/// The discounted price and the combined discount, exactly: the kept shares multiply to
/// `kept / whole`, with `whole = 10_000^k`.
fn discounted(list_price_fen: i64, discounts: &[Discount]) -> Option<(i64, DiscountShare)> {
    let mut kept: i128 = 1;
    let mut whole: i128 = 1;
    for discount in discounts {
        kept = kept.checked_mul(discount.kept_bp())?;
        whole = whole.checked_mul(i128::from(WHOLE_BP))?;
    }
    let price = div_round_half_up(i128::from(list_price_fen).checked_mul(kept)?, whole)?;
    let share = DiscountShare {
        off: whole.checked_sub(kept)?,
        whole,
    };
    Some((to_fen(price)?, share))
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

    /// The boundary of a 3 % threshold, as a plan (stacked discounts) and as a signed price:
    /// the same answers, compared exactly.
    #[test]
    fn the_approval_threshold_is_reached_but_not_exceeded_on_both_paths() {
        let list = 235_000_000;
        // (discounts, price it gives, needs a manager at 300 bp)
        let cases = [
            (vec![299], 227_973_500, false),   // 2.99 %
            (vec![300], 227_950_000, false),   // 3.00 %
            (vec![300, 1], 227_927_205, true), // 0.97 · 0.9999 = 3.0097 % off
            (vec![301], 227_926_500, true),    // 3.01 %
        ];
        for (bps, price, manager) in cases {
            let plan = quote(list, &discounts(&bps), threshold(300)).unwrap();
            assert_eq!(plan.price_fen, price, "{bps:?}");
            assert_eq!(plan.needs_manager_approval, manager, "plan {bps:?}");
            let signed = DiscountShare::of_price(list, price).unwrap();
            assert_eq!(signed.needs_manager(300), manager, "price of {bps:?}");
        }
        // 3.009 % off a signed price: 300.9 bp is above 300 (rounding down said 300, and let it
        // through without a manager).
        let signed = DiscountShare::of_price(list, 227_928_850).unwrap();
        assert!(signed.needs_manager(300));
        assert_eq!(signed.bp_rounded_up(), 301);
        assert!(
            !DiscountShare::of_price(list, list + 1)
                .unwrap()
                .needs_manager(0)
        );
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
