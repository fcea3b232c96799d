//! The title officer's counter: the owner notified, documents reviewed, fees assessed, the
//! application submitted, the deed issued, delivered and archived.

use anju_kit::{Principal, Refusal, ServiceResult, audit::Subject, validate::Validator};
use anju_proto::{events, title as pb};

use super::{TitleApi, answer, locked};
use crate::{
    domain::{
        clocks::Clock,
        file::{may_deliver, may_submit},
    },
    events::publish::money,
    store::{self, clocks, registry, steps},
};

/// Largest deed tax or fee: 100 million yuan, in fen.
const MAX_FEE_MINOR: i64 = 10_000_000_000;

impl TitleApi {
    pub(super) async fn notify_owner(
        &self,
        principal: &Principal,
        req: pb::NotifyOwnerRequest,
    ) -> ServiceResult<pb::NotifyOwnerResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        v.check(
            ["sms", "phone", "letter", "counter"].contains(&req.channel.as_str()),
            "channel",
            "must be sms, phone, letter or counter",
        );
        v.finish()?;
        self.commands
            .run(principal, "NotifyOwner", &request_id, &req, async |cmd| {
                locked(cmd.conn(), principal, unit_id).await?;
                let file = steps::owner_notified(cmd.conn(), unit_id).await?;
                let response = pb::NotifyOwnerResponse {
                    title_file: Some(answer(cmd.conn(), file).await?),
                };
                let subject = Subject::new("title_file", unit_id)
                    .with_detail(serde_json::json!({ "channel": req.channel }));
                Ok((response, subject))
            })
            .await
    }

    pub(super) async fn review_document(
        &self,
        principal: &Principal,
        req: pb::ReviewDocumentRequest,
    ) -> ServiceResult<pb::ReviewDocumentResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        let item = v.text("item", &req.item, 40);
        let reason = v.optional_free_text("reason", &req.reason, 500);
        v.check(
            req.accepted || reason.is_some(),
            "reason",
            "a rejected document needs a reason",
        );
        v.finish()?;
        let reason = reason.unwrap_or_default();
        self.commands
            .run(
                principal,
                "ReviewDocument",
                &request_id,
                &req,
                async |cmd| {
                    let (file, contract_id) = locked(cmd.conn(), principal, unit_id).await?;
                    if file.submitted_at.is_some() {
                        return Err(Refusal::new(
                            "ALREADY_SUBMITTED",
                            "the application was submitted; its documents are fixed",
                        )
                        .with("unit_id", unit_id)
                        .into());
                    }
                    let policy =
                        registry::policy(cmd.conn(), file.tenant_id, file.project_id).await?;
                    if !policy.checklist().contains(&item) {
                        return Err(Refusal::new(
                            "UNKNOWN_DOCUMENT",
                            format!("{item} is not on the project's checklist"),
                        )
                        .with("item", &item)
                        .into());
                    }
                    registry::review(
                        cmd.conn(),
                        unit_id,
                        contract_id,
                        &item,
                        req.accepted,
                        &reason,
                    )
                    .await?;
                    let loaded = store::load(cmd.conn(), file).await?;
                    let mut file = loaded.file.clone();
                    if loaded.missing().is_empty() && file.documents_completed_at.is_none() {
                        file = steps::documents_completed(cmd.conn(), unit_id).await?;
                        let event = events::TitleDocumentsCompleted {
                            contract_id: contract_id.to_string(),
                            unit_id: unit_id.to_string(),
                        };
                        cmd.emit(cmd.event("title_file", unit_id), &event).await?;
                    }
                    let response = pb::ReviewDocumentResponse {
                        title_file: Some(answer(cmd.conn(), file).await?),
                    };
                    let subject = Subject::new("title_file", unit_id).with_detail(
                    serde_json::json!({ "item": item, "accepted": req.accepted, "reason": reason }),
                );
                    Ok((response, subject))
                },
            )
            .await
    }

    pub(super) async fn assess_title_fees(
        &self,
        principal: &Principal,
        req: pb::AssessTitleFeesRequest,
    ) -> ServiceResult<pb::AssessTitleFeesResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        let (tax, tax_currency) = v.money("deed_tax", req.deed_tax.as_ref());
        let (fee, fee_currency) = v.money("registration_fee", req.registration_fee.as_ref());
        v.check(tax <= MAX_FEE_MINOR, "deed_tax", "at most 100,000,000.00");
        v.check(
            fee <= MAX_FEE_MINOR,
            "registration_fee",
            "at most 100,000,000.00",
        );
        v.check(
            tax_currency == fee_currency,
            "registration_fee.currency",
            "must be the deed tax's currency",
        );
        v.finish()?;
        self.commands
            .run(
                principal,
                "AssessTitleFees",
                &request_id,
                &req,
                async |cmd| {
                    let (file, contract_id) = locked(cmd.conn(), principal, unit_id).await?;
                    if tax_currency != file.currency {
                        return Err(anju_kit::ServiceError::invalid(
                            "deed_tax.currency",
                            format!("the contract is in {}", file.currency),
                        ));
                    }
                    if file.fees_assessed_at.is_some() {
                        return Err(Refusal::new(
                            "FEES_ALREADY_ASSESSED",
                            "the fees were assessed; they are charged in finance",
                        )
                        .with("unit_id", unit_id)
                        .into());
                    }
                    let file = steps::fees_assessed(cmd.conn(), unit_id, tax, fee).await?;
                    let event = events::TitleFeesAssessed {
                        contract_id: contract_id.to_string(),
                        unit_id: unit_id.to_string(),
                        project_id: file.project_id.to_string(),
                        customer_id: file.customer_id.map(|c| c.to_string()).unwrap_or_default(),
                        deed_tax: money(tax, &file.currency),
                        registration_fee: money(fee, &file.currency),
                    };
                    cmd.emit(cmd.event("title_file", unit_id), &event).await?;
                    let response = pb::AssessTitleFeesResponse {
                        title_file: Some(answer(cmd.conn(), file).await?),
                    };
                    Ok((response, Subject::new("title_file", unit_id)))
                },
            )
            .await
    }

    pub(super) async fn submit_application(
        &self,
        principal: &Principal,
        req: pb::SubmitApplicationRequest,
    ) -> ServiceResult<pb::SubmitApplicationResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        let receipt = v.text("receipt_number", &req.receipt_number, 100);
        v.finish()?;
        self.commands
            .run(
                principal,
                "SubmitApplication",
                &request_id,
                &req,
                async |cmd| {
                    let (file, contract_id) = locked(cmd.conn(), principal, unit_id).await?;
                    let loaded = store::load(cmd.conn(), file).await?;
                    let building = loaded
                        .file
                        .building_id
                        .map(|b| b.to_string())
                        .unwrap_or_default();
                    may_submit(&loaded.facts())
                        .map_err(|r| r.with("unit_id", unit_id).with("building_id", &building))?;
                    let file = steps::submitted(cmd.conn(), unit_id, &receipt).await?;
                    clocks::meet(cmd.conn(), contract_id, Clock::Submission).await?;
                    let event = events::TitleApplicationSubmitted {
                        contract_id: contract_id.to_string(),
                        unit_id: unit_id.to_string(),
                        receipt_number: receipt.clone(),
                    };
                    cmd.emit(cmd.event("title_file", unit_id), &event).await?;
                    let response = pb::SubmitApplicationResponse {
                        title_file: Some(answer(cmd.conn(), file).await?),
                    };
                    Ok((response, Subject::new("title_file", unit_id)))
                },
            )
            .await
    }

    pub(super) async fn record_deed_issued(
        &self,
        principal: &Principal,
        req: pb::RecordDeedIssuedRequest,
    ) -> ServiceResult<pb::RecordDeedIssuedResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        let number = v.text("deed_number", &req.deed_number, 100);
        let on = v.date("issued_on", &req.issued_on);
        v.finish()?;
        self.commands
            .run(
                principal,
                "RecordDeedIssued",
                &request_id,
                &req,
                async |cmd| {
                    let (file, contract_id) = locked(cmd.conn(), principal, unit_id).await?;
                    if file.submitted_at.is_none() {
                        return Err(Refusal::new(
                            "NOT_SUBMITTED",
                            "no application was submitted to the registry",
                        )
                        .with("unit_id", unit_id)
                        .into());
                    }
                    if file.deed_issued_on.is_some() {
                        return Err(Refusal::new("DEED_ALREADY_ISSUED", "the deed was issued")
                            .with("unit_id", unit_id)
                            .into());
                    }
                    let file = steps::deed_issued(cmd.conn(), unit_id, &number, on).await?;
                    clocks::meet(cmd.conn(), contract_id, Clock::Title).await?;
                    let event = events::TitleDeedIssued {
                        contract_id: contract_id.to_string(),
                        unit_id: unit_id.to_string(),
                        deed_number: number.clone(),
                        issued_on: on.to_string(),
                    };
                    cmd.emit(cmd.event("title_file", unit_id), &event).await?;
                    let response = pb::RecordDeedIssuedResponse {
                        title_file: Some(answer(cmd.conn(), file).await?),
                    };
                    Ok((response, Subject::new("title_file", unit_id)))
                },
            )
            .await
    }

    pub(super) async fn deliver_deed(
        &self,
        principal: &Principal,
        req: pb::DeliverDeedRequest,
    ) -> ServiceResult<pb::DeliverDeedResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        let to_bank = match pb::DeedRecipient::try_from(req.recipient) {
            Ok(pb::DeedRecipient::Bank) => true,
            Ok(pb::DeedRecipient::Owner) => false,
            _ => {
                v.violation("recipient", "must be OWNER or BANK");
                false
            }
        };
        let receipt = v.text("receipt_number", &req.receipt_number, 100);
        v.finish()?;
        self.commands
            .run(principal, "DeliverDeed", &request_id, &req, async |cmd| {
                let (file, contract_id) = locked(cmd.conn(), principal, unit_id).await?;
                let loaded = store::load(cmd.conn(), file).await?;
                may_deliver(&loaded.facts(), to_bank, &loaded.file.lending_bank)
                    .map_err(|r| r.with("unit_id", unit_id))?;
                let to = if to_bank { "bank" } else { "owner" };
                let file = steps::delivered(cmd.conn(), unit_id, to, &receipt).await?;
                let event = events::TitleDeedDelivered {
                    contract_id: contract_id.to_string(),
                    unit_id: unit_id.to_string(),
                    recipient: to.into(),
                    receipt_number: receipt.clone(),
                };
                cmd.emit(cmd.event("title_file", unit_id), &event).await?;
                let response = pb::DeliverDeedResponse {
                    title_file: Some(answer(cmd.conn(), file).await?),
                };
                Ok((response, Subject::new("title_file", unit_id)))
            })
            .await
    }

    pub(super) async fn archive_title_file(
        &self,
        principal: &Principal,
        req: pb::ArchiveTitleFileRequest,
    ) -> ServiceResult<pb::ArchiveTitleFileResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        v.finish()?;
        self.commands
            .run(
                principal,
                "ArchiveTitleFile",
                &request_id,
                &req,
                async |cmd| {
                    let (file, _) = locked(cmd.conn(), principal, unit_id).await?;
                    if file.delivered_at.is_none() {
                        return Err(Refusal::new(
                            "NOT_DELIVERED",
                            "only a delivered deed's file is archived",
                        )
                        .with("unit_id", unit_id)
                        .into());
                    }
                    let file = steps::archived(cmd.conn(), unit_id).await?;
                    let response = pb::ArchiveTitleFileResponse {
                        title_file: Some(answer(cmd.conn(), file).await?),
                    };
                    Ok((response, Subject::new("title_file", unit_id)))
                },
            )
            .await
    }
}
