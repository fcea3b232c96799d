//! The owners' vote on using the special maintenance fund (DOMAIN.md §3.9), under either rule
//! a project selects, compared exactly in integers.
//!
//! - **Double two-thirds of the totals** (the seed; 2007 Measures for Special Maintenance
//!   Funds): owners holding at least 2/3 of the exclusive area and at least 2/3 of the
//!   headcount approve. "三分之二以上" includes two-thirds itself (Civil Code art. 1259).
//! - **Civil Code art. 278** (2021): owners holding at least 2/3 of the area and at least 2/3
//!   of the headcount take part; more than half (strictly) of the participating area and of
//!   the participating headcount approve.
//!
//! Headcount is one per owner, not per unit: an owner of several units counts once with all
//! their area, joint owners of a unit count once, and the developer counts once for all its
//! unsold units, whose area it votes (SPC interpretation on building ownership, 2009, arts.
//! 8–9). An abstention takes part but does not approve.

use std::collections::BTreeMap;

/// Which rule decides a project's fund votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    DoubleTwoThirdsOfTotals,
    CivilCode278,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Approve,
    Reject,
    Abstain,
}

/// Who may vote: every owner once, with the exclusive area (cm²) of all their units.
#[derive(Clone, Debug, Default)]
pub struct Electorate {
    area_of: BTreeMap<String, i64>,
}

impl Electorate {
    /// Adds a unit of `area_cm2` owned by `owner` (joint owners share one owner key; the
    /// developer's unsold units are all under its own key).
    pub fn add_unit(&mut self, owner: &str, area_cm2: i64) {
        *self.area_of.entry(owner.to_string()).or_default() += area_cm2;
    }

    pub fn owners(&self) -> i64 {
        self.area_of.len() as i64
    }

    pub fn area(&self) -> i64 {
        self.area_of.values().sum()
    }
}

/// The count of a vote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub participating_area: i64,
    pub participating_owners: i64,
    pub approving_area: i64,
    pub approving_owners: i64,
}

/// A ballot refused by the count.
#[derive(Debug, PartialEq, Eq)]
pub enum BallotError {
    /// The voter owns nothing in the building.
    NotAnOwner(String),
    /// The owner voted twice.
    Twice(String),
}

/// Counts `ballots` (owner, choice) against `electorate`: each owner once, with all their area.
pub fn tally(electorate: &Electorate, ballots: &[(&str, Choice)]) -> Result<Tally, BallotError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut t = Tally::default();
    for (owner, choice) in ballots {
        let area = *electorate
            .area_of
            .get(*owner)
            .ok_or_else(|| BallotError::NotAnOwner(owner.to_string()))?;
        if !seen.insert(*owner) {
            return Err(BallotError::Twice(owner.to_string()));
        }
        t.participating_area += area;
        t.participating_owners += 1;
        if *choice == Choice::Approve {
            t.approving_area += area;
            t.approving_owners += 1;
        }
    }
    Ok(t)
}

/// At least two-thirds: `part / whole ≥ 2/3`.
fn two_thirds(part: i64, whole: i64) -> bool {
    i128::from(part) * 3 >= i128::from(whole) * 2
}

/// More than half: `part / whole > 1/2`.
fn more_than_half(part: i64, whole: i64) -> bool {
    i128::from(part) * 2 > i128::from(whole)
}

/// Whether the vote carries under `rule`.
pub fn carried(rule: Rule, electorate: &Electorate, t: &Tally) -> bool {
    let (area, owners) = (electorate.area(), electorate.owners());
    match rule {
        Rule::DoubleTwoThirdsOfTotals => {
            two_thirds(t.approving_area, area) && two_thirds(t.approving_owners, owners)
        }
        Rule::CivilCode278 => {
            two_thirds(t.participating_area, area)
                && two_thirds(t.participating_owners, owners)
                && more_than_half(t.approving_area, t.participating_area)
                && more_than_half(t.approving_owners, t.participating_owners)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Choice::*, *};

    /// Six owners of 100 m² each (in cm²), one of them with a second unit of 100 m².
    fn building() -> Electorate {
        let mut e = Electorate::default();
        for owner in ["a", "b", "c", "d", "e", "f"] {
            e.add_unit(owner, 1_000_000);
        }
        e.add_unit("a", 1_000_000);
        e
    }

    #[test]
    fn an_owner_of_two_units_counts_once_with_both_areas() {
        let e = building();
        assert_eq!((e.owners(), e.area()), (6, 7_000_000));
        let t = tally(&e, &[("a", Approve)]).unwrap();
        assert_eq!((t.approving_owners, t.approving_area), (1, 2_000_000));
        assert_eq!(
            tally(&e, &[("a", Approve), ("a", Reject)]),
            Err(BallotError::Twice("a".into()))
        );
        assert_eq!(
            tally(&e, &[("z", Approve)]),
            Err(BallotError::NotAnOwner("z".into()))
        );
    }

    #[test]
    fn double_two_thirds_is_reached_at_exactly_two_thirds() {
        // Three owners of 100 m²: two approving are exactly 2/3 of heads and area.
        let mut e = Electorate::default();
        for owner in ["a", "b", "c"] {
            e.add_unit(owner, 1_000_000);
        }
        let rule = Rule::DoubleTwoThirdsOfTotals;
        let t = tally(&e, &[("a", Approve), ("b", Approve), ("c", Reject)]).unwrap();
        assert!(carried(rule, &e, &t));
        // One square centimetre less of approving area falls short.
        let mut short = Electorate::default();
        short.add_unit("a", 1_000_000);
        short.add_unit("b", 999_999);
        short.add_unit("c", 1_000_001);
        let t = tally(&short, &[("a", Approve), ("b", Approve)]).unwrap();
        assert!(!carried(rule, &short, &t));
    }

    #[test]
    fn double_two_thirds_needs_both_the_area_and_the_heads() {
        let e = building();
        let rule = Rule::DoubleTwoThirdsOfTotals;
        // a (200 m²), b, c approve: 400 of 700 m² (< 2/3) and 3 of 6 heads.
        let t = tally(&e, &[("a", Approve), ("b", Approve), ("c", Approve)]).unwrap();
        assert!(!carried(rule, &e, &t));
        // b, c, d, e approve: 4 of 6 heads (= 2/3) but 400 of 700 m² (< 2/3).
        let t = tally(
            &e,
            &[
                ("b", Approve),
                ("c", Approve),
                ("d", Approve),
                ("e", Approve),
            ],
        )
        .unwrap();
        assert!(!carried(rule, &e, &t));
        // a, b, c, d approve: 4 heads (= 2/3) and 500 of 700 m² (≥ 2/3).
        let t = tally(
            &e,
            &[
                ("a", Approve),
                ("b", Approve),
                ("c", Approve),
                ("d", Approve),
            ],
        )
        .unwrap();
        assert!(carried(rule, &e, &t));
    }

    #[test]
    fn civil_code_needs_two_thirds_taking_part_and_strictly_more_than_half_of_them() {
        let e = building();
        let rule = Rule::CivilCode278;
        // a, b, c, d take part: 4 of 6 heads, 500 of 700 m². Approvals: a and b = 2 of 4 heads
        // (exactly half: not more) and 300 of 500 m².
        let half = [
            ("a", Approve),
            ("b", Approve),
            ("c", Reject),
            ("d", Abstain),
        ];
        assert!(!carried(rule, &e, &tally(&e, &half).unwrap()));
        // a, b, c approve: 3 of 4 heads, 400 of 500 m².
        let more = [
            ("a", Approve),
            ("b", Approve),
            ("c", Approve),
            ("d", Abstain),
        ];
        assert!(carried(rule, &e, &tally(&e, &more).unwrap()));
        // Only three take part: 3 of 6 heads, under two-thirds, however they vote.
        let few = [("a", Approve), ("b", Approve), ("c", Approve)];
        assert!(!carried(rule, &e, &tally(&e, &few).unwrap()));
        // The same approvals do not carry the double two-thirds of the totals.
        assert!(!carried(
            Rule::DoubleTwoThirdsOfTotals,
            &e,
            &tally(&e, &more).unwrap()
        ));
    }

    #[test]
    fn an_abstention_takes_part_without_approving() {
        let e = building();
        let t = tally(&e, &[("b", Abstain)]).unwrap();
        assert_eq!(
            t,
            Tally {
                participating_area: 1_000_000,
                participating_owners: 1,
                approving_area: 0,
                approving_owners: 0
            }
        );
    }
}
