//! Handover's rules, free of I/O: the unit's move-in state machine ([`unit`]) and the batch's
//! arithmetic — its dates and fees ([`batch`]), and the keys a unit has ([`keys`]).

pub mod batch;
pub mod keys;
pub mod unit;
