//! anju-sales: the catalogue (projects, buildings, units) and the unit inventory.
//!
//! Shape shared by every anju service: [`build`] connects the service's own database and the
//! bus, starts the outbox relay and binds the gRPC port (0 works); the
//! [`ServiceHost`](anju_messaging::host::ServiceHost) it returns tells the port and serves
//! until the shutdown token fires.

mod api;
pub mod domain;
mod store;

use anju_kit::{Role, Settings, auth::Policy};
use anju_messaging::host::{Platform, ServiceHost};
use anju_proto::sales::sales_service_server::SalesServiceServer;
use tokio_util::sync::CancellationToken;

pub use api::SalesApi;
pub use store::identity::IdNumbers;

pub const NAME: &str = "sales";

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
    let id_numbers = store::identity::IdNumbers::new(&settings.pii)?;
    store::identity::seal_stored(&platform.pool, &id_numbers).await?;
    let api = SalesServiceServer::new(SalesApi::new(&platform, id_numbers))
        .max_decoding_message_size(settings.grpc.max_message_bytes);
    let host = ServiceHost::start(&platform, shutdown)
        .await?
        .add_service(api, policy());
    Ok(host)
}

/// Who may call what. Reading the catalogue is open to staff; shaping it is the managers'.
pub fn policy() -> Policy {
    use Role::*;
    const READERS: &[Role] = &[
        SalesConsultant,
        SalesManager,
        CustomerService,
        Cashier,
        PropertyManagement,
        TitleOfficer,
        ProjectDepartment,
        MaintenanceDispatcher,
        Operator,
        Service,
    ];
    Policy::new(anju_proto::service_names::SALES)
        .allow("CreateProject", &[SalesManager])
        .allow("CreateBuilding", &[SalesManager])
        .allow("RegisterUnit", &[SalesManager])
        .allow("GetProject", READERS)
        .allow("ListProjects", READERS)
        .allow("GetUnit", READERS)
        .allow("ListUnits", READERS)
        .allow("ImportUnits", &[SalesManager])
        .allow("RecordVisit", &[SalesConsultant, SalesManager])
        .allow("ReassignCustomer", &[SalesManager])
        .allow("GradeCustomer", &[SalesConsultant, SalesManager])
        .allow("LogFollowUp", &[SalesConsultant, SalesManager])
        .allow(
            "GetCustomer",
            &[SalesConsultant, SalesManager, CustomerService],
        )
        .allow("ListCustomersDue", &[SalesConsultant, SalesManager])
        .allow("HoldUnit", &[SalesConsultant, SalesManager])
        .allow("ReleaseUnit", &[SalesConsultant, SalesManager])
        .allow("GetSalesBoard", &[SalesManager, SalesConsultant, Operator])
        .allow("ComputePurchasePlan", &[SalesConsultant, SalesManager])
        .allow("SetProjectPolicy", &[SalesManager])
        .allow("GetProjectPolicy", READERS)
        .allow("SignSubscription", &[SalesConsultant, SalesManager])
        .coordinator_only("ConfirmSubscription")
        .coordinator_only("LapseSubscription")
        .allow(
            "GetSubscription",
            &[SalesConsultant, SalesManager, Cashier, Service, Operator],
        )
        .allow("SignContract", &[SalesConsultant, SalesManager])
        .allow("CancelContract", &[SalesManager])
        .coordinator_only("RescindContract")
        .allow("GetContract", READERS)
}
