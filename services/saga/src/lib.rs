//! anju-saga: the coordinator of flows that cross services (subscription, contract,
//! contract cancellation, move-in, title, complaint, contractor charge, fund use).
//!
//! It consumes the events of the services it coordinates, advances typed state machines
//! ([`engine::Flow`]) one transaction per input, sends commands with deterministic request
//! ids through its dispatcher, fires durable timers, and lets operators list, inspect, retry
//! and cancel sagas over gRPC.

mod api;
pub mod engine;
pub mod flows;
pub mod metrics;

use std::sync::Arc;

use anju_kit::{Role, Settings, auth::Policy};
use anju_messaging::host::{Platform, ServiceHost};
use anju_proto::saga::saga_service_server::SagaServiceServer;
use tokio_util::sync::CancellationToken;

use crate::engine::{DynFlow, Engine, dispatch::Dispatcher};
pub use api::SagaApi;

pub const NAME: &str = "saga";

/// Every flow the coordinator runs.
pub fn engine() -> Engine {
    let flows: Vec<Arc<dyn DynFlow>> = vec![
        Arc::new(flows::subscription::SubscriptionFlow),
        Arc::new(flows::contract::ContractFlow),
        Arc::new(flows::contract::CancellationFlow),
        Arc::new(flows::move_in::MoveInFlow),
        Arc::new(flows::title::TitleFlow),
        Arc::new(flows::complaint::ComplaintFlow),
        Arc::new(flows::contractor_charge::ContractorChargeFlow),
        Arc::new(flows::fund_use::FundUseFlow),
    ];
    Engine::new(flows)
}

/// The services whose events drive the flows.
pub const SOURCES: [&str; 6] = [
    "sales",
    "finance",
    "handover",
    "maintenance",
    "title",
    "complaints",
];

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
    let engine = engine();
    let api = SagaServiceServer::new(SagaApi::new(&platform, engine.clone()))
        .max_decoding_message_size(settings.grpc.max_message_bytes);
    let mut host = ServiceHost::start(&platform, shutdown)
        .await?
        .add_service(api, policy())
        .with_metrics(metrics::source(platform.pool.clone()));
    for source in SOURCES {
        host.spawn_consumer(platform.consumer(source, Arc::new(engine.clone())));
    }
    let dispatcher = Dispatcher::new(platform.pool.clone(), settings)?;
    host.spawn(|token| dispatcher.run(token));
    let pool = platform.pool.clone();
    host.spawn(|token| engine.run_timers(pool, token));
    let (pool, retention) = (platform.pool.clone(), &settings.retention);
    let sweeps = vec![command_payloads_sweep(retention.saga_command_days)];
    let every = std::time::Duration::from_secs(retention.sweep_interval_seconds);
    host.spawn(|token| anju_messaging::retention::run(pool, sweeps, every, token));
    Ok(host)
}

pub fn policy() -> Policy {
    use Role::*;
    Policy::new(anju_proto::service_names::SAGA)
        .allow("ListSagas", &[Operator])
        .allow("GetSaga", &[Operator])
        .allow("ListStuckSagas", &[Operator])
        .allow("RetrySaga", &[Operator])
        .allow("CancelSaga", &[Operator])
}

/// A command done for `days` keeps its record (service, method, status, attempts) but not its
/// payload, which can carry a buyer's name or a complaint's text.
pub fn command_payloads_sweep(days: u32) -> anju_messaging::retention::Sweep {
    anju_messaging::retention::Sweep {
        table: "saga_commands",
        sql: "update saga_commands set payload = ''::bytea where command_id = any(array(
                  select command_id from saga_commands
                  where status = 'done' and done_at < now() - make_interval(secs => $1)
                    and payload <> ''::bytea
                  limit $2))",
        window: std::time::Duration::from_secs(u64::from(days) * 86_400),
    }
}
