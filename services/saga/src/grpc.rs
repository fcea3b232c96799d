//! The SagaService API: operators' view of the coordinator's own tables.

use anju_kit::{Principal, ServiceError, paging::Page, validate::Validator};
use anju_messaging::host::Platform;
use anju_proto::{saga as pb, saga::saga_service_server::SagaService};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
struct Saga {
    saga_id: Uuid,
    flow: String,
    state: String,
    project_id: Option<Uuid>,
    subject_id: String,
    updated_at: DateTime<Utc>,
}

impl From<Saga> for pb::Saga {
    fn from(s: Saga) -> Self {
        pb::Saga {
            saga_id: s.saga_id.to_string(),
            flow: s.flow,
            state: s.state,
            project_id: s.project_id.map(|p| p.to_string()).unwrap_or_default(),
            subject_id: s.subject_id,
            updated_at: Some(prost_types::Timestamp {
                seconds: s.updated_at.timestamp(),
                nanos: s.updated_at.timestamp_subsec_nanos() as i32,
            }),
        }
    }
}

#[derive(Clone)]
pub struct SagaApi {
    pool: PgPool,
}

impl SagaApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
        }
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
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let flow = (!req.flow.is_empty()).then_some(req.flow);
        let state = (!req.state.is_empty()).then_some(req.state);
        let rows: Vec<Saga> = sqlx::query_as(
            "select saga_id, flow, state, project_id, subject_id, updated_at from sagas
             where tenant_id = $1 and saga_id > $2 and ($3::text is null or flow = $3) and ($4::text is null or state = $4)
             order by saga_id limit $5",
        )
        .bind(principal.tenant_id)
        .bind(page.after)
        .bind(flow)
        .bind(state)
        .bind(page.fetch_limit())
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
        let saga: Saga = sqlx::query_as(
            "select saga_id, flow, state, project_id, subject_id, updated_at from sagas where tenant_id = $1 and saga_id = $2",
        )
        .bind(principal.tenant_id)
        .bind(saga_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(|| ServiceError::not_found("saga"))?;
        Ok(Response::new(pb::GetSagaResponse {
            saga: Some(saga.into()),
        }))
    }
}
