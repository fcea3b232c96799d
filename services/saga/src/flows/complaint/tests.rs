//! The complaint flow's transitions, event by event.

use super::*;
use crate::flows::event;

fn recorded() -> (ComplaintFlow, State) {
    let e = ComplaintRecorded {
        complaint_id: Uuid::now_v7().to_string(),
        project_id: Uuid::now_v7().to_string(),
        unit_id: Uuid::now_v7().to_string(),
        category: "quality".into(),
        severity: "high".into(),
        channel: "phone".into(),
        repeat_of: String::new(),
    };
    let t = ComplaintFlow.start(&event(&e)).unwrap();
    (ComplaintFlow, t.state)
}

fn routed(s: &State, queue: &str, round: i32) -> Event {
    event(&ComplaintRouted {
        complaint_id: s.complaint_id.clone(),
        project_id: s.project_id.clone(),
        unit_id: s.unit_id.clone(),
        queue: queue.into(),
        round,
        category: "quality".into(),
        text: "leak".into(),
    })
}

fn repair(s: &State, round: i32, id: &str) -> Event {
    event(&RepairRequested {
        repair_request_id: id.into(),
        project_id: s.project_id.clone(),
        unit_id: s.unit_id.clone(),
        source: "complaint".into(),
        reference: repair_reference(&s.complaint_id, round),
        ..Default::default()
    })
}

#[test]
fn a_maintenance_route_asks_for_one_repair_per_round() {
    let (flow, s) = recorded();
    let t = flow
        .on_event(&s, &routed(&s, MAINTENANCE, 1))
        .unwrap()
        .unwrap();
    assert_eq!(t.commands.len(), 1);
    let Command::CreateRepairRequest(r) = &t.commands[0] else {
        panic!("a repair request");
    };
    assert_eq!(r.reference, repair_reference(&s.complaint_id, 1));
    assert_eq!(ComplaintFlow::state_name(&t.state), "awaiting_repair");
    // The same route again asks for nothing.
    let again = flow
        .on_event(&t.state, &routed(&s, MAINTENANCE, 1))
        .unwrap()
        .unwrap();
    assert!(again.commands.is_empty());
    // Other queues ask for nothing.
    let finance = flow
        .on_event(&s, &routed(&s, "finance", 1))
        .unwrap()
        .unwrap();
    assert!(finance.commands.is_empty());
}

#[test]
fn a_repair_of_an_earlier_round_is_ignored() {
    let (flow, s) = recorded();
    let s = flow
        .on_event(&s, &routed(&s, MAINTENANCE, 1))
        .unwrap()
        .unwrap()
        .state;
    let s = flow
        .on_event(&s, &routed(&s, MAINTENANCE, 2))
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(s.round, 2);
    assert!(flow.on_event(&s, &repair(&s, 1, "r1")).unwrap().is_none());
    let t = flow.on_event(&s, &repair(&s, 2, "r2")).unwrap().unwrap();
    let Command::RecordRepairProgress(p) = &t.commands[0] else {
        panic!("a report");
    };
    assert_eq!(
        (p.round, p.repair_request_id.as_str(), p.closed),
        (2, "r2", false)
    );
}

#[test]
fn only_the_repair_on_record_resolves_and_only_a_complaints_repairs_count() {
    let (flow, s) = recorded();
    let s = flow
        .on_event(&s, &routed(&s, MAINTENANCE, 1))
        .unwrap()
        .unwrap()
        .state;
    let s = flow
        .on_event(&s, &repair(&s, 1, "r1"))
        .unwrap()
        .unwrap()
        .state;
    let closed = |id: &str, source: &str| {
        event(&RepairRequestClosed {
            repair_request_id: id.into(),
            source: source.into(),
            reference: repair_reference(&s.complaint_id, 1),
            resolution: "done".into(),
            ..Default::default()
        })
    };
    assert!(
        flow.on_event(&s, &closed("r2", "complaint"))
            .unwrap()
            .is_none()
    );
    assert!(flow.route(&closed("r1", "owner")).is_none());
    let t = flow
        .on_event(&s, &closed("r1", "complaint"))
        .unwrap()
        .unwrap();
    assert!(t.state.repair_closed);
}

#[test]
fn references_name_the_complaint_and_round() {
    let id = Uuid::now_v7().to_string();
    assert_eq!(of_reference(&repair_reference(&id, 3)), Some((id, 3)));
    assert_eq!(of_reference("defect-17"), None);
    assert_eq!(of_reference("complaint:not-a-uuid:1"), None);
}
