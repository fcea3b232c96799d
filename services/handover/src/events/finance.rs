//! Whether a unit's handover fees are settled, learnt by handover itself from finance's
//! settlement events, so that the key rule (DOMAIN.md §2.7) holds on handover's own facts and
//! not only on the coordinator's clearance.
//!
//! The unit's fees are the settlement group `handover:<unit_id>` (the move-in saga charges them
//! there). Its `SettlementGroupSettled`, `SettlementGroupReopened` and `SettlementGroupClosed`
//! share one per-group sequence: the latest applied wins, so a stale or duplicate `Settled`
//! after a `Reopened` changes nothing. The state is kept in `fee_settlements` whether or not
//! the unit's handover row exists yet; the handover row is never touched by these events (so
//! applying them never waits on, or holds up, the counter's calls on that row). A key release
//! reads the settlement ([`crate::store::fees_settled_at`]) and keeps on the row the one it was released on.

use anju_messaging::{Event, Handler, HandlerError, settlement};
use sqlx::PgConnection;
use uuid::Uuid;

pub struct FinanceEvents;

/// The unit whose handover fees `group` holds; `None` for any other group (a contract's, or
/// the refund group `handover:<unit_id>:refund` a closed group's refund goes to).
fn handover_unit(group: &str) -> Option<Uuid> {
    let unit = group.strip_prefix("handover:")?;
    // Only the hyphenated form the saga writes; other spellings are other groups.
    (unit.len() == 36).then(|| Uuid::parse_str(unit).ok())?
}

#[async_trait::async_trait]
impl Handler for FinanceEvents {
    fn wants(&self, event_type: &str) -> bool {
        settlement::EVENTS.contains(&event_type)
    }

    /// The unit's row: a batch's creation locks units in this (unit id) order too.
    fn lock_key(&self, event: &Event) -> Option<String> {
        let (group, _) = settlement::state(event).ok()??;
        handover_unit(&group).map(|unit| unit.to_string())
    }

    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        let Some((group, settled)) = settlement::state(event).map_err(HandlerError::Permanent)?
        else {
            return Ok(());
        };
        let Some(unit_id) = handover_unit(&group) else {
            return Ok(());
        };
        let applied = sqlx::query(
            "insert into fee_settlements (unit_id, tenant_id, settled_at, last_sequence)
             values ($1, $2, case when $3 then now() end, $4)
             on conflict (unit_id) do update set
                 settled_at = excluded.settled_at, last_sequence = excluded.last_sequence
             where fee_settlements.tenant_id = excluded.tenant_id
               and fee_settlements.last_sequence < excluded.last_sequence",
        )
        .bind(unit_id)
        .bind(event.tenant_id)
        .bind(settled)
        .bind(event.sequence())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if applied == 0 {
            tracing::info!(%unit_id, sequence = event.sequence(), "stale settlement event ignored");
        } else {
            tracing::info!(%unit_id, settled, "handover fees settlement learnt");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::handover_unit;

    #[test]
    fn only_the_units_own_fee_group_counts() {
        let unit = "0192f1d2-7c4e-7a3b-9f00-0123456789ab";
        assert_eq!(
            handover_unit(&format!("handover:{unit}")).map(|u| u.to_string()),
            Some(unit.to_string())
        );
        assert_eq!(handover_unit(&format!("handover:{unit}:refund")), None);
        assert_eq!(
            handover_unit(&format!("contract:{unit}:down_payment")),
            None
        );
        assert_eq!(
            handover_unit(&format!("handover:{}", unit.replace('-', ""))),
            None
        );
    }
}
