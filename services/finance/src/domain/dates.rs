//! Business dates ("YYYY-MM-DD") and months ("YYYY-MM") as the API carries them.
//!
//! A business date is the cashier's working day, not a timestamp: the day a payment is
//! booked to and closed with. Writes may be dated from 2000-01-01 up to tomorrow (UTC), which
//! covers every time zone's today; reads accept any well-formed date.

use anju_kit::validate::Validator;
use chrono::{Datelike, Days, Months, NaiveDate, Utc};

const EARLIEST: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date");

/// Parses exactly `YYYY-MM-DD` (no shorter fields, no time, no spaces).
pub fn parse_date(value: &str) -> Option<NaiveDate> {
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    (date.format("%Y-%m-%d").to_string() == value).then_some(date)
}

/// Parses exactly `YYYY-MM` into the month's first day and the next month's first day.
pub fn parse_month(value: &str) -> Option<(NaiveDate, NaiveDate)> {
    let first = parse_date(&format!("{value}-01"))?;
    (value.len() == 7).then_some(())?;
    Some((first, first.checked_add_months(Months::new(1))?))
}

pub fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// A business date a payment, refund or close may carry.
pub fn date_for_write(v: &mut Validator, field: &str, value: &str) -> NaiveDate {
    let latest = Utc::now().date_naive() + Days::new(1);
    date_between(v, field, value, latest)
}

/// A business date to read.
pub fn date_for_read(v: &mut Validator, field: &str, value: &str) -> NaiveDate {
    date_between(v, field, value, NaiveDate::MAX)
}

fn date_between(v: &mut Validator, field: &str, value: &str, latest: NaiveDate) -> NaiveDate {
    if value.is_empty() {
        v.violation(field, "is required");
        return EARLIEST;
    }
    match parse_date(value) {
        None => {
            v.violation(field, "must be a date YYYY-MM-DD");
            EARLIEST
        }
        Some(date) if date < EARLIEST || date > latest => {
            v.violation(
                field,
                format!(
                    "must be between {} and {}",
                    format_date(EARLIEST),
                    format_date(latest)
                ),
            );
            EARLIEST
        }
        Some(date) => date,
    }
}

/// A month to report on: returns its first day and the next month's first day.
pub fn month(v: &mut Validator, field: &str, value: &str) -> (NaiveDate, NaiveDate) {
    match parse_month(value) {
        Some((first, next)) if first.year() >= EARLIEST.year() => (first, next),
        Some(_) => {
            v.violation(field, "must not be before 2000-01");
            (EARLIEST, EARLIEST)
        }
        None if value.is_empty() => {
            v.violation(field, "is required");
            (EARLIEST, EARLIEST)
        }
        None => {
            v.violation(field, "must be a month YYYY-MM");
            (EARLIEST, EARLIEST)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_be_exactly_yyyy_mm_dd() {
        assert_eq!(
            parse_date("2026-03-14"),
            NaiveDate::from_ymd_opt(2026, 3, 14)
        );
        for bad in [
            "2026-3-14",
            "2026-02-30",
            "14/03/2026",
            "2026-03-14T00:00",
            " 2026-03-14",
            "",
            "+2026-03-14",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn months_span_their_days() {
        let (first, next) = parse_month("2026-12").unwrap();
        assert_eq!(format_date(first), "2026-12-01");
        assert_eq!(format_date(next), "2027-01-01");
        for bad in ["2026-13", "2026-1", "2026-01-01", "202601", ""] {
            assert_eq!(parse_month(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn writes_are_dated_from_2000_to_tomorrow() {
        let mut v = Validator::new();
        date_for_write(&mut v, "received_on", "2026-03-14");
        assert!(v.finish().is_ok());
        let far = format_date(Utc::now().date_naive() + Days::new(2));
        for (value, expected) in [
            ("", "is required"),
            ("1999-12-31", "must be between"),
            (far.as_str(), "must be between"),
            ("yesterday", "must be a date YYYY-MM-DD"),
        ] {
            let mut v = Validator::new();
            date_for_write(&mut v, "received_on", value);
            let Err(anju_kit::ServiceError::InvalidArgument(violations)) = v.finish() else {
                panic!("{value:?} accepted");
            };
            assert_eq!(violations[0].field, "received_on");
            assert!(
                violations[0].description.starts_with(expected),
                "{value:?}: {violations:?}"
            );
        }
    }
}
