//! Sales through its gRPC API: attribution, follow-ups, the unit race, the bulk import and
//! the sales board.

use anju_e2e::{Authed, TestStack, project_with_building, unit_request};
use anju_kit::{Role, error::field_violations};
use anju_proto::{
    common::{Area, Money},
    sales::{self as pb, sales_service_client::SalesServiceClient},
};
use tonic::Code;

fn visit(project_id: &str, phone: &str, request_id: &str) -> pb::RecordVisitRequest {
    pb::RecordVisitRequest {
        request_id: request_id.into(),
        project_id: project_id.into(),
        phone: phone.into(),
        name: "Wang Fang".into(),
        channel: pb::VisitChannel::WalkIn as i32,
        note: "asked about 3-bedroom units".into(),
        referrer_phone: String::new(),
    }
}

#[tokio::test]
async fn a_returning_customer_stays_with_the_original_consultant() {
    let stack = TestStack::start_only(&["sales"]).await.unwrap();
    let mut manager = stack.sales_as("manager.zhao", &[Role::SalesManager]);
    let (project, _) = project_with_building(&mut manager, "ATTR-1").await.unwrap();
    let mut li = stack.sales_as("consultant.li", &[Role::SalesConsultant]);
    let mut chen = stack.sales_as("consultant.chen", &[Role::SalesConsultant]);

    let first = li
        .record_visit(visit(&project, "138 0013 8000", "v1"))
        .await
        .unwrap()
        .into_inner();
    assert!(first.first_visit);
    let customer = first.customer.unwrap();
    assert_eq!(customer.consultant, "consultant.li");
    assert_eq!(customer.phone, "13800138000");

    // The same phone written another way, brought in by another consultant: refused, owner named.
    let status = chen
        .record_visit(visit(&project, "+86 13800138000", "v2"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("CUSTOMER_OF_ANOTHER_CONSULTANT")
    );
    assert!(
        status.message().contains("consultant.li"),
        "{}",
        status.message()
    );
    let status = chen
        .grade_customer(pb::GradeCustomerRequest {
            request_id: "g1".into(),
            customer_id: customer.customer_id.clone(),
            grade: pb::CustomerGrade::A as i32,
            next_follow_up_on: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    // The owner's return visit counts.
    let again = li
        .record_visit(visit(&project, "13800138000", "v3"))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.first_visit);
    assert_eq!(again.customer.unwrap().visits, 2);

    // Only a manager reassigns, with a reason; then the new consultant serves and the old one is refused.
    let status = chen
        .reassign_customer(pb::ReassignCustomerRequest {
            request_id: "r0".into(),
            customer_id: customer.customer_id.clone(),
            to_consultant: "consultant.chen".into(),
            reason: "mine now".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let moved = manager
        .reassign_customer(pb::ReassignCustomerRequest {
            request_id: "r1".into(),
            customer_id: customer.customer_id.clone(),
            to_consultant: "consultant.chen".into(),
            reason: "consultant.li left the project".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(moved.consultant, "consultant.chen");
    chen.record_visit(visit(&project, "13800138000", "v4"))
        .await
        .unwrap();
    let status = li
        .record_visit(visit(&project, "13800138000", "v5"))
        .await
        .unwrap_err();
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("CUSTOMER_OF_ANOTHER_CONSULTANT")
    );
    assert!(status.message().contains("consultant.chen"));

    // The reassignment is in the audit trail with its reason.
    let pool = sqlx::PgPool::connect(&stack.settings.database_url("sales"))
        .await
        .unwrap();
    let (actor, detail): (String, serde_json::Value) =
        sqlx::query_as("select actor, detail from audit_log where method = 'ReassignCustomer'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(actor, "manager.zhao");
    assert_eq!(detail["reason"], "consultant.li left the project");

    // Two consultants registering one new phone at the same moment: exactly one owns it.
    let calls = (0..8).map(|i| {
        let mut client = stack.sales_as(&format!("consultant.{i}"), &[Role::SalesConsultant]);
        let request = visit(&project, "13900139000", &format!("race-{i}"));
        async move { client.record_visit(request).await }
    });
    let results = futures::future::join_all(calls).await;
    let owners: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(
        owners.len(),
        1,
        "exactly one consultant registers the customer"
    );
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|s| s.code() == Code::FailedPrecondition)
    );
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn follow_ups_come_due_for_their_consultant_and_the_manager_sees_the_team() {
    let stack = TestStack::start_only(&["sales"]).await.unwrap();
    let mut manager = stack.sales_as("manager.zhao", &[Role::SalesManager]);
    let (project, _) = project_with_building(&mut manager, "DUE-1").await.unwrap();
    let mut li = stack.sales_as("consultant.li", &[Role::SalesConsultant]);
    let mut chen = stack.sales_as("consultant.chen", &[Role::SalesConsultant]);
    let a = li
        .record_visit(visit(&project, "13800000001", "a"))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    let b = chen
        .record_visit(visit(&project, "13800000002", "b"))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    li.grade_customer(pb::GradeCustomerRequest {
        request_id: "ga".into(),
        customer_id: a.customer_id.clone(),
        grade: pb::CustomerGrade::A as i32,
        next_follow_up_on: "2026-12-01".into(),
    })
    .await
    .unwrap();
    chen.log_follow_up(pb::LogFollowUpRequest {
        request_id: "fb".into(),
        customer_id: b.customer_id.clone(),
        note: "called back, wants a viewing".into(),
        next_follow_up_on: "2026-12-03".into(),
    })
    .await
    .unwrap();
    let due = |on: &str| pb::ListCustomersDueRequest {
        project_id: project.clone(),
        due_on: on.into(),
        page: None,
    };
    let mine = li
        .list_customers_due(due("2026-12-05"))
        .await
        .unwrap()
        .into_inner()
        .customers;
    assert_eq!(
        mine.iter()
            .map(|c| c.customer_id.clone())
            .collect::<Vec<_>>(),
        vec![a.customer_id.clone()]
    );
    assert_eq!(mine[0].grade, pb::CustomerGrade::A as i32);
    let team = manager
        .list_customers_due(due("2026-12-05"))
        .await
        .unwrap()
        .into_inner()
        .customers;
    assert_eq!(team.len(), 2);
    let early = manager
        .list_customers_due(due("2026-12-02"))
        .await
        .unwrap()
        .into_inner()
        .customers;
    assert_eq!(early.len(), 1);
    let status = li.list_customers_due(due("12/05/2026")).await.unwrap_err();
    assert_eq!(field_violations(&status)[0].field, "due_on");
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn of_many_concurrent_holds_on_one_unit_exactly_one_wins() {
    let stack = TestStack::start_only(&["sales"]).await.unwrap();
    let mut manager = stack.sales_as("manager.zhao", &[Role::SalesManager]);
    let (project, building) = project_with_building(&mut manager, "RACE-1").await.unwrap();
    let unit = manager
        .register_unit(unit_request(&building, "1801"))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();

    let mut contenders = Vec::new();
    for i in 0..16 {
        let mut client = stack.sales_as(&format!("consultant.{i}"), &[Role::SalesConsultant]);
        let customer = client
            .record_visit(visit(&project, &format!("1370000{i:04}"), &format!("c{i}")))
            .await
            .unwrap()
            .into_inner()
            .customer
            .unwrap();
        contenders.push((client, customer.customer_id));
    }
    let holds = contenders
        .into_iter()
        .enumerate()
        .map(|(i, (mut client, customer_id))| {
            let unit_id = unit.unit_id.clone();
            async move {
                client
                    .hold_unit(pb::HoldUnitRequest {
                        request_id: format!("hold-{i}"),
                        unit_id,
                        customer_id,
                    })
                    .await
            }
        });
    let results = futures::future::join_all(holds).await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one hold wins");
    for loser in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(loser.code(), Code::FailedPrecondition);
        assert_eq!(
            anju_kit::error::refusal_reason(loser).as_deref(),
            Some("UNIT_NOT_AVAILABLE")
        );
        assert!(loser.message().contains("held"), "{}", loser.message());
    }
    let winner = winners[0].get_ref().unit.clone().unwrap();
    assert_eq!(winner.status, pb::UnitStatus::Held as i32);

    let board = manager
        .get_sales_board(pb::GetSalesBoardRequest {
            building_id: building.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            board.available,
            board.held,
            board.subscribed,
            board.contracted
        ),
        (0, 1, 0, 0)
    );
    assert_eq!(board.units[0].customer_id, winner.customer_id);

    // Released, it is available again and the board says so.
    manager
        .release_unit(pb::ReleaseUnitRequest {
            request_id: "release-1".into(),
            unit_id: unit.unit_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(available_and_held(&mut manager, &building).await, (1, 0));
    stack.stop().await.unwrap();
}

/// The sales board's count of available and held units of a building.
async fn available_and_held(
    manager: &mut SalesServiceClient<Authed>,
    building_id: &str,
) -> (i32, i32) {
    let board = manager
        .get_sales_board(pb::GetSalesBoardRequest {
            building_id: building_id.into(),
        })
        .await
        .unwrap()
        .into_inner();
    (board.available, board.held)
}

/// Audit rows of HoldUnit calls in the sales database.
async fn hold_audits(stack: &TestStack) -> i64 {
    let db = sqlx::PgPool::connect(&stack.settings.database_url("sales"))
        .await
        .unwrap();
    let n = sqlx::query_scalar("select count(*) from audit_log where method = 'HoldUnit'")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    n
}

#[tokio::test]
async fn a_hold_repeated_under_its_request_id_answers_with_the_first_hold() {
    let stack = TestStack::start_only(&["sales"]).await.unwrap();
    let mut manager = stack.sales_as("manager.zhao", &[Role::SalesManager]);
    let (project, building) = project_with_building(&mut manager, "RETRY-1")
        .await
        .unwrap();
    let (_, elsewhere) = project_with_building(&mut manager, "RETRY-2")
        .await
        .unwrap();
    let unit = |building: &str, number: &str| {
        let mut manager = manager.clone();
        let request = unit_request(building, number);
        async move {
            manager
                .register_unit(request)
                .await
                .unwrap()
                .into_inner()
                .unit
                .unwrap()
                .unit_id
        }
    };
    let (first, second) = (unit(&building, "0801").await, unit(&building, "0802").await);
    let foreign = unit(&elsewhere, "0101").await;
    let mut consultant = stack.sales_as("consultant.li", &[Role::SalesConsultant]);
    let customer = consultant
        .record_visit(visit(&project, "13700001111", "v-li"))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap()
        .customer_id;
    let hold = |unit_id: &str, request_id: &str| pb::HoldUnitRequest {
        request_id: request_id.into(),
        unit_id: unit_id.into(),
        customer_id: customer.clone(),
    };

    // Eight concurrent sends of one request: one hold, eight identical answers.
    let sends = (0..8).map(|_| {
        let mut client = consultant.clone();
        let request = hold(&first, "hold-0801");
        async move { client.hold_unit(request).await.map(|r| r.into_inner()) }
    });
    let answers: Vec<pb::HoldUnitResponse> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|a| a.expect("every send of the request is answered"))
        .collect();
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    let held = answers[0].unit.clone().unwrap();
    assert_eq!(
        (held.status, held.customer_id.as_str()),
        (pb::UnitStatus::Held as i32, customer.as_str())
    );
    assert_eq!(hold_audits(&stack).await, 1);

    // Sent again later, it answers with the first hold (its expiry unchanged); the unit, held
    // now, would refuse any new hold.
    let again = consultant
        .hold_unit(hold(&first, "hold-0801"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, answers[0]);
    let refused = consultant
        .hold_unit(hold(&first, "hold-0801-new"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");

    // The request id with another request is refused, naming the field, and holds nothing.
    let reused = consultant
        .hold_unit(hold(&second, "hold-0801"))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&reused)[0].field, "request_id");

    // A customer of another project cannot hold this project's unit: refused, naming the field.
    let foreign_hold = consultant
        .hold_unit(hold(&foreign, "hold-foreign"))
        .await
        .unwrap_err();
    assert_eq!(
        foreign_hold.code(),
        Code::InvalidArgument,
        "{foreign_hold:?}"
    );
    assert_eq!(field_violations(&foreign_hold)[0].field, "customer_id");

    assert_eq!(available_and_held(&mut manager, &building).await, (1, 1));
    assert_eq!(available_and_held(&mut manager, &elsewhere).await, (1, 0));
    assert_eq!(hold_audits(&stack).await, 1);
    stack.stop().await.unwrap();
}

fn row(number: &str, floor: i32, area_cm2: i64, price_fen: i64) -> pb::ImportUnitRow {
    pb::ImportUnitRow {
        unit_number: number.into(),
        floor,
        layout: "2房1廳".into(),
        forecast_area: Some(Area {
            square_centimetres: area_cm2,
        }),
        list_price: Some(Money {
            minor_units: price_fen,
            currency: "CNY".into(),
        }),
        orientation: "east".into(),
    }
}

#[tokio::test]
async fn an_import_writes_every_row_or_none() {
    let stack = TestStack::start_only(&["sales"]).await.unwrap();
    let mut manager = stack.sales_as("manager.zhao", &[Role::SalesManager]);
    let (_, building) = project_with_building(&mut manager, "IMP-1").await.unwrap();

    let bad = vec![
        pb::ImportUnitsRequest {
            request_id: "import-1".into(),
            building_id: building.clone(),
            rows: vec![
                row("0101", 1, 750_000, 150_000_000),
                row("0102", 1, -1, 150_000_000),
            ],
        },
        pb::ImportUnitsRequest {
            request_id: String::new(),
            building_id: String::new(),
            rows: vec![
                row("0101", 1, 750_000, 150_000_000),
                row("9901", 99, 750_000, 150_000_000),
            ],
        },
    ];
    let status = manager
        .import_units(tokio_stream::iter(bad))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&status)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(
        fields,
        [
            "rows[1].forecast_area.square_centimetres",
            "rows[2].unit_number",
            "rows[3].floor"
        ]
    );
    let board = manager
        .get_sales_board(pb::GetSalesBoardRequest {
            building_id: building.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(board.units.is_empty(), "nothing half-imported");

    let good = (1..=3)
        .map(|floor| pb::ImportUnitsRequest {
            request_id: if floor == 1 {
                "import-2".into()
            } else {
                String::new()
            },
            building_id: if floor == 1 {
                building.clone()
            } else {
                String::new()
            },
            rows: vec![
                row(&format!("{floor:02}01"), floor, 750_000, 150_000_000),
                row(&format!("{floor:02}02"), floor, 980_000, 196_000_000),
            ],
        })
        .collect::<Vec<_>>();
    let imported = manager
        .import_units(tokio_stream::iter(good))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(imported.imported, 6);
    let board = manager
        .get_sales_board(pb::GetSalesBoardRequest {
            building_id: building,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(board.available, 6);
    assert_eq!(
        board.units[0].floor, 3,
        "the board lists the top floor first"
    );
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn a_purchase_plan_prices_the_unit_and_schedules_every_fen() {
    let stack = TestStack::start_only(&["sales"]).await.unwrap();
    let mut manager = stack.sales_as("manager.zhao", &[Role::SalesManager]);
    let (_, building) = project_with_building(&mut manager, "PLAN-1").await.unwrap();
    // Listed at 2,350,000 yuan.
    let unit = manager
        .register_unit(unit_request(&building, "1801"))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    let mut consultant = stack.sales_as("consultant.li", &[Role::SalesConsultant]);
    let request = |discounts: Vec<i32>, method: pb::PaymentMethod| pb::ComputePurchasePlanRequest {
        unit_id: unit.unit_id.clone(),
        discounts_bp: discounts,
        payment_method: method as i32,
        down_payment_ratio_bp: 3_000,
        term_months: 360,
        annual_rate_ppm: 49_000,
        repayment: pb::Repayment::EqualInstalment as i32,
        provident_fund_amount: None,
        provident_fund_rate_ppm: 0,
    };

    // 9.8 折 stays under the project's 3 % threshold; a commercial mortgage over 30 years.
    let plan = consultant
        .compute_purchase_plan(request(vec![200], pb::PaymentMethod::CommercialMortgage))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.price.unwrap().minor_units, 230_300_000);
    assert!(!plan.needs_manager_approval);
    let down = plan.down_payment.unwrap().minor_units;
    let financed = plan.financed.unwrap().minor_units;
    assert_eq!(down + financed, 230_300_000, "down payment + loan = price");
    assert_eq!(financed % 100, 0, "banks lend whole yuan");
    assert_eq!(plan.schedule.len(), 360);
    let principal: i64 = plan
        .schedule
        .iter()
        .map(|r| r.principal.clone().unwrap().minor_units)
        .sum();
    let paid: i64 = plan
        .schedule
        .iter()
        .map(|r| r.payment.clone().unwrap().minor_units)
        .sum();
    assert_eq!(
        principal, financed,
        "the principal parts repay the loan to the fen"
    );
    assert_eq!(paid, plan.total_paid.unwrap().minor_units);
    assert_eq!(paid - principal, plan.total_interest.unwrap().minor_units);
    assert_eq!(
        plan.schedule
            .last()
            .unwrap()
            .remaining
            .clone()
            .unwrap()
            .minor_units,
        0
    );

    // 9 折 is over the threshold: the plan says a manager must approve it.
    let plan = consultant
        .compute_purchase_plan(request(vec![1_000], pb::PaymentMethod::FullPayment))
        .await
        .unwrap()
        .into_inner();
    assert!(plan.needs_manager_approval);
    assert_eq!(plan.effective_discount_bp, 1_000);
    assert!(plan.schedule.is_empty());

    // A bad term is refused naming the field.
    let mut bad = request(vec![], pb::PaymentMethod::CommercialMortgage);
    bad.term_months = 999;
    let status = consultant.compute_purchase_plan(bad).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&status)[0].field, "term_months");

    // The least mortgage down payment is the project's: 30 % passes the default 20 %, not a
    // project that asks 35 %; a policy without a minimum is refused, naming it.
    let project_id = unit.project_id.clone();
    let mut policy = manager
        .get_project_policy(pb::GetProjectPolicyRequest {
            project_id: project_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    assert_eq!(policy.min_mortgage_down_payment_bp, 2_000);
    policy.min_mortgage_down_payment_bp = 0;
    let status = manager
        .set_project_policy(pb::SetProjectPolicyRequest {
            request_id: "policy-none".into(),
            policy: Some(policy.clone()),
        })
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&status)[0].field,
        "policy.min_mortgage_down_payment_bp"
    );
    policy.min_mortgage_down_payment_bp = 3_500;
    manager
        .set_project_policy(pb::SetProjectPolicyRequest {
            request_id: "policy-35".into(),
            policy: Some(policy),
        })
        .await
        .unwrap();
    let status = consultant
        .compute_purchase_plan(request(vec![200], pb::PaymentMethod::CommercialMortgage))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(field_violations(&status)[0].field, "down_payment_ratio_bp");
    let mut enough = request(vec![200], pb::PaymentMethod::CommercialMortgage);
    enough.down_payment_ratio_bp = 3_500;
    consultant.compute_purchase_plan(enough).await.unwrap();
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn a_phone_is_shown_in_full_only_to_its_consultant_and_managers() {
    let stack = TestStack::start_only(&["sales"]).await.unwrap();
    let mut manager = stack.sales_as("manager.zhao", &[Role::SalesManager]);
    let (project, _) = project_with_building(&mut manager, "PHONE-1")
        .await
        .unwrap();
    let mut li = stack.sales_as("consultant.li", &[Role::SalesConsultant]);
    let customer = li
        .record_visit(visit(&project, "13800138000", "v1"))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(customer.phone, "13800138000");

    let phone_seen_by = |subject: &str, role: Role| {
        let mut client = stack.sales_as(subject, &[role]);
        let customer_id = customer.customer_id.clone();
        async move {
            client
                .get_customer(pb::GetCustomerRequest { customer_id })
                .await
                .map(|r| r.into_inner().customer.unwrap().phone)
        }
    };
    assert_eq!(
        phone_seen_by("consultant.li", Role::SalesConsultant)
            .await
            .unwrap(),
        "13800138000"
    );
    assert_eq!(
        phone_seen_by("manager.zhao", Role::SalesManager)
            .await
            .unwrap(),
        "13800138000"
    );
    assert_eq!(
        phone_seen_by("consultant.chen", Role::SalesConsultant)
            .await
            .unwrap(),
        "138****8000"
    );
    assert_eq!(
        phone_seen_by("service.he", Role::CustomerService)
            .await
            .unwrap(),
        "138****8000"
    );
    // A cashier is not shown customers at all.
    let status = phone_seen_by("cashier.wu", Role::Cashier)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // Lists follow the same rule: the manager's team list shows the number in full.
    li.log_follow_up(pb::LogFollowUpRequest {
        request_id: "f1".into(),
        customer_id: customer.customer_id.clone(),
        note: "call back".into(),
        next_follow_up_on: "2026-01-01".into(),
    })
    .await
    .unwrap();
    let due = manager
        .list_customers_due(pb::ListCustomersDueRequest {
            project_id: project.clone(),
            due_on: "2026-01-02".into(),
            page: None,
        })
        .await
        .unwrap()
        .into_inner()
        .customers;
    assert_eq!(due[0].phone, "13800138000");
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn identity_numbers_an_earlier_release_stored_in_clear_are_sealed_at_start_up() {
    const ID: &str = "110101199003074518";
    let stack = TestStack::start_only(&["sales"]).await.unwrap();
    let mut manager = stack.sales_as("manager.zhao", &[Role::SalesManager]);
    let (project, building) = project_with_building(&mut manager, "LEGACY-1")
        .await
        .unwrap();
    let mut li = stack.sales_as("consultant.li", &[Role::SalesConsultant]);
    let customer = li
        .record_visit(visit(&project, "13800138000", "v1"))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    let units: Vec<pb::Unit> = futures::future::join_all(["0801", "0802"].map(|n| {
        let mut manager = manager.clone();
        let request = unit_request(&building, n);
        async move {
            manager
                .register_unit(request)
                .await
                .unwrap()
                .into_inner()
                .unit
                .unwrap()
        }
    }))
    .await;

    // Rows as an earlier release wrote them: the number in clear. The fence against that is
    // lifted while they are written, and put back as the migration left it.
    let pool = sqlx::PgPool::connect(&stack.settings.database_url("sales"))
        .await
        .unwrap();
    let fences = [
        ("customers", "customers_id_number_sealed"),
        ("subscriptions", "subscriptions_id_number_sealed"),
    ];
    let mut definitions = Vec::new();
    for (table, fence) in fences {
        let definition: String = sqlx::query_scalar(
            "select pg_get_constraintdef(oid) from pg_constraint where conname = $1",
        )
        .bind(fence)
        .fetch_one(&pool)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "alter table {table} drop constraint {fence}"
        )))
        .execute(&pool)
        .await
        .unwrap();
        definitions.push((table, fence, definition));
    }
    let customer_id = uuid::Uuid::parse_str(&customer.customer_id).unwrap();
    sqlx::query("update customers set id_number = $2 where customer_id = $1")
        .bind(customer_id)
        .bind(ID)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into subscriptions (subscription_id, tenant_id, project_id, unit_id, customer_id, price_minor,
             small_deposit_minor, full_deposit_minor, currency, top_up_due_on, lapses_at, lapse_refund_bp, id_number)
         select $1, tenant_id, project_id, $2, customer_id, 235000000, 5000000, 20000000, 'CNY',
                current_date + 7, now() + interval '7 days', 0, $3
         from customers where customer_id = $4",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(uuid::Uuid::parse_str(&units[0].unit_id).unwrap())
    .bind(ID)
    .bind(customer_id)
    .execute(&pool)
    .await
    .unwrap();
    for (table, fence, definition) in &definitions {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "alter table {table} add constraint {fence} {definition}"
        )))
        .execute(&pool)
        .await
        .unwrap();
    }

    // The service starts (twice: the second start finds nothing left to seal).
    let keyring = anju_kit::pii::Keyring::new(&stack.settings.pii).unwrap();
    let keyed = anju_kit::pii::IdentityKey::new(&stack.settings.pii).hmac(stack.tenant, ID);
    let mut first_sealing = None;
    for _ in 0..2 {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let sales = anju_sales::build(&stack.settings, shutdown.clone())
            .await
            .unwrap();
        shutdown.cancel();
        sales.run_until_stopped().await.unwrap();
        let in_clear = anju_e2e::personal_data::columns_holding(&pool, &ID[..17])
            .await
            .unwrap();
        assert!(in_clear.is_empty(), "the number in clear in {in_clear:?}");
        let sealed: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
            "select id_number_hmac, id_number_key, id_number_sealed from customers where customer_id = $1
             union all
             select id_number_hmac, id_number_key, id_number_sealed from subscriptions where customer_id = $1",
        )
        .bind(customer_id)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(sealed.len(), 2);
        for (hmac, key_id, bytes) in &sealed {
            assert_eq!(hmac, &keyed);
            let sealed = anju_kit::pii::Sealed {
                key_id: key_id.clone(),
                bytes: bytes.clone(),
            };
            assert_eq!(keyring.open(stack.tenant, &sealed).unwrap(), ID);
        }
        assert_eq!(*first_sealing.get_or_insert(sealed.clone()), sealed);
    }

    // The sealed number is what a new subscription is checked against, by its keyed hash.
    let subscribe = |id_number: &str, request_id: &str| pb::SignSubscriptionRequest {
        request_id: request_id.into(),
        unit_id: units[1].unit_id.clone(),
        customer_id: customer.customer_id.clone(),
        price: units[1].list_price.clone(),
        small_deposit: Some(Money {
            minor_units: 5_000_000,
            currency: "CNY".into(),
        }),
        full_deposit: Some(Money {
            minor_units: 20_000_000,
            currency: "CNY".into(),
        }),
        top_up_due_on: "2099-01-01".into(),
        id_number: id_number.into(),
    };
    let status = li
        .sign_subscription(subscribe("110101199003070000", "s1"))
        .await
        .unwrap_err();
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("IDENTITY_MISMATCH")
    );
    assert!(
        status.message().contains("does not match"),
        "{}",
        status.message()
    );
    li.sign_subscription(subscribe(ID, "s2")).await.unwrap();
    stack.stop().await.unwrap();
}
