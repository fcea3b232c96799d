//! Handover's rows on the wire.

use anju_kit::time::timestamp as ts;
use anju_proto::{common, handover as pb};

use crate::{
    domain::{
        batch::{self, PlanStatus, Settings},
        keys::{LOAN_REASONS, overdue},
    },
    store::{
        Handover,
        batches::BatchView,
        books::Book,
        keys::{KeyLoan, KeySet},
        notices::Notice,
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
            notified_late: h.notice_late,
            refusal_reason: h.refusal_reason.unwrap_or_default(),
            manual_version: h.manual_version.unwrap_or_default(),
            certificate_version: h.certificate_version.unwrap_or_default(),
        }
    }
}

pub fn settings(s: Settings) -> pb::HandoverSettings {
    pb::HandoverSettings {
        plan_lead_months: s.plan_lead_months,
        notice_lead_days: s.notice_lead_days,
        notice_minute: s.notice_minute,
    }
}

pub fn batch(view: BatchView) -> pb::Batch {
    let BatchView {
        batch: b,
        units,
        buildings,
        days,
        books_ready,
    } = view;
    let plan_status = match b.plan_status() {
        PlanStatus::None => pb::PlanStatus::None,
        PlanStatus::Submitted => pb::PlanStatus::Submitted,
        PlanStatus::Approved => pb::PlanStatus::Approved,
    };
    let plan = b.plan_submitted_at.map(|_| pb::BatchPlan {
        days: days
            .into_iter()
            .map(|d| pb::PlanDay {
                date: d.day.to_string(),
                building_id: d.building_id.to_string(),
                counters: d.counters,
                staff: d.staff,
            })
            .collect(),
        materials: b.plan_materials.clone().unwrap_or_default(),
        tasks: b
            .plan_tasks
            .clone()
            .unwrap_or_default()
            .into_iter()
            .zip(b.plan_departments.clone().unwrap_or_default())
            .map(|(task, department)| pb::PlanTask { task, department })
            .collect(),
    });
    pb::Batch {
        batch_id: b.batch_id.to_string(),
        project_id: b.project_id.to_string(),
        building_id: b.building_id.map(|id| id.to_string()).unwrap_or_default(),
        name: b.name,
        window_start: b.window_start.to_string(),
        window_end: b.window_end.to_string(),
        plan_due_on: batch::plan_due_on(b.window_start, b.plan_lead_months).to_string(),
        notices_due_on: batch::notices_due_on(b.window_start, b.notice_lead_days).to_string(),
        books_ready,
        unit_ids: units.into_iter().map(|u| u.to_string()).collect(),
        notices_at: Some(ts(b.notices_at)),
        building_ids: buildings.into_iter().map(|u| u.to_string()).collect(),
        lead_overridden_by: b.lead_overridden_by.unwrap_or_default(),
        lead_override_reason: b.lead_override_reason.unwrap_or_default(),
        plan,
        plan_status: plan_status as i32,
        plan_submitted_by: b.plan_submitted_by.unwrap_or_default(),
        plan_approved_by: b.plan_approved_by.unwrap_or_default(),
        plan_approved_at: b.plan_approved_at.map(ts),
        time_zone: b.time_zone,
        plan_submitted_at: b.plan_submitted_at.map(ts),
    }
}

pub fn book(b: Book) -> pb::Book {
    let kind = match b.kind.as_str() {
        "residence_manual" => pb::BookKind::ResidenceManual,
        _ => pb::BookKind::WarrantyCertificate,
    };
    pb::Book {
        book_id: b.book_id.to_string(),
        project_id: b.project_id.to_string(),
        building_id: b.building_id.map(|id| id.to_string()).unwrap_or_default(),
        layout: b.layout,
        kind: kind as i32,
        version: b.version,
        document_ref: b.document_ref,
        recorded_at: Some(ts(b.recorded_at)),
    }
}

pub fn key_set(k: KeySet) -> pb::KeySet {
    pb::KeySet {
        kind: k.kind,
        set: k.set,
        status: k.status,
        tag: k.tag,
        unit_id: k.unit_id.map(|u| u.to_string()).unwrap_or_default(),
        floor: k.floor.unwrap_or_default(),
        installation: k.installation.unwrap_or_default(),
        building_id: k.building_id.to_string(),
        received_at: Some(ts(k.received_at)),
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
            late: n.late,
            tracking_number: n.tracking_number.unwrap_or_default(),
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
        let reason = LOAN_REASONS
            .iter()
            .position(|r| *r == l.reason)
            .map_or(0, |i| i32::try_from(i + 1).unwrap_or(0));
        pb::KeyLoan {
            loan_id: l.loan_id.to_string(),
            unit_id: l.unit_id.map(|u| u.to_string()).unwrap_or_default(),
            kind: l.kind,
            borrower: l.borrower,
            purpose: l.purpose,
            out_at: Some(ts(l.out_at)),
            back_at: l.back_at.map(ts),
            tag: l.tag,
            reason,
            due_back_at: Some(ts(l.due_back_at)),
            overdue: overdue(chrono::Utc::now(), l.due_back_at, l.back_at),
            borrower_organisation: l.borrower_organisation,
        }
    }
}
