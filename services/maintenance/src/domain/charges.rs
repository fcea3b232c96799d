//! What a closed repair charges (DOMAIN.md §3.5, §3.6), exact to the fen: the backup vendor's
//! cost charged back to the responsible contractor that breached or declined, and for a
//! contractor's defect the owner's 10 % compensation, which the contractor bears. Each comes
//! from the contractor's retention while it is held and what it does not cover is a claim
//! ([`super::money`]). A repair costs nothing to charge when it cost nothing.

use super::{
    money::{self, COMPENSATION_BP},
    warranty::Payer,
};

/// Charge purposes as stored and as finance is told.
pub const CHARGEBACK: &str = "chargeback";
pub const OWNER_COMPENSATION: &str = "owner_compensation";
pub const COMPENSATION_RECOVERY: &str = "compensation_recovery";
pub const CLAIM_PAYOUT: &str = "claim_payout";
/// A repair outside every warranty or caused by the owner, billed to the owner.
pub const REPAIR_BILLED: &str = "repair_billed";
pub const CLAIM_RECOVERY: &str = "claim_recovery";
pub const CLAIM_PENALTY: &str = "claim_penalty";

/// Whether a purpose concerns the owner — paid to it, or billed to it — rather than the
/// contractor.
pub fn to_owner(purpose: &str) -> bool {
    purpose == OWNER_COMPENSATION || purpose == CLAIM_PAYOUT || purpose == REPAIR_BILLED
}

/// What is known of a repair when it closes.
#[derive(Clone, Debug)]
pub struct Closing {
    /// Who the warranty decision says pays; `None` while undecided.
    pub payer: Option<Payer>,
    /// The order was escalated away from its responsible contractor.
    pub escalated: bool,
    /// The sum of its cost lines.
    pub cost: i64,
    /// The responsible contractor's retention not yet taken.
    pub retention_left: i64,
    /// The retention was released (its defects-liability period is over).
    pub retention_released: bool,
    /// The repair is of a unit with an owner (not a common part): the owner is compensated,
    /// or billed.
    pub owned: bool,
}

/// One charge: `amount`, of which `from_retention` is taken from the retention and `claim`
/// claimed from the contractor (both zero for the owner's compensation, a payable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Charge {
    pub purpose: &'static str,
    pub amount: i64,
    pub from_retention: i64,
    pub claim: i64,
}

/// The charges a closing repair raises, in the order they take from the retention.
pub fn on_close(c: &Closing) -> Vec<Charge> {
    let mut charges = Vec::new();
    // Outside every warranty or caused by the owner: billed to whoever caused it, the owner
    // (DOMAIN.md §3.10).
    if c.payer == Some(Payer::Caused) && c.cost > 0 && c.owned {
        charges.push(Charge {
            purpose: REPAIR_BILLED,
            amount: c.cost,
            from_retention: 0,
            claim: 0,
        });
        return charges;
    }
    if c.payer != Some(Payer::Contractor) || c.cost <= 0 {
        return charges;
    }
    let mut retention = c.retention_left.max(0);
    if c.escalated {
        let d = money::chargeback(c.cost, 0, retention, c.retention_released);
        retention -= d.from_retention;
        charges.push(Charge {
            purpose: CHARGEBACK,
            amount: d.total(),
            from_retention: d.from_retention,
            claim: d.claim,
        });
    }
    if let Some(compensation) = money::share_half_up(c.cost, COMPENSATION_BP)
        && compensation > 0
        && c.owned
    {
        charges.push(Charge {
            purpose: OWNER_COMPENSATION,
            amount: compensation,
            from_retention: 0,
            claim: 0,
        });
        let from_retention = if c.retention_released {
            0
        } else {
            compensation.min(retention)
        };
        charges.push(Charge {
            purpose: COMPENSATION_RECOVERY,
            amount: compensation,
            from_retention,
            claim: compensation - from_retention,
        });
    }
    charges
}

/// An owner's further claim for a contractor's defect (DOMAIN.md §3.6, seed ⑥ 7): the owner is
/// paid it; the contractor that accepts it owes it, one that refuses owes it with a 25 %
/// penalty taken from its retention while held (the claim first), the rest claimed.
pub fn on_claim(
    claim: i64,
    refused: bool,
    retention_left: i64,
    retention_released: bool,
) -> Option<Vec<Charge>> {
    let payout = Charge {
        purpose: CLAIM_PAYOUT,
        amount: claim,
        from_retention: 0,
        claim: 0,
    };
    if !refused {
        let recovery = Charge {
            purpose: CLAIM_RECOVERY,
            amount: claim,
            from_retention: 0,
            claim,
        };
        return Some(vec![payout, recovery]);
    }
    let (penalty, d) = money::refused_claim(claim, retention_left, retention_released)?;
    let recovery_from_retention = d.from_retention.min(claim);
    Some(vec![
        payout,
        Charge {
            purpose: CLAIM_RECOVERY,
            amount: claim,
            from_retention: recovery_from_retention,
            claim: claim - recovery_from_retention,
        },
        Charge {
            purpose: CLAIM_PENALTY,
            amount: penalty,
            from_retention: d.from_retention - recovery_from_retention,
            claim: penalty - (d.from_retention - recovery_from_retention),
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closing(escalated: bool, cost: i64, retention_left: i64) -> Closing {
        Closing {
            payer: Some(Payer::Contractor),
            escalated,
            cost,
            retention_left,
            retention_released: false,
            owned: true,
        }
    }

    #[test]
    fn an_escalated_repair_charges_the_vendors_cost_and_the_owners_tenth_to_the_contractor() {
        // The vendor's 1,234.55 yuan: charged back in full, and 123.46 (123.455 rounded half up)
        // to the owner, recovered from the contractor.
        let charges = on_close(&closing(true, 123_455, 130_000));
        assert_eq!(
            charges,
            vec![
                Charge {
                    purpose: CHARGEBACK,
                    amount: 123_455,
                    from_retention: 123_455,
                    claim: 0
                },
                Charge {
                    purpose: OWNER_COMPENSATION,
                    amount: 12_346,
                    from_retention: 0,
                    claim: 0
                },
                Charge {
                    purpose: COMPENSATION_RECOVERY,
                    amount: 12_346,
                    from_retention: 6_545,
                    claim: 5_801
                },
            ]
        );
    }

    #[test]
    fn a_refused_claim_costs_a_quarter_more_from_the_retention() {
        // 800.02 yuan refused with 900.00 held: the claim from the retention, the 200.01
        // penalty (200.005 rounded half up) 99.98 from what is left and 100.03 claimed.
        let c = on_claim(80_002, true, 90_000, false).unwrap();
        assert_eq!(
            c,
            vec![
                Charge {
                    purpose: CLAIM_PAYOUT,
                    amount: 80_002,
                    from_retention: 0,
                    claim: 0
                },
                Charge {
                    purpose: CLAIM_RECOVERY,
                    amount: 80_002,
                    from_retention: 80_002,
                    claim: 0
                },
                Charge {
                    purpose: CLAIM_PENALTY,
                    amount: 20_001,
                    from_retention: 9_998,
                    claim: 10_003
                },
            ]
        );
        let accepted = on_claim(80_002, false, 90_000, false).unwrap();
        assert_eq!(accepted.len(), 2);
        assert_eq!((accepted[1].from_retention, accepted[1].claim), (0, 80_002));
        assert!(to_owner(CLAIM_PAYOUT) && !to_owner(CLAIM_PENALTY));
    }

    #[test]
    fn a_released_retention_leaves_all_of_it_a_claim() {
        let mut c = closing(true, 10_000, 1_000_000);
        c.retention_released = true;
        let charges = on_close(&c);
        assert!(charges.iter().all(|x| x.from_retention == 0));
        assert_eq!(charges[0].claim, 10_000);
        assert_eq!(charges[2].claim, 1_000);
    }

    #[test]
    fn the_contractors_own_repair_charges_only_the_compensation_and_others_nothing() {
        let own = on_close(&closing(false, 50_000, 100_000));
        assert_eq!(
            own.iter().map(|c| c.purpose).collect::<Vec<_>>(),
            [OWNER_COMPENSATION, COMPENSATION_RECOVERY]
        );
        assert_eq!(own[1].from_retention, 5_000);
        let mut developer = closing(true, 50_000, 100_000);
        developer.payer = Some(Payer::Developer);
        assert!(on_close(&developer).is_empty());
        let mut caused = closing(false, 50_000, 100_000);
        caused.payer = Some(Payer::Caused);
        assert_eq!(
            on_close(&caused),
            vec![Charge {
                purpose: REPAIR_BILLED,
                amount: 50_000,
                from_retention: 0,
                claim: 0
            }]
        );
        assert!(on_close(&closing(true, 0, 100_000)).is_empty());
        // A common part: the vendor's cost charged back, no owner to compensate or bill.
        let mut part = closing(true, 50_000, 100_000);
        part.owned = false;
        assert_eq!(
            on_close(&part)
                .iter()
                .map(|c| c.purpose)
                .collect::<Vec<_>>(),
            [CHARGEBACK]
        );
        part.payer = Some(Payer::Caused);
        assert!(on_close(&part).is_empty());
    }
}
