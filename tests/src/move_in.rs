//! The move-in journey's shared fixture: a stack's clients as the consultant, the cashier, the
//! handover counter and the operator, and the steps from a sold unit to its keys.

use std::time::Duration;

use anju_kit::Role;
use anju_proto::{
    common::Money,
    finance::{self, finance_service_client::FinanceServiceClient},
    handover::{self as hv, handover_service_client::HandoverServiceClient},
    saga::{self, saga_service_client::SagaServiceClient},
    sales::{self as pb, sales_service_client::SalesServiceClient},
};

use crate::{Authed, TestStack, unit_request, wait_for};

pub const ID: &str = "44030119900101123X";

pub fn cny(minor_units: i64) -> Option<Money> {
    Some(Money {
        minor_units,
        currency: "CNY".into(),
    })
}

pub fn day(offset: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8) + chrono::Duration::days(offset))
        .date_naive()
        .to_string()
}

pub struct MoveIn {
    pub stack: TestStack,
    pub consultant: SalesServiceClient<Authed>,
    pub cashier: FinanceServiceClient<Authed>,
    pub counter: HandoverServiceClient<Authed>,
    pub operator: SagaServiceClient<Authed>,
}

impl MoveIn {
    /// The journey's clients on `stack`.
    pub fn new(stack: TestStack) -> Self {
        Self {
            consultant: stack.sales_as("consultant.li", &[Role::SalesConsultant]),
            cashier: FinanceServiceClient::new(stack.authed_with(
                "finance",
                &anju_testkit::token_for(stack.tenant, "cashier.wu", &[Role::Cashier]),
            )),
            counter: HandoverServiceClient::new(stack.authed("handover", &[Role::CustomerService])),
            operator: SagaServiceClient::new(stack.authed("saga", &[Role::Operator])),
            stack,
        }
    }

    pub async fn charges(&self, unit_id: &str, group: &str, n: usize) -> Vec<finance::Charge> {
        anju_testkit::eventually(
            Duration::from_secs(15),
            &format!("{n} charges in {group}"),
            || {
                let mut cashier = self.cashier.clone();
                let (unit_id, group) = (unit_id.to_string(), group.to_string());
                async move {
                    let charges: Vec<finance::Charge> = cashier
                        .list_charges(finance::ListChargesRequest {
                            unit_id,
                            page: None,
                        })
                        .await?
                        .into_inner()
                        .charges
                        .into_iter()
                        .filter(|c| c.settlement_group.starts_with(&group))
                        .collect();
                    Ok((charges.len() >= n).then_some(charges))
                }
            },
        )
        .await
        .unwrap()
    }

    /// The unit's notices, once handover holds at least `n` (the saga asks for them after its
    /// transitions, so they follow).
    pub async fn notices(&self, unit_id: &str, n: usize) -> Vec<hv::Notice> {
        anju_testkit::eventually(
            Duration::from_secs(15),
            &format!("{n} notices of unit {unit_id}"),
            || {
                let mut counter = self.counter.clone();
                let unit_id = unit_id.to_string();
                async move {
                    let notices = counter
                        .get_handover(hv::GetHandoverRequest { unit_id })
                        .await?
                        .into_inner()
                        .notices;
                    Ok((notices.len() >= n).then_some(notices))
                }
            },
        )
        .await
        .unwrap()
    }

    pub async fn pay_all(&mut self, charges: &[finance::Charge], reference: &str) {
        for (n, charge) in charges.iter().enumerate() {
            self.cashier
                .record_payment(finance::RecordPaymentRequest {
                    request_id: format!("pay-{reference}-{n}"),
                    charge_id: charge.charge_id.clone(),
                    amount: charge.outstanding.clone(),
                    method: finance::PaymentMethod::BankCard as i32,
                    external_reference: format!("{reference}-{n}"),
                    received_on: day(0),
                    cashier_id: String::new(),
                })
                .await
                .unwrap();
        }
    }

    /// A unit sold through subscription and a full-payment contract.
    pub async fn sold_unit(
        &mut self,
        building: &str,
        project: &str,
        number: &str,
        phone: &str,
    ) -> String {
        let mut manager = self.stack.sales_as("manager.zhao", &[Role::SalesManager]);
        let unit = manager
            .register_unit(unit_request(building, number))
            .await
            .unwrap()
            .into_inner()
            .unit
            .unwrap();
        let customer = self
            .consultant
            .record_visit(pb::RecordVisitRequest {
                request_id: format!("visit-{number}"),
                project_id: project.into(),
                phone: phone.into(),
                name: format!("Owner {number}"),
                channel: pb::VisitChannel::WalkIn as i32,
                note: String::new(),
                referrer_phone: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .customer
            .unwrap();
        let subscription = self
            .consultant
            .sign_subscription(pb::SignSubscriptionRequest {
                request_id: format!("sub-{number}"),
                unit_id: unit.unit_id.clone(),
                customer_id: customer.customer_id,
                price: cny(235_000_000),
                small_deposit: cny(5_000_000),
                full_deposit: cny(20_000_000),
                top_up_due_on: day(7),
                id_number: ID.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .subscription
            .unwrap();
        let deposits = self.charges(&unit.unit_id, "subscription:", 2).await;
        self.pay_all(&deposits, &format!("DEP-{number}")).await;
        let consultant = self.consultant.clone();
        wait_for(
            Duration::from_secs(15),
            "the subscription to be confirmed",
            || {
                let mut consultant = consultant.clone();
                let subscription_id = subscription.subscription_id.clone();
                async move {
                    let s = consultant
                        .get_subscription(pb::GetSubscriptionRequest { subscription_id })
                        .await?
                        .into_inner()
                        .subscription
                        .unwrap();
                    Ok(s.status == pb::SubscriptionStatus::Confirmed as i32)
                }
            },
        )
        .await
        .unwrap();
        self.consultant
            .sign_contract(pb::SignContractRequest {
                request_id: format!("contract-{number}"),
                subscription_id: subscription.subscription_id,
                id_number: ID.into(),
                contract_area: unit.forecast_area,
                payment_method: pb::PaymentMethod::FullPayment as i32,
                down_payment: cny(235_000_000),
                down_payment_due_on: day(14),
                instalments: Vec::new(),
                homes_owned: 0,
            })
            .await
            .unwrap();
        // The price paid in full: the contract's saga ends.
        let price = self.charges(&unit.unit_id, "contract:", 1).await;
        self.pay_all(&price, &format!("PRICE-{number}")).await;
        unit.unit_id
    }

    pub async fn handover(&mut self, unit_id: &str) -> hv::Handover {
        self.counter
            .get_handover(hv::GetHandoverRequest {
                unit_id: unit_id.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .handover
            .unwrap()
    }

    /// Waits until the unit's handover satisfies `done`.
    pub async fn wait_handover(&self, unit_id: &str, what: &str, done: fn(&hv::Handover) -> bool) {
        let counter = self.counter.clone();
        wait_for(Duration::from_secs(15), what, || {
            let mut counter = counter.clone();
            let unit_id = unit_id.to_string();
            async move {
                let h = counter
                    .get_handover(hv::GetHandoverRequest { unit_id })
                    .await?
                    .into_inner()
                    .handover
                    .unwrap();
                Ok(done(&h))
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Waits for the coordinator's clearance and for handover's own record of the settled
    /// fees: the two come from separate consumers of finance's event, in either order.
    pub async fn wait_cleared(&self, unit_id: &str) {
        self.wait_handover(unit_id, "the clearance and the settled fees", |h| {
            h.cleared && h.fees_settled
        })
        .await;
    }

    /// Waits for the unit's move-in saga to be in `state`.
    pub async fn saga_state(&self, unit_id: &str, state: &str) {
        let operator = self.operator.clone();
        anju_testkit::eventually(
            Duration::from_secs(15),
            &format!("the move-in of {unit_id} to be {state}"),
            || {
                let mut operator = operator.clone();
                let unit_id = unit_id.to_string();
                async move {
                    let sagas = operator
                        .list_sagas(saga::ListSagasRequest {
                            flow: "move_in".into(),
                            ..Default::default()
                        })
                        .await?
                        .into_inner()
                        .sagas;
                    Ok(sagas
                        .into_iter()
                        .find(|s| s.key == unit_id)
                        .map(|s| s.state)
                        .filter(|s| s == state))
                }
            },
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
                defects,
            })
            .await
            .map(|r| r.into_inner())
    }

    pub async fn release(
        &mut self,
        unit_id: &str,
        request: &str,
    ) -> Result<hv::ReleaseKeysResponse, tonic::Status> {
        self.counter
            .release_keys(hv::ReleaseKeysRequest {
                request_id: request.into(),
                unit_id: unit_id.into(),
                signed_by: "owner-signature-ref".into(),
            })
            .await
            .map(|r| r.into_inner())
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
