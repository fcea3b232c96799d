//! The SalesService API: each call is authenticated and authorized by the platform layer,
//! validated before anything is written, scoped to the caller's tenant and projects, and
//! (when it changes state) idempotent by request id and audited.

mod catalogue;
mod customers;
mod deals;
mod import;
mod plan;

use anju_kit::{Principal, ServiceError, paging::Page, validate::Validator};
use anju_messaging::{Outbox, host::Platform};
use anju_proto::{sales as pb, sales::sales_service_server::SalesService};
use sqlx::PgPool;
use tonic::{Request, Response, Status, Streaming};

use crate::{catalogue as store, identity::IdNumbers, inventory};

#[derive(Clone)]
pub struct SalesApi {
    pool: PgPool,
    outbox: Outbox,
    id_numbers: IdNumbers,
}

impl SalesApi {
    pub fn new(platform: &Platform, id_numbers: IdNumbers) -> Self {
        Self {
            pool: platform.pool.clone(),
            outbox: platform.outbox.clone(),
            id_numbers,
        }
    }
}

#[tonic::async_trait]
impl SalesService for SalesApi {
    async fn create_project(
        &self,
        request: Request<pb::CreateProjectRequest>,
    ) -> Result<Response<pb::CreateProjectResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.create_project(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn get_project(
        &self,
        request: Request<pb::GetProjectRequest>,
    ) -> Result<Response<pb::GetProjectResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &request.get_ref().project_id);
        v.finish()?;
        principal.require_project(project_id)?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let project = store::project(&mut conn, principal.tenant_id, project_id).await?;
        Ok(Response::new(pb::GetProjectResponse {
            project: Some(project.into()),
        }))
    }

    async fn list_projects(
        &self,
        request: Request<pb::ListProjectsRequest>,
    ) -> Result<Response<pb::ListProjectsResponse>, Status> {
        let principal = Principal::of(&request)?;
        let page = request.get_ref().page.clone().unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (projects, next_page_token) = store::projects(
            &self.pool,
            principal.tenant_id,
            principal.project_filter(),
            page,
        )
        .await?;
        Ok(Response::new(pb::ListProjectsResponse {
            projects: projects.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn create_building(
        &self,
        request: Request<pb::CreateBuildingRequest>,
    ) -> Result<Response<pb::CreateBuildingResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.create_building(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn register_unit(
        &self,
        request: Request<pb::RegisterUnitRequest>,
    ) -> Result<Response<pb::RegisterUnitResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.register_unit(&principal, request.into_inner()).await?,
        ))
    }

    async fn get_unit(
        &self,
        request: Request<pb::GetUnitRequest>,
    ) -> Result<Response<pb::GetUnitResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let unit_id = v.uuid("unit_id", &request.get_ref().unit_id);
        v.finish()?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let unit = store::unit(&mut conn, principal.tenant_id, unit_id).await?;
        if !principal.can_see_project(unit.project_id) {
            return Err(ServiceError::not_found("unit").into());
        }
        Ok(Response::new(pb::GetUnitResponse {
            unit: Some(unit.into()),
        }))
    }

    async fn list_units(
        &self,
        request: Request<pb::ListUnitsRequest>,
    ) -> Result<Response<pb::ListUnitsResponse>, Status> {
        let principal = Principal::of(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let building_id = v.uuid("building_id", &req.building_id);
        v.finish()?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let building = store::building(&mut conn, principal.tenant_id, building_id).await?;
        if !principal.can_see_project(building.project_id) {
            return Err(ServiceError::not_found("building").into());
        }
        drop(conn);
        let (units, next_page_token) =
            store::units(&self.pool, principal.tenant_id, building_id, page).await?;
        Ok(Response::new(pb::ListUnitsResponse {
            units: units.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn import_units(
        &self,
        request: Request<Streaming<pb::ImportUnitsRequest>>,
    ) -> Result<Response<pb::ImportUnitsResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.import_units(&principal, request.into_inner()).await?,
        ))
    }

    async fn record_visit(
        &self,
        request: Request<pb::RecordVisitRequest>,
    ) -> Result<Response<pb::RecordVisitResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.record_visit(&principal, request.into_inner()).await?,
        ))
    }

    async fn reassign_customer(
        &self,
        request: Request<pb::ReassignCustomerRequest>,
    ) -> Result<Response<pb::ReassignCustomerResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.reassign_customer(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn grade_customer(
        &self,
        request: Request<pb::GradeCustomerRequest>,
    ) -> Result<Response<pb::GradeCustomerResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.grade_customer(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn log_follow_up(
        &self,
        request: Request<pb::LogFollowUpRequest>,
    ) -> Result<Response<pb::LogFollowUpResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.log_follow_up(&principal, request.into_inner()).await?,
        ))
    }

    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::GetCustomerResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let customer_id = v.uuid("customer_id", &request.get_ref().customer_id);
        v.finish()?;
        let customer = crate::customers::get(&self.pool, &principal, customer_id).await?;
        Ok(Response::new(pb::GetCustomerResponse {
            customer: Some(customer.view(&principal)),
        }))
    }

    async fn list_customers_due(
        &self,
        request: Request<pb::ListCustomersDueRequest>,
    ) -> Result<Response<pb::ListCustomersDueResponse>, Status> {
        let principal = Principal::of(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        let due_on = v.optional_date("due_on", &req.due_on);
        v.finish()?;
        principal.require_project(project_id)?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let due_on = due_on.unwrap_or_else(|| chrono::Utc::now().date_naive());
        let (customers, next_page_token) =
            crate::customers::due(&self.pool, &principal, project_id, due_on, page).await?;
        Ok(Response::new(pb::ListCustomersDueResponse {
            customers: customers.into_iter().map(|c| c.view(&principal)).collect(),
            next_page_token,
        }))
    }

    async fn hold_unit(
        &self,
        request: Request<pb::HoldUnitRequest>,
    ) -> Result<Response<pb::HoldUnitResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.hold_unit(&principal, request.into_inner()).await?,
        ))
    }

    async fn release_unit(
        &self,
        request: Request<pb::ReleaseUnitRequest>,
    ) -> Result<Response<pb::ReleaseUnitResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.release_unit(&principal, request.into_inner()).await?,
        ))
    }

    async fn get_sales_board(
        &self,
        request: Request<pb::GetSalesBoardRequest>,
    ) -> Result<Response<pb::GetSalesBoardResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let building_id = v.uuid("building_id", &request.get_ref().building_id);
        v.finish()?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let building = store::building(&mut conn, principal.tenant_id, building_id).await?;
        if !principal.can_see_project(building.project_id) {
            return Err(ServiceError::not_found("building").into());
        }
        let units = inventory::board(&mut conn, principal.tenant_id, building_id).await?;
        let count = |status: &str| units.iter().filter(|u| u.status == status).count() as i32;
        let contracted: Vec<_> = units.iter().filter(|u| u.status == "contracted").collect();
        let currency = units
            .first()
            .map(|u| u.currency.clone())
            .unwrap_or_else(|| "CNY".into());
        let contracted_value = contracted
            .iter()
            .try_fold(0i64, |sum, u| sum.checked_add(u.list_price_minor));
        let contracted_value = contracted_value.ok_or_else(|| {
            ServiceError::Unexpected(anyhow::anyhow!("contracted value overflows"))
        })?;
        Ok(Response::new(pb::GetSalesBoardResponse {
            building_id: building_id.to_string(),
            available: count("available"),
            held: count("held"),
            subscribed: count("subscribed"),
            contracted: count("contracted"),
            contracted_value: Some(anju_proto::common::Money {
                minor_units: contracted_value,
                currency,
            }),
            units: units.into_iter().map(Into::into).collect(),
        }))
    }

    async fn set_project_policy(
        &self,
        request: Request<pb::SetProjectPolicyRequest>,
    ) -> Result<Response<pb::SetProjectPolicyResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.set_project_policy(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn get_project_policy(
        &self,
        request: Request<pb::GetProjectPolicyRequest>,
    ) -> Result<Response<pb::GetProjectPolicyResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &request.get_ref().project_id);
        v.finish()?;
        principal.require_project(project_id)?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let policy = crate::policy::get(&mut conn, principal.tenant_id, project_id).await?;
        Ok(Response::new(pb::GetProjectPolicyResponse {
            policy: Some(policy.into()),
        }))
    }

    async fn sign_subscription(
        &self,
        request: Request<pb::SignSubscriptionRequest>,
    ) -> Result<Response<pb::SignSubscriptionResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.sign_subscription(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn confirm_subscription(
        &self,
        request: Request<pb::ConfirmSubscriptionRequest>,
    ) -> Result<Response<pb::ConfirmSubscriptionResponse>, Status> {
        let principal = Principal::of(&request)?;
        let req = request.into_inner();
        let subscription = self
            .settle_subscription(&principal, &req.request_id, &req.subscription_id, true)
            .await?;
        Ok(Response::new(pb::ConfirmSubscriptionResponse {
            subscription: Some(subscription.into()),
        }))
    }

    async fn lapse_subscription(
        &self,
        request: Request<pb::LapseSubscriptionRequest>,
    ) -> Result<Response<pb::LapseSubscriptionResponse>, Status> {
        let principal = Principal::of(&request)?;
        let req = request.into_inner();
        let subscription = self
            .settle_subscription(&principal, &req.request_id, &req.subscription_id, false)
            .await?;
        Ok(Response::new(pb::LapseSubscriptionResponse {
            subscription: Some(subscription.into()),
        }))
    }

    async fn get_subscription(
        &self,
        request: Request<pb::GetSubscriptionRequest>,
    ) -> Result<Response<pb::GetSubscriptionResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let id = v.uuid("subscription_id", &request.get_ref().subscription_id);
        v.finish()?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let subscription = crate::deals::subscription(&mut conn, principal.tenant_id, id).await?;
        if !principal.can_see_project(subscription.project_id) {
            return Err(ServiceError::not_found("subscription").into());
        }
        Ok(Response::new(pb::GetSubscriptionResponse {
            subscription: Some(subscription.into()),
        }))
    }

    async fn sign_contract(
        &self,
        request: Request<pb::SignContractRequest>,
    ) -> Result<Response<pb::SignContractResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.sign_contract(&principal, request.into_inner()).await?,
        ))
    }

    async fn cancel_contract(
        &self,
        request: Request<pb::CancelContractRequest>,
    ) -> Result<Response<pb::CancelContractResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.cancel_contract(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn get_contract(
        &self,
        request: Request<pb::GetContractRequest>,
    ) -> Result<Response<pb::GetContractResponse>, Status> {
        let principal = Principal::of(&request)?;
        let mut v = Validator::new();
        let id = v.uuid("contract_id", &request.get_ref().contract_id);
        v.finish()?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let contract = crate::deals::contract(&mut conn, principal.tenant_id, id).await?;
        if !principal.can_see_project(contract.project_id) {
            return Err(ServiceError::not_found("contract").into());
        }
        Ok(Response::new(pb::GetContractResponse {
            contract: Some(contract.into()),
        }))
    }

    async fn compute_purchase_plan(
        &self,
        request: Request<pb::ComputePurchasePlanRequest>,
    ) -> Result<Response<pb::ComputePurchasePlanResponse>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(
            self.compute_purchase_plan(&principal, request.into_inner())
                .await?,
        ))
    }
}
