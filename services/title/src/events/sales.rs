//! Sales' events: the unit directory, and each unit's contract — buyer, contract area, price,
//! mortgage and lending bank — or its cancellation.

use anju_messaging::{Event, EventMeta, Handler, HandlerError, Outbox, directory};
use anju_proto::{
    EventPayload,
    events::{ContractCancelled, ContractSigned, ProjectCreated, TitleFileClosed, UnitRegistered},
};
use sqlx::PgConnection;

use super::{publish, uuid};
use crate::store::files::{self, Contract};

pub struct SalesEvents {
    pub outbox: Outbox,
}

#[async_trait::async_trait]
impl Handler for SalesEvents {
    fn wants(&self, event_type: &str) -> bool {
        [
            ProjectCreated::EVENT_TYPE,
            UnitRegistered::EVENT_TYPE,
            ContractSigned::EVENT_TYPE,
            ContractCancelled::EVENT_TYPE,
        ]
        .contains(&event_type)
    }

    /// A unit's file: the API's calls on it lock the same row.
    fn lock_key(&self, event: &Event) -> Option<String> {
        if event.is::<ContractSigned>() {
            return event.decode::<ContractSigned>().ok().map(|c| c.unit_id);
        }
        if event.is::<ContractCancelled>() {
            return event.decode::<ContractCancelled>().ok().map(|c| c.unit_id);
        }
        None
    }

    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        if directory::apply(conn, event).await? {
            return Ok(());
        }
        if event.is::<ContractSigned>() {
            let c: ContractSigned = event.decode().map_err(HandlerError::Permanent)?;
            let price = c.price.clone().unwrap_or_default();
            let contract = Contract {
                unit_id: uuid("unit_id", &c.unit_id)?,
                project_id: uuid("project_id", &c.project_id)?,
                building_id: uuid("building_id", &c.building_id)?,
                contract_id: uuid("contract_id", &c.contract_id)?,
                customer_id: uuid("customer_id", &c.customer_id)?,
                buyer_name: c.buyer_name.clone(),
                contract_area_cm2: c.contract_area.map(|a| a.square_centimetres).unwrap_or(0),
                price_minor: price.minor_units,
                currency: price.currency,
                mortgaged: c.schedule.iter().any(|l| l.kind == "mortgage_loan"),
                lending_bank: c.lending_bank.clone(),
                time_zone: anju_kit::time::ProjectZone::or_default(&c.time_zone)
                    .name()
                    .to_string(),
            };
            if contract.contract_area_cm2 <= 0 || contract.price_minor <= 0 {
                return Err(HandlerError::Permanent(anyhow::anyhow!(
                    "ContractSigned without a contract area or price"
                )));
            }
            let Some(file) =
                files::learn_contract(conn, event.tenant_id, &contract, event.sequence()).await?
            else {
                return Ok(());
            };
            let meta = EventMeta::new(event.tenant_id, "title_file", file.unit_id).caused_by(event);
            publish::assess_if_ready(conn, &self.outbox, meta, file).await?;
            return Ok(());
        }
        let c: ContractCancelled = event.decode().map_err(HandlerError::Permanent)?;
        let contract_id = uuid("contract_id", &c.contract_id)?;
        if let Some(file) = files::cancel_contract(conn, event.tenant_id, contract_id).await? {
            // Only a file the coordinator's title flow knows (assessed) is announced closed.
            if file.assessed_at.is_some() {
                let meta =
                    EventMeta::new(event.tenant_id, "title_file", file.unit_id).caused_by(event);
                let closed = TitleFileClosed {
                    contract_id: c.contract_id.clone(),
                    unit_id: file.unit_id.to_string(),
                };
                self.outbox
                    .append(conn, meta, &closed)
                    .await
                    .map_err(publish::StepError::from)?;
            }
        }
        Ok(())
    }
}
