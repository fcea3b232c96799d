//! Operator commands: health, tokens, outbox replay and quarantine, dead letters.

use std::time::{Duration, Instant};

use anju::client;
use anju_kit::{
    Role, Settings,
    auth::{Claims, TokenIssuer, expiry},
    config::SERVICES,
};
use anju_messaging::{Bus, dlq, outbox};
use anyhow::{Context, bail};
use clap::Subcommand;

use crate::output::Output;
use serde_json::json;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

#[derive(Subcommand)]
pub enum OutboxAction {
    /// Mark rows created since a time as unpublished, so the relay sends them again.
    Replay {
        #[arg(long)]
        service: String,
        /// RFC 3339 time, e.g. 2026-11-27T08:00:00Z.
        #[arg(long)]
        since: chrono::DateTime<chrono::Utc>,
    },
    /// How many rows wait for the relay, per service.
    Lag,
    /// Rows the relay set aside because JetStream will not take them, per service.
    Quarantined,
    /// Hand a quarantined row back to the relay, once what made it unpublishable is fixed.
    Release {
        #[arg(long)]
        service: String,
        event_id: uuid::Uuid,
    },
}

#[derive(Subcommand)]
pub enum DlqAction {
    List {
        #[arg(long)]
        consumer: Option<String>,
    },
    Replay {
        #[arg(long)]
        consumer: Option<String>,
    },
}

async fn check(settings: &Settings, service: &str) -> Result<ServingStatus, String> {
    let full = anju_proto::service_names::of(service).unwrap_or_default();
    let channel = client::channel_at(&settings.endpoint(service)).map_err(|e| e.to_string())?;
    let mut health = HealthClient::new(channel);
    let request = HealthCheckRequest {
        service: full.into(),
    };
    match tokio::time::timeout(Duration::from_secs(2), health.check(request)).await {
        Ok(Ok(response)) => Ok(response.into_inner().status()),
        Ok(Err(status)) => Err(format!("{:?}: {}", status.code(), status.message())),
        Err(_) => Err("no answer within 2 s".into()),
    }
}

/// Prints each service's health; with `wait`, retries until all serve or time runs out.
pub async fn status(
    settings: &Settings,
    target: &str,
    wait: u64,
    output: Output,
) -> anyhow::Result<()> {
    let names = anju::targets(target)?;
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        let mut rows = Vec::new();
        for service in names.iter().copied() {
            rows.push((
                service,
                settings.endpoint(service),
                check(settings, service).await,
            ));
        }
        let all_serving = rows
            .iter()
            .all(|(_, _, s)| matches!(s, Ok(ServingStatus::Serving)));
        if all_serving || Instant::now() >= deadline {
            let shown = |state: &Result<ServingStatus, String>| match state {
                Ok(status) => status.as_str_name().to_string(),
                Err(err) => format!("DOWN ({err})"),
            };
            output.emit(
                || {
                    json!({
                        "all_serving": all_serving,
                        "services": rows.iter().map(|(service, endpoint, state)| json!({
                            "service": service,
                            "endpoint": endpoint,
                            "status": shown(state),
                        })).collect::<Vec<_>>(),
                    })
                },
                || {
                    println!("{:<12} {:<28} status", "service", "endpoint");
                    for (service, endpoint, state) in &rows {
                        println!("{service:<12} {endpoint:<28} {}", shown(state));
                    }
                    if all_serving {
                        println!("all {} services are SERVING", rows.len());
                    }
                },
            );
            if all_serving {
                return Ok(());
            }
            bail!("not every service is SERVING");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub fn token(
    settings: &Settings,
    tenant: uuid::Uuid,
    roles: &[String],
    contractor: Option<uuid::Uuid>,
    output: Output,
) -> anyhow::Result<()> {
    let secret =
        settings.auth.hs256_secret.as_ref().context(
            "no HS256 key configured: production tokens come from your identity provider",
        )?;
    let roles: Vec<Role> = roles
        .iter()
        .map(|r| r.parse())
        .collect::<anyhow::Result<_>>()?;
    if roles.is_empty() {
        bail!("name at least one role with --roles");
    }
    if roles.contains(&Role::Service) {
        bail!("the service role is the coordinator's own credential: anju token does not sign it");
    }
    let claims = Claims {
        sub: "anju-cli".into(),
        tenant: tenant.to_string(),
        roles,
        projects: vec!["*".into()],
        contractor: contractor.map(|c| c.to_string()),
        exp: expiry(12 * 3600),
        nbf: None,
        iat: Some(expiry(0)),
        iss: settings.auth.issuer.clone(),
        aud: settings.auth.audience.clone(),
    };
    let token = TokenIssuer::hs256(secret.expose()).issue(&claims)?;
    output.emit(|| json!({ "token": token }), || println!("{token}"));
    Ok(())
}

pub async fn outbox(
    settings: &Settings,
    action: OutboxAction,
    output: Output,
) -> anyhow::Result<()> {
    match action {
        OutboxAction::Replay { service, since } => {
            anju::targets(&service)?;
            let pool = sqlx::PgPool::connect(&settings.database_url(&service)).await?;
            let rows = outbox::replay_since(&pool, since).await?;
            output.emit(
                || json!({ "service": service, "since": since, "queued": rows }),
                || println!("{rows} events of {service} since {since} queued for republishing"),
            );
        }
        OutboxAction::Lag => {
            let mut lags = Vec::new();
            for service in SERVICES {
                let pool = sqlx::PgPool::connect(&settings.database_url(service)).await?;
                let (pending, oldest) = anju_messaging::relay::lag(&pool).await?;
                lags.push((service, pending, oldest.unwrap_or(0.0)));
            }
            output.emit(
                || {
                    json!(
                        lags.iter()
                            .map(|(service, pending, oldest)| json!({
                                "service": service,
                                "pending": pending,
                                "oldest_seconds": oldest,
                            }))
                            .collect::<Vec<_>>()
                    )
                },
                || {
                    for (service, pending, oldest) in &lags {
                        println!("{service:<12} pending {pending:>6}  oldest {oldest:.1}s");
                    }
                },
            );
        }
        OutboxAction::Quarantined => {
            let mut rows = Vec::new();
            for service in SERVICES {
                let pool = sqlx::PgPool::connect(&settings.database_url(service)).await?;
                rows.extend(
                    outbox::quarantined(&pool)
                        .await?
                        .into_iter()
                        .map(|q| (service, q)),
                );
            }
            output.emit(
                || {
                    json!(
                        rows.iter()
                            .map(|(service, q)| json!({
                                "service": service,
                                "event_id": q.event_id,
                                "subject": q.subject,
                                "envelope_bytes": q.envelope_bytes,
                                "quarantined_at": q.quarantined_at,
                                "reason": q.reason,
                            }))
                            .collect::<Vec<_>>()
                    )
                },
                || {
                    for (service, q) in &rows {
                        println!(
                            "{service:<12} {} {:<40} {:>8} B  {} — {}",
                            q.event_id, q.subject, q.envelope_bytes, q.quarantined_at, q.reason
                        );
                    }
                },
            );
        }
        OutboxAction::Release { service, event_id } => {
            anju::targets(&service)?;
            let pool = sqlx::PgPool::connect(&settings.database_url(&service)).await?;
            if !outbox::release(&pool, event_id).await? {
                bail!("no quarantined event {event_id} in {service}");
            }
            output.emit(
                || json!({ "service": service, "released": event_id }),
                || println!("{event_id} released for republishing"),
            );
        }
    }
    Ok(())
}

pub async fn dlq(settings: &Settings, action: DlqAction, output: Output) -> anyhow::Result<()> {
    let bus = Bus::connect(&settings.nats).await?;
    match action {
        DlqAction::List { consumer } => {
            let letters = dlq::list(&bus, consumer.as_deref()).await?;
            output.emit(
                || {
                    json!(
                        letters
                            .iter()
                            .map(|l| json!({
                                "sequence": l.sequence,
                                "consumer": l.consumer,
                                "original_subject": l.original_subject,
                                "event_id": l.event_id,
                                "reason": l.reason,
                            }))
                            .collect::<Vec<_>>()
                    )
                },
                || {
                    if letters.is_empty() {
                        println!("no dead letters");
                    }
                    for l in &letters {
                        println!(
                            "#{:<6} {:<28} {:<40} {} — {}",
                            l.sequence,
                            l.consumer,
                            l.original_subject,
                            l.event_id.clone().unwrap_or_default(),
                            l.reason
                        );
                    }
                },
            );
        }
        DlqAction::Replay { consumer } => {
            let replayed = dlq::replay(&bus, consumer.as_deref()).await?;
            output.emit(
                || json!({ "replayed": replayed }),
                || println!("{replayed} dead letters replayed"),
            );
        }
    }
    Ok(())
}
