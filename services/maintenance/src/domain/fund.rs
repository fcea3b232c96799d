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

/// A fund use apportioned to the units by exclusive area, exact to the fen: each unit's share
/// rounded down, the fen left over given one each to the largest remainders (the earlier unit
/// first on a tie), so the shares add up to the amount. The developer pays its unsold units'
/// shares (DOMAIN.md §3.9).
pub fn apportion<K: Clone>(amount: i64, areas: &[(K, i64)]) -> Vec<(K, i64)> {
    let total: i128 = areas.iter().map(|(_, a)| i128::from(*a)).sum();
    if total <= 0 || amount <= 0 {
        return areas.iter().map(|(k, _)| (k.clone(), 0)).collect();
    }
    let mut shares: Vec<(K, i64, i128, usize)> = areas
        .iter()
        .enumerate()
        .map(|(i, (k, area))| {
            let exact = i128::from(amount) * i128::from(*area);
            (k.clone(), (exact / total) as i64, exact % total, i)
        })
        .collect();
    let left = amount - shares.iter().map(|(_, s, _, _)| s).sum::<i64>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| {
        shares[*b]
            .2
            .cmp(&shares[*a].2)
            .then(shares[*a].3.cmp(&shares[*b].3))
    });
    for i in order.into_iter().take(left as usize) {
        shares[i].1 += 1;
    }
    shares.into_iter().map(|(k, s, _, _)| (k, s)).collect()
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

    #[test]
    fn a_fund_use_is_shared_by_area_to_the_fen() {
        // 100.00 yuan over three equal units: 33.34, 33.33, 33.33.
        let shares = apportion(10_000, &[("a", 890_000), ("b", 890_000), ("c", 890_000)]);
        assert_eq!(shares, vec![("a", 3_334), ("b", 3_333), ("c", 3_333)]);
        // By area: 1 : 2 : 3 of 0.07 yuan → 1.166…, 2.333…, 3.5 → 1, 2, 4 (the fen to the largest
        // remainder).
        let shares = apportion(7, &[("a", 100), ("b", 200), ("c", 300)]);
        assert_eq!(shares, vec![("a", 1), ("b", 2), ("c", 4)]);
        assert_eq!(shares.iter().map(|(_, s)| s).sum::<i64>(), 7);
        assert_eq!(apportion(5, &[("a", 0)]), vec![("a", 0)]);
    }
}
