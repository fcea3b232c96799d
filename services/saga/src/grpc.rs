//! The SagaService API: operators' view of the coordinator's own tables.

use anju_kit::{
    Principal, ServiceError, ServiceResult,
    audit::Subject,
    idempotency::{Claim, Command},
    paging::Page,
    validate::Validator,
};
use anju_messaging::host::Platform;
use anju_proto::{saga as pb, saga::saga_service_server::SagaService};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::engine::{
    Engine,
    store::{SagaView, VIEW},
};

use anju_kit::time::timestamp as ts;

impl From<SagaView> for pb::Saga {
    fn from(s: SagaView) -> Self {
        pb::Saga {
            saga_id: s.saga_id.to_string(),
            flow: s.flow,
            state: s.state,
            project_id: s.project_id.map(|p| p.to_string()).unwrap_or_default(),
            key: s.saga_key,
            updated_at: Some(ts(s.updated_at)),
            terminal: s.terminal,
            open_commands: s.open_commands as i32,
            failed_commands: s.failed_commands as i32,
            deadline: s.deadline.map(ts),
        }
    }
}

#[derive(FromRow)]
struct HistoryRow {
    version: i32,
    input: String,
    state: String,
    note: String,
    commands: serde_json::Value,
    at: DateTime<Utc>,
}

#[derive(FromRow)]
struct CommandRow {
    command_id: Uuid,
    service: String,
    method: String,
    status: String,
    attempts: i32,
    last_error: Option<String>,
}

/// Operators scoped to projects see only those projects' sagas: the condition on parameter
/// `$n`, the principal's project filter (null for every project of the tenant).
fn in_scope(n: usize) -> String {
    format!("(${n}::uuid[] is null or s.project_id = any(${n}))")
}

#[derive(Clone)]
pub struct SagaApi {
    pool: PgPool,
    engine: Engine,
}

impl SagaApi {
    pub fn new(platform: &Platform, engine: Engine) -> Self {
        Self {
            pool: platform.pool.clone(),
            engine,
        }
    }

    /// A saga of the principal's tenant and projects; any other is NOT_FOUND.
    async fn view(&self, principal: &Principal, saga_id: Uuid) -> ServiceResult<SagaView> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{VIEW} where s.tenant_id = $1 and s.saga_id = $2 and {}",
            in_scope(3)
        )))
        .bind(principal.tenant_id)
        .bind(saga_id)
        .bind(principal.project_filter())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| ServiceError::not_found("saga"))
    }

    async fn retry(
        &self,
        principal: &Principal,
        req: pb::RetrySagaRequest,
    ) -> ServiceResult<pb::RetrySagaResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let saga_id = v.uuid("saga_id", &req.saga_id);
        v.finish()?;
        self.view(principal, saga_id).await?;
        let mut command =
            match Command::begin(&self.pool, principal, "RetrySaga", &request_id, &req).await? {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        let retried = sqlx::query(
            "update saga_commands set status = 'pending', next_attempt_at = now(), last_error = null
             where saga_id = $1 and tenant_id = $2 and status = 'failed'",
        )
        .bind(saga_id)
        .bind(principal.tenant_id)
        .execute(&mut **command.tx())
        .await?
        .rows_affected();
        sqlx::query("select pg_notify('saga_commands', '')")
            .execute(&mut **command.tx())
            .await?;
        let response = pb::RetrySagaResponse {
            saga: Some(self.view(principal, saga_id).await?.into()),
            retried_commands: retried as i32,
        };
        command
            .commit(&response, Subject::new("saga", saga_id))
            .await?;
        Ok(response)
    }

    async fn cancel(
        &self,
        principal: &Principal,
        req: pb::CancelSagaRequest,
    ) -> ServiceResult<pb::CancelSagaResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let saga_id = v.uuid("saga_id", &req.saga_id);
        let reason = v.free_text("reason", &req.reason, 1000);
        v.finish()?;
        self.view(principal, saga_id).await?;
        let command =
            match Command::begin(&self.pool, principal, "CancelSaga", &request_id, &req).await? {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        self.engine
            .cancel(&self.pool, principal.tenant_id, saga_id, &reason)
            .await?
            .ok_or_else(|| ServiceError::not_found("saga"))?;
        let response = pb::CancelSagaResponse {
            saga: Some(self.view(principal, saga_id).await?.into()),
        };
        let subject =
            Subject::new("saga", saga_id).with_detail(serde_json::json!({ "reason": reason }));
        command.commit(&response, subject).await?;
        Ok(response)
    }
}

#[tonic::async_trait]
impl SagaService for SagaApi {
    async fn list_sagas(
        &self,
        request: Request<pb::ListSagasRequest>,
    ) -> Result<Response<pb::ListSagasResponse>, Status> {
        let principal = Principal::of(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let project_id = v.optional_uuid("project_id", &req.project_id);
        // Filters are text too: a NUL reaches Postgres as an encoding error, not a miss.
        let flow = v.optional_text("flow", &req.flow, 64);
        let state = v.optional_text("state", &req.state, 64);
        let key = v.optional_text("key", &req.key, 128);
        v.finish()?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let rows: Vec<SagaView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{VIEW} where s.tenant_id = $1 and s.saga_id > $2 and ($3::text is null or s.flow = $3)
               and ($4::text is null or s.state = $4) and ($5::uuid is null or s.project_id = $5)
               and ($8::text is null or s.saga_key = $8)
               and {}
             order by s.saga_id limit $6",
            in_scope(7)
        )))
        .bind(principal.tenant_id)
        .bind(page.after)
        .bind(flow)
        .bind(state)
        .bind(project_id)
        .bind(page.fetch_limit())
        .bind(principal.project_filter())
        .bind(key)
        .fetch_all(&self.pool)
        .await
        .map_err(ServiceError::from)?;
        let (sagas, next_page_token) = page.finish(rows, |s| s.saga_id);
        Ok(Response::new(pb::ListSagasResponse {
            sagas: sagas.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn get_saga(
        &self,
        request: Request<pb::GetSagaRequest>,
    ) -> Result<Response<pb::GetSagaResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let saga_id = v.uuid("saga_id", &request.get_ref().saga_id);
        v.finish()?;
        let saga = self.view(&principal, saga_id).await?;
        let history: Vec<HistoryRow> = sqlx::query_as(
            "select version, input, state, note, commands, at from saga_history where saga_id = $1 order by version",
        )
        .bind(saga_id)
        .fetch_all(&self.pool)
        .await
        .map_err(ServiceError::from)?;
        let commands: Vec<CommandRow> = sqlx::query_as(
            "select command_id, service, method, status, attempts, last_error from saga_commands
             where saga_id = $1 order by created_at, command_id",
        )
        .bind(saga_id)
        .fetch_all(&self.pool)
        .await
        .map_err(ServiceError::from)?;
        Ok(Response::new(pb::GetSagaResponse {
            saga: Some(saga.into()),
            history: history
                .into_iter()
                .map(|h| pb::HistoryEntry {
                    version: h.version,
                    input: h.input,
                    state: h.state,
                    note: h.note,
                    commands: h
                        .commands
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|c| {
                                    format!(
                                        "{}.{}",
                                        c["service"].as_str().unwrap_or(""),
                                        c["method"].as_str().unwrap_or("")
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    at: Some(ts(h.at)),
                })
                .collect(),
            commands: commands
                .into_iter()
                .map(|c| pb::SagaCommand {
                    command_id: c.command_id.to_string(),
                    service: c.service,
                    method: c.method,
                    status: c.status,
                    attempts: c.attempts,
                    last_error: c.last_error.unwrap_or_default(),
                })
                .collect(),
        }))
    }

    async fn list_stuck_sagas(
        &self,
        request: Request<pb::ListStuckSagasRequest>,
    ) -> Result<Response<pb::ListStuckSagasResponse>, Status> {
        let principal = Principal::of(&request)?;
        let page = request.into_inner().page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let stuck = "s.tenant_id = $1 and not s.terminal and s.deadline < now()";
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select count(*) from sagas s where {stuck} and {}",
            in_scope(2)
        )))
        .bind(principal.tenant_id)
        .bind(principal.project_filter())
        .fetch_one(&self.pool)
        .await
        .map_err(ServiceError::from)?;
        let rows: Vec<SagaView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{VIEW} where {stuck} and {} and s.saga_id > $2 order by s.saga_id limit $4",
            in_scope(3)
        )))
        .bind(principal.tenant_id)
        .bind(page.after)
        .bind(principal.project_filter())
        .bind(page.fetch_limit())
        .fetch_all(&self.pool)
        .await
        .map_err(ServiceError::from)?;
        let (sagas, next_page_token) = page.finish(rows, |s| s.saga_id);
        Ok(Response::new(pb::ListStuckSagasResponse {
            sagas: sagas.into_iter().map(Into::into).collect(),
            total: total as i32,
            next_page_token,
        }))
    }

    async fn retry_saga(
        &self,
        request: Request<pb::RetrySagaRequest>,
    ) -> Result<Response<pb::RetrySagaResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.retry(&principal, request.into_inner()).await?,
        ))
    }

    async fn cancel_saga(
        &self,
        request: Request<pb::CancelSagaRequest>,
    ) -> Result<Response<pb::CancelSagaResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.cancel(&principal, request.into_inner()).await?,
        ))
    }
}
