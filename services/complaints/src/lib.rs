//! anju-complaints: owners' complaints, routed within the service level standard and
//! tracked to a follow-up visit.

mod api;
mod domain;
mod store;

use std::sync::Arc;

use anju_kit::{Role, Settings, auth::Policy};
use anju_messaging::{
    directory::UnitDirectory,
    host::{Platform, ServiceHost},
};
use anju_proto::complaints::complaints_service_server::ComplaintsServiceServer;
use tokio_util::sync::CancellationToken;

pub use api::ComplaintsApi;

pub const NAME: &str = "complaints";

/// Builds the service — its database, bus, gRPC server, consumers and background tasks —
/// ready to run until `shutdown` is cancelled (`ServiceHost::run_until_stopped`).
pub async fn build(
    settings: &Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<ServiceHost> {
    let platform = Platform::connect(settings, NAME, &sqlx::migrate!("./migrations")).await?;
    let api = ComplaintsServiceServer::new(ComplaintsApi::new(&platform))
        .max_decoding_message_size(settings.grpc.max_message_bytes);
    let mut host = ServiceHost::start(&platform, shutdown)
        .await?
        .add_service(api, policy());
    host.spawn_consumer(platform.consumer("sales", Arc::new(UnitDirectory)));
    Ok(host)
}

pub fn policy() -> Policy {
    use Role::*;
    Policy::new(anju_proto::service_names::COMPLAINTS)
        .allow("RecordComplaint", &[CustomerService, PropertyManagement])
        .allow(
            "GetComplaint",
            &[
                CustomerService,
                PropertyManagement,
                SalesManager,
                MaintenanceDispatcher,
                Operator,
            ],
        )
}
