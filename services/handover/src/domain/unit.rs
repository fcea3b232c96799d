//! A unit's move-in as a state machine, and the rules read from it alone: which step the
//! counter may take next, whether the keys may be handed over ([`MoveIn::release`]: the
//! flagship rule, DOMAIN.md §2.7 — seed ⑧ 5.1) and what the unit still waits for
//! ([`MoveIn::waiting_for`]), all from the same facts. No I/O: the store loads a [`MoveIn`],
//! these functions decide, the store writes what they decided.

use anju_kit::Refusal;
use anju_proto::handover::HandoverWait;
use uuid::Uuid;

/// How far the counter has taken the unit. The stages only move forward; a failed inspection
/// keeps the unit in [`Stage::Inspecting`] with one more round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// In a batch; no move-in notice sent yet.
    Listed,
    /// The notice (with its fee list) was sent; the owner has not come to the counter.
    Notified,
    /// The owner checked in; `rounds` inspections have failed so far.
    Inspecting { rounds: i32 },
    /// The joint inspection passed (in round `rounds`).
    Passed { rounds: i32 },
    /// The keys were handed over.
    KeysReleased,
}

/// What handover knows of one unit's move-in: its stage, the two facts that come from
/// elsewhere — the fees settled (learnt from finance's events) and the coordinator's clearance
/// — and what goes over with the keys: the first book and the first owner's key kind not on
/// record, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoveIn {
    pub unit_id: Uuid,
    pub stage: Stage,
    pub fees_settled: bool,
    pub cleared: bool,
    pub missing_book: Option<&'static str>,
    pub missing_key: Option<&'static str>,
}

impl MoveIn {
    /// A refusal about this unit: its id goes in the refusal's metadata.
    fn about(&self, refusal: Refusal) -> Refusal {
        refusal.with("unit_id", self.unit_id)
    }

    /// The owner checks in at the counter: only after the move-in notice was sent. A second
    /// check-in changes nothing.
    pub fn check_in(&self) -> Result<(), Refusal> {
        match self.stage {
            Stage::Listed => Err(self.about(
                Refusal::new(
                    "NOTICE_NOT_SENT",
                    "no move-in notice was sent for this unit yet",
                )
                .zh("尚未发出收楼通知"),
            )),
            _ => Ok(()),
        }
    }

    /// A joint inspection is recorded: only for a checked-in owner and until one passes.
    /// Returns the round it is.
    pub fn inspect(&self) -> Result<i32, Refusal> {
        match self.stage {
            Stage::Listed | Stage::Notified => Err(self.about(
                Refusal::new(
                    "NOT_CHECKED_IN",
                    "the owner has not checked in at the counter",
                )
                .zh("业主尚未在柜台办理登记"),
            )),
            Stage::Inspecting { rounds } => Ok(rounds + 1),
            Stage::Passed { .. } | Stage::KeysReleased => Err(self.about(
                Refusal::new(
                    "INSPECTION_ALREADY_PASSED",
                    "the unit already passed its inspection",
                )
                .zh("该单位已通过验房"),
            )),
        }
    }

    /// The coordinator's clearance: it clears only what handover itself saw pass.
    pub fn clear(&self) -> Result<(), Refusal> {
        match self.stage {
            Stage::Passed { .. } | Stage::KeysReleased => Ok(()),
            _ => Err(self.about(Refusal::new(
                "INSPECTION_NOT_PASSED",
                "clearance refused: the inspection has not passed",
            ))),
        }
    }

    /// Keys are never handed over unless all handover fees are paid and the inspection passed
    /// (DOMAIN.md §2.7): each condition is checked on handover's own facts, the clearance on
    /// top of them. They go over only with both books (seed ⑧ 5.1.2, 5.1.8) and only once the
    /// owner's set of every kind arrived from the contractor (seed ④ 4.5). The refusal names
    /// the first condition not met.
    pub fn release(&self) -> Result<(), Refusal> {
        let refusal = match self.stage {
            Stage::KeysReleased => {
                Refusal::new("KEYS_ALREADY_RELEASED", "the keys were already handed over")
                    .zh("钥匙已交付")
            }
            Stage::Listed | Stage::Notified | Stage::Inspecting { .. } => Refusal::new(
                "INSPECTION_NOT_PASSED",
                "keys not released: the inspection has not passed",
            )
            .zh("验房未通过，不能交付钥匙"),
            Stage::Passed { .. } if !self.fees_settled => Refusal::new(
                "FEES_NOT_SETTLED",
                "keys not released: the handover fees are not settled",
            )
            .zh("收楼费用未交清，不能交付钥匙"),
            Stage::Passed { .. } if self.missing_book.is_some() => Refusal::new(
                "BOOKS_MISSING",
                "keys not released: the keys go over with both books, and one is not on record",
            )
            .with("kind", self.missing_book.unwrap_or_default())
            .zh("两书未备齐，不能交付钥匙"),
            Stage::Passed { .. } if self.missing_key.is_some() => Refusal::new(
                "KEYS_NOT_RECEIVED",
                "keys not released: the owner's keys have not all arrived from the contractor",
            )
            .with("kind", self.missing_key.unwrap_or_default())
            .zh("钥匙尚未从施工单位移交"),
            Stage::Passed { .. } if !self.cleared => Refusal::new(
                "NOT_CLEARED",
                "keys not released: the coordinator has not cleared the unit yet",
            )
            .zh("尚未获得交钥匙放行，请稍候"),
            Stage::Passed { .. } => return Ok(()),
        };
        Err(self.about(refusal))
    }

    /// A spare key is lent (to a decorator, a repairer) only once the keys were handed over.
    pub fn lend_key(&self) -> Result<(), Refusal> {
        match self.stage {
            Stage::KeysReleased => Ok(()),
            _ => Err(keys_not_released(self.unit_id)),
        }
    }

    /// What the unit still waits for before its keys can be handed over (empty once they
    /// are): the same conditions as [`MoveIn::release`], all of them at once.
    pub fn waiting_for(&self) -> Vec<HandoverWait> {
        use HandoverWait as W;
        let mut waits = match self.stage {
            Stage::KeysReleased => return Vec::new(),
            Stage::Listed => vec![W::Notice, W::CheckIn, W::Inspection],
            Stage::Notified => vec![W::CheckIn, W::Inspection],
            Stage::Inspecting { rounds: 0 } => vec![W::Inspection],
            Stage::Inspecting { .. } => vec![W::Reinspection],
            Stage::Passed { .. } => vec![],
        };
        if !self.fees_settled {
            waits.push(W::Fees);
        }
        if self.missing_book.is_some() {
            waits.push(W::Books);
        }
        if self.missing_key.is_some() {
            waits.push(W::Keys);
        }
        if waits.is_empty() {
            waits.push(if self.cleared {
                W::KeyRelease
            } else {
                W::Clearance
            });
        }
        waits
    }
}

/// A unit's spare is not lent before its keys were handed over — nor for a unit in no batch.
pub fn keys_not_released(unit_id: Uuid) -> Refusal {
    Refusal::new(
        "KEYS_NOT_RELEASED",
        "the unit's keys have not been handed over yet",
    )
    .with("unit_id", unit_id)
    .zh("钥匙尚未交付")
}

#[cfg(test)]
mod tests {
    use super::{HandoverWait as W, MoveIn, Stage};
    use uuid::Uuid;

    fn reason<T>(decision: Result<T, anju_kit::Refusal>) -> Option<&'static str> {
        decision.err().map(|r| r.reason)
    }

    #[test]
    fn a_unit_says_what_it_waits_for_and_the_key_rule_agrees() {
        let mut unit = MoveIn {
            unit_id: Uuid::nil(),
            stage: Stage::Listed,
            fees_settled: false,
            cleared: false,
            missing_book: None,
            missing_key: None,
        };
        assert_eq!(
            unit.waiting_for(),
            [W::Notice, W::CheckIn, W::Inspection, W::Fees]
        );
        assert_eq!(reason(unit.check_in()), Some("NOTICE_NOT_SENT"));
        assert_eq!(reason(unit.inspect()), Some("NOT_CHECKED_IN"));
        unit.stage = Stage::Notified;
        assert_eq!(reason(unit.check_in()), None);
        assert_eq!(reason(unit.inspect()), Some("NOT_CHECKED_IN"));
        unit.stage = Stage::Inspecting { rounds: 0 };
        assert_eq!(unit.inspect().ok(), Some(1));
        unit.stage = Stage::Inspecting { rounds: 1 };
        assert_eq!(unit.inspect().ok(), Some(2));
        assert_eq!(unit.waiting_for(), [W::Reinspection, W::Fees]);
        assert_eq!(reason(unit.release()), Some("INSPECTION_NOT_PASSED"));
        assert_eq!(reason(unit.clear()), Some("INSPECTION_NOT_PASSED"));
        assert_eq!(reason(unit.lend_key()), Some("KEYS_NOT_RELEASED"));
        unit.stage = Stage::Passed { rounds: 2 };
        assert_eq!(reason(unit.inspect()), Some("INSPECTION_ALREADY_PASSED"));
        assert_eq!(unit.waiting_for(), [W::Fees]);
        assert_eq!(reason(unit.release()), Some("FEES_NOT_SETTLED"));
        // Cleared by the coordinator, but handover has not learnt the fees settled: fees.
        unit.cleared = true;
        assert_eq!(unit.waiting_for(), [W::Fees]);
        assert_eq!(reason(unit.release()), Some("FEES_NOT_SETTLED"));
        unit.cleared = false;
        unit.fees_settled = true;
        assert_eq!(unit.waiting_for(), [W::Clearance]);
        assert_eq!(reason(unit.release()), Some("NOT_CLEARED"));
        unit.cleared = true;
        assert_eq!(unit.waiting_for(), [W::KeyRelease]);
        assert_eq!(reason(unit.release()), None);
        // The books and the owner's keys go over with the release.
        unit.missing_book = Some("warranty_certificate");
        unit.missing_key = Some("mailbox");
        assert_eq!(unit.waiting_for(), [W::Books, W::Keys]);
        assert_eq!(reason(unit.release()), Some("BOOKS_MISSING"));
        unit.missing_book = None;
        assert_eq!(reason(unit.release()), Some("KEYS_NOT_RECEIVED"));
        unit.missing_key = None;
        unit.stage = Stage::KeysReleased;
        assert!(unit.waiting_for().is_empty());
        assert_eq!(reason(unit.release()), Some("KEYS_ALREADY_RELEASED"));
        assert_eq!(reason(unit.lend_key()), None);
    }
}
