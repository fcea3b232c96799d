//! `anju demo`: a newcomer's walk through the running services, narrated step by step.

use std::time::{Duration, Instant};

use anju::client::{self, Authed};
use anju_kit::{Role, Settings, auth::TokenIssuer, ids::derived_id};
use anju_proto::{
    common::{Area, Money},
    finance::{self, finance_service_client::FinanceServiceClient},
    handover::{self, handover_service_client::HandoverServiceClient},
    maintenance::{self, maintenance_service_client::MaintenanceServiceClient},
    maintenance::{ListWorkOrdersRequest, RepairSource},
    saga::{self, saga_service_client::SagaServiceClient},
    sales::{self, sales_service_client::SalesServiceClient},
};
use anyhow::{Context, bail};
use uuid::Uuid;

struct Demo {
    host: String,
    settings: Settings,
    issuer: TokenIssuer,
    tenant: Uuid,
    run: String,
}

impl Demo {
    fn client(&self, service: &str, roles: &[Role]) -> anyhow::Result<Authed> {
        let token = self.issuer.staff(self.tenant, "demo", roles)?;
        client::authed(&self.host, self.settings.grpc_port(service), &token)
    }

    fn request_id(&self, what: &str) -> String {
        format!("demo-{}-{what}", self.run)
    }
}

fn step(n: u32, text: &str) {
    println!("\n[{n}] {text}");
}

fn cny(fen: i64) -> String {
    format!("¥{}.{:02}", fen / 100, fen % 100)
}

pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let secret = settings
        .auth
        .hs256_secret
        .as_ref()
        .context("the demo signs development tokens: set an HS256 key")?;
    let demo = Demo {
        host: settings.grpc.host.to_string(),
        settings: settings.clone(),
        issuer: TokenIssuer::hs256(secret.expose()),
        tenant: derived_id("demo-tenant:harbour-group"),
        run: chrono::Utc::now().format("%H%M%S").to_string(),
    };
    println!("anju demo — tenant Harbour Group ({})", demo.tenant);

    step(
        1,
        "The sales manager opens a project with one building of 30 floors",
    );
    let mut sales = SalesServiceClient::new(demo.client("sales", &[Role::SalesManager])?);
    let project = sales
        .create_project(sales::CreateProjectRequest {
            request_id: demo.request_id("project"),
            code: format!("HV-{}", demo.run),
            name: "Harbour View".into(),
            city: "Shenzhen".into(),
        })
        .await?
        .into_inner()
        .project
        .context("no project returned")?;
    println!(
        "    project {} {} ({})",
        project.code, project.name, project.project_id
    );
    let building = sales
        .create_building(sales::CreateBuildingRequest {
            request_id: demo.request_id("building"),
            project_id: project.project_id.clone(),
            name: "Tower 1".into(),
            floors: 30,
        })
        .await?
        .into_inner()
        .building
        .context("no building returned")?;
    println!(
        "    building {} ({} floors)",
        building.name, building.floors
    );

    step(
        2,
        "Three units enter the catalogue (area in cm², price in fen — never floats)",
    );
    let mut units = Vec::new();
    for (number, floor, area_m2, price_yuan) in [
        ("1801", 18, 89, 2_350_000),
        ("1802", 18, 112, 2_980_000),
        ("2203", 22, 143, 3_760_000),
    ] {
        let unit = sales
            .register_unit(sales::RegisterUnitRequest {
                request_id: demo.request_id(&format!("unit-{number}")),
                building_id: building.building_id.clone(),
                unit_number: number.into(),
                floor,
                layout: "3房2廳".into(),
                forecast_area: Some(Area {
                    square_centimetres: area_m2 * 10_000,
                }),
                list_price: Some(Money {
                    minor_units: price_yuan * 100,
                    currency: "CNY".into(),
                }),
                orientation: "south".into(),
            })
            .await?
            .into_inner()
            .unit
            .context("no unit returned")?;
        println!(
            "    unit {} — {} m², list price {}",
            unit.unit_number,
            area_m2,
            cny(price_yuan * 100)
        );
        units.push(unit);
    }

    step(
        3,
        "Sales published UnitRegistered events; handover builds its own view from them",
    );
    let mut handover =
        HandoverServiceClient::new(demo.client("handover", &[Role::CustomerService])?);
    let started = Instant::now();
    let seen = loop {
        let listed = handover
            .list_units(handover::ListUnitsRequest {
                project_id: project.project_id.clone(),
                page: None,
            })
            .await?
            .into_inner()
            .units;
        if listed.len() == units.len() {
            break listed;
        }
        if started.elapsed() > Duration::from_secs(15) {
            bail!(
                "handover saw {} of {} units after 15 s",
                listed.len(),
                units.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "    handover knows {} units after {} ms (outbox → JetStream → inbox, exactly once)",
        seen.len(),
        started.elapsed().as_millis()
    );

    step(
        4,
        "The cashier bills a renovation management fee; a retried call bills nothing twice",
    );
    let mut finance = FinanceServiceClient::new(demo.client("finance", &[Role::Cashier])?);
    let fee = finance::IssueChargeRequest {
        request_id: demo.request_id("fee"),
        project_id: project.project_id.clone(),
        unit_id: units[0].unit_id.clone(),
        payer_id: "owner-wang".into(),
        purpose: finance::ChargePurpose::RenovationFee as i32,
        amount: Some(Money {
            minor_units: 89 * 300,
            currency: "CNY".into(),
        }),
        business_key: format!("renovation:{}:management_fee", units[0].unit_id),
        ..Default::default()
    };
    // Finance learns the units from the same events handover did; until it has, the unit is
    // NOT_FOUND to a cashier (as another tenant's unit always is), so the first call waits.
    let first = wait_until("finance to learn the unit", || {
        let (mut finance, fee) = (finance.clone(), fee.clone());
        async move { until_known(finance.issue_charge(fee).await) }
    })
    .await?
    .into_inner()
    .charge
    .context("no charge")?;
    let retry = finance
        .issue_charge(fee)
        .await?
        .into_inner()
        .charge
        .context("no charge")?;
    let listed = finance
        .list_charges(finance::ListChargesRequest {
            unit_id: units[0].unit_id.clone(),
            page: None,
        })
        .await?
        .into_inner()
        .charges;
    println!(
        "    charge {} for {}; retry returned {} — the unit has {} charge(s)",
        first.charge_id,
        cny(first.amount.map(|m| m.minor_units).unwrap_or(0)),
        if retry.charge_id == first.charge_id {
            "the same charge"
        } else {
            "A DIFFERENT CHARGE"
        },
        listed.len()
    );

    step(
        5,
        "Maintenance issues a work order; each contractor sees only its own",
    );
    let maintenance =
        MaintenanceServiceClient::new(demo.client("maintenance", &[Role::MaintenanceDispatcher])?);
    let contractor = derived_id("demo-contractor:pearl-waterproofing");
    let repair = maintenance::CreateRepairRequestRequest {
        request_id: demo.request_id("repair"),
        project_id: project.project_id.clone(),
        unit_id: units[1].unit_id.clone(),
        source: maintenance::RepairSource::Owner as i32,
        category: "waterproofing".into(),
        description: "bathroom ceiling leaks after rain".into(),
        contractor_id: contractor.to_string(),
        reference: String::new(),
    };
    let order = wait_until("maintenance to learn the unit", || {
        let (mut maintenance, repair) = (maintenance.clone(), repair.clone());
        async move { until_known(maintenance.create_repair_request(repair).await) }
    })
    .await?
    .into_inner()
    .repair_request
    .context("no repair request")?;
    let partner_view = |contractor: Uuid| -> anyhow::Result<MaintenanceServiceClient<Authed>> {
        let token = demo.issuer.issue(&anju_kit::auth::Claims {
            sub: format!("contractor-{contractor}"),
            tenant: demo.tenant.to_string(),
            roles: vec![Role::Contractor],
            projects: vec!["*".into()],
            contractor: Some(contractor.to_string()),
            exp: anju_kit::auth::expiry(600),
            nbf: None,
            iat: None,
            iss: None,
            aud: None,
        })?;
        Ok(MaintenanceServiceClient::new(client::authed(
            &demo.host,
            demo.settings.grpc_port("maintenance"),
            &token,
        )?))
    };
    let own = partner_view(contractor)?
        .get_repair_request(maintenance::GetRepairRequestRequest {
            repair_request_id: order.repair_request_id.clone(),
        })
        .await;
    let other = partner_view(derived_id("demo-contractor:someone-else"))?
        .get_repair_request(maintenance::GetRepairRequestRequest {
            repair_request_id: order.repair_request_id.clone(),
        })
        .await;
    println!(
        "    work order {} ({})",
        order.repair_request_id, order.description
    );
    println!(
        "    assigned contractor reads it: {}",
        if own.is_ok() { "yes" } else { "NO" }
    );
    println!(
        "    another contractor reads it: {}",
        match other {
            Ok(_) => "YES (this would be a leak)".to_string(),
            Err(status) => format!("no — {:?}", status.code()),
        }
    );

    step(6, "Another developer group asks for this project");
    let stranger = demo.issuer.staff(
        derived_id("demo-tenant:other-group"),
        "stranger",
        &[Role::SalesManager],
    )?;
    let mut foreign = SalesServiceClient::new(client::authed(
        &demo.host,
        demo.settings.grpc_port("sales"),
        &stranger,
    )?);
    let answer = foreign
        .get_project(sales::GetProjectRequest {
            project_id: project.project_id.clone(),
        })
        .await;
    println!(
        "    answer: {}",
        match answer {
            Ok(_) => "FOUND (this would be a leak)".to_string(),
            Err(status) => format!("{:?} — no sign it exists", status.code()),
        }
    );

    sale(&demo, &project, &units[1]).await?;
    move_in(&demo, &project, &units).await?;

    println!("\ndemo complete: every step above ran against the live services.");
    Ok(())
}

/// Polls `check` every 50 ms for up to 15 s.
async fn wait_until<F, Fut, T>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if started.elapsed() > Duration::from_secs(15) {
            bail!("gave up waiting for {what} after 15 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A call's answer, or `None` (try again) while the service has not yet learnt the unit it
/// names from sales' events.
fn until_known<T>(result: Result<T, tonic::Status>) -> anyhow::Result<Option<T>> {
    match result {
        Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
        other => Ok(Some(other?)),
    }
}

/// Charges of a unit once there are at least `n`.
/// The unit's first notice of `kind` ("notice", "reminder", "reinspection"), once recorded.
async fn notice_of(
    counter: &HandoverServiceClient<Authed>,
    unit_id: &str,
    kind: &str,
) -> anyhow::Result<handover::Notice> {
    wait_until(&format!("the {kind} notice"), || {
        let mut counter = counter.clone();
        let unit_id = unit_id.to_string();
        async move {
            let notices = counter
                .get_handover(handover::GetHandoverRequest { unit_id })
                .await?
                .into_inner()
                .notices;
            Ok(notices.into_iter().find(|n| n.kind == kind))
        }
    })
    .await
}

async fn charges_of(
    finance: &FinanceServiceClient<Authed>,
    unit_id: &str,
    n: usize,
) -> anyhow::Result<Vec<finance::Charge>> {
    wait_until("the coordinator's charges", || {
        let mut finance = finance.clone();
        let unit_id = unit_id.to_string();
        async move {
            let charges = finance
                .list_charges(finance::ListChargesRequest {
                    unit_id,
                    page: None,
                })
                .await?
                .into_inner()
                .charges;
            Ok((charges.len() >= n).then_some(charges))
        }
    })
    .await
}

async fn unit_becomes(
    sales: &SalesServiceClient<Authed>,
    unit_id: &str,
    status: sales::UnitStatus,
) -> anyhow::Result<()> {
    wait_until("the unit's new status", || {
        let mut sales = sales.clone();
        let unit_id = unit_id.to_string();
        async move {
            let unit = sales
                .get_unit(sales::GetUnitRequest { unit_id })
                .await?
                .into_inner()
                .unit;
            Ok(unit.filter(|u| u.status == status as i32).map(|_| ()))
        }
    })
    .await
}

/// A walk-in buyer from first visit to a contract with its down payment paid, every yuan
/// through finance and every cross-service step through the saga coordinator.
async fn sale(demo: &Demo, project: &sales::Project, unit: &sales::Unit) -> anyhow::Result<()> {
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
    let charges = charges_of(&cashier, &unit.unit_id, 2).await?;
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
    unit_becomes(&consultant, &unit.unit_id, sales::UnitStatus::Subscribed).await?;
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
    let charges = charges_of(&cashier, &unit.unit_id, 4).await?;
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
    let sagas = wait_until("the sagas to finish", || {
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
            let done = sagas.len() == 2 && sagas.iter().all(|s| s.terminal && s.open_commands == 0);
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

/// A demo identity document number, derived from the buyer's phone.
fn id_number(phone: &str) -> String {
    format!("4403011990010{}", &phone[phone.len().saturating_sub(5)..])
}

/// Sells a unit without narration: visit, subscription, deposits paid, full-payment contract.
async fn sell(
    demo: &Demo,
    project: &sales::Project,
    unit: &sales::Unit,
    phone: &str,
    name: &str,
) -> anyhow::Result<()> {
    let mut consultant = SalesServiceClient::new(demo.client("sales", &[Role::SalesConsultant])?);
    let mut cashier = FinanceServiceClient::new(demo.client("finance", &[Role::Cashier])?);
    let money = |minor_units: i64| {
        Some(Money {
            minor_units,
            currency: "CNY".into(),
        })
    };
    let today = anju_kit::time::ProjectZone::or_default("").today();
    let customer = consultant
        .record_visit(sales::RecordVisitRequest {
            request_id: demo.request_id(&format!("visit-{phone}")),
            project_id: project.project_id.clone(),
            phone: phone.into(),
            name: name.into(),
            channel: sales::VisitChannel::Referral as i32,
            note: String::new(),
            referrer_phone: String::new(),
        })
        .await?
        .into_inner()
        .customer
        .context("no customer")?;
    let price = unit.list_price.as_ref().map_or(0, |m| m.minor_units);
    let subscription = consultant
        .sign_subscription(sales::SignSubscriptionRequest {
            request_id: demo.request_id(&format!("subscription-{phone}")),
            unit_id: unit.unit_id.clone(),
            customer_id: customer.customer_id,
            price: money(price),
            small_deposit: money(5_000_000),
            full_deposit: money(20_000_000),
            top_up_due_on: (today + chrono::Duration::days(7)).to_string(),
            id_number: id_number(phone),
        })
        .await?
        .into_inner()
        .subscription
        .context("no subscription")?;
    for (n, charge) in charges_of(&cashier, &unit.unit_id, 2)
        .await?
        .iter()
        .enumerate()
    {
        cashier
            .record_payment(finance::RecordPaymentRequest {
                request_id: demo.request_id(&format!("deposit-{phone}-{n}")),
                charge_id: charge.charge_id.clone(),
                amount: charge.outstanding.clone(),
                method: finance::PaymentMethod::BankCard as i32,
                external_reference: format!("CARD-{}-{n}", subscription.subscription_id),
                received_on: today.to_string(),
                cashier_id: String::new(),
            })
            .await?;
    }
    unit_becomes(&consultant, &unit.unit_id, sales::UnitStatus::Subscribed).await?;
    consultant
        .sign_contract(sales::SignContractRequest {
            request_id: demo.request_id(&format!("contract-{phone}")),
            subscription_id: subscription.subscription_id,
            id_number: id_number(phone),
            contract_area: unit.forecast_area,
            payment_method: sales::PaymentMethod::FullPayment as i32,
            down_payment: money(price),
            down_payment_due_on: (today + chrono::Duration::days(14)).to_string(),
            instalments: Vec::new(),
            homes_owned: 1,
        })
        .await?;
    Ok(())
}

/// The flagship rule: keys only after the fees are paid and the inspection passed.
async fn move_in(
    demo: &Demo,
    project: &sales::Project,
    units: &[sales::Unit],
) -> anyhow::Result<()> {
    step(
        10,
        "Two more units are sold; a handover batch opens a month ahead of its window",
    );
    sell(
        demo,
        project,
        &units[0],
        &format!("139{}", demo.run),
        "Li Wei",
    )
    .await?;
    sell(
        demo,
        project,
        &units[2],
        &format!("137{}", demo.run),
        "Chen Jing",
    )
    .await?;
    let mut counter =
        HandoverServiceClient::new(demo.client("handover", &[Role::CustomerService])?);
    let project_id = project.project_id.clone();
    wait_until("handover to learn the three contracts", || {
        let mut counter = counter.clone();
        let project_id = project_id.clone();
        async move {
            let listed = counter
                .list_units(handover::ListUnitsRequest {
                    project_id,
                    page: None,
                })
                .await?
                .into_inner()
                .units;
            Ok((listed.iter().filter(|u| u.contracted).count() == 3).then_some(()))
        }
    })
    .await?;
    let today = anju_kit::time::ProjectZone::or_default("").today();
    let money = |minor_units: i64| {
        Some(Money {
            minor_units,
            currency: "CNY".into(),
        })
    };
    let batch = counter
        .create_batch(handover::CreateBatchRequest {
            request_id: demo.request_id("batch"),
            project_id: project.project_id.clone(),
            building_id: String::new(),
            name: "Harbour View, first handover".into(),
            window_start: (today + chrono::Duration::days(35)).to_string(),
            window_end: (today + chrono::Duration::days(49)).to_string(),
            property_fee_per_square_metre_month: money(350),
            prepaid_months: 3,
            construction_cost_per_square_metre: money(300_000),
            maintenance_fund_bp: 500,
        })
        .await?
        .into_inner()
        .batch
        .context("no batch")?;
    println!(
        "    batch window {} to {}; plan due {}, notices due {}; {} units",
        batch.window_start,
        batch.window_end,
        batch.plan_due_on,
        batch.notices_due_on,
        batch.unit_ids.len()
    );
    let cashier = FinanceServiceClient::new(demo.client("finance", &[Role::Cashier])?);
    let names = ["Li Wei (1801)", "Wang Fang (1802)", "Chen Jing (2203)"];
    let ids = [
        id_number(&format!("139{}", demo.run)),
        "44030119900101123X".to_string(),
        id_number(&format!("137{}", demo.run)),
    ];
    let mut fees = Vec::new();
    for (n, unit) in units.iter().enumerate() {
        let unit_fees = wait_until("the handover fees", || {
            let cashier = cashier.clone();
            let unit_id = unit.unit_id.clone();
            async move {
                let charges: Vec<finance::Charge> = charges_of(&cashier, &unit_id, 0)
                    .await?
                    .into_iter()
                    .filter(|c| c.settlement_group == format!("handover:{unit_id}"))
                    .collect();
                Ok((charges.len() == 2).then_some(charges))
            }
        })
        .await?;
        let notice = notice_of(&counter, &unit.unit_id, "notice").await?;
        let lines: Vec<String> = notice
            .fees
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f.purpose.replace('_', " "),
                    cny(f.amount.as_ref().map_or(0, |m| m.minor_units))
                )
            })
            .collect();
        println!(
            "    {}: notice by {}: {} = {}, due {}",
            names[n],
            notice.channel,
            lines.join(" + "),
            cny(notice.total.as_ref().map_or(0, |m| m.minor_units)),
            notice.fees.first().map_or("", |f| f.due_on.as_str()),
        );
        fees.push(unit_fees);
        counter
            .check_in(handover::CheckInRequest {
                request_id: demo.request_id(&format!("check-in-{n}")),
                unit_id: unit.unit_id.clone(),
                id_number: ids[n].clone(),
            })
            .await?;
    }
    let pay = |n: usize| {
        let mut cashier = cashier.clone();
        let charges = fees[n].clone();
        let request = demo.request_id(&format!("fees-{n}"));
        async move {
            for (i, charge) in charges.iter().enumerate() {
                cashier
                    .record_payment(finance::RecordPaymentRequest {
                        request_id: format!("{request}-{i}"),
                        charge_id: charge.charge_id.clone(),
                        amount: charge.outstanding.clone(),
                        method: finance::PaymentMethod::Alipay as i32,
                        external_reference: format!("ALI-{}", charge.charge_id),
                        received_on: today.to_string(),
                        cashier_id: String::new(),
                    })
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        }
    };
    let inspect = |n: usize, round: u32, defects: Vec<handover::Defect>| {
        let mut counter = counter.clone();
        let request = demo.request_id(&format!("inspect-{n}-{round}"));
        let unit_id = units[n].unit_id.clone();
        async move {
            counter
                .record_inspection(handover::RecordInspectionRequest {
                    request_id: request,
                    unit_id,
                    passed: defects.is_empty(),
                    defects,
                })
                .await?;
            Ok::<_, anyhow::Error>(())
        }
    };
    let cleared = |n: usize| {
        let counter = counter.clone();
        let unit_id = units[n].unit_id.clone();
        wait_until("the clearance and the settled fees", move || {
            let mut counter = counter.clone();
            let unit_id = unit_id.clone();
            async move {
                let h = counter
                    .get_handover(handover::GetHandoverRequest { unit_id })
                    .await?
                    .into_inner()
                    .handover;
                Ok(h.filter(|h| h.cleared && h.fees_settled).map(|_| ()))
            }
        })
    };

    step(
        11,
        "Li Wei pays the fees and passes the joint inspection at once",
    );
    pay(0).await?;
    inspect(0, 1, Vec::new()).await?;
    cleared(0).await?;
    println!("    fees settled + inspection passed → the coordinator cleared 1801");

    step(
        12,
        "Wang Fang's inspection finds two defects; maintenance repairs, a re-inspection passes",
    );
    let defect = |room: &str, category: &str, description: &str| handover::Defect {
        room: room.into(),
        category: category.into(),
        description: description.into(),
        severity: "major".into(),
        photo_refs: vec![format!("photo://{room}.jpg")],
    };
    inspect(
        1,
        1,
        vec![
            defect(
                "master bathroom",
                "waterproofing",
                "damp patch under the window",
            ),
            defect(
                "living room",
                "doors_windows",
                "balcony door does not close",
            ),
        ],
    )
    .await?;
    let mut dispatcher =
        MaintenanceServiceClient::new(demo.client("maintenance", &[Role::MaintenanceDispatcher])?);
    let unit_1802 = units[1].unit_id.clone();
    let orders = wait_until("repair requests from the inspection", || {
        let mut dispatcher = dispatcher.clone();
        let unit_id = unit_1802.clone();
        async move {
            let orders: Vec<_> = dispatcher
                .list_work_orders(ListWorkOrdersRequest::default())
                .await?
                .into_inner()
                .work_orders
                .into_iter()
                .filter(|o| o.unit_id == unit_id && o.source == RepairSource::Inspection as i32)
                .collect();
            Ok((orders.len() == 2).then_some(orders))
        }
    })
    .await?;
    for order in &orders {
        println!(
            "    repair request {}: {}",
            order.category, order.description
        );
    }
    for (n, order) in orders.iter().enumerate() {
        dispatcher
            .close_repair_request(maintenance::CloseRepairRequestRequest {
                request_id: demo.request_id(&format!("repaired-{n}")),
                repair_request_id: order.repair_request_id.clone(),
                resolution: format!("{} repaired", order.category.replace('_', " ")),
            })
            .await?;
    }
    println!("    maintenance closes both repair requests");
    let unit_1802 = units[1].unit_id.clone();
    notice_of(&counter, &unit_1802, "reinspection").await?;
    println!("    the coordinator asks Wang Fang back for a re-inspection");
    inspect(1, 2, Vec::new()).await?;
    println!("    re-inspection (round 2) passed; the fees are paid after it");
    pay(1).await?;
    cleared(1).await?;

    step(
        13,
        "Chen Jing passes the inspection but has not paid; the counter tries to hand over keys",
    );
    inspect(2, 1, Vec::new()).await?;
    for (n, unit) in units.iter().enumerate() {
        let released = counter
            .release_keys(handover::ReleaseKeysRequest {
                request_id: demo.request_id(&format!("keys-{n}")),
                unit_id: unit.unit_id.clone(),
                signed_by: format!("signature of {}", names[n]),
            })
            .await;
        match released {
            Ok(r) => println!(
                "    {:<18} KEYS HANDED OVER ({} key sets, owner signed)",
                names[n],
                r.into_inner().keys.len()
            ),
            Err(status) => println!("    {:<18} no keys — {}", names[n], status.message()),
        }
    }
    let stats = counter
        .get_batch_statistics(handover::GetBatchStatisticsRequest {
            batch_id: batch.batch_id,
        })
        .await?
        .into_inner();
    println!(
        "    batch: {} of {} units handed over, {} defect(s), {} re-inspection(s)",
        stats.handed_over, stats.units, stats.defects, stats.reinspections
    );
    Ok(())
}
