//! Title from survey to deed (DOMAIN.md §6), over the real services: the area difference
//! settled to the fen in finance through the coordinator, the buyer's choice beyond ±3 %,
//! documents, fees, the application, the deed to the bank or the owner, the statutory clocks,
//! and tenants apart.

use std::time::Duration;

use anju::journey::{Buyer, Journey};
use anju_e2e::{TestStack, finance::outbox};
use anju_kit::{Role, error::refusal_reason};
use anju_messaging::Outbox;
use anju_proto::{
    common::Area,
    events, finance, sales,
    title::{self as tt, title_service_client::TitleServiceClient},
};
use sqlx::PgPool;
use tonic::Code;
use uuid::Uuid;

/// The journey's contract area: 89 m².
const C: i64 = 890_000;

async fn journey(stack: &TestStack, code: &str) -> Journey {
    stack.journey(code).await
}

/// A title officer of `tenant`.
fn officer_of(stack: &TestStack, tenant: Uuid) -> TitleServiceClient<anju_e2e::Authed> {
    TitleServiceClient::new(stack.authed_with(
        "title",
        &anju_testkit::token_for(tenant, "title.officer.x", &[Role::TitleOfficer]),
    ))
}

async fn title_db(stack: &TestStack) -> PgPool {
    PgPool::connect(&stack.settings.database_url("title"))
        .await
        .unwrap()
}

fn amount(m: &Option<anju_proto::common::Money>) -> i64 {
    m.as_ref().map_or(0, |m| m.minor_units)
}

fn refused<T: std::fmt::Debug>(answer: Result<T, tonic::Status>, code: &str) {
    let status = answer.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(refusal_reason(&status).as_deref(), Some(code), "{status:?}");
}

/// A unit sold at the journey's price to a walk-in buyer; returns (unit id, contract id).
async fn sold(j: &Journey, number: &str) -> (String, String) {
    let unit = j.register_unit(number).await.unwrap();
    let contract = j
        .sell(&unit, &Buyer::walk_in(number, &format!("1390000{number}")))
        .await
        .unwrap();
    (unit.unit_id, contract.contract_id)
}

#[tokio::test]
async fn area_differences_are_settled_to_the_fen_at_each_boundary_for_round_and_odd_prices() {
    let stack = TestStack::start().await.unwrap();
    let mut j = journey(&stack, "TITLE-AREA").await;
    // (price, error in cm², band, what the buyer pays (+) or is refunded (−), developer bears).
    // 235,000,000 fen over 890,000 cm² is no whole number of fen per cm²; 267,000,000 is 300.
    let cases: [(i64, i64, i32, i64, i64); 13] = [
        (
            235_000_000,
            -26_789,
            tt::AreaBand::Below as i32,
            -7_097_000,
            0,
        ),
        (
            235_000_000,
            -26_700,
            tt::AreaBand::Within as i32,
            -7_050_000,
            0,
        ),
        (235_000_000, 0, tt::AreaBand::Within as i32, 0, 0),
        (235_000_000, 1_234, tt::AreaBand::Within as i32, 325_831, 0),
        (
            235_000_000,
            26_700,
            tt::AreaBand::Within as i32,
            7_050_000,
            0,
        ),
        (
            235_000_000,
            26_789,
            tt::AreaBand::Above as i32,
            7_050_000,
            23_500,
        ),
        (
            235_000_000,
            89_000,
            tt::AreaBand::Above as i32,
            7_050_000,
            16_450_000,
        ),
        (
            267_000_000,
            -89_000,
            tt::AreaBand::Below as i32,
            -45_390_000,
            0,
        ),
        (
            267_000_000,
            -26_789,
            tt::AreaBand::Below as i32,
            -8_063_400,
            0,
        ),
        (
            267_000_000,
            26_789,
            tt::AreaBand::Above as i32,
            8_010_000,
            26_700,
        ),
        (
            267_000_000,
            -26_700,
            tt::AreaBand::Within as i32,
            -8_010_000,
            0,
        ),
        (267_000_000, 0, tt::AreaBand::Within as i32, 0, 0),
        (
            267_000_000,
            26_700,
            tt::AreaBand::Within as i32,
            8_010_000,
            0,
        ),
    ];
    let mut units = Vec::new();
    for (n, (price, ..)) in cases.iter().enumerate() {
        j.price = *price;
        units.push(sold(&j, &format!("{:02}01", n + 1)).await.0);
    }
    let mut officer = j.staff.title_officer.clone();
    // Title knows every contract before the report comes in.
    for unit in &units {
        j.wait_title(unit, "the contract in title", |f| !f.contract_id.is_empty())
            .await
            .unwrap();
    }
    // A report with one bad row records nothing, and names the row and its line.
    let rows: Vec<tt::SurveyRow> = units
        .iter()
        .zip(&cases)
        .enumerate()
        .map(|(i, (unit, case))| tt::SurveyRow {
            line: i as i32 + 2,
            unit_id: unit.clone(),
            measured_area: Some(Area {
                square_centimetres: C + case.1,
            }),
        })
        .collect();
    let report = |request_id: &str, rows: Vec<tt::SurveyRow>| {
        let header = tt::ImportSurveyRequest {
            request_id: request_id.into(),
            project_id: j.project_id.clone(),
            surveying_firm: "Shenzhen Real Estate Surveying Co.".into(),
            report_number: "SZ-2027-0042".into(),
            rows: Vec::new(),
        };
        let chunks: Vec<tt::ImportSurveyRequest> = std::iter::once(header)
            .chain(rows.chunks(4).map(|c| tt::ImportSurveyRequest {
                rows: c.to_vec(),
                ..Default::default()
            }))
            .collect();
        futures::stream::iter(chunks)
    };
    let mut bad = rows.clone();
    bad[3].measured_area = Some(Area {
        square_centimetres: 0,
    });
    let status = officer
        .import_survey(report("survey-bad", bad))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations = anju_kit::error::field_violations(&status);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(
        violations[0].field,
        "rows[3].measured_area.square_centimetres"
    );
    assert!(
        violations[0].description.starts_with("line 5:"),
        "{violations:?}"
    );
    let untouched = j.title_file(&units[0]).await.unwrap();
    assert!(untouched.measured_area.is_none() && untouched.area.is_none());
    // 235,000,000 fen over 89 m²: 26,404.49… yuan per m², shown rounded; 267,000,000: 30,000.
    assert_eq!(amount(&untouched.unit_price_per_m2), 2_640_449);
    assert_eq!(
        amount(&j.title_file(&units[7]).await.unwrap().unit_price_per_m2),
        3_000_000
    );

    let imported = officer
        .import_survey(report("survey-1", rows.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((imported.recorded, imported.assessed), (13, 13));
    // The same report again (a retry) acts once; a new survey of an assessed unit is refused.
    let again = officer
        .import_survey(report("survey-1", rows.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, imported);
    let status = officer
        .import_survey(report("survey-2", rows))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    for (unit, (price, delta, band, buyer, bears)) in units.iter().zip(cases) {
        let file = j.title_file(unit).await.unwrap();
        let area = file.area.expect("assessed");
        assert_eq!(
            (
                area.band,
                amount(&area.buyer_amount),
                amount(&area.developer_bears)
            ),
            (band, buyer, bears),
            "{delta} cm² at {price}"
        );
        let beyond = band != tt::AreaBand::Within as i32;
        assert_eq!(!area.choice_due_on.is_empty(), beyond);
        if beyond {
            assert_eq!(file.waiting_for[0], "buyer_choice");
        } else if buyer == 0 {
            assert!(area.settled_at.is_some(), "nothing owed is settled at once");
        } else {
            // Within ±3 % the coordinator charges (or owes back) the difference at once.
            let charge = j.fees_of(unit, ":area", 1).await.unwrap().remove(0);
            assert_eq!(amount(&charge.amount), buyer.abs());
            let direction = if buyer > 0 {
                finance::ChargeDirection::Receivable
            } else {
                finance::ChargeDirection::Payable
            };
            assert_eq!(charge.direction, direction as i32);
            assert_eq!(
                charge.purpose,
                finance::ChargePurpose::AreaDifference as i32
            );
        }
    }

    // Beyond −3 %, a buyer who keeps the home is refunded 3 % single and the rest double; paid
    // out, the area difference is settled and the coordinator's saga moves on.
    let keeper = &units[0];
    let kept = officer
        .record_buyer_choice(tt::RecordBuyerChoiceRequest {
            request_id: "choice-keep".into(),
            unit_id: keeper.clone(),
            choice: tt::BuyerChoice::Keep as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .title_file
        .unwrap();
    assert_eq!(kept.area.unwrap().choice, tt::BuyerChoice::Keep as i32);
    refused(
        officer
            .record_buyer_choice(tt::RecordBuyerChoiceRequest {
                request_id: "choice-cancel".into(),
                unit_id: keeper.clone(),
                choice: tt::BuyerChoice::Cancel as i32,
            })
            .await,
        "CHOICE_ALREADY_MADE",
    );
    refused(
        officer
            .record_buyer_choice(tt::RecordBuyerChoiceRequest {
                request_id: "choice-within".into(),
                unit_id: units[1].clone(),
                choice: tt::BuyerChoice::Keep as i32,
            })
            .await,
        "NO_CHOICE_OFFERED",
    );
    let refund = j.area_difference_paid(keeper).await.unwrap();
    assert_eq!(amount(&refund.amount), 7_097_000);
    assert_eq!(refund.direction, finance::ChargeDirection::Payable as i32);
    j.wait_title(keeper, "the refund paid out", |f| {
        f.area.as_ref().is_some_and(|a| a.settled_at.is_some())
    })
    .await
    .unwrap();
    let contract = j.title_file(keeper).await.unwrap().contract_id;
    j.title_saga(&contract, "the title saga past the area", |s| {
        s.state == "awaiting_documents"
    })
    .await
    .unwrap();
    // Redelivered finance events change nothing: still exactly one charge per group.
    assert_eq!(j.fees_of(keeper, ":area", 1).await.unwrap().len(), 1);

    // A buyer beyond +3 % who never answers keeps the home once the choice's days are over:
    // the 3 % is charged, once, whoever sweeps.
    let silent = &units[6];
    let silent_contract = j.title_file(silent).await.unwrap().contract_id;
    let db = title_db(&stack).await;
    clock_due(&db, &silent_contract, "choice", true).await;
    let deemed = j
        .wait_title(silent, "the choice deemed made", |f| {
            f.area.as_ref().is_some_and(|a| a.choice != 0)
        })
        .await
        .unwrap();
    assert_eq!(deemed.area.unwrap().choice, tt::BuyerChoice::Keep as i32);
    let outbox = Outbox::with_prefix(stack.settings.nats.prefix.clone(), "title");
    anju_title::events::clocks::sweep(&db, &outbox)
        .await
        .unwrap();
    let charged = j.fees_of(silent, ":area", 1).await.unwrap();
    assert_eq!(charged.len(), 1);
    assert_eq!(amount(&charged[0].amount), 7_050_000);
    let choices = outbox_of::<events::BuyerChoiceRecorded>(&db).await;
    let deemed: Vec<_> = choices.iter().filter(|c| c.deemed).collect();
    assert_eq!(deemed.len(), 1);
    assert_eq!(deemed[0].unit_id, *silent);
    stack.stack.stop().await.unwrap();
}

#[tokio::test]
async fn a_buyer_cancelling_beyond_three_percent_gets_back_everything_paid_with_interest() {
    let stack = TestStack::start().await.unwrap();
    let j = journey(&stack, "TITLE-CANCEL").await;
    let unit = j.register_unit("0301").await.unwrap();
    let buyer = Buyer::walk_in("0301", "13900000301");
    let subscription = j
        .subscribe(&unit, &buyer, anju::journey::day(7))
        .await
        .unwrap();
    // The deposits were paid 100 days ago.
    let deposits = j.charges(&unit.unit_id, "subscription:", 2).await.unwrap();
    let mut cashier = j.staff.cashier.clone();
    let paid_on = anju::journey::day(-100);
    let mut deposit_total = 0;
    for (n, charge) in deposits.iter().enumerate() {
        deposit_total += amount(&charge.outstanding);
        cashier
            .record_payment(finance::RecordPaymentRequest {
                request_id: format!("deposit-{n}"),
                charge_id: charge.charge_id.clone(),
                amount: charge.outstanding.clone(),
                method: finance::PaymentMethod::BankTransfer as i32,
                external_reference: format!("DEP-0301-{n}"),
                received_on: paid_on.clone(),
                cashier_id: String::new(),
            })
            .await
            .unwrap();
    }
    let contract = j
        .once_ready("the contract", || {
            let mut consultant = j.staff.consultant.clone();
            let request = sales::SignContractRequest {
                request_id: "contract-0301".into(),
                subscription_id: subscription.subscription_id.clone(),
                id_number: buyer.id_number.clone(),
                contract_area: Some(Area {
                    square_centimetres: C,
                }),
                payment_method: sales::PaymentMethod::FullPayment as i32,
                down_payment: anju::journey::cny(235_000_000),
                down_payment_due_on: anju::journey::day(14),
                instalments: Vec::new(),
                homes_owned: 0,
                lending_bank: String::new(),
            };
            async move { consultant.sign_contract(request).await }
        })
        .await
        .unwrap()
        .contract
        .unwrap();
    // +3.01 %: the buyer may cancel, and does.
    j.survey(&unit.unit_id, C + 26_789).await.unwrap();
    let file = j.assessed(&unit.unit_id).await.unwrap();
    assert_eq!(file.area.unwrap().band, tt::AreaBand::Above as i32);
    j.title_saga(&contract.contract_id, "the saga awaiting the buyer", |s| {
        s.state == "awaiting_buyer_choice"
    })
    .await
    .unwrap();
    // Another tenant can neither choose for this buyer nor have its coordinator rescind the
    // contract.
    let other = Uuid::now_v7();
    let mut stranger = officer_of(&stack, other);
    let status = stranger
        .record_buyer_choice(tt::RecordBuyerChoiceRequest {
            request_id: "choice".into(),
            unit_id: unit.unit_id.clone(),
            choice: tt::BuyerChoice::Cancel as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let foreign_coordinator = anju_kit::auth::CoordinatorIssuer::development()
        .token(other)
        .unwrap();
    let status = sales::sales_service_client::SalesServiceClient::new(
        stack.authed_with("sales", &foreign_coordinator),
    )
    .rescind_contract(sales::RescindContractRequest {
        request_id: "rescind".into(),
        contract_id: contract.contract_id.clone(),
        reason: "not theirs".into(),
        interest_bp: 345,
    })
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // Nor may the tenant's own staff rescind: the coordinator's alone.
    let status = j
        .staff
        .manager
        .clone()
        .rescind_contract(sales::RescindContractRequest {
            request_id: "rescind".into(),
            contract_id: contract.contract_id.clone(),
            reason: "a full refund with interest, please".into(),
            interest_bp: 345,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    let mut officer = j.staff.title_officer.clone();
    officer
        .record_buyer_choice(tt::RecordBuyerChoiceRequest {
            request_id: "choice".into(),
            unit_id: unit.unit_id.clone(),
            choice: tt::BuyerChoice::Cancel as i32,
        })
        .await
        .unwrap();
    // The coordinator rescinds the contract in sales; its cancellation refunds everything paid
    // with the project's interest (3.45 % a year by default) for the 100 days it was held.
    j.eventually("the contract cancelled in sales", || async {
        let mut consultant = j.staff.consultant.clone();
        let c = consultant
            .get_contract(sales::GetContractRequest {
                contract_id: contract.contract_id.clone(),
            })
            .await?
            .into_inner()
            .contract
            .unwrap();
        Ok((c.status == sales::ContractStatus::Cancelled as i32).then_some(()))
    })
    .await
    .unwrap();
    let refunds: Vec<finance::Charge> = j
        .eventually("the deposits' refunds", || async {
            let refunds: Vec<_> = j
                .charges(&unit.unit_id, "subscription:", 0)
                .await?
                .into_iter()
                .filter(|c| c.settlement_group.ends_with(":refund"))
                .collect();
            Ok((refunds.len() == 2).then_some(refunds))
        })
        .await
        .unwrap();
    let refunded: i64 = refunds.iter().map(|c| amount(&c.amount)).sum();
    // The days finance counts, to its own date of the close.
    let finance_db = PgPool::connect(&stack.settings.database_url("finance"))
        .await
        .unwrap();
    let days: i64 = sqlx::query_scalar("select (current_date - $1::date)::bigint")
        .bind(chrono::NaiveDate::parse_from_str(&paid_on, "%Y-%m-%d").unwrap())
        .fetch_one(&finance_db)
        .await
        .unwrap();
    assert!((99..=101).contains(&days));
    // Each deposit's interest is rounded once: 50,000.00 and 150,000.00 at 3.45 % a year.
    let interest = |minor: i64| (minor * days * 345 * 2 + 10_000 * 365) / (2 * 10_000 * 365);
    let expected: i64 = deposits
        .iter()
        .map(|c| amount(&c.amount) + interest(amount(&c.amount)))
        .sum();
    assert!(
        refunded > deposit_total,
        "interest on top of {deposit_total}"
    );
    assert_eq!(refunded, expected);
    j.wait_title(&unit.unit_id, "the title file closed", |f| f.cancelled)
        .await
        .unwrap();
    j.title_saga(&contract.contract_id, "the saga cancelled", |s| {
        s.state == "cancelled"
    })
    .await
    .unwrap();
    stack.stack.stop().await.unwrap();
}

#[tokio::test]
async fn a_mortgaged_units_deed_goes_to_its_bank_after_documents_fees_and_the_registry() {
    let stack = TestStack::start().await.unwrap();
    let j = journey(&stack, "TITLE-DEED").await;
    let unit = j.register_unit("0501").await.unwrap();
    let contract = j
        .sell_mortgaged(
            &unit,
            &Buyer::walk_in("0501", "13900000501"),
            "Industrial and Commercial Bank of China, Shenzhen Branch",
        )
        .await
        .unwrap();
    // Surveyed before title learnt the contract or after: the same assessment.
    j.survey(&unit.unit_id, C + 1_234).await.unwrap();
    let file = j.assessed(&unit.unit_id).await.unwrap();
    assert!(file.mortgaged);
    assert_eq!(
        file.lending_bank,
        "Industrial and Commercial Bank of China, Shenzhen Branch"
    );
    assert_eq!(file.contract_id, contract.contract_id);
    assert_eq!(amount(&file.area.unwrap().buyer_amount), 325_831);

    let mut officer = j.staff.title_officer.clone();
    let submit = |id: &str| tt::SubmitApplicationRequest {
        request_id: id.into(),
        unit_id: unit.unit_id.clone(),
        receipt_number: "REG-0501".into(),
    };
    // Nothing is ready: the developer's registration is what the application waits for first.
    refused(
        officer.submit_application(submit("early-1")).await,
        "BUILDING_NOT_REGISTERED",
    );
    refused(
        officer
            .record_initial_registration(tt::RecordInitialRegistrationRequest {
                request_id: "registration-early".into(),
                project_id: j.project_id.clone(),
                building_id: j.building_id.clone(),
                registration_number: "CS-1".into(),
                registered_on: anju::journey::day(0),
            })
            .await,
        "COMPLETION_FILING_MISSING",
    );
    j.register_building().await.unwrap();
    refused(
        officer.submit_application(submit("early-2")).await,
        "AREA_UNSETTLED",
    );
    j.area_difference_paid(&unit.unit_id).await.unwrap();
    j.wait_title(&unit.unit_id, "the area settled", |f| {
        f.area.as_ref().is_some_and(|a| a.settled_at.is_some())
    })
    .await
    .unwrap();
    // A document rejected with its reason, then brought again and accepted.
    let rejected = j
        .review(
            &unit.unit_id,
            "purchase_invoice",
            Some("the invoice's amount is illegible"),
            "1",
        )
        .await
        .unwrap()
        .unwrap();
    let invoice = rejected
        .documents
        .iter()
        .find(|d| d.item == "purchase_invoice")
        .unwrap();
    assert_eq!(
        (invoice.status, invoice.rejections, invoice.reason.as_str()),
        (
            tt::DocumentStatus::Rejected as i32,
            1,
            "the invoice's amount is illegible"
        )
    );
    refused(
        officer.submit_application(submit("early-3")).await,
        "DOCUMENTS_INCOMPLETE",
    );
    refused(
        j.review(&unit.unit_id, "a_paper_nobody_asked_for", None, "1")
            .await
            .unwrap(),
        "UNKNOWN_DOCUMENT",
    );
    j.documents_accepted(&unit.unit_id).await.unwrap();
    j.title_fees_paid(&unit.unit_id, 7_050_000, 55_000)
        .await
        .unwrap();
    // A fee refunded after it was paid reopens its group: title counts the fees unpaid, and
    // refuses the application, until it is paid again.
    j.wait_title(&unit.unit_id, "the fees paid", |f| f.fees_paid_at.is_some())
        .await
        .unwrap();
    let fee_of = |charges: Vec<finance::Charge>| {
        charges
            .into_iter()
            .find(|c| c.purpose == finance::ChargePurpose::TitleFees as i32)
            .unwrap()
    };
    let fee = fee_of(j.fees_of(&unit.unit_id, ":fees", 2).await.unwrap());
    let mut cashier = j.staff.cashier.clone();
    let payment = cashier
        .list_payments(finance::ListPaymentsRequest {
            charge_id: fee.charge_id.clone(),
            page: None,
        })
        .await
        .unwrap()
        .into_inner()
        .payments
        .remove(0);
    cashier
        .refund_payment(finance::RefundPaymentRequest {
            request_id: "refund-fee".into(),
            payment_id: payment.payment_id,
            amount: payment.amount,
            method: 0,
            external_reference: "RF-0501".into(),
            refunded_on: anju::journey::day(0),
            cashier_id: String::new(),
            reason: "paid at the wrong counter".into(),
        })
        .await
        .unwrap();
    j.wait_title(&unit.unit_id, "the fees unpaid again", |f| {
        f.fees_paid_at.is_none()
    })
    .await
    .unwrap();
    refused(
        officer.submit_application(submit("early-4")).await,
        "FEES_UNPAID",
    );
    let fee = fee_of(j.fees_of(&unit.unit_id, ":fees", 2).await.unwrap());
    j.pay(&[fee], "FEE-AGAIN").await.unwrap();
    j.deed_issued(&unit.unit_id).await.unwrap();
    // The owner cannot collect a mortgaged unit's deed; it goes to the bank, once.
    refused(
        j.deliver(&unit.unit_id, tt::DeedRecipient::Owner)
            .await
            .unwrap(),
        "DEED_GOES_TO_BANK",
    );
    let file = j
        .deliver(&unit.unit_id, tt::DeedRecipient::Bank)
        .await
        .unwrap()
        .unwrap();
    refused(
        officer
            .deliver_deed(tt::DeliverDeedRequest {
                request_id: "deliver-again".into(),
                unit_id: unit.unit_id.clone(),
                recipient: tt::DeedRecipient::Bank as i32,
                receipt_number: "R-2".into(),
            })
            .await,
        "ALREADY_DELIVERED",
    );
    let invoice = file
        .documents
        .iter()
        .find(|d| d.item == "purchase_invoice")
        .unwrap();
    assert_eq!(
        (invoice.status, invoice.rejections),
        (tt::DocumentStatus::Accepted as i32, 1)
    );
    assert_eq!(file.delivered_to, "bank");
    assert!(file.waiting_for.is_empty(), "{:?}", file.waiting_for);
    let fees = j.fees_of(&unit.unit_id, ":fees", 2).await.unwrap();
    let mut purposes: Vec<i32> = fees.iter().map(|c| c.purpose).collect();
    purposes.sort();
    assert_eq!(
        purposes,
        [
            finance::ChargePurpose::TitleFees as i32,
            finance::ChargePurpose::DeedTax as i32
        ]
    );
    let archived = officer
        .archive_title_file(tt::ArchiveTitleFileRequest {
            request_id: "archive".into(),
            unit_id: unit.unit_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .title_file
        .unwrap();
    assert!(archived.archived_at.is_some());
    j.title_saga(&contract.contract_id, "the title saga delivered", |s| {
        s.state == "delivered" && s.terminal && s.open_commands == 0
    })
    .await
    .unwrap();

    // Another tenant sees nothing of it.
    let other = Uuid::now_v7();
    let mut stranger = officer_of(&stack, other);
    let status = stranger
        .get_title_file(tt::GetTitleFileRequest {
            unit_id: unit.unit_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let listed = stranger
        .list_title_files(tt::ListTitleFilesRequest {
            project_id: j.project_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.title_files.is_empty());
    let status = stranger
        .record_survey(tt::RecordSurveyRequest {
            request_id: "steal".into(),
            project_id: j.project_id.clone(),
            unit_id: unit.unit_id.clone(),
            measured_area: Some(Area {
                square_centimetres: C,
            }),
            surveying_firm: "x".into(),
            report_number: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // A survey report naming it is refused row by row, and records nothing.
    let status = stranger
        .import_survey(futures::stream::iter([tt::ImportSurveyRequest {
            request_id: "steal-report".into(),
            project_id: j.project_id.clone(),
            surveying_firm: "x".into(),
            report_number: "x".into(),
            rows: vec![tt::SurveyRow {
                line: 2,
                unit_id: unit.unit_id.clone(),
                measured_area: Some(Area {
                    square_centimetres: C,
                }),
            }],
        }]))
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::NotFound | Code::InvalidArgument),
        "{status:?}"
    );
    let file = j.title_file(&unit.unit_id).await.unwrap();
    assert_eq!(file.measured_area.unwrap().square_centimetres, C + 1_234);
    stack.stack.stop().await.unwrap();
}

/// The clocks' rows of `contract`, moved so that `kind`'s warning (and, if `breach`, its
/// breach) is due now: the 60 and 90 days passed.
async fn clock_due(db: &PgPool, contract: &str, kind: &str, breach: bool) {
    sqlx::query(
        "update title_clocks set warn_at = now() - interval '1 second',
             breach_at = case when $3 then now() - interval '1 second' else breach_at end
         where contract_id = $1 and kind = $2",
    )
    .bind(Uuid::parse_str(contract).unwrap())
    .bind(kind)
    .bind(breach)
    .execute(db)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_statutory_clocks_warn_and_breach_once_each_whoever_sweeps() {
    let stack = TestStack::start().await.unwrap();
    let j = journey(&stack, "TITLE-CLOCK").await;
    let (unit, contract) = sold(&j, "0701").await;
    j.batch(1, None).await.unwrap();
    j.paid_and_passed(&unit).await.unwrap();
    j.wait_cleared(&unit).await.unwrap();
    j.release(&unit, "keys").await.unwrap().unwrap();
    let file = j
        .wait_title(&unit, "the handover day in title", |f| f.clocks.len() == 2)
        .await
        .unwrap();
    let today = anju::journey::day(0);
    assert_eq!(file.handed_over_on, today);
    let due = |kind: &str| {
        file.clocks
            .iter()
            .find(|c| c.kind == kind)
            .map(|c| c.due_on.clone())
            .unwrap()
    };
    assert_eq!(due("submission"), anju::journey::day(60));
    assert_eq!(due("title"), anju::journey::day(90));

    let db = title_db(&stack).await;
    // A second sweeper over the same database — another replica, or the service after a
    // restart — racing the service's own.
    let outbox = Outbox::with_prefix(stack.settings.nats.prefix.clone(), "title");
    let racer = {
        let (db, outbox) = (db.clone(), outbox.clone());
        tokio::spawn(async move {
            for _ in 0..300 {
                anju_title::events::clocks::sweep(&db, &outbox)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    clock_due(&db, &contract, "submission", false).await;
    j.wait_title(&unit, "the submission clock at risk", |f| {
        f.clocks
            .iter()
            .any(|c| c.kind == "submission" && c.state == tt::ClockState::AtRisk as i32)
    })
    .await
    .unwrap();
    let at_risk = j
        .title_files(tt::ClockFilter::AtRiskOrOverdue)
        .await
        .unwrap();
    assert!(
        j.title_files(tt::ClockFilter::Overdue)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(at_risk.len(), 1);
    assert_eq!(
        at_risk[0].waiting_for,
        [
            "survey",
            "owner_documents_missing",
            "fees_not_assessed",
            "developer_filing_missing"
        ]
    );
    clock_due(&db, &contract, "submission", true).await;
    clock_due(&db, &contract, "title", true).await;
    j.wait_title(&unit, "both clocks breached", |f| {
        f.clocks
            .iter()
            .all(|c| c.state == tt::ClockState::Breached as i32)
    })
    .await
    .unwrap();
    racer.await.unwrap();
    // A clock whose contract is no longer any file's (the unit sold again) stops instead of
    // being listed as due at every sweep.
    let orphan = Uuid::now_v7();
    sqlx::query(
        "insert into title_clocks (contract_id, kind, unit_id, tenant_id, project_id, due_on,
                                   warn_on, warn_at, breach_at)
         select $1, 'title', unit_id, tenant_id, project_id, due_on, warn_on, warn_at, breach_at
         from title_clocks where contract_id = $2 and kind = 'title'",
    )
    .bind(orphan)
    .bind(Uuid::parse_str(&contract).unwrap())
    .execute(&db)
    .await
    .unwrap();
    anju_title::events::clocks::sweep(&db, &outbox)
        .await
        .unwrap();
    let met: bool = sqlx::query_scalar(
        "select met_at is not null and warned_at is null from title_clocks where contract_id = $1",
    )
    .bind(orphan)
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(met);
    for _ in 0..3 {
        anju_title::events::clocks::sweep(&db, &outbox)
            .await
            .unwrap();
    }
    let warned = outbox_of::<events::TitleClockWarned>(&db).await;
    let breached = outbox_of::<events::TitleClockBreached>(&db).await;
    let kinds = |v: Vec<String>| {
        let mut v = v;
        v.sort();
        v
    };
    assert_eq!(
        kinds(warned.iter().map(|e| e.clock.clone()).collect()),
        ["submission", "title"]
    );
    assert_eq!(
        kinds(breached.iter().map(|e| e.clock.clone()).collect()),
        ["submission", "title"]
    );
    assert!(
        breached
            .iter()
            .all(|e| e.developer_at_fault && e.unit_id == unit)
    );
    let overdue = j.title_files(tt::ClockFilter::Overdue).await.unwrap();
    assert_eq!(overdue.len(), 1);
    stack.stack.stop().await.unwrap();
}

async fn outbox_of<P: anju_proto::EventPayload>(db: &PgPool) -> Vec<P> {
    outbox::<P>(db).await
}

#[tokio::test]
async fn title_refuses_bad_input_naming_the_field_and_changes_nothing() {
    let stack = TestStack::start_only(&["title"]).await.unwrap();
    let mut officer = TitleServiceClient::new(stack.authed("title", &[Role::TitleOfficer]));
    let bad = [
        tt::RecordSurveyRequest {
            request_id: "s1".into(),
            project_id: Uuid::now_v7().to_string(),
            unit_id: "not-a-unit".into(),
            measured_area: Some(Area {
                square_centimetres: 890_000,
            }),
            surveying_firm: "firm".into(),
            report_number: "r".into(),
        },
        tt::RecordSurveyRequest {
            request_id: "s2".into(),
            project_id: Uuid::now_v7().to_string(),
            unit_id: Uuid::now_v7().to_string(),
            measured_area: Some(Area {
                square_centimetres: -1,
            }),
            surveying_firm: "firm".into(),
            report_number: "r".into(),
        },
        tt::RecordSurveyRequest {
            request_id: "s3".into(),
            project_id: Uuid::now_v7().to_string(),
            unit_id: Uuid::now_v7().to_string(),
            measured_area: Some(Area {
                square_centimetres: 890_000,
            }),
            surveying_firm: "firm\u{0}".into(),
            report_number: "r".into(),
        },
    ];
    let fields = [
        "unit_id",
        "measured_area.square_centimetres",
        "surveying_firm",
    ];
    for (request, field) in bad.into_iter().zip(fields) {
        let status = officer.record_survey(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let violations = anju_kit::error::field_violations(&status);
        assert!(
            violations.iter().any(|v| v.field == field),
            "{field}: {violations:?}"
        );
    }
    let status = officer
        .set_title_policy(tt::SetTitlePolicyRequest {
            request_id: "p".into(),
            policy: Some(tt::TitlePolicy {
                project_id: Uuid::now_v7().to_string(),
                extra_documents: vec!["Marriage Certificate".into()],
                submission_warning_days: 60,
                title_warning_days: 15,
                choice_days: 30,
                cancellation_interest_bp: 345,
                checklist: Vec::new(),
            }),
        })
        .await
        .unwrap_err();
    let violations = anju_kit::error::field_violations(&status);
    let named: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        named,
        [
            "policy.extra_documents[0]",
            "policy.submission_warning_days"
        ]
    );
    let db = title_db(&stack).await;
    let files: i64 = sqlx::query_scalar("select count(*) from title_files")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(files, 0);
    stack.stack.stop().await.unwrap();
}
