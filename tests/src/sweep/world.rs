//! A small world of one tenant, built through the public RPCs while every successful request
//! is recorded, so the BOLA sweep can replay each as somebody who must not reach its objects.
//! [`World::basic`] is the catalogue, a customer, a charge, a repair, a complaint and a survey;
//! [`World::full`] adds a sale through the coordinator and a handover.

use std::{collections::BTreeMap, time::Duration};

use anju_proto::{common::Money, sales as pb};
use bytes::Bytes;
use prost::Message;
use tonic::{Code, Status};
use uuid::Uuid;

use super::{Caller, Rpc, call, rpcs};
use crate::{TestStack, unit_request};

/// One successful request of the journey: what to replay.
#[derive(Clone, Debug)]
pub struct Captured {
    pub rpc: Rpc,
    pub caller: Caller,
    pub body: Bytes,
}

pub struct World<'a> {
    pub stack: &'a TestStack,
    pub captured: Vec<Captured>,
    /// The world's objects by name (`project`, `unit`, `charge`, …).
    pub ids: BTreeMap<&'static str, String>,
    /// The contractor the world's work order is assigned to.
    pub contractor: Uuid,
    rpcs: Vec<Rpc>,
}

pub fn cny(minor_units: i64) -> Option<Money> {
    Some(Money {
        minor_units,
        currency: "CNY".into(),
    })
}

/// A business date `offset` days from today in project time (UTC+8).
pub fn day(offset: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8) + chrono::Duration::days(offset))
        .date_naive()
        .to_string()
}

impl<'a> World<'a> {
    pub fn new(stack: &'a TestStack) -> Self {
        Self {
            stack,
            captured: Vec::new(),
            ids: BTreeMap::new(),
            contractor: Uuid::now_v7(),
            rpcs: rpcs(),
        }
    }

    pub fn id(&self, name: &str) -> String {
        self.ids
            .get(name)
            .unwrap_or_else(|| panic!("the world has no {name}"))
            .clone()
    }

    /// Calls `short`'s `method` as `caller` of the world's tenant; a success is recorded.
    pub async fn send<Req: Message, Resp: Message + Default>(
        &mut self,
        short: &str,
        method: &str,
        caller: Caller,
        request: &Req,
    ) -> Result<Resp, Status> {
        let rpc = self
            .rpcs
            .iter()
            .find(|r| r.short == short && r.method == method)
            .unwrap_or_else(|| panic!("no rpc {short} {method}"))
            .clone();
        let body = Bytes::from(request.encode_to_vec());
        let token = caller.token(self.stack.tenant, self.contractor);
        let answer = call(self.stack, &rpc, &token, body.clone()).await?;
        self.captured.push(Captured { rpc, caller, body });
        Ok(Resp::decode(answer).expect("a well-formed answer"))
    }

    /// As [`World::send`] as the tenant's admin, and the call must succeed.
    pub async fn admin<Req: Message, Resp: Message + Default>(
        &mut self,
        short: &str,
        method: &str,
        request: Req,
    ) -> Resp {
        self.send(short, method, Caller::Admin, &request)
            .await
            .unwrap_or_else(|status| panic!("{short} {method}: {status:?}"))
    }

    /// Polls an admin read until it answers (a read model learns from events).
    pub async fn admin_eventually<Req: Message + Clone, Resp: Message + Default>(
        &mut self,
        short: &str,
        method: &str,
        request: Req,
        ready: impl Fn(&Resp) -> bool,
    ) -> Resp {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            match self
                .send::<Req, Resp>(short, method, Caller::Admin, &request)
                .await
            {
                Ok(answer) if ready(&answer) => return answer,
                Ok(_) => {
                    self.captured.pop();
                }
                Err(status) if status.code() == Code::NotFound => {}
                Err(status) => panic!("{short} {method}: {status:?}"),
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{short} {method} never answered as expected"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The catalogue, a customer, a charge with a payment and a refund, a work order of the
    /// world's contractor, a complaint and a survey; handover, finance, maintenance and
    /// complaints have learnt the units.
    pub async fn basic(stack: &'a TestStack) -> World<'a> {
        let mut w = World::new(stack);
        let code = format!("SW{}", &Uuid::now_v7().simple().to_string()[24..]).to_uppercase();
        let project: pb::CreateProjectResponse = w
            .admin(
                "sales",
                "CreateProject",
                pb::CreateProjectRequest {
                    request_id: format!("project-{code}"),
                    code: code.clone(),
                    name: format!("Project {code}"),
                    city: "Shenzhen".into(),
                },
            )
            .await;
        let project = project.project.expect("project").project_id;
        w.ids.insert("project", project.clone());
        let building: pb::CreateBuildingResponse = w
            .admin(
                "sales",
                "CreateBuilding",
                pb::CreateBuildingRequest {
                    request_id: format!("building-{code}"),
                    project_id: project.clone(),
                    name: "Tower 1".into(),
                    floors: 30,
                },
            )
            .await;
        let building = building.building.expect("building").building_id;
        w.ids.insert("building", building.clone());
        for (name, number) in [
            ("unit", "0301"),
            ("spare_unit", "0302"),
            ("third_unit", "0303"),
        ] {
            let unit: pb::RegisterUnitResponse = w
                .admin("sales", "RegisterUnit", unit_request(&building, number))
                .await;
            w.ids.insert(name, unit.unit.expect("unit").unit_id);
        }
        let unit = w.id("unit");
        let _: pb::GetProjectResponse = w
            .admin(
                "sales",
                "GetProject",
                pb::GetProjectRequest {
                    project_id: project.clone(),
                },
            )
            .await;
        let _: pb::GetUnitResponse = w
            .admin(
                "sales",
                "GetUnit",
                pb::GetUnitRequest {
                    unit_id: unit.clone(),
                },
            )
            .await;
        let _: pb::ListUnitsResponse = w
            .admin(
                "sales",
                "ListUnits",
                pb::ListUnitsRequest {
                    building_id: building.clone(),
                    ..Default::default()
                },
            )
            .await;
        let _: pb::GetSalesBoardResponse = w
            .admin(
                "sales",
                "GetSalesBoard",
                pb::GetSalesBoardRequest {
                    building_id: building.clone(),
                },
            )
            .await;
        let _: pb::ComputePurchasePlanResponse = w
            .admin(
                "sales",
                "ComputePurchasePlan",
                pb::ComputePurchasePlanRequest {
                    unit_id: unit.clone(),
                    payment_method: pb::PaymentMethod::FullPayment as i32,
                    ..Default::default()
                },
            )
            .await;
        let policy: pb::GetProjectPolicyResponse = w
            .admin(
                "sales",
                "GetProjectPolicy",
                pb::GetProjectPolicyRequest {
                    project_id: project.clone(),
                },
            )
            .await;
        let _: pb::SetProjectPolicyResponse = w
            .admin(
                "sales",
                "SetProjectPolicy",
                pb::SetProjectPolicyRequest {
                    request_id: format!("policy-{code}"),
                    policy: policy.policy,
                },
            )
            .await;
        w.customers(&code).await;
        for service in ["finance", "maintenance", "complaints"] {
            for unit in ["unit", "spare_unit", "third_unit"] {
                stack.until_known(service, &w.id(unit)).await.unwrap();
            }
        }
        w.finance(&code).await;
        w.after_sales(&code).await;
        w
    }

    async fn customers(&mut self, code: &str) {
        let customer: pb::RecordVisitResponse = self
            .admin(
                "sales",
                "RecordVisit",
                pb::RecordVisitRequest {
                    request_id: format!("visit-{code}"),
                    project_id: self.id("project"),
                    phone: "13800000301".into(),
                    name: "Owner 0301".into(),
                    channel: pb::VisitChannel::WalkIn as i32,
                    ..Default::default()
                },
            )
            .await;
        let customer = customer.customer.expect("customer").customer_id;
        self.ids.insert("customer", customer.clone());
        let _: pb::GradeCustomerResponse = self
            .admin(
                "sales",
                "GradeCustomer",
                pb::GradeCustomerRequest {
                    request_id: format!("grade-{code}"),
                    customer_id: customer.clone(),
                    grade: pb::CustomerGrade::A as i32,
                    next_follow_up_on: day(1),
                },
            )
            .await;
        let _: pb::LogFollowUpResponse = self
            .admin(
                "sales",
                "LogFollowUp",
                pb::LogFollowUpRequest {
                    request_id: format!("follow-{code}"),
                    customer_id: customer.clone(),
                    note: "called back".into(),
                    next_follow_up_on: day(2),
                },
            )
            .await;
        let _: pb::ReassignCustomerResponse = self
            .admin(
                "sales",
                "ReassignCustomer",
                pb::ReassignCustomerRequest {
                    request_id: format!("reassign-{code}"),
                    customer_id: customer.clone(),
                    to_consultant: "consultant.chen".into(),
                    reason: "covering".into(),
                },
            )
            .await;
        let _: pb::GetCustomerResponse = self
            .admin(
                "sales",
                "GetCustomer",
                pb::GetCustomerRequest {
                    customer_id: customer.clone(),
                },
            )
            .await;
        let _: pb::ListCustomersDueResponse = self
            .admin(
                "sales",
                "ListCustomersDue",
                pb::ListCustomersDueRequest {
                    project_id: self.id("project"),
                    due_on: day(30),
                    page: None,
                },
            )
            .await;
        let spare = self.id("spare_unit");
        let _: pb::HoldUnitResponse = self
            .admin(
                "sales",
                "HoldUnit",
                pb::HoldUnitRequest {
                    request_id: format!("hold-{code}"),
                    unit_id: spare.clone(),
                    customer_id: customer,
                },
            )
            .await;
        let _: pb::ReleaseUnitResponse = self
            .admin(
                "sales",
                "ReleaseUnit",
                pb::ReleaseUnitRequest {
                    request_id: format!("release-{code}"),
                    unit_id: spare,
                },
            )
            .await;
    }
}
