//! anju-title: survey, area difference, documents, taxes and the title deed (DOMAIN.md §6).
//!
//! Its picture of each unit's sale comes from sales' events ([`events::sales`]), the handover
//! day from handover's ([`events::handover`]), and whether what it assessed is paid from
//! finance's ([`events::finance`]), each applied through the inbox. Its statutory clocks are
//! its own durable rows, swept every second ([`events::clocks`]).
//!
//! Its inside has the shape of every anju service: [`api`] (wire glue and validation),
//! [`domain`] (the rules, pure), [`store`] (SQL), [`events`] (consumers and the clocks).

mod api;
pub mod domain;
pub mod events;
mod store;

use std::sync::Arc;

use anju_kit::{Role, Settings, auth::Policy};
use anju_messaging::host::{Platform, ServiceHost};
use anju_proto::title::title_service_server::TitleServiceServer;
use tokio_util::sync::CancellationToken;

pub use api::TitleApi;

pub const NAME: &str = "title";

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
    let api = TitleServiceServer::new(TitleApi::new(&platform))
        .max_decoding_message_size(settings.grpc.max_message_bytes);
    let mut host = ServiceHost::start(&platform, shutdown)
        .await?
        .add_service(api, policy());
    let outbox = platform.outbox.clone();
    host.spawn_consumer(platform.consumer(
        "sales",
        Arc::new(events::sales::SalesEvents {
            outbox: outbox.clone(),
        }),
    ));
    host.spawn_consumer(platform.consumer("handover", Arc::new(events::handover::HandoverEvents)));
    host.spawn_consumer(platform.consumer(
        "finance",
        Arc::new(events::finance::FinanceEvents {
            outbox: outbox.clone(),
        }),
    ));
    let pool = platform.pool.clone();
    host.spawn(|token| events::clocks::run(pool, outbox, token));
    Ok(host)
}

pub fn policy() -> Policy {
    use Role::*;
    const READERS: &[Role] = &[TitleOfficer, CustomerService, Cashier, Operator, Service];
    Policy::new(anju_proto::service_names::TITLE)
        .allow("RecordSurvey", &[TitleOfficer])
        .allow("ImportSurvey", &[TitleOfficer])
        .allow("RecordBuyerChoice", &[TitleOfficer, CustomerService])
        .allow("RecordCompletionFiling", &[TitleOfficer])
        .allow("RecordInitialRegistration", &[TitleOfficer])
        .allow("GetBuilding", READERS)
        .allow("SetTitlePolicy", &[TitleOfficer])
        .allow("GetTitlePolicy", READERS)
        .allow("NotifyOwner", &[TitleOfficer, CustomerService])
        .allow("ReviewDocument", &[TitleOfficer])
        .allow("AssessTitleFees", &[TitleOfficer])
        .allow("SubmitApplication", &[TitleOfficer])
        .allow("RecordDeedIssued", &[TitleOfficer])
        .allow("DeliverDeed", &[TitleOfficer])
        .allow("ArchiveTitleFile", &[TitleOfficer])
        .allow("GetTitleFile", READERS)
        .allow("ListTitleFiles", READERS)
}
