//! Maintenance's rules, free of I/O: the warranty decision and its two clocks
//! ([`warranty`]), what a contractor's warranty costs it ([`money`]) and what a closed repair
//! charges ([`charges`]), the owners' vote on the special maintenance fund ([`vote`]), a work
//! order's clocks ([`work_order`]) and its steps ([`order`]).

pub mod charges;
pub mod fund;
pub mod ledger;
pub mod money;
pub mod order;
pub mod vote;
pub mod warranty;
pub mod work_order;

use anju_kit::{Refusal, Role};
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

/// The priority as stored.
pub fn priority_name(priority: pb::Priority) -> Option<&'static str> {
    match priority {
        pb::Priority::Unspecified => None,
        pb::Priority::Normal => Some("normal"),
        pb::Priority::Urgent => Some("urgent"),
    }
}

/// The four who confirm a completed repair before its request closes (DOMAIN.md §3.7, seed
/// ⑨ 5): maintenance, the owner, the supervising engineer and the project department.
pub const PARTIES: [&str; 4] = [
    "maintenance",
    "owner",
    "supervising_engineer",
    "project_department",
];

pub fn party_name(party: pb::SignOffParty) -> Option<&'static str> {
    match party {
        pb::SignOffParty::Unspecified => None,
        pb::SignOffParty::Maintenance => Some("maintenance"),
        pb::SignOffParty::Owner => Some("owner"),
        pb::SignOffParty::SupervisingEngineer => Some("supervising_engineer"),
        pb::SignOffParty::ProjectDepartment => Some("project_department"),
    }
}

/// The role that signs for `party` (the owner's signature is taken by customer service).
pub fn signer(party: &str) -> Option<Role> {
    match party {
        "maintenance" => Some(Role::MaintenanceDispatcher),
        "owner" => Some(Role::CustomerService),
        "supervising_engineer" => Some(Role::SupervisingEngineer),
        "project_department" => Some(Role::ProjectDepartment),
        _ => None,
    }
}

/// The work is reported done once, on an open request.
pub fn complete(repair_request_id: Uuid, status: &str) -> Result<(), Refusal> {
    match status {
        "open" => Ok(()),
        "completed" => Err(Refusal::new(
            "REPAIR_ALREADY_COMPLETED",
            "the work order is already reported done",
        )
        .with("repair_request_id", repair_request_id)),
        _ => Err(closed(repair_request_id)),
    }
}

/// Sign-offs are taken on a completed request, not before the work is done nor after it closed.
pub fn may_sign_off(repair_request_id: Uuid, status: &str) -> Result<(), Refusal> {
    match status {
        "completed" => Ok(()),
        "open" => Err(Refusal::new(
            "REPAIR_NOT_COMPLETED",
            "the repair is not reported done yet",
        )
        .with("repair_request_id", repair_request_id)),
        _ => Err(closed(repair_request_id)),
    }
}

/// A follow-up comes after the request closed, once per round.
pub fn may_follow_up(repair_request_id: Uuid, status: &str) -> Result<(), Refusal> {
    if status == "closed" {
        Ok(())
    } else {
        Err(Refusal::new(
            "REPAIR_NOT_CLOSED",
            "the request is followed up once its four sign-offs closed it",
        )
        .with("repair_request_id", repair_request_id))
    }
}

/// The refusal of a second follow-up of one round.
pub fn followed_up(round: i32) -> Refusal {
    Refusal::new("FOLLOW_UP_DONE", "this round was already followed up").with("round", round)
}

/// An owner who scores the follow-up 2 or less of 5 is unsatisfied: the request reopens
/// (DOMAIN.md §3.7, as a complaint's follow-up does, §4).
pub fn reopens(satisfaction: i32) -> bool {
    satisfaction <= 2
}

/// A completed request closes when every party has signed.
pub fn signed_off(signed: &[String]) -> bool {
    PARTIES.iter().all(|p| signed.iter().any(|s| s == p))
}

fn closed(repair_request_id: Uuid) -> Refusal {
    Refusal::new(
        "REPAIR_ALREADY_CLOSED",
        "the repair request is already closed",
    )
    .with("repair_request_id", repair_request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_closes_with_the_fourth_party_in_any_order() {
        let mut signed: Vec<String> = Vec::new();
        for party in ["project_department", "owner", "maintenance"] {
            signed.push(party.into());
            assert!(!signed_off(&signed));
        }
        signed.push("owner".into());
        assert!(!signed_off(&signed), "a party twice is still one party");
        signed.push("supervising_engineer".into());
        assert!(signed_off(&signed));
    }

    #[test]
    fn sign_offs_come_after_the_work_and_before_the_close() {
        let id = Uuid::nil();
        assert_eq!(
            may_sign_off(id, "open").unwrap_err().reason,
            "REPAIR_NOT_COMPLETED"
        );
        assert!(may_sign_off(id, "completed").is_ok());
        assert_eq!(
            may_sign_off(id, "closed").unwrap_err().reason,
            "REPAIR_ALREADY_CLOSED"
        );
        assert!(complete(id, "open").is_ok());
        assert_eq!(
            complete(id, "completed").unwrap_err().reason,
            "REPAIR_ALREADY_COMPLETED"
        );
    }
}
