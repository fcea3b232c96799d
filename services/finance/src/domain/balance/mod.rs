//! A charge's balance and the rules money obeys on it, free of I/O.
//!
//! - **Overpayment is refused, everywhere.** A payment larger than what is outstanding on its
//!   charge fails with FAILED_PRECONDITION naming the outstanding amount; nothing is written,
//!   no credit balance is kept, no change is carried to another charge. Money collected never
//!   moves to another purpose (DOMAIN §5.4), so the cashier takes the exact amount instead.
//! - A refund returns at most what its payment brought in, minus that payment's earlier refunds.
//! - A charge may be cancelled only while nothing is paid on it net of refunds; a cancelled
//!   charge owes nothing and takes no payment.
//! - Closing a settlement group waives the unpaid rest of a partly paid charge: its amount is
//!   lowered to what is paid net of refunds, so it is settled and the same bounds hold.
//!
//! The database's check constraints on `charges` state the same bounds, as a second fence.

use std::fmt;

use anju_kit::{Refusal, ServiceError};
use anju_proto::finance as pb;

/// A stored name that is not one of ours (a corrupt row, never a caller's input).
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownName {
    kind: &'static str,
    value: String,
}

/// Who owes whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The payer owes the developer.
    Receivable,
    /// The developer owes the payer.
    Payable,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receivable => "receivable",
            Self::Payable => "payable",
        }
    }

    pub fn to_proto(self) -> pb::ChargeDirection {
        match self {
            Self::Receivable => pb::ChargeDirection::Receivable,
            Self::Payable => pb::ChargeDirection::Payable,
        }
    }

    /// The direction of a new charge of `purpose` (a stored purpose name): the requested one,
    /// or the purpose's usual one when unspecified. Only owner compensation, a refund (of a
    /// closed settlement group) and an area difference (refunded when the measured area is
    /// smaller, DOMAIN §6.2) are owed by the developer; owner compensation and a refund are
    /// never owed to it.
    pub fn for_purpose(
        purpose: &str,
        requested: pb::ChargeDirection,
    ) -> Result<Self, &'static str> {
        let always_payable = matches!(purpose, "owner_compensation" | "refund");
        let payable_allowed = always_payable || purpose == "area_difference";
        match requested {
            pb::ChargeDirection::Unspecified if always_payable => Ok(Self::Payable),
            pb::ChargeDirection::Unspecified | pb::ChargeDirection::Receivable
                if !always_payable =>
            {
                Ok(Self::Receivable)
            }
            pb::ChargeDirection::Payable if payable_allowed => Ok(Self::Payable),
            pb::ChargeDirection::Payable => {
                Err("may be payable only for owner compensation, a refund or an area difference")
            }
            _ => Err("owner compensation and a refund are always payable"),
        }
    }
}

impl TryFrom<String> for Direction {
    type Error = UnknownName;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "receivable" => Ok(Self::Receivable),
            "payable" => Ok(Self::Payable),
            _ => Err(UnknownName {
                kind: "direction",
                value,
            }),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Open,
    Settled,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Settled => "settled",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn to_proto(self) -> pb::ChargeStatus {
        match self {
            Self::Open => pb::ChargeStatus::Open,
            Self::Settled => pb::ChargeStatus::Settled,
            Self::Cancelled => pb::ChargeStatus::Cancelled,
        }
    }
}

impl TryFrom<String> for Status {
    type Error = UnknownName;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "open" => Ok(Self::Open),
            "settled" => Ok(Self::Settled),
            "cancelled" => Ok(Self::Cancelled),
            _ => Err(UnknownName {
                kind: "status",
                value,
            }),
        }
    }
}

/// An amount in minor units of a currency, for messages: `30000 CNY minor units`.
pub struct Amount<'a>(pub i64, pub &'a str);

impl fmt::Display for Amount<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} minor units", self.0, self.1)
    }
}

/// The money state of one charge, in minor units of its currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balance {
    pub amount: i64,
    /// Payments applied, before refunds.
    pub paid: i64,
    pub refunded: i64,
    pub cancelled: bool,
}

impl Balance {
    pub fn new(amount: i64) -> Self {
        Self {
            amount,
            paid: 0,
            refunded: 0,
            cancelled: false,
        }
    }

    pub fn net_paid(&self) -> i64 {
        self.paid - self.refunded
    }

    /// What is owed: the amount unless cancelled.
    pub fn billed(&self) -> i64 {
        if self.cancelled { 0 } else { self.amount }
    }

    pub fn outstanding(&self) -> i64 {
        self.billed() - self.net_paid()
    }

    pub fn status(&self) -> Status {
        if self.cancelled {
            Status::Cancelled
        } else if self.outstanding() == 0 {
            Status::Settled
        } else {
            Status::Open
        }
    }

    /// Applies a payment of `amount`; refuses a cancelled charge and any overpayment.
    pub fn pay(self, amount: i64, currency: &str) -> Result<Self, ServiceError> {
        if self.cancelled {
            return Err(Refusal::new(
                "CHARGE_CANCELLED",
                "charge is cancelled: it takes no payment",
            )
            .zh("该费用已取消，不能收款")
            .into());
        }
        let outstanding = self.outstanding();
        if amount > outstanding {
            return Err(Refusal::new(
                "OVERPAYMENT",
                format!(
                    "overpayment refused: the outstanding amount is {}, the payment {}",
                    Amount(outstanding, currency),
                    Amount(amount, currency)
                ),
            )
            .with("outstanding_minor", outstanding)
            .zh("超额收款被拒绝：收款金额超过未收金额")
            .into());
        }
        Ok(Self {
            paid: self.paid + amount,
            ..self
        })
    }

    /// Returns `amount` of a payment's money; the payment's own limit is [`check_refund`].
    pub fn refund(self, amount: i64, currency: &str) -> Result<Self, ServiceError> {
        if amount > self.net_paid() {
            return Err(ServiceError::precondition(
                "REFUND_EXCEEDS_PAID",
                format!(
                    "refund refused: only {} is paid on the charge",
                    Amount(self.net_paid(), currency)
                ),
            ));
        }
        Ok(Self {
            refunded: self.refunded + amount,
            ..self
        })
    }

    /// Gives up the unpaid rest of a partly paid charge: the amount becomes what is paid net of
    /// refunds, so the charge is settled; returns the new balance and the amount waived. Only a
    /// charge with something, but not everything, paid can be waived.
    pub fn waive(self) -> Option<(Self, i64)> {
        let net = self.net_paid();
        if self.cancelled || net <= 0 || net >= self.amount {
            return None;
        }
        Some((
            Self {
                amount: net,
                ..self
            },
            self.amount - net,
        ))
    }

    pub fn cancel(self, currency: &str) -> Result<Self, ServiceError> {
        if self.net_paid() != 0 {
            return Err(ServiceError::precondition(
                "CHARGE_HAS_PAYMENTS",
                format!(
                    "charge has {} paid: refund it before cancelling",
                    Amount(self.net_paid(), currency)
                ),
            ));
        }
        Ok(Self {
            cancelled: true,
            ..self
        })
    }
}

/// A refund of `amount` against a payment of `paid` with `refunded` already returned.
pub fn check_refund(
    paid: i64,
    refunded: i64,
    amount: i64,
    currency: &str,
) -> Result<(), ServiceError> {
    let refundable = paid - refunded;
    if amount > refundable {
        return Err(ServiceError::precondition(
            "REFUND_EXCEEDS_REFUNDABLE",
            format!(
                "refund refused: the refundable amount of the payment is {}, the refund {}",
                Amount(refundable, currency),
                Amount(amount, currency)
            ),
        ));
    }
    Ok(())
}

/// The refund owed when a group is closed: `refund_bp` basis points of what was paid net of
/// refunds, rounded down to the minor unit (the payer is never refunded more than the share).
/// Integer arithmetic throughout; `net_paid` ≥ 0 and `refund_bp` in 0..=10000, so the result
/// lies in 0..=net_paid.
pub fn refund_share(net_paid: i64, refund_bp: i32) -> i64 {
    let share = i128::from(net_paid) * i128::from(refund_bp) / 10_000;
    i64::try_from(share).expect("a share of at most 100 % fits the amount it is taken of")
}

/// The interest owed with a refund (a buyer's rescission: Supreme People's Court
/// interpretation on commodity-housing sales disputes, everything paid returned with
/// interest): yearly simple interest of `interest_bp` on the refunded share (`refund_bp`) of
/// each payment, for the days from its receipt to the close (actual/365). One fraction over all
/// payments, rounded once half up to the minor unit. `held` is (amount held, days held).
pub fn refund_interest(held: &[(i64, i64)], refund_bp: i32, interest_bp: i32) -> i64 {
    let numerator: i128 = held
        .iter()
        .map(|&(amount, days)| i128::from(amount) * i128::from(days.max(0)))
        .sum::<i128>()
        * i128::from(refund_bp)
        * i128::from(interest_bp);
    let denominator: i128 = 10_000 * 10_000 * 365;
    i64::try_from((2 * numerator + denominator) / (2 * denominator))
        .expect("interest on amounts the services accept fits in i64")
}

/// A settlement group is settled when it has a live (not cancelled) charge and none is open.
pub fn group_settled(live_charges: i64, open_charges: i64) -> bool {
    live_charges > 0 && open_charges == 0
}

#[cfg(test)]
mod tests;
