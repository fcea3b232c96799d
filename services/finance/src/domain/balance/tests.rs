use super::*;

fn refused(result: Result<Balance, ServiceError>) -> String {
    match result {
        Err(ServiceError::FailedPrecondition(refusal)) => refusal.message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn partial_payments_settle_exactly_and_overpayment_names_the_outstanding_amount() {
    let b = Balance::new(10_000).pay(3_000, "CNY").unwrap();
    assert_eq!((b.outstanding(), b.status()), (7_000, Status::Open));
    let message = refused(b.pay(7_001, "CNY"));
    assert!(
        message.contains("outstanding amount is 7000 CNY minor units"),
        "{message}"
    );
    let b = b.pay(7_000, "CNY").unwrap();
    assert_eq!((b.outstanding(), b.status()), (0, Status::Settled));
    assert!(refused(b.pay(1, "CNY")).contains("is 0 CNY"));
    let Err(ServiceError::FailedPrecondition(refusal)) = b.pay(1, "CNY") else {
        panic!("an overpayment is refused");
    };
    assert_eq!(refusal.reason, "OVERPAYMENT");
    assert!(
        refusal
            .metadata
            .contains(&("outstanding_minor", "0".into()))
    );
}

#[test]
fn refunds_reopen_and_cancel_needs_nothing_paid() {
    let b = Balance::new(5_000).pay(5_000, "CNY").unwrap();
    assert!(refused(b.cancel("CNY")).contains("5000 CNY"));
    let b = b.refund(2_000, "CNY").unwrap();
    assert_eq!(
        (b.net_paid(), b.outstanding(), b.status()),
        (3_000, 2_000, Status::Open)
    );
    assert!(refused(b.refund(3_001, "CNY")).contains("3000"));
    let b = b.refund(3_000, "CNY").unwrap().cancel("CNY").unwrap();
    assert_eq!(
        (b.billed(), b.outstanding(), b.status()),
        (0, 0, Status::Cancelled)
    );
    assert!(refused(b.pay(1, "CNY")).contains("cancelled"));
}

#[test]
fn a_payment_refunds_at_most_its_unrefunded_rest() {
    assert!(check_refund(5_000, 2_000, 3_000, "CNY").is_ok());
    let Err(ServiceError::FailedPrecondition(refusal)) = check_refund(5_000, 2_000, 3_001, "CNY")
    else {
        panic!("expected a refusal");
    };
    assert_eq!(refusal.reason, "REFUND_EXCEEDS_REFUNDABLE");
    assert!(
        refusal
            .message
            .contains("refundable amount of the payment is 3000 CNY"),
        "{refusal:?}"
    );
}

#[test]
fn directions_follow_the_purpose() {
    use pb::ChargeDirection::*;
    assert_eq!(
        Direction::for_purpose("owner_compensation", Unspecified),
        Ok(Direction::Payable)
    );
    assert_eq!(
        Direction::for_purpose("property_fee", Unspecified),
        Ok(Direction::Receivable)
    );
    assert_eq!(
        Direction::for_purpose("area_difference", Payable),
        Ok(Direction::Payable)
    );
    assert_eq!(
        Direction::for_purpose("area_difference", Receivable),
        Ok(Direction::Receivable)
    );
    assert!(Direction::for_purpose("owner_compensation", Receivable).is_err());
    assert_eq!(
        Direction::for_purpose("refund", Unspecified),
        Ok(Direction::Payable)
    );
    assert_eq!(
        Direction::for_purpose("refund", Payable),
        Ok(Direction::Payable)
    );
    assert!(Direction::for_purpose("refund", Receivable).is_err());
    assert!(Direction::for_purpose("deposit", Payable).is_err());
}

#[test]
fn only_a_partly_paid_charge_is_waived_and_it_settles() {
    let b = Balance::new(10_000)
        .pay(6_000, "CNY")
        .unwrap()
        .refund(1_000, "CNY")
        .unwrap();
    let (waived, rest) = b.waive().unwrap();
    assert_eq!(rest, 5_000);
    assert_eq!(
        (waived.amount, waived.outstanding(), waived.status()),
        (5_000, 0, Status::Settled)
    );
    assert_eq!(
        Balance::new(10_000).waive(),
        None,
        "nothing paid: cancel it"
    );
    let paid = Balance::new(10_000).pay(10_000, "CNY").unwrap();
    assert_eq!(paid.waive(), None, "fully paid: nothing to waive");
    let cancelled = Balance::new(10_000).cancel("CNY").unwrap();
    assert_eq!(cancelled.waive(), None);
}

#[test]
fn the_refund_share_rounds_down_in_integers() {
    assert_eq!(refund_share(0, 5_000), 0);
    assert_eq!(refund_share(96_001, 5_000), 48_000);
    assert_eq!(refund_share(96_001, 10_000), 96_001);
    assert_eq!(refund_share(96_001, 0), 0);
    assert_eq!(refund_share(9_999, 1), 0);
    assert_eq!(refund_share(10_000, 1), 1);
    // No overflow where i64 arithmetic would: i64::MAX × 10000 needs 128 bits.
    assert_eq!(refund_share(i64::MAX, 10_000), i64::MAX);
    assert_eq!(
        refund_share(i64::MAX, 9_999),
        i64::MAX / 10_000 * 9_999 + (i64::MAX % 10_000) * 9_999 / 10_000
    );
}

#[test]
fn a_group_settles_when_every_live_charge_is_paid() {
    assert!(group_settled(2, 0));
    assert!(!group_settled(2, 1));
    // Every charge cancelled: nothing was settled.
    assert!(!group_settled(0, 0));
}

#[test]
fn a_rescission_refunds_with_yearly_interest_per_payment_rounded_once() {
    // 1,000,000.00 held 365 days at 3.45 %: 34,500.00.
    assert_eq!(
        refund_interest(&[(100_000_000, 365)], 10_000, 345),
        3_450_000
    );
    // Two payments, 100 and 10 days: 3.45 % × (100,000.00 × 100 + 50,000.00 × 10) / 365
    // = 992.4657… → 992.47.
    assert_eq!(
        refund_interest(&[(10_000_000, 100), (5_000_000, 10)], 10_000, 345),
        99_247
    );
    // Half the payment refunded: half the interest.
    assert_eq!(
        refund_interest(&[(100_000_000, 365)], 5_000, 345),
        1_725_000
    );
    // No interest, or money received today: nothing.
    assert_eq!(refund_interest(&[(100_000_000, 365)], 10_000, 0), 0);
    assert_eq!(refund_interest(&[(100_000_000, 0)], 10_000, 345), 0);
}
