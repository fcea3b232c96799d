//! The flows the coordinator drives (DOMAIN.md, "The cross-service flows").

pub mod complaint;
pub mod contract;
pub mod contractor_charge;
pub mod fund_use;
pub mod move_in;
pub mod subscription;
pub mod title;

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
    t.as_ref().and_then(anju_kit::time::from_timestamp)
}

/// An event as a consumer would receive it, for the flows' tests.
#[cfg(test)]
pub(crate) fn event<P: anju_proto::EventPayload>(payload: &P) -> anju_messaging::Event {
    use anju_proto::events::Envelope;
    let id = uuid::Uuid::now_v7().to_string();
    anju_messaging::Event::from_envelope(
        Envelope {
            event_id: id.clone(),
            event_type: P::EVENT_TYPE.into(),
            tenant_id: uuid::Uuid::now_v7().to_string(),
            correlation_id: id,
            payload: payload.encode_to_vec(),
            ..Default::default()
        },
        "test".into(),
        1,
    )
    .unwrap()
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
