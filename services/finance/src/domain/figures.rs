//! Report figures and their totals. A total is always the sum of the lines it closes, per
//! currency (amounts of different currencies are never added), and every derived figure is
//! computed from the same integers: net = receipts − refunds − payouts; outstanding =
//! billed − paid + refunded.

use std::collections::BTreeMap;

use anju_proto::{common, finance as pb};

fn money(minor_units: i64, currency: &str) -> Option<common::Money> {
    Some(common::Money {
        minor_units,
        currency: currency.to_string(),
    })
}

/// Money movements from the developer's side, in minor units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cash {
    pub receipts: i64,
    pub refunds: i64,
    pub payouts: i64,
}

impl Cash {
    pub fn net(&self) -> i64 {
        self.receipts - self.refunds - self.payouts
    }

    fn add(&mut self, other: &Cash) {
        self.receipts += other.receipts;
        self.refunds += other.refunds;
        self.payouts += other.payouts;
    }

    pub fn to_proto(self, currency: &str) -> pb::CashFigures {
        pb::CashFigures {
            receipts: money(self.receipts, currency),
            refunds: money(self.refunds, currency),
            payouts: money(self.payouts, currency),
            net: money(self.net(), currency),
        }
    }
}

/// One total per currency, in currency order.
pub fn cash_totals<'a>(lines: impl IntoIterator<Item = (&'a str, Cash)>) -> Vec<pb::CashFigures> {
    let mut totals: BTreeMap<&str, Cash> = BTreeMap::new();
    for (currency, cash) in lines {
        totals.entry(currency).or_default().add(&cash);
    }
    totals
        .into_iter()
        .map(|(currency, cash)| cash.to_proto(currency))
        .collect()
}

/// A charge's account, in minor units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    pub billed: i64,
    pub paid: i64,
    pub refunded: i64,
}

impl Account {
    pub fn outstanding(&self) -> i64 {
        self.billed - self.paid + self.refunded
    }

    pub fn to_proto(self, currency: &str) -> pb::AccountFigures {
        pb::AccountFigures {
            billed: money(self.billed, currency),
            paid: money(self.paid, currency),
            refunded: money(self.refunded, currency),
            outstanding: money(self.outstanding(), currency),
        }
    }
}

/// One total per direction and currency, receivables first.
pub fn account_totals<'a>(
    lines: impl IntoIterator<Item = (pb::ChargeDirection, &'a str, Account)>,
) -> Vec<pb::UnitStatementTotal> {
    let mut totals: BTreeMap<(i32, &str), Account> = BTreeMap::new();
    for (direction, currency, account) in lines {
        let total = totals.entry((direction as i32, currency)).or_default();
        total.billed += account.billed;
        total.paid += account.paid;
        total.refunded += account.refunded;
    }
    totals
        .into_iter()
        .map(|((direction, currency), account)| pb::UnitStatementTotal {
            direction,
            figures: Some(account.to_proto(currency)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cash_totals_sum_lines_per_currency() {
        let lines = [
            (
                "CNY",
                Cash {
                    receipts: 100,
                    refunds: 30,
                    payouts: 0,
                },
            ),
            (
                "HKD",
                Cash {
                    receipts: 7,
                    refunds: 0,
                    payouts: 2,
                },
            ),
            (
                "CNY",
                Cash {
                    receipts: 50,
                    refunds: 0,
                    payouts: 45,
                },
            ),
        ];
        let totals = cash_totals(lines);
        assert_eq!(totals.len(), 2);
        assert_eq!(
            totals[0],
            Cash {
                receipts: 150,
                refunds: 30,
                payouts: 45
            }
            .to_proto("CNY")
        );
        assert_eq!(totals[0].net.as_ref().unwrap().minor_units, 75);
        assert_eq!(totals[1].net.as_ref().unwrap().minor_units, 5);
    }

    #[test]
    fn account_totals_keep_directions_apart() {
        use pb::ChargeDirection::*;
        let totals = account_totals([
            (
                Payable,
                "CNY",
                Account {
                    billed: 10,
                    paid: 10,
                    refunded: 0,
                },
            ),
            (
                Receivable,
                "CNY",
                Account {
                    billed: 100,
                    paid: 60,
                    refunded: 20,
                },
            ),
            (
                Receivable,
                "CNY",
                Account {
                    billed: 0,
                    paid: 5,
                    refunded: 5,
                },
            ),
        ]);
        assert_eq!(totals.len(), 2);
        assert_eq!(totals[0].direction, Receivable as i32);
        let figures = totals[0].figures.as_ref().unwrap();
        assert_eq!(figures.outstanding.as_ref().unwrap().minor_units, 60);
        assert_eq!(figures.paid.as_ref().unwrap().minor_units, 65);
        assert_eq!(
            totals[1]
                .figures
                .as_ref()
                .unwrap()
                .outstanding
                .as_ref()
                .unwrap()
                .minor_units,
            0
        );
    }
}
