//! The day each unit was handed over (handover's `KeysReleased`), from which the buyer's
//! warranty runs (DOMAIN.md §3.3): the day the event happened, in the project's zone.

use anju_kit::time::ProjectZone;
use anju_messaging::{Event, Handler, HandlerError};
use anju_proto::{EventPayload, events::KeysReleased};
use sqlx::PgConnection;
use uuid::Uuid;

pub struct HandoverEvents;

#[async_trait::async_trait]
impl Handler for HandoverEvents {
    fn wants(&self, event_type: &str) -> bool {
        event_type == KeysReleased::EVENT_TYPE
    }

    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        let released: KeysReleased = event.decode().map_err(HandlerError::Permanent)?;
        let unit = Uuid::parse_str(&released.unit_id)
            .map_err(|e| HandlerError::Permanent(anyhow::anyhow!("unit_id: {e}")))?;
        let at = event
            .envelope
            .occurred_at
            .as_ref()
            .and_then(anju_kit::time::from_timestamp)
            .ok_or_else(|| {
                HandlerError::Permanent(anyhow::anyhow!("KeysReleased without a time"))
            })?;
        let on = ProjectZone::or_default("").date_of(at);
        crate::store::map::handed_over(conn, event.tenant_id, unit, on).await?;
        Ok(())
    }
}
