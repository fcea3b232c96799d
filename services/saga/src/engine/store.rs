//! The coordinator's tables: sagas, their history, commands, timers and parked events.

use anju_kit::ids::{derived_id, new_id};
use anju_messaging::Event;
use anju_proto::events::Envelope;
use chrono::{DateTime, Utc};
use prost::Message;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::{Route, Stored};

#[derive(Clone, Debug, FromRow)]
pub struct SagaRow {
    pub saga_id: Uuid,
    pub tenant_id: Uuid,
    pub flow: String,
    pub saga_key: String,
    pub state: String,
    pub state_data: serde_json::Value,
    pub terminal: bool,
    pub version: i32,
    pub project_id: Option<Uuid>,
}

const COLUMNS: &str =
    "saga_id, tenant_id, flow, saga_key, state, state_data, terminal, version, project_id";

pub async fn lock(
    conn: &mut PgConnection,
    tenant: Uuid,
    flow: &str,
    key: &str,
) -> sqlx::Result<Option<SagaRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from sagas where tenant_id = $1 and flow = $2 and saga_key = $3 for update"
    )))
    .bind(tenant)
    .bind(flow)
    .bind(key)
    .fetch_optional(conn)
    .await
}

pub async fn lock_by_id(conn: &mut PgConnection, saga_id: Uuid) -> sqlx::Result<Option<SagaRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from sagas where saga_id = $1 for update"
    )))
    .bind(saga_id)
    .fetch_optional(conn)
    .await
}

pub async fn create(
    conn: &mut PgConnection,
    tenant: Uuid,
    flow: &str,
    route: &Route,
    t: &Stored,
) -> sqlx::Result<SagaRow> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into sagas (saga_id, tenant_id, flow, state, project_id, saga_key, state_data, terminal, version, deadline)
         values ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9)
         returning {COLUMNS}"
    )))
    .bind(new_id())
    .bind(tenant)
    .bind(flow)
    .bind(t.state_name)
    .bind(route.project_id)
    .bind(&route.key)
    .bind(&t.state)
    .bind(t.terminal)
    .bind(t.deadline)
    .fetch_one(conn)
    .await
}

/// Moves a saga to the transition's state and records everything it implies.
pub async fn advance(
    conn: &mut PgConnection,
    saga: &SagaRow,
    t: &Stored,
    input: &str,
) -> sqlx::Result<SagaRow> {
    let next: SagaRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update sagas set state = $2, state_data = $3, terminal = $4, version = version + 1,
                deadline = case when $4 then null else coalesce($5, deadline) end, updated_at = now()
         where saga_id = $1 returning {COLUMNS}"
    )))
    .bind(saga.saga_id)
    .bind(t.state_name)
    .bind(&t.state)
    .bind(t.terminal)
    .bind(t.deadline)
    .fetch_one(&mut *conn)
    .await?;
    record(conn, &next, t, input).await?;
    Ok(next)
}

/// History line, commands and timers of the transition that brought `saga` to its version.
pub async fn record(
    conn: &mut PgConnection,
    saga: &SagaRow,
    t: &Stored,
    input: &str,
) -> sqlx::Result<()> {
    let mut ids = Vec::with_capacity(t.commands.len());
    let mut services = Vec::with_capacity(t.commands.len());
    let mut methods = Vec::with_capacity(t.commands.len());
    let mut payloads = Vec::with_capacity(t.commands.len());
    let mut sent = Vec::with_capacity(t.commands.len());
    for (index, command) in t.commands.iter().enumerate() {
        // Deterministic: the same step of the same saga always sends the same request id.
        let command_id = derived_id(&format!(
            "saga:{}:v{}:c{}",
            saga.saga_id, saga.version, index
        ));
        let (service, method, payload) = command.encode(&command_id.to_string());
        sent.push(
            serde_json::json!({ "command_id": command_id, "service": service, "method": method }),
        );
        ids.push(command_id);
        services.push(service);
        methods.push(method);
        payloads.push(payload);
    }
    // One round trip: the commands, the history line and, when there are commands, the
    // dispatcher's wake-up (delivered at commit).
    sqlx::query(
        "with commands as (
             insert into saga_commands (command_id, saga_id, tenant_id, service, method, payload)
             select id, $1, $2, service, method, payload
             from unnest($7::uuid[], $8::text[], $9::text[], $10::bytea[]) as c (id, service, method, payload)
             on conflict (command_id) do nothing
         ),
         history as (
             insert into saga_history (saga_id, version, input, state, note, commands)
             values ($1, $3, $4, $5, $6, $11)
         )
         select pg_notify('saga_commands', '') where cardinality($7::uuid[]) > 0",
    )
    .bind(saga.saga_id)
    .bind(saga.tenant_id)
    .bind(saga.version)
    .bind(input)
    .bind(t.state_name)
    .bind(&t.note)
    .bind(&ids)
    .bind(&services)
    .bind(&methods)
    .bind(&payloads)
    .bind(serde_json::Value::Array(sent))
    .execute(&mut *conn)
    .await?;
    for name in &t.cancel_timers {
        sqlx::query(
            "delete from saga_timers where saga_id = $1 and name = $2 and fired_at is null",
        )
        .bind(saga.saga_id)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    }
    for (name, at) in &t.set_timers {
        sqlx::query(
            "insert into saga_timers (saga_id, name, fire_at) values ($1, $2, $3)
             on conflict (saga_id, name) do update set fire_at = excluded.fire_at, fired_at = null",
        )
        .bind(saga.saga_id)
        .bind(name)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    if t.terminal {
        // A finished saga waits for nothing.
        sqlx::query("delete from saga_timers where saga_id = $1 and fired_at is null")
            .bind(saga.saga_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn park(
    conn: &mut PgConnection,
    flow: &str,
    key: &str,
    event: &Event,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into saga_parked_events (tenant_id, flow, saga_key, event_id, subject, envelope)
         values ($1, $2, $3, $4, $5, $6) on conflict do nothing",
    )
    .bind(event.tenant_id)
    .bind(flow)
    .bind(key)
    .bind(event.event_id)
    .bind(&event.subject)
    .bind(event.envelope.encode_to_vec())
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the parked events of a saga, oldest first.
pub async fn unpark(conn: &mut PgConnection, flow: &str, key: &str) -> anyhow::Result<Vec<Event>> {
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "delete from saga_parked_events where flow = $1 and saga_key = $2 returning subject, envelope",
    )
    .bind(flow)
    .bind(key)
    .fetch_all(&mut *conn)
    .await?;
    let mut events = rows
        .into_iter()
        .map(|(subject, bytes)| {
            Event::from_envelope(Envelope::decode(bytes.as_slice())?, subject, 1)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // UUIDv7 event ids sort by creation time.
    events.sort_by_key(|e| e.event_id);
    Ok(events)
}

/// A saga as operators see it.
#[derive(Clone, Debug, FromRow)]
pub struct SagaView {
    pub saga_id: Uuid,
    pub flow: String,
    pub saga_key: String,
    pub state: String,
    pub terminal: bool,
    pub project_id: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
    pub deadline: Option<DateTime<Utc>>,
    pub open_commands: i64,
    pub failed_commands: i64,
}

pub const VIEW: &str = "select s.saga_id, s.flow, s.saga_key, s.state, s.terminal, s.project_id, s.updated_at, s.deadline,
        (select count(*) from saga_commands c where c.saga_id = s.saga_id and c.status in ('pending', 'running')) as open_commands,
        (select count(*) from saga_commands c where c.saga_id = s.saga_id and c.status = 'failed') as failed_commands
    from sagas s";
