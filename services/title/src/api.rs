//! The TitleService API: wire glue and validation; SQL in [`crate::store`].

use anju_kit::{Principal, ServiceResult, audit::Subject, time::timestamp, validate::Validator};
use anju_messaging::{Commands, host::Platform};
use anju_proto::{common, events, title as pb, title::title_service_server::TitleService};
use sqlx::PgPool;

use crate::store::{self, TitleFile};

/// Largest unit we accept: 100 000 m², in square centimetres.
const MAX_AREA_CM2: i64 = 100_000 * 10_000;

impl From<TitleFile> for pb::TitleFile {
    fn from(f: TitleFile) -> Self {
        pb::TitleFile {
            unit_id: f.unit_id.to_string(),
            project_id: f.project_id.to_string(),
            measured_area: f.measured_area_cm2.map(|a| common::Area {
                square_centimetres: a,
            }),
            surveyed_at: f.surveyed_at.map(timestamp),
        }
    }
}

#[derive(Clone)]
pub struct TitleApi {
    pool: PgPool,
    commands: Commands,
}

impl TitleApi {
    pub fn new(platform: &Platform) -> Self {
        Self {
            pool: platform.pool.clone(),
            commands: Commands::new(platform.pool.clone(), platform.outbox.clone()),
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
        self.commands
            .run(principal, "RecordSurvey", &request_id, &req, async |cmd| {
                let tenant = cmd.tenant();
                let file =
                    store::record_survey(cmd.conn(), tenant, project_id, unit_id, area).await?;
                let event = events::UnitSurveyed {
                    unit_id: unit_id.to_string(),
                    project_id: project_id.to_string(),
                    measured_area: Some(common::Area {
                        square_centimetres: area,
                    }),
                };
                cmd.emit(cmd.event("title_file", unit_id), &event).await?;
                let response = pb::RecordSurveyResponse {
                    title_file: Some(file.into()),
                };
                Ok((response, Subject::new("title_file", unit_id)))
            })
            .await
    }

    async fn get_title_file(
        &self,
        principal: &Principal,
        req: pb::GetTitleFileRequest,
    ) -> ServiceResult<pb::GetTitleFileResponse> {
        let mut v = Validator::new();
        let unit_id = v.uuid("unit_id", &req.unit_id);
        v.finish()?;
        let file = store::title_file(&self.pool, principal, unit_id).await?;
        Ok(pb::GetTitleFileResponse {
            title_file: Some(file.into()),
        })
    }
}

anju_kit::rpcs! { impl TitleService for TitleApi in pb {
    record_survey(RecordSurveyRequest) -> RecordSurveyResponse;
    get_title_file(GetTitleFileRequest) -> GetTitleFileResponse;
} }
