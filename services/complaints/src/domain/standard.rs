//! The service level standard (等級服務標准, seed ④ 4.6.2; DOMAIN.md §4): a calendar and the
//! targets, in business minutes, for each step of a complaint per category × severity. A
//! complaint keeps a copy of the standard in force when it was recorded ([`Terms`]), so a
//! standard changed later never rewrites what was already measured.

use serde::{Deserialize, Serialize};

use super::{
    calendar::Calendar,
    vocabulary::{Category, Severity, Target},
};

/// Business minutes to each target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    pub acknowledge: u32,
    pub route: u32,
    pub resolve: u32,
    pub follow_up: u32,
}

/// The largest target: 100,000 business minutes (about 200 working days of 8 hours).
pub const MAX_TARGET_MINUTES: u32 = 100_000;

impl Targets {
    pub fn minutes(&self, target: Target) -> u32 {
        match target {
            Target::Acknowledge => self.acknowledge,
            Target::Route => self.route,
            Target::Resolve => self.resolve,
            Target::FollowUp => self.follow_up,
        }
    }

    /// anju's default for a severity: urgent complaints acknowledged within half an hour and
    /// resolved within a working day; low ones within half a day and a working week.
    pub fn default_for(severity: Severity) -> Self {
        let (acknowledge, route, resolve, follow_up) = match severity {
            Severity::Urgent => (30, 60, 8 * 60, 16 * 60),
            Severity::High => (60, 120, 16 * 60, 16 * 60),
            Severity::Medium => (120, 240, 24 * 60, 24 * 60),
            Severity::Low => (240, 480, 40 * 60, 40 * 60),
        };
        Self {
            acknowledge,
            route,
            resolve,
            follow_up,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standard {
    pub calendar: Calendar,
    /// Overrides of the defaults per category × severity.
    pub targets: Vec<(Category, Severity, Targets)>,
    pub warn_percent: u32,
    pub supervisor: String,
}

impl Default for Standard {
    fn default() -> Self {
        Self {
            calendar: Calendar::standard(),
            targets: Vec::new(),
            warn_percent: 80,
            supervisor: "customer service supervisor".into(),
        }
    }
}

impl Standard {
    /// The targets of a category × severity: the standard's own, else the default.
    pub fn targets_for(&self, category: Category, severity: Severity) -> Targets {
        self.targets
            .iter()
            .find(|(c, s, _)| *c == category && *s == severity)
            .map_or_else(|| Targets::default_for(severity), |(_, _, t)| *t)
    }

    /// What a complaint of this category × severity keeps of the standard.
    pub fn terms(&self, category: Category, severity: Severity) -> Terms {
        Terms {
            calendar: self.calendar.clone(),
            targets: self.targets_for(category, severity),
            warn_percent: self.warn_percent,
            supervisor: self.supervisor.clone(),
        }
    }
}

/// A complaint's copy of its standard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub calendar: Calendar,
    pub targets: Targets,
    pub warn_percent: u32,
    pub supervisor: String,
}

impl Terms {
    /// Business seconds to a target, and to its warning.
    pub fn budget(&self, target: Target) -> (i64, i64) {
        let total = i64::from(self.targets.minutes(target)) * 60;
        (total, total * i64::from(self.warn_percent) / 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_pair_overrides_the_default_and_others_keep_it() {
        let own = Targets {
            acknowledge: 5,
            route: 10,
            resolve: 20,
            follow_up: 30,
        };
        let standard = Standard {
            targets: vec![(Category::Quality, Severity::Urgent, own)],
            ..Standard::default()
        };
        assert_eq!(
            standard.targets_for(Category::Quality, Severity::Urgent),
            own
        );
        assert_eq!(
            standard.targets_for(Category::Fees, Severity::Urgent),
            Targets::default_for(Severity::Urgent)
        );
        let terms = standard.terms(Category::Quality, Severity::Urgent);
        // Warned at 80 % of 20 minutes: 16 minutes.
        assert_eq!(terms.budget(Target::Resolve), (1200, 960));
    }

    #[test]
    fn complaints_from_before_the_desk_get_the_default_standard_for_their_severity() {
        let migration = include_str!("../../migrations/20261205000003_earlier_complaints.sql");
        for severity in Severity::ALL {
            let prefix = format!("when '{}' then '", severity.as_str());
            let line = migration
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no terms for {severity:?} in the migration"));
            let json = line[prefix.len()..].trim_end_matches("'::jsonb");
            let terms: Terms = serde_json::from_str(json).unwrap();
            assert_eq!(terms, Standard::default().terms(Category::Other, *severity));
        }
    }
}
