//! anju-complaints: owners' complaints (DOMAIN.md §4), routed to the responsible department,
//! resolved, followed up — each step within the service level standard's targets, counted in
//! business hours.
//!
//! Its inside has the shape of every anju service: [`api`] (wire glue and validation),
//! [`domain`] (the rules, pure), [`store`] (SQL), [`events`] (the clock sweeper); what it
//! exports for dashboards is in [`metrics`]. The unit
//! directory comes from sales' events; the link to maintenance's repairs is the saga
//! coordinator's (flow "complaint"), reported back through the coordinator-only
//! `RecordRepairProgress`.

mod api;
pub mod domain;
pub mod events;
pub mod metrics;
mod store;

use std::sync::Arc;

use anju_kit::{Role, Settings, auth::Policy};
use anju_messaging::host::{Platform, ServiceHost};
use anju_proto::complaints::complaints_service_server::ComplaintsServiceServer;
use tokio_util::sync::CancellationToken;

pub use api::ComplaintsApi;

pub const NAME: &str = "complaints";

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
    let api = ComplaintsServiceServer::new(ComplaintsApi::new(&platform))
        .max_decoding_message_size(settings.grpc.max_message_bytes);
    let mut host = ServiceHost::start(&platform, shutdown)
        .await?
        .add_service(api, policy())
        .with_metrics(metrics::source(platform.pool.clone()));
    host.spawn_consumer(platform.consumer("sales", Arc::new(events::sales::SalesEvents)));
    let (pool, outbox) = (platform.pool.clone(), platform.outbox.clone());
    host.spawn(|token| events::clocks::run(pool, outbox, token));
    Ok(host)
}

pub fn policy() -> Policy {
    use Role::*;
    /// The departments complaints are routed to.
    const DEPARTMENTS: &[Role] = &[
        CustomerService,
        PropertyManagement,
        Cashier,
        SalesManager,
        MaintenanceDispatcher,
    ];
    const READERS: &[Role] = &[
        CustomerService,
        PropertyManagement,
        Cashier,
        SalesManager,
        MaintenanceDispatcher,
        Operator,
    ];
    Policy::new(anju_proto::service_names::COMPLAINTS)
        // The coordinator records the issues an owner raises at a move-in inspection.
        .allow(
            "RecordComplaint",
            &[CustomerService, PropertyManagement, Service],
        )
        .allow("GetComplaint", READERS)
        .allow("ListComplaints", READERS)
        .allow("AcknowledgeComplaint", &[CustomerService])
        .allow("TakeComplaint", DEPARTMENTS)
        .allow("ReassignComplaint", &[CustomerService])
        .allow("WaitOnOwner", DEPARTMENTS)
        .allow("ResumeComplaint", DEPARTMENTS)
        .allow("ResolveComplaint", DEPARTMENTS)
        .allow("RecordFollowUp", &[CustomerService])
        .coordinator_only("RecordRepairProgress")
        // Setting a service level standard is the tenant administrator's.
        .allow("SetServiceStandard", &[])
        .allow("GetServiceStandard", READERS)
        .allow("GetComplaintStatistics", READERS)
}
