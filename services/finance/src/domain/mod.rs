//! Finance's rules, free of I/O: a charge's balance and the refusals around it ([`balance`]),
//! business dates ([`dates`]) and report figures that always sum ([`figures`]).

pub mod balance;
pub mod dates;
pub mod figures;
