//! The SalesService API: each call is authenticated and authorized by the platform layer,
//! validated before anything is written, scoped to the caller's tenant and projects, and
//! (when it changes state) idempotent by request id and audited.

mod catalogue;
mod contracts;
mod customers;
mod import;
mod plan;
mod policy;
mod subscriptions;

use anju_kit::{Principal, ServiceError, ServiceResult, paging::Page, validate::Validator};
use anju_messaging::{Commands, host::Platform};
use anju_proto::{common, sales as pb, sales::sales_service_server::SalesService};
use sqlx::PgPool;

use crate::{
    domain::deals::Settlement,
    store::{catalogue as store, identity::IdNumbers, inventory},
};

#[derive(Clone)]
pub struct SalesApi {
    pool: PgPool,
    commands: Commands,
    id_numbers: IdNumbers,
}

impl SalesApi {
    pub fn new(platform: &Platform, id_numbers: IdNumbers) -> Self {
        Self {
            pool: platform.pool.clone(),
            commands: Commands::new(platform.pool.clone(), platform.outbox.clone()),
            id_numbers,
        }
    }
}

fn money(minor_units: i64, currency: &str) -> Option<common::Money> {
    Some(common::Money {
        minor_units,
        currency: currency.to_string(),
    })
}

/// An identity number as written on the document: 6–32 letters and digits, upper case.
fn id_number(v: &mut Validator, value: &str) -> String {
    let id = v.text("id_number", value, 32).to_ascii_uppercase();
    v.check(
        id.len() >= 6 && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "id_number",
        "must be 6-32 letters and digits",
    );
    id
}

impl SalesApi {
    async fn get_project(
        &self,
        principal: &Principal,
        req: pb::GetProjectRequest,
    ) -> ServiceResult<pb::GetProjectResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        v.finish()?;
        principal.require_project(project_id)?;
        let mut conn = self.pool.acquire().await?;
        let project = store::project(&mut conn, principal.tenant_id, project_id).await?;
        Ok(pb::GetProjectResponse {
            project: Some(project.into()),
        })
    }

    async fn list_projects(
        &self,
        principal: &Principal,
        req: pb::ListProjectsRequest,
    ) -> ServiceResult<pb::ListProjectsResponse> {
        let page = req.page.clone().unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (projects, next_page_token) = store::projects(
            &self.pool,
            principal.tenant_id,
            principal.project_filter(),
            page,
        )
        .await?;
        Ok(pb::ListProjectsResponse {
            projects: projects.into_iter().map(Into::into).collect(),
            next_page_token,
        })
    }

    async fn get_unit(
        &self,
        principal: &Principal,
        req: pb::GetUnitRequest,
    ) -> ServiceResult<pb::GetUnitResponse> {
        let mut v = Validator::new();
        let unit_id = v.uuid("unit_id", &req.unit_id);
        v.finish()?;
        let mut conn = self.pool.acquire().await?;
        let unit = store::unit(&mut conn, principal.tenant_id, unit_id).await?;
        if !principal.can_see_project(unit.project_id) {
            return Err(ServiceError::not_found("unit"));
        }
        Ok(pb::GetUnitResponse {
            unit: Some(unit.into()),
        })
    }

    async fn list_units(
        &self,
        principal: &Principal,
        req: pb::ListUnitsRequest,
    ) -> ServiceResult<pb::ListUnitsResponse> {
        let mut v = Validator::new();
        let building_id = v.uuid("building_id", &req.building_id);
        v.finish()?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let mut conn = self.pool.acquire().await?;
        let building = store::building(&mut conn, principal.tenant_id, building_id).await?;
        if !principal.can_see_project(building.project_id) {
            return Err(ServiceError::not_found("building"));
        }
        drop(conn);
        let (units, next_page_token) =
            store::units(&self.pool, principal.tenant_id, building_id, page).await?;
        Ok(pb::ListUnitsResponse {
            units: units.into_iter().map(Into::into).collect(),
            next_page_token,
        })
    }

    async fn get_customer(
        &self,
        principal: &Principal,
        req: pb::GetCustomerRequest,
    ) -> ServiceResult<pb::GetCustomerResponse> {
        let mut v = Validator::new();
        let customer_id = v.uuid("customer_id", &req.customer_id);
        v.finish()?;
        let customer = crate::store::customers::get(&self.pool, principal, customer_id).await?;
        Ok(pb::GetCustomerResponse {
            customer: Some(customer.view(principal)),
        })
    }

    async fn list_customers_due(
        &self,
        principal: &Principal,
        req: pb::ListCustomersDueRequest,
    ) -> ServiceResult<pb::ListCustomersDueResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        let due_on = v.optional_date("due_on", &req.due_on);
        v.finish()?;
        principal.require_project(project_id)?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let due_on = due_on.unwrap_or_else(|| chrono::Utc::now().date_naive());
        let (customers, next_page_token) =
            crate::store::customers::due(&self.pool, principal, project_id, due_on, page).await?;
        Ok(pb::ListCustomersDueResponse {
            customers: customers.into_iter().map(|c| c.view(principal)).collect(),
            next_page_token,
        })
    }

    async fn get_sales_board(
        &self,
        principal: &Principal,
        req: pb::GetSalesBoardRequest,
    ) -> ServiceResult<pb::GetSalesBoardResponse> {
        let mut v = Validator::new();
        let building_id = v.uuid("building_id", &req.building_id);
        v.finish()?;
        let mut conn = self.pool.acquire().await?;
        let building = store::building(&mut conn, principal.tenant_id, building_id).await?;
        if !principal.can_see_project(building.project_id) {
            return Err(ServiceError::not_found("building"));
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
        Ok(pb::GetSalesBoardResponse {
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
        })
    }

    async fn get_project_policy(
        &self,
        principal: &Principal,
        req: pb::GetProjectPolicyRequest,
    ) -> ServiceResult<pb::GetProjectPolicyResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        v.finish()?;
        principal.require_project(project_id)?;
        let mut conn = self.pool.acquire().await?;
        let policy = crate::store::policy::get(&mut conn, principal.tenant_id, project_id).await?;
        Ok(pb::GetProjectPolicyResponse {
            policy: Some(policy.into()),
        })
    }

    async fn confirm_subscription(
        &self,
        principal: &Principal,
        req: pb::ConfirmSubscriptionRequest,
    ) -> ServiceResult<pb::ConfirmSubscriptionResponse> {
        let subscription = self
            .settle_subscription(
                principal,
                &req.request_id,
                &req.subscription_id,
                Settlement::Confirm,
            )
            .await?;
        Ok(pb::ConfirmSubscriptionResponse {
            subscription: Some(subscription),
        })
    }

    async fn lapse_subscription(
        &self,
        principal: &Principal,
        req: pb::LapseSubscriptionRequest,
    ) -> ServiceResult<pb::LapseSubscriptionResponse> {
        let subscription = self
            .settle_subscription(
                principal,
                &req.request_id,
                &req.subscription_id,
                Settlement::Lapse,
            )
            .await?;
        Ok(pb::LapseSubscriptionResponse {
            subscription: Some(subscription),
        })
    }

    async fn get_subscription(
        &self,
        principal: &Principal,
        req: pb::GetSubscriptionRequest,
    ) -> ServiceResult<pb::GetSubscriptionResponse> {
        let mut v = Validator::new();
        let id = v.uuid("subscription_id", &req.subscription_id);
        v.finish()?;
        let mut conn = self.pool.acquire().await?;
        let subscription =
            crate::store::deals::subscription(&mut conn, principal.tenant_id, id).await?;
        if !principal.can_see_project(subscription.project_id) {
            return Err(ServiceError::not_found("subscription"));
        }
        Ok(pb::GetSubscriptionResponse {
            subscription: Some(subscription.into()),
        })
    }

    async fn get_contract(
        &self,
        principal: &Principal,
        req: pb::GetContractRequest,
    ) -> ServiceResult<pb::GetContractResponse> {
        let mut v = Validator::new();
        let id = v.uuid("contract_id", &req.contract_id);
        v.finish()?;
        let mut conn = self.pool.acquire().await?;
        let contract = crate::store::deals::contract(&mut conn, principal.tenant_id, id).await?;
        if !principal.can_see_project(contract.project_id) {
            return Err(ServiceError::not_found("contract"));
        }
        Ok(pb::GetContractResponse {
            contract: Some(contract.into()),
        })
    }
}

anju_kit::rpcs! { impl SalesService for SalesApi in pb {
    create_project(CreateProjectRequest) -> CreateProjectResponse;
    get_project(GetProjectRequest) -> GetProjectResponse;
    list_projects(ListProjectsRequest) -> ListProjectsResponse;
    create_building(CreateBuildingRequest) -> CreateBuildingResponse;
    register_unit(RegisterUnitRequest) -> RegisterUnitResponse;
    get_unit(GetUnitRequest) -> GetUnitResponse;
    list_units(ListUnitsRequest) -> ListUnitsResponse;
    record_visit(RecordVisitRequest) -> RecordVisitResponse;
    reassign_customer(ReassignCustomerRequest) -> ReassignCustomerResponse;
    grade_customer(GradeCustomerRequest) -> GradeCustomerResponse;
    log_follow_up(LogFollowUpRequest) -> LogFollowUpResponse;
    get_customer(GetCustomerRequest) -> GetCustomerResponse;
    list_customers_due(ListCustomersDueRequest) -> ListCustomersDueResponse;
    hold_unit(HoldUnitRequest) -> HoldUnitResponse;
    release_unit(ReleaseUnitRequest) -> ReleaseUnitResponse;
    get_sales_board(GetSalesBoardRequest) -> GetSalesBoardResponse;
    set_project_policy(SetProjectPolicyRequest) -> SetProjectPolicyResponse;
    get_project_policy(GetProjectPolicyRequest) -> GetProjectPolicyResponse;
    sign_subscription(SignSubscriptionRequest) -> SignSubscriptionResponse;
    confirm_subscription(ConfirmSubscriptionRequest) -> ConfirmSubscriptionResponse;
    lapse_subscription(LapseSubscriptionRequest) -> LapseSubscriptionResponse;
    get_subscription(GetSubscriptionRequest) -> GetSubscriptionResponse;
    sign_contract(SignContractRequest) -> SignContractResponse;
    cancel_contract(CancelContractRequest) -> CancelContractResponse;
    rescind_contract(RescindContractRequest) -> RescindContractResponse;
    get_contract(GetContractRequest) -> GetContractResponse;
    compute_purchase_plan(ComputePurchasePlanRequest) -> ComputePurchasePlanResponse;
} streams {
    import_units(ImportUnitsRequest) -> ImportUnitsResponse;
} }
