//! Finance's settlements of the groups the coordinator charges for title:
//! `title:<contract_id>:area` (the area difference) and `title:<contract_id>:fees` (deed tax
//! and registration fees). Title learns from them itself, so its rule that an application
//! needs the fees paid holds on its own facts.
//!
//! `SettlementGroupSettled`, `SettlementGroupReopened` (a payment refunded) and
//! `SettlementGroupClosed` share one per-group sequence; the latest applied wins
//! (`title_settlements`), so a stale or duplicate `Settled` after a `Reopened` changes nothing.
//! A reopened group clears the step it paid for until it settles again — unless the
//! application already went to the registry, which a refund does not undo.

use anju_messaging::{Event, EventMeta, Handler, HandlerError, Outbox, settlement};
use anju_proto::events::{AreaDifferenceSettled, TitleFeesPaid};
use sqlx::PgConnection;
use uuid::Uuid;

use super::publish::StepError;
use crate::store::{files, steps};

pub struct FinanceEvents {
    pub outbox: Outbox,
}

/// The contract and part ("area" or "fees") of a title group.
fn title_group(group: &str) -> Option<(Uuid, &str)> {
    let rest = group.strip_prefix("title:")?;
    let (contract, part) = rest.split_once(':')?;
    let part = ["area", "fees"].into_iter().find(|p| *p == part)?;
    Some((Uuid::parse_str(contract).ok()?, part))
}

#[async_trait::async_trait]
impl Handler for FinanceEvents {
    fn wants(&self, event_type: &str) -> bool {
        settlement::EVENTS.contains(&event_type)
    }

    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        let Some((group, settled)) = settlement::state(event).map_err(HandlerError::Permanent)?
        else {
            return Ok(());
        };
        let Some((contract_id, part)) = title_group(&group) else {
            return Ok(());
        };
        let Some(file) = files::lock_by_contract(conn, event.tenant_id, contract_id).await? else {
            return Ok(());
        };
        // Sequence-guarded: nothing comes back for a stale or repeated event.
        let applied: Option<bool> = sqlx::query_scalar(
            "insert into title_settlements (contract_id, part, settled, last_sequence)
             values ($1, $2, $3, $4)
             on conflict (contract_id, part) do update set
                 settled = excluded.settled, last_sequence = excluded.last_sequence
             where title_settlements.last_sequence < excluded.last_sequence
             returning settled",
        )
        .bind(contract_id)
        .bind(part)
        .bind(settled)
        .bind(event.sequence())
        .fetch_optional(&mut *conn)
        .await?;
        if applied.is_none() {
            return Ok(());
        }
        if !settled {
            if file.submitted_at.is_none() {
                steps::unsettled(conn, file.unit_id, part).await?;
            }
            return Ok(());
        }
        let meta = EventMeta::new(event.tenant_id, "title_file", file.unit_id).caused_by(event);
        let (contract, unit) = (contract_id.to_string(), file.unit_id.to_string());
        let appended = match part {
            "area" if file.area_settled_at.is_none() => {
                steps::area_settled(conn, file.unit_id).await?;
                let e = AreaDifferenceSettled {
                    contract_id: contract,
                    unit_id: unit,
                };
                self.outbox.append(conn, meta, &e).await
            }
            "fees" if file.fees_paid_at.is_none() => {
                steps::fees_paid(conn, file.unit_id).await?;
                let e = TitleFeesPaid {
                    contract_id: contract,
                    unit_id: unit,
                };
                self.outbox.append(conn, meta, &e).await
            }
            _ => return Ok(()),
        };
        appended.map_err(StepError::from)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_title_groups_of_a_contract_are_read() {
        let id = "0190a5a0-0000-7000-8000-000000000001";
        assert!(super::title_group(&format!("title:{id}:area")).is_some());
        assert!(super::title_group(&format!("title:{id}:fees")).is_some());
        assert!(super::title_group(&format!("title:{id}:fees:refund")).is_none());
        assert!(super::title_group(&format!("handover:{id}")).is_none());
    }
}
