//! Whole plans, from request to schedule. Expected figures come from an independent Python
//! implementation of the same rules using `decimal` at 100 significant digits with
//! ROUND_HALF_UP.

use super::*;

fn policy() -> PlanPolicy {
    PlanPolicy::new(Discount::new(500).unwrap())
}

fn mortgage(down_payment_ratio_bp: i64, term_months: i64, annual_rate_ppm: i64) -> MortgageRequest {
    MortgageRequest {
        down_payment_ratio_bp,
        term_months,
        annual_rate_ppm,
        repayment: Repayment::EqualInstalment,
    }
}

fn combined(provident_fund_amount_fen: i64, repayment: Repayment) -> PaymentMethod {
    PaymentMethod::Combined {
        down_payment_ratio_bp: 3_000,
        term_months: 360,
        repayment,
        provident_fund_amount_fen,
        provident_fund_rate_ppm: 31_000,
        commercial_rate_ppm: 49_000,
    }
}

fn plan(
    list_price_fen: i64,
    discounts_bp: &[i64],
    payment: PaymentMethod,
) -> Result<PurchasePlan, PlanError> {
    let request = PlanRequest {
        list_price_fen,
        discounts_bp: discounts_bp.to_vec(),
        payment,
    };
    purchase_plan(&request, &policy())
}

#[test]
fn a_full_payment_pays_the_discounted_price_up_front() {
    // 2,350,000 yuan at 9.5 折 then 9.8 折: 690 bp off, above the project's 500 bp threshold
    let plan = plan(235_000_000, &[500, 200], PaymentMethod::FullPayment).unwrap();
    assert_eq!(plan.quote.price_fen, 218_785_000);
    assert_eq!(plan.quote.effective_discount_bp, 690);
    assert!(plan.quote.needs_manager_approval);
    assert_eq!(plan.down_payment_fen, 218_785_000);
    assert_eq!(plan.financing, Financing::FullPayment);
}

#[test]
fn the_last_instalment_absorbs_the_rounding_remainder() {
    // 30 % of 100_000_001 fen is 30_000_000.3 → 30_000_000; 70_000_001 / 12 = 5_833_333.4167
    let payment = PaymentMethod::Instalments {
        months: 12,
        down_payment_ratio_bp: 3_000,
    };
    let plan = plan(100_000_001, &[], payment).unwrap();
    assert_eq!(plan.down_payment_fen, 30_000_000);
    let Financing::Instalments(parts) = &plan.financing else {
        panic!("expected instalments, got {:?}", plan.financing);
    };
    let amounts: Vec<i64> = parts.rows().iter().map(|row| row.payment_fen).collect();
    let mut expected = vec![5_833_333; 11];
    expected.push(5_833_338);
    assert_eq!(amounts, expected);
    assert_eq!(parts.total_interest_fen(), 0);
    assert_eq!(
        plan.down_payment_fen + parts.total_paid_fen(),
        plan.quote.price_fen
    );
}

#[test]
fn a_mortgage_lends_whole_yuan_and_the_down_payment_takes_the_fen() {
    // Price 218_785_007 fen; 30 % of it is 65_635_502.1 → 65_635_502, leaving 153_149_505 fen,
    // of which the bank lends 153_149_500 at 4.9 % over 360 months (exact payment 812_804.64…)
    let payment = PaymentMethod::CommercialMortgage(mortgage(3_000, 360, 49_000));
    let plan = plan(235_000_008, &[500, 200], payment).unwrap();
    assert_eq!(plan.quote.price_fen, 218_785_007);
    assert_eq!(plan.down_payment_fen, 65_635_507);
    let Financing::Mortgage {
        lender,
        rate,
        schedule,
    } = &plan.financing
    else {
        panic!("expected a mortgage, got {:?}", plan.financing);
    };
    assert_eq!((*lender, rate.annual_ppm()), (Lender::Commercial, 49_000));
    assert_eq!(schedule.principal_fen(), 153_149_500);
    assert_eq!(schedule.first_payment_fen(), 812_805);
    assert_eq!(schedule.rows()[359].payment_fen, 813_084);
    assert_eq!(schedule.total_interest_fen(), 139_460_579);
    assert_eq!(schedule.total_paid_fen(), 292_610_079);
}

#[test]
fn a_combined_loan_sums_both_loans_month_by_month() {
    // 3,000,000 yuan, 30 % down: 2,100,000 yuan lent, 1,200,000 by the provident fund at 3.1 %
    // and 900,000 commercially at 4.9 %, both over 360 months
    let plan = plan(
        300_000_000,
        &[],
        combined(120_000_000, Repayment::EqualInstalment),
    )
    .unwrap();
    assert_eq!(plan.down_payment_fen, 90_000_000);
    let Financing::Combined(loan) = &plan.financing else {
        panic!("expected a combined loan, got {:?}", plan.financing);
    };
    let (fund, commercial, total) = (&loan.provident_fund, &loan.commercial, &loan.total);
    assert_eq!(
        (fund.principal_fen(), commercial.principal_fen()),
        (120_000_000, 90_000_000)
    );
    assert_eq!(
        (fund.first_payment_fen(), commercial.first_payment_fen()),
        (512_420, 477_654)
    );
    assert_eq!(
        (fund.total_interest_fen(), commercial.total_interest_fen()),
        (64_471_008, 81_955_481)
    );
    assert_eq!(total.principal_fen(), 210_000_000);
    assert_eq!(
        total.rows()[0],
        row(1, 990_074, 312_574, 677_500, 209_687_426)
    );
    assert_eq!(total.rows()[359], row(360, 989_923, 986_660, 3_263, 0));
    assert_eq!(total.total_interest_fen(), 146_426_489);
    assert_eq!(total.total_paid_fen(), 356_426_489);
    for ((sum, a), b) in total.rows().iter().zip(fund.rows()).zip(commercial.rows()) {
        assert_eq!(sum.payment_fen, a.payment_fen + b.payment_fen);
        assert_eq!(sum.principal_fen, a.principal_fen + b.principal_fen);
        assert_eq!(sum.interest_fen, a.interest_fen + b.interest_fen);
        assert_eq!(sum.remaining_fen, a.remaining_fen + b.remaining_fen);
    }
}

#[test]
fn a_provident_fund_covering_the_whole_loan_leaves_no_commercial_part() {
    // 1,500,000 yuan, 30 % down: the 1,050,000 yuan loan is within the fund's 1,200,000
    let plan = plan(
        150_000_000,
        &[],
        combined(120_000_000, Repayment::EqualPrincipal),
    )
    .unwrap();
    let Financing::Combined(loan) = &plan.financing else {
        panic!("expected a combined loan, got {:?}", plan.financing);
    };
    assert_eq!(loan.provident_fund.principal_fen(), 105_000_000);
    assert_eq!(loan.commercial.total_paid_fen(), 0);
    assert_eq!(loan.total, loan.provident_fund);
}

fn row(month: u16, payment: i64, principal: i64, interest: i64, remaining: i64) -> Row {
    Row {
        month,
        payment_fen: payment,
        principal_fen: principal,
        interest_fen: interest,
        remaining_fen: remaining,
    }
}

#[test]
fn only_mortgages_are_held_to_the_minimum_down_payment() {
    let instalments = PaymentMethod::Instalments {
        months: 6,
        down_payment_ratio_bp: 1_000,
    };
    assert!(plan(100_000_000, &[], instalments).is_ok());
    let payment = PaymentMethod::ProvidentFundMortgage(mortgage(1_000, 240, 31_000));
    let err = plan(100_000_000, &[], payment).unwrap_err();
    assert_eq!(
        err.to_string(),
        "down_payment_ratio_bp: must be between 2000 and 10000"
    );

    let strict = PlanPolicy::parse(300, 3_500).unwrap();
    let request = PlanRequest {
        list_price_fen: 100_000_000,
        discounts_bp: vec![],
        payment: PaymentMethod::CommercialMortgage(mortgage(3_000, 240, 39_500)),
    };
    let err = purchase_plan(&request, &strict).unwrap_err();
    assert_eq!(
        err,
        PlanError::OutOfRange {
            field: Field::DownPaymentRatioBp,
            min: 3_500,
            max: 10_000
        }
    );
}

#[test]
fn each_invalid_input_names_its_field() {
    let mortgage_with = |edit: fn(&mut MortgageRequest)| {
        let mut request = mortgage(3_000, 360, 49_000);
        edit(&mut request);
        PaymentMethod::CommercialMortgage(request)
    };
    let instalments = |months, down_payment_ratio_bp| PaymentMethod::Instalments {
        months,
        down_payment_ratio_bp,
    };
    let combined_with = |fund_fen, fund_ppm, commercial_ppm| PaymentMethod::Combined {
        down_payment_ratio_bp: 3_000,
        term_months: 360,
        repayment: Repayment::EqualInstalment,
        provident_fund_amount_fen: fund_fen,
        provident_fund_rate_ppm: fund_ppm,
        commercial_rate_ppm: commercial_ppm,
    };
    let full = PaymentMethod::FullPayment;
    let price = 100_000_000;
    let cases: Vec<(PlanError, &str, &str)> = vec![
        (
            plan(0, &[], full).unwrap_err(),
            "list_price_fen",
            "must be between 1 and 1000000000000000",
        ),
        (
            plan(-5, &[], full).unwrap_err(),
            "list_price_fen",
            "must be between 1 and 1000000000000000",
        ),
        (
            plan(price, &[500, 10_000], full).unwrap_err(),
            "discounts_bp[1]",
            "must be between 0 and 9999",
        ),
        (
            plan(price, &[-1], full).unwrap_err(),
            "discounts_bp[0]",
            "must be between 0 and 9999",
        ),
        (
            plan(price, &[100; 6], full).unwrap_err(),
            "discounts_bp",
            "must hold at most 5 entries",
        ),
        (
            plan(1, &[9_999], full).unwrap_err(),
            "discounts_bp",
            "leave a price of zero",
        ),
        (
            plan(price, &[], instalments(0, 3_000)).unwrap_err(),
            "months",
            "must be between 1 and 360",
        ),
        (
            plan(price, &[], instalments(12, 0)).unwrap_err(),
            "down_payment_ratio_bp",
            "must be between 1 and 10000",
        ),
        (
            plan(price, &[], instalments(12, 10_001)).unwrap_err(),
            "down_payment_ratio_bp",
            "must be between 1 and 10000",
        ),
        (
            plan(price, &[], instalments(12, 10_000)).unwrap_err(),
            "down_payment_ratio_bp",
            "leaves nothing to pay in instalments",
        ),
        (
            plan(price, &[], mortgage_with(|m| m.term_months = 0)).unwrap_err(),
            "term_months",
            "must be between 1 and 360",
        ),
        (
            plan(price, &[], mortgage_with(|m| m.term_months = 361)).unwrap_err(),
            "term_months",
            "must be between 1 and 360",
        ),
        (
            plan(price, &[], mortgage_with(|m| m.annual_rate_ppm = -1)).unwrap_err(),
            "annual_rate_ppm",
            "must be between 0 and 1000000",
        ),
        (
            plan(
                price,
                &[],
                mortgage_with(|m| m.down_payment_ratio_bp = 10_000),
            )
            .unwrap_err(),
            "down_payment_ratio_bp",
            "leaves nothing to borrow",
        ),
        // 99.99 % down on 9,999 fen leaves 1 fen, less than the whole yuan a bank lends
        (
            plan(
                9_999,
                &[],
                mortgage_with(|m| m.down_payment_ratio_bp = 9_999),
            )
            .unwrap_err(),
            "down_payment_ratio_bp",
            "leaves nothing to borrow",
        ),
        (
            plan(price, &[], combined_with(0, 31_000, 49_000)).unwrap_err(),
            "provident_fund_amount_fen",
            "must be between 100 and 1000000000000000",
        ),
        (
            plan(price, &[], combined_with(12_345, 31_000, 49_000)).unwrap_err(),
            "provident_fund_amount_fen",
            "must be whole yuan",
        ),
        (
            plan(price, &[], combined_with(12_300, 1_000_001, 49_000)).unwrap_err(),
            "provident_fund_rate_ppm",
            "must be between 0 and 1000000",
        ),
        (
            plan(price, &[], combined_with(12_300, 31_000, -49_000)).unwrap_err(),
            "commercial_rate_ppm",
            "must be between 0 and 1000000",
        ),
        (
            PlanPolicy::parse(10_000, 2_000).unwrap_err(),
            "approval_threshold_bp",
            "must be between 0 and 9999",
        ),
        (
            PlanPolicy::parse(500, 0).unwrap_err(),
            "min_mortgage_down_payment_ratio_bp",
            "must be between 1 and 10000",
        ),
    ];
    for (err, field, description) in cases {
        assert_eq!(
            (err.field().to_string().as_str(), err.description().as_str()),
            (field, description)
        );
    }
}

#[test]
fn a_zero_rate_mortgage_and_the_largest_price_work() {
    let payment = PaymentMethod::CommercialMortgage(mortgage(2_000, 360, 0));
    let plan_zero = plan(100_000_000, &[], payment).unwrap();
    let Financing::Mortgage { schedule, .. } = &plan_zero.financing else {
        panic!("expected a mortgage, got {:?}", plan_zero.financing);
    };
    // 80_000_000 / 360 = 222_222.22 → 222_222 for 359 months, 222_302 in the last
    assert_eq!(schedule.first_payment_fen(), 222_222);
    assert_eq!(schedule.rows()[359].payment_fen, 222_302);
    assert_eq!(schedule.total_paid_fen(), 80_000_000);

    let payment = combined(120_000_000, Repayment::EqualPrincipal);
    let largest = plan(MAX_PRICE_FEN, &[100; MAX_DISCOUNTS], payment).unwrap();
    let Financing::Combined(loan) = &largest.financing else {
        panic!("expected a combined loan, got {:?}", largest.financing);
    };
    assert_eq!(
        largest.down_payment_fen + loan.total.principal_fen(),
        largest.quote.price_fen
    );
    assert_eq!(loan.total.principal_fen() % 100, 0);
}
