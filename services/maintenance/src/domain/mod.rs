//! Maintenance's rules, free of I/O: the warranty decision and its two clocks
//! ([`warranty`]), what a contractor's warranty costs it ([`money`]), the owners' vote on
//! the special maintenance fund ([`vote`]), and a work order's clocks ([`work_order`]).

pub mod money;
pub mod vote;
pub mod warranty;
pub mod work_order;

use anju_kit::Refusal;
use anju_proto::maintenance as pb;
use uuid::Uuid;

/// Where a repair request came from, as stored.
pub fn source_name(source: pb::RepairSource) -> Option<&'static str> {
    match source {
        pb::RepairSource::Unspecified => None,
        pb::RepairSource::Owner => Some("owner"),
        pb::RepairSource::Inspection => Some("inspection"),
        pb::RepairSource::Complaint => Some("complaint"),
    }
}

/// A request is closed once: closing a closed one is refused.
pub fn close(repair_request_id: Uuid, status: &str) -> Result<(), Refusal> {
    if status == "open" {
        return Ok(());
    }
    Err(Refusal::new(
        "REPAIR_ALREADY_CLOSED",
        "the repair request is already closed",
    )
    .with("repair_request_id", repair_request_id))
}
