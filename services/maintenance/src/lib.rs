//! anju-maintenance: warranty repairs (DOMAIN.md §3) — repair requests with their warranty
//! decision, work orders to partner contractors from the responsibility map, their clocks and
//! the escalation to a backup vendor, the four sign-offs and the charges a repair raises.
//!
//! Its inside has the shape of every anju service: [`api`] (wire glue and validation),
//! [`domain`] (the rules, pure), [`store`] (SQL), [`events`] (consumers and the clock sweeper);
//! what it exports for dashboards is in [`metrics`]. Contractor scope is enforced here: a
//! principal with the contractor role sees only the work orders assigned to its own contractor
//! id; any other order is NOT_FOUND.

pub(crate) mod api;
pub mod domain;
pub mod events;
pub mod metrics;
pub(crate) mod store;

use std::sync::Arc;

use anju_kit::{Role, Settings, auth::Policy};
use anju_messaging::host::{Platform, ServiceHost};
use anju_proto::maintenance::maintenance_service_server::MaintenanceServiceServer;
use tokio_util::sync::CancellationToken;

pub use api::MaintenanceApi;

pub const NAME: &str = "maintenance";

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
    let api = MaintenanceServiceServer::new(MaintenanceApi::new(&platform))
        .max_decoding_message_size(settings.grpc.max_message_bytes);
    let mut host = ServiceHost::start(&platform, shutdown)
        .await?
        .add_service(api, policy())
        .with_metrics(metrics::source(platform.pool.clone()));
    host.spawn_consumer(platform.consumer("sales", Arc::new(events::sales::SalesEvents)));
    // Of handover's stream, only the keys' release (the buyer's warranty starts): JetStream
    // delivers nothing else of a move-in to maintenance.
    host.spawn_consumer(platform.consumer_of::<anju_proto::events::KeysReleased>(
        "handover",
        "handover",
        Arc::new(events::handover::HandoverEvents),
    ));
    let (pool, outbox) = (platform.pool.clone(), platform.outbox.clone());
    host.spawn(|token| events::clocks::run(pool, outbox, token));
    Ok(host)
}

pub fn policy() -> Policy {
    use Role::*;
    const STAFF: &[Role] = &[
        MaintenanceDispatcher,
        CustomerService,
        PropertyManagement,
        SupervisingEngineer,
        ProjectDepartment,
        Operator,
        Service,
    ];
    Policy::new(anju_proto::service_names::MAINTENANCE)
        .allow(
            "CreateRepairRequest",
            &[
                MaintenanceDispatcher,
                CustomerService,
                PropertyManagement,
                Service,
            ],
        )
        .allow(
            "CompleteWorkOrder",
            &[
                MaintenanceDispatcher,
                PropertyManagement,
                SupervisingEngineer,
                Contractor,
                Service,
            ],
        )
        .allow(
            "SignOffRepair",
            &[
                MaintenanceDispatcher,
                CustomerService,
                SupervisingEngineer,
                ProjectDepartment,
            ],
        )
        .allow("GetRepairRequest", STAFF)
        .allow("GetRepairRequest", &[Contractor])
        .allow("ListWorkOrders", STAFF)
        .allow("ListWorkOrders", &[Contractor])
        .allow(
            "SetResponsibility",
            &[MaintenanceDispatcher, ProjectDepartment],
        )
        .allow("ListResponsibilities", STAFF)
        .allow(
            "SetBuildingWarranty",
            &[MaintenanceDispatcher, ProjectDepartment],
        )
        // A longer warranty is a commercial promise: the tenant administrator's.
        .allow("SetWarrantyPromise", &[])
        .allow("AssignWorkOrder", &[MaintenanceDispatcher])
        .allow("DecideRepairPlan", &[MaintenanceDispatcher])
        // The owner's satisfaction is taken by customer service's visit.
        .allow("RecordRepairFollowUp", &[CustomerService])
        .allow("ProposeRepairPlan", &[Contractor, MaintenanceDispatcher])
        // An owner's claim is taken by customer service; the contractor answers it (a
        // dispatcher records an answer given by phone).
        .allow("RecordOwnerClaim", &[CustomerService])
        .allow("AnswerOwnerClaim", &[Contractor, MaintenanceDispatcher])
        // The fund: its rule is the tenant administrator's; the property company proposes and
        // takes the owners' ballots; the coordinator closes the vote at its time.
        .allow("SetFundVoteRule", &[])
        .allow("ProposeFundUse", &[PropertyManagement])
        .allow("CastFundVote", &[PropertyManagement, CustomerService])
        .coordinator_only("CloseFundVote")
        .allow("RecordFundApproval", &[PropertyManagement])
        .allow("RecordFundTransfer", &[PropertyManagement])
        .allow("GetFundProposal", STAFF)
        .allow("GetRepairReport", STAFF)
        .allow("GetSettlementStatement", STAFF)
        .allow("GetSettlementStatement", &[Contractor])
        .allow(
            "IssueSettlementStatement",
            &[MaintenanceDispatcher, ProjectDepartment],
        )
        // The partner's steps; a dispatcher records them for a partner who phoned them in.
        .allow("AcceptWorkOrder", &[Contractor, MaintenanceDispatcher])
        .allow("DeclineWorkOrder", &[Contractor, MaintenanceDispatcher])
        .allow("CheckInWorkOrder", &[Contractor, MaintenanceDispatcher])
        .allow("CheckOutWorkOrder", &[Contractor, MaintenanceDispatcher])
        .allow("WatchWorkOrderFeed", &[Contractor])
}
