//! What complaints learns from sales: the unit directory (`ProjectCreated`, `UnitRegistered`)
//! and each project's time zone from its contracts (`ContractSigned`), which the tenant's and
//! the default standards count the project's business hours in.

use anju_messaging::{Event, Handler, HandlerError, directory};
use anju_proto::{EventPayload, events::ContractSigned};
use sqlx::PgConnection;
use uuid::Uuid;

pub struct SalesEvents;

#[async_trait::async_trait]
impl Handler for SalesEvents {
    fn wants(&self, event_type: &str) -> bool {
        directory::UnitDirectory.wants(event_type) || event_type == ContractSigned::EVENT_TYPE
    }

    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        if directory::apply(conn, event).await? {
            return Ok(());
        }
        let signed: ContractSigned = event.decode().map_err(HandlerError::Permanent)?;
        if signed.time_zone.is_empty() {
            return Ok(());
        }
        let project = Uuid::parse_str(&signed.project_id)
            .map_err(|e| HandlerError::Permanent(anyhow::anyhow!("project_id: {e}")))?;
        crate::store::standards::learn_zone(conn, event.tenant_id, project, &signed.time_zone)
            .await?;
        Ok(())
    }
}
