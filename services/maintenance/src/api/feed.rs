//! A contractor's feed (WatchWorkOrderFeed): its items as the outbox published them on its own
//! subject of the maintenance stream, read by an ordered JetStream consumer from just after the
//! client's cursor (the stream sequence of the last item it received). The database is not
//! polled: a connected contractor costs one ephemeral consumer on the bus, and reconnecting
//! with the last cursor resumes with nothing lost and nothing repeated.

use std::pin::Pin;

use anju_kit::{Principal, Refusal, ServiceError, ServiceResult, validate::Validator};
use anju_proto::{
    events::{Envelope, PartnerFeedItem},
    maintenance as pb,
};
use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures::{Stream, StreamExt};
use prost::Message;

use super::{MaintenanceApi, orders::feed_partition};

type Feed =
    Pin<Box<dyn Stream<Item = Result<pb::WatchWorkOrderFeedResponse, tonic::Status>> + Send>>;

impl MaintenanceApi {
    pub(crate) async fn watch_work_order_feed(
        &self,
        principal: &Principal,
        req: pb::WatchWorkOrderFeedRequest,
    ) -> ServiceResult<Feed> {
        let mut v = Validator::new();
        let after = match req.cursor.trim() {
            "" => None,
            c => match c.parse::<u64>() {
                // A cursor is a stream sequence the feed gave: far below the end of u64.
                Ok(n) if n < u64::MAX / 2 => Some(n),
                _ => {
                    v.violation("cursor", "must be a cursor the feed gave");
                    None
                }
            },
        };
        v.finish()?;
        let Some(contractor) = principal.contractor_id else {
            return Err(ServiceError::PermissionDenied(
                "the feed is a partner contractor's own".into(),
            ));
        };
        let stream = self
            .bus
            .ensure_stream(crate::NAME)
            .await
            .map_err(|e| ServiceError::Unavailable(format!("the bus: {e:#}")))?;
        let state = stream
            .get_info()
            .await
            .map_err(|e| ServiceError::Unavailable(format!("the bus: {e}")))?
            .state;
        if let Some(after) = after
            && after + 1 < state.first_sequence
        {
            return Err(Refusal::new(
                "CURSOR_EXPIRED",
                "the cursor is older than the feed keeps: start from the first kept item",
            )
            .with("oldest_cursor", state.first_sequence.saturating_sub(1))
            .into());
        }
        let deliver_policy = match after {
            Some(after) => DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            },
            None => DeliverPolicy::All,
        };
        let filter_subject = format!(
            "{}.{}.partner_feed.{}.>",
            self.bus.prefix(),
            crate::NAME,
            feed_partition(contractor)
        );
        let consumer = stream
            .create_consumer(OrderedConfig {
                filter_subject,
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| ServiceError::Unavailable(format!("the bus: {e}")))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| ServiceError::Unavailable(format!("the bus: {e}")))?;
        let tenant = principal.tenant_id.to_string();
        let items = messages.filter_map(move |message| {
            let tenant = tenant.clone();
            async move {
                let message = match message {
                    Ok(m) => m,
                    Err(e) => {
                        return Some(Err(tonic::Status::unavailable(format!(
                            "the feed was interrupted ({e}): reconnect with the last cursor"
                        ))));
                    }
                };
                let sequence = message.info().ok()?.stream_sequence;
                let envelope = Envelope::decode(message.payload.as_ref()).ok()?;
                // Defence in depth: the subject names the contractor, the envelope its tenant.
                if envelope.tenant_id != tenant {
                    return None;
                }
                let item = PartnerFeedItem::decode(envelope.payload.as_slice()).ok()?;
                Some(Ok(pb::WatchWorkOrderFeedResponse {
                    cursor: sequence.to_string(),
                    kind: item.kind,
                    repair_request_id: item.repair_request_id,
                    project_id: item.project_id,
                    detail: item.detail,
                    occurred_at: envelope.occurred_at,
                    due_at: (item.due_at_unix != 0).then_some(prost_types::Timestamp {
                        seconds: item.due_at_unix,
                        nanos: 0,
                    }),
                }))
            }
        });
        Ok(Box::pin(items))
    }
}
