//! anju-finance: charges per payer and unit, payments, refunds, the daily close and statements.
//!
//! The money rules (DOMAIN §5), each held in one place:
//! - A charge (receivable, or payable for what the developer owes) is issued once per business
//!   key; a replayed command never bills twice ([`api`]).
//! - One external reference is one payment (or refund): a repeat returns the first.
//! - **Overpayment is refused, consistently, everywhere**: a payment above the charge's
//!   outstanding amount fails with FAILED_PRECONDITION naming that amount and writes nothing;
//!   no credit balance exists, so collected money never drifts to another purpose
//!   ([`domain::balance`]). A refund never exceeds its payment minus earlier refunds.
//! - When the last open charge of a settlement group is paid, `SettlementGroupSettled` is
//!   published exactly once, in the transaction that paid it ([`store::settlement`]).
//! - A saga's compensation closes a settlement group: unpaid charges are cancelled, the unpaid
//!   rest of partly paid ones waived, and a share of what was paid becomes a payable refund
//!   charge; a closed group takes no new charge, payment or refund and never settles again
//!   ([`api`], CloseSettlementGroup).
//! - A cashier's closed day is immutable ([`store::daily_close`]); statements sum exactly ([`domain::figures`]).
//!
//! Amounts are `i64` minor units with a currency; business dates are `YYYY-MM-DD` ([`domain::dates`]).

mod api;
mod domain;
mod store;

use std::sync::Arc;

use anju_kit::{Role, Settings, auth::Policy};
use anju_messaging::{
    directory::UnitDirectory,
    host::{Platform, ServiceHost},
};
use anju_proto::finance::finance_service_server::FinanceServiceServer;
use tokio_util::sync::CancellationToken;

pub use api::FinanceApi;

pub const NAME: &str = "finance";

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
    let api = FinanceServiceServer::new(FinanceApi::new(&platform))
        .max_decoding_message_size(settings.grpc.max_message_bytes);
    let mut host = ServiceHost::start(&platform, shutdown)
        .await?
        .add_service(api, policy());
    host.spawn_consumer(platform.consumer("sales", Arc::new(UnitDirectory)));
    Ok(host)
}

/// Who may call what. Cashiers handle money; the saga coordinator (role `service`) issues and
/// cancels charges, closes settlement groups as compensation and records payments made
/// elsewhere (online, by bank) on a cashier's behalf. Admin may call every RPC listed here.
pub fn policy() -> Policy {
    use Role::*;
    const READERS: &[Role] = &[Cashier, CustomerService, SalesManager, Operator, Service];
    Policy::new(anju_proto::service_names::FINANCE)
        .allow("IssueCharge", &[Cashier, Service])
        .coordinator_only("CancelCharge")
        .coordinator_only("CloseSettlementGroup")
        .allow("RecordPayment", &[Cashier, Service])
        .allow("RefundPayment", &[Cashier])
        .allow("CloseDay", &[Cashier])
        .allow("GetCharge", READERS)
        .allow("ListCharges", READERS)
        .allow("ListPayments", READERS)
        .allow("GetDailyReport", READERS)
        .allow("GetMonthlyStatement", READERS)
        .allow("GetUnitStatement", READERS)
}
