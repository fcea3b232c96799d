//! Time on the wire: `google.protobuf.Timestamp`, always UTC; and a project's own clock.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A project's time zone, which decides what its days are: a top-up due on a date lapses at
/// that date's end there, a charge due on a date is due until that date ends there, a
/// handover window opens at its first day's midnight there (DOMAIN.md §4: "the project's time
/// zone decides what a working day is"). From the tz database, so offsets and daylight saving
/// are those of the place; China Standard Time unless the project sets another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProjectZone(Tz);

impl ProjectZone {
    /// The zone of projects that set none.
    pub const DEFAULT_NAME: &'static str = "Asia/Shanghai";

    /// A tz database name (`Asia/Shanghai`, `Europe/London`); `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Self> {
        name.parse::<Tz>().ok().map(Self)
    }

    /// The zone named, or the default for an empty or unknown name (events of earlier
    /// releases carry none).
    pub fn or_default(name: &str) -> Self {
        Self::parse(name).unwrap_or(Self(chrono_tz::Asia::Shanghai))
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The instant `date` begins in the project (its first instant when a clock change skips
    /// midnight).
    pub fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_time(NaiveTime::MIN);
        let local = self.0.from_local_datetime(&midnight);
        let start = local.earliest().unwrap_or_else(|| {
            // Midnight skipped by a clock change: the day starts at the first hour that exists.
            (1..=3)
                .find_map(|h| {
                    self.0
                        .from_local_datetime(&(midnight + chrono::Duration::hours(h)))
                        .earliest()
                })
                .expect("a clock change skips less than three hours")
        });
        start.with_timezone(&Utc)
    }

    /// The instant of local wall-clock `minute` (from midnight, up to 1440) on `date`; a
    /// minute skipped by a clock change is taken as the first that exists after it.
    pub fn at_minute(&self, date: NaiveDate, minute: u32) -> DateTime<Utc> {
        let local = date.and_time(NaiveTime::MIN) + chrono::Duration::minutes(i64::from(minute));
        (0..=180)
            .find_map(|skip| {
                self.0
                    .from_local_datetime(&(local + chrono::Duration::minutes(skip)))
                    .earliest()
            })
            .expect("a clock change skips less than three hours")
            .with_timezone(&Utc)
    }

    /// The last instant (to the second) of `date` in the project.
    pub fn end_of(&self, date: NaiveDate) -> DateTime<Utc> {
        let next = date.succ_opt().unwrap_or(date);
        self.start_of(next) - chrono::Duration::seconds(1)
    }

    /// The project's day at `at`.
    pub fn date_of(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.0).date_naive()
    }

    /// Today in the project.
    pub fn today(&self) -> NaiveDate {
        Utc::now().with_timezone(&self.0).date_naive()
    }
}

/// A wire timestamp as an instant; `None` when it names none (out of range). Negative
/// nanoseconds count as zero.
pub fn from_timestamp(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
}

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// How long a clock sweeper sleeps before it looks again: until `next`, the earliest instant a
/// clock it knows of fires, but at least `least` (one already due: a short pause, not a busy
/// loop) and at most `most` (a clock written meanwhile is found within it). With no clock
/// running at all it sleeps `most`: an idle service does not poll its database.
pub fn sweep_wait(
    next: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    least: std::time::Duration,
    most: std::time::Duration,
) -> std::time::Duration {
    match next {
        None => most,
        Some(at) => (at - now).to_std().unwrap_or(least).clamp(least, most),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_projects_days_are_its_own() {
        let shanghai = ProjectZone::or_default("");
        assert_eq!(shanghai.name(), "Asia/Shanghai");
        // 2026-12-02 00:00 in UTC+8 is 2026-12-01 16:00 UTC.
        assert_eq!(
            shanghai.start_of(day("2026-12-02")).to_rfc3339(),
            "2026-12-01T16:00:00+00:00"
        );
        assert_eq!(
            shanghai.end_of(day("2026-12-01")).to_rfc3339(),
            "2026-12-01T15:59:59+00:00"
        );
        // London keeps GMT in winter and BST (UTC+1) in summer.
        let london = ProjectZone::parse("Europe/London").unwrap();
        assert_eq!(
            london.start_of(day("2026-12-02")).to_rfc3339(),
            "2026-12-02T00:00:00+00:00"
        );
        assert_eq!(
            london.start_of(day("2026-07-02")).to_rfc3339(),
            "2026-07-01T23:00:00+00:00"
        );
        // Santiago skips midnight when it moves to summer time (2026-09-06): the day starts
        // at 01:00 local.
        let santiago = ProjectZone::parse("America/Santiago").unwrap();
        assert_eq!(
            santiago.start_of(day("2026-09-06")).to_rfc3339(),
            "2026-09-06T04:00:00+00:00"
        );
        assert!(ProjectZone::parse("Mars/Olympus").is_none());
    }

    #[test]
    fn a_sweeper_sleeps_until_its_next_clock_and_long_when_none_runs() {
        use std::time::Duration;
        let now: DateTime<Utc> = "2026-12-05T08:00:00Z".parse().unwrap();
        let (least, most) = (Duration::from_millis(20), Duration::from_millis(250));
        // No clock: the longest sleep, not a busy poll.
        assert_eq!(sweep_wait(None, now, least, most), most);
        // Already due: a short pause.
        let past = now - chrono::Duration::seconds(5);
        assert_eq!(sweep_wait(Some(past), now, least, most), least);
        // Due in 100 ms: exactly then; in an hour: the longest sleep.
        let soon = now + chrono::Duration::milliseconds(100);
        assert_eq!(
            sweep_wait(Some(soon), now, least, most),
            Duration::from_millis(100)
        );
        let later = now + chrono::Duration::hours(1);
        assert_eq!(sweep_wait(Some(later), now, least, most), most);
    }
}
