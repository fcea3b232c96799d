//! Identifiers: UUIDv7 everywhere, and deterministic ids derived from a name so that a
//! replayed step produces the same id (request ids of saga commands, for instance).

use uuid::Uuid;

pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// A stable UUID (v5) for `name` within anju's namespace.
pub fn derived_id(name: &str) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6a1d_6f3e_0b5c_4b7a_9a42_5d0c_3e8f_a1b2);
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}
