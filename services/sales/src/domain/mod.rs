//! Sales' rules, free of I/O: the purchase plan ([`plan`]), subscriptions and contracts as
//! state machines with their rules ([`deals`]), and who sees which personal data
//! ([`privacy`]).

pub mod deals;
pub mod plan;
pub mod privacy;
