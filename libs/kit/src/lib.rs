//! anju-kit: the service defaults every anju service stands on.
//!
//! One call per concern gives a service its plumbing, so the service's own crate holds
//! domain code only: [`config`] (layered settings), [`telemetry`] (logs, traces, OTLP),
//! [`grpc`] (server bootstrap with health, reflection, limits, shutdown), [`auth`]
//! (JWT principals and the role × RPC table), [`error`] (one error model mapped to gRPC
//! codes), [`idempotency`] (request ids), [`audit`] and [`db`] (pools and migrations).

pub mod admission;
pub mod audit;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod grpc;
pub mod idempotency;
pub mod ids;
pub mod metrics;
pub mod paging;
pub mod pii;
pub mod telemetry;
pub mod time;
pub mod validate;

pub use auth::{Principal, Role};
pub use config::Settings;
pub use error::{Refusal, ServiceError, ServiceResult};
