//! Handover's rules, free of I/O: the unit's move-in state machine ([`unit`]), the batch's
//! dates, plan and fees ([`batch`]), the two books ([`books`]) and the keys ([`keys`]).

pub mod batch;
pub mod books;
pub mod keys;
pub mod unit;
