//! Sales events that shape handover's read model.

use anju_messaging::{Event, Handler, HandlerError};
use anju_proto::{EventPayload, events::UnitRegistered};
use anyhow::Context;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct SalesEvents;

#[async_trait::async_trait]
impl Handler for SalesEvents {
    fn wants(&self, event_type: &str) -> bool {
        event_type == UnitRegistered::EVENT_TYPE
    }

    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        let unit: UnitRegistered = event.decode().map_err(HandlerError::Permanent)?;
        let parse = |field: &str, value: &str| {
            Uuid::parse_str(value)
                .with_context(|| format!("UnitRegistered.{field} is not a UUID"))
                .map_err(HandlerError::Permanent)
        };
        let area = unit
            .forecast_area
            .map(|a| a.square_centimetres)
            .context("UnitRegistered.forecast_area missing")
            .map_err(HandlerError::Permanent)?;
        // Upsert guarded by the aggregate sequence: a stale event never overwrites a newer one.
        sqlx::query(
            "insert into units (unit_id, tenant_id, project_id, building_id, unit_number, forecast_area_cm2, last_sequence)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (unit_id) do update set
                 project_id = excluded.project_id, building_id = excluded.building_id,
                 unit_number = excluded.unit_number, forecast_area_cm2 = excluded.forecast_area_cm2,
                 last_sequence = excluded.last_sequence, updated_at = now()
             where units.last_sequence < excluded.last_sequence and units.tenant_id = excluded.tenant_id",
        )
        .bind(parse("unit_id", &unit.unit_id)?)
        .bind(event.tenant_id)
        .bind(parse("project_id", &unit.project_id)?)
        .bind(parse("building_id", &unit.building_id)?)
        .bind(&unit.unit_number)
        .bind(area)
        .bind(event.sequence())
        .execute(conn)
        .await?;
        Ok(())
    }
}
