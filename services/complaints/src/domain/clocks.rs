//! A complaint's clocks (DOMAIN.md §4.5): each counts business seconds towards one target.
//! Running, it has a due instant and a warning instant, computed from what is left of its
//! budget; paused (waiting on the owner), it keeps what it consumed and has neither; stopped,
//! it is met if it stopped at or before its due instant.

use chrono::{DateTime, Utc};

use super::{standard::Terms, vocabulary::Target};

/// When a running clock warns and falls due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub warn_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// A calendar with no working time for years: the clock never falls due within them.
fn never(from: DateTime<Utc>) -> DateTime<Utc> {
    from + chrono::Duration::days(10 * 366)
}

/// The schedule of a clock (re)started at `since` having consumed `consumed` business seconds.
pub fn schedule(terms: &Terms, target: Target, since: DateTime<Utc>, consumed: i64) -> Schedule {
    let (budget, warn) = terms.budget(target);
    let at = |seconds: i64| {
        terms
            .calendar
            .add(since, (seconds - consumed).max(0))
            .unwrap_or_else(|| never(since))
    };
    Schedule {
        warn_at: at(warn),
        due_at: at(budget),
    }
}

/// Business seconds consumed by a clock running since `since`, at `now`.
pub fn consumed(terms: &Terms, since: DateTime<Utc>, now: DateTime<Utc>, before: i64) -> i64 {
    before + terms.calendar.between(since, now)
}

/// Whether a clock stopping at `at` met its target: running, at or before its due instant;
/// paused, if it had not consumed more than its budget.
pub fn met(
    terms: &Terms,
    target: Target,
    at: DateTime<Utc>,
    due_at: Option<DateTime<Utc>>,
    consumed: i64,
) -> bool {
    match due_at {
        Some(due) => at <= due,
        None => consumed <= terms.budget(target).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        calendar::Calendar,
        standard::{Targets, Terms},
    };
    use anju_kit::time::ProjectZone;
    use chrono::NaiveDate;

    fn at(d: &str, h: u32, m: u32) -> DateTime<Utc> {
        let day = NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        ProjectZone::or_default("Asia/Shanghai").at_minute(day, h * 60 + m)
    }

    fn terms() -> Terms {
        Terms {
            calendar: Calendar::standard(),
            targets: Targets {
                acknowledge: 0,
                route: 60,
                resolve: 8 * 60,
                follow_up: 60,
            },
            warn_percent: 75,
            supervisor: "s".into(),
        }
    }

    #[test]
    fn a_pause_moves_the_due_instant_by_the_business_time_it_held() {
        let t = terms();
        // Friday 16:00, an 8-hour resolve target: due Monday 16:30 (2 h Friday, 3 h + 3 h
        // Monday morning and afternoon).
        let start = at("2026-09-11", 16, 0);
        let s = schedule(&t, Target::Resolve, start, 0);
        assert_eq!(s.due_at, at("2026-09-14", 16, 30));
        // Warned at 6 hours: Monday 13:30 + 1 h.
        assert_eq!(s.warn_at, at("2026-09-14", 14, 30));
        // Paused Friday 17:00 (1 h consumed) until Tuesday 10:00: due 7 h after Tuesday 10:00.
        let used = consumed(&t, start, at("2026-09-11", 17, 0), 0);
        assert_eq!(used, 3600);
        let resumed = schedule(&t, Target::Resolve, at("2026-09-15", 10, 0), used);
        assert_eq!(resumed.due_at, at("2026-09-16", 9, 30));
    }

    #[test]
    fn stopped_at_the_due_instant_is_met_a_second_later_missed() {
        let t = terms();
        let s = schedule(&t, Target::Route, at("2026-09-14", 9, 0), 0);
        assert!(met(&t, Target::Route, s.due_at, Some(s.due_at), 0));
        let late = s.due_at + chrono::Duration::seconds(1);
        assert!(!met(&t, Target::Route, late, Some(s.due_at), 0));
        // Stopped while paused: by what it consumed.
        assert!(met(&t, Target::Route, late, None, 3600));
        assert!(!met(&t, Target::Route, late, None, 3601));
    }

    #[test]
    fn a_zero_target_is_due_and_warned_at_once() {
        let t = terms();
        let sunday = at("2026-09-13", 22, 0);
        let s = schedule(&t, Target::Acknowledge, sunday, 0);
        assert_eq!((s.warn_at, s.due_at), (sunday, sunday));
    }
}
