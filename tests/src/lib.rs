//! anju-e2e: journeys across every service, fault injection and the benchmarks.
//!
//! [`TestStack::start`] runs all seven services in this process (`--target all`;
//! [`TestStack::start_only`] just the ones a test is about), each with
//! its own fresh database and a private NATS subject prefix on the real servers, every gRPC
//! port bound to 0, and hands out typed, authenticated clients.

use std::time::Duration;

use anju::{Stack, client};
use anju_kit::{Role, Settings, config::SERVICES};
use anju_proto::{
    common::{Area, Money},
    sales::{self, sales_service_client::SalesServiceClient},
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use anju::client::Authed;

pub struct TestStack {
    pub settings: Settings,
    pub stack: Stack,
    pub shutdown: CancellationToken,
    /// A tenant of its own for this test.
    pub tenant: Uuid,
}

impl TestStack {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(anju_testkit::settings()).await
    }

    pub async fn start_with(settings: Settings) -> anyhow::Result<Self> {
        Self::start_services(settings, &SERVICES).await
    }

    /// Only `services`, for a test about them alone: fewer databases to create and migrate,
    /// fewer consumers and relays, so the test starts in a fraction of the time.
    pub async fn start_only(services: &[&'static str]) -> anyhow::Result<Self> {
        Self::start_services(anju_testkit::settings(), services).await
    }

    async fn start_services(settings: Settings, services: &[&'static str]) -> anyhow::Result<Self> {
        anju_testkit::drop_stale_databases().await?;
        let shutdown = CancellationToken::new();
        let stack = Stack::start(&settings, services, shutdown.clone()).await?;
        Ok(Self {
            settings,
            stack,
            shutdown,
            tenant: Uuid::now_v7(),
        })
    }

    pub fn port(&self, service: &str) -> u16 {
        self.stack
            .port(service)
            .unwrap_or_else(|| panic!("{service} is not running"))
    }

    pub fn channel(&self, service: &str) -> tonic::transport::Channel {
        client::channel("127.0.0.1", self.port(service)).expect("channel")
    }

    /// A channel carrying a token for this test's tenant with `roles`.
    pub fn authed(&self, service: &str, roles: &[Role]) -> Authed {
        self.authed_with(service, &anju_testkit::token(self.tenant, roles))
    }

    pub fn authed_with(&self, service: &str, token: &str) -> Authed {
        client::authed("127.0.0.1", self.port(service), token).expect("authed channel")
    }

    /// The shared journey's staff of `tenant` on this stack.
    pub fn staff_of(&self, tenant: Uuid) -> anju::journey::Staff {
        anju::journey::Staff::new(|service, subject, roles| {
            Ok(self.authed_with(service, &anju_testkit::token_for(tenant, subject, roles)))
        })
        .expect("clients")
    }

    /// A journey in a new project `code` of this test's tenant (request ids prefixed by it).
    pub async fn journey(&self, code: &str) -> anju::journey::Journey {
        anju::journey::Journey::open(self.staff_of(self.tenant), code, &format!("{code}-"))
            .await
            .expect("the journey's project")
    }

    /// A sales client acting as the named user.
    pub fn sales_as(&self, subject: &str, roles: &[Role]) -> SalesServiceClient<Authed> {
        SalesServiceClient::new(self.authed_with(
            "sales",
            &anju_testkit::token_for(self.tenant, subject, roles),
        ))
    }

    pub fn sales(&self, roles: &[Role]) -> SalesServiceClient<Authed> {
        SalesServiceClient::new(self.authed("sales", roles))
    }

    /// Waits until `service` has learnt `unit_id` from sales' events (its unit directory), so
    /// that staff may name the unit there.
    pub async fn until_known(&self, service: &str, unit_id: &str) -> anyhow::Result<()> {
        let db = sqlx::PgPool::connect(&self.settings.database_url(service)).await?;
        let unit_id = Uuid::parse_str(unit_id)?;
        let known = wait_for(
            Duration::from_secs(30),
            &format!("{service} learns the unit"),
            || {
                let db = db.clone();
                async move {
                    Ok(sqlx::query_scalar(
                        "select exists (select 1 from known_units where unit_id = $1)",
                    )
                    .bind(unit_id)
                    .fetch_one(&db)
                    .await?)
                }
            },
        )
        .await;
        db.close().await;
        known
    }

    /// A project with one building and one unit, registered in sales by a manager of this
    /// test's tenant and learnt by each of `services`; returns (project id, unit id).
    pub async fn registered_unit(
        &self,
        code: &str,
        services: &[&str],
    ) -> anyhow::Result<(String, String)> {
        let mut manager = self.sales(&[Role::SalesManager]);
        let (project, building) = project_with_building(&mut manager, code).await?;
        let unit = manager
            .register_unit(unit_request(&building, "0101"))
            .await?
            .into_inner()
            .unit
            .expect("unit")
            .unit_id;
        for service in services {
            self.until_known(service, &unit).await?;
        }
        Ok((project, unit))
    }

    /// Stops the services, then removes this test's databases and streams.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stack.stop().await?;
        anju_testkit::cleanup(&self.settings).await
    }
}

/// A project with one building, created by a sales manager; returns (project id, building id).
pub async fn project_with_building(
    sales: &mut SalesServiceClient<Authed>,
    code: &str,
) -> anyhow::Result<(String, String)> {
    let project = sales
        .create_project(sales::CreateProjectRequest {
            request_id: format!("project-{code}"),
            code: code.into(),
            name: format!("Project {code}"),
            city: "Shenzhen".into(),
        })
        .await?
        .into_inner()
        .project
        .expect("project");
    let building = sales
        .create_building(sales::CreateBuildingRequest {
            request_id: format!("building-{code}"),
            project_id: project.project_id.clone(),
            name: "Tower 1".into(),
            floors: 30,
        })
        .await?
        .into_inner()
        .building
        .expect("building");
    Ok((project.project_id, building.building_id))
}

pub fn unit_request(building_id: &str, number: &str) -> sales::RegisterUnitRequest {
    sales::RegisterUnitRequest {
        request_id: format!("unit-{building_id}-{number}"),
        building_id: building_id.into(),
        unit_number: number.into(),
        floor: 18,
        layout: "3房2廳".into(),
        forecast_area: Some(Area {
            square_centimetres: 890_000,
        }),
        list_price: Some(Money {
            minor_units: 235_000_000,
            currency: "CNY".into(),
        }),
        orientation: "south".into(),
    }
}

/// Polls until `check` holds, for at most `timeout`.
pub async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    anju_testkit::eventually(timeout, what, || {
        let fut = check();
        async move { Ok(fut.await?.then_some(())) }
    })
    .await
}
pub mod bench;
pub mod finance;
pub mod move_in;
pub mod personal_data;
pub mod sweep;

/// `GET /metrics` at `port` on this machine, over plain HTTP: (status line and headers, body).
pub async fn scrape_metrics(port: u16) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the metrics port");
    socket
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: anju\r\nConnection: close\r\n\r\n")
        .await
        .expect("a request");
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.expect("an answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("headers, then a body");
    (head.to_string(), body.to_string())
}
