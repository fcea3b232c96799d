//! The world's title, from the survey the basic world recorded to the archived deed: the
//! project's policy, the building's filing and registration, the area difference and the fees
//! paid, the documents, the application, the deed and its delivery.

use std::time::Duration;

use anju_proto::title as tt;
use tonic::Code;

use super::{
    Caller,
    world::{World, cny, day},
};

impl World<'_> {
    pub(super) async fn title(&mut self, code: &str) {
        let (project, building, unit) = (self.id("project"), self.id("building"), self.id("unit"));
        let contract = self.id("contract");
        let policy: tt::GetTitlePolicyResponse = self
            .admin_eventually(
                "title",
                "GetTitlePolicy",
                tt::GetTitlePolicyRequest {
                    project_id: project.clone(),
                },
                |_| true,
            )
            .await;
        let mut policy = policy.policy.expect("policy");
        policy.extra_documents = vec!["household_register".into()];
        let _: tt::SetTitlePolicyResponse = self
            .admin(
                "title",
                "SetTitlePolicy",
                tt::SetTitlePolicyRequest {
                    request_id: format!("title-policy-{code}"),
                    policy: Some(policy),
                },
            )
            .await;
        let _: tt::RecordCompletionFilingResponse = self
            .admin(
                "title",
                "RecordCompletionFiling",
                tt::RecordCompletionFilingRequest {
                    request_id: format!("filing-{code}"),
                    project_id: project.clone(),
                    building_id: building.clone(),
                    filing_number: format!("JG-{code}"),
                    filed_on: day(0),
                },
            )
            .await;
        let _: tt::RecordInitialRegistrationResponse = self
            .admin(
                "title",
                "RecordInitialRegistration",
                tt::RecordInitialRegistrationRequest {
                    request_id: format!("registration-{code}"),
                    project_id: project.clone(),
                    building_id: building.clone(),
                    registration_number: format!("CS-{code}"),
                    registered_on: day(0),
                },
            )
            .await;
        let _: tt::GetBuildingResponse = self
            .admin(
                "title",
                "GetBuilding",
                tt::GetBuildingRequest {
                    building_id: building,
                },
            )
            .await;
        // The basic world surveyed 891,000 cm² against the contract's 890,000: the buyer owes
        // the difference, which the coordinator charges.
        let area = format!("title:{contract}:area");
        self.pay_matching(|g| g == area, 1, "AREA").await;
        let _: tt::NotifyOwnerResponse = self
            .admin(
                "title",
                "NotifyOwner",
                tt::NotifyOwnerRequest {
                    request_id: format!("notify-{code}"),
                    unit_id: unit.clone(),
                    channel: "sms".into(),
                },
            )
            .await;
        let file: tt::GetTitleFileResponse = self
            .admin(
                "title",
                "GetTitleFile",
                tt::GetTitleFileRequest {
                    unit_id: unit.clone(),
                },
            )
            .await;
        for document in file.title_file.expect("file").documents {
            let _: tt::ReviewDocumentResponse = self
                .admin(
                    "title",
                    "ReviewDocument",
                    tt::ReviewDocumentRequest {
                        request_id: format!("review-{}-{code}", document.item),
                        unit_id: unit.clone(),
                        item: document.item,
                        accepted: true,
                        reason: String::new(),
                    },
                )
                .await;
        }
        let _: tt::AssessTitleFeesResponse = self
            .admin(
                "title",
                "AssessTitleFees",
                tt::AssessTitleFeesRequest {
                    request_id: format!("title-fees-{code}"),
                    unit_id: unit.clone(),
                    deed_tax: cny(7_050_000),
                    registration_fee: cny(55_000),
                },
            )
            .await;
        let fees = format!("title:{contract}:fees");
        self.pay_matching(|g| g == fees, 2, "TITLE").await;
        // Title learns the payments from finance's events: the application waits for them.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let answer = self
                .send::<_, tt::SubmitApplicationResponse>(
                    "title",
                    "SubmitApplication",
                    Caller::Admin,
                    &tt::SubmitApplicationRequest {
                        request_id: format!("submit-{code}"),
                        unit_id: unit.clone(),
                        receipt_number: format!("REG-{code}"),
                    },
                )
                .await;
            match answer {
                Ok(_) => break,
                Err(status) if status.code() == Code::FailedPrecondition => {}
                Err(status) => panic!("title SubmitApplication: {status:?}"),
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the application was never accepted"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _: tt::RecordDeedIssuedResponse = self
            .admin(
                "title",
                "RecordDeedIssued",
                tt::RecordDeedIssuedRequest {
                    request_id: format!("deed-{code}"),
                    unit_id: unit.clone(),
                    deed_number: format!("DEED-{code}"),
                    issued_on: day(0),
                },
            )
            .await;
        let _: tt::DeliverDeedResponse = self
            .admin(
                "title",
                "DeliverDeed",
                tt::DeliverDeedRequest {
                    request_id: format!("deliver-{code}"),
                    unit_id: unit.clone(),
                    recipient: tt::DeedRecipient::Owner as i32,
                    receipt_number: format!("R-{code}"),
                },
            )
            .await;
        let _: tt::ArchiveTitleFileResponse = self
            .admin(
                "title",
                "ArchiveTitleFile",
                tt::ArchiveTitleFileRequest {
                    request_id: format!("archive-{code}"),
                    unit_id: unit,
                },
            )
            .await;
        let _: tt::ListTitleFilesResponse = self
            .admin(
                "title",
                "ListTitleFiles",
                tt::ListTitleFilesRequest {
                    project_id: project,
                    ..Default::default()
                },
            )
            .await;
    }
}
