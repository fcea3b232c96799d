//! The area difference (面積差異) of a contract: DOMAIN.md §6.2, Measures for Sales of
//! Commodity Housing art. 20, unless the contract says otherwise.
//!
//! Error ratio = (measured − contract) / contract. Within ±3 % (inclusive) the difference is
//! settled at the contract's unit price. Beyond it the buyer may cancel; a buyer who keeps the
//! home pays, above +3 %, for the part up to 3 % only (the developer bears the rest), and is
//! refunded, below −3 %, the part up to 3 % at the unit price and the part beyond 3 % double.
//!
//! Exact integer arithmetic: the unit price is never computed on its own (price / area is not a
//! whole number of fen); each amount is one fraction of whole numbers, rounded once, half away
//! from zero, to the fen ([`round_half_away`]). The band is decided on the exact ratio.

/// 3 % as a fraction: the band's edge.
const EDGE_PERCENT: i128 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Band {
    Within,
    Above,
    Below,
}

impl Band {
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Within => "within",
            Band::Above => "above",
            Band::Below => "below",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Band::Within, Band::Above, Band::Below]
            .into_iter()
            .find(|b| b.as_str() == s)
    }
}

/// A contract's area difference, if the buyer keeps the home.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Difference {
    pub band: Band,
    /// (measured − contract) / contract in parts per million, rounded (display only).
    pub error_ratio_ppm: i64,
    /// Positive: the buyer pays; negative: the buyer is refunded (fen).
    pub buyer_minor: i64,
    /// Above +3 %: the value of the area beyond 3 %, which the developer bears (fen).
    pub developer_bears_minor: i64,
}

impl Difference {
    /// Beyond ±3 % the buyer may cancel the contract instead.
    pub fn buyer_may_cancel(&self) -> bool {
        self.band != Band::Within
    }
}

/// `numerator / denominator` rounded half away from zero; `denominator` > 0.
pub fn round_half_away(numerator: i128, denominator: i128) -> i128 {
    debug_assert!(denominator > 0);
    let half_up = |n: i128| (2 * n + denominator) / (2 * denominator);
    if numerator >= 0 {
        half_up(numerator)
    } else {
        -half_up(-numerator)
    }
}

/// The area difference of a contract of `contract_cm2` at `price_minor`, surveyed at
/// `measured_cm2`. All three are positive (validated where they enter); amounts fit in i64
/// for any price and area the services accept.
pub fn assess(contract_cm2: i64, measured_cm2: i64, price_minor: i64) -> Difference {
    let c = i128::from(contract_cm2);
    let p = i128::from(price_minor);
    let d = i128::from(measured_cm2) - c;
    let error_ratio_ppm = round_half_away(d * 1_000_000, c) as i64;
    // |d| / c against 3 / 100, exactly.
    let band = if d * 100 > EDGE_PERCENT * c {
        Band::Above
    } else if -d * 100 > EDGE_PERCENT * c {
        Band::Below
    } else {
        Band::Within
    };
    let (buyer, bears) = match band {
        // d · P / C: the difference at the unit price.
        Band::Within => (round_half_away(d * p, c), 0),
        // The buyer pays 3 % of the contract area at the unit price, i.e. 3 % of the price;
        // the developer bears (d − 3 % C) · P / C = P (100 d − 3 C) / (100 C).
        Band::Above => (
            round_half_away(EDGE_PERCENT * p, 100),
            round_half_away(p * (100 * d - EDGE_PERCENT * c), 100 * c),
        ),
        // Refunded 3 % C · P / C plus double (|d| − 3 % C) · P / C, i.e. P (200 |d| − 3 C) / (100 C).
        Band::Below => (
            -round_half_away(p * (200 * -d - EDGE_PERCENT * c), 100 * c),
            0,
        ),
    };
    Difference {
        band,
        error_ratio_ppm,
        buyer_minor: buyer as i64,
        developer_bears_minor: bears as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 m² for 3,000,000.00 yuan: a round unit price of 30,000.00 yuan per m² (3 yuan per cm²).
    const C: i64 = 1_000_000;
    const ROUND: i64 = 300_000_000;
    /// 89.37 m² for 2,718,281.83 yuan: a unit price that is no whole number of fen.
    const C2: i64 = 893_700;
    const ODD: i64 = 271_828_183;

    fn at(contract: i64, delta: i64, price: i64) -> Difference {
        assess(contract, contract + delta, price)
    }

    #[test]
    fn no_difference_settles_nothing() {
        let d = at(C, 0, ROUND);
        assert_eq!(
            (d.band, d.buyer_minor, d.developer_bears_minor),
            (Band::Within, 0, 0)
        );
        assert!(!d.buyer_may_cancel());
    }

    #[test]
    fn exactly_three_percent_is_within_and_settled_at_the_unit_price() {
        // +3 %: 30,000 cm² × 3 yuan = 90,000.00 yuan; −3 % the same back.
        let up = at(C, 30_000, ROUND);
        assert_eq!((up.band, up.buyer_minor), (Band::Within, 9_000_000));
        assert_eq!(up.error_ratio_ppm, 30_000);
        let down = at(C, -30_000, ROUND);
        assert_eq!((down.band, down.buyer_minor), (Band::Within, -9_000_000));
        assert!(!up.buyer_may_cancel() && !down.buyer_may_cancel());
    }

    #[test]
    fn just_beyond_three_percent_the_buyer_may_cancel() {
        // +3.01 %: the buyer pays 3 % of the price; the developer bears 0.01 % (100 cm²).
        let up = at(C, 30_100, ROUND);
        assert_eq!(up.band, Band::Above);
        assert!(up.buyer_may_cancel());
        assert_eq!(up.buyer_minor, 9_000_000);
        assert_eq!(up.developer_bears_minor, 30_000);
        // −3.01 %: 3 % refunded single (90,000.00), 0.01 % double (2 × 300.00).
        let down = at(C, -30_100, ROUND);
        assert_eq!(down.band, Band::Below);
        assert_eq!(down.buyer_minor, -(9_000_000 + 60_000));
        assert_eq!(down.developer_bears_minor, 0);
    }

    #[test]
    fn one_square_centimetre_past_the_edge_changes_band() {
        assert_eq!(at(C, 30_001, ROUND).band, Band::Above);
        assert_eq!(at(C, -30_001, ROUND).band, Band::Below);
        // Below −3 % by 1 cm²: 3 % single, and 1 cm² (3 yuan) double beyond.
        assert_eq!(at(C, -30_001, ROUND).buyer_minor, -(9_000_000 + 600));
    }

    #[test]
    fn large_errors_both_ways() {
        // +10 %: the buyer still pays 3 %; the developer bears 7 % (210,000.00 yuan).
        let up = at(C, 100_000, ROUND);
        assert_eq!(
            (up.buyer_minor, up.developer_bears_minor),
            (9_000_000, 21_000_000)
        );
        // −10 %: 3 % single (90,000.00) + 7 % double (420,000.00).
        let down = at(C, -100_000, ROUND);
        assert_eq!(down.buyer_minor, -51_000_000);
        // −50 %: 3 % + 2 × 47 % = 97 % of the price.
        assert_eq!(at(C, -500_000, ROUND).buyer_minor, -291_000_000);
    }

    #[test]
    fn a_non_round_unit_price_is_rounded_once_half_away_from_zero() {
        // Within: 1,234 cm² × 271,828,183 / 893,700 = 375,333.98… fen → 375,334.
        let d = at(C2, 1_234, ODD);
        assert_eq!(d.band, Band::Within);
        assert_eq!(d.buyer_minor, 375_334);
        assert_eq!(at(C2, -1_234, ODD).buyer_minor, -375_334);
        // +3 % exactly: 26,811 cm² is 3 % of 893,700; 3 % of the price is 8,154,845.49 → …845.
        let edge = at(C2, 26_811, ODD);
        assert_eq!(edge.band, Band::Within);
        assert_eq!(edge.buyer_minor, 8_154_845);
        // 26,812 cm² is beyond: the buyer pays 3 % of the price, rounded once.
        let beyond = at(C2, 26_812, ODD);
        assert_eq!(beyond.band, Band::Above);
        assert_eq!(beyond.buyer_minor, 8_154_845);
        // The developer bears 1 cm²'s value: 271,828,183 / 893,700 = 304.16… fen → 304.
        assert_eq!(beyond.developer_bears_minor, 304);
        // −3 % − 1 cm²: 3 % single (8,154,845.49) + 1 cm² double (608.32…) = 8,155,453.81… → 54.
        assert_eq!(at(C2, -26_812, ODD).buyer_minor, -8_155_454);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_half_away(5, 10), 1);
        assert_eq!(round_half_away(-5, 10), -1);
        assert_eq!(round_half_away(4, 10), 0);
        assert_eq!(round_half_away(-4, 10), 0);
        assert_eq!(round_half_away(15, 10), 2);
    }

    #[test]
    fn the_largest_inputs_do_not_overflow() {
        // 100,000 m² at the largest money the services take (10^15 fen).
        let d = assess(1_000_000_000, 2_000_000_000, 1_000_000_000_000_000);
        assert_eq!(d.band, Band::Above);
        assert_eq!(d.buyer_minor, 30_000_000_000_000);
    }
}
