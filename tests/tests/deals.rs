//! From a walk-in to a signed contract, with every yuan through finance and every
//! cross-service step through the saga coordinator: subscription (deposit cap, discount
//! approval, top-up confirms, lapse releases and refunds once), contract (identity,
//! eligibility, schedule charged, down payment settles) and cancellation refunds.

use std::time::Duration;

use anju::journey::{self as shared, Staff};
use anju_e2e::{Authed, TestStack, project_with_building, wait_for};
use anju_kit::{
    Role,
    error::{field_violations, refusal_reason},
};
use anju_proto::{
    common::{Area, Money},
    finance::{self, finance_service_client::FinanceServiceClient},
    saga::{self, saga_service_client::SagaServiceClient},
    sales::{self as pb, sales_service_client::SalesServiceClient},
};
use tonic::Code;

fn cny(minor_units: i64) -> Option<Money> {
    Some(Money {
        minor_units,
        currency: "CNY".into(),
    })
}

fn today() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8))
        .date_naive()
        .to_string()
}

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8) + chrono::Duration::days(days))
        .date_naive()
        .to_string()
}

struct Journey {
    stack: TestStack,
    /// The shared journey fixture, on this test's project.
    shared: shared::Journey,
    manager: SalesServiceClient<Authed>,
    consultant: SalesServiceClient<Authed>,
    cashier: FinanceServiceClient<Authed>,
    operator: SagaServiceClient<Authed>,
    project: String,
}

impl Journey {
    async fn start(code: &str, policy: impl FnOnce(&mut pb::ProjectPolicy)) -> Self {
        let stack = TestStack::start().await.unwrap();
        let staff = Staff::new(|service, subject, roles| {
            Ok(stack.authed_with(
                service,
                &anju_testkit::token_for(stack.tenant, subject, roles),
            ))
        })
        .unwrap();
        let mut manager = staff.manager.clone();
        let (project, building) = project_with_building(&mut manager, code).await.unwrap();
        let mut current = manager
            .get_project_policy(pb::GetProjectPolicyRequest {
                project_id: project.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .policy
            .unwrap();
        policy(&mut current);
        manager
            .set_project_policy(pb::SetProjectPolicyRequest {
                request_id: format!("policy-{code}"),
                policy: Some(current),
            })
            .await
            .unwrap();
        Self {
            manager,
            consultant: staff.consultant.clone(),
            cashier: staff.cashier.clone(),
            operator: SagaServiceClient::new(stack.authed("saga", &[Role::Operator])),
            shared: shared::Journey::on(staff, &project, &building, ""),
            stack,
            project,
        }
    }

    /// A unit listed at 2,350,000 yuan and a customer of consultant.li.
    async fn unit_and_customer(&mut self, number: &str, phone: &str) -> (pb::Unit, pb::Customer) {
        let unit = self.shared.register_unit(number).await.unwrap();
        let buyer = shared::Buyer {
            phone: phone.into(),
            name: "Wang Fang".into(),
            id_number: shared::ID_NUMBER.into(),
        };
        let customer = self.shared.visit(number, &buyer).await.unwrap();
        (unit, customer)
    }

    async fn charges(&mut self, unit_id: &str) -> Vec<finance::Charge> {
        self.cashier
            .list_charges(finance::ListChargesRequest {
                unit_id: unit_id.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .charges
    }

    /// Waits for the saga to have issued `n` charges on the unit.
    async fn wait_charges(&mut self, unit_id: &str, n: usize) -> Vec<finance::Charge> {
        self.shared.charges(unit_id, "", n).await.unwrap()
    }

    async fn pay(&mut self, charge: &finance::Charge, reference: &str) {
        self.cashier
            .record_payment(finance::RecordPaymentRequest {
                request_id: format!("pay-{reference}"),
                charge_id: charge.charge_id.clone(),
                amount: charge.outstanding.clone(),
                method: finance::PaymentMethod::BankTransfer as i32,
                external_reference: reference.into(),
                received_on: today(),
                cashier_id: String::new(),
            })
            .await
            .unwrap();
    }

    async fn unit_status(&mut self, unit_id: &str) -> i32 {
        self.manager
            .get_unit(pb::GetUnitRequest {
                unit_id: unit_id.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .unit
            .unwrap()
            .status
    }

    async fn wait_unit(&mut self, unit_id: &str, status: pb::UnitStatus) {
        let manager = self.manager.clone();
        wait_for(
            Duration::from_secs(15),
            &format!("unit to become {status:?}"),
            || {
                let mut manager = manager.clone();
                let unit_id = unit_id.to_string();
                async move {
                    let unit = manager
                        .get_unit(pb::GetUnitRequest { unit_id })
                        .await?
                        .into_inner()
                        .unit
                        .unwrap();
                    Ok(unit.status == status as i32)
                }
            },
        )
        .await
        .unwrap();
    }

    async fn sagas(&mut self) -> Vec<saga::Saga> {
        self.operator
            .list_sagas(saga::ListSagasRequest::default())
            .await
            .unwrap()
            .into_inner()
            .sagas
    }

    /// Waits until a saga of `flow` exists, has ended and sent all its commands.
    async fn wait_saga(&mut self, flow: &str) {
        let operator = self.operator.clone();
        wait_for(
            Duration::from_secs(15),
            &format!("the {flow} saga to end"),
            || {
                let mut operator = operator.clone();
                let flow = flow.to_string();
                async move {
                    let sagas = operator
                        .list_sagas(saga::ListSagasRequest {
                            flow,
                            ..Default::default()
                        })
                        .await?
                        .into_inner()
                        .sagas;
                    Ok(!sagas.is_empty()
                        && sagas.iter().all(|s| s.terminal && s.open_commands == 0))
                }
            },
        )
        .await
        .unwrap();
    }

    /// Waits until every saga has ended and sent all its commands.
    async fn wait_sagas_settled(&mut self) -> Vec<saga::Saga> {
        self.shared.every_saga_ends().await.unwrap()
    }
}

fn subscription(
    unit: &pb::Unit,
    customer: &pb::Customer,
    price: i64,
    small: i64,
    full: i64,
    due: String,
) -> pb::SignSubscriptionRequest {
    pb::SignSubscriptionRequest {
        request_id: format!("sub-{}", unit.unit_id),
        unit_id: unit.unit_id.clone(),
        customer_id: customer.customer_id.clone(),
        price: cny(price),
        small_deposit: cny(small),
        full_deposit: cny(full),
        top_up_due_on: due,
        id_number: "44030119900101123X".into(),
    }
}

#[tokio::test]
async fn from_subscription_to_contract_every_step_through_finance() {
    let mut j = Journey::start("DEAL-1", |p| p.max_homes_owned = 1).await;
    let (unit, customer) = j.unit_and_customer("1801", "13800138000").await;
    let list = 235_000_000;

    // A deposit over 20 % of the price is refused, naming the field; nothing changes.
    let status = j
        .consultant
        .sign_subscription(subscription(
            &unit,
            &customer,
            list,
            5_000_000,
            list / 5 + 1,
            in_days(7),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&status)[0].field, "full_deposit");
    // A discount above the project's 3 % needs the manager.
    let status = j
        .consultant
        .sign_subscription(subscription(
            &unit,
            &customer,
            list * 96 / 100,
            5_000_000,
            20_000_000,
            in_days(7),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("DISCOUNT_NEEDS_MANAGER")
    );
    assert!(
        status.message().contains("sales manager"),
        "{}",
        status.message()
    );
    assert_eq!(
        j.unit_status(&unit.unit_id).await,
        pb::UnitStatus::Available as i32
    );

    // 2 % off, small deposit 50,000 yuan, full deposit 200,000 yuan.
    let price = list * 98 / 100;
    let signed = j
        .consultant
        .sign_subscription(subscription(
            &unit,
            &customer,
            price,
            5_000_000,
            20_000_000,
            in_days(7),
        ))
        .await
        .unwrap()
        .into_inner()
        .subscription
        .unwrap();
    assert_eq!(signed.status, pb::SubscriptionStatus::Pending as i32);
    assert_eq!(
        j.unit_status(&unit.unit_id).await,
        pb::UnitStatus::Held as i32
    );

    // The coordinator bills the small deposit and the top-up, each in its settlement group.
    let charges = j.wait_charges(&unit.unit_id, 2).await;
    let amounts: Vec<i64> = charges
        .iter()
        .map(|c| c.amount.clone().unwrap().minor_units)
        .collect();
    assert_eq!(amounts.iter().sum::<i64>(), 20_000_000);
    assert!(charges.iter().all(|c| {
        c.settlement_group
            .starts_with(&format!("subscription:{}:", signed.subscription_id))
    }));
    // The subscription's saga is found by its key, without paging through the others.
    let by_key = |key: &str| saga::ListSagasRequest {
        key: key.into(),
        ..Default::default()
    };
    let found = j
        .operator
        .list_sagas(by_key(&signed.subscription_id))
        .await
        .unwrap()
        .into_inner()
        .sagas;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].flow.as_str(), found[0].key.as_str()),
        ("subscription", signed.subscription_id.as_str())
    );
    let none = j.operator.list_sagas(by_key(&unit.unit_id)).await.unwrap();
    assert!(
        none.into_inner().sagas.is_empty(),
        "no saga is keyed by the unit yet"
    );

    // Paying both confirms the subscription; the unit becomes subscribed.
    for (n, charge) in charges.iter().enumerate() {
        j.pay(charge, &format!("BT-DEP-{n}")).await;
    }
    j.wait_unit(&unit.unit_id, pb::UnitStatus::Subscribed).await;

    let contract = |id_number: &str, homes_owned: i32, down: i64| pb::SignContractRequest {
        request_id: format!("contract-{id_number}-{homes_owned}-{down}"),
        subscription_id: signed.subscription_id.clone(),
        id_number: id_number.into(),
        contract_area: Some(Area {
            square_centimetres: 891_234,
        }),
        payment_method: pb::PaymentMethod::CommercialMortgage as i32,
        down_payment: cny(down),
        down_payment_due_on: in_days(14),
        instalments: Vec::new(),
        homes_owned,
        lending_bank: String::new(),
    };
    let down = price * 30 / 100;
    // Identity checked against the subscription's buyer; eligibility by the project's rule.
    let status = j
        .consultant
        .sign_contract(contract("44030119900101999X", 0, down))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = j
        .consultant
        .sign_contract(contract("44030119900101123X", 2, down))
        .await
        .unwrap_err();
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("PURCHASE_RESTRICTED")
    );
    assert!(
        status.message().contains("purchase restriction"),
        "{}",
        status.message()
    );

    let signed_contract = j
        .consultant
        .sign_contract(contract("44030119900101123X", 1, down))
        .await
        .unwrap()
        .into_inner()
        .contract
        .unwrap();
    assert_eq!(
        signed_contract.loan_amount.clone().unwrap().minor_units,
        price - down
    );
    assert_eq!(
        signed_contract.deposit_credit.clone().unwrap().minor_units,
        20_000_000
    );
    assert_eq!(
        j.unit_status(&unit.unit_id).await,
        pb::UnitStatus::Contracted as i32
    );

    // Down payment (less the deposit already paid) and the bank's loan are billed.
    let charges = j.wait_charges(&unit.unit_id, 4).await;
    let down_charge = charges
        .iter()
        .find(|c| c.purpose == finance::ChargePurpose::DownPayment as i32)
        .unwrap()
        .clone();
    assert_eq!(
        down_charge.amount.clone().unwrap().minor_units,
        down - 20_000_000
    );
    let billed: i64 = charges
        .iter()
        .map(|c| c.amount.clone().unwrap().minor_units)
        .sum();
    assert_eq!(
        billed, price,
        "deposit + down payment + loan = the price, to the fen"
    );
    j.pay(&down_charge, "BT-DOWN").await;

    let sagas = j.wait_sagas_settled().await;
    let mut states: Vec<(String, String)> = sagas
        .iter()
        .map(|s| (s.flow.clone(), s.state.clone()))
        .collect();
    states.sort();
    assert_eq!(
        states,
        [
            ("contract".to_string(), "down_payment_settled".to_string()),
            ("subscription".to_string(), "confirmed".to_string())
        ]
    );

    // The buyer withdraws: the manager cancels; the unit returns to stock and everything paid
    // (deposit and down payment, the project refunds 100 %) is owed back, once.
    let paid_in = down;
    j.manager
        .cancel_contract(pb::CancelContractRequest {
            request_id: "cancel-1".into(),
            contract_id: signed_contract.contract_id.clone(),
            reason: "buyer's mortgage was refused".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        j.unit_status(&unit.unit_id).await,
        pb::UnitStatus::Available as i32
    );
    j.wait_saga("contract_cancellation").await;
    let sagas = j.wait_sagas_settled().await;
    assert!(
        sagas
            .iter()
            .any(|s| s.flow == "contract_cancellation" && s.state == "refunds_issued")
    );
    let charges = j.charges(&unit.unit_id).await;
    let owed: i64 = charges
        .iter()
        .filter(|c| c.purpose == finance::ChargePurpose::Refund as i32)
        .map(|c| c.amount.clone().unwrap().minor_units)
        .sum();
    assert_eq!(
        owed, paid_in,
        "deposit + down payment owed back, to the fen"
    );
    let loan = charges
        .iter()
        .find(|c| c.settlement_group.ends_with(":loan"))
        .unwrap();
    assert_eq!(loan.status, finance::ChargeStatus::Cancelled as i32);
    j.stack.stop().await.unwrap();
}

#[tokio::test]
async fn an_unpaid_subscription_lapses_releases_the_unit_and_refunds_once() {
    // Lapse at the start of the due day, half the paid deposit refunded.
    let mut j = Journey::start("LAPSE-1", |p| {
        p.lapse_after_minutes = 0;
        p.lapse_refund_bp = 5_000;
    })
    .await;
    let (unit, customer) = j.unit_and_customer("2203", "13700137000").await;
    let signed = j
        .consultant
        .sign_subscription(subscription(
            &unit,
            &customer,
            235_000_000,
            5_000_000,
            20_000_000,
            today(),
        ))
        .await
        .unwrap()
        .into_inner()
        .subscription
        .unwrap();
    // Only the small deposit is paid before the coordinator's lapse timer fires.
    let charges = j.wait_charges(&unit.unit_id, 2).await;
    let small = charges
        .iter()
        .find(|c| c.amount.clone().unwrap().minor_units == 5_000_000)
        .unwrap()
        .clone();
    j.pay(&small, "BT-SMALL").await;

    j.wait_unit(&unit.unit_id, pb::UnitStatus::Available).await;
    let sagas = j.wait_sagas_settled().await;
    assert_eq!(sagas.len(), 1);
    assert_eq!(sagas[0].state, "lapsed");
    let lapsed = j
        .manager
        .get_subscription(pb::GetSubscriptionRequest {
            subscription_id: signed.subscription_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .subscription
        .unwrap();
    assert_eq!(lapsed.status, pb::SubscriptionStatus::Lapsed as i32);

    // Exactly one refund of half the small deposit is owed (a payable a cashier pays out);
    // the unpaid top-up is cancelled.
    let refunds = |charges: &[finance::Charge]| -> Vec<finance::Charge> {
        charges
            .iter()
            .filter(|c| c.purpose == finance::ChargePurpose::Refund as i32)
            .cloned()
            .collect()
    };
    let charges = j.wait_charges(&unit.unit_id, 3).await;
    let owed = refunds(&charges);
    assert_eq!(owed.len(), 1, "{charges:?}");
    assert_eq!(owed[0].amount.clone().unwrap().minor_units, 2_500_000);
    assert_eq!(owed[0].direction, finance::ChargeDirection::Payable as i32);
    assert_eq!(
        owed[0].settlement_group,
        format!(
            "subscription:{}:small_deposit:refund",
            signed.subscription_id
        )
    );
    let top_up = charges
        .iter()
        .find(|c| c.settlement_group.ends_with(":top_up"))
        .unwrap();
    assert_eq!(top_up.status, finance::ChargeStatus::Cancelled as i32);

    // A retried compensation (the operator's "retry") owes nothing more.
    let saga_id = sagas[0].saga_id.clone();
    j.operator
        .retry_saga(saga::RetrySagaRequest {
            request_id: "retry-1".into(),
            saga_id: saga_id.clone(),
        })
        .await
        .unwrap();
    let detail = j
        .operator
        .get_saga(saga::GetSagaRequest { saga_id })
        .await
        .unwrap()
        .into_inner();
    assert!(
        detail
            .history
            .iter()
            .any(|h| h.input.starts_with("timer lapse")),
        "{:?}",
        detail.history
    );
    assert!(
        detail.commands.iter().all(|c| c.status == "done"),
        "{:?}",
        detail.commands
    );
    let charges = j.charges(&unit.unit_id).await;
    assert_eq!(refunds(&charges).len(), 1);

    // The unit is back in stock: another customer can subscribe.
    let (_, other) = j.unit_and_customer("2204", "13600136000").await;
    j.consultant
        .hold_unit(pb::HoldUnitRequest {
            request_id: "hold-again".into(),
            unit_id: unit.unit_id.clone(),
            customer_id: other.customer_id,
        })
        .await
        .unwrap();
    j.stack.stop().await.unwrap();
}

#[tokio::test]
async fn an_operator_cancels_a_saga_and_its_compensation_runs_once() {
    let mut j = Journey::start("CANCEL-1", |_| {}).await;
    let (unit, customer) = j.unit_and_customer("0808", "13500135000").await;
    j.consultant
        .sign_subscription(subscription(
            &unit,
            &customer,
            235_000_000,
            5_000_000,
            20_000_000,
            in_days(7),
        ))
        .await
        .unwrap();
    let charges = j.wait_charges(&unit.unit_id, 2).await;
    let small = charges
        .iter()
        .find(|c| c.settlement_group.ends_with(":small_deposit"))
        .unwrap()
        .clone();
    j.pay(&small, "BT-CANCEL-SMALL").await;
    // Wait for the small deposit to register (the saga then waits for the top-up).
    let operator = j.operator.clone();
    wait_for(
        Duration::from_secs(15),
        "the saga to wait for the top-up",
        || {
            let mut operator = operator.clone();
            async move {
                let sagas = operator
                    .list_sagas(saga::ListSagasRequest::default())
                    .await?
                    .into_inner()
                    .sagas;
                Ok(sagas.iter().any(|s| s.state == "awaiting_top_up"))
            }
        },
    )
    .await
    .unwrap();
    let saga_id = j.sagas().await[0].saga_id.clone();

    // An operator of another project sees no such saga, and cannot cancel it.
    let scoped = anju_kit::auth::TokenIssuer::hs256(anju_kit::config::DEV_HS256_SECRET)
        .issue(&anju_kit::auth::Claims {
            projects: vec![uuid::Uuid::now_v7().to_string()],
            ..anju_kit::auth::Claims::new(j.stack.tenant, "operator.elsewhere", &[Role::Operator])
        })
        .unwrap();
    let mut elsewhere = SagaServiceClient::new(j.stack.authed_with("saga", &scoped));
    let listed = elsewhere
        .list_sagas(saga::ListSagasRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.sagas.is_empty(), "{listed:?}");
    let stuck = elsewhere
        .list_stuck_sagas(saga::ListStuckSagasRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stuck.total, 0);
    let status = elsewhere
        .get_saga(saga::GetSagaRequest {
            saga_id: saga_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = elsewhere
        .cancel_saga(saga::CancelSagaRequest {
            request_id: "cancel-elsewhere".into(),
            saga_id: saga_id.clone(),
            reason: "not mine".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(j.sagas().await[0].state, "awaiting_top_up", "not cancelled");

    // Cancelled twice (a retried call): compensation runs once.
    for _ in 0..2 {
        let cancelled = j
            .operator
            .cancel_saga(saga::CancelSagaRequest {
                request_id: "cancel-saga-1".into(),
                saga_id: saga_id.clone(),
                reason: "buyer withdrew at the counter".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .saga
            .unwrap();
        assert_eq!(cancelled.state, "cancelled");
    }
    j.wait_unit(&unit.unit_id, pb::UnitStatus::Available).await;
    j.wait_sagas_settled().await;
    let charges = j.charges(&unit.unit_id).await;
    let refunds: Vec<_> = charges
        .iter()
        .filter(|c| c.purpose == finance::ChargePurpose::Refund as i32)
        .collect();
    assert_eq!(refunds.len(), 1, "{charges:?}");
    assert_eq!(
        refunds[0].amount.clone().unwrap().minor_units,
        5_000_000,
        "all of it back"
    );
    let detail = j
        .operator
        .get_saga(saga::GetSagaRequest { saga_id })
        .await
        .unwrap()
        .into_inner();
    assert!(
        detail
            .history
            .iter()
            .any(|h| h.input.starts_with("cancelled by operator"))
    );
    j.stack.stop().await.unwrap();
}

#[tokio::test]
async fn an_identity_number_is_kept_sealed_and_events_carry_only_its_keyed_hash() {
    const ID: &str = "44030119900101123X";
    let mut j = Journey::start("PII-1", |_| {}).await;
    let (unit, customer) = j.unit_and_customer("1901", "13800138001").await;
    let subscribe = subscription(
        &unit,
        &customer,
        235_000_000,
        5_000_000,
        20_000_000,
        in_days(7),
    );
    let signed = j
        .consultant
        .sign_subscription(subscribe.clone())
        .await
        .unwrap()
        .into_inner();
    for (n, charge) in j.wait_charges(&unit.unit_id, 2).await.iter().enumerate() {
        j.pay(charge, &format!("BT-PII-{n}")).await;
    }
    j.wait_unit(&unit.unit_id, pb::UnitStatus::Subscribed).await;
    let sign = pb::SignContractRequest {
        request_id: "contract-pii".into(),
        subscription_id: signed.subscription.clone().unwrap().subscription_id,
        id_number: ID.to_lowercase(),
        contract_area: unit.forecast_area,
        payment_method: pb::PaymentMethod::FullPayment as i32,
        down_payment: cny(235_000_000),
        down_payment_due_on: in_days(14),
        instalments: Vec::new(),
        homes_owned: 0,
        lending_bank: String::new(),
    };
    let contract = j.consultant.sign_contract(sign.clone()).await.unwrap();
    // Repeats are still recognised, and answered as before.
    let again = j.consultant.sign_contract(sign).await.unwrap();
    assert_eq!(again.into_inner(), contract.into_inner());
    let again = j.consultant.sign_subscription(subscribe).await.unwrap();
    assert_eq!(again.into_inner(), signed);

    let settings = &j.stack.settings;
    let pool = sqlx::PgPool::connect(&settings.database_url("sales"))
        .await
        .unwrap();
    // Nowhere in clear: not in a table, a stored response nor an event (the number's first
    // 17 digits, so a lower-case check character is caught too).
    let in_clear = anju_e2e::personal_data::columns_holding(&pool, &ID[..17])
        .await
        .unwrap();
    assert!(in_clear.is_empty(), "the number in clear in {in_clear:?}");
    // Nor as the unkeyed hash that enumeration reverses.
    use sha2::Digest;
    let unkeyed = hex::encode(sha2::Sha256::digest(format!("{}:{ID}", j.stack.tenant)));
    let hashed = anju_e2e::personal_data::columns_holding(&pool, &unkeyed)
        .await
        .unwrap();
    assert!(hashed.is_empty(), "the unkeyed hash in {hashed:?}");

    // The contract event carries the keyed hash that handover checks at the counter.
    let keyed = anju_kit::pii::IdentityKey::new(&settings.pii).hmac(j.stack.tenant, ID);
    let (envelope,): (Vec<u8>,) =
        sqlx::query_as("select envelope from outbox where event_type like '%ContractSigned'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(envelope.windows(keyed.len()).any(|w| w == keyed.as_bytes()));

    // Sealed where it is kept, and opened with the configured keys.
    let keyring = anju_kit::pii::Keyring::new(&settings.pii).unwrap();
    for table in ["customers", "subscriptions"] {
        let (hmac, key_id, bytes): (String, String, Vec<u8>) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "select id_number_hmac, id_number_key, id_number_sealed from {table}
                 where customer_id = $1"
            )))
            .bind(uuid::Uuid::parse_str(&customer.customer_id).unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(hmac, keyed);
        let sealed = anju_kit::pii::Sealed { key_id, bytes };
        assert_eq!(keyring.open(j.stack.tenant, &sealed).unwrap(), ID);
    }
    j.stack.stop().await.unwrap();
}

/// The project's 3 % discount threshold may be reached but not exceeded, on both RPCs that
/// apply it: `ComputePurchasePlan` (stacked discounts) and `SignSubscription` (the price
/// signed). 3.009 % off needs the manager on both; it once signed without one.
#[tokio::test]
async fn the_discount_threshold_is_reached_but_not_exceeded_on_both_rpcs() {
    let mut j = Journey::start("DEAL-BP", |_| {}).await;
    let list = 235_000_000;
    // (percent, stacked discounts for the plan, price for the subscription, needs a manager)
    let cases = [
        ("2.99", vec![299], list * 9_701 / 10_000, false),
        ("3.00", vec![300], list * 9_700 / 10_000, false),
        ("3.009", vec![300, 1], list * 96_991 / 100_000, true),
        ("3.01", vec![301], list * 9_699 / 10_000, true),
    ];
    for (n, (percent, discounts, price, manager)) in cases.into_iter().enumerate() {
        let (unit, customer) = j
            .unit_and_customer(&format!("20{n:02}"), &format!("1380013900{n}"))
            .await;
        let plan = j
            .consultant
            .compute_purchase_plan(pb::ComputePurchasePlanRequest {
                unit_id: unit.unit_id.clone(),
                discounts_bp: discounts,
                payment_method: pb::PaymentMethod::FullPayment as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(plan.needs_manager_approval, manager, "plan at {percent} %");

        let mut request = subscription(&unit, &customer, price, 5_000_000, 20_000_000, in_days(7));
        request.id_number = format!("4403011990010112{n:02}");
        let signed = j.consultant.sign_subscription(request.clone()).await;
        match signed {
            Ok(_) => assert!(!manager, "{percent} % signed by a consultant"),
            Err(status) => {
                assert!(manager, "{percent} % refused: {status:?}");
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert_eq!(
                    refusal_reason(&status).as_deref(),
                    Some("DISCOUNT_NEEDS_MANAGER"),
                    "{status:?}"
                );
                assert!(status.message().contains("sales manager"), "{status:?}");
                assert_eq!(
                    j.unit_status(&unit.unit_id).await,
                    pb::UnitStatus::Available as i32,
                    "a refusal at {percent} % holds nothing"
                );
                // The manager signs it.
                j.manager.sign_subscription(request).await.unwrap();
            }
        }
    }
    j.stack.stop().await.unwrap();
}

/// A project in New York: its top-up lapses at the end of the due day there, and its
/// contract's down payment is due until that day ends there, not in China Standard Time.
#[tokio::test]
async fn a_project_in_another_time_zone_keeps_its_own_days() {
    let mut j = Journey::start("DEAL-NY", |p| p.time_zone = "America/New_York".into()).await;
    let zone = anju_kit::time::ProjectZone::parse("America/New_York").unwrap();
    let policy = j
        .manager
        .get_project_policy(pb::GetProjectPolicyRequest {
            project_id: j.project.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    assert_eq!(policy.time_zone, "America/New_York");
    let (unit, customer) = j.unit_and_customer("0901", "13800139999").await;
    let list = 235_000_000;
    let due_on = (zone.today() + chrono::Duration::days(7)).to_string();
    let signed = j
        .consultant
        .sign_subscription(subscription(
            &unit,
            &customer,
            list,
            5_000_000,
            20_000_000,
            due_on.clone(),
        ))
        .await
        .unwrap()
        .into_inner()
        .subscription
        .unwrap();
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    // 1440 minutes after the due day's midnight in New York: that day's end there.
    let lapses = signed.lapses_at.unwrap();
    assert_eq!(
        lapses.seconds,
        zone.start_of(day(&due_on)).timestamp() + i64::from(policy.lapse_after_minutes) * 60
    );
    assert_ne!(
        lapses.seconds,
        anju_kit::time::ProjectZone::or_default("")
            .start_of(day(&due_on))
            .timestamp()
            + i64::from(policy.lapse_after_minutes) * 60,
        "not China Standard Time"
    );

    let charges = j.wait_charges(&unit.unit_id, 2).await;
    for (n, charge) in charges.iter().enumerate() {
        j.pay(charge, &format!("NY-DEP-{n}")).await;
    }
    j.wait_unit(&unit.unit_id, pb::UnitStatus::Subscribed).await;
    let down_due = (zone.today() + chrono::Duration::days(14)).to_string();
    j.consultant
        .sign_contract(pb::SignContractRequest {
            request_id: "contract-ny".into(),
            subscription_id: signed.subscription_id.clone(),
            id_number: "44030119900101123X".into(),
            contract_area: Some(Area {
                square_centimetres: 891_234,
            }),
            payment_method: pb::PaymentMethod::CommercialMortgage as i32,
            down_payment: cny(list * 30 / 100),
            down_payment_due_on: down_due.clone(),
            instalments: Vec::new(),
            homes_owned: 0,
            lending_bank: String::new(),
        })
        .await
        .unwrap();
    let charges = j.wait_charges(&unit.unit_id, 4).await;
    let down = charges
        .iter()
        .find(|c| c.purpose == finance::ChargePurpose::DownPayment as i32)
        .unwrap();
    assert_eq!(
        down.due_at.unwrap().seconds,
        zone.end_of(day(&down_due)).timestamp(),
        "due until the day ends in New York"
    );
    j.stack.stop().await.unwrap();
}
