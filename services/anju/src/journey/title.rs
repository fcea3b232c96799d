//! The title steps (DOMAIN.md §6): survey, the area difference settled, the building
//! registered, the owner's documents, fees, application, deed and its delivery.

use anju_proto::{
    common::Area,
    finance, saga,
    title::{self as tt, TitleFile},
};
use tonic::{Code, Status};

use super::{Journey, cny, day, transient};

impl Journey {
    /// Makes a title officer's `call` until title knows the unit (it learns units and
    /// contracts from sales' events): NOT_FOUND and FAILED_PRECONDITION NO_CONTRACT are
    /// waited out, any other answer returned as it is.
    async fn title_call<T, F, Fut>(
        &self,
        what: &str,
        mut call: F,
    ) -> anyhow::Result<Result<T, Status>>
    where
        F: FnMut(tt::title_service_client::TitleServiceClient<crate::client::Authed>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.eventually(what, || {
            let answer = call(self.staff.title_officer.clone());
            async move {
                match answer.await {
                    Err(status) if transient(&status) => Ok(None),
                    Err(status) if status.code() == Code::NotFound => Ok(None),
                    Err(status)
                        if anju_kit::error::refusal_reason(&status).as_deref()
                            == Some("NO_CONTRACT") =>
                    {
                        Ok(None)
                    }
                    answer => Ok(Some(answer.map(tonic::Response::into_inner))),
                }
            }
        })
        .await
    }

    /// Records the unit's measured area (`survey-<unit>` in the journey's run).
    pub async fn survey(&self, unit_id: &str, measured_cm2: i64) -> anyhow::Result<TitleFile> {
        let request = tt::RecordSurveyRequest {
            request_id: self.request_id(&format!("survey-{unit_id}")),
            project_id: self.project_id.clone(),
            unit_id: unit_id.into(),
            measured_area: Some(Area {
                square_centimetres: measured_cm2,
            }),
            surveying_firm: "Shenzhen Real Estate Surveying Co.".into(),
            report_number: format!("SZ-SURVEY-{}", self.run),
        };
        let answer = self
            .title_call("the survey", |mut officer| {
                let request = request.clone();
                async move { officer.record_survey(request).await }
            })
            .await?
            .map_err(|s| anyhow::anyhow!("survey: {:?} {}", s.code(), s.message()))?;
        answer
            .title_file
            .ok_or_else(|| anyhow::anyhow!("no title file"))
    }

    /// The unit's file once its area difference is assessed (title assesses when it knows
    /// both the survey and the contract, whichever comes last).
    pub async fn assessed(&self, unit_id: &str) -> anyhow::Result<TitleFile> {
        self.wait_title(unit_id, "the area difference assessed", |f| {
            f.area.is_some()
        })
        .await
    }

    pub async fn title_file(&self, unit_id: &str) -> anyhow::Result<TitleFile> {
        self.title_call("the title file", |mut officer| {
            let request = tt::GetTitleFileRequest {
                unit_id: unit_id.into(),
            };
            async move { officer.get_title_file(request).await }
        })
        .await?
        .map_err(|s| anyhow::anyhow!("title file: {:?} {}", s.code(), s.message()))?
        .title_file
        .ok_or_else(|| anyhow::anyhow!("no title file"))
    }

    /// Waits until the unit's title file satisfies `done`.
    pub async fn wait_title(
        &self,
        unit_id: &str,
        what: &str,
        done: impl Fn(&TitleFile) -> bool,
    ) -> anyhow::Result<TitleFile> {
        self.eventually(what, || async {
            let file = self.title_file(unit_id).await?;
            Ok(done(&file).then_some(file))
        })
        .await
    }

    /// The project's title files, all or only those whose clocks `filter` names, one page.
    pub async fn title_files(&self, filter: tt::ClockFilter) -> anyhow::Result<Vec<TitleFile>> {
        let request = tt::ListTitleFilesRequest {
            project_id: self.project_id.clone(),
            clocks: filter as i32,
            ..Default::default()
        };
        Ok(self
            .call("the title files", || {
                let mut officer = self.staff.title_officer.clone();
                let request = request.clone();
                async move { officer.list_title_files(request).await }
            })
            .await?
            .title_files)
    }

    /// The title saga of `contract_id` once `done` holds for it.
    pub async fn title_saga(
        &self,
        contract_id: &str,
        what: &str,
        done: impl Fn(&saga::Saga) -> bool,
    ) -> anyhow::Result<saga::GetSagaResponse> {
        self.saga("title", contract_id, what, done).await
    }

    /// The journey's building: completion acceptance filed and initial registration recorded.
    pub async fn register_building(&self) -> anyhow::Result<()> {
        let building = self.building_id.clone();
        let filing = tt::RecordCompletionFilingRequest {
            request_id: self.request_id(&format!("filing-{building}")),
            project_id: self.project_id.clone(),
            building_id: building.clone(),
            filing_number: format!("JG-{}", self.run),
            filed_on: day(0),
        };
        self.title_call("the completion filing", |mut officer| {
            let request = filing.clone();
            async move { officer.record_completion_filing(request).await }
        })
        .await??;
        let registration = tt::RecordInitialRegistrationRequest {
            request_id: self.request_id(&format!("registration-{building}")),
            project_id: self.project_id.clone(),
            building_id: building,
            registration_number: format!("CS-{}", self.run),
            registered_on: day(0),
        };
        self.title_call("the initial registration", |mut officer| {
            let request = registration.clone();
            async move { officer.record_initial_registration(request).await }
        })
        .await??;
        Ok(())
    }

    /// Reviews one checklist item of the unit's documents; the answer as it is.
    pub async fn review(
        &self,
        unit_id: &str,
        item: &str,
        rejected_because: Option<&str>,
        step: &str,
    ) -> anyhow::Result<Result<TitleFile, Status>> {
        let request = tt::ReviewDocumentRequest {
            request_id: self.request_id(&format!("review-{unit_id}-{item}-{step}")),
            unit_id: unit_id.into(),
            item: item.into(),
            accepted: rejected_because.is_none(),
            reason: rejected_because.unwrap_or_default().into(),
        };
        Ok(self
            .title_call("a document review", |mut officer| {
                let request = request.clone();
                async move { officer.review_document(request).await }
            })
            .await?
            .map(|r| r.title_file.unwrap_or_default()))
    }

    /// Every item of the unit's checklist accepted.
    pub async fn documents_accepted(&self, unit_id: &str) -> anyhow::Result<TitleFile> {
        let file = self.title_file(unit_id).await?;
        let mut last = file.clone();
        for document in &file.documents {
            last = self.review(unit_id, &document.item, None, "ok").await??;
        }
        Ok(last)
    }

    /// Deed tax and registration fees assessed, charged by the coordinator and paid.
    pub async fn title_fees_paid(
        &self,
        unit_id: &str,
        deed_tax: i64,
        registration_fee: i64,
    ) -> anyhow::Result<()> {
        let request = tt::AssessTitleFeesRequest {
            request_id: self.request_id(&format!("title-fees-{unit_id}")),
            unit_id: unit_id.into(),
            deed_tax: cny(deed_tax),
            registration_fee: cny(registration_fee),
        };
        self.title_call("the title fees", |mut officer| {
            let request = request.clone();
            async move { officer.assess_title_fees(request).await }
        })
        .await??;
        let fees = self.fees_of(unit_id, ":fees", 2).await?;
        self.pay(&fees, &format!("TITLE-FEES-{unit_id}")).await
    }

    /// The unit's `n` charges in title groups ending with `part` (":area", ":fees").
    pub async fn fees_of(
        &self,
        unit_id: &str,
        part: &str,
        n: usize,
    ) -> anyhow::Result<Vec<finance::Charge>> {
        self.eventually(
            &format!("{n} title charges {part} of {unit_id}"),
            || async {
                let charges = self.charges(unit_id, "title:", 0).await?;
                let found: Vec<_> = charges
                    .into_iter()
                    .filter(|c| c.settlement_group.ends_with(part))
                    .collect();
                Ok((found.len() >= n).then_some(found))
            },
        )
        .await
    }

    /// The area difference's charge (or refund) paid, once the coordinator issued it.
    pub async fn area_difference_paid(&self, unit_id: &str) -> anyhow::Result<finance::Charge> {
        let charge = self.fees_of(unit_id, ":area", 1).await?.remove(0);
        self.pay(std::slice::from_ref(&charge), &format!("AREA-{unit_id}"))
            .await?;
        Ok(charge)
    }

    /// The application submitted (once title learnt the fees are paid) and the deed issued.
    pub async fn deed_issued(&self, unit_id: &str) -> anyhow::Result<TitleFile> {
        let submit = tt::SubmitApplicationRequest {
            request_id: self.request_id(&format!("submit-{unit_id}")),
            unit_id: unit_id.into(),
            receipt_number: format!("REG-{}{}", self.run, &unit_id[unit_id.len() - 6..]),
        };
        // Title learns the fees are paid from finance's event: waited for.
        self.once_ready("the application, once the fees are paid", || {
            let mut officer = self.staff.title_officer.clone();
            let request = submit.clone();
            async move { officer.submit_application(request).await }
        })
        .await?;
        let issued = tt::RecordDeedIssuedRequest {
            request_id: self.request_id(&format!("deed-{unit_id}")),
            unit_id: unit_id.into(),
            deed_number: format!(
                "粤(2027)深圳市不动产权第{}号",
                &unit_id[unit_id.len() - 7..]
            ),
            issued_on: day(0),
        };
        self.title_call("the deed", |mut officer| {
            let request = issued.clone();
            async move { officer.record_deed_issued(request).await }
        })
        .await??
        .title_file
        .ok_or_else(|| anyhow::anyhow!("no title file"))
    }

    /// Hands the unit's deed to `recipient`: the answer as it is.
    pub async fn deliver(
        &self,
        unit_id: &str,
        recipient: tt::DeedRecipient,
    ) -> anyhow::Result<Result<TitleFile, Status>> {
        let deliver = tt::DeliverDeedRequest {
            request_id: self.request_id(&format!("deliver-{unit_id}-{}", recipient.as_str_name())),
            unit_id: unit_id.into(),
            recipient: recipient as i32,
            receipt_number: format!("RCPT-{}", &unit_id[unit_id.len() - 6..]),
        };
        Ok(self
            .title_call("the deed's delivery", |mut officer| {
                let request = deliver.clone();
                async move { officer.deliver_deed(request).await }
            })
            .await?
            .map(|r| r.title_file.unwrap_or_default()))
    }
}
