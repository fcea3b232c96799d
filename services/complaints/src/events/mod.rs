//! Complaints' background work: the clock sweeper ([`clocks`]). Sales' events feed the unit
//! directory (in `lib.rs`).

pub mod clocks;
