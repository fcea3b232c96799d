//! The ledger's periods (DOMAIN.md §3.8): a month for the repair report, a quarter for a
//! contractor's settlement statement, as days of the project's calendar; and averages kept
//! exact in hundredths.

use chrono::{Datelike, Months, NaiveDate};

/// A period as a half-open range of days: `[from, until)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub until: NaiveDate,
}

/// "YYYY-MM".
pub fn month(text: &str) -> Option<Period> {
    let from = NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d").ok()?;
    (text.trim().len() == 7).then_some(())?;
    Some(Period {
        from,
        until: from.checked_add_months(Months::new(1))?,
    })
}

/// "YYYY-Qn", n from 1 to 4.
pub fn quarter(text: &str) -> Option<Period> {
    let (year, q) = text.trim().split_once("-Q")?;
    let (year, q): (i32, u32) = (year.parse().ok()?, q.parse().ok()?);
    if !(1..=4).contains(&q) || !(2000..=2999).contains(&year) {
        return None;
    }
    let from = NaiveDate::from_ymd_opt(year, (q - 1) * 3 + 1, 1)?;
    Some(Period {
        from,
        until: from.checked_add_months(Months::new(3))?,
    })
}

/// The quarter's name of a day.
pub fn quarter_of(day: NaiveDate) -> String {
    format!("{}-Q{}", day.year(), (day.month() - 1) / 3 + 1)
}

/// `total / count` in hundredths, rounded half up; 0 for no count.
pub fn average_hundredths(total_hundredths: i64, count: i64) -> i64 {
    if count <= 0 {
        return 0;
    }
    (total_hundredths * 2 + count) / (count * 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn months_and_quarters_are_half_open_ranges_of_days() {
        assert_eq!(
            month("2026-12"),
            Some(Period {
                from: day("2026-12-01"),
                until: day("2027-01-01")
            })
        );
        assert_eq!(month("2026-13"), None);
        assert_eq!(month("2026-1"), None);
        assert_eq!(
            quarter("2026-Q4"),
            Some(Period {
                from: day("2026-10-01"),
                until: day("2027-01-01")
            })
        );
        assert_eq!(quarter("2026-Q1").unwrap().until, day("2026-04-01"));
        assert_eq!(quarter("2026-Q5"), None);
        assert_eq!(quarter("2026-4"), None);
        assert_eq!(quarter_of(day("2026-12-31")), "2026-Q4");
        assert_eq!(quarter_of(day("2027-01-01")), "2027-Q1");
    }

    #[test]
    fn averages_round_half_up_in_hundredths() {
        // Scores 4, 5, 4: 13 / 3 = 4.333… → 433.
        assert_eq!(average_hundredths(1300, 3), 433);
        // 4 and 5: 4.5 → 450; 1 / 8 = 0.125 → 13 (half up).
        assert_eq!(average_hundredths(900, 2), 450);
        assert_eq!(average_hundredths(100, 8), 13);
        assert_eq!(average_hundredths(100, 0), 0);
    }
}
