//! What handover learns from the other services' events, each applied through the inbox.

pub mod finance;
pub mod sales;
