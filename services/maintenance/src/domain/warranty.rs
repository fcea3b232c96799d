//! The warranty decision (DOMAIN.md §3.3, §3.10): whether a defect is repaired under warranty,
//! at whose cost, until when, and why — from two clocks.
//!
//! - The **contractor's** warranty runs from completion acceptance, for the statutory period of
//!   the component's class (Construction Quality Management Regulations art. 40).
//! - The **buyer's** warranty runs from handover, for the minimum of the 1998 rules on the
//!   quality warranty certificate (Measures for Sales of Commodity Housing art. 33), never
//!   ending before the contractor's, and longer where the tenant promises more.
//!
//! A period of N years or months from a day ends on the same date N years or months later:
//! the day of the event does not count and the last day of the period does (Civil Code arts.
//! 201, 203); a date that does not exist in the last month (31 August + 6 months) is that
//! month's last day. A heating or cooling season comes once a year, so N seasons are counted
//! as N years from the start.

use chrono::{Months, NaiveDate};

/// The components a repair concerns: a closed list, each in one warranty class of each clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Component {
    /// Foundations and main structure.
    Structure,
    RoofWaterproofing,
    /// Waterproofing of toilets, rooms and external walls; leaks of walls, kitchen and
    /// bathroom floors and basements.
    WallAndFloorLeaks,
    HeatingCooling,
    /// Leaks of water and drain pipes.
    PipeLeaks,
    PipeBlockage,
    /// Lamps, switches, sockets and wiring.
    Electrical,
    /// Plaster falling off, floors hollow or cracked.
    PlasterAndFloors,
    /// Doors, windows and their hardware.
    DoorsAndWindows,
    SanitaryWare,
}

/// How long a warranty lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Months(u32),
    Years(u32),
    /// Heating or cooling seasons (one a year).
    Seasons(u32),
    /// The building's design life (the project's; 50 years for an ordinary building).
    DesignLife,
}

/// The components as stored and as the API names them.
pub const COMPONENTS: [(Component, &str); 10] = [
    (Component::Structure, "structure"),
    (Component::RoofWaterproofing, "roof_waterproofing"),
    (Component::WallAndFloorLeaks, "wall_and_floor_leaks"),
    (Component::HeatingCooling, "heating_cooling"),
    (Component::PipeLeaks, "pipe_leaks"),
    (Component::PipeBlockage, "pipe_blockage"),
    (Component::Electrical, "electrical"),
    (Component::PlasterAndFloors, "plaster_and_floors"),
    (Component::DoorsAndWindows, "doors_and_windows"),
    (Component::SanitaryWare, "sanitary_ware"),
];

impl Component {
    pub fn name(self) -> &'static str {
        COMPONENTS
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("", |(_, n)| n)
    }

    pub fn parse(name: &str) -> Option<Self> {
        COMPONENTS.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }

    /// The contractor's statutory warranty from completion acceptance (Construction Quality
    /// Management Regulations art. 40): structure for its design life; roofing and the
    /// waterproofing of toilets, rooms and external walls 5 years; heating and cooling 2
    /// seasons; electrical, plumbing, equipment installation and decoration 2 years.
    pub fn contractor_period(self) -> Period {
        use Component::*;
        match self {
            Structure => Period::DesignLife,
            RoofWaterproofing | WallAndFloorLeaks => Period::Years(5),
            HeatingCooling => Period::Seasons(2),
            PipeLeaks | PipeBlockage | Electrical | PlasterAndFloors | DoorsAndWindows
            | SanitaryWare => Period::Years(2),
        }
    }

    /// The buyer's minimum warranty from handover (the 1998 rules on the quality warranty
    /// certificate): structure for its design life; roof waterproofing 3 years; leaks of walls,
    /// kitchen and bathroom floors, basements and pipes 1 year; plaster and floors 1 year;
    /// doors, windows and hardware 1 year; pipe blockage 2 months; heating and cooling 1
    /// season; sanitary ware 1 year; lamps and switches 6 months.
    pub fn buyer_minimum(self) -> Period {
        use Component::*;
        match self {
            Structure => Period::DesignLife,
            RoofWaterproofing => Period::Years(3),
            WallAndFloorLeaks | PipeLeaks | PlasterAndFloors | DoorsAndWindows | SanitaryWare => {
                Period::Years(1)
            }
            PipeBlockage => Period::Months(2),
            HeatingCooling => Period::Seasons(1),
            Electrical => Period::Months(6),
        }
    }
}

/// The last day of a `period` that starts with the event on `from` (inclusive).
pub fn last_day(from: NaiveDate, period: Period, design_life_years: u32) -> NaiveDate {
    let months = match period {
        Period::Months(n) => n,
        Period::Years(n) | Period::Seasons(n) => n * 12,
        Period::DesignLife => design_life_years * 12,
    };
    from.checked_add_months(Months::new(months))
        .unwrap_or(NaiveDate::MAX)
}

/// What the warranty decision is taken on.
#[derive(Clone, Debug)]
pub struct Facts {
    pub component: Component,
    /// The building's completion acceptance (竣工驗收).
    pub completed_on: NaiveDate,
    /// The unit's handover to the buyer; `None` for a common part or an unsold unit.
    pub handed_over_on: Option<NaiveDate>,
    /// The day the defect was reported.
    pub reported_on: NaiveDate,
    /// The project's design life, in years.
    pub design_life_years: u32,
    /// A longer buyer's warranty the tenant promises for this component, if any.
    pub promised: Option<Period>,
    /// The inspection found the owner (or a decorator the owner hired) caused the defect.
    pub owner_caused: bool,
}

/// Who pays for the repair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payer {
    /// The responsible contractor, under its warranty.
    Contractor,
    /// The developer, under the buyer's warranty after the contractor's has run out.
    Developer,
    /// Whoever caused it, outside warranty or by their own doing: billed to them.
    Caused,
}

/// The decision, with its two clocks and the reasons, as it is stored and shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub covered: bool,
    pub payer: Payer,
    pub contractor_until: NaiveDate,
    /// `None` where nobody took the unit over (a common part, an unsold unit).
    pub buyer_until: Option<NaiveDate>,
    pub reasons: Vec<String>,
}

/// Decides a repair's warranty (DOMAIN.md §3.3, §3.10).
pub fn decide(f: &Facts) -> Decision {
    let component = f.component.name();
    let contractor_until = last_day(
        f.completed_on,
        f.component.contractor_period(),
        f.design_life_years,
    );
    let buyer_until = f.handed_over_on.map(|handed_over| {
        let minimum = last_day(
            handed_over,
            f.component.buyer_minimum(),
            f.design_life_years,
        );
        let promised = f
            .promised
            .map_or(minimum, |p| last_day(handed_over, p, f.design_life_years));
        minimum.max(promised).max(contractor_until)
    });
    let mut reasons = vec![format!(
        "{component}: the contractor's warranty from completion acceptance on {} runs until {contractor_until}",
        f.completed_on
    )];
    if let (Some(handed_over), Some(until)) = (f.handed_over_on, buyer_until) {
        reasons.push(format!(
            "the buyer's warranty from handover on {handed_over} runs until {until}"
        ));
    }
    let (covered, payer) = if f.owner_caused {
        reasons.push("caused by the owner: billed to whoever caused it".into());
        (false, Payer::Caused)
    } else if f.reported_on <= contractor_until {
        reasons.push(format!(
            "reported on {} within the contractor's warranty: the contractor repairs at its cost",
            f.reported_on
        ));
        (true, Payer::Contractor)
    } else if buyer_until.is_some_and(|until| f.reported_on <= until) {
        reasons.push(format!(
            "reported on {} after the contractor's warranty, within the buyer's: the developer bears it",
            f.reported_on
        ));
        (true, Payer::Developer)
    } else {
        reasons.push(format!(
            "reported on {} outside every warranty: billed to whoever caused it",
            f.reported_on
        ));
        (false, Payer::Caused)
    };
    Decision {
        covered,
        payer,
        contractor_until,
        buyer_until,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn facts(component: Component, reported_on: &str) -> Facts {
        Facts {
            component,
            completed_on: day("2024-03-01"),
            handed_over_on: Some(day("2024-09-30")),
            reported_on: day(reported_on),
            design_life_years: 50,
            promised: None,
            owner_caused: false,
        }
    }

    #[test]
    fn a_period_ends_on_the_same_date_and_that_day_counts() {
        assert_eq!(
            last_day(day("2024-03-01"), Period::Years(2), 50),
            day("2026-03-01")
        );
        assert_eq!(
            last_day(day("2024-08-31"), Period::Months(6), 50),
            day("2025-02-28")
        );
        assert_eq!(
            last_day(day("2024-02-29"), Period::Years(1), 50),
            day("2025-02-28")
        );
        assert_eq!(
            last_day(day("2024-03-01"), Period::Seasons(2), 50),
            day("2026-03-01")
        );
        assert_eq!(
            last_day(day("2024-03-01"), Period::DesignLife, 50),
            day("2074-03-01")
        );
    }

    #[test]
    fn the_contractor_repairs_until_the_last_day_of_its_warranty_and_the_developer_after() {
        // Doors: contractor 2 years from 2024-03-01; buyer 1 year from 2024-09-30, but never
        // before the contractor's end.
        let on = |d| decide(&facts(Component::DoorsAndWindows, d));
        let last = on("2026-03-01");
        assert_eq!((last.covered, last.payer), (true, Payer::Contractor));
        assert_eq!(last.contractor_until, day("2026-03-01"));
        assert_eq!(last.buyer_until, Some(day("2026-03-01")));
        let after = on("2026-03-02");
        assert_eq!((after.covered, after.payer), (false, Payer::Caused));
    }

    #[test]
    fn the_buyers_warranty_outlasts_the_contractors_where_its_minimum_is_later() {
        // Roof waterproofing: contractor 5 years from 2024-03-01 (2029-03-01); buyer 3 years
        // from handover 2027-06-30 (2030-06-30).
        let mut f = facts(Component::RoofWaterproofing, "2029-03-01");
        f.handed_over_on = Some(day("2027-06-30"));
        assert_eq!(decide(&f).payer, Payer::Contractor);
        f.reported_on = day("2029-03-02");
        let d = decide(&f);
        assert_eq!((d.covered, d.payer), (true, Payer::Developer));
        assert_eq!(d.buyer_until, Some(day("2030-06-30")));
        f.reported_on = day("2030-06-30");
        assert_eq!(decide(&f).payer, Payer::Developer);
        f.reported_on = day("2030-07-01");
        assert_eq!(decide(&f).payer, Payer::Caused);
        assert!(!decide(&f).covered);
    }

    #[test]
    fn a_tenants_longer_promise_extends_the_buyers_clock_only() {
        // Lamps: contractor 2 years (2026-03-01); buyer 6 months from 2025-12-01, promised 1
        // year (2026-12-01).
        let mut f = facts(Component::Electrical, "2026-12-01");
        f.handed_over_on = Some(day("2025-12-01"));
        assert!(!decide(&f).covered);
        f.promised = Some(Period::Years(1));
        let d = decide(&f);
        assert_eq!((d.covered, d.payer), (true, Payer::Developer));
        assert_eq!(d.contractor_until, day("2026-03-01"));
        f.reported_on = day("2026-12-02");
        assert!(!decide(&f).covered);
    }

    #[test]
    fn an_owner_caused_defect_is_billed_whatever_the_clocks_say() {
        let mut f = facts(Component::PipeBlockage, "2024-10-01");
        f.owner_caused = true;
        let d = decide(&f);
        assert_eq!((d.covered, d.payer), (false, Payer::Caused));
        assert!(d.reasons.iter().any(|r| r.contains("caused by the owner")));
    }

    #[test]
    fn a_common_part_has_only_the_contractors_clock() {
        let mut f = facts(Component::HeatingCooling, "2026-03-01");
        f.handed_over_on = None;
        let d = decide(&f);
        assert_eq!((d.payer, d.buyer_until), (Payer::Contractor, None));
        f.reported_on = day("2026-03-02");
        assert_eq!(decide(&f).payer, Payer::Caused);
    }

    #[test]
    fn every_component_has_a_name_and_both_clocks() {
        for (component, name) in COMPONENTS {
            assert_eq!(Component::parse(name), Some(component));
            assert_eq!(component.name(), name);
            let completed = day("2024-01-01");
            assert!(last_day(completed, component.contractor_period(), 50) > completed);
            assert!(last_day(completed, component.buyer_minimum(), 50) > completed);
        }
    }
}
