//! The statutory clocks counted from handover (DOMAIN.md §6.5):
//! - "submission": the developer submits the title documents within 60 days of handover
//!   (Measures for Sales of Commodity Housing art. 34);
//! - "title": a buyer without title 90 days after handover through the developer's fault makes
//!   the developer liable (Supreme People's Court interpretation on commodity-housing sales
//!   disputes).
//!
//! Each warns `warn_days` before its due day (the project's policy) and is breached once the
//! due day has ended in the project's time zone.

use anju_kit::time::ProjectZone;
use chrono::{DateTime, Days, NaiveDate, Utc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    Submission,
    Title,
    /// Not statutory: the days a buyer beyond ±3 % has to choose; unanswered, the buyer keeps
    /// the home.
    Choice,
}

impl Clock {
    pub fn as_str(self) -> &'static str {
        match self {
            Clock::Submission => "submission",
            Clock::Title => "title",
            Clock::Choice => "choice",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Clock::Submission, Clock::Title, Clock::Choice]
            .into_iter()
            .find(|c| c.as_str() == s)
    }

    /// Days from handover to the statutory due day.
    pub fn statutory_days(self) -> Option<u64> {
        match self {
            Clock::Submission => Some(60),
            Clock::Title => Some(90),
            Clock::Choice => None,
        }
    }
}

/// When a clock warns and falls due, as instants in the project's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub due_on: NaiveDate,
    pub warn_on: NaiveDate,
    /// The start of the warning day.
    pub warn_at: DateTime<Utc>,
    /// The end of the due day: breached from this instant.
    pub breach_at: DateTime<Utc>,
}

/// A clock due `days` after `from`, warning `warn_days` before.
pub fn deadline(from: NaiveDate, days: u64, warn_days: u64, zone: ProjectZone) -> Deadline {
    let due_on = from + Days::new(days);
    let warn_on = due_on - Days::new(warn_days.min(days));
    Deadline {
        due_on,
        warn_on,
        warn_at: zone.start_of(warn_on),
        breach_at: zone.start_of(due_on + Days::new(1)),
    }
}

/// The statutory deadline of `clock` for a unit handed over on `handed_over_on`.
pub fn statutory(
    clock: Clock,
    handed_over_on: NaiveDate,
    warn_days: u64,
    zone: ProjectZone,
) -> Option<Deadline> {
    Some(deadline(
        handed_over_on,
        clock.statutory_days()?,
        warn_days,
        zone,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn sixty_and_ninety_days_from_handover_in_the_project_zone() {
        let zone = ProjectZone::or_default("Asia/Shanghai");
        let s = statutory(Clock::Submission, day("2026-01-10"), 10, zone).unwrap();
        assert_eq!(s.due_on, day("2026-03-11"));
        assert_eq!(s.warn_on, day("2026-03-01"));
        // Midnight in Shanghai is 16:00 UTC the day before.
        assert_eq!(s.warn_at.to_rfc3339(), "2026-02-28T16:00:00+00:00");
        // Breached once 11 March has ended there, not a second earlier.
        assert_eq!(s.breach_at, zone.start_of(day("2026-03-12")));
        let t = statutory(Clock::Title, day("2026-01-10"), 15, zone).unwrap();
        assert_eq!(t.due_on, day("2026-04-10"));
        assert_eq!(t.warn_on, day("2026-03-26"));
        assert!(statutory(Clock::Choice, day("2026-01-10"), 1, zone).is_none());
    }

    #[test]
    fn a_warning_never_comes_before_the_clock_starts() {
        let zone = ProjectZone::or_default("");
        let d = deadline(day("2026-05-01"), 30, 90, zone);
        assert_eq!(d.warn_on, day("2026-05-01"));
    }
}
