//! Handover's rows on the wire.

use anju_kit::time::timestamp as ts;
use anju_proto::{common, handover as pb};

use crate::{
    domain::batch,
    store::{
        Handover,
        batches::{Batch, Notice},
        keys::KeyLoan,
    },
};

impl From<Handover> for pb::Handover {
    fn from(h: Handover) -> Self {
        let waiting_for = h
            .move_in()
            .waiting_for()
            .into_iter()
            .map(i32::from)
            .collect();
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

pub fn batch(b: Batch, units: Vec<uuid::Uuid>) -> pb::Batch {
    pb::Batch {
        batch_id: b.batch_id.to_string(),
        project_id: b.project_id.to_string(),
        building_id: b.building_id.map(|id| id.to_string()).unwrap_or_default(),
        name: b.name,
        window_start: b.window_start.to_string(),
        window_end: b.window_end.to_string(),
        plan_due_on: batch::plan_due_on(b.window_start).to_string(),
        notices_due_on: batch::notices_due_on(b.window_start).to_string(),
        books_ready: b.books_ready_at.is_some(),
        unit_ids: units.into_iter().map(|u| u.to_string()).collect(),
    }
}

impl From<Notice> for pb::Notice {
    fn from(n: Notice) -> Self {
        let total = n.fees.first().map(|first| common::Money {
            minor_units: n.fees.iter().map(|f| f.amount).sum(),
            currency: first.currency.clone(),
        });
        pb::Notice {
            notice_id: n.notice_id.to_string(),
            kind: n.kind,
            channel: n.channel,
            sent_at: Some(ts(n.sent_at)),
            fees: n
                .fees
                .into_iter()
                .map(|f| pb::NoticeFee {
                    purpose: f.purpose,
                    amount: Some(common::Money {
                        minor_units: f.amount,
                        currency: f.currency,
                    }),
                    due_on: f.due_on.to_string(),
                    charge_key: f.charge_key,
                })
                .collect(),
            total,
        }
    }
}

impl From<KeyLoan> for pb::KeyLoan {
    fn from(l: KeyLoan) -> Self {
        pb::KeyLoan {
            loan_id: l.loan_id.to_string(),
            unit_id: l.unit_id.to_string(),
            kind: l.kind,
            borrower: l.borrower,
            purpose: l.purpose,
            out_at: Some(ts(l.out_at)),
            back_at: l.back_at.map(ts),
        }
    }
}
