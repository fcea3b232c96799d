//! Customers and attribution (seed ① step 2, ⑩ 二.1): a customer is identified by phone
//! within a project and belongs to the consultant who first registered them. Another
//! consultant's attempt to register or serve them is refused, naming the owner; only a sales
//! manager moves a customer, with a reason that is logged.

use anju_kit::{Principal, Refusal, Role, ServiceError, ServiceResult, ids::new_id, paging::Page};
use anju_proto::sales as pb;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    domain::{customers::may_serve, privacy},
    store::identity::SealedIdNumber,
};

#[derive(Clone, Debug, FromRow)]
pub struct Customer {
    pub customer_id: Uuid,
    pub project_id: Uuid,
    pub phone: String,
    pub name: String,
    pub consultant: String,
    pub grade: Option<String>,
    pub next_follow_up_on: Option<NaiveDate>,
    pub first_channel: String,
    pub visits: i32,
    pub first_visit_at: DateTime<Utc>,
    /// The keyed hash of the buyer's identity number, once a subscription recorded it.
    pub id_number_hmac: Option<String>,
}

pub const CHANNELS: [(pb::VisitChannel, &str); 6] = [
    (pb::VisitChannel::Hotline, "hotline"),
    (pb::VisitChannel::Expo, "expo"),
    (pb::VisitChannel::WalkIn, "walk_in"),
    (pb::VisitChannel::Promotion, "promotion"),
    (pb::VisitChannel::Referral, "referral"),
    (pb::VisitChannel::Visit, "visit"),
];

pub fn channel_name(channel: i32) -> Option<&'static str> {
    let channel = pb::VisitChannel::try_from(channel).ok()?;
    CHANNELS
        .iter()
        .find(|(c, _)| *c == channel)
        .map(|(_, n)| *n)
}

pub fn grade_name(grade: i32) -> Option<&'static str> {
    match pb::CustomerGrade::try_from(grade).ok()? {
        pb::CustomerGrade::A => Some("A"),
        pb::CustomerGrade::B => Some("B"),
        pb::CustomerGrade::C => Some("C"),
        pb::CustomerGrade::Unspecified => None,
    }
}

impl Customer {
    /// The customer as `principal` may see them: the one way a customer leaves the service.
    pub fn view(self, principal: &Principal) -> pb::Customer {
        let phone = if privacy::sees_full_phone(principal, &self.consultant) {
            self.phone
        } else {
            anju_kit::pii::mask_phone(&self.phone)
        };
        let grade = match self.grade.as_deref() {
            Some("A") => pb::CustomerGrade::A,
            Some("B") => pb::CustomerGrade::B,
            Some("C") => pb::CustomerGrade::C,
            _ => pb::CustomerGrade::Unspecified,
        };
        let channel = CHANNELS
            .iter()
            .find(|(_, n)| *n == self.first_channel)
            .map_or(pb::VisitChannel::Unspecified, |(ch, _)| *ch);
        pb::Customer {
            customer_id: self.customer_id.to_string(),
            project_id: self.project_id.to_string(),
            phone,
            name: self.name,
            consultant: self.consultant,
            grade: grade as i32,
            next_follow_up_on: self
                .next_follow_up_on
                .map(|d| d.to_string())
                .unwrap_or_default(),
            first_channel: channel as i32,
            visits: self.visits,
            first_visit_at: Some(crate::store::catalogue::timestamp(self.first_visit_at)),
        }
    }
}

const COLUMNS: &str = "customer_id, project_id, phone, name, consultant, grade, next_follow_up_on, first_channel, \
                       visits, first_visit_at, id_number_hmac";

/// A visit as reception records it.
pub struct Visit<'a> {
    pub project_id: Uuid,
    pub phone: &'a str,
    pub name: &'a str,
    pub channel: &'static str,
    pub note: &'a str,
    pub referrer_phone: Option<&'a str>,
}

fn owned_elsewhere(consultant: &str) -> ServiceError {
    Refusal::new(
        "CUSTOMER_OF_ANOTHER_CONSULTANT",
        format!(
            "customer belongs to consultant {consultant}; only a sales manager can reassign them"
        ),
    )
    .with("consultant", consultant)
    .into()
}

/// Registers a first visit or logs a returning one; returns the customer and whether it was new.
pub async fn record_visit(
    conn: &mut PgConnection,
    principal: &Principal,
    visit: &Visit<'_>,
) -> ServiceResult<(Customer, bool)> {
    let tenant = principal.tenant_id;
    // Two consultants registering one phone at once: the unique key lets exactly one insert.
    let inserted: Option<Customer> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into customers (customer_id, tenant_id, project_id, phone, name, consultant, first_channel, referrer_phone)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (tenant_id, project_id, phone) do nothing
         returning {COLUMNS}"
    )))
    .bind(new_id())
    .bind(tenant)
    .bind(visit.project_id)
    .bind(visit.phone)
    .bind(visit.name)
    .bind(&principal.subject)
    .bind(visit.channel)
    .bind(visit.referrer_phone)
    .fetch_optional(&mut *conn)
    .await?;
    let (customer, first) = match inserted {
        Some(customer) => (customer, true),
        None => {
            let existing: Customer = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "select {COLUMNS} from customers where tenant_id = $1 and project_id = $2 and phone = $3 for update"
            )))
            .bind(tenant)
            .bind(visit.project_id)
            .bind(visit.phone)
            .fetch_one(&mut *conn)
            .await?;
            if !may_serve(principal, &existing.consultant) {
                return Err(owned_elsewhere(&existing.consultant));
            }
            let updated: Customer = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "update customers set visits = visits + 1 where customer_id = $1 returning {COLUMNS}"
            )))
            .bind(existing.customer_id)
            .fetch_one(&mut *conn)
            .await?;
            (updated, false)
        }
    };
    log(
        conn,
        tenant,
        customer.customer_id,
        "visit",
        &principal.subject,
        Some(visit.channel),
        visit.note,
    )
    .await?;
    Ok((customer, first))
}

pub async fn log(
    conn: &mut PgConnection,
    tenant: Uuid,
    customer_id: Uuid,
    kind: &str,
    consultant: &str,
    channel: Option<&str>,
    note: &str,
) -> ServiceResult<()> {
    sqlx::query(
        "insert into customer_log (entry_id, tenant_id, customer_id, kind, consultant, channel, note)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(tenant)
    .bind(customer_id)
    .bind(kind)
    .bind(consultant)
    .bind(channel)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

/// The customer, locked for update, if `principal` may see it.
pub async fn for_update(
    conn: &mut PgConnection,
    principal: &Principal,
    customer_id: Uuid,
) -> ServiceResult<Customer> {
    let customer: Customer = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from customers where tenant_id = $1 and customer_id = $2 for update"
    )))
    .bind(principal.tenant_id)
    .bind(customer_id)
    .fetch_optional(&mut *conn)
    .await?
    .filter(|c: &Customer| principal.can_see_project(c.project_id))
    .ok_or_else(|| ServiceError::not_found("customer"))?;
    Ok(customer)
}

/// Like [`for_update`], and refused unless `principal` is the owner or a manager.
pub async fn served_by(
    conn: &mut PgConnection,
    principal: &Principal,
    customer_id: Uuid,
) -> ServiceResult<Customer> {
    let customer = for_update(conn, principal, customer_id).await?;
    if !may_serve(principal, &customer.consultant) {
        return Err(owned_elsewhere(&customer.consultant));
    }
    Ok(customer)
}

pub async fn get(
    pool: &PgPool,
    principal: &Principal,
    customer_id: Uuid,
) -> ServiceResult<Customer> {
    let mut conn = pool.acquire().await?;
    let customer: Customer = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from customers where tenant_id = $1 and customer_id = $2"
    )))
    .bind(principal.tenant_id)
    .bind(customer_id)
    .fetch_optional(&mut *conn)
    .await?
    .filter(|c: &Customer| principal.can_see_project(c.project_id))
    .ok_or_else(|| ServiceError::not_found("customer"))?;
    Ok(customer)
}

pub async fn reassign(
    conn: &mut PgConnection,
    principal: &Principal,
    customer_id: Uuid,
    to: &str,
    reason: &str,
) -> ServiceResult<Customer> {
    let customer = for_update(conn, principal, customer_id).await?;
    let updated: Customer = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update customers set consultant = $2 where customer_id = $1 returning {COLUMNS}"
    )))
    .bind(customer_id)
    .bind(to)
    .fetch_one(&mut *conn)
    .await?;
    let note = format!("from {} to {to}: {reason}", customer.consultant);
    log(
        conn,
        principal.tenant_id,
        customer_id,
        "reassign",
        &principal.subject,
        None,
        &note,
    )
    .await?;
    Ok(updated)
}

pub async fn set_grade(
    conn: &mut PgConnection,
    principal: &Principal,
    customer_id: Uuid,
    grade: &str,
    next: Option<NaiveDate>,
) -> ServiceResult<Customer> {
    served_by(conn, principal, customer_id).await?;
    let updated: Customer = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update customers set grade = $2, next_follow_up_on = coalesce($3, next_follow_up_on)
         where customer_id = $1 returning {COLUMNS}"
    )))
    .bind(customer_id)
    .bind(grade)
    .bind(next)
    .fetch_one(&mut *conn)
    .await?;
    log(
        conn,
        principal.tenant_id,
        customer_id,
        "grade",
        &principal.subject,
        None,
        grade,
    )
    .await?;
    Ok(updated)
}

pub async fn follow_up(
    conn: &mut PgConnection,
    principal: &Principal,
    customer_id: Uuid,
    note: &str,
    next: Option<NaiveDate>,
) -> ServiceResult<Customer> {
    served_by(conn, principal, customer_id).await?;
    let updated: Customer = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update customers set next_follow_up_on = $2 where customer_id = $1 returning {COLUMNS}"
    )))
    .bind(customer_id)
    .bind(next)
    .fetch_one(&mut *conn)
    .await?;
    log(
        conn,
        principal.tenant_id,
        customer_id,
        "follow_up",
        &principal.subject,
        None,
        note,
    )
    .await?;
    Ok(updated)
}

/// Customers due for a follow-up on or before `due_on`: a consultant's own; a manager's team.
pub async fn due(
    pool: &PgPool,
    principal: &Principal,
    project_id: Uuid,
    due_on: NaiveDate,
    page: Page,
) -> ServiceResult<(Vec<Customer>, String)> {
    let whole_team = principal.has(Role::SalesManager) || principal.has(Role::Admin);
    let consultant = (!whole_team).then(|| principal.subject.clone());
    let rows: Vec<Customer> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from customers
         where tenant_id = $1 and project_id = $2 and next_follow_up_on <= $3 and customer_id > $4
           and ($5::text is null or consultant = $5)
         order by customer_id limit $6"
    )))
    .bind(principal.tenant_id)
    .bind(project_id)
    .bind(due_on)
    .bind(page.after)
    .bind(consultant)
    .bind(page.fetch_limit())
    .fetch_all(pool)
    .await?;
    Ok(page.finish(rows, |c| c.customer_id))
}

/// Keeps the customer's identity number (sealed, with its keyed hash) the first time a
/// document is shown; a customer's number, once known, is not replaced.
pub async fn record_id_number(
    conn: &mut PgConnection,
    customer_id: Uuid,
    sealed: &SealedIdNumber,
) -> sqlx::Result<()> {
    sqlx::query(
        "update customers set id_number_hmac = $2, id_number_key = $3, id_number_sealed = $4
         where customer_id = $1 and id_number_hmac is null",
    )
    .bind(customer_id)
    .bind(&sealed.hmac)
    .bind(&sealed.key_id)
    .bind(&sealed.sealed)
    .execute(conn)
    .await?;
    Ok(())
}

/// The customer's name, as the contract names the buyer.
pub async fn name(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<String> {
    sqlx::query_scalar("select name from customers where customer_id = $1")
        .bind(customer_id)
        .fetch_one(conn)
        .await
}
