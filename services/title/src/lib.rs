//! anju-title: survey, area difference, documents, taxes and the title deed.

mod api;
mod store;

use anju_kit::{Role, Settings, auth::Policy};
use anju_messaging::host::{Platform, ServiceHost};
use anju_proto::title::title_service_server::TitleServiceServer;
use tokio_util::sync::CancellationToken;

pub use api::TitleApi;

pub const NAME: &str = "title";

/// Builds the service — its database, bus, gRPC server, consumers and background tasks —
/// ready to run until `shutdown` is cancelled (`ServiceHost::run_until_stopped`).
pub async fn build(
    settings: &Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<ServiceHost> {
    let platform = Platform::connect(settings, NAME, &sqlx::migrate!("./migrations")).await?;
    let api = TitleServiceServer::new(TitleApi::new(&platform))
        .max_decoding_message_size(settings.grpc.max_message_bytes);
    let host = ServiceHost::start(&platform, shutdown)
        .await?
        .add_service(api, policy());
    Ok(host)
}

pub fn policy() -> Policy {
    use Role::*;
    Policy::new(anju_proto::service_names::TITLE)
        .allow("RecordSurvey", &[TitleOfficer])
        .allow(
            "GetTitleFile",
            &[TitleOfficer, CustomerService, Cashier, Operator, Service],
        )
}
