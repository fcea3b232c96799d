//! What maintenance learns from sales: the unit directory (`ProjectCreated`, `UnitRegistered`)
//! and, for the special maintenance fund's votes, each unit's exclusive area and owner — the
//! forecast area until a contract gives its own, the buyer from `ContractSigned` until a
//! `ContractCancelled` hands the unit back to the developer.

use anju_messaging::{Event, Handler, HandlerError, directory};
use anju_proto::{
    EventPayload,
    events::{ContractCancelled, ContractSigned, UnitRegistered},
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::store::fund;

pub struct SalesEvents;

fn id(field: &str, value: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(value).map_err(|e| HandlerError::Permanent(anyhow::anyhow!("{field}: {e}")))
}

#[async_trait::async_trait]
impl Handler for SalesEvents {
    fn wants(&self, event_type: &str) -> bool {
        directory::UnitDirectory.wants(event_type)
            || [ContractSigned::EVENT_TYPE, ContractCancelled::EVENT_TYPE].contains(&event_type)
    }

    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        if event.is::<UnitRegistered>() {
            let u: UnitRegistered = event.decode().map_err(HandlerError::Permanent)?;
            let area = u.forecast_area.map_or(0, |a| a.square_centimetres);
            if area > 0 {
                fund::unit_registered(
                    conn,
                    event.tenant_id,
                    id("unit_id", &u.unit_id)?,
                    id("project_id", &u.project_id)?,
                    id("building_id", &u.building_id)?,
                    area,
                )
                .await?;
            }
        }
        if directory::apply(conn, event).await? {
            return Ok(());
        }
        if event.is::<ContractSigned>() {
            let c: ContractSigned = event.decode().map_err(HandlerError::Permanent)?;
            let area = c.contract_area.map_or(0, |a| a.square_centimetres);
            fund::sold(
                conn,
                event.tenant_id,
                id("unit_id", &c.unit_id)?,
                id("contract_id", &c.contract_id)?,
                &c.customer_id,
                area,
            )
            .await?;
        } else if event.is::<ContractCancelled>() {
            let c: ContractCancelled = event.decode().map_err(HandlerError::Permanent)?;
            fund::cancelled(
                conn,
                event.tenant_id,
                id("unit_id", &c.unit_id)?,
                id("contract_id", &c.contract_id)?,
            )
            .await?;
        }
        Ok(())
    }
}
