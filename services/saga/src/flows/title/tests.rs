use super::*;
use crate::flows::event;

fn assessed(amount: i64, may_cancel: bool) -> Event {
    event(&AreaDifferenceAssessed {
        contract_id: "c".into(),
        unit_id: "u".into(),
        project_id: Uuid::now_v7().to_string(),
        customer_id: "buyer".into(),
        buyer_amount: Some(Money {
            minor_units: amount,
            currency: "CNY".into(),
        }),
        band: if may_cancel { "below" } else { "within" }.into(),
        buyer_may_cancel: may_cancel,
        ..Default::default()
    })
}

fn issued(t: &Transition<State>) -> Vec<finance::IssueChargeRequest> {
    t.commands
        .iter()
        .filter_map(|c| match c {
            Command::IssueCharge(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_refund_is_a_payable_and_a_shortfall_a_receivable() {
    let refund = TitleFlow.start(&assessed(-9_060_000, false)).unwrap();
    let charge = &issued(&refund)[0];
    assert_eq!(charge.direction, ChargeDirection::Payable as i32);
    assert_eq!(charge.amount.as_ref().unwrap().minor_units, 9_060_000);
    assert_eq!(charge.settlement_group, "title:c:area");
    let owed = TitleFlow.start(&assessed(375_334, false)).unwrap();
    assert_eq!(
        issued(&owed)[0].direction,
        ChargeDirection::Receivable as i32
    );
    assert_eq!(
        TitleFlow::state_name(&owed.state),
        "awaiting_area_settlement"
    );
}

#[test]
fn nothing_owed_charges_nothing() {
    let t = TitleFlow.start(&assessed(0, false)).unwrap();
    assert!(t.commands.is_empty());
    assert_eq!(TitleFlow::state_name(&t.state), "awaiting_documents");
}

#[test]
fn beyond_three_percent_the_choice_comes_first_and_a_cancel_rescinds() {
    let t = TitleFlow.start(&assessed(-9_060_000, true)).unwrap();
    assert!(t.commands.is_empty());
    assert_eq!(TitleFlow::state_name(&t.state), "awaiting_buyer_choice");
    let cancel = event(&BuyerChoiceRecorded {
        contract_id: "c".into(),
        choice: "cancel".into(),
        interest_bp: 345,
        ..Default::default()
    });
    let next = TitleFlow.on_event(&t.state, &cancel).unwrap().unwrap();
    assert!(matches!(
        &next.commands[..],
        [Command::RescindContract(r)] if r.interest_bp == 345 && r.contract_id == "c"
    ));
    // A second choice changes nothing.
    assert!(TitleFlow.on_event(&next.state, &cancel).unwrap().is_none());
    let keep = event(&BuyerChoiceRecorded {
        contract_id: "c".into(),
        choice: "keep".into(),
        deemed: true,
        ..Default::default()
    });
    let kept = TitleFlow.on_event(&t.state, &keep).unwrap().unwrap();
    assert_eq!(issued(&kept).len(), 1);
}

#[test]
fn fees_are_charged_once_in_their_group() {
    let t = TitleFlow.start(&assessed(0, false)).unwrap();
    let fees = event(&TitleFeesAssessed {
        contract_id: "c".into(),
        deed_tax: Some(Money {
            minor_units: 9_000_000,
            currency: "CNY".into(),
        }),
        registration_fee: Some(Money {
            minor_units: 8_000,
            currency: "CNY".into(),
        }),
        ..Default::default()
    });
    let next = TitleFlow.on_event(&t.state, &fees).unwrap().unwrap();
    let charges = issued(&next);
    assert_eq!(charges.len(), 2);
    assert!(charges.iter().all(|c| c.settlement_group == "title:c:fees"));
    assert!(TitleFlow.on_event(&next.state, &fees).unwrap().is_none());
}
