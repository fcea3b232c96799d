//! What maintenance learns from other services' events (each applied through the inbox), and
//! its clock sweeper.

pub mod clocks;
pub mod handover;
pub mod sales;
