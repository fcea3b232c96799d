//! A unit's move-in as handover records it, and the rules read from it alone: whether its
//! keys may be handed over ([`Handover::keys_refusal`]: the flagship rule, DOMAIN.md §2.7) and
//! what it still waits for ([`Handover::waiting_for`]), from the same facts.

use anju_kit::Refusal;
use anju_proto::handover as pb;
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub(crate) struct Handover {
    pub(crate) unit_id: Uuid,
    pub(crate) batch_id: Uuid,
    pub(crate) project_id: Uuid,
    pub(crate) buyer_name: String,
    pub(crate) notice_sent_at: Option<DateTime<Utc>>,
    pub(crate) checked_in_at: Option<DateTime<Utc>>,
    pub(crate) inspection_rounds: i32,
    pub(crate) inspection_passed_at: Option<DateTime<Utc>>,
    pub(crate) cleared_at: Option<DateTime<Utc>>,
    pub(crate) fees_settled_at: Option<DateTime<Utc>>,
    pub(crate) keys_released_at: Option<DateTime<Utc>>,
}

impl Handover {
    /// Why the keys may not be handed over yet, if they may not. Keys are never handed over
    /// unless all handover fees are paid and the inspection passed (DOMAIN.md §2.7): each
    /// condition is checked on handover's own facts, the clearance on top of them.
    pub(crate) fn keys_refusal(&self) -> Option<Refusal> {
        let (reason, message, zh) = if self.keys_released_at.is_some() {
            (
                "KEYS_ALREADY_RELEASED",
                "the keys were already handed over",
                "钥匙已交付",
            )
        } else if self.inspection_passed_at.is_none() {
            (
                "INSPECTION_NOT_PASSED",
                "keys not released: the inspection has not passed",
                "验房未通过，不能交付钥匙",
            )
        } else if self.fees_settled_at.is_none() {
            (
                "FEES_NOT_SETTLED",
                "keys not released: the handover fees are not settled",
                "收楼费用未交清，不能交付钥匙",
            )
        } else if self.cleared_at.is_none() {
            (
                "NOT_CLEARED",
                "keys not released: the coordinator has not cleared the unit yet",
                "尚未获得交钥匙放行，请稍候",
            )
        } else {
            return None;
        };
        Some(
            Refusal::new(reason, message)
                .with("unit_id", self.unit_id)
                .zh(zh),
        )
    }
}

impl Handover {
    /// What the unit still waits for before its keys can be handed over (empty once they
    /// are): the same conditions as [`Handover::keys_refusal`], all of them at once.
    pub(crate) fn waiting_for(&self) -> Vec<pb::HandoverWait> {
        use pb::HandoverWait as W;
        if self.keys_released_at.is_some() {
            return Vec::new();
        }
        let mut waits = Vec::new();
        if self.notice_sent_at.is_none() {
            waits.push(W::Notice);
        }
        if self.checked_in_at.is_none() {
            waits.push(W::CheckIn);
        }
        if self.inspection_passed_at.is_none() {
            waits.push(if self.inspection_rounds > 0 {
                W::Reinspection
            } else {
                W::Inspection
            });
        }
        if self.fees_settled_at.is_none() {
            waits.push(W::Fees);
        }
        if waits.is_empty() {
            waits.push(if self.cleared_at.is_none() {
                W::Clearance
            } else {
                W::KeyRelease
            });
        }
        waits
    }
}

impl From<Handover> for pb::Handover {
    fn from(h: Handover) -> Self {
        let waiting_for = h.waiting_for().into_iter().map(i32::from).collect();
        pb::Handover {
            waiting_for,
            unit_id: h.unit_id.to_string(),
            batch_id: h.batch_id.to_string(),
            buyer_name: h.buyer_name,
            notice_sent: h.notice_sent_at.is_some(),
            checked_in: h.checked_in_at.is_some(),
            inspection_rounds: h.inspection_rounds,
            inspection_passed: h.inspection_passed_at.is_some(),
            cleared: h.cleared_at.is_some(),
            keys_released: h.keys_released_at.is_some(),
            fees_settled: h.fees_settled_at.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Handover, pb::HandoverWait as W};
    use chrono::Utc;
    use uuid::Uuid;

    #[test]
    fn a_unit_says_what_it_waits_for_and_the_key_rule_agrees() {
        let mut h = Handover {
            unit_id: Uuid::nil(),
            batch_id: Uuid::nil(),
            project_id: Uuid::nil(),
            buyer_name: "Li Wei".into(),
            notice_sent_at: None,
            checked_in_at: None,
            inspection_rounds: 0,
            inspection_passed_at: None,
            cleared_at: None,
            fees_settled_at: None,
            keys_released_at: None,
        };
        let reason = |h: &Handover| h.keys_refusal().map(|r| r.reason);
        assert_eq!(
            h.waiting_for(),
            [W::Notice, W::CheckIn, W::Inspection, W::Fees]
        );
        h.notice_sent_at = Some(Utc::now());
        h.checked_in_at = Some(Utc::now());
        h.inspection_rounds = 1;
        assert_eq!(h.waiting_for(), [W::Reinspection, W::Fees]);
        assert_eq!(reason(&h), Some("INSPECTION_NOT_PASSED"));
        h.inspection_passed_at = Some(Utc::now());
        assert_eq!(h.waiting_for(), [W::Fees]);
        assert_eq!(reason(&h), Some("FEES_NOT_SETTLED"));
        // Cleared by the coordinator, but handover has not learnt the fees settled: fees.
        h.cleared_at = Some(Utc::now());
        assert_eq!(h.waiting_for(), [W::Fees]);
        assert_eq!(reason(&h), Some("FEES_NOT_SETTLED"));
        h.cleared_at = None;
        h.fees_settled_at = Some(Utc::now());
        assert_eq!(h.waiting_for(), [W::Clearance]);
        assert_eq!(reason(&h), Some("NOT_CLEARED"));
        h.cleared_at = Some(Utc::now());
        assert_eq!(h.waiting_for(), [W::KeyRelease]);
        assert_eq!(reason(&h), None);
        h.keys_released_at = Some(Utc::now());
        assert!(h.waiting_for().is_empty());
        assert_eq!(reason(&h), Some("KEYS_ALREADY_RELEASED"));
    }
}
