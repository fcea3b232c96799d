//! Notices (seed ⑧ 5.1.3–5.1.4): the move-in notice with its fee list, sent by the
//! coordinator on the batch's notice date by post and the owner's other channels, reminders and
//! calls back to re-inspection; the post's tracking numbers; the move-in list for the property
//! company.

use anju_kit::{
    Principal, ServiceResult, audit::Subject, time::ProjectZone, time::timestamp as ts,
    validate::Validator,
};
use anju_proto::{common, handover as pb};
use chrono::Utc;

use super::{HandoverApi, unit_request, wire};
use crate::{
    domain::batch::{self, NOTICE_KINDS},
    store::{
        self, Moment, batches as batches_store,
        notices::{self as notices_store, NoticeFee},
    },
};

impl HandoverApi {
    pub(super) async fn record_notice(
        &self,
        principal: &Principal,
        req: pb::RecordNoticeRequest,
    ) -> ServiceResult<pb::RecordNoticeResponse> {
        let mut v = Validator::new();
        let (request_id, unit_id) = unit_request(&mut v, &req.request_id, &req.unit_id);
        v.check(
            NOTICE_KINDS.contains(&req.kind.as_str()),
            "kind",
            "must be notice, reminder or reinspection",
        );
        let channel = v.text("channel", &req.channel, 32);
        v.check(
            req.kind != "notice" || !req.fees.is_empty(),
            "fees",
            "a move-in notice lists the unit's fees",
        );
        v.check(req.fees.len() <= 50, "fees", "at most 50 lines");
        let mut fees = Vec::with_capacity(req.fees.len());
        for (n, fee) in req.fees.iter().take(50).enumerate() {
            let field = |name: &str| format!("fees[{n}].{name}");
            let purpose = v.text(&field("purpose"), &fee.purpose, 64);
            let (amount, currency) = v.money(&field("amount"), fee.amount.as_ref());
            let due_on = v.date(&field("due_on"), &fee.due_on);
            let charge_key = v.text(&field("charge_key"), &fee.charge_key, 200);
            fees.push(NoticeFee {
                purpose,
                amount,
                currency,
                due_on,
                charge_key,
            });
        }
        v.check(
            fees.iter()
                .try_fold(0i64, |sum, f| sum.checked_add(f.amount))
                .is_some(),
            "fees",
            "the total is too large",
        );
        if let Some(first) = fees.first() {
            v.check(
                fees.iter().all(|f| f.currency == first.currency),
                "fees",
                "all lines in one currency",
            );
        }
        v.finish()?;
        self.commands
            .run(principal, "RecordNotice", &request_id, &req, async |cmd| {
                store::locked(cmd.conn(), principal, unit_id).await?;
                if req.kind == "notice" {
                    let (approved, contracted) =
                        notices_store::notice_allowed(cmd.conn(), unit_id).await?;
                    batch::may_notify(unit_id, approved, contracted)?;
                }
                let tenant = cmd.tenant();
                let sent_at = Utc::now();
                let late = if req.kind == "notice" {
                    let (window_start, lead_days, zone) =
                        notices_store::notice_terms(cmd.conn(), unit_id).await?;
                    batch::notified_late(
                        sent_at,
                        batch::notices_due_on(window_start, lead_days),
                        &ProjectZone::or_default(&zone),
                    )
                } else {
                    false
                };
                let notice = notices_store::insert_notice(
                    cmd.conn(),
                    tenant,
                    unit_id,
                    &req.kind,
                    &channel,
                    sent_at,
                    late,
                    fees,
                )
                .await?;
                if req.kind == "notice" {
                    notices_store::mark_notice_late(cmd.conn(), unit_id, late).await?;
                    store::mark(cmd.conn(), unit_id, Moment::NoticeSent).await?;
                }
                let response = pb::RecordNoticeResponse {
                    handover: Some(store::reread(cmd.conn(), unit_id).await?.into()),
                    notice: Some(notice.into()),
                };
                Ok((response, Subject::new("handover", unit_id)))
            })
            .await
    }

    pub(super) async fn record_notice_tracking(
        &self,
        principal: &Principal,
        req: pb::RecordNoticeTrackingRequest,
    ) -> ServiceResult<pb::RecordNoticeTrackingResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let notice_id = v.uuid("notice_id", &req.notice_id);
        let tracking = v.text("tracking_number", &req.tracking_number, 64);
        v.finish()?;
        self.commands
            .run(
                principal,
                "RecordNoticeTracking",
                &request_id,
                &req,
                async |cmd| {
                    let unit_id =
                        notices_store::record_tracking(cmd.conn(), principal, notice_id, &tracking)
                            .await?;
                    let notice = notices_store::notice(cmd.conn(), notice_id).await?;
                    Ok((
                        pb::RecordNoticeTrackingResponse {
                            notice: Some(notice.into()),
                        },
                        Subject::new("notice", notice_id).with_detail(serde_json::json!({
                            "unit_id": unit_id,
                        })),
                    ))
                },
            )
            .await
    }

    pub(super) async fn get_move_in_list(
        &self,
        principal: &Principal,
        req: pb::GetMoveInListRequest,
    ) -> ServiceResult<pb::GetMoveInListResponse> {
        let mut v = Validator::new();
        let batch_id = v.uuid("batch_id", &req.batch_id);
        v.finish()?;
        let mut conn = self.pool.acquire().await?;
        let batch = batches_store::batch(&mut conn, principal, batch_id, false).await?;
        let view = batches_store::view(&mut conn, batch).await?;
        drop(conn);
        let entries = notices_store::move_in_list(&self.pool, batch_id)
            .await?
            .into_iter()
            .map(|e| pb::MoveInListEntry {
                unit_id: e.unit_id.to_string(),
                unit_number: e.unit_number.unwrap_or_default(),
                owner_name: e.owner_name,
                notice_sent_at: e.notice_sent_at.map(ts),
                notified_late: e.notice_late,
                post_tracking_number: e.tracking_number.unwrap_or_default(),
                fees_total: e.fees_total.map(|minor_units| common::Money {
                    minor_units,
                    currency: e.currency.unwrap_or_default(),
                }),
                keys_released: e.keys_released,
            })
            .collect();
        Ok(pb::GetMoveInListResponse {
            batch: Some(wire::batch(view)),
            entries,
        })
    }
}
