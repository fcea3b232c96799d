//! Complaints' background work: the clock sweeper ([`clocks`]) and what it learns from sales
//! ([`sales`]: the unit directory and the projects' time zones).

pub mod clocks;
pub mod sales;
