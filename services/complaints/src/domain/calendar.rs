//! Business time (DOMAIN.md §4.5): a target of N business minutes is consumed only inside the
//! calendar's working intervals — hours per weekday, gaps such as lunch excluded, public
//! holidays closed, make-up working days (调休: a Saturday or Sunday declared a working day)
//! open with the make-up hours — in the calendar's time zone. The due instant is the earliest
//! instant at which the target is consumed: a target that runs out exactly at closing time is
//! due at closing time, not at the next opening; a zero target is due at its start.

use std::collections::BTreeSet;

use anju_kit::time::ProjectZone;
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Minutes from local midnight, `[start, end)`.
pub type Interval = (u32, u32);

/// The longest a search for working time looks ahead: a calendar open a few hours a year
/// still answers, one never open does not loop.
const HORIZON_DAYS: u64 = 3 * 366;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    pub time_zone: String,
    /// Monday first.
    pub week: [Vec<Interval>; 7],
    pub holidays: BTreeSet<NaiveDate>,
    pub make_up_days: BTreeSet<NaiveDate>,
    pub make_up_hours: Vec<Interval>,
}

impl Calendar {
    /// Monday to Friday 09:00–12:00 and 13:30–18:00, China Standard Time: anju's default.
    pub fn standard() -> Self {
        let day = vec![(9 * 60, 12 * 60), (13 * 60 + 30, 18 * 60)];
        Self {
            time_zone: ProjectZone::DEFAULT_NAME.into(),
            week: [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                Vec::new(),
                Vec::new(),
            ],
            holidays: BTreeSet::new(),
            make_up_days: BTreeSet::new(),
            make_up_hours: day,
        }
    }

    fn zone(&self) -> ProjectZone {
        ProjectZone::or_default(&self.time_zone)
    }

    /// The working intervals of a local day.
    pub fn intervals_on(&self, day: NaiveDate) -> &[Interval] {
        if self.holidays.contains(&day) {
            &[]
        } else if self.make_up_days.contains(&day) {
            &self.make_up_hours
        } else {
            &self.week[day.weekday().num_days_from_monday() as usize]
        }
    }

    /// The working windows of a local day, as instants.
    fn windows(&self, zone: ProjectZone, day: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        self.intervals_on(day)
            .iter()
            .map(|&(a, b)| (zone.at_minute(day, a), zone.at_minute(day, b)))
            .filter(|(a, b)| a < b)
            .collect()
    }

    /// The instant at which `seconds` of business time, counted from `from`, are consumed.
    /// `None` when the calendar has no such working time within three years.
    pub fn add(&self, from: DateTime<Utc>, seconds: i64) -> Option<DateTime<Utc>> {
        if seconds <= 0 {
            return Some(from);
        }
        let zone = self.zone();
        let mut left = seconds;
        let first = zone.date_of(from);
        for offset in 0..HORIZON_DAYS {
            let day = first.checked_add_days(Days::new(offset))?;
            for (open, close) in self.windows(zone, day) {
                if close <= from {
                    continue;
                }
                let start = open.max(from);
                let available = (close - start).num_seconds();
                if left <= available {
                    return Some(start + chrono::Duration::seconds(left));
                }
                left -= available;
            }
        }
        None
    }

    /// Business seconds between two instants (0 when `to` is not after `from`).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        let zone = self.zone();
        let (first, last) = (zone.date_of(from), zone.date_of(to));
        let mut total = 0;
        let mut day = first;
        while day <= last {
            for (open, close) in self.windows(zone, day) {
                let (a, b) = (open.max(from), close.min(to));
                if a < b {
                    total += (b - a).num_seconds();
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        total
    }

    /// What is wrong with the calendar, by field, if anything.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if ProjectZone::parse(&self.time_zone).is_none() {
            out.push(("calendar.time_zone".into(), "not a tz database name".into()));
        }
        for (i, day) in self.week.iter().enumerate() {
            if let Some(p) = interval_problem(day) {
                out.push((format!("calendar.week[{i}]"), p));
            }
        }
        if let Some(p) = interval_problem(&self.make_up_hours) {
            out.push(("calendar.make_up_hours".into(), p));
        }
        if self.week.iter().all(Vec::is_empty) {
            out.push((
                "calendar.week".into(),
                "a calendar needs working hours on some weekday".into(),
            ));
        }
        if !self.make_up_days.is_empty() && self.make_up_hours.is_empty() {
            out.push((
                "calendar.make_up_hours".into(),
                "make-up working days need working hours".into(),
            ));
        }
        if let Some(day) = self.holidays.intersection(&self.make_up_days).next() {
            out.push((
                "calendar.make_up_days".into(),
                format!("{day} is also a holiday"),
            ));
        }
        out
    }
}

/// At most four intervals a day, each inside the day, in order and apart.
fn interval_problem(intervals: &[Interval]) -> Option<String> {
    if intervals.len() > 4 {
        return Some("at most four intervals a day".into());
    }
    let mut last_end = 0;
    for (i, &(start, end)) in intervals.iter().enumerate() {
        if start >= end || end > 24 * 60 {
            return Some("each interval starts before it ends, within 0–1440 minutes".into());
        }
        if i > 0 && start < last_end {
            return Some("intervals in order, not overlapping".into());
        }
        last_end = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Local wall-clock time in Shanghai as an instant.
    fn at(s: &str) -> DateTime<Utc> {
        let (d, hm) = s.split_once(' ').unwrap();
        let (h, m) = hm.split_once(':').unwrap();
        ProjectZone::or_default("Asia/Shanghai").at_minute(
            day(d),
            h.parse::<u32>().unwrap() * 60 + m.parse::<u32>().unwrap(),
        )
    }

    fn china_2026() -> Calendar {
        let mut c = Calendar::standard();
        // National Day week 2026: 1–7 October closed; Saturday 10 October a make-up working day.
        c.holidays = (1..=7).map(|d| day(&format!("2026-10-0{d}"))).collect();
        c.make_up_days = [day("2026-10-10")].into();
        c
    }

    #[test]
    fn a_target_counts_only_working_minutes_and_skips_lunch() {
        let c = Calendar::standard();
        // Monday 11:00 + 2 business hours: 11:00–12:00, then 13:30–14:30.
        let due = c.add(at("2026-09-14 11:00"), 2 * 3600).unwrap();
        assert_eq!(due, at("2026-09-14 14:30"));
        assert_eq!(c.between(at("2026-09-14 11:00"), due), 2 * 3600);
    }

    #[test]
    fn a_target_running_out_at_closing_time_is_due_at_closing_time() {
        let c = Calendar::standard();
        let due = c.add(at("2026-09-14 17:00"), 3600).unwrap();
        assert_eq!(due, at("2026-09-14 18:00"));
        // One second more and it is due a second after the next opening.
        let next = c.add(at("2026-09-14 17:00"), 3601).unwrap();
        assert_eq!(next, at("2026-09-15 09:00") + chrono::Duration::seconds(1));
    }

    #[test]
    fn a_zero_target_is_due_at_its_start_even_outside_hours() {
        let c = Calendar::standard();
        let sunday = at("2026-09-13 22:00");
        assert_eq!(c.add(sunday, 0), Some(sunday));
    }

    #[test]
    fn across_a_weekend_a_holiday_week_and_a_make_up_saturday() {
        let c = china_2026();
        // Wednesday 30 September 17:00, 8 business hours (one working day).
        // 30 Sep 17:00–18:00 = 1 h; 1–7 Oct holidays; 8 Oct (Thu) 7.5 h → 6.5 h more needed
        // after 30 Sep: Thu 8 Oct gives 7.5 h, so due Thu 8 Oct at 09:00 + 7 h of work:
        // 09:00–12:00 (3 h) + 13:30–17:30 (4 h).
        let due = c.add(at("2026-09-30 17:00"), 8 * 3600).unwrap();
        assert_eq!(due, at("2026-10-08 17:30"));
        // Friday 9 October 16:00 + 4 h: 2 h on Friday, then Saturday 10 October is a make-up
        // working day: 09:00–11:00.
        let due = c.add(at("2026-10-09 16:00"), 4 * 3600).unwrap();
        assert_eq!(due, at("2026-10-10 11:00"));
        // Without the make-up day it would be Monday 12 October 11:00.
        let mut plain = c.clone();
        plain.make_up_days.clear();
        assert_eq!(
            plain.add(at("2026-10-09 16:00"), 4 * 3600).unwrap(),
            at("2026-10-12 11:00")
        );
        // And the holiday week counts nothing.
        assert_eq!(c.between(at("2026-10-01 00:00"), at("2026-10-08 00:00")), 0);
        assert_eq!(
            c.between(at("2026-10-10 00:00"), at("2026-10-11 00:00")),
            7 * 3600 + 1800
        );
    }

    #[test]
    fn a_calendar_in_another_zone_counts_its_own_hours() {
        let mut c = Calendar::standard();
        c.time_zone = "Europe/London".into();
        // 08:00 UTC on a summer Monday is 09:00 in London (BST): the day has just opened.
        let from = DateTime::parse_from_rfc3339("2026-06-15T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let due = c.add(from, 3600).unwrap();
        assert_eq!(due.to_rfc3339(), "2026-06-15T09:00:00+00:00");
    }

    #[test]
    fn a_calendar_never_open_has_no_due_instant() {
        let mut c = Calendar::standard();
        c.week = Default::default();
        assert_eq!(c.add(at("2026-09-14 09:00"), 60), None);
        assert!(!c.problems().is_empty());
    }

    #[test]
    fn bad_calendars_are_named_by_field() {
        let mut c = Calendar::standard();
        c.week[2] = vec![(600, 500)];
        c.make_up_days = [day("2026-10-10")].into();
        c.holidays = [day("2026-10-10")].into();
        c.time_zone = "Mars/Olympus".into();
        let fields: Vec<String> = c.problems().into_iter().map(|(f, _)| f).collect();
        assert!(fields.contains(&"calendar.week[2]".to_string()));
        assert!(fields.contains(&"calendar.make_up_days".to_string()));
        assert!(fields.contains(&"calendar.time_zone".to_string()));
        assert!(Calendar::standard().problems().is_empty());
    }
}
