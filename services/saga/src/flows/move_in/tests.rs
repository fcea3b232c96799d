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
        notice_sent: true,
        notice_at: None,
        customer_id: "customer".into(),
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

#[test]
fn the_notice_waits_for_the_plan_and_goes_out_on_its_timer_by_post_and_sms() {
    let flow = MoveInFlow;
    let state = State {
        notice_sent: false,
        fees_settled: false,
        ..waiting()
    };
    // No timer fires a notice before the plan's approval scheduled it; a reminder neither.
    assert!(flow.on_timer(&state, "fees_reminder").is_none());
    let at = Utc::now() + chrono::Duration::days(3);
    let scheduled = event(&MoveInNoticeScheduled {
        unit_id: "unit".into(),
        notice_at: Some(timestamp(at)),
        ..Default::default()
    });
    let t = flow.on_event(&state, &scheduled).unwrap().unwrap();
    assert!(t.commands.is_empty(), "nothing is sent before the date");
    assert_eq!(t.set_timers.len(), 1);
    assert_eq!(t.set_timers[0].0, "notice");
    assert_eq!(t.set_timers[0].1.timestamp(), at.timestamp());
    let sent = flow.on_timer(&t.state, "notice").unwrap();
    let channels: Vec<&str> = sent
        .commands
        .iter()
        .map(|c| match c {
            Command::RecordNotice(n) if n.kind == "notice" && n.fees.len() == 1 => {
                n.channel.as_str()
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(channels, ["post", "sms"]);
    assert!(sent.state.notice_sent);
    // Fired again (a duplicate timer) or scheduled again, nothing more is sent.
    assert!(flow.on_timer(&sent.state, "notice").is_none());
    assert!(flow.on_event(&sent.state, &scheduled).unwrap().is_none());
}

#[test]
fn issues_raised_at_an_inspection_open_complaints() {
    let flow = MoveInFlow;
    let passed = event(&InspectionRecorded {
        unit_id: "unit".into(),
        project_id: "project".into(),
        round: 1,
        passed: true,
        owner_name: "Li Wei".into(),
        customer_id: "customer-1".into(),
        issues: vec![
            anju_proto::events::IssueRaised {
                issue_id: "i1".into(),
                kind: "estate".into(),
                description: "the garden is unfinished".into(),
            },
            anju_proto::events::IssueRaised {
                issue_id: "i2".into(),
                kind: "fees".into(),
                description: "the parking fee".into(),
            },
        ],
        ..Default::default()
    });
    let t = flow.on_event(&waiting(), &passed).unwrap().unwrap();
    let complaints: Vec<(i32, String)> = t
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::RecordComplaint(r) => Some((r.category, r.customer_id.clone())),
            _ => None,
        })
        .collect();
    use anju_proto::complaints::ComplaintCategory as C;
    assert_eq!(
        complaints,
        [
            (C::PropertyManagement as i32, "customer-1".to_string()),
            (C::Fees as i32, "customer-1".to_string())
        ]
    );
    assert!(
        t.commands
            .iter()
            .any(|c| matches!(c, Command::GrantKeyClearance(_))),
        "fees settled and passed: cleared as well"
    );
}
