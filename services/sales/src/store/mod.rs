//! Sales' SQL: the catalogue, customers, the unit inventory, subscriptions and contracts,
//! project policy, and identity numbers sealed at rest.

pub mod catalogue;
pub mod customers;
pub mod deals;
pub mod identity;
pub mod inventory;
pub mod policy;
