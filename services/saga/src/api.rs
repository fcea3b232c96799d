//! The SagaService API: operators' view of the coordinator's own tables ([`views`]), and
//! the two things an operator may do to a saga — retry its failed commands, cancel it.

use anju_kit::{
    Principal, ServiceResult, audit::Subject, paging::Page, time::timestamp as ts,
    validate::Validator,
};
use anju_messaging::{Commands, host::Platform};
use anju_proto::{saga as pb, saga::saga_service_server::SagaService};
use sqlx::PgPool;

use crate::engine::{
    Engine,
    store::SagaView,
    views::{self, CommandRow, HistoryRow},
};

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

impl From<HistoryRow> for pb::HistoryEntry {
    fn from(h: HistoryRow) -> Self {
        let command = |c: &serde_json::Value| {
            format!(
                "{}.{}",
                c["service"].as_str().unwrap_or(""),
                c["method"].as_str().unwrap_or("")
            )
        };
        pb::HistoryEntry {
            version: h.version,
            input: h.input,
            state: h.state,
            note: h.note,
            commands: h
                .commands
                .as_array()
                .map(|a| a.iter().map(command).collect())
                .unwrap_or_default(),
            at: Some(ts(h.at)),
        }
    }
}

impl From<CommandRow> for pb::SagaCommand {
    fn from(c: CommandRow) -> Self {
        pb::SagaCommand {
            command_id: c.command_id.to_string(),
            service: c.service,
            method: c.method,
            status: c.status,
            attempts: c.attempts,
            last_error: c.last_error.unwrap_or_default(),
        }
    }
}

#[derive(Clone)]
pub struct SagaApi {
    pool: PgPool,
    commands: Commands,
    engine: Engine,
}

impl SagaApi {
    pub fn new(platform: &Platform, engine: Engine) -> Self {
        Self {
            pool: platform.pool.clone(),
            commands: Commands::new(platform.pool.clone(), platform.outbox.clone()),
            engine,
        }
    }

    async fn list_sagas(
        &self,
        principal: &Principal,
        req: pb::ListSagasRequest,
    ) -> ServiceResult<pb::ListSagasResponse> {
        let mut v = Validator::new();
        let project_id = v.optional_uuid("project_id", &req.project_id);
        // Filters are text too: a NUL reaches Postgres as an encoding error, not a miss.
        let flow = v.optional_text("flow", &req.flow, 64);
        let state = v.optional_text("state", &req.state, 64);
        let key = v.optional_text("key", &req.key, 128);
        v.finish()?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let filter = views::Filter {
            project_id,
            flow,
            state,
            key,
        };
        let (sagas, next_page_token) = views::sagas(&self.pool, principal, filter, page).await?;
        Ok(pb::ListSagasResponse {
            sagas: sagas.into_iter().map(Into::into).collect(),
            next_page_token,
        })
    }

    async fn get_saga(
        &self,
        principal: &Principal,
        req: pb::GetSagaRequest,
    ) -> ServiceResult<pb::GetSagaResponse> {
        let mut v = Validator::new();
        let saga_id = v.uuid("saga_id", &req.saga_id);
        v.finish()?;
        let saga = views::saga(&self.pool, principal, saga_id).await?;
        let history = views::history(&self.pool, saga_id).await?;
        let commands = views::commands(&self.pool, saga_id).await?;
        Ok(pb::GetSagaResponse {
            saga: Some(saga.into()),
            history: history.into_iter().map(Into::into).collect(),
            commands: commands.into_iter().map(Into::into).collect(),
        })
    }

    async fn list_stuck_sagas(
        &self,
        principal: &Principal,
        req: pb::ListStuckSagasRequest,
    ) -> ServiceResult<pb::ListStuckSagasResponse> {
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (sagas, total, next_page_token) = views::stuck(&self.pool, principal, page).await?;
        Ok(pb::ListStuckSagasResponse {
            sagas: sagas.into_iter().map(Into::into).collect(),
            total: i32::try_from(total).unwrap_or(i32::MAX),
            next_page_token,
        })
    }

    async fn retry_saga(
        &self,
        principal: &Principal,
        req: pb::RetrySagaRequest,
    ) -> ServiceResult<pb::RetrySagaResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let saga_id = v.uuid("saga_id", &req.saga_id);
        v.finish()?;
        views::saga(&self.pool, principal, saga_id).await?;
        self.commands
            .run(principal, "RetrySaga", &request_id, &req, async |cmd| {
                let retried = views::retry_failed(cmd.conn(), principal.tenant_id, saga_id).await?;
                let response = pb::RetrySagaResponse {
                    saga: Some(views::saga(&self.pool, principal, saga_id).await?.into()),
                    retried_commands: i32::try_from(retried).unwrap_or(i32::MAX),
                };
                Ok((response, Subject::new("saga", saga_id)))
            })
            .await
    }

    async fn cancel_saga(
        &self,
        principal: &Principal,
        req: pb::CancelSagaRequest,
    ) -> ServiceResult<pb::CancelSagaResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let saga_id = v.uuid("saga_id", &req.saga_id);
        let reason = v.free_text("reason", &req.reason, 1000);
        v.finish()?;
        views::saga(&self.pool, principal, saga_id).await?;
        self.commands
            .run(principal, "CancelSaga", &request_id, &req, async |_| {
                // The engine cancels in its own transaction (it locks the saga as its
                // dispatcher does); the claim commits the response after it.
                self.engine
                    .cancel(&self.pool, principal.tenant_id, saga_id, &reason)
                    .await?
                    .ok_or_else(|| anju_kit::ServiceError::not_found("saga"))?;
                let response = pb::CancelSagaResponse {
                    saga: Some(views::saga(&self.pool, principal, saga_id).await?.into()),
                };
                let subject = Subject::new("saga", saga_id)
                    .with_detail(serde_json::json!({ "reason": reason }));
                Ok((response, subject))
            })
            .await
    }
}

anju_kit::rpcs! { impl SagaService for SagaApi in pb {
    list_sagas(ListSagasRequest) -> ListSagasResponse;
    get_saga(GetSagaRequest) -> GetSagaResponse;
    list_stuck_sagas(ListStuckSagasRequest) -> ListStuckSagasResponse;
    retry_saga(RetrySagaRequest) -> RetrySagaResponse;
    cancel_saga(CancelSagaRequest) -> CancelSagaResponse;
} }
