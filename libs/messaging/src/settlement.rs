//! Finance's settlement events as the services that hold a rule on a group's payment read
//! them (handover's handover fees, title's area difference and fees): `SettlementGroupSettled`,
//! `SettlementGroupReopened` (a payment refunded) and `SettlementGroupClosed` share one
//! per-group sequence, and the latest applied says whether the group is paid.

use anju_proto::{
    EventPayload,
    events::{SettlementGroupClosed, SettlementGroupReopened, SettlementGroupSettled},
};

use crate::Event;

/// The event types [`state`] reads.
pub const EVENTS: [&str; 3] = [
    SettlementGroupSettled::EVENT_TYPE,
    SettlementGroupReopened::EVENT_TYPE,
    SettlementGroupClosed::EVENT_TYPE,
];

/// The group an event concerns and whether it is settled after it; `None` for other events.
pub fn state(event: &Event) -> anyhow::Result<Option<(String, bool)>> {
    if event.is::<SettlementGroupSettled>() {
        let e: SettlementGroupSettled = event.decode()?;
        return Ok(Some((e.settlement_group, true)));
    }
    if event.is::<SettlementGroupReopened>() {
        let e: SettlementGroupReopened = event.decode()?;
        return Ok(Some((e.settlement_group, false)));
    }
    if event.is::<SettlementGroupClosed>() {
        // A closed group's unpaid charges are cancelled and what was paid is owed back.
        let e: SettlementGroupClosed = event.decode()?;
        return Ok(Some((e.settlement_group, false)));
    }
    Ok(None)
}
