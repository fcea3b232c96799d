//! Sales' rules, free of I/O: the purchase plan ([`plan`]), who may serve a customer ([`customers`]), subscriptions and contracts as
//! state machines with their rules ([`deals`]), purchase eligibility ([`eligibility`]), and who sees which personal data
//! ([`privacy`]).

pub mod customers;
pub mod deals;
pub mod eligibility;
pub mod plan;
pub mod privacy;
