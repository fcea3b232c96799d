//! The dispatcher: sends pending commands over gRPC and records the outcome.
//!
//! Rows are claimed in a short transaction (`running`, with a claim time), sent, then marked
//! `done` or rescheduled. A claim is a lease: the dispatcher renews the claims of the calls it
//! has under way, so a slow call stays its own, and a dispatcher killed mid-send leaves claims
//! that lapse within [`LEASE`] and are taken by another coordinator (or the restarted one):
//! harmless, since the request id makes the resend a replay.
//! Transient failures (unavailable, deadline, conflict, internal) retry with backoff; a
//! refusal (a business rule, bad argument, not found) marks the command `failed`, which
//! operators see and may retry.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use anju_kit::{
    Settings, auth::CoordinatorIssuer, config::Environment, grpc::ClientAuth, telemetry,
};
use anju_proto::{
    complaints::complaints_service_client::ComplaintsServiceClient,
    finance::finance_service_client::FinanceServiceClient,
    handover::handover_service_client::HandoverServiceClient,
    maintenance::maintenance_service_client::MaintenanceServiceClient,
    sales::sales_service_client::SalesServiceClient,
};
use anyhow::Context;
use sqlx::{PgPool, postgres::PgListener};
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tonic::{Code, service::interceptor::InterceptedService, transport::Channel};
use tracing::Instrument;
use uuid::Uuid;

use super::Command;

/// A claim not renewed for this long was abandoned by a dead dispatcher and is sent again (the
/// request id makes the second send act once). Live dispatchers renew theirs every quarter of it.
pub const LEASE: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Calls under way at once.
const IN_FLIGHT: usize = 64;
/// How long a stopping dispatcher waits for the calls under way.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

pub struct Dispatcher {
    pool: PgPool,
    issuer: CoordinatorIssuer,
    channels: HashMap<&'static str, Channel>,
    /// Commands claimed by this dispatcher and not yet recorded.
    sending: Mutex<HashSet<Uuid>>,
}

type Authed = InterceptedService<Channel, ClientAuth>;

/// The lease renewal's task, stopped with the dispatcher that started it.
struct Renewing(tokio::task::JoinHandle<()>);

impl Drop for Renewing {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A command claimed for sending, with the trace it continues.
#[derive(sqlx::FromRow)]
struct Claimed {
    command_id: Uuid,
    tenant_id: Uuid,
    service: String,
    method: String,
    payload: Vec<u8>,
    attempts: i32,
    traceparent: String,
}

impl Dispatcher {
    pub fn new(pool: PgPool, settings: &Settings) -> anyhow::Result<Self> {
        let issuer = match &settings.auth.internal_private_key_file {
            Some(path) => {
                CoordinatorIssuer::from_pem(&std::fs::read(path).with_context(|| {
                    format!("reading the coordinator's private key {}", path.display())
                })?)?
            }
            None if settings.environment == Environment::Development => {
                CoordinatorIssuer::development()
            }
            None => anyhow::bail!(
                "auth.internal_private_key_file is required: the coordinator signs its calls with it"
            ),
        };
        let mut channels = HashMap::new();
        for service in ["sales", "finance", "handover", "maintenance", "complaints"] {
            let channel = Channel::from_shared(settings.endpoint(service))?
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(CALL_TIMEOUT)
                .connect_lazy();
            channels.insert(service, channel);
        }
        Ok(Self {
            pool,
            issuer,
            channels,
            sending: Mutex::default(),
        })
    }

    fn authed(&self, service: &'static str, tenant: Uuid) -> anyhow::Result<Authed> {
        let token = self.issuer.token(tenant)?;
        let channel = self
            .channels
            .get(service)
            .cloned()
            .context("no channel for service")?;
        Ok(InterceptedService::new(
            channel,
            ClientAuth::bearer(&token)?,
        ))
    }

    /// Sends due commands as they come: up to `IN_FLIGHT` calls at once, each recorded as
    /// soon as it answers, so a command created now does not wait for a slow round of others.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let this = Arc::new(self);
        let mut listener = loop {
            if let Ok(mut listener) = PgListener::connect_with(&this.pool).await
                && listener.listen("saga_commands").await.is_ok()
            {
                break listener;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        };
        let permits = Arc::new(Semaphore::new(IN_FLIGHT));
        let mut in_flight = JoinSet::new();
        // Renewing as long as this runs, however it ends (stopped, or its task dropped).
        let _renewing = Renewing(tokio::spawn(this.clone().renew_leases()));
        loop {
            while let Some(done) = in_flight.try_join_next() {
                log_failure(done);
            }
            let free = permits.available_permits();
            let claimed = if free == 0 {
                0
            } else {
                match this.spawn_due(free, &permits, &mut in_flight).await {
                    Ok(n) => n,
                    Err(err) => {
                        tracing::warn!(error = format!("{err:#}"), "dispatcher round failed");
                        0
                    }
                }
            };
            let saturated = free == 0 || claimed == free;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                // More may be due: claim again as soon as a call ends.
                Some(done) = in_flight.join_next(), if saturated => log_failure(done),
                _ = listener.recv(), if !saturated => {}
                _ = tokio::time::sleep(Duration::from_millis(500)), if !saturated => {}
            }
        }
        // Calls under way get a moment to finish and be recorded; the rest are abandoned and
        // their claims handed back, so the next coordinator resends them at once (their
        // request ids make a resend of a call that did land act once).
        let drain = async {
            while let Some(done) = in_flight.join_next().await {
                log_failure(done);
            }
        };
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, drain).await;
        in_flight.shutdown().await;
        let abandoned: Vec<Uuid> = this
            .sending
            .lock()
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        if !abandoned.is_empty() {
            sqlx::query(
                "update saga_commands set status = 'pending', next_attempt_at = now()
                 where command_id = any($1) and status = 'running'",
            )
            .bind(&abandoned)
            .execute(&this.pool)
            .await?;
        }
        Ok(())
    }

    /// Renews the claims of the calls under way every quarter of [`LEASE`], for as long as
    /// the dispatcher runs.
    async fn renew_leases(self: Arc<Self>) {
        loop {
            tokio::time::sleep(LEASE / 4).await;
            let held: Vec<Uuid> = self
                .sending
                .lock()
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            if held.is_empty() {
                continue;
            }
            if let Err(err) = sqlx::query(
                "update saga_commands set claimed_at = now()
                 where command_id = any($1) and status = 'running'",
            )
            .bind(&held)
            .execute(&self.pool)
            .await
            {
                tracing::warn!(error = %err, "renewing command claims failed");
            }
        }
    }

    /// Claims up to `limit` due commands and starts sending each; returns how many.
    async fn spawn_due(
        self: &Arc<Self>,
        limit: usize,
        permits: &Arc<Semaphore>,
        in_flight: &mut JoinSet<anyhow::Result<()>>,
    ) -> anyhow::Result<usize> {
        let claimed: Vec<Claimed> = sqlx::query_as(
            "update saga_commands set status = 'running', claimed_at = now(), attempts = attempts + 1
             where command_id in (
                 select command_id from saga_commands
                 where (status = 'pending' and next_attempt_at <= now())
                    or (status = 'running' and claimed_at < now() - make_interval(secs => $1))
                 order by created_at limit $2 for update skip locked)
             returning command_id, tenant_id, service, method, payload, attempts, traceparent",
        )
        .bind(LEASE.as_secs_f64())
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        let count = claimed.len();
        for Claimed {
            command_id,
            tenant_id: tenant,
            service,
            method,
            payload,
            attempts,
            traceparent,
        } in claimed
        {
            let permit = permits.clone().acquire_owned().await?;
            let this = self.clone();
            if let Ok(mut sending) = self.sending.lock() {
                sending.insert(command_id);
            }
            let span = command_span(command_id, &service, &method, &traceparent);
            in_flight.spawn(async move {
                let outcome = this
                    .send(tenant, &service, &method, &payload)
                    .instrument(span.clone())
                    .await;
                let code = outcome
                    .as_ref()
                    .map_or_else(tonic::Status::code, |()| Code::Ok);
                telemetry::record_rpc_status(&span, telemetry::RpcSide::Client, code);
                let recorded = this.record(command_id, attempts, outcome).await;
                if let Ok(mut sending) = this.sending.lock() {
                    sending.remove(&command_id);
                }
                drop(permit);
                recorded
            });
        }
        Ok(count)
    }

    async fn send(
        &self,
        tenant: Uuid,
        service: &str,
        method: &str,
        payload: &[u8],
    ) -> Result<(), tonic::Status> {
        let internal = |e: anyhow::Error| tonic::Status::internal(format!("{e:#}"));
        let command = Command::decode(method, payload)
            .map_err(|e| tonic::Status::invalid_argument(format!("{e:#}")))?;
        match command {
            Command::IssueCharge(r) => {
                FinanceServiceClient::new(self.authed("finance", tenant).map_err(internal)?)
                    .issue_charge(r)
                    .await?;
            }
            Command::CloseSettlementGroup(r) => {
                FinanceServiceClient::new(self.authed("finance", tenant).map_err(internal)?)
                    .close_settlement_group(r)
                    .await?;
            }
            Command::ConfirmSubscription(r) => {
                SalesServiceClient::new(self.authed("sales", tenant).map_err(internal)?)
                    .confirm_subscription(r)
                    .await?;
            }
            Command::LapseSubscription(r) => {
                SalesServiceClient::new(self.authed("sales", tenant).map_err(internal)?)
                    .lapse_subscription(r)
                    .await?;
            }
            Command::RescindContract(r) => {
                SalesServiceClient::new(self.authed("sales", tenant).map_err(internal)?)
                    .rescind_contract(r)
                    .await?;
            }
            Command::RecordNotice(r) => {
                HandoverServiceClient::new(self.authed("handover", tenant).map_err(internal)?)
                    .record_notice(r)
                    .await?;
            }
            Command::GrantKeyClearance(r) => {
                HandoverServiceClient::new(self.authed("handover", tenant).map_err(internal)?)
                    .grant_key_clearance(r)
                    .await?;
            }
            Command::CreateRepairRequest(r) => {
                MaintenanceServiceClient::new(
                    self.authed("maintenance", tenant).map_err(internal)?,
                )
                .create_repair_request(r)
                .await?;
            }
            Command::CloseFundVote(r) => {
                MaintenanceServiceClient::new(
                    self.authed("maintenance", tenant).map_err(internal)?,
                )
                .close_fund_vote(r)
                .await?;
            }
            Command::RecordRepairProgress(r) => {
                ComplaintsServiceClient::new(self.authed("complaints", tenant).map_err(internal)?)
                    .record_repair_progress(r)
                    .await?;
            }
            Command::RecordComplaint(r) => {
                ComplaintsServiceClient::new(self.authed("complaints", tenant).map_err(internal)?)
                    .record_complaint(r)
                    .await?;
            }
        }
        let _ = service;
        Ok(())
    }

    async fn record(
        &self,
        command_id: Uuid,
        attempts: i32,
        outcome: Result<(), tonic::Status>,
    ) -> anyhow::Result<()> {
        match outcome {
            Ok(()) => {
                sqlx::query("update saga_commands set status = 'done', done_at = now(), last_error = null where command_id = $1")
                    .bind(command_id)
                    .execute(&self.pool)
                    .await?;
            }
            Err(status) if is_refusal(status.code()) => {
                tracing::warn!(%command_id, code = ?status.code(), message = status.message(), "command refused");
                sqlx::query("update saga_commands set status = 'failed', last_error = $2 where command_id = $1")
                    .bind(command_id)
                    .bind(format!("{:?}: {}", status.code(), status.message()))
                    .execute(&self.pool)
                    .await?;
            }
            Err(status) => {
                let delay = backoff(attempts);
                tracing::info!(%command_id, attempts, code = ?status.code(), "command failed, will retry");
                sqlx::query(
                    "update saga_commands set status = 'pending', last_error = $2,
                            next_attempt_at = now() + make_interval(secs => $3)
                     where command_id = $1",
                )
                .bind(command_id)
                .bind(format!("{:?}: {}", status.code(), status.message()))
                .bind(delay.as_secs_f64())
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }
}

/// The client span of one command's call, in the trace of the transition that created it (its
/// stored `traceparent`), named and attributed as OpenTelemetry's RPC conventions say; the
/// call's own `traceparent` metadata names this span, so the service's server span follows.
fn command_span(command_id: Uuid, service: &str, method: &str, traceparent: &str) -> tracing::Span {
    let rpc_service = anju_proto::service_names::of(service).unwrap_or(service);
    let span = tracing::info_span!(
        "saga.command",
        otel.name = %format!("{rpc_service}/{method}"),
        otel.kind = "client",
        rpc.system = "grpc",
        rpc.service = rpc_service,
        rpc.method = method,
        rpc.grpc.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        saga.command_id = %command_id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    telemetry::continue_trace(&span, traceparent);
    span
}

fn log_failure(done: Result<anyhow::Result<()>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            tracing::warn!(
                error = format!("{err:#}"),
                "recording a command's outcome failed"
            )
        }
        Err(err) => tracing::warn!(error = %err, "a command's send task failed"),
    }
}

/// Codes that a resend would only repeat.
fn is_refusal(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::Unimplemented
    )
}

fn backoff(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    Duration::from_millis(200 * 2u64.pow(exponent)).min(Duration::from_secs(30))
}
