//! The coordinator's reports of a complaint's repair (coordinator only): opened, which takes
//! a complaint routed to maintenance, and signed off, which resolves it.

use anju_kit::{Principal, ServiceResult, audit::Subject, validate::Validator};
use anju_proto::complaints as pb;
use chrono::Utc;

use super::{ComplaintsApi, desk::resolve, full};
use crate::{
    domain::vocabulary::{Queue, Status, Target},
    store::{self, clocks},
};

impl ComplaintsApi {
    pub(super) async fn record_repair_progress(
        &self,
        principal: &Principal,
        req: pb::RecordRepairProgressRequest,
    ) -> ServiceResult<pb::RecordRepairProgressResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let complaint_id = v.uuid("complaint_id", &req.complaint_id);
        let repair_id = v.uuid("repair_request_id", &req.repair_request_id);
        v.range("round", req.round, 1, 10_000);
        let resolution = v
            .optional_free_text("resolution", &req.resolution, 4000)
            .unwrap_or_default();
        v.finish()?;
        self.commands
            .run(
                principal,
                "RecordRepairProgress",
                &request_id,
                &req,
                async |cmd| {
                    let mut c = store::lock(cmd.conn(), principal, complaint_id).await?;
                    // A report about an earlier round, or a complaint moved on, changes nothing:
                    // the coordinator's retries and late events are harmless.
                    let current = req.round == c.round
                        && c.status != Status::Closed.as_str()
                        && c.repair_request_id.is_none_or(|r| r == repair_id);
                    if current {
                        let now = Utc::now();
                        if c.repair_request_id.is_none() {
                            c.repair_request_id = Some(repair_id);
                            if c.queue() == Queue::Maintenance && c.taken_at.is_none() {
                                c.taken_at = Some(now);
                                clocks::stop(cmd.conn(), &c, Target::Route, now).await?;
                            }
                        }
                        if req.closed && !c.repair_closed {
                            c.repair_closed = true;
                            let open = c.status == Status::Open.as_str();
                            if open && c.queue() == Queue::Maintenance {
                                let text = format!("repair signed off: {resolution}");
                                resolve(cmd, &mut c, text).await?;
                            }
                        }
                        store::save(cmd.conn(), &c).await?;
                    }
                    let response = pb::RecordRepairProgressResponse {
                        complaint: Some(full(cmd.conn(), c).await?),
                    };
                    let subject = Subject::new("complaint", complaint_id).with_detail(
                        serde_json::json!({ "repair_request_id": repair_id, "closed": req.closed }),
                    );
                    Ok((response, subject))
                },
            )
            .await
    }
}
