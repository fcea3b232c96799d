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

/// A work order's two clocks as stored: when each is due, whether it was met, warned or
/// breached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clocks {
    pub respond_by: Option<DateTime<Utc>>,
    pub responded_at: Option<DateTime<Utc>>,
    pub respond_warned: bool,
    pub respond_breached: bool,
    pub on_site_by: Option<DateTime<Utc>>,
    pub on_site_at: Option<DateTime<Utc>>,
    pub on_site_warned: bool,
    pub on_site_breached: bool,
    /// The developer's deadline for a repair plan, when it set one, and when a plan came.
    pub plan_by: Option<DateTime<Utc>>,
    pub plan_at: Option<DateTime<Utc>>,
    pub plan_warned: bool,
    pub plan_breached: bool,
    pub warn_before: Duration,
}

/// What a clock does when it comes due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firing {
    Warn,
    Breach,
}

/// The clocks by name: `respond` (accept or decline), `on_site` (check in) and `plan` (a
/// repair plan proposed).
pub const RESPOND: &str = "respond";
pub const ON_SITE: &str = "on_site";
pub const PLAN: &str = "plan";

/// One clock as [`Clocks::each`] lists it: name, deadline, when its step was done, warned,
/// breached.
type Entry = (
    &'static str,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    bool,
    bool,
);

impl Clocks {
    fn each(&self) -> [Entry; 3] {
        [
            (
                RESPOND,
                self.respond_by,
                self.responded_at,
                self.respond_warned,
                self.respond_breached,
            ),
            (
                ON_SITE,
                self.on_site_by,
                self.on_site_at,
                self.on_site_warned,
                self.on_site_breached,
            ),
            (
                PLAN,
                self.plan_by,
                self.plan_at,
                self.plan_warned,
                self.plan_breached,
            ),
        ]
    }

    /// The warnings and breaches due at `now` that have not fired: each clock warns once when
    /// its warning window opens and is breached once just after its deadline, unless its step
    /// was done in time. A clock already past its deadline is breached without a warning
    /// first, and so is one whose step came late before the sweeper saw the deadline pass: a
    /// contractor answering a moment late is in breach as much as one that never answers.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<(&'static str, Firing, DateTime<Utc>)> {
        let mut due = Vec::new();
        for (name, by, done_at, warned, breached) in self.each() {
            let Some(by) = by else { continue };
            match clock(by, done_at, now, self.warn_before) {
                Clock::Breached | Clock::Met { late: true } if !breached => {
                    due.push((name, Firing::Breach, by))
                }
                Clock::Warning if !warned => due.push((name, Firing::Warn, by)),
                _ => {}
            }
        }
        due
    }

    /// Records `firing` of clock `name`.
    pub fn fired(&mut self, name: &str, firing: Firing) {
        let (warned, breached) = match name {
            RESPOND => (&mut self.respond_warned, &mut self.respond_breached),
            PLAN => (&mut self.plan_warned, &mut self.plan_breached),
            _ => (&mut self.on_site_warned, &mut self.on_site_breached),
        };
        *warned = true;
        if firing == Firing::Breach {
            *breached = true;
        }
    }

    /// When the sweeper must look again: the earliest warning or breach still to fire.
    pub fn next_at(&self) -> Option<DateTime<Utc>> {
        self.each()
            .into_iter()
            .filter_map(|(_, by, done_at, warned, breached)| {
                let by = by?;
                if breached || done_at.is_some_and(|done| done <= by) {
                    None
                } else if warned || done_at.is_some() {
                    Some(by + Duration::microseconds(1))
                } else {
                    Some(by - self.warn_before)
                }
            })
            .min()
    }

    /// Where clock `name` stands at `now`.
    pub fn state(&self, name: &str, now: DateTime<Utc>) -> Option<(DateTime<Utc>, Clock)> {
        let (by, done_at) = match name {
            RESPOND => (self.respond_by?, self.responded_at),
            PLAN => (self.plan_by?, self.plan_at),
            _ => (self.on_site_by?, self.on_site_at),
        };
        Some((by, clock(by, done_at, now, self.warn_before)))
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

    #[test]
    fn each_clock_warns_then_breaches_once_and_a_done_step_stops_it() {
        let assigned = at("2026-12-04T08:00:00Z");
        let d = Commitment::default().deadlines(assigned, Priority::Urgent, None);
        let mut c = Clocks {
            respond_by: Some(d.respond_by),
            on_site_by: Some(d.on_site_by),
            warn_before: Duration::minutes(10),
            ..Default::default()
        };
        assert_eq!(c.next_at(), Some(at("2026-12-04T08:20:00Z")));
        assert!(c.due(at("2026-12-04T08:19:59Z")).is_empty());
        let due = c.due(at("2026-12-04T08:20:00Z"));
        assert_eq!(due, vec![(RESPOND, Firing::Warn, d.respond_by)]);
        c.fired(RESPOND, Firing::Warn);
        assert!(c.due(at("2026-12-04T08:30:00Z")).is_empty());
        assert_eq!(c.due(at("2026-12-04T08:30:01Z")).len(), 1);
        // Skipped straight past both warnings: breached, and the on-site clock warned.
        let late = c.due(at("2026-12-04T08:55:00Z"));
        assert_eq!(
            late,
            vec![
                (RESPOND, Firing::Breach, d.respond_by),
                (ON_SITE, Firing::Warn, d.on_site_by)
            ]
        );
        c.fired(RESPOND, Firing::Breach);
        c.responded_at = Some(at("2026-12-04T08:56:00Z"));
        c.on_site_at = Some(at("2026-12-04T08:57:00Z"));
        assert!(c.due(at("2026-12-04T10:00:00Z")).is_empty());
        assert_eq!(c.next_at(), None);
        assert_eq!(
            c.state(RESPOND, at("2026-12-04T10:00:00Z")).unwrap().1,
            Clock::Met { late: true }
        );
        // A plan asked for by noon: warned, then met by a proposal.
        c.plan_by = Some(at("2026-12-04T12:00:00Z"));
        assert_eq!(c.next_at(), Some(at("2026-12-04T11:50:00Z")));
        assert_eq!(
            c.due(at("2026-12-04T11:55:00Z")),
            vec![(PLAN, Firing::Warn, at("2026-12-04T12:00:00Z"))]
        );
        c.fired(PLAN, Firing::Warn);
        c.plan_at = Some(at("2026-12-04T11:58:00Z"));
        assert!(c.due(at("2026-12-04T13:00:00Z")).is_empty());
        assert_eq!(c.next_at(), None);
    }

    #[test]
    fn a_step_done_a_moment_late_is_a_breach_even_before_the_sweeper_saw_the_deadline() {
        // Accepted one second after the deadline, before any sweep: the breach is still due
        // (the sweeper is asked to look at once), and fires once.
        let assigned = at("2026-12-04T08:00:00Z");
        let d = Commitment::default().deadlines(assigned, Priority::Urgent, None);
        let mut c = Clocks {
            respond_by: Some(d.respond_by),
            on_site_by: Some(d.on_site_by),
            respond_warned: true,
            responded_at: Some(at("2026-12-04T08:30:01Z")),
            warn_before: Duration::minutes(10),
            ..Default::default()
        };
        assert_eq!(c.next_at(), Some(at("2026-12-04T08:30:00.000001Z")));
        assert_eq!(
            c.due(at("2026-12-04T08:30:02Z")),
            vec![(RESPOND, Firing::Breach, d.respond_by)]
        );
        c.fired(RESPOND, Firing::Breach);
        assert!(c.due(at("2026-12-04T08:30:03Z")).is_empty());
        // Checked in at the on-site deadline itself: in time, nothing due.
        c.on_site_at = Some(d.on_site_by);
        assert!(c.due(at("2026-12-04T10:00:00Z")).is_empty());
        assert_eq!(c.next_at(), None);
    }
}
