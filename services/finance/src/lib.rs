//! anju-finance: charges per payer and unit, payments, refunds and the daily close.

mod charges;
mod grpc;

use anju_kit::{Role, Settings, auth::Policy};
use anju_messaging::host::{Platform, ServiceHost};
use anju_proto::finance::finance_service_server::FinanceServiceServer;
use tokio_util::sync::CancellationToken;

pub use grpc::FinanceApi;

pub const NAME: &str = "finance";

pub struct Application(ServiceHost);

impl Application {
    pub async fn build(settings: &Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let platform = Platform::connect(settings, NAME, &sqlx::migrate!("./migrations")).await?;
        let api = FinanceServiceServer::new(FinanceApi::new(&platform))
            .max_decoding_message_size(settings.grpc.max_message_bytes);
        let host = ServiceHost::start(&platform, shutdown).await?.add_service(api, policy());
        Ok(Self(host))
    }

    pub fn port(&self) -> u16 {
        self.0.port()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.0.run_until_stopped().await
    }
}

pub fn policy() -> Policy {
    use Role::*;
    const READERS: &[Role] = &[Cashier, CustomerService, SalesManager, SalesConsultant, Operator, Service];
    Policy::new(anju_proto::service_names::FINANCE)
        .allow("IssueCharge", &[Cashier, Service])
        .allow("GetCharge", READERS)
        .allow("ListCharges", READERS)
}
