//! A work order's clocks (DOMAIN.md §3.2, §3.4), from the contractor's commitment *(seed ⑥,
//! defaults)*: respond within 30 minutes; on site within 1 hour for an urgent fault, 24 hours
//! otherwise; a repair plan by the developer's deadline. Each clock warns before it runs out
//! and is breached after.

use chrono::{DateTime, Duration, Utc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    Urgent,
    Normal,
}

/// What a contractor commits to (its contract's terms; these are the seed's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commitment {
    pub respond_within: Duration,
    pub on_site_urgent: Duration,
    pub on_site_normal: Duration,
    /// How long before a deadline its warning goes out.
    pub warn_before: Duration,
}

impl Default for Commitment {
    fn default() -> Self {
        Self {
            respond_within: Duration::minutes(30),
            on_site_urgent: Duration::hours(1),
            on_site_normal: Duration::hours(24),
            warn_before: Duration::minutes(10),
        }
    }
}

/// An order's deadlines, from the moment it was assigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    pub respond_by: DateTime<Utc>,
    pub on_site_by: DateTime<Utc>,
    /// The developer's deadline for a repair plan, when it set one.
    pub plan_by: Option<DateTime<Utc>>,
}

impl Commitment {
    pub fn deadlines(
        &self,
        assigned_at: DateTime<Utc>,
        priority: Priority,
        plan_by: Option<DateTime<Utc>>,
    ) -> Deadlines {
        let on_site = match priority {
            Priority::Urgent => self.on_site_urgent,
            Priority::Normal => self.on_site_normal,
        };
        Deadlines {
            respond_by: assigned_at + self.respond_within,
            on_site_by: assigned_at + on_site,
            plan_by,
        }
    }
}

/// Where one clock stands at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Done in time (or late: see [`clock`]).
    Met {
        late: bool,
    },
    Running,
    /// Within the warning window before the deadline.
    Warning,
    Breached,
}

/// A clock due `by`, done at `done_at` if it is, seen at `now`. The deadline itself is still
/// in time; a moment after it is a breach.
pub fn clock(
    by: DateTime<Utc>,
    done_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    warn_before: Duration,
) -> Clock {
    match done_at {
        Some(done) => Clock::Met { late: done > by },
        None if now > by => Clock::Breached,
        None if now >= by - warn_before => Clock::Warning,
        None => Clock::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_seeds_commitments_set_the_deadlines() {
        let c = Commitment::default();
        let assigned = at("2026-12-04T08:00:00Z");
        let urgent = c.deadlines(assigned, Priority::Urgent, None);
        assert_eq!(urgent.respond_by, at("2026-12-04T08:30:00Z"));
        assert_eq!(urgent.on_site_by, at("2026-12-04T09:00:00Z"));
        let normal = c.deadlines(assigned, Priority::Normal, Some(at("2026-12-10T00:00:00Z")));
        assert_eq!(normal.on_site_by, at("2026-12-05T08:00:00Z"));
        assert_eq!(normal.plan_by, Some(at("2026-12-10T00:00:00Z")));
    }

    #[test]
    fn a_clock_warns_before_its_deadline_and_is_breached_just_after() {
        let by = at("2026-12-04T08:30:00Z");
        let warn = Duration::minutes(10);
        let clock_at = |now| clock(by, None, at(now), warn);
        assert_eq!(clock_at("2026-12-04T08:19:59Z"), Clock::Running);
        assert_eq!(clock_at("2026-12-04T08:20:00Z"), Clock::Warning);
        assert_eq!(clock_at("2026-12-04T08:30:00Z"), Clock::Warning);
        assert_eq!(clock_at("2026-12-04T08:30:01Z"), Clock::Breached);
        let done = |d| clock(by, Some(at(d)), at("2026-12-05T00:00:00Z"), warn);
        assert_eq!(done("2026-12-04T08:30:00Z"), Clock::Met { late: false });
        assert_eq!(done("2026-12-04T08:30:01Z"), Clock::Met { late: true });
    }
}
