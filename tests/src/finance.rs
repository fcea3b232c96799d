//! The finance tests' shared fixture: clients acting as staff or as the saga coordinator,
//! the finance database's row counts and outbox, and the calls most steps make.

use anju_kit::{
    Role,
    auth::{CoordinatorIssuer, TokenIssuer},
    config::DEV_HS256_SECRET,
    error::field_violations,
};
use anju_proto::{
    EventPayload,
    common::Money,
    events::Envelope,
    finance::{self as pb, finance_service_client::FinanceServiceClient},
};
use prost::Message;
use sqlx::PgPool;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::{Authed, TestStack};

pub type Client = FinanceServiceClient<Authed>;

pub fn cny(minor_units: i64) -> Option<Money> {
    Some(Money {
        minor_units,
        currency: "CNY".into(),
    })
}

pub fn minor(money: &Option<Money>) -> i64 {
    money.as_ref().expect("an amount").minor_units
}

pub fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// A client of this test's tenant acting as `subject` with `roles` over every project.
pub fn finance_as(stack: &TestStack, subject: &str, roles: &[Role]) -> Client {
    let token = TokenIssuer::hs256(DEV_HS256_SECRET)
        .staff(stack.tenant, subject, roles)
        .unwrap();
    FinanceServiceClient::new(stack.authed_with("finance", &token))
}

/// The saga coordinator's client, with the coordinator's own credential.
pub fn saga(stack: &TestStack) -> Client {
    let token = CoordinatorIssuer::development()
        .token(stack.tenant)
        .unwrap();
    FinanceServiceClient::new(stack.authed_with("finance", &token))
}

pub async fn finance_db(stack: &TestStack) -> PgPool {
    PgPool::connect(&stack.settings.database_url("finance"))
        .await
        .unwrap()
}

pub async fn count(db: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
        .fetch_one(db)
        .await
        .unwrap()
}

/// Row counts of every table a finance write touches.
pub async fn footprint(db: &PgPool) -> Vec<(&'static str, i64)> {
    let mut counts = Vec::new();
    for table in [
        "charges",
        "payments",
        "refunds",
        "settlement_groups",
        "cashier_days",
        "daily_close_lines",
        "outbox",
        "audit_log",
        "idempotency_keys",
    ] {
        counts.push((table, count(db, table).await));
    }
    counts
}

/// The payloads of type `P` in the finance outbox, oldest first.
pub async fn outbox<P: EventPayload>(db: &PgPool) -> Vec<P> {
    let envelopes: Vec<Vec<u8>> =
        sqlx::query_scalar("select envelope from outbox where event_type = $1 order by position")
            .bind(P::EVENT_TYPE)
            .fetch_all(db)
            .await
            .unwrap();
    envelopes
        .iter()
        .map(|bytes| {
            let envelope = Envelope::decode(bytes.as_slice()).unwrap();
            P::decode(envelope.payload.as_slice()).unwrap()
        })
        .collect()
}

pub fn fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    field_violations(status)
        .into_iter()
        .map(|v| v.field)
        .collect()
}

pub async fn get_charge(client: &mut Client, charge_id: &str) -> pb::Charge {
    client
        .get_charge(pb::GetChargeRequest {
            charge_id: charge_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .charge
        .unwrap()
}

pub async fn issue(client: &mut Client, request: pb::IssueChargeRequest) -> pb::Charge {
    client
        .issue_charge(request)
        .await
        .unwrap()
        .into_inner()
        .charge
        .unwrap()
}

pub fn refused(
    result: Result<tonic::Response<impl std::fmt::Debug>, Status>,
    code: Code,
) -> Status {
    match result {
        Err(status) if status.code() == code => status,
        other => panic!("expected {code:?}, got {other:?}"),
    }
}
