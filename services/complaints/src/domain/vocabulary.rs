//! Complaints' vocabulary: each word as the wire numbers it and as it is stored.

use anju_proto::complaints as pb;
use serde::{Deserialize, Serialize};

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident: $pb:ident { $($variant:ident => $s:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }

            /// `None` for an unknown or unspecified wire value.
            pub fn from_wire(value: i32) -> Option<Self> {
                match pb::$pb::try_from(value).ok()? {
                    $(pb::$pb::$variant => Some($name::$variant),)*
                    _ => None,
                }
            }

            pub fn wire(self) -> i32 {
                match self { $($name::$variant => pb::$pb::$variant as i32),* }
            }

            /// The stored name's wire value (unspecified for an unknown name).
            pub fn wire_of(stored: &str) -> i32 {
                Self::parse(stored).map_or(0, Self::wire)
            }

            /// The allowed names, for an error message.
            pub fn names() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }
    };
}

vocabulary!(Channel: ComplaintChannel {
    Phone => "phone",
    Letter => "letter",
    Counter => "counter",
    Online => "online",
});

vocabulary!(Severity: Severity {
    Low => "low",
    Medium => "medium",
    High => "high",
    Urgent => "urgent",
});

vocabulary!(Category: ComplaintCategory {
    Quality => "quality",
    Fees => "fees",
    PropertyManagement => "property_management",
    Sales => "sales",
    Other => "other",
});

vocabulary!(Complainant: Complainant {
    Owner => "owner",
    Other => "other",
});

vocabulary!(
    /// The department a complaint is routed to.
    Queue: Queue {
        Maintenance => "maintenance",
        Finance => "finance",
        PropertyManagement => "property_management",
        Sales => "sales",
        CustomerService => "customer_service",
    }
);

vocabulary!(
    /// The steps a complaint's clocks count to.
    Target: Target {
        Acknowledge => "acknowledge",
        Route => "route",
        Resolve => "resolve",
        FollowUp => "follow_up",
    }
);

vocabulary!(Related: Related {
    WorkOrder => "work_order",
    Charge => "charge",
    Contract => "contract",
});

vocabulary!(Status: ComplaintStatus {
    Open => "open",
    Resolved => "resolved",
    Closed => "closed",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_and_wire_values_round_trip() {
        for q in Queue::ALL {
            assert_eq!(Queue::parse(q.as_str()), Some(*q));
            assert_eq!(Queue::from_wire(q.wire()), Some(*q));
            // serde writes the stored name.
            assert_eq!(serde_json::to_value(q).unwrap(), q.as_str());
        }
        assert_eq!(Category::from_wire(0), None);
        assert_eq!(Category::from_wire(99), None);
    }
}
