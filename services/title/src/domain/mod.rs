//! Title's rules, pure: the area difference ([`area`]), the statutory clocks ([`clocks`]) and
//! what a unit's file waits for and may do next ([`file`]).

pub mod area;
pub mod clocks;
pub mod file;
