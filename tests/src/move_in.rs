//! The move-in journey on a [`TestStack`]: the shared journey fixture ([`anju::journey`])
//! with the stack's clients, and the few shapes the move-in tests assert on.

pub use anju::journey::{ID_NUMBER as ID, cny, day};
use anju::journey::{Journey, Staff};
use anju_proto::{
    finance::{self, finance_service_client::FinanceServiceClient},
    handover::{self as hv, handover_service_client::HandoverServiceClient},
    saga::saga_service_client::SagaServiceClient,
    sales::sales_service_client::SalesServiceClient,
};

use crate::{Authed, TestStack};

pub struct MoveIn {
    pub stack: TestStack,
    pub journey: Journey,
    pub consultant: SalesServiceClient<Authed>,
    pub cashier: FinanceServiceClient<Authed>,
    pub counter: HandoverServiceClient<Authed>,
    pub operator: SagaServiceClient<Authed>,
}

impl MoveIn {
    /// The journey's staff on `stack`, in this test's tenant.
    pub fn new(stack: TestStack) -> Self {
        let staff = Staff::new(|service, subject, roles| {
            Ok(stack.authed_with(
                service,
                &anju_testkit::token_for(stack.tenant, subject, roles),
            ))
        })
        .expect("clients");
        Self {
            consultant: staff.consultant.clone(),
            cashier: staff.cashier.clone(),
            counter: staff.counter.clone(),
            operator: staff.operator.clone(),
            journey: Journey::on(staff, "", "", ""),
            stack,
        }
    }

    /// A unit sold through subscription and a full-payment contract, its price paid.
    pub async fn sold_unit(
        &mut self,
        building: &str,
        project: &str,
        number: &str,
        phone: &str,
    ) -> String {
        self.journey.project_id = project.into();
        self.journey.building_id = building.into();
        self.journey.sold_unit(number, phone).await.unwrap()
    }

    pub async fn charges(&self, unit_id: &str, group: &str, n: usize) -> Vec<finance::Charge> {
        self.journey.charges(unit_id, group, n).await.unwrap()
    }

    pub async fn pay_all(&mut self, charges: &[finance::Charge], reference: &str) {
        self.journey.pay(charges, reference).await.unwrap()
    }

    /// The unit's notices, once handover holds at least `n` (the saga asks for them after its
    /// transitions, so they follow).
    pub async fn notices(&self, unit_id: &str, n: usize) -> Vec<hv::Notice> {
        self.journey
            .eventually(&format!("{n} notices of unit {unit_id}"), || async {
                let notices = self.journey.handover(unit_id).await?.notices;
                Ok((notices.len() >= n).then_some(notices))
            })
            .await
            .unwrap()
    }

    pub async fn handover(&mut self, unit_id: &str) -> hv::Handover {
        self.journey
            .handover(unit_id)
            .await
            .unwrap()
            .handover
            .unwrap()
    }

    /// Waits until the unit's handover satisfies `done`.
    pub async fn wait_handover(&self, unit_id: &str, what: &str, done: fn(&hv::Handover) -> bool) {
        self.journey
            .wait_handover(unit_id, what, |r| r.handover.as_ref().is_some_and(done))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    pub async fn wait_cleared(&self, unit_id: &str) {
        self.journey
            .wait_cleared(unit_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Waits for the unit's move-in saga to be in `state`.
    pub async fn saga_state(&self, unit_id: &str, state: &str) {
        self.journey
            .move_in_saga(
                unit_id,
                &format!("the move-in of {unit_id} to be {state}"),
                |s| s.state == state,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    pub async fn inspect(
        &mut self,
        unit_id: &str,
        request: &str,
        defects: Vec<hv::Defect>,
    ) -> Result<hv::RecordInspectionResponse, tonic::Status> {
        self.counter
            .record_inspection(hv::RecordInspectionRequest {
                request_id: request.into(),
                unit_id: unit_id.into(),
                passed: defects.is_empty(),
                refusal_reason: if defects.is_empty() {
                    String::new()
                } else {
                    "defects to repair first".into()
                },
                defects,
                issues: Vec::new(),
            })
            .await
            .map(|r| r.into_inner())
    }

    pub async fn release(
        &mut self,
        unit_id: &str,
        request: &str,
    ) -> Result<hv::ReleaseKeysResponse, tonic::Status> {
        self.journey.release(unit_id, request).await.unwrap()
    }
}

pub fn defect(room: &str, category: &str) -> hv::Defect {
    hv::Defect {
        room: room.into(),
        category: category.into(),
        description: "water stain on the ceiling".into(),
        severity: "major".into(),
        photo_refs: vec!["photo://inspection/1.jpg".into()],
    }
}
