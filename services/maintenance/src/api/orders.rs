//! A work order's moves that more than one caller makes — classifying it (the warranty
//! decision), assigning it, escalating it to the backup vendor — shared by the RPCs and the
//! clock sweeper, each inside the caller's transaction with the events it publishes: the
//! domain event for the coordinator and dashboards, and the items of the contractors' feeds.

use anju_kit::{ServiceResult, time::ProjectZone};
use anju_messaging::{EventMeta, Outbox};
use anju_proto::events::{PartnerFeedItem, WorkOrderAssigned};
use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    domain::{
        order,
        warranty::{self, Component, Facts, Period},
        work_order::{Clocks, Commitment, Priority},
    },
    store::{self, RepairRequest, map},
};

/// The design life of a building whose warranty was recorded without one.
pub const DEFAULT_DESIGN_LIFE_YEARS: i32 = 50;

/// Where events of one call come from: the tenant, and the request or event behind them.
#[derive(Clone)]
pub struct Origin<'a> {
    pub outbox: &'a Outbox,
    pub tenant: Uuid,
    pub cause: Option<String>,
}

impl Origin<'_> {
    fn meta(&self, aggregate: &'static str, id: impl ToString) -> EventMeta {
        let meta = EventMeta::new(self.tenant, aggregate, id);
        match &self.cause {
            Some(cause) => meta.caused_by_request(cause),
            None => meta,
        }
    }

    /// One item of `contractor`'s feed, on its own subject.
    pub async fn feed(
        &self,
        conn: &mut PgConnection,
        contractor: Uuid,
        item: PartnerFeedItem,
    ) -> ServiceResult<()> {
        let meta = self
            .meta("partner_feed", contractor)
            .partitioned(contractor.simple().to_string());
        self.outbox.append(conn, meta, &item).await?;
        Ok(())
    }
}

/// The feed subject's partition of a contractor.
pub fn feed_partition(contractor: Uuid) -> String {
    contractor.simple().to_string()
}

/// Takes the warranty decision (DOMAIN.md §3.3) on what is known: the component, the building's
/// completion acceptance, the unit's handover, the tenant's promise. Undecided while the
/// component or the acceptance is missing.
pub async fn decide(conn: &mut PgConnection, r: &mut RepairRequest) -> ServiceResult<()> {
    let Some(component) = r.component.as_deref().and_then(Component::parse) else {
        return Ok(());
    };
    let Some(building) = r.building_id else {
        return Ok(());
    };
    let Some((accepted_on, design_life)) =
        map::building_warranty(&mut *conn, r.tenant_id, building).await?
    else {
        r.warranty_decided = false;
        r.warranty_reasons =
            vec!["undecided: the building's completion acceptance is not recorded".into()];
        return Ok(());
    };
    let promised = map::promise(&mut *conn, r.tenant_id, r.project_id, component.name())
        .await?
        .map(|m| Period::Months(m as u32));
    let facts = Facts {
        component,
        completed_on: accepted_on,
        // A common part was handed over to nobody: the contractor's clock alone.
        handed_over_on: match r.unit_id {
            Some(unit) => map::handover_of(&mut *conn, r.tenant_id, unit).await?,
            None => None,
        },
        reported_on: ProjectZone::or_default("").date_of(r.created_at),
        design_life_years: design_life as u32,
        promised,
        owner_caused: r.owner_caused,
    };
    r.decided(&warranty::decide(&facts));
    Ok(())
}

/// Why an order changes hands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    Map,
    Dispatcher,
    Breach,
    Decline,
    /// An unsatisfied follow-up sent the work back.
    Reopen,
}

impl Cause {
    fn name(self) -> &'static str {
        match self {
            Cause::Map => "map",
            Cause::Dispatcher => "dispatcher",
            Cause::Breach => "breach",
            Cause::Decline => "decline",
            Cause::Reopen => "reopen",
        }
    }
}

fn commitment(entry: Option<&map::Responsibility>) -> Commitment {
    let mut c = Commitment::default();
    if let Some(e) = entry {
        c.respond_within = Duration::minutes(e.respond_minutes.into());
        c.on_site_urgent = Duration::minutes(e.on_site_urgent_minutes.into());
        c.on_site_normal = Duration::minutes(e.on_site_normal_minutes.into());
    }
    c
}

/// After a change of priority on an order already assigned: its on-site deadline from the
/// assignment under the new priority, unless the contractor is already on site.
pub async fn reprioritised(conn: &mut PgConnection, r: &mut RepairRequest) -> ServiceResult<()> {
    let (Some(assigned), None) = (r.assigned_at, r.on_site_at) else {
        return Ok(());
    };
    let entry = entry_of(conn, r).await?;
    let priority = if r.priority == "urgent" {
        Priority::Urgent
    } else {
        Priority::Normal
    };
    let by = commitment(entry.as_ref())
        .deadlines(assigned, priority, None)
        .on_site_by;
    if r.on_site_by != Some(by) {
        r.on_site_by = Some(by);
        r.on_site_warned = false;
        r.on_site_breached = false;
    }
    Ok(())
}

/// The map's entry for the order's component and building, if both are known.
pub async fn entry_of(
    conn: &mut PgConnection,
    r: &RepairRequest,
) -> ServiceResult<Option<map::Responsibility>> {
    Ok(match (r.building_id, r.component.as_deref()) {
        (Some(building), Some(component)) => {
            map::of(&mut *conn, r.tenant_id, building, component).await?
        }
        _ => None,
    })
}

/// Gives the order to `to` (clocks restarted from `now` under the map entry's commitment) or
/// back to the dispatchers (`None`); publishes the assignment and the feed items of both
/// contractors concerned.
pub async fn assign(
    conn: &mut PgConnection,
    origin: &Origin<'_>,
    r: &mut RepairRequest,
    to: Option<Uuid>,
    cause: Cause,
    reason: &str,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let entry = entry_of(conn, r).await?;
    let previous = r.contractor_id;
    if matches!(cause, Cause::Breach | Cause::Decline) && to.is_some() && r.escalated_from.is_none()
    {
        r.escalated_from = previous;
    }
    r.contractor_id = to;
    r.backup_vendor_id = entry.as_ref().map(|e| e.backup_vendor_id);
    // The plan's deadline is the developer's, not the contractor's commitment: it stays.
    let old = r.clocks();
    let mut clocks = Clocks {
        warn_before: Duration::seconds(r.warn_before_secs.into()),
        plan_by: old.plan_by,
        plan_at: old.plan_at,
        plan_warned: old.plan_warned,
        plan_breached: old.plan_breached,
        ..Default::default()
    };
    if let Some(_to) = to {
        let priority = if r.priority == "urgent" {
            Priority::Urgent
        } else {
            Priority::Normal
        };
        let deadlines = commitment(entry.as_ref()).deadlines(now, priority, None);
        clocks.respond_by = Some(deadlines.respond_by);
        clocks.on_site_by = Some(deadlines.on_site_by);
        r.assigned_at = Some(now);
        r.assignments += 1;
        r.order_state = order::ASSIGNED.into();
    } else {
        r.order_state = order::UNASSIGNED.into();
    }
    r.set_clocks(&clocks);
    if r.currency.is_none() {
        r.currency = entry.as_ref().map(|e| e.currency.clone());
    }
    store::save_order(conn, r).await?;

    let id = r.repair_request_id;
    let event = WorkOrderAssigned {
        repair_request_id: id.to_string(),
        project_id: r.project_id.to_string(),
        unit_id: r.unit_id.map(|u| u.to_string()).unwrap_or_default(),
        contractor_id: to.map(|c| c.to_string()).unwrap_or_default(),
        previous_contractor_id: previous.map(|c| c.to_string()).unwrap_or_default(),
        cause: cause.name().into(),
        reason: reason.into(),
        assignment: r.assignments,
    };
    origin
        .outbox
        .append(conn, origin.meta("repair_request", id), &event)
        .await?;
    if let Some(previous) = previous.filter(|p| Some(*p) != to) {
        let item = item(r, previous, "reassigned_away", reason, None);
        origin.feed(conn, previous, item).await?;
    }
    if let Some(to) = to {
        let item = item(r, to, "assigned", cause.name(), clocks.respond_by);
        origin.feed(conn, to, item).await?;
    }
    Ok(())
}

/// A feed item about order `r` for `contractor`.
pub fn item(
    r: &RepairRequest,
    contractor: Uuid,
    kind: &str,
    detail: &str,
    due_at: Option<DateTime<Utc>>,
) -> PartnerFeedItem {
    PartnerFeedItem {
        contractor_id: contractor.to_string(),
        kind: kind.into(),
        repair_request_id: r.repair_request_id.to_string(),
        project_id: r.project_id.to_string(),
        detail: detail.into(),
        due_at_unix: due_at.map(|d| d.timestamp()).unwrap_or_default(),
    }
}

/// After a breach or a decline by the order's contractor: to the backup vendor if the
/// contractor is the responsible one (DOMAIN.md §3.5), else — a decline — back to the
/// dispatchers; a breach by anyone else leaves the order where it is. Tells whether it moved.
pub async fn escalate(
    conn: &mut PgConnection,
    origin: &Origin<'_>,
    r: &mut RepairRequest,
    cause: Cause,
    reason: &str,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    let Some(current) = r.contractor_id else {
        return Ok(false);
    };
    let entry = entry_of(conn, r).await?;
    let to = order::escalation(
        current,
        entry.as_ref().map(|e| e.contractor_id),
        entry.as_ref().map(|e| e.backup_vendor_id),
    );
    match (to, cause) {
        (Some(backup), _) => {
            assign(conn, origin, r, Some(backup), cause, reason, now).await?;
            Ok(true)
        }
        (None, Cause::Decline) => {
            assign(conn, origin, r, None, cause, reason, now).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
