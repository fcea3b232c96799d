//! Repair requests: logged (classified, decided and assigned from the map on the way), read,
//! listed and reported done with their costs; their close is in [`super::closing`].

use anju_kit::{
    Principal, Role, ServiceResult, audit::Subject, ids::new_id, paging::Page, validate::Validator,
};
use anju_messaging::directory;
use anju_proto::{events, maintenance as pb};
use chrono::{Duration, Utc};

use super::{
    MaintenanceApi, cost_lines,
    orders::{self, Cause, Origin},
    photo_refs, wire,
};
use crate::{
    domain::{
        self, order,
        warranty::{self, Component},
    },
    store::{self, RepairRequest, costs, map},
};

/// How far ahead an appointment may be, and how long its window.
const APPOINTMENT_AHEAD_DAYS: i64 = 60;
const APPOINTMENT_LONGEST_HOURS: i64 = 12;

/// A component named on the wire: one of the closed list, or none for an empty name.
pub(super) fn component(v: &mut Validator, field: &str, name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    match Component::parse(name) {
        Some(c) => Some(c.name().to_string()),
        None => {
            let all: Vec<&str> = warranty::COMPONENTS.iter().map(|(_, n)| *n).collect();
            v.violation(field, format!("must be one of {}", all.join(", ")));
            None
        }
    }
}

impl MaintenanceApi {
    pub(crate) async fn create_repair_request(
        &self,
        principal: &Principal,
        req: pb::CreateRepairRequestRequest,
    ) -> ServiceResult<pb::CreateRepairRequestResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        // A unit, or a common part of a building.
        let common_part = v.optional_text("common_part", &req.common_part, 100);
        let (unit_id, part_building) = match &common_part {
            None => (Some(v.uuid("unit_id", &req.unit_id)), None),
            Some(_) => {
                v.check(
                    req.unit_id.trim().is_empty(),
                    "unit_id",
                    "is empty for a common part",
                );
                (None, Some(v.uuid("building_id", &req.building_id)))
            }
        };
        let source = pb::RepairSource::try_from(req.source)
            .ok()
            .and_then(domain::source_name);
        if source.is_none() {
            v.violation("source", "must be owner, inspection or complaint");
        }
        let category = v.text("category", &req.category, 64);
        let description = v.free_text("description", &req.description, 4000);
        let contractor_id = v.optional_uuid("contractor_id", &req.contractor_id);
        let reference = v
            .optional_text("reference", &req.reference, 200)
            .unwrap_or_default();
        // A complaint's repairs are the coordinator's to open: their reference links them back
        // to the complaint they resolve.
        v.check(
            !reference.starts_with("complaint:") || principal.has(Role::Service),
            "reference",
            "references starting complaint: are the coordinator's",
        );
        // The component named, or the category when it names one (an inspection's defect).
        let component = component(&mut v, "component", &req.component)
            .or_else(|| Component::parse(category.trim()).map(|c| c.name().to_string()));
        let priority = match pb::Priority::try_from(req.priority) {
            Ok(p) => domain::priority_name(p).unwrap_or("normal"),
            Err(_) => {
                v.violation("priority", "must be normal or urgent");
                "normal"
            }
        };
        let owner_name = v
            .optional_text("owner_name", &req.owner_name, 100)
            .unwrap_or_default();
        let owner_phone = if req.owner_phone.trim().is_empty() {
            String::new()
        } else {
            v.phone("owner_phone", &req.owner_phone)
        };
        let now = Utc::now();
        let (from, to) = (
            req.appointment_from
                .as_ref()
                .and_then(anju_kit::time::from_timestamp),
            req.appointment_to
                .as_ref()
                .and_then(anju_kit::time::from_timestamp),
        );
        match (from, to) {
            (None, None) => {}
            (Some(from), Some(to)) => {
                if to <= from || to - from > Duration::hours(APPOINTMENT_LONGEST_HOURS) {
                    v.violation(
                        "appointment_to",
                        format!(
                            "must be after appointment_from, within {APPOINTMENT_LONGEST_HOURS} hours"
                        ),
                    );
                }
                if from < now - Duration::days(1)
                    || from > now + Duration::days(APPOINTMENT_AHEAD_DAYS)
                {
                    v.violation(
                        "appointment_from",
                        format!("must be within the next {APPOINTMENT_AHEAD_DAYS} days"),
                    );
                }
            }
            _ => v.violation(
                "appointment_to",
                "appointment_from and appointment_to go together",
            ),
        }
        let not_to_exceed = req
            .not_to_exceed
            .as_ref()
            .map(|m| v.money("not_to_exceed", Some(m)));
        let customer_id = v
            .optional_text("customer_id", &req.customer_id, 128)
            .unwrap_or_default();
        v.finish()?;
        principal.require_project(project_id)?;
        let building_id = match (unit_id, part_building) {
            (Some(unit), _) => {
                directory::require_unit(&self.pool, principal, project_id, unit).await?;
                map::building_of(&self.pool, unit).await?
            }
            (None, Some(building)) => {
                if !map::building_known(&self.pool, principal.tenant_id, project_id, building)
                    .await?
                {
                    return Err(anju_kit::ServiceError::not_found("building"));
                }
                Some(building)
            }
            (None, None) => unreachable!("validated: a unit or a building"),
        };
        let mut repair = RepairRequest {
            repair_request_id: new_id(),
            tenant_id: principal.tenant_id,
            project_id,
            unit_id,
            common_part,
            source: source.unwrap_or_default().to_string(),
            category,
            description,
            contractor_id: None,
            created_at: now,
            reference,
            status: "open".into(),
            resolution: None,
            closed_at: None,
            completed_at: None,
            component,
            building_id,
            priority: priority.into(),
            owner_name,
            owner_phone,
            appointment_from: from,
            appointment_to: to,
            customer_id,
            warranty_decided: false,
            warranty_covered: None,
            warranty_payer: None,
            contractor_until: None,
            buyer_until: None,
            warranty_reasons: Vec::new(),
            owner_caused: false,
            backup_vendor_id: None,
            escalated_from: None,
            assigned_at: None,
            assignments: 0,
            order_state: order::UNASSIGNED.into(),
            respond_by: None,
            on_site_by: None,
            responded_at: None,
            on_site_at: None,
            warn_before_secs: 600,
            respond_warned: false,
            respond_breached: false,
            on_site_warned: false,
            on_site_breached: false,
            not_to_exceed_minor: not_to_exceed.as_ref().map(|(m, _)| *m),
            currency: not_to_exceed.map(|(_, c)| c),
            photo_refs: Vec::new(),
            round: 1,
            follow_up_score: None,
            plan_text: None,
            plan_estimate_minor: None,
            plan_state: None,
            plan_by: None,
            plan_at: None,
            plan_warned: false,
            plan_breached: false,
            breaches: 0,
        };
        let outbox = self.outbox.clone();
        self.commands
            .run(
                principal,
                "CreateRepairRequest",
                &request_id,
                &req,
                async |cmd| {
                    store::insert(cmd.conn(), &repair).await?;
                    let id = repair.repair_request_id;
                    let event = events::RepairRequested {
                        repair_request_id: id.to_string(),
                        project_id: project_id.to_string(),
                        unit_id: unit_id.map(|u| u.to_string()).unwrap_or_default(),
                        source: repair.source.clone(),
                        category: repair.category.clone(),
                        contractor_id: contractor_id.map(|c| c.to_string()).unwrap_or_default(),
                        reference: repair.reference.clone(),
                    };
                    cmd.emit(cmd.event("repair_request", id), &event).await?;
                    let origin = Origin {
                        outbox: &outbox,
                        tenant: principal.tenant_id,
                        cause: Some(request_id.clone()),
                    };
                    orders::decide(cmd.conn(), &mut repair).await?;
                    let responsible = orders::entry_of(cmd.conn(), &repair)
                        .await?
                        .map(|e| e.contractor_id);
                    match (contractor_id, responsible) {
                        (Some(named), _) => {
                            orders::assign(
                                cmd.conn(),
                                &origin,
                                &mut repair,
                                Some(named),
                                Cause::Dispatcher,
                                "named when the request was logged",
                                now,
                            )
                            .await?
                        }
                        (None, Some(responsible)) => {
                            orders::assign(
                                cmd.conn(),
                                &origin,
                                &mut repair,
                                Some(responsible),
                                Cause::Map,
                                "",
                                now,
                            )
                            .await?
                        }
                        (None, None) => store::save_order(cmd.conn(), &repair).await?,
                    }
                    let response = pb::CreateRepairRequestResponse {
                        repair_request: Some(wire::one(cmd.conn(), repair).await?),
                    };
                    Ok((response, Subject::new("repair_request", id)))
                },
            )
            .await
    }

    pub(crate) async fn get_repair_request(
        &self,
        principal: &Principal,
        req: pb::GetRepairRequestRequest,
    ) -> ServiceResult<pb::GetRepairRequestResponse> {
        let mut v = Validator::new();
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        v.finish()?;
        let repair = store::visible(&self.pool, principal, id).await?;
        let mut conn = self.pool.acquire().await?;
        Ok(pb::GetRepairRequestResponse {
            repair_request: Some(wire::one(&mut conn, repair).await?),
        })
    }

    pub(crate) async fn complete_work_order(
        &self,
        principal: &Principal,
        req: pb::CompleteWorkOrderRequest,
    ) -> ServiceResult<pb::CompleteWorkOrderResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let id = v.uuid("repair_request_id", &req.repair_request_id);
        let resolution = v.free_text("resolution", &req.resolution, 4000);
        let lines = cost_lines(&mut v, &req.cost_lines);
        let photos = photo_refs(&mut v, &req.photo_refs);
        v.finish()?;
        let by_partner = principal.has(Role::Contractor);
        self.commands
            .run(
                principal,
                "CompleteWorkOrder",
                &request_id,
                &req,
                async |cmd| {
                    let open = store::visible_for_update(cmd.conn(), principal, id).await?;
                    domain::complete(id, &open.status)?;
                    order::may_complete(id, &open.order_state, by_partner)?;
                    let priced: Vec<(i64, String)> = lines
                        .iter()
                        .map(|l| (l.amount_minor, l.currency.clone()))
                        .collect();
                    order::cost_total(&priced, open.currency.as_deref(), open.not_to_exceed_minor)?;
                    costs::add(cmd.conn(), id, open.round, open.contractor_id, &lines).await?;
                    let done = store::complete(cmd.conn(), id, &resolution, &photos).await?;
                    let response = pb::CompleteWorkOrderResponse {
                        repair_request: Some(wire::one(cmd.conn(), done).await?),
                    };
                    Ok((response, Subject::new("repair_request", id)))
                },
            )
            .await
    }

    pub(crate) async fn list_work_orders(
        &self,
        principal: &Principal,
        req: pb::ListWorkOrdersRequest,
    ) -> ServiceResult<pb::ListWorkOrdersResponse> {
        let mut v = Validator::new();
        let filter = store::Filter {
            project_id: v.optional_uuid("project_id", &req.project_id),
            unit_id: v.optional_uuid("unit_id", &req.unit_id),
            reference: v.optional_text("reference", &req.reference, 200),
            contractor_id: v.optional_uuid("contractor_id", &req.contractor_id),
            status: match pb::RepairStatus::try_from(req.status) {
                Ok(pb::RepairStatus::Unspecified) => None,
                Ok(pb::RepairStatus::Open) => Some("open"),
                Ok(pb::RepairStatus::Completed) => Some("completed"),
                Ok(pb::RepairStatus::Closed) => Some("closed"),
                Err(_) => {
                    v.violation("status", "is not a repair status");
                    None
                }
            },
            clock_state: match pb::ClockState::try_from(req.clock_state) {
                Ok(pb::ClockState::Unspecified) => None,
                Ok(pb::ClockState::Warning) => Some("warning"),
                Ok(pb::ClockState::Breached) => Some("breached"),
                _ => {
                    v.violation("clock_state", "filters on warning or breached");
                    None
                }
            },
        };
        v.finish()?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (orders, next_page_token) =
            store::work_orders(&self.pool, principal, &filter, page).await?;
        let mut conn = self.pool.acquire().await?;
        Ok(pb::ListWorkOrdersResponse {
            work_orders: wire::detailed(&mut conn, orders).await?,
            next_page_token,
        })
    }
}
