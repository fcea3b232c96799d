//! anju-handover: move-in — batches, notices, inspections and keys.
//!
//! Its picture of units comes from sales events ([`events::sales::SalesEvents`]), and whether a unit's
//! handover fees are settled from finance's ([`events::finance::FinanceEvents`]), each applied through
//! the inbox so each event counts once, whatever the order or number of deliveries.
//!
//! Its inside has the shape of every anju service: [`api`] (wire glue and validation),
//! [`domain`] (the rules, pure), [`store`] (SQL), [`events`] (consumers).

mod api;
mod domain;
mod events;
pub mod metrics;
mod store;

use std::sync::Arc;

use anju_kit::{Role, Settings, auth::Policy};
use anju_messaging::host::{Platform, ServiceHost};
use anju_proto::handover::handover_service_server::HandoverServiceServer;
use tokio_util::sync::CancellationToken;

pub use api::HandoverApi;

pub const NAME: &str = "handover";

/// This service's own migrations (its database also takes the platform's, `anju_kit::db` and
/// `anju_messaging`).
pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations")
}

/// Builds the service — its database, bus, gRPC server, consumers and background tasks —
/// ready to run until `shutdown` is cancelled (`ServiceHost::run_until_stopped`).
pub async fn build(
    settings: &Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<ServiceHost> {
    let platform = Platform::connect(settings, NAME, &migrator()).await?;
    let api = HandoverServiceServer::new(HandoverApi::new(&platform))
        .max_decoding_message_size(settings.grpc.max_message_bytes);
    let mut host = ServiceHost::start(&platform, shutdown)
        .await?
        .add_service(api, policy())
        .with_metrics(metrics::source(platform.pool.clone()));
    host.spawn_consumer(platform.consumer("sales", Arc::new(events::sales::SalesEvents)));
    host.spawn_consumer(platform.consumer("finance", Arc::new(events::finance::FinanceEvents)));
    Ok(host)
}

pub fn policy() -> Policy {
    use Role::*;
    const READERS: &[Role] = &[
        CustomerService,
        CustomerServiceManager,
        PropertyManagement,
        SalesManager,
        Cashier,
        Operator,
        Service,
    ];
    const COUNTER: &[Role] = &[CustomerService, PropertyManagement];
    const DESK: &[Role] = &[CustomerService, CustomerServiceManager];
    Policy::new(anju_proto::service_names::HANDOVER)
        .allow("GetUnit", READERS)
        .allow("ListUnits", READERS)
        .allow("GetHandoverSettings", READERS)
        .allow("SetHandoverSettings", &[CustomerServiceManager])
        .allow("CreateBatch", DESK)
        .allow("AddBatchUnits", DESK)
        .allow("GetBatch", READERS)
        .allow("SubmitBatchPlan", DESK)
        .allow("ApproveBatchPlan", &[CustomerServiceManager])
        .allow("RecordBook", DESK)
        .allow("ListBooks", READERS)
        .allow("RecordNotice", &[CustomerService, Service])
        .allow("RecordNoticeTracking", DESK)
        .allow("GetMoveInList", READERS)
        .allow("CheckIn", COUNTER)
        .allow("RecordInspection", COUNTER)
        .coordinator_only("GrantKeyClearance")
        .allow("ReleaseKeys", COUNTER)
        .allow("ReceiveKeys", COUNTER)
        .allow("ListKeys", READERS)
        .allow("LendKey", COUNTER)
        .allow("ReturnKey", COUNTER)
        .allow("ListKeyLoans", READERS)
        .allow("GetHandover", READERS)
        .allow("GetBatchStatistics", READERS)
}
