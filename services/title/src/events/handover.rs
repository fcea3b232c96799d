//! Handover's `KeysReleased`: the unit's handover day, from which the statutory clocks count.

use anju_messaging::{Event, Handler, HandlerError};
use anju_proto::{EventPayload, events::KeysReleased};
use sqlx::PgConnection;

use super::{publish, uuid};
use crate::store::{files, steps};

pub struct HandoverEvents;

#[async_trait::async_trait]
impl Handler for HandoverEvents {
    fn wants(&self, event_type: &str) -> bool {
        event_type == KeysReleased::EVENT_TYPE
    }

    fn lock_key(&self, event: &Event) -> Option<String> {
        event.decode::<KeysReleased>().ok().map(|k| k.unit_id)
    }

    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        let keys: KeysReleased = event.decode().map_err(HandlerError::Permanent)?;
        let unit_id = uuid("unit_id", &keys.unit_id)?;
        let Some(file) = files::lock_unit(conn, event.tenant_id, unit_id).await? else {
            // Keys are released only under a contract: sales' event is on its way (another
            // stream); come back to this one.
            return Err(HandlerError::Transient(anyhow::anyhow!(
                "keys released for unit {unit_id} before its contract reached title"
            )));
        };
        if file.contract_id.is_none() || file.cancelled || file.handed_over_on.is_some() {
            return Ok(());
        }
        let at = event
            .envelope
            .occurred_at
            .as_ref()
            .and_then(anju_kit::time::from_timestamp)
            .unwrap_or_else(chrono::Utc::now);
        let on = file.zone().date_of(at);
        let file = steps::handed_over(conn, unit_id, on).await?;
        publish::start_statutory_clocks(conn, &file, on).await?;
        Ok(())
    }
}
