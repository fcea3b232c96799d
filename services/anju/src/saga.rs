//! `anju saga …`: operators' view of the coordinator, over its gRPC API.

use anju::client::{self, Authed};
use anju_kit::{Role, Settings, auth::TokenIssuer};
use anju_proto::saga::{self as pb, saga_service_client::SagaServiceClient};
use anyhow::Context;
use clap::Subcommand;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum SagaAction {
    /// Sagas by flow, state and business key (a subscription, contract or unit id).
    List {
        #[arg(long, default_value = "")]
        flow: String,
        #[arg(long, default_value = "")]
        state: String,
        #[arg(long, default_value = "")]
        key: String,
    },
    /// Sagas past their deadline without finishing.
    Stuck,
    /// One saga: its history of inputs and the commands each sent.
    Show { saga_id: String },
    /// Send a saga's failed commands again (same request ids: they act once).
    Retry { saga_id: String },
    /// Stop a saga and run its compensation.
    Cancel {
        saga_id: String,
        #[arg(long)]
        reason: String,
    },
}

fn print(s: &pb::Saga) {
    println!(
        "{}  {:<22} {:<24} {:<8} open {:<3} failed {:<3} key {}",
        s.saga_id,
        s.flow,
        s.state,
        if s.terminal { "ended" } else { "running" },
        s.open_commands,
        s.failed_commands,
        s.key
    );
}

pub async fn run(settings: &Settings, tenant: Uuid, action: SagaAction) -> anyhow::Result<()> {
    let secret = settings
        .auth
        .hs256_secret
        .as_ref()
        .context("an HS256 key signs the operator's token")?;
    let token = TokenIssuer::hs256(secret.expose()).staff(tenant, "anju-cli", &[Role::Operator])?;
    let channel: Authed = client::authed(
        &settings.grpc.host.to_string(),
        settings.grpc_port("saga"),
        &token,
    )?;
    let mut sagas = SagaServiceClient::new(channel);
    match action {
        SagaAction::List { flow, state, key } => {
            let listed = sagas
                .list_sagas(pb::ListSagasRequest {
                    flow,
                    state,
                    key,
                    ..Default::default()
                })
                .await?
                .into_inner();
            listed.sagas.iter().for_each(print);
            println!("{} saga(s)", listed.sagas.len());
        }
        SagaAction::Stuck => {
            let stuck = sagas
                .list_stuck_sagas(pb::ListStuckSagasRequest::default())
                .await?
                .into_inner();
            stuck.sagas.iter().for_each(print);
            println!("{} stuck saga(s)", stuck.total);
        }
        SagaAction::Show { saga_id } => {
            let detail = sagas
                .get_saga(pb::GetSagaRequest { saga_id })
                .await?
                .into_inner();
            if let Some(saga) = &detail.saga {
                print(saga);
            }
            for h in &detail.history {
                println!(
                    "  v{:<3} {:<40} → {:<22} {}",
                    h.version, h.input, h.state, h.note
                );
                for c in &h.commands {
                    println!("        sends {c}");
                }
            }
            for c in &detail.commands {
                println!(
                    "  command {} {}.{} {} (attempts {}) {}",
                    c.command_id, c.service, c.method, c.status, c.attempts, c.last_error
                );
            }
        }
        SagaAction::Retry { saga_id } => {
            let retried = sagas
                .retry_saga(pb::RetrySagaRequest {
                    request_id: format!("cli-retry-{}", Uuid::now_v7()),
                    saga_id,
                })
                .await?
                .into_inner();
            println!(
                "{} failed command(s) queued again",
                retried.retried_commands
            );
        }
        SagaAction::Cancel { saga_id, reason } => {
            let cancelled = sagas
                .cancel_saga(pb::CancelSagaRequest {
                    request_id: format!("cli-cancel-{}", Uuid::now_v7()),
                    saga_id,
                    reason,
                })
                .await?
                .into_inner();
            if let Some(saga) = &cancelled.saga {
                print(saga);
            }
        }
    }
    Ok(())
}
