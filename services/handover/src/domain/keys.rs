//! Keys (seed ④ 4.5, ⑧ 5.1.8): a unit's five kinds — the owner's set handed over, one
//! emergency spare kept — and the building's public keys: door and window keys per floor and
//! equipment-room keys per installation, a working set and one emergency spare. Every key has
//! a tag and a row from the moment it arrives from the contractor; spares and working keys are
//! lent only with a registered reason, borrower and return time.

use anju_kit::Refusal;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// The kinds of key a unit has.
pub const UNIT_KINDS: [&str; 5] = [
    "security_door",
    "interior_door",
    "intercom_door",
    "water_meter_box",
    "mailbox",
];

/// A floor's public keys.
pub const FLOOR_KINDS: [&str; 2] = ["public_door", "window"];

/// An installation's key.
pub const INSTALLATION_KINDS: [&str; 1] = ["equipment_room"];

/// Why a key may be lent.
pub const LOAN_REASONS: [&str; 6] = [
    "repair",
    "decoration",
    "meter_reading",
    "inspection",
    "emergency",
    "cleaning",
];

/// The longest a key may be lent for.
pub const MAX_LOAN_DAYS: i64 = 90;

/// Whose key it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    Unit(Uuid),
    Floor(i32),
    Installation(String),
}

/// Whether `kind` in `set` is a key `holder` has: a unit's five kinds in the owner's set or
/// the spare; a floor's and an installation's kinds in the working set or the spare.
pub fn fits(holder: &Holder, kind: &str, set: &str) -> bool {
    match holder {
        Holder::Unit(_) => UNIT_KINDS.contains(&kind) && matches!(set, "owner" | "spare"),
        Holder::Floor(_) => FLOOR_KINDS.contains(&kind) && matches!(set, "working" | "spare"),
        Holder::Installation(_) => {
            INSTALLATION_KINDS.contains(&kind) && matches!(set, "working" | "spare")
        }
    }
}

/// The first of a unit's five kinds whose owner's set has not arrived (`received` lists the
/// kinds that did); the key release waits for it ([`crate::domain::unit::MoveIn::release`]).
pub fn first_missing(received: &[String]) -> Option<&'static str> {
    UNIT_KINDS
        .into_iter()
        .find(|kind| !received.iter().any(|r| r == kind))
}

/// The owner's set goes with the owner; only spares and working keys are lent.
pub fn lendable(tag: &str, set: &str) -> Result<(), Refusal> {
    if set == "owner" {
        return Err(Refusal::new(
            "KEY_NOT_LENDABLE",
            "the owner's keys are the owner's: only spare and working keys are lent",
        )
        .with("tag", tag));
    }
    Ok(())
}

/// A loan is due back after now and within [`MAX_LOAN_DAYS`].
pub fn due_back_valid(now: DateTime<Utc>, due: DateTime<Utc>) -> bool {
    due > now && due <= now + Duration::days(MAX_LOAN_DAYS)
}

/// A loan is overdue while the key is out past its return time.
pub fn overdue(now: DateTime<Utc>, due: DateTime<Utc>, back: Option<DateTime<Utc>>) -> bool {
    back.is_none() && now > due
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_holder_has_its_own_kinds_and_sets() {
        let unit = Holder::Unit(Uuid::nil());
        assert!(fits(&unit, "mailbox", "owner"));
        assert!(fits(&unit, "mailbox", "spare"));
        assert!(!fits(&unit, "mailbox", "working"));
        assert!(!fits(&unit, "window", "owner"));
        let floor = Holder::Floor(3);
        assert!(fits(&floor, "public_door", "working"));
        assert!(!fits(&floor, "public_door", "owner"));
        let room = Holder::Installation("pump room".into());
        assert!(fits(&room, "equipment_room", "spare"));
        assert!(!fits(&room, "window", "spare"));
    }

    #[test]
    fn the_first_owner_kind_not_arrived_is_named() {
        let mut received: Vec<String> = UNIT_KINDS[..4].iter().map(|k| k.to_string()).collect();
        assert_eq!(first_missing(&received), Some("mailbox"));
        received.push("mailbox".into());
        assert_eq!(first_missing(&received), None);
    }

    #[test]
    fn a_loan_is_overdue_only_while_out_past_its_time() {
        let now = Utc::now();
        assert!(!due_back_valid(now, now));
        assert!(due_back_valid(now, now + Duration::days(MAX_LOAN_DAYS)));
        assert!(!due_back_valid(
            now,
            now + Duration::days(MAX_LOAN_DAYS + 1)
        ));
        let due = now - Duration::seconds(1);
        assert!(overdue(now, due, None));
        assert!(!overdue(now, due, Some(now)));
        assert!(!overdue(now, now + Duration::hours(1), None));
    }
}
