//! Sales events that shape handover's read models: units and who bought them.

use anju_messaging::{Event, Handler, HandlerError};
use anju_proto::{
    EventPayload,
    events::{ContractCancelled, ContractSigned, UnitRegistered},
};
use anyhow::Context;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct SalesEvents;

fn uuid(field: &str, value: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(value)
        .with_context(|| format!("{field} is not a UUID"))
        .map_err(HandlerError::Permanent)
}

#[async_trait::async_trait]
impl Handler for SalesEvents {
    fn wants(&self, event_type: &str) -> bool {
        [
            UnitRegistered::EVENT_TYPE,
            ContractSigned::EVENT_TYPE,
            ContractCancelled::EVENT_TYPE,
        ]
        .contains(&event_type)
    }

    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        if event.is::<UnitRegistered>() {
            return unit_registered(conn, event).await;
        }
        if event.is::<ContractSigned>() {
            let c: ContractSigned = event.decode().map_err(HandlerError::Permanent)?;
            let area = c.contract_area.map(|a| a.square_centimetres).unwrap_or(0);
            // Sequence-guarded: a stale event never overwrites a newer one.
            sqlx::query(
                "insert into contracts (unit_id, tenant_id, contract_id, project_id, building_id, customer_id,
                                        buyer_name, buyer_id_hash, area_cm2, active, last_sequence, time_zone)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, $10, $11)
                 on conflict (unit_id) do update set
                     contract_id = excluded.contract_id, customer_id = excluded.customer_id,
                     buyer_name = excluded.buyer_name, buyer_id_hash = excluded.buyer_id_hash,
                     area_cm2 = excluded.area_cm2, active = true, last_sequence = excluded.last_sequence,
                     time_zone = excluded.time_zone
                 where contracts.tenant_id = excluded.tenant_id
                   and (contracts.contract_id <> excluded.contract_id or contracts.last_sequence < excluded.last_sequence)",
            )
            .bind(uuid("unit_id", &c.unit_id)?)
            .bind(event.tenant_id)
            .bind(uuid("contract_id", &c.contract_id)?)
            .bind(uuid("project_id", &c.project_id)?)
            .bind(uuid("building_id", &c.building_id)?)
            .bind(uuid("customer_id", &c.customer_id)?)
            .bind(&c.buyer_name)
            .bind(&c.buyer_id_hash)
            .bind(area)
            .bind(event.sequence())
            .bind(anju_kit::time::ProjectZone::or_default(&c.time_zone).name())
            .execute(conn)
            .await?;
            return Ok(());
        }
        let c: ContractCancelled = event.decode().map_err(HandlerError::Permanent)?;
        sqlx::query(
            "update contracts set active = false, last_sequence = $3
             where tenant_id = $1 and contract_id = $2 and last_sequence < $3",
        )
        .bind(event.tenant_id)
        .bind(uuid("contract_id", &c.contract_id)?)
        .bind(event.sequence())
        .execute(conn)
        .await?;
        Ok(())
    }
}

async fn unit_registered(conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
    let unit: UnitRegistered = event.decode().map_err(HandlerError::Permanent)?;
    let area = unit
        .forecast_area
        .map(|a| a.square_centimetres)
        .context("UnitRegistered.forecast_area missing")
        .map_err(HandlerError::Permanent)?;
    sqlx::query(
        "insert into units (unit_id, tenant_id, project_id, building_id, unit_number, forecast_area_cm2, last_sequence, layout)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (unit_id) do update set
             project_id = excluded.project_id, building_id = excluded.building_id,
             unit_number = excluded.unit_number, forecast_area_cm2 = excluded.forecast_area_cm2,
             layout = excluded.layout,
             last_sequence = excluded.last_sequence, updated_at = now()
         where units.last_sequence < excluded.last_sequence and units.tenant_id = excluded.tenant_id",
    )
    .bind(uuid("unit_id", &unit.unit_id)?)
    .bind(event.tenant_id)
    .bind(uuid("project_id", &unit.project_id)?)
    .bind(uuid("building_id", &unit.building_id)?)
    .bind(&unit.unit_number)
    .bind(area)
    .bind(event.sequence())
    .bind(&unit.layout)
    .execute(conn)
    .await?;
    Ok(())
}
