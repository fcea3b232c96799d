//! Complaints' rules, pure: business time, the service level standard, routing, the clocks.

pub mod calendar;
pub mod clocks;
pub mod routing;
pub mod standard;
pub mod vocabulary;

/// An owner scoring the follow-up visit 1 or 2 (of 5) is unsatisfied: the complaint reopens
/// (DOMAIN.md §4.3: "an unsatisfied owner reopens it").
pub fn reopens(satisfaction: u32) -> bool {
    satisfaction <= 2
}
