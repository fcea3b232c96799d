//! `anju demo`: a newcomer's walk through the running services, narrated step by step.

use std::time::{Duration, Instant};

use anju::{
    client::{self, Authed},
    journey::{Journey, Staff},
};
use anju_kit::{Role, Settings, auth::TokenIssuer, ids::derived_id};
use anju_proto::{
    common::{Area, Money},
    finance::{self, finance_service_client::FinanceServiceClient},
    handover::{self, handover_service_client::HandoverServiceClient},
    maintenance::{self, maintenance_service_client::MaintenanceServiceClient},
    sales::{self, sales_service_client::SalesServiceClient},
};
use anyhow::{Context, bail};
use uuid::Uuid;

mod complaint;
mod move_in;
mod repair;
mod sale;
mod title;

struct Demo {
    settings: Settings,
    issuer: TokenIssuer,
    tenant: Uuid,
    run: String,
    /// The shared journey fixture, on the demo's project once it exists.
    journey: Journey,
}

impl Demo {
    fn client(&self, service: &str, roles: &[Role]) -> anyhow::Result<Authed> {
        self.client_as(service, "demo", roles)
    }

    fn client_as(&self, service: &str, subject: &str, roles: &[Role]) -> anyhow::Result<Authed> {
        let token = self.issuer.staff(self.tenant, subject, roles)?;
        client::authed_at(&self.settings.endpoint(service), &token)
    }

    fn request_id(&self, what: &str) -> String {
        format!("demo-{}-{what}", self.run)
    }

    /// A partner contractor's own client: its users need no staff account.
    fn partner(&self, contractor: Uuid) -> anyhow::Result<MaintenanceServiceClient<Authed>> {
        let token = self.issuer.issue(&anju_kit::auth::Claims {
            sub: format!("contractor-{contractor}"),
            tenant: self.tenant.to_string(),
            roles: vec![Role::Contractor],
            projects: vec!["*".into()],
            contractor: Some(contractor.to_string()),
            exp: anju_kit::auth::expiry(600),
            nbf: None,
            iat: None,
            iss: None,
            aud: None,
        })?;
        Ok(MaintenanceServiceClient::new(client::authed_at(
            &self.settings.endpoint("maintenance"),
            &token,
        )?))
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
    let run = chrono::Utc::now().format("%H%M%S").to_string();
    let issuer = TokenIssuer::hs256(secret.expose());
    let tenant = derived_id("demo-tenant:harbour-group");
    let staff = Staff::new(|service, subject, roles| {
        let token = issuer.staff(tenant, subject, roles)?;
        client::authed_at(&settings.endpoint(service), &token)
    })?;
    let mut journey = Journey::on(staff, "", "", &format!("demo-{run}-"));
    journey.patience = Duration::from_secs(15);
    journey.poll = Duration::from_millis(50);
    let mut demo = Demo {
        settings: settings.clone(),
        issuer,
        tenant,
        run,
        journey,
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
    demo.journey.project_id = project.project_id.clone();
    demo.journey.building_id = building.building_id.clone();

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
    let first = demo
        .journey
        .eventually("finance to learn the unit", || {
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
            ..Default::default()
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
        ..Default::default()
    };
    let order = demo
        .journey
        .eventually("maintenance to learn the unit", || {
            let (mut maintenance, repair) = (maintenance.clone(), repair.clone());
            async move { until_known(maintenance.create_repair_request(repair).await) }
        })
        .await?
        .into_inner()
        .repair_request
        .context("no repair request")?;
    let own = demo
        .partner(contractor)?
        .get_repair_request(maintenance::GetRepairRequestRequest {
            repair_request_id: order.repair_request_id.clone(),
        })
        .await;
    let other = demo
        .partner(derived_id("demo-contractor:someone-else"))?
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
    let mut foreign = SalesServiceClient::new(client::authed_at(
        &demo.settings.endpoint("sales"),
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

    sale::sale(&demo, &project, &units[1]).await?;
    move_in::move_in(&demo, &units).await?;
    title::title(&demo, &units[1]).await?;
    complaint::complaint(&demo, &units[1]).await?;
    repair::escalated(&demo, &units[0]).await?;

    println!("\ndemo complete: every step above ran against the live services.");
    Ok(())
}

/// A call's answer, or `None` (try again) while the service has not yet learnt the unit it
/// names from sales' events.
fn until_known<T>(result: Result<T, tonic::Status>) -> anyhow::Result<Option<T>> {
    match result {
        Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
        other => Ok(Some(other?)),
    }
}

/// Waits for the unit's status in sales to become `status`.
async fn unit_becomes(
    demo: &Demo,
    sales: &SalesServiceClient<Authed>,
    unit_id: &str,
    status: sales::UnitStatus,
) -> anyhow::Result<()> {
    demo.journey
        .eventually("the unit's new status", || {
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

/// A demo identity document number, derived from the buyer's phone.
fn id_number(phone: &str) -> String {
    format!("4403011990010{}", &phone[phone.len().saturating_sub(5)..])
}
