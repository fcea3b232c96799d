//! What a contractor's warranty costs it (DOMAIN.md §3.5, §3.6), exact to the fen: the
//! retention held from its settlement, the backup vendor's cost charged back to it, the
//! owner's compensation and the penalty on a refused claim. Amounts are `i64` fen; each
//! percentage is applied once per charge.

/// Basis points in a whole.
const WHOLE_BP: i128 = 10_000;

/// At most 3 % of the settlement amount is held as warranty retention (2017 Measures for
/// Construction Quality Retention art. 7), rounded down to the fen so it never exceeds 3 %.
pub const MAX_RETENTION_BP: i64 = 300;

/// The owner is compensated 10 % of a repair the contractor's defect made necessary
/// (seed ⑥ 2, 7).
pub const COMPENSATION_BP: i64 = 1_000;

/// A claim the contractor refuses is taken from its retention with a 25 % penalty (seed ⑥ 7).
pub const PENALTY_BP: i64 = 2_500;

/// The defects-liability period a retention is held for: usually 1, at most 2 years.
pub const MAX_LIABILITY_YEARS: u32 = 2;

/// `amount × bp / 10 000`, rounded down; `None` past i64 or for a negative input.
pub fn share_down(amount: i64, bp: i64) -> Option<i64> {
    if amount < 0 || bp < 0 {
        return None;
    }
    i64::try_from(i128::from(amount) * i128::from(bp) / WHOLE_BP).ok()
}

/// `amount × bp / 10 000`, rounded half up to the fen; `None` past i64 or for a negative input.
pub fn share_half_up(amount: i64, bp: i64) -> Option<i64> {
    if amount < 0 || bp < 0 {
        return None;
    }
    i64::try_from((i128::from(amount) * i128::from(bp) + WHOLE_BP / 2) / WHOLE_BP).ok()
}

/// The retention a contract may hold at most: 3 % of its settlement amount, rounded down.
pub fn max_retention(settlement: i64) -> Option<i64> {
    share_down(settlement, MAX_RETENTION_BP)
}

/// Whether a contract's retention terms are lawful: at most 3 % held, for 1 to 2 years.
pub fn retention_terms_lawful(settlement: i64, retention: i64, liability_years: u32) -> bool {
    retention >= 0
        && max_retention(settlement).is_some_and(|max| retention <= max)
        && (1..=MAX_LIABILITY_YEARS).contains(&liability_years)
}

/// Where a charge against a contractor is taken from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deduction {
    /// From what the developer still owes the contractor on its settlement.
    pub from_settlement: i64,
    /// From the warranty retention still held.
    pub from_retention: i64,
    /// What neither covers: a claim against the contractor.
    pub claim: i64,
}

impl Deduction {
    pub fn total(&self) -> i64 {
        self.from_settlement + self.from_retention + self.claim
    }
}

/// A backup vendor's cost charged back to the responsible contractor (DOMAIN.md §3.5):
/// deducted from its unpaid settlement, then from the retention while it is held; what
/// remains — all of it once the retention was released — is a claim.
pub fn chargeback(
    cost: i64,
    unpaid_settlement: i64,
    retention_held: i64,
    retention_released: bool,
) -> Deduction {
    let cost = cost.max(0);
    let from_settlement = cost.min(unpaid_settlement.max(0));
    let rest = cost - from_settlement;
    let from_retention = if retention_released {
        0
    } else {
        rest.min(retention_held.max(0))
    };
    Deduction {
        from_settlement,
        from_retention,
        claim: rest - from_retention,
    }
}

/// A contractor-caused defect (DOMAIN.md §3.6): the repair cost and the owner's 10 %
/// compensation, both taken from the retention while it is held (the repair first), the
/// rest a claim.
pub fn defect_charges(
    repair_cost: i64,
    retention_held: i64,
    retention_released: bool,
) -> Option<(i64, Deduction)> {
    let compensation = share_half_up(repair_cost, COMPENSATION_BP)?;
    let total = repair_cost.checked_add(compensation)?;
    let from_retention = if retention_released {
        0
    } else {
        total.min(retention_held.max(0))
    };
    Some((
        compensation,
        Deduction {
            from_settlement: 0,
            from_retention,
            claim: total - from_retention,
        },
    ))
}

/// An owner's further claim the contractor refused to pay (DOMAIN.md §3.6): the claim and a
/// 25 % penalty, from the retention while it is held, the rest a claim.
pub fn refused_claim(
    claim: i64,
    retention_held: i64,
    retention_released: bool,
) -> Option<(i64, Deduction)> {
    let penalty = share_half_up(claim, PENALTY_BP)?;
    let total = claim.checked_add(penalty)?;
    let from_retention = if retention_released {
        0
    } else {
        total.min(retention_held.max(0))
    };
    Some((
        penalty,
        Deduction {
            from_settlement: 0,
            from_retention,
            claim: total - from_retention,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retention_never_exceeds_three_percent() {
        // 3 % of 1,234,567.89 yuan is 37,037.0367: held 37,037.03, rounded down.
        assert_eq!(max_retention(123_456_789), Some(3_703_703));
        assert_eq!(max_retention(33), Some(0));
        assert_eq!(max_retention(34), Some(1));
        assert!(retention_terms_lawful(100_000_000, 3_000_000, 2));
        assert!(!retention_terms_lawful(100_000_000, 3_000_001, 2));
        assert!(!retention_terms_lawful(100_000_000, 3_000_000, 3));
        assert!(!retention_terms_lawful(100_000_000, 3_000_000, 0));
        assert_eq!(max_retention(-1), None);
    }

    #[test]
    fn percentages_round_half_up_once_per_charge() {
        // 10 % of 1,234.55 yuan = 123.455 → 123.46.
        assert_eq!(share_half_up(123_455, COMPENSATION_BP), Some(12_346));
        assert_eq!(share_half_up(123_454, COMPENSATION_BP), Some(12_345));
        // 25 % of 0.02 yuan = 0.005 → 0.01.
        assert_eq!(share_half_up(2, PENALTY_BP), Some(1));
        assert_eq!(share_half_up(i64::MAX, 10_000), Some(i64::MAX));
        assert_eq!(share_half_up(i64::MAX, 10_001), None);
    }

    #[test]
    fn a_chargeback_takes_the_settlement_then_the_retention_then_claims() {
        let d = chargeback(500_000, 200_000, 250_000, false);
        assert_eq!(
            d,
            Deduction {
                from_settlement: 200_000,
                from_retention: 250_000,
                claim: 50_000
            }
        );
        assert_eq!(d.total(), 500_000);
        // Released: what the settlement does not cover is a claim.
        let d = chargeback(500_000, 200_000, 250_000, true);
        assert_eq!((d.from_retention, d.claim), (0, 300_000));
        // Covered in full by what is owed.
        assert_eq!(chargeback(100, 1_000, 0, false).claim, 0);
    }

    #[test]
    fn a_contractors_defect_costs_it_the_repair_and_a_tenth_more_for_the_owner() {
        // A 3,000.05 yuan repair: compensation 300.01 (300.005 rounded half up).
        let (compensation, d) = defect_charges(300_005, 1_000_000, false).unwrap();
        assert_eq!(compensation, 30_001);
        assert_eq!((d.from_retention, d.claim), (330_006, 0));
        let (_, d) = defect_charges(300_005, 100_000, false).unwrap();
        assert_eq!((d.from_retention, d.claim), (100_000, 230_006));
        let (_, d) = defect_charges(300_005, 1_000_000, true).unwrap();
        assert_eq!((d.from_retention, d.claim), (0, 330_006));
    }

    #[test]
    fn a_refused_claim_comes_with_a_quarter_more() {
        let (penalty, d) = refused_claim(80_002, 1_000_000, false).unwrap();
        // 25 % of 800.02 = 200.005 → 200.01.
        assert_eq!(penalty, 20_001);
        assert_eq!(d.total(), 100_003);
        assert_eq!(d.from_retention, 100_003);
        assert_eq!(refused_claim(-1, 0, false), None);
    }
}
