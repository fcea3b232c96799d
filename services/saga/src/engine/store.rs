//! The coordinator's tables: sagas, their history, commands, timers and parked events.

use anju_kit::ids::{derived_id, new_id};
use anju_messaging::Event;
use anju_proto::events::Envelope;
use chrono::{DateTime, Utc};
use prost::Message;
use sqlx::{FromRow, PgConnection, Row};
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

/// The commands of a transition as the columns of one insert, with their ids derived from the
/// saga and its version, and the history line's list of them.
struct Outgoing {
    ids: Vec<Uuid>,
    services: Vec<&'static str>,
    methods: Vec<&'static str>,
    payloads: Vec<Vec<u8>>,
    listed: serde_json::Value,
    /// The trace of the transition (the event or call that caused it), which each command's
    /// call continues when the dispatcher sends it.
    traceparent: String,
}

impl Outgoing {
    fn of(saga_id: Uuid, version: i32, t: &Stored) -> Self {
        let mut out = Outgoing {
            ids: Vec::with_capacity(t.commands.len()),
            services: Vec::with_capacity(t.commands.len()),
            methods: Vec::with_capacity(t.commands.len()),
            payloads: Vec::with_capacity(t.commands.len()),
            listed: serde_json::Value::Null,
            traceparent: if t.commands.is_empty() {
                String::new()
            } else {
                anju_kit::telemetry::current_traceparent()
            },
        };
        let mut listed = Vec::with_capacity(t.commands.len());
        for (index, command) in t.commands.iter().enumerate() {
            // Deterministic: the same step of the same saga always sends the same request id.
            let command_id = derived_id(&format!("saga:{saga_id}:v{version}:c{index}"));
            let (service, method, payload) = command.encode(&command_id.to_string());
            listed.push(
                serde_json::json!({ "command_id": command_id, "service": service, "method": method }),
            );
            out.ids.push(command_id);
            out.services.push(service);
            out.methods.push(method);
            out.payloads.push(payload);
        }
        out.listed = serde_json::Value::Array(listed);
        out
    }
}

/// The part of a transition's statement after `saga` (a CTE yielding the saga row at its new
/// version): the commands, the history line and, when there are commands, the dispatcher's
/// wake-up (delivered at commit). Its eight parameters are numbered from `$first`, bound by
/// [`bind_record`].
fn record_ctes(first: usize) -> String {
    let [ids, services, methods, payloads, input, note, listed, trace] =
        std::array::from_fn(|i| format!("${}", first + i));
    format!(
        "commands as (
             insert into saga_commands (command_id, saga_id, tenant_id, service, method, payload, traceparent)
             select c.id, saga.saga_id, saga.tenant_id, c.service, c.method, c.payload, {trace}
             from saga, unnest({ids}::uuid[], {services}::text[], {methods}::text[], {payloads}::bytea[])
                  as c (id, service, method, payload)
             on conflict (command_id) do nothing
         ),
         history as (
             insert into saga_history (saga_id, version, input, state, note, commands)
             select saga.saga_id, saga.version, {input}, saga.state, {note}, {listed} from saga
         ),
         notify as (select pg_notify('saga_commands', '') from saga where cardinality({ids}::uuid[]) > 0)"
    )
}

fn bind_record<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    out: &'q Outgoing,
    input: &'q str,
    t: &'q Stored,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(&out.ids)
        .bind(&out.services)
        .bind(&out.methods)
        .bind(&out.payloads)
        .bind(input)
        .bind(&t.note)
        .bind(&out.listed)
        .bind(&out.traceparent)
}

/// Opens the saga a start event begins, with its first transition, in one statement, and takes
/// the events parked for it (oldest first). `None` when the saga exists already.
pub async fn start(
    conn: &mut PgConnection,
    tenant: Uuid,
    flow: &str,
    route: &Route,
    t: &Stored,
    input: &str,
) -> anyhow::Result<Option<(SagaRow, Vec<Event>)>> {
    let saga_id = new_id();
    let out = Outgoing::of(saga_id, 0, t);
    let sql = format!(
        "with saga as (
             insert into sagas (saga_id, tenant_id, flow, state, project_id, saga_key, state_data, terminal, version, deadline)
             values ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9)
             on conflict (tenant_id, flow, saga_key) do nothing
             returning {COLUMNS}
         ),
         {},
         parked as (
             delete from saga_parked_events p using saga
             where p.flow = $3 and p.saga_key = $6
             returning p.event_id, p.subject, p.envelope
         )
         select {COLUMNS}, (select count(*) from notify) as notified,
                coalesce((select array_agg(subject order by event_id) from parked), '{{}}') as parked_subjects,
                coalesce((select array_agg(envelope order by event_id) from parked), '{{}}') as parked_envelopes
         from saga",
        record_ctes(10)
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(saga_id)
        .bind(tenant)
        .bind(flow)
        .bind(t.state_name)
        .bind(route.project_id)
        .bind(&route.key)
        .bind(&t.state)
        .bind(t.terminal)
        .bind(t.deadline);
    let Some(row) = bind_record(query, &out, input, t)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let saga = SagaRow::from_row(&row)?;
    let subjects: Vec<String> = row.try_get("parked_subjects")?;
    let envelopes: Vec<Vec<u8>> = row.try_get("parked_envelopes")?;
    let parked = subjects
        .into_iter()
        .zip(envelopes)
        .map(|(subject, bytes)| {
            Event::from_envelope(Envelope::decode(bytes.as_slice())?, subject, 1)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    timers(conn, &saga, t).await?;
    Ok(Some((saga, parked)))
}

/// Moves a locked saga to the transition's state and records everything it implies, in one
/// statement (and one more per timer change).
pub async fn advance(
    conn: &mut PgConnection,
    saga: &SagaRow,
    t: &Stored,
    input: &str,
) -> sqlx::Result<SagaRow> {
    let out = Outgoing::of(saga.saga_id, saga.version + 1, t);
    let sql = format!(
        "with saga as (
             update sagas set state = $2, state_data = $3, terminal = $4, version = version + 1,
                    deadline = case when $4 then null else coalesce($5, deadline) end, updated_at = now()
             where saga_id = $1 returning {COLUMNS}
         ),
         {}
         select {COLUMNS}, (select count(*) from notify) as notified from saga",
        record_ctes(6)
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(saga.saga_id)
        .bind(t.state_name)
        .bind(&t.state)
        .bind(t.terminal)
        .bind(t.deadline);
    let row = bind_record(query, &out, input, t)
        .fetch_one(&mut *conn)
        .await?;
    let next = SagaRow::from_row(&row)?;
    timers(conn, &next, t).await?;
    Ok(next)
}

/// The timers a transition sets and cancels; a finished saga waits for nothing.
async fn timers(conn: &mut PgConnection, saga: &SagaRow, t: &Stored) -> sqlx::Result<()> {
    for name in &t.cancel_timers {
        sqlx::query(
            "delete from saga_timers where saga_id = $1 and name = $2 and fired_at is null",
        )
        .bind(saga.saga_id)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    }
    let traceparent = if t.set_timers.is_empty() {
        String::new()
    } else {
        anju_kit::telemetry::current_traceparent()
    };
    for (name, at) in &t.set_timers {
        sqlx::query(
            "insert into saga_timers (saga_id, name, fire_at, traceparent) values ($1, $2, $3, $4)
             on conflict (saga_id, name) do update
                 set fire_at = excluded.fire_at, fired_at = null, traceparent = excluded.traceparent",
        )
        .bind(saga.saga_id)
        .bind(name)
        .bind(at)
        .bind(&traceparent)
        .execute(&mut *conn)
        .await?;
    }
    if t.terminal {
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
