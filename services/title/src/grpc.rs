//! The TitleService API.

use anju_kit::{
    Principal, ServiceError, ServiceResult,
    audit::Subject,
    idempotency::{Claim, Command},
    validate::Validator,
};
use anju_messaging::{EventMeta, Outbox, host::Platform};
use anju_proto::{common, events, title as pb, title::title_service_server::TitleService};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// Largest unit we accept: 100 000 m², in square centimetres.
const MAX_AREA_CM2: i64 = 100_000 * 10_000;

#[derive(Clone, Debug, FromRow)]
struct TitleFile {
    unit_id: Uuid,
    project_id: Uuid,
    measured_area_cm2: Option<i64>,
    surveyed_at: Option<DateTime<Utc>>,
}

impl From<TitleFile> for pb::TitleFile {
    fn from(f: TitleFile) -> Self {
        pb::TitleFile {
            unit_id: f.unit_id.to_string(),
            project_id: f.project_id.to_string(),
            measured_area: f.measured_area_cm2.map(|a| common::Area {
                square_centimetres: a,
            }),
            surveyed_at: f.surveyed_at.map(|t| prost_types::Timestamp {
                seconds: t.timestamp(),
                nanos: t.timestamp_subsec_nanos() as i32,
            }),
        }
    }
}

#[derive(Clone)]
pub struct TitleApi {
    pool: PgPool,
    outbox: Outbox,
}

impl TitleApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
            outbox: platform.outbox.clone(),
        }
    }

    async fn record_survey(
        &self,
        principal: &Principal,
        req: pb::RecordSurveyRequest,
    ) -> ServiceResult<pb::RecordSurveyResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        let area = v.area("measured_area", req.measured_area.as_ref(), MAX_AREA_CM2);
        v.finish()?;
        principal.require_project(project_id)?;

        let mut command =
            match Command::begin(&self.pool, principal, "RecordSurvey", &request_id, &req).await? {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        // A unit belongs to one tenant and one project for ever; a later survey corrects the area.
        let file: Option<TitleFile> = sqlx::query_as(
            "insert into title_files (unit_id, tenant_id, project_id, measured_area_cm2, surveyed_at)
             values ($1, $2, $3, $4, now())
             on conflict (unit_id) do update set measured_area_cm2 = excluded.measured_area_cm2, surveyed_at = now()
             where title_files.tenant_id = excluded.tenant_id and title_files.project_id = excluded.project_id
             returning unit_id, project_id, measured_area_cm2, surveyed_at",
        )
        .bind(unit_id)
        .bind(principal.tenant_id)
        .bind(project_id)
        .bind(area)
        .fetch_optional(&mut **command.tx())
        .await?;
        let file = file.ok_or_else(|| ServiceError::not_found("unit"))?;
        let event = events::UnitSurveyed {
            unit_id: unit_id.to_string(),
            project_id: project_id.to_string(),
            measured_area: Some(common::Area {
                square_centimetres: area,
            }),
        };
        let meta = EventMeta::new(principal.tenant_id, "title_file", unit_id)
            .caused_by_request(&request_id);
        self.outbox.append(command.tx(), meta, &event).await?;
        let response = pb::RecordSurveyResponse {
            title_file: Some(file.into()),
        };
        command
            .commit(&response, Subject::new("title_file", unit_id))
            .await?;
        Ok(response)
    }
}

#[tonic::async_trait]
impl TitleService for TitleApi {
    async fn record_survey(
        &self,
        request: Request<pb::RecordSurveyRequest>,
    ) -> Result<Response<pb::RecordSurveyResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.record_survey(&principal, request.into_inner()).await?,
        ))
    }

    async fn get_title_file(
        &self,
        request: Request<pb::GetTitleFileRequest>,
    ) -> Result<Response<pb::GetTitleFileResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let unit_id = v.uuid("unit_id", &request.get_ref().unit_id);
        v.finish()?;
        let file: TitleFile = sqlx::query_as(
            "select unit_id, project_id, measured_area_cm2, surveyed_at from title_files
             where tenant_id = $1 and unit_id = $2",
        )
        .bind(principal.tenant_id)
        .bind(unit_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(ServiceError::from)?
        .filter(|f: &TitleFile| principal.can_see_project(f.project_id))
        .ok_or_else(|| ServiceError::not_found("title file"))?;
        Ok(Response::new(pb::GetTitleFileResponse {
            title_file: Some(file.into()),
        }))
    }
}
