//! Steps 7–9: a walk-in buyer from first visit to a contract with its down payment paid.

use anju_kit::Role;
use anju_proto::{
    common::{Area, Money},
    finance::{self, finance_service_client::FinanceServiceClient},
    saga::{self, saga_service_client::SagaServiceClient},
    sales::{self, sales_service_client::SalesServiceClient},
};
use anyhow::Context;

use super::{Demo, cny, step, unit_becomes};

/// A walk-in buyer from first visit to a contract with its down payment paid, every yuan
/// through finance and every cross-service step through the saga coordinator.
pub(super) async fn sale(
    demo: &Demo,
    project: &sales::Project,
    unit: &sales::Unit,
) -> anyhow::Result<()> {
    step(
        7,
        "A walk-in buyer subscribes to unit 1802; the coordinator bills the deposit",
    );
    let mut consultant = SalesServiceClient::new(demo.client("sales", &[Role::SalesConsultant])?);
    let customer = consultant
        .record_visit(sales::RecordVisitRequest {
            request_id: demo.request_id("visit"),
            project_id: project.project_id.clone(),
            phone: format!("138{}", &demo.run),
            name: "Wang Fang".into(),
            channel: sales::VisitChannel::WalkIn as i32,
            note: "wants a south-facing 3-bedroom".into(),
            referrer_phone: String::new(),
        })
        .await?
        .into_inner()
        .customer
        .context("no customer")?;
    let list = unit.list_price.as_ref().map_or(0, |m| m.minor_units);
    let price = list / 100 * 98;
    let money = |minor_units: i64| {
        Some(Money {
            minor_units,
            currency: "CNY".into(),
        })
    };
    let today = anju_kit::time::ProjectZone::or_default("").today();
    let subscription = consultant
        .sign_subscription(sales::SignSubscriptionRequest {
            request_id: demo.request_id("subscription"),
            unit_id: unit.unit_id.clone(),
            customer_id: customer.customer_id.clone(),
            price: money(price),
            small_deposit: money(5_000_000),
            full_deposit: money(20_000_000),
            top_up_due_on: (today + chrono::Duration::days(7)).to_string(),
            id_number: "44030119900101123X".into(),
        })
        .await?
        .into_inner()
        .subscription
        .context("no subscription")?;
    println!(
        "    {} subscribes at {} (2 % off {}), full deposit {}",
        customer.name,
        cny(price),
        cny(list),
        cny(20_000_000)
    );
    let mut cashier = FinanceServiceClient::new(demo.client("finance", &[Role::Cashier])?);
    let charges = demo.journey.charges(&unit.unit_id, "", 2).await?;
    for (n, charge) in charges.iter().enumerate() {
        cashier
            .record_payment(finance::RecordPaymentRequest {
                request_id: demo.request_id(&format!("deposit-{n}")),
                charge_id: charge.charge_id.clone(),
                amount: charge.outstanding.clone(),
                method: finance::PaymentMethod::WechatPay as i32,
                external_reference: format!("WX-{}-{n}", subscription.subscription_id),
                received_on: today.to_string(),
                cashier_id: String::new(),
            })
            .await?;
        println!(
            "    paid {} ({}) by WeChat Pay",
            cny(charge.amount.as_ref().map_or(0, |m| m.minor_units)),
            charge.settlement_group
        );
    }
    unit_becomes(
        demo,
        &consultant,
        &unit.unit_id,
        sales::UnitStatus::Subscribed,
    )
    .await?;
    println!(
        "    deposit settled → the coordinator confirmed the subscription: unit 1802 is subscribed"
    );

    step(
        8,
        "The purchase contract: identity and eligibility checked, down payment and bank loan billed",
    );
    let down = price / 100 * 30;
    let contract = consultant
        .sign_contract(sales::SignContractRequest {
            request_id: demo.request_id("contract"),
            subscription_id: subscription.subscription_id.clone(),
            id_number: "44030119900101123X".into(),
            contract_area: Some(Area {
                square_centimetres: 1_121_350,
            }),
            payment_method: sales::PaymentMethod::CommercialMortgage as i32,
            down_payment: money(down),
            down_payment_due_on: (today + chrono::Duration::days(14)).to_string(),
            instalments: Vec::new(),
            homes_owned: 0,
            lending_bank: "China Construction Bank, Shenzhen Branch".into(),
        })
        .await?
        .into_inner()
        .contract
        .context("no contract")?;
    println!(
        "    contract {}: price {}, 112.1350 m², down payment {} (deposit {} credited), mortgage {}",
        contract.contract_id,
        cny(price),
        cny(down),
        cny(20_000_000),
        cny(contract.loan_amount.as_ref().map_or(0, |m| m.minor_units))
    );
    let charges = demo.journey.charges(&unit.unit_id, "", 4).await?;
    let down_charge = charges
        .iter()
        .find(|c| c.purpose == finance::ChargePurpose::DownPayment as i32)
        .context("no down payment charge")?;
    cashier
        .record_payment(finance::RecordPaymentRequest {
            request_id: demo.request_id("down-payment"),
            charge_id: down_charge.charge_id.clone(),
            amount: down_charge.outstanding.clone(),
            method: finance::PaymentMethod::BankTransfer as i32,
            external_reference: format!("BT-{}", contract.contract_id),
            received_on: today.to_string(),
            cashier_id: String::new(),
        })
        .await?;
    let billed: i64 = charges
        .iter()
        .map(|c| c.amount.as_ref().map_or(0, |m| m.minor_units))
        .sum();
    println!(
        "    billed in all {} = the price to the fen; down payment {} paid by bank transfer",
        cny(billed),
        cny(down - 20_000_000)
    );

    step(
        9,
        "Operators see every saga the coordinator drove, read from its own tables",
    );
    let operator = SagaServiceClient::new(demo.client("saga", &[Role::Operator])?);
    let keys = [
        subscription.subscription_id.clone(),
        contract.contract_id.clone(),
    ];
    let sagas = demo
        .journey
        .eventually("the sagas to finish", || {
            let mut operator = operator.clone();
            let keys = keys.clone();
            async move {
                let sagas: Vec<saga::Saga> = operator
                    .list_sagas(saga::ListSagasRequest::default())
                    .await?
                    .into_inner()
                    .sagas
                    .into_iter()
                    .filter(|s| keys.contains(&s.key))
                    .collect();
                let done =
                    sagas.len() == 2 && sagas.iter().all(|s| s.terminal && s.open_commands == 0);
                Ok(done.then_some(sagas))
            }
        })
        .await?;
    for s in &sagas {
        println!(
            "    {:<13} {:<22} open commands {}",
            s.flow, s.state, s.open_commands
        );
    }
    Ok(())
}
