//! The survey (one unit, or a report's rows all or nothing) and the buyer's choice beyond ±3 %.

use std::collections::HashSet;

use anju_kit::{
    Principal, Refusal, ServiceError, ServiceResult, audit::Subject, error::FieldViolation,
    validate::Validator,
};
use anju_messaging::directory;
use anju_proto::{events, title as pb};
use futures::StreamExt;
use tonic::Streaming;

use super::{MAX_AREA_CM2, TitleApi, answer, locked};
use crate::{
    domain::{clocks::Clock, file::Choice},
    events::publish::{self, money},
    store::{clocks, files, registry, steps},
};

/// Rows in one survey import: a large building's report.
const MAX_ROWS: usize = 5_000;

impl TitleApi {
    pub(super) async fn record_survey(
        &self,
        principal: &Principal,
        req: pb::RecordSurveyRequest,
    ) -> ServiceResult<pb::RecordSurveyResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        let area = v.area("measured_area", req.measured_area.as_ref(), MAX_AREA_CM2);
        let firm = v.text("surveying_firm", &req.surveying_firm, 100);
        let report = v.text("report_number", &req.report_number, 100);
        v.finish()?;
        principal.require_project(project_id)?;
        directory::require_unit(&self.pool, principal, project_id, unit_id).await?;
        let outbox = self.commands.outbox().clone();
        self.commands
            .run(principal, "RecordSurvey", &request_id, &req, async |cmd| {
                let tenant = cmd.tenant();
                let file = files::record_survey(
                    cmd.conn(),
                    tenant,
                    project_id,
                    unit_id,
                    area,
                    &firm,
                    &report,
                )
                .await?;
                cmd.emit(cmd.event("title_file", unit_id), &surveyed(&file))
                    .await?;
                let meta = cmd.event("title_file", unit_id);
                let file = publish::assess_if_ready(cmd.conn(), &outbox, meta, file).await?;
                let response = pb::RecordSurveyResponse {
                    title_file: Some(answer(cmd.conn(), file).await?),
                };
                Ok((response, Subject::new("title_file", unit_id)))
            })
            .await
    }

    pub(super) async fn import_survey(
        &self,
        principal: &Principal,
        mut stream: Streaming<pb::ImportSurveyRequest>,
    ) -> ServiceResult<pb::ImportSurveyResponse> {
        // The whole report first: nothing is written until every row is known good.
        let mut request = pb::ImportSurveyRequest::default();
        while let Some(message) = stream.next().await {
            let message = message.map_err(|status| {
                ServiceError::invalid("rows", format!("stream broke: {}", status.message()))
            })?;
            if request.request_id.is_empty() {
                request.request_id = message.request_id;
                request.project_id = message.project_id;
                request.surveying_firm = message.surveying_firm;
                request.report_number = message.report_number;
            }
            request.rows.extend(message.rows);
            if request.rows.len() > MAX_ROWS {
                return Err(ServiceError::invalid(
                    "rows",
                    format!("at most {MAX_ROWS} rows per import"),
                ));
            }
        }
        let mut v = Validator::new();
        let request_id = v.request_id(&request.request_id);
        let project_id = v.uuid("project_id", &request.project_id);
        let firm = v.text("surveying_firm", &request.surveying_firm, 100);
        let report = v.text("report_number", &request.report_number, 100);
        if request.rows.is_empty() {
            v.violation("rows", "is empty");
        }
        v.finish()?;
        principal.require_project(project_id)?;
        // The units the tenant has in the project, as title learnt them from sales: one query.
        let named: Vec<uuid::Uuid> = request
            .rows
            .iter()
            .filter_map(|r| uuid::Uuid::parse_str(&r.unit_id).ok())
            .collect();
        let known =
            registry::units_known(&self.pool, principal.tenant_id, project_id, &named).await?;

        let mut seen = HashSet::new();
        let mut violations = Vec::new();
        let mut rows = Vec::with_capacity(request.rows.len());
        for (i, row) in request.rows.iter().enumerate() {
            let mut v = Validator::new();
            let unit_id = v.uuid("unit_id", &row.unit_id);
            let area = v.area("measured_area", row.measured_area.as_ref(), MAX_AREA_CM2);
            if !row.unit_id.is_empty() && !seen.insert(unit_id) {
                v.violation("unit_id", "appears twice in this report");
            }
            if let Err(ServiceError::InvalidArgument(found)) = v.finish() {
                violations.extend(found.into_iter().map(|fv| FieldViolation {
                    field: format!("rows[{i}].{}", fv.field),
                    description: format!("line {}: {}", row.line, fv.description),
                }));
                continue;
            }
            if !known.contains(&unit_id) {
                violations.push(FieldViolation {
                    field: format!("rows[{i}].unit_id"),
                    description: format!("line {}: no such unit in this project", row.line),
                });
                continue;
            }
            rows.push((unit_id, area));
        }
        if !violations.is_empty() {
            return Err(ServiceError::InvalidArgument(violations));
        }
        let outbox = self.commands.outbox().clone();
        self.commands
            .run(
                principal,
                "ImportSurvey",
                &request_id,
                &request,
                async |cmd| {
                    let mut assessed = 0;
                    for (i, (unit_id, area)) in rows.iter().enumerate() {
                        let tenant = cmd.tenant();
                        let file = files::record_survey(
                            cmd.conn(),
                            tenant,
                            project_id,
                            *unit_id,
                            *area,
                            &firm,
                            &report,
                        )
                        .await
                        .map_err(|err| match err {
                            ServiceError::FailedPrecondition(refusal) => ServiceError::invalid(
                                format!("rows[{i}].unit_id"),
                                format!("line {}: {}", request.rows[i].line, refusal.message),
                            ),
                            other => other,
                        })?;
                        cmd.emit(cmd.event("title_file", unit_id), &surveyed(&file))
                            .await?;
                        let meta = cmd.event("title_file", unit_id);
                        let file =
                            publish::assess_if_ready(cmd.conn(), &outbox, meta, file).await?;
                        if file.assessed_at.is_some() {
                            assessed += 1;
                        }
                    }
                    let response = pb::ImportSurveyResponse {
                        recorded: rows.len() as i32,
                        assessed,
                    };
                    let subject = Subject::new("survey_report", project_id).with_detail(
                        serde_json::json!({ "report": report, "recorded": rows.len() }),
                    );
                    Ok((response, subject))
                },
            )
            .await
    }

    pub(super) async fn record_buyer_choice(
        &self,
        principal: &Principal,
        req: pb::RecordBuyerChoiceRequest,
    ) -> ServiceResult<pb::RecordBuyerChoiceResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        let choice = match pb::BuyerChoice::try_from(req.choice) {
            Ok(pb::BuyerChoice::Keep) => Choice::Keep,
            Ok(pb::BuyerChoice::Cancel) => Choice::Cancel,
            _ => {
                v.violation("choice", "must be KEEP or CANCEL");
                Choice::Keep
            }
        };
        v.finish()?;
        self.commands
            .run(
                principal,
                "RecordBuyerChoice",
                &request_id,
                &req,
                async |cmd| {
                    let (file, contract_id) = locked(cmd.conn(), principal, unit_id).await?;
                    if !file
                        .band()
                        .is_some_and(|b| b != crate::domain::area::Band::Within)
                    {
                        return Err(Refusal::new(
                            "NO_CHOICE_OFFERED",
                            "the buyer may choose only when the area error exceeds ±3 %",
                        )
                        .with("unit_id", unit_id)
                        .into());
                    }
                    if let Some(made) = file.choice() {
                        return Err(
                            Refusal::new("CHOICE_ALREADY_MADE", "the buyer chose already")
                                .with("unit_id", unit_id)
                                .with("choice", made.as_str())
                                .into(),
                        );
                    }
                    let policy =
                        registry::policy(cmd.conn(), file.tenant_id, file.project_id).await?;
                    let file = steps::record_choice(cmd.conn(), unit_id, choice, false).await?;
                    clocks::meet(cmd.conn(), contract_id, Clock::Choice).await?;
                    let event = events::BuyerChoiceRecorded {
                        contract_id: contract_id.to_string(),
                        unit_id: unit_id.to_string(),
                        project_id: file.project_id.to_string(),
                        customer_id: file.customer_id.map(|c| c.to_string()).unwrap_or_default(),
                        choice: choice.as_str().into(),
                        deemed: false,
                        buyer_amount: money(file.buyer_amount_minor.unwrap_or(0), &file.currency),
                        interest_bp: match choice {
                            Choice::Cancel => policy.cancellation_interest_bp,
                            Choice::Keep => 0,
                        },
                    };
                    cmd.emit(cmd.event("title_file", unit_id), &event).await?;
                    let response = pb::RecordBuyerChoiceResponse {
                        title_file: Some(answer(cmd.conn(), file).await?),
                    };
                    let subject = Subject::new("title_file", unit_id)
                        .with_detail(serde_json::json!({ "choice": choice.as_str() }));
                    Ok((response, subject))
                },
            )
            .await
    }
}

fn surveyed(file: &files::TitleFile) -> events::UnitSurveyed {
    events::UnitSurveyed {
        unit_id: file.unit_id.to_string(),
        project_id: file.project_id.to_string(),
        measured_area: file
            .measured_area_cm2
            .map(|square_centimetres| anju_proto::common::Area { square_centimetres }),
    }
}
