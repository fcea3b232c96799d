use anju_proto::events::DefectFound;

use super::*;
use crate::flows::event;

fn waiting() -> State {
    State {
        unit_id: "unit".into(),
        project_id: Uuid::now_v7().to_string(),
        batch_id: "batch".into(),
        fees_settled: true,
        inspection_passed: false,
        failed_rounds: 0,
        window_start: Utc::now(),
        stage: Stage::Waiting,
        fees: vec![Fee {
            purpose: "property_fee".into(),
            minor_units: 93_450,
            currency: "CNY".into(),
            due_on: "2027-01-01".into(),
            charge_key: "handover:unit:property_fee".into(),
        }],
        open_repairs: Vec::new(),
    }
}

fn closed(reference: &str, source: &str) -> Event {
    event(&RepairRequestClosed {
        unit_id: "unit".into(),
        source: source.into(),
        reference: reference.into(),
        resolution: "fixed".into(),
        ..Default::default()
    })
}

#[test]
fn a_failed_round_waits_for_every_repair_then_asks_the_owner_back_once() {
    let flow = MoveInFlow;
    let failed = event(&InspectionRecorded {
        unit_id: "unit".into(),
        round: 1,
        passed: false,
        defects: ["d1", "d2"]
            .map(|id| DefectFound {
                defect_id: id.into(),
                room: "kitchen".into(),
                category: "plumbing".into(),
                description: "leak".into(),
                severity: "major".into(),
            })
            .to_vec(),
        ..Default::default()
    });
    let t = flow.on_event(&waiting(), &failed).unwrap().unwrap();
    let references: Vec<String> = t
        .commands
        .iter()
        .map(|c| match c {
            Command::CreateRepairRequest(r) => r.reference.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(references, ["d1", "d2"]);
    assert_eq!(MoveInFlow::state_name(&t.state), "awaiting_repairs");

    // An owner's own repair of the unit is no move-in input; an unknown defect changes nothing.
    assert!(flow.route(&closed("d1", "owner")).is_none());
    assert!(
        flow.on_event(&t.state, &closed("d9", "inspection"))
            .unwrap()
            .is_none()
    );

    let one = flow
        .on_event(&t.state, &closed("d1", "inspection"))
        .unwrap()
        .unwrap();
    assert!(one.commands.is_empty());
    assert_eq!(MoveInFlow::state_name(&one.state), "awaiting_repairs");
    // The same close again (a redelivery under another event id) changes nothing.
    assert!(
        flow.on_event(&one.state, &closed("d1", "inspection"))
            .unwrap()
            .is_none()
    );

    let both = flow
        .on_event(&one.state, &closed("d2", "inspection"))
        .unwrap()
        .unwrap();
    assert_eq!(MoveInFlow::state_name(&both.state), "awaiting_reinspection");
    match both.commands.as_slice() {
        [Command::RecordNotice(n)] => {
            assert_eq!(n.kind, "reinspection");
            assert!(n.fees.is_empty());
        }
        other => panic!("expected one re-inspection notice, got {other:?}"),
    }
    assert!(
        flow.on_event(&both.state, &closed("d2", "inspection"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn the_notice_and_the_reminders_carry_the_fee_list() {
    let state = waiting();
    for kind in ["notice", "reminder"] {
        let Command::RecordNotice(n) = state.notice(kind) else {
            panic!("a notice");
        };
        assert_eq!(n.fees.len(), 1);
        assert_eq!(n.fees[0].amount.as_ref().unwrap().minor_units, 93_450);
        assert_eq!(n.fees[0].charge_key, "handover:unit:property_fee");
    }
}
