//! Finance's SQL: charges, payments and refunds, the daily close, settlement groups and the
//! statements read from them. Row locks are taken in one order — charge, payment, cashier
//! day, settlement group — so concurrent commands serialize where they must and never
//! deadlock.

pub mod charges;
pub mod daily_close;
pub mod payments;
pub mod settlement;
pub mod statements;
