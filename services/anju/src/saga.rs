//! `anju saga …`: operators' view of the coordinator, over its gRPC API.

use anju::client::{self, Authed};
use anju_kit::{Role, Settings, auth::TokenIssuer};
use anju_proto::saga::{self as pb, saga_service_client::SagaServiceClient};
use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::output::{Output, all_pages};

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

fn saga_json(s: &pb::Saga) -> Value {
    json!({
        "saga_id": s.saga_id,
        "flow": s.flow,
        "state": s.state,
        "key": s.key,
        "project_id": s.project_id,
        "terminal": s.terminal,
        "open_commands": s.open_commands,
        "failed_commands": s.failed_commands,
        "updated_at": s.updated_at.map(|t| t.seconds),
        "deadline": s.deadline.map(|t| t.seconds),
    })
}

/// A page of 500, the most the service gives.
fn page(token: String) -> Option<anju_proto::common::PageRequest> {
    Some(anju_proto::common::PageRequest {
        page_size: 500,
        page_token: token,
    })
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

pub async fn run(
    settings: &Settings,
    tenant: Uuid,
    action: SagaAction,
    output: Output,
) -> anyhow::Result<()> {
    let secret = settings
        .auth
        .hs256_secret
        .as_ref()
        .context("an HS256 key signs the operator's token")?;
    let token = TokenIssuer::hs256(secret.expose()).staff(tenant, "anju-cli", &[Role::Operator])?;
    let channel: Authed = client::authed_at(&settings.endpoint("saga"), &token)?;
    let sagas = SagaServiceClient::new(channel);
    match action {
        SagaAction::List { flow, state, key } => {
            // Every page: an operator asking for a flow's sagas means all of them.
            let listed = all_pages(|token| {
                let mut sagas = sagas.clone();
                let request = pb::ListSagasRequest {
                    flow: flow.clone(),
                    state: state.clone(),
                    key: key.clone(),
                    page: page(token),
                    ..Default::default()
                };
                async move {
                    let page = sagas.list_sagas(request).await?.into_inner();
                    Ok((page.sagas, page.next_page_token))
                }
            })
            .await?;
            output.emit(
                || Value::Array(listed.iter().map(saga_json).collect()),
                || {
                    listed.iter().for_each(print);
                    println!("{} saga(s)", listed.len());
                },
            );
        }
        SagaAction::Stuck => {
            let total = std::cell::Cell::new(0);
            let stuck = all_pages(|token| {
                let mut sagas = sagas.clone();
                let request = pb::ListStuckSagasRequest { page: page(token) };
                let total = &total;
                async move {
                    let page = sagas.list_stuck_sagas(request).await?.into_inner();
                    total.set(page.total);
                    Ok((page.sagas, page.next_page_token))
                }
            })
            .await?;
            let total = total.get();
            output.emit(
                || json!({ "total": total, "sagas": stuck.iter().map(saga_json).collect::<Vec<_>>() }),
                || {
                    stuck.iter().for_each(print);
                    println!("{total} stuck saga(s)");
                },
            );
        }
        SagaAction::Show { saga_id } => {
            let detail = sagas
                .clone()
                .get_saga(pb::GetSagaRequest { saga_id })
                .await?
                .into_inner();
            output.emit(
                || {
                    json!({
                        "saga": detail.saga.as_ref().map(saga_json),
                        "history": detail.history.iter().map(|h| json!({
                            "version": h.version,
                            "input": h.input,
                            "state": h.state,
                            "note": h.note,
                            "commands": h.commands,
                            "at": h.at.map(|t| t.seconds),
                        })).collect::<Vec<_>>(),
                        "commands": detail.commands.iter().map(|c| json!({
                            "command_id": c.command_id,
                            "service": c.service,
                            "method": c.method,
                            "status": c.status,
                            "attempts": c.attempts,
                            "last_error": c.last_error,
                        })).collect::<Vec<_>>(),
                    })
                },
                || {
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
                },
            );
        }
        SagaAction::Retry { saga_id } => {
            let retried = sagas
                .clone()
                .retry_saga(pb::RetrySagaRequest {
                    request_id: format!("cli-retry-{}", Uuid::now_v7()),
                    saga_id,
                })
                .await?
                .into_inner();
            output.emit(
                || {
                    json!({
                        "retried_commands": retried.retried_commands,
                        "saga": retried.saga.as_ref().map(saga_json),
                    })
                },
                || {
                    println!(
                        "{} failed command(s) queued again",
                        retried.retried_commands
                    )
                },
            );
        }
        SagaAction::Cancel { saga_id, reason } => {
            let cancelled = sagas
                .clone()
                .cancel_saga(pb::CancelSagaRequest {
                    request_id: format!("cli-cancel-{}", Uuid::now_v7()),
                    saga_id,
                    reason,
                })
                .await?
                .into_inner();
            output.emit(
                || json!({ "saga": cancelled.saga.as_ref().map(saga_json) }),
                || {
                    if let Some(saga) = &cancelled.saga {
                        print(saga);
                    }
                },
            );
        }
    }
    Ok(())
}
