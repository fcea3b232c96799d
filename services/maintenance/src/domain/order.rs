//! A work order's steps as a contractor takes them (DOMAIN.md §3.4): assigned → accepted (or
//! declined) → on site → (off site → on site …) → done; where it goes when its contractor
//! breaches a deadline or declines; and what its completion may cost.

use anju_kit::Refusal;
use uuid::Uuid;

/// An order's states as stored.
pub const UNASSIGNED: &str = "unassigned";
pub const ASSIGNED: &str = "assigned";
pub const ACCEPTED: &str = "accepted";
pub const ON_SITE: &str = "on_site";
pub const OFF_SITE: &str = "off_site";
pub const DONE: &str = "done";

fn refusal(code: &'static str, message: &str, id: Uuid) -> Refusal {
    Refusal::new(code, message).with("repair_request_id", id)
}

/// An assignment is answered once, accepted or declined.
pub fn may_answer(id: Uuid, state: &str) -> Result<(), Refusal> {
    match state {
        ASSIGNED => Ok(()),
        UNASSIGNED => Err(refusal(
            "ORDER_UNASSIGNED",
            "the order is not assigned to a contractor",
            id,
        )),
        answered => Err(refusal(
            "ORDER_ALREADY_ANSWERED",
            "the assignment is already answered",
            id,
        )
        .with("answer", answered)),
    }
}

/// A contractor checks in on an order it accepted, once per visit.
pub fn may_check_in(id: Uuid, state: &str) -> Result<(), Refusal> {
    match state {
        ACCEPTED | OFF_SITE => Ok(()),
        ON_SITE => Err(refusal(
            "ALREADY_ON_SITE",
            "the contractor is already checked in",
            id,
        )),
        other => not_accepted(id, other),
    }
}

/// A contractor checks out of a visit it checked in to.
pub fn may_check_out(id: Uuid, state: &str) -> Result<(), Refusal> {
    match state {
        ON_SITE => Ok(()),
        ACCEPTED | OFF_SITE => Err(refusal(
            "NOT_ON_SITE",
            "the contractor is not checked in",
            id,
        )),
        other => not_accepted(id, other),
    }
}

/// A contractor reports the work done after it was on site; staff may report it at any time
/// (work done in-house or by phone with the contractor).
pub fn may_complete(id: Uuid, state: &str, by_partner: bool) -> Result<(), Refusal> {
    if !by_partner {
        return Ok(());
    }
    match state {
        ON_SITE | OFF_SITE => Ok(()),
        ACCEPTED => Err(refusal(
            "NOT_ON_SITE",
            "the contractor has not been on site",
            id,
        )),
        other => not_accepted(id, other),
    }
}

fn not_accepted(id: Uuid, state: &str) -> Result<(), Refusal> {
    Err(match state {
        UNASSIGNED => refusal(
            "ORDER_UNASSIGNED",
            "the order is not assigned to a contractor",
            id,
        ),
        DONE => refusal(
            "REPAIR_ALREADY_COMPLETED",
            "the work order is already reported done",
            id,
        ),
        _ => refusal(
            "ORDER_NOT_ACCEPTED",
            "the contractor has not accepted the order",
            id,
        ),
    })
}

/// A contractor proposes a plan on an order it accepted; whether it needs the developer's
/// approval: only when its estimate is above what the order allows (DOMAIN.md §3.4). A plan
/// within the limit stands as proposed (and meets a plan deadline all the same).
pub fn may_propose(
    id: Uuid,
    state: &str,
    estimate: i64,
    not_to_exceed: Option<i64>,
) -> Result<bool, Refusal> {
    match state {
        ACCEPTED | ON_SITE | OFF_SITE => {}
        other => return not_accepted(id, other).map(|_| false),
    }
    Ok(not_to_exceed.is_some_and(|limit| estimate > limit))
}

/// A plan is decided once, after it was proposed.
pub fn may_decide(id: Uuid, plan_state: Option<&str>) -> Result<(), Refusal> {
    match plan_state {
        Some("proposed") => Ok(()),
        None => Err(refusal(
            "NO_PLAN_PROPOSED",
            "no repair plan was proposed",
            id,
        )),
        Some(decided) => Err(Refusal::new(
            "PLAN_ALREADY_DECIDED",
            "the repair plan is already decided",
        )
        .with("plan_state", decided)),
    }
}

/// Where an order goes when `current` breaches a deadline or declines it (DOMAIN.md §3.5): from
/// the responsible contractor to the backup vendor; from anyone else (the vendor itself, a
/// contractor a dispatcher chose) nowhere — it stays, or goes back to the dispatchers.
pub fn escalation(current: Uuid, responsible: Option<Uuid>, backup: Option<Uuid>) -> Option<Uuid> {
    match (responsible, backup) {
        (Some(responsible), Some(backup)) if current == responsible && backup != current => {
            Some(backup)
        }
        _ => None,
    }
}

/// The total of a completion's cost lines, refused in another currency than the order's or
/// above its not-to-exceed amount (DOMAIN.md §3.4: more needs an approval first).
pub fn cost_total(
    lines: &[(i64, String)],
    currency: Option<&str>,
    not_to_exceed: Option<i64>,
) -> Result<i64, Refusal> {
    let mut total: i64 = 0;
    for (amount, line_currency) in lines {
        if currency.is_some_and(|c| c != line_currency)
            || lines
                .first()
                .is_some_and(|(_, first)| first != line_currency)
        {
            return Err(Refusal::new(
                "CURRENCY_MISMATCH",
                "a cost line is in another currency than the order's",
            )
            .with("currency", currency.unwrap_or(line_currency)));
        }
        total = total.saturating_add(*amount);
    }
    if let Some(limit) = not_to_exceed
        && total > limit
    {
        return Err(Refusal::new(
            "COST_OVER_LIMIT",
            "the cost is above the order's not-to-exceed amount",
        )
        .with("not_to_exceed_minor", limit)
        .with("cost_minor", total));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contractor_answers_then_visits_then_completes() {
        let id = Uuid::nil();
        let reason = |r: Result<(), Refusal>| r.unwrap_err().reason;
        assert!(may_answer(id, ASSIGNED).is_ok());
        assert_eq!(reason(may_answer(id, ACCEPTED)), "ORDER_ALREADY_ANSWERED");
        assert_eq!(reason(may_answer(id, UNASSIGNED)), "ORDER_UNASSIGNED");
        assert_eq!(reason(may_check_in(id, ASSIGNED)), "ORDER_NOT_ACCEPTED");
        assert!(may_check_in(id, ACCEPTED).is_ok());
        assert_eq!(reason(may_check_in(id, ON_SITE)), "ALREADY_ON_SITE");
        assert_eq!(reason(may_check_out(id, ACCEPTED)), "NOT_ON_SITE");
        assert!(may_check_out(id, ON_SITE).is_ok());
        assert!(may_check_in(id, OFF_SITE).is_ok());
        assert_eq!(reason(may_complete(id, ACCEPTED, true)), "NOT_ON_SITE");
        assert!(may_complete(id, OFF_SITE, true).is_ok());
        assert!(may_complete(id, ASSIGNED, false).is_ok());
        assert_eq!(
            reason(may_complete(id, DONE, true)),
            "REPAIR_ALREADY_COMPLETED"
        );
    }

    #[test]
    fn a_plan_is_proposed_above_the_limit_and_decided_once() {
        let id = Uuid::nil();
        let reason = |r: Result<(), Refusal>| r.unwrap_err().reason;
        assert_eq!(may_propose(id, ACCEPTED, 300_001, Some(300_000)), Ok(true));
        assert_eq!(may_propose(id, ACCEPTED, 300_000, Some(300_000)), Ok(false));
        assert_eq!(may_propose(id, ON_SITE, 1, None), Ok(false));
        assert_eq!(
            may_propose(id, ASSIGNED, 300_001, Some(1))
                .unwrap_err()
                .reason,
            "ORDER_NOT_ACCEPTED"
        );
        assert!(may_decide(id, Some("proposed")).is_ok());
        assert_eq!(reason(may_decide(id, None)), "NO_PLAN_PROPOSED");
        assert_eq!(
            reason(may_decide(id, Some("approved"))),
            "PLAN_ALREADY_DECIDED"
        );
    }

    #[test]
    fn only_the_responsible_contractors_failure_goes_to_the_backup_vendor() {
        let (c, b, other) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        assert_eq!(escalation(c, Some(c), Some(b)), Some(b));
        assert_eq!(escalation(b, Some(c), Some(b)), None);
        assert_eq!(escalation(other, Some(c), Some(b)), None);
        assert_eq!(escalation(c, None, None), None);
    }

    #[test]
    fn a_completion_costs_at_most_the_not_to_exceed_amount_in_one_currency() {
        let lines = vec![(30_000, "CNY".to_string()), (20_001, "CNY".to_string())];
        assert_eq!(cost_total(&lines, Some("CNY"), Some(50_001)), Ok(50_001));
        let over = cost_total(&lines, Some("CNY"), Some(50_000)).unwrap_err();
        assert_eq!(over.reason, "COST_OVER_LIMIT");
        let mixed = vec![(1, "CNY".to_string()), (1, "HKD".to_string())];
        assert_eq!(
            cost_total(&mixed, None, None).unwrap_err().reason,
            "CURRENCY_MISMATCH"
        );
        assert_eq!(cost_total(&[], None, Some(1)), Ok(0));
    }
}
