//! The flows the coordinator drives (DOMAIN.md, "The cross-service flows").

pub mod contract;
pub mod move_in;
pub mod subscription;

use anju_proto::common::Money;
use chrono::{DateTime, Utc};

/// A settlement group's parts: `subscription:<id>:deposit` → ("subscription", id, "deposit").
pub fn group_parts(group: &str) -> Option<(&str, &str, &str)> {
    let mut parts = group.splitn(3, ':');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

pub fn money(minor_units: i64, currency: &str) -> Option<Money> {
    Some(Money {
        minor_units,
        currency: currency.to_string(),
    })
}

pub use anju_kit::time::timestamp;

pub fn from_timestamp(t: Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
}

#[cfg(test)]
mod tests {
    #[test]
    fn group_names_split_into_flow_key_and_part() {
        assert_eq!(
            super::group_parts("subscription:abc:deposit"),
            Some(("subscription", "abc", "deposit"))
        );
        assert_eq!(super::group_parts("handover"), None);
    }
}
