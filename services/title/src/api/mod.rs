//! The TitleService API: wire glue and validation. The rules are in [`crate::domain`], the SQL
//! in [`crate::store`]; each mutating RPC runs through the command pipeline.

mod buildings;
mod counter;
mod survey;

use anju_kit::{
    Principal, ServiceError, ServiceResult, paging::Page, time::timestamp, validate::Validator,
};
use anju_messaging::{Commands, host::Platform};
use anju_proto::{common, title as pb, title::title_service_server::TitleService};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    domain::file::waiting_for,
    events::publish::{self, area},
    store::{self, Loaded, clocks::ClockRow, files},
};

/// Largest unit we accept: 100 000 m², in square centimetres.
const MAX_AREA_CM2: i64 = 100_000 * 10_000;

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

    async fn get_title_file(
        &self,
        principal: &Principal,
        req: pb::GetTitleFileRequest,
    ) -> ServiceResult<pb::GetTitleFileResponse> {
        let mut v = Validator::new();
        let unit_id = v.uuid("unit_id", &req.unit_id);
        v.finish()?;
        let mut tx = store::snapshot(&self.pool).await?;
        let file = files::get(&mut *tx, principal, unit_id).await?;
        let loaded = store::load(&mut tx, file).await?;
        Ok(pb::GetTitleFileResponse {
            title_file: Some(wire(&loaded)),
        })
    }

    async fn list_title_files(
        &self,
        principal: &Principal,
        req: pb::ListTitleFilesRequest,
    ) -> ServiceResult<pb::ListTitleFilesResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        let filter = match pb::ClockFilter::try_from(req.clocks) {
            Ok(pb::ClockFilter::Unspecified) => None,
            Ok(pb::ClockFilter::AtRiskOrOverdue) => Some("at_risk"),
            Ok(pb::ClockFilter::Overdue) => Some("overdue"),
            Err(_) => {
                v.violation("clocks", "unknown clock filter");
                None
            }
        };
        v.finish()?;
        let page = Page::parse(req.page_size, &req.page_token)?;
        principal.require_project(project_id)?;
        let mut tx = store::snapshot(&self.pool).await?;
        let rows = files::list(
            &mut *tx,
            principal.tenant_id,
            project_id,
            filter,
            page.after,
            page.fetch_limit(),
        )
        .await?;
        let (rows, next_page_token) = page.finish(rows, |f| f.unit_id);
        let mut title_files = Vec::with_capacity(rows.len());
        for file in rows {
            title_files.push(wire(&store::load(&mut tx, file).await?));
        }
        Ok(pb::ListTitleFilesResponse {
            title_files,
            next_page_token,
        })
    }
}

/// A unit step's answer: the file as it is now.
async fn answer(
    conn: &mut sqlx::PgConnection,
    file: files::TitleFile,
) -> ServiceResult<pb::TitleFile> {
    Ok(wire(&store::load(conn, file).await?))
}

fn money(minor: Option<i64>, currency: &str) -> Option<common::Money> {
    minor.and_then(|minor_units| publish::money(minor_units, currency))
}

fn day(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

fn id(u: Option<Uuid>) -> String {
    u.map(|u| u.to_string()).unwrap_or_default()
}

fn clock(c: &ClockRow) -> pb::StatutoryClock {
    let state = if c.met_at.is_some() {
        pb::ClockState::Met
    } else if c.breached_at.is_some() {
        pb::ClockState::Breached
    } else if c.warned_at.is_some() {
        pb::ClockState::AtRisk
    } else {
        pb::ClockState::Running
    };
    pb::StatutoryClock {
        kind: c.kind.clone(),
        due_on: c.due_on.to_string(),
        warn_on: c.warn_on.to_string(),
        state: state as i32,
    }
}

fn wire(l: &Loaded) -> pb::TitleFile {
    let f = &l.file;
    let cur = f.currency.as_str();
    let band = match f.band() {
        Some(crate::domain::area::Band::Within) => pb::AreaBand::Within,
        Some(crate::domain::area::Band::Above) => pb::AreaBand::Above,
        Some(crate::domain::area::Band::Below) => pb::AreaBand::Below,
        None => pb::AreaBand::Unspecified,
    };
    let choice = match f.choice() {
        Some(crate::domain::file::Choice::Keep) => pb::BuyerChoice::Keep,
        Some(crate::domain::file::Choice::Cancel) => pb::BuyerChoice::Cancel,
        None => pb::BuyerChoice::Unspecified,
    };
    let area_settlement = f.assessed_at.map(|_| pb::AreaSettlement {
        contract_id: id(f.contract_id),
        contract_area: area(f.contract_area_cm2),
        measured_area: area(f.measured_area_cm2),
        error_ratio_ppm: f.error_ratio_ppm.unwrap_or(0),
        band: band as i32,
        buyer_amount: money(f.buyer_amount_minor, cur),
        developer_bears: money(f.developer_bears_minor, cur),
        choice: choice as i32,
        choice_due_on: day(f.choice_due_on),
        settled_at: f.area_settled_at.map(timestamp),
    });
    let documents = if f.contract_id.is_some() {
        l.policy
            .checklist()
            .into_iter()
            .map(|item| {
                let reviewed = l.documents.iter().find(|d| d.item == item);
                let status = match reviewed.map(|d| d.status.as_str()) {
                    Some("accepted") => pb::DocumentStatus::Accepted,
                    Some(_) => pb::DocumentStatus::Rejected,
                    None => pb::DocumentStatus::Missing,
                };
                pb::Document {
                    item,
                    status: status as i32,
                    reason: reviewed.map(|d| d.reason.clone()).unwrap_or_default(),
                    rejections: reviewed.map_or(0, |d| d.rejections),
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    pb::TitleFile {
        unit_id: f.unit_id.to_string(),
        project_id: f.project_id.to_string(),
        measured_area: area(f.measured_area_cm2),
        surveyed_at: f.surveyed_at.map(timestamp),
        building_id: id(f.building_id),
        contract_id: id(f.contract_id),
        customer_id: id(f.customer_id),
        buyer_name: f.buyer_name.clone(),
        contract_area: area(f.contract_area_cm2),
        contract_price: money(f.price_minor, cur),
        mortgaged: f.mortgaged,
        lending_bank: f.lending_bank.clone(),
        surveying_firm: f.surveying_firm.clone(),
        survey_report: f.survey_report.clone(),
        handed_over_on: day(f.handed_over_on),
        area: area_settlement,
        documents,
        owner_notified_at: f.owner_notified_at.map(timestamp),
        owner_notices: f.owner_notices,
        deed_tax: money(f.deed_tax_minor, cur),
        registration_fee: money(f.registration_fee_minor, cur),
        fees_paid_at: f.fees_paid_at.map(timestamp),
        application_receipt: f.application_receipt.clone().unwrap_or_default(),
        submitted_at: f.submitted_at.map(timestamp),
        deed_number: f.deed_number.clone().unwrap_or_default(),
        deed_issued_on: day(f.deed_issued_on),
        delivered_to: f.delivered_to.clone().unwrap_or_default(),
        delivery_receipt: f.delivery_receipt.clone().unwrap_or_default(),
        delivered_at: f.delivered_at.map(timestamp),
        archived_at: f.archived_at.map(timestamp),
        clocks: l.clocks.iter().map(clock).collect(),
        waiting_for: waiting_for(&l.facts())
            .into_iter()
            .map(str::to_string)
            .collect(),
        cancelled: f.cancelled,
        unit_price_per_m2: match (f.price_minor, f.contract_area_cm2) {
            (Some(price), Some(area)) => money(
                Some(crate::domain::area::round_half_away(
                    i128::from(price) * 10_000,
                    i128::from(area),
                ) as i64),
                cur,
            ),
            _ => None,
        },
    }
}

/// A unit's file, locked for a step, with the contract the step works on.
async fn locked(
    conn: &mut sqlx::PgConnection,
    principal: &Principal,
    unit_id: Uuid,
) -> ServiceResult<(files::TitleFile, Uuid)> {
    let file = files::lock(conn, principal, unit_id).await?;
    let contract = file.contract()?;
    Ok((file, contract))
}

fn not_found_outside(principal: &Principal, project_id: Uuid, what: &str) -> ServiceResult<()> {
    principal
        .require_project(project_id)
        .map_err(|_| ServiceError::not_found(what))
}

anju_kit::rpcs! { impl TitleService for TitleApi in pb {
    record_survey(RecordSurveyRequest) -> RecordSurveyResponse;
    record_buyer_choice(RecordBuyerChoiceRequest) -> RecordBuyerChoiceResponse;
    record_completion_filing(RecordCompletionFilingRequest) -> RecordCompletionFilingResponse;
    record_initial_registration(RecordInitialRegistrationRequest) -> RecordInitialRegistrationResponse;
    get_building(GetBuildingRequest) -> GetBuildingResponse;
    set_title_policy(SetTitlePolicyRequest) -> SetTitlePolicyResponse;
    get_title_policy(GetTitlePolicyRequest) -> GetTitlePolicyResponse;
    notify_owner(NotifyOwnerRequest) -> NotifyOwnerResponse;
    review_document(ReviewDocumentRequest) -> ReviewDocumentResponse;
    assess_title_fees(AssessTitleFeesRequest) -> AssessTitleFeesResponse;
    submit_application(SubmitApplicationRequest) -> SubmitApplicationResponse;
    record_deed_issued(RecordDeedIssuedRequest) -> RecordDeedIssuedResponse;
    deliver_deed(DeliverDeedRequest) -> DeliverDeedResponse;
    archive_title_file(ArchiveTitleFileRequest) -> ArchiveTitleFileResponse;
    get_title_file(GetTitleFileRequest) -> GetTitleFileResponse;
    list_title_files(ListTitleFilesRequest) -> ListTitleFilesResponse;
} streams {
    import_survey(ImportSurveyRequest) -> ImportSurveyResponse;
} }
