//! One journey, from an empty project to a unit's keys, as the staff at each desk take it
//! over gRPC: the fixture the end-to-end tests, the fault tests, the benchmarks and the demo
//! share. [`Journey::sold_unit`], [`Journey::batch`] and [`Journey::paid_and_passed`] are the
//! builders; each step is a method, so a test sets up in a few lines and asserts on the step
//! it is about.
//!
//! Every call carries a request id derived from the journey's `run` and the step, so a step
//! repeated (after a restart, say) repeats its requests exactly and acts once. A call that
//! meets no service (a process being restarted) is retried until the journey's patience runs
//! out; an answer — a refusal included — is returned as it is.

mod batch;
mod complaint;
mod move_in;
mod repair;
mod sale;
mod title;

pub use sale::Buyer;

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use anju_kit::{Role, time::ProjectZone};
use anju_proto::{
    common::Money, complaints::complaints_service_client::ComplaintsServiceClient,
    finance::finance_service_client::FinanceServiceClient,
    handover::handover_service_client::HandoverServiceClient,
    maintenance::maintenance_service_client::MaintenanceServiceClient,
    saga::saga_service_client::SagaServiceClient, sales::sales_service_client::SalesServiceClient,
    title::title_service_client::TitleServiceClient,
};
use anyhow::bail;
use tonic::{Code, Status};

use crate::client::Authed;

/// The identity number the journey's buyers show (a made-up Shenzhen number).
pub const ID_NUMBER: &str = "44030119900101123X";

/// A list price, in fen: 2,350,000.00 yuan.
pub const PRICE: i64 = 235_000_000;

/// The staff of one tenant, each a client with their own token.
#[derive(Clone)]
pub struct Staff {
    pub manager: SalesServiceClient<Authed>,
    pub consultant: SalesServiceClient<Authed>,
    pub cashier: FinanceServiceClient<Authed>,
    pub counter: HandoverServiceClient<Authed>,
    /// The head of customer service: move-in settings, plan approvals, lead overrides.
    pub handover_manager: HandoverServiceClient<Authed>,
    pub dispatcher: MaintenanceServiceClient<Authed>,
    /// Those who sign a repair off besides maintenance: customer service for the owner, the
    /// supervising engineer, the project department.
    pub owner_desk: MaintenanceServiceClient<Authed>,
    pub engineer: MaintenanceServiceClient<Authed>,
    pub project_department: MaintenanceServiceClient<Authed>,
    pub operator: SagaServiceClient<Authed>,
    pub title_officer: TitleServiceClient<Authed>,
    /// The complaints desk (customer service) and finance's queue for fee complaints.
    pub complaints_desk: ComplaintsServiceClient<Authed>,
    pub fees_desk: ComplaintsServiceClient<Authed>,
}

impl Staff {
    /// `connect(service, subject, roles)` gives a channel to `service` with a token for
    /// `subject` holding `roles`.
    pub fn new(
        connect: impl Fn(&str, &str, &[Role]) -> anyhow::Result<Authed>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            manager: SalesServiceClient::new(connect(
                "sales",
                "manager.zhao",
                &[Role::SalesManager],
            )?),
            consultant: SalesServiceClient::new(connect(
                "sales",
                "consultant.li",
                &[Role::SalesConsultant],
            )?),
            cashier: FinanceServiceClient::new(connect("finance", "cashier.wu", &[Role::Cashier])?),
            counter: HandoverServiceClient::new(connect(
                "handover",
                "counter.sun",
                &[Role::CustomerService],
            )?),
            handover_manager: HandoverServiceClient::new(connect(
                "handover",
                "manager.jiang",
                &[Role::CustomerServiceManager],
            )?),
            dispatcher: MaintenanceServiceClient::new(connect(
                "maintenance",
                "dispatcher.qian",
                &[Role::MaintenanceDispatcher],
            )?),
            owner_desk: MaintenanceServiceClient::new(connect(
                "maintenance",
                "counter.sun",
                &[Role::CustomerService],
            )?),
            engineer: MaintenanceServiceClient::new(connect(
                "maintenance",
                "engineer.feng",
                &[Role::SupervisingEngineer],
            )?),
            project_department: MaintenanceServiceClient::new(connect(
                "maintenance",
                "project.chu",
                &[Role::ProjectDepartment],
            )?),
            operator: SagaServiceClient::new(connect("saga", "operator.zhou", &[Role::Operator])?),
            title_officer: TitleServiceClient::new(connect(
                "title",
                "title.officer.he",
                &[Role::TitleOfficer],
            )?),
            complaints_desk: ComplaintsServiceClient::new(connect(
                "complaints",
                "desk.zheng",
                &[Role::CustomerService],
            )?),
            fees_desk: ComplaintsServiceClient::new(connect(
                "complaints",
                "cashier.wu",
                &[Role::Cashier],
            )?),
        })
    }
}

/// One project's journey: its staff, project and building, and how the steps are taken.
#[derive(Clone)]
pub struct Journey {
    pub staff: Staff,
    pub project_id: String,
    pub building_id: String,
    /// Prefix of every request id.
    pub run: String,
    /// How long a step waits for what another service does (or for a restarted one).
    pub patience: Duration,
    /// How often a waiting step looks again.
    pub poll: Duration,
    /// The price the units are sold at, in fen.
    pub price: i64,
    /// The longest any single wait of this journey (and its clones) took, and what it waited
    /// for: a call until a service answered, or an effect until it showed.
    pub longest_wait: Arc<Mutex<(Duration, String)>>,
}

/// A call's failure that a retry may get past: no service answered.
fn transient(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled
    )
}

pub fn cny(minor_units: i64) -> Option<Money> {
    Some(Money {
        minor_units,
        currency: "CNY".into(),
    })
}

/// The project's day `offset` days from today (in the default project time zone).
pub fn day(offset: i64) -> String {
    (ProjectZone::or_default("").today() + chrono::Duration::days(offset)).to_string()
}

impl Journey {
    /// A journey in an existing project and building.
    pub fn on(staff: Staff, project_id: &str, building_id: &str, run: &str) -> Self {
        Self {
            staff,
            project_id: project_id.into(),
            building_id: building_id.into(),
            run: run.into(),
            patience: Duration::from_secs(30),
            poll: Duration::from_millis(20),
            price: PRICE,
            longest_wait: Arc::default(),
        }
    }

    /// The request id of `step`.
    pub fn request_id(&self, step: &str) -> String {
        format!("{}{step}", self.run)
    }

    /// Polls `check` until it yields `Some`, or fails after the journey's patience.
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        let started = tokio::time::Instant::now();
        let deadline = started + self.patience;
        loop {
            if let Some(value) = check().await? {
                self.waited(started.elapsed(), what);
                return Ok(value);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("timed out after {:?} waiting for {what}", self.patience);
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    fn waited(&self, took: Duration, what: &str) {
        if let Ok(mut longest) = self.longest_wait.lock()
            && took > longest.0
        {
            *longest = (took, what.to_string());
        }
    }

    /// Makes `call` until a service answers, and returns the answer, refusals included.
    pub async fn answer<T, F, Fut>(
        &self,
        what: &str,
        mut call: F,
    ) -> anyhow::Result<Result<T, Status>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.eventually(what, || {
            let answer = call();
            async move {
                match answer.await {
                    Err(status) if transient(&status) => Ok(None),
                    answer => Ok(Some(answer.map(tonic::Response::into_inner))),
                }
            }
        })
        .await
    }

    /// Makes `call` until a service answers; a refusal is an error.
    pub async fn call<T, F, Fut>(&self, what: &str, call: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.answer(what, call)
            .await?
            .map_err(|status| anyhow::anyhow!("{what}: {:?} {}", status.code(), status.message()))
    }

    /// Makes `call` until it is accepted, while it is refused with FAILED_PRECONDITION —
    /// the step waits for what another service is still doing (a confirmation, a notice).
    pub async fn once_ready<T, F, Fut>(&self, what: &str, mut call: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.eventually(what, || {
            let answer = call();
            async move {
                match answer.await {
                    Ok(response) => Ok(Some(response.into_inner())),
                    Err(status)
                        if transient(&status) || status.code() == Code::FailedPrecondition =>
                    {
                        Ok(None)
                    }
                    Err(status) => bail!("{what}: {:?} {}", status.code(), status.message()),
                }
            }
        })
        .await
    }
}
