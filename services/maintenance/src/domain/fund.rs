//! Using the special maintenance fund (DOMAIN.md §3.9): only for a common part whose
//! contractor's warranty has run out, after the owners' vote under the project's rule
//! ([`super::vote`]).

use anju_kit::Refusal;
use chrono::NaiveDate;

use super::{
    vote::Rule,
    warranty::{Component, last_day},
};

/// The rules as stored.
pub fn rule_name(rule: Rule) -> &'static str {
    match rule {
        Rule::DoubleTwoThirdsOfTotals => "double_two_thirds",
        Rule::CivilCode278 => "civil_code_278",
    }
}

pub fn parse_rule(name: &str) -> Rule {
    if name == "civil_code_278" {
        Rule::CivilCode278
    } else {
        Rule::DoubleTwoThirdsOfTotals
    }
}

/// The fund pays only for a part whose warranty has expired: while the contractor's runs, the
/// contractor repairs it (DOMAIN.md §3.9, §3.3).
pub fn may_use(
    component: Component,
    accepted_on: NaiveDate,
    design_life_years: u32,
    today: NaiveDate,
) -> Result<(), Refusal> {
    let until = last_day(
        accepted_on,
        component.contractor_period(),
        design_life_years,
    );
    if today <= until {
        return Err(Refusal::new(
            "FUND_PART_UNDER_WARRANTY",
            "the contractor's warranty still covers this part: it repairs it, not the fund",
        )
        .with("component", component.name())
        .with("contractor_until", until));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_fund_pays_from_the_day_after_the_contractors_warranty() {
        // Roof waterproofing: 5 years from 2020-06-30, the last day 2025-06-30.
        let roof = Component::RoofWaterproofing;
        let refused = may_use(roof, day("2020-06-30"), 50, day("2025-06-30")).unwrap_err();
        assert_eq!(refused.reason, "FUND_PART_UNDER_WARRANTY");
        assert!(may_use(roof, day("2020-06-30"), 50, day("2025-07-01")).is_ok());
        assert_eq!(
            parse_rule(rule_name(Rule::CivilCode278)),
            Rule::CivilCode278
        );
        assert_eq!(parse_rule("anything"), Rule::DoubleTwoThirdsOfTotals);
    }
}
