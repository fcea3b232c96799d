//! Idempotent commands: a mutating RPC runs inside a [`Command`], which claims the
//! `(tenant, method, caller, request_id)` key in the business transaction, stores the response and
//! an audit row with the effect, and commits them together. A retry with the same request id
//! gets the stored response; the same id with a different request is refused. Two concurrent
//! calls with one id serialize on the key's row: the second waits, then replays the first.
//!
//! A hot command runs as a [`Single`] instead: its effect is one statement on its own (no
//! BEGIN, no COMMIT), which also claims the id and writes the audit row, so the call's writes
//! cost one round trip. Either its claim stores the row the statement returned, and the
//! response is built from that row, the first time and on a replay alike; or its writes are
//! gated by a condition checked in the statement (what the call was decided on is still so),
//! and its claim stores the response as a [`Command`]'s does. When the gate is shut, the call
//! goes on as an [`Attempt`]: in a transaction, claiming its id at the end in the statement
//! that writes its effect (BEGIN, its reads and locks, that statement, COMMIT).
//!
//! A request id is its caller's: the key names the caller ([`Principal::caller`]) and the
//! request's hash covers the caller's scope, so nobody else's call — nor the same caller's
//! with a narrower scope — is ever answered with a stored response.
//!
//! Both find out about a repeat late (the claim collides, or a business check refuses what
//! the first call already did) and then answer with the stored response.

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder, Row, Transaction, postgres::PgRow};

use crate::{
    audit::Subject,
    auth::Principal,
    db::{Writes, is_unique_violation},
    error::{ServiceError, ServiceResult},
};

pub struct Command {
    tx: Transaction<'static, Postgres>,
    principal: Principal,
    method: &'static str,
    request_id: String,
}

/// The outcome of claiming a request id.
pub enum Claim<R> {
    /// First time: do the work in [`Command::tx`], then [`Command::commit`].
    Fresh(Command),
    /// Seen before: the stored response.
    Replay(R),
}

impl Command {
    pub async fn begin<Req: Message, Resp: Message + Default>(
        pool: &PgPool,
        principal: &Principal,
        method: &'static str,
        request_id: &str,
        request: &Req,
    ) -> ServiceResult<Claim<Resp>> {
        let hash = request_hash(request, principal);
        let mut tx = pool.begin().await?;
        let claimed = sqlx::query(
            "insert into idempotency_keys (tenant_id, method, caller, request_id, request_hash, response)
             values ($1, $2, $3, $4, $5, '') on conflict do nothing",
        )
        .bind(principal.tenant_id)
        .bind(method)
        .bind(principal.caller())
        .bind(request_id)
        .bind(&hash)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if claimed {
            return Ok(Claim::Fresh(Command {
                tx,
                principal: principal.clone(),
                method,
                request_id: request_id.to_string(),
            }));
        }
        // The key's row was committed by the call that claimed it (the insert waited for it).
        let response = stored(&mut *tx, principal, method, request_id, &hash)
            .await?
            .ok_or_else(|| {
                ServiceError::Unexpected(anyhow::anyhow!("claimed request id has no row"))
            })?;
        Ok(Claim::Replay(response))
    }

    pub fn tx(&mut self) -> &mut Transaction<'static, Postgres> {
        &mut self.tx
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Stores the response and the audit row (one statement), then commits the whole effect.
    pub async fn commit<Resp: Message>(
        mut self,
        response: &Resp,
        subject: Subject,
    ) -> ServiceResult<()> {
        let mut writes = Writes::new();
        let (tenant, method, caller, request_id) = (
            self.principal.tenant_id,
            self.method,
            self.principal.caller(),
            self.request_id.clone(),
        );
        let bytes = response.encode_to_vec();
        writes.add(|q: &mut QueryBuilder<Postgres>| {
            q.push("update idempotency_keys set response = ")
                .push_bind(bytes)
                .push(" where tenant_id = ")
                .push_bind(tenant)
                .push(" and method = ")
                .push_bind(method)
                .push(" and caller = ")
                .push_bind(caller)
                .push(" and request_id = ")
                .push_bind(request_id);
        });
        audit(
            &mut writes,
            &self.principal,
            self.method,
            &self.request_id,
            subject,
        );
        writes.execute(&mut self.tx).await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// A call under its request id: who made it, to which method, and the hash of its request.
/// What an [`Attempt`] or a [`Single`] claims, audits and checks a repeat against.
struct Call {
    principal: Principal,
    method: &'static str,
    request_id: String,
    hash: Vec<u8>,
}

/// What a claim stores as the answer to a repeat.
enum Answer<'a> {
    /// The encoded response.
    Response(Vec<u8>),
    /// The row the named CTE returns (the response is built from it).
    Row(&'a str),
}

impl Call {
    fn new<Req: Message>(
        principal: &Principal,
        method: &'static str,
        request_id: &str,
        request: &Req,
    ) -> Self {
        Self {
            principal: principal.clone(),
            method,
            request_id: request_id.to_string(),
            hash: request_hash(request, principal),
        }
    }

    /// `insert into idempotency_keys … select <the claim>` and then `from` (as
    /// [`push_audit`]).
    fn push_claim(&self, q: &mut QueryBuilder<Postgres>, answer: Answer<'_>, from: &str) {
        q.push("insert into idempotency_keys (tenant_id, method, caller, request_id, request_hash, response, result) select ");
        let mut values = q.separated(", ");
        values
            .push_bind(self.principal.tenant_id)
            .push_bind(self.method)
            .push_bind(self.principal.caller())
            .push_bind(self.request_id.clone())
            .push_bind(self.hash.clone());
        match answer {
            Answer::Response(bytes) => values.push_bind(bytes).push("null"),
            Answer::Row(cte) => values
                .push("''::bytea")
                .push(format_args!("to_jsonb({cte})")),
        };
        q.push(from);
    }

    /// The claim holding `response` and the audit row about `subject`, as two of `writes`
    /// (gated like the writes added before them, see [`Writes::only_if`]).
    fn claim_and_audit<Resp: Message>(
        &self,
        writes: &mut Writes,
        response: &Resp,
        subject: Subject,
    ) {
        let from = writes.from_condition();
        writes.add(|q: &mut QueryBuilder<Postgres>| {
            self.push_claim(q, Answer::Response(response.encode_to_vec()), &from);
        });
        audit(
            writes,
            &self.principal,
            self.method,
            &self.request_id,
            subject,
        );
    }

    /// The stored response of this call's request id (see [`stored`]).
    async fn stored<Resp: Message + Default>(
        &self,
        conn: impl sqlx::PgExecutor<'_>,
    ) -> ServiceResult<Option<Resp>> {
        stored(
            conn,
            &self.principal,
            self.method,
            &self.request_id,
            &self.hash,
        )
        .await
    }
}

/// The audit row of a call, as one of `writes`.
fn audit(
    writes: &mut Writes,
    principal: &Principal,
    method: &'static str,
    request_id: &str,
    subject: Subject,
) {
    let from = writes.from_condition();
    writes.add(|q: &mut QueryBuilder<Postgres>| {
        push_audit(q, principal, method, request_id, subject, &from);
    });
}

/// `insert into audit_log … select <the row>` and then `from` (empty, or a `from …` that
/// makes the row conditional).
fn push_audit(
    q: &mut QueryBuilder<Postgres>,
    principal: &Principal,
    method: &'static str,
    request_id: &str,
    subject: Subject,
    from: &str,
) {
    q.push("insert into audit_log (audit_id, tenant_id, actor, roles, method, request_id, subject_type, subject_id, detail) select ");
    q.separated(", ")
        .push_bind(crate::ids::new_id())
        .push_bind(principal.tenant_id)
        .push_bind(principal.subject.clone())
        .push_bind(role_names(principal))
        .push_bind(method)
        .push_bind(request_id.to_string())
        .push_bind(subject.kind)
        .push_bind(subject.id)
        .push_bind(subject.detail);
    q.push(from);
}

fn role_names(principal: &Principal) -> Vec<String> {
    principal
        .roles
        .iter()
        .map(|r| r.as_str().to_string())
        .collect()
}

/// The hash a repeat is checked against: the request and the scope it was made in.
fn request_hash<Req: Message>(request: &Req, principal: &Principal) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(request.encode_to_vec());
    hash.update(principal.scope_fingerprint().as_bytes());
    hash.finalize().to_vec()
}

/// A command that claims its request id when it commits (see the module docs), opened by
/// [`Single::into_attempt`] when the one statement wrote nothing. The work runs in
/// [`Attempt::tx`]; every refusal goes through [`Attempt::refused`], and the effect through
/// [`Attempt::commit`].
pub struct Attempt {
    pool: PgPool,
    tx: Transaction<'static, Postgres>,
    call: Call,
}

impl Attempt {
    pub fn tx(&mut self) -> &mut Transaction<'static, Postgres> {
        &mut self.tx
    }

    /// Refuses the call with `err`, unless an earlier call with this request id succeeded:
    /// then its stored response is the answer (a repeat is refused because of what the first
    /// call did, e.g. "unit held", and must answer as the first did).
    pub async fn refused<Resp: Message + Default>(self, err: ServiceError) -> ServiceResult<Resp> {
        let Self { pool, tx, call } = self;
        // Rolling back returns the connection; a broken one is dropped by the pool either way.
        let _ = tx.rollback().await;
        match call.stored(&pool).await? {
            Some(response) => Ok(response),
            None => Err(err),
        }
    }

    /// Runs `writes` with the claim (holding `response`) and the audit row in one statement
    /// and commits. If the request id was claimed meanwhile, everything rolls back and the
    /// stored response answers; another failure of the writes is refused as `failed` maps it.
    pub async fn commit<Resp: Message + Default>(
        mut self,
        mut writes: Writes,
        response: Resp,
        subject: Subject,
        failed: impl FnOnce(sqlx::Error) -> ServiceError,
    ) -> ServiceResult<Resp> {
        self.call.claim_and_audit(&mut writes, &response, subject);
        match writes.execute(&mut self.tx).await {
            Ok(()) => {
                self.tx.commit().await?;
                Ok(response)
            }
            Err(err) if is_unique_violation(&err, "idempotency_keys_pkey") => {
                let err = ServiceError::Aborted(
                    "a call with this request id is in flight, retry the request".into(),
                );
                self.refused(err).await
            }
            Err(err) => {
                let err = failed(err);
                self.refused(err).await
            }
        }
    }
}

/// A command whose effect is one statement on its own (see the module docs), in one of two
/// forms: an effect that returns the row the response is built from ([`Single::returning`]),
/// or [`Writes`] gated by a condition, with a response decided beforehand
/// ([`Single::commit_if`]). When the gated form writes nothing, [`Single::into_attempt`]
/// carries the call on in a transaction.
pub struct Single {
    pool: PgPool,
    call: Call,
}

impl Single {
    pub fn new<Req: Message>(
        pool: &PgPool,
        principal: &Principal,
        method: &'static str,
        request_id: &str,
        request: &Req,
    ) -> Self {
        Self {
            pool: pool.clone(),
            call: Call::new(principal, method, request_id, request),
        }
    }

    /// Runs `effect`: CTEs (after the `with `) of which the last, named `effect`, returns at
    /// most one row of the table `row_type`. When it returns one, the same statement claims
    /// the request id with that row and writes the audit row about `subject`, and the row is
    /// the answer. When the request id was claimed meanwhile, nothing is written and the
    /// stored row answers. `None`: the effect took nothing; the caller finds out why and ends
    /// with [`Single::refused_row`].
    pub async fn returning<R>(
        &self,
        row_type: &'static str,
        subject: Subject,
        effect: impl FnOnce(&mut QueryBuilder<Postgres>),
    ) -> ServiceResult<Option<R>>
    where
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let call = &self.call;
        let mut q = QueryBuilder::new("with ");
        effect(&mut q);
        q.push(", claim as (");
        call.push_claim(&mut q, Answer::Row("effect"), " from effect");
        q.push("), audit as (");
        push_audit(
            &mut q,
            &call.principal,
            call.method,
            &call.request_id,
            subject,
            " from effect",
        );
        q.push(") select * from effect");
        match q.build_query_as::<R>().fetch_optional(&self.pool).await {
            Ok(row) => Ok(row),
            Err(err) if is_unique_violation(&err, "idempotency_keys_pkey") => {
                match self.stored_row(row_type).await? {
                    Some(row) => Ok(Some(row)),
                    // The claim that collided was rolled back since: the caller may retry.
                    None => Err(ServiceError::Aborted(
                        "a call with this request id was in flight, retry the request".into(),
                    )),
                }
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Refuses the call with `err`, unless an earlier call with this request id succeeded:
    /// then its stored row is the answer (as [`Attempt::refused`] does).
    pub async fn refused_row<R>(self, row_type: &'static str, err: ServiceError) -> ServiceResult<R>
    where
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        match self.stored_row(row_type).await? {
            Some(row) => Ok(row),
            None => Err(err),
        }
    }

    /// Runs `writes`, gated by their condition ([`Writes::only_if`]), with the claim holding
    /// `response` and the audit row about `subject` gated by it too, as one statement on its
    /// own. `Some`: the response (or, when the request id was claimed meanwhile, the stored
    /// one). `None`: nothing was written, because the condition did not hold or the statement
    /// failed in the database (a unique key, a trigger's refusal, a deadlock); the caller then
    /// takes a path that finds out which.
    pub async fn commit_if<Resp: Message + Default>(
        &self,
        mut writes: Writes,
        response: Resp,
        subject: Subject,
    ) -> ServiceResult<Option<Resp>> {
        self.call.claim_and_audit(&mut writes, &response, subject);
        let mut conn = self.pool.acquire().await?;
        match writes.execute_if(&mut conn).await {
            Ok(true) => Ok(Some(response)),
            Ok(false) => Ok(None),
            Err(err) if is_unique_violation(&err, "idempotency_keys_pkey") => {
                drop(conn);
                self.call.stored(&self.pool).await
            }
            Err(err) if err.as_database_error().is_some() => {
                tracing::debug!(error = %err, method = self.call.method, "one statement refused, the long way decides");
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The same call as an [`Attempt`], in a transaction of its own: the long way, after
    /// [`Single::commit_if`] wrote nothing.
    pub async fn into_attempt(self) -> ServiceResult<Attempt> {
        Ok(Attempt {
            tx: self.pool.begin().await?,
            pool: self.pool,
            call: self.call,
        })
    }

    /// The row stored by the call that claimed this request id, read back as `row_type`.
    async fn stored_row<R>(&self, row_type: &'static str) -> ServiceResult<Option<R>>
    where
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let call = &self.call;
        // The row type is a table name of the caller's code, never input.
        let sql = format!(
            "select k.request_hash, r.* from idempotency_keys k,
                    jsonb_populate_record(null::{row_type}, k.result) r
             where k.tenant_id = $1 and k.method = $2 and k.caller = $3 and k.request_id = $4"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(call.principal.tenant_id)
            .bind(call.method)
            .bind(call.principal.caller())
            .bind(&call.request_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let stored_hash: Vec<u8> = row.try_get("request_hash")?;
        same_request(&stored_hash, &call.hash)?;
        Ok(Some(R::from_row(&row)?))
    }
}

/// The stored response of a request id, if a call with it committed; refuses an id used for
/// a different request.
async fn stored<Resp: Message + Default>(
    conn: impl sqlx::PgExecutor<'_>,
    principal: &Principal,
    method: &str,
    request_id: &str,
    hash: &[u8],
) -> ServiceResult<Option<Resp>> {
    let row: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "select request_hash, response from idempotency_keys
         where tenant_id = $1 and method = $2 and caller = $3 and request_id = $4",
    )
    .bind(principal.tenant_id)
    .bind(method)
    .bind(principal.caller())
    .bind(request_id)
    .fetch_optional(conn)
    .await?;
    let Some((stored_hash, response)) = row else {
        return Ok(None);
    };
    same_request(&stored_hash, hash)?;
    Resp::decode(response.as_slice())
        .map(Some)
        .map_err(|err| ServiceError::Unexpected(anyhow::Error::new(err).context("stored response")))
}

/// Refuses a request id stored with another request's hash.
fn same_request(stored_hash: &[u8], hash: &[u8]) -> ServiceResult<()> {
    if stored_hash != hash {
        return Err(ServiceError::invalid(
            "request_id",
            "was already used for a different request",
        ));
    }
    Ok(())
}
