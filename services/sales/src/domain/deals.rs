//! Subscriptions (認購) and purchase contracts (購房合同) as state machines, and the rules
//! that decide them — free of I/O, unit-tested here.
//!
//! A subscription is `Pending` while only the small deposit is paid, `Confirmed` when the full
//! deposit is, `Lapsed` when the top-up date passes unpaid, `Contracted` once converted
//! (seed ① steps 5–6). A contract is `Signed` until it is `Cancelled`. The store moves a row
//! only from the state the transition leaves (a conditional UPDATE), so a replayed or late
//! command finds it already moved and cannot act twice.

use std::fmt;

use anju_kit::{Refusal, ServiceError, time::ProjectZone};
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

macro_rules! status {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($variant),* }

        impl $name {
            /// As the database stores it.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                match text.as_str() {
                    $($text => Ok(Self::$variant),)*
                    _ => Err(format!("unknown {} {text:?}", stringify!($name))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status! {
    /// Where a subscription stands.
    SubscriptionStatus { Pending = "pending", Confirmed = "confirmed", Lapsed = "lapsed", Contracted = "contracted" }
}

status! {
    /// Where a contract stands.
    ContractStatus { Signed = "signed", Cancelled = "cancelled" }
}

/// The coordinator's two ways out of `Pending`: the full deposit was paid, or the top-up date
/// passed unpaid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    Confirm,
    Lapse,
}

impl Settlement {
    pub fn method(self) -> &'static str {
        match self {
            Self::Confirm => "ConfirmSubscription",
            Self::Lapse => "LapseSubscription",
        }
    }

    /// The status the subscription moves to from `Pending`.
    pub fn target(self) -> SubscriptionStatus {
        match self {
            Self::Confirm => SubscriptionStatus::Confirmed,
            Self::Lapse => SubscriptionStatus::Lapsed,
        }
    }

    /// The unit's move: a confirmed subscription's unit is subscribed, a lapsed one's free.
    pub fn unit_move(self) -> (&'static str, &'static str) {
        match self {
            Self::Confirm => ("held", "subscribed"),
            Self::Lapse => ("held", "available"),
        }
    }

    /// When the subscription had already left `Pending`: repeating the settlement that
    /// happened is harmless; anything else is refused.
    pub fn repeat(self, subscription_id: Uuid, current: SubscriptionStatus) -> Result<(), Refusal> {
        if current == self.target() {
            return Ok(());
        }
        Err(Refusal::new(
            "SUBSCRIPTION_STATUS",
            format!(
                "subscription is {current}, it cannot become {}",
                self.target()
            ),
        )
        .with("subscription_id", subscription_id)
        .with("status", current))
    }
}

/// A deposit may not exceed 20 % of the main contract's value (Civil Code art. 586): the
/// full deposit against the subscription's price, compared exactly.
pub fn deposit_within_cap(full_deposit_minor: i64, price_minor: i64) -> bool {
    i128::from(full_deposit_minor) * 5 <= i128::from(price_minor)
}

/// The instant a top-up due on `due_on` lapses: the start of that day in the project's time
/// zone plus the project's grace (1440 minutes = the end of the due day).
pub fn lapses_at(due_on: NaiveDate, after_minutes: i32, zone: ProjectZone) -> DateTime<Utc> {
    zone.start_of(due_on) + chrono::Duration::minutes(i64::from(after_minutes))
}

/// A contract is signed only on a confirmed subscription: the full deposit paid (seed ①
/// step 6).
/// A buyer's rescission of the contract by law — the area error beyond ±3 % (Measures for
/// Sales of Commodity Housing art. 20; Supreme People's Court interpretation on
/// commodity-housing sales disputes art. 14): everything paid is refunded, with interest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rescission {
    /// Yearly interest on what was paid, in basis points.
    pub interest_bp: i32,
}

impl Rescission {
    pub fn refund_bp(&self) -> i32 {
        10_000
    }
}

pub fn may_sign(subscription_id: Uuid, status: SubscriptionStatus) -> Result<(), Refusal> {
    if status == SubscriptionStatus::Confirmed {
        return Ok(());
    }
    Err(Refusal::new(
        "SUBSCRIPTION_NOT_CONFIRMED",
        format!("subscription is {status}: a contract needs the full deposit paid"),
    )
    .with("subscription_id", subscription_id)
    .with("status", status)
    .zh("定金未付清，不能签约"))
}

/// How the price beyond the down payment is paid, as a contract states it.
pub struct Terms<'a> {
    pub method: &'a str,
    pub price_minor: i64,
    pub deposit_paid_minor: i64,
    pub down_payment_minor: i64,
    /// The developer's interest-free instalments.
    pub instalments_minor: &'a [i64],
}

impl Terms<'_> {
    /// The loan the contract expects from a bank (zero for a full payment or instalments),
    /// or the field that makes the terms impossible: the down payment covers the deposit
    /// already paid and not more than the price; a full payment pays the whole price;
    /// instalments pay exactly the rest; a mortgage has no developer instalments.
    pub fn loan(&self) -> Result<i64, ServiceError> {
        if self.down_payment_minor < self.deposit_paid_minor
            || self.down_payment_minor > self.price_minor
        {
            return Err(ServiceError::invalid(
                "down_payment",
                "must cover the deposit already paid and not exceed the price",
            ));
        }
        let remainder = self.price_minor - self.down_payment_minor;
        let instalment_total: i64 = self.instalments_minor.iter().sum();
        match self.method {
            "full_payment" if remainder != 0 => Err(ServiceError::invalid(
                "down_payment",
                "full payment pays the whole price",
            )),
            "instalments" if instalment_total != remainder => Err(ServiceError::invalid(
                "instalments",
                format!(
                    "must sum to the price less the down payment ({remainder} minor units), not {instalment_total}"
                ),
            )),
            "full_payment" | "instalments" => Ok(0),
            _ if !self.instalments_minor.is_empty() => Err(ServiceError::invalid(
                "instalments",
                "a mortgage has no developer instalments",
            )),
            _ => Ok(remainder),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deposit_is_at_most_a_fifth_of_the_price() {
        assert!(deposit_within_cap(47_000_000, 235_000_000));
        assert!(!deposit_within_cap(47_000_001, 235_000_000));
        // 20 % of 1 fen is 0.2 fen: only a zero deposit fits.
        assert!(deposit_within_cap(0, 1));
        assert!(!deposit_within_cap(1, 1));
        assert!(deposit_within_cap(i64::MAX / 5, i64::MAX));
    }

    #[test]
    fn an_unpaid_subscription_lapses_at_the_end_of_its_due_day_in_project_time() {
        let due = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let shanghai = ProjectZone::or_default("");
        // 2026-12-02 00:00 in UTC+8 is 2026-12-01 16:00 UTC.
        assert_eq!(
            lapses_at(due, 1440, shanghai).to_rfc3339(),
            "2026-12-01T16:00:00+00:00"
        );
        assert_eq!(
            lapses_at(due, 0, shanghai).to_rfc3339(),
            "2026-11-30T16:00:00+00:00"
        );
        let new_york = ProjectZone::parse("America/New_York").unwrap();
        assert_eq!(
            lapses_at(due, 1440, new_york).to_rfc3339(),
            "2026-12-02T05:00:00+00:00"
        );
    }

    #[test]
    fn a_settlement_repeats_harmlessly_and_refuses_the_other_way_out() {
        use SubscriptionStatus::*;
        let id = Uuid::nil();
        assert!(Settlement::Confirm.repeat(id, Confirmed).is_ok());
        assert!(Settlement::Lapse.repeat(id, Lapsed).is_ok());
        let refused = Settlement::Lapse.repeat(id, Confirmed).unwrap_err();
        assert_eq!(refused.reason, "SUBSCRIPTION_STATUS");
        assert!(Settlement::Confirm.repeat(id, Contracted).is_err());
        assert!(may_sign(id, Confirmed).is_ok());
        assert_eq!(
            may_sign(id, Pending).unwrap_err().reason,
            "SUBSCRIPTION_NOT_CONFIRMED"
        );
        assert_eq!(
            SubscriptionStatus::try_from("lapsed".to_string()),
            Ok(Lapsed)
        );
        assert!(ContractStatus::try_from("void".to_string()).is_err());
    }

    #[test]
    fn contract_terms_leave_the_rest_to_the_bank_or_the_instalments() {
        let terms = |method, down, instalments: &'static [i64]| Terms {
            method,
            price_minor: 1_000_000,
            deposit_paid_minor: 100_000,
            down_payment_minor: down,
            instalments_minor: instalments,
        };
        assert_eq!(
            terms("commercial_mortgage", 300_000, &[]).loan().ok(),
            Some(700_000)
        );
        assert_eq!(terms("full_payment", 1_000_000, &[]).loan().ok(), Some(0));
        assert_eq!(
            terms("instalments", 400_000, &[300_000, 300_000])
                .loan()
                .ok(),
            Some(0)
        );
        assert!(terms("instalments", 400_000, &[300_000]).loan().is_err());
        assert!(terms("full_payment", 900_000, &[]).loan().is_err());
        assert!(terms("commercial_mortgage", 50_000, &[]).loan().is_err());
        assert!(terms("commercial_mortgage", 300_000, &[1]).loan().is_err());
    }
}
