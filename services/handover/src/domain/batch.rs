//! A handover batch's dates and fees (seed ⑧ 5.1; DOMAIN.md §2).

use chrono::{Duration, Months, NaiveDate};

/// Bounds of one inspection's record: its event must stay far below the bus's message size.
pub const MAX_DEFECTS: usize = 200;
pub const MAX_PHOTO_REFS: usize = 20;
pub const DEFECT_SEVERITIES: [&str; 3] = ["minor", "major", "critical"];

/// What a notice to a unit may be: the move-in notice with its fee list, a reminder, or the
/// call back to a re-inspection.
pub const NOTICE_KINDS: [&str; 3] = ["notice", "reminder", "reinspection"];

/// The handover plan is due a month before the window opens.
pub fn plan_due_on(window_start: NaiveDate) -> NaiveDate {
    window_start
        .checked_sub_months(Months::new(1))
        .unwrap_or(window_start)
}

/// The move-in notices go out two weeks before the window opens.
pub fn notices_due_on(window_start: NaiveDate) -> NaiveDate {
    window_start - Duration::days(14)
}

/// A fee in minor units: rate per m² × area (cm²) / 10 000 × `numerator / denominator`,
/// rounded half up to the fen; `None` past i64.
pub fn fee(rate_minor: i64, area_cm2: i64, numerator: i64, denominator: i64) -> Option<i64> {
    let exact = i128::from(rate_minor) * i128::from(area_cm2) * i128::from(numerator);
    let divisor = 10_000i128 * i128::from(denominator);
    i64::try_from((exact + divisor / 2) / divisor).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_half_up_to_the_fen() {
        // 3.50 yuan per m² and month × 89.1234 m² × 3 months = 935.7957 yuan → 935.80.
        assert_eq!(fee(350, 891_234, 3, 1), Some(93_580));
        // 5 % of 3,000 yuan per m² × 89.1234 m² = 13,368.51 yuan.
        assert_eq!(fee(300_000, 891_234, 500, 10_000), Some(1_336_851));
        assert_eq!(fee(i64::MAX, i64::MAX, 1, 1), None);
    }

    #[test]
    fn the_plan_is_due_a_month_and_the_notices_two_weeks_before_the_window() {
        let start = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        assert_eq!(plan_due_on(start).to_string(), "2026-02-28");
        assert_eq!(notices_due_on(start).to_string(), "2026-03-17");
    }
}
