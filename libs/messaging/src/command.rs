//! The command pipeline: how every mutating RPC of every service runs.
//!
//! A handler is written in four steps, and only the first and third are its own business:
//!
//! 1. **validate** the request (an [`anju_kit::validate::Validator`]; INVALID_ARGUMENT names
//!    every bad field) and check what the caller may touch — before anything is claimed;
//! 2. **load** what the decision needs, locking rows in the service's documented order;
//! 3. **decide** with a pure function of what was loaded (the service's `domain` module: no
//!    I/O, unit-tested, refusing with an [`anju_kit::Refusal`]);
//! 4. **persist** the decision and [`Effect::emit`] its events.
//!
//! [`Commands::run`] does the rest around steps 2–4: it claims the request id in the
//! transaction (a retry gets the stored response without running the body again), appends
//! the events to the outbox beside the state change, stores the response and the audit row,
//! and commits them together — or, when the body fails, writes nothing at all.
//!
//! Two hot paths are explicit, documented variants of the same pipeline rather than code
//! each handler spells out: [`anju_kit::idempotency::Single`] (the whole effect is one
//! statement, no transaction) and [`anju_kit::idempotency::Attempt`] (the claim is made in
//! the statement that writes the effect). They keep the same guarantees — one effect per
//! request id, its audit row, its stored response — and are used where the benchmark showed
//! the transaction's round trips to matter.

use anju_kit::{
    Principal, ServiceResult,
    audit::Subject,
    idempotency::{Claim, Command},
};
use prost::Message;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use anju_proto::EventPayload;

use crate::{EventMeta, Outbox};

/// The pipeline of one service: its database and its outbox.
#[derive(Clone)]
pub struct Commands {
    pool: PgPool,
    outbox: Outbox,
}

/// What a command's body returns: the response, and the object the audit row names.
pub type Done<Resp> = (Resp, Subject);

impl Commands {
    pub fn new(pool: PgPool, outbox: Outbox) -> Self {
        Self { pool, outbox }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Runs `body` once per `(caller, method, request_id)`: the first call's effect, events,
    /// audit row and response commit together; a retry with the same request gets that
    /// response back; the same id with another request is refused (ALREADY_EXISTS).
    ///
    /// `remembered` is what the idempotency store hashes — the request itself, or a copy with
    /// personal data replaced by its keyed hash.
    pub async fn run<Req, Resp>(
        &self,
        principal: &Principal,
        method: &'static str,
        request_id: &str,
        remembered: &Req,
        body: impl AsyncFnOnce(&mut Effect<'_>) -> ServiceResult<Done<Resp>>,
    ) -> ServiceResult<Resp>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let command =
            match Command::begin(&self.pool, principal, method, request_id, remembered).await? {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        let mut effect = Effect {
            command,
            outbox: &self.outbox,
            request_id,
        };
        let (response, subject) = body(&mut effect).await?;
        effect.command.commit(&response, subject).await?;
        Ok(response)
    }
}

/// A command under way: its transaction, its caller, and the events it emits.
pub struct Effect<'a> {
    command: Command,
    outbox: &'a Outbox,
    request_id: &'a str,
}

impl Effect<'_> {
    /// The command's transaction (everything written here commits with the claim).
    pub fn tx(&mut self) -> &mut Transaction<'static, Postgres> {
        self.command.tx()
    }

    /// The transaction's connection, for store functions.
    pub fn conn(&mut self) -> &mut PgConnection {
        self.command.tx()
    }

    pub fn tenant(&self) -> Uuid {
        self.command.principal().tenant_id
    }

    /// The metadata of an event about `aggregate_type`/`aggregate_id`, caused by this request.
    pub fn event(&self, aggregate_type: &'static str, aggregate_id: impl ToString) -> EventMeta {
        EventMeta::new(self.tenant(), aggregate_type, aggregate_id)
            .caused_by_request(self.request_id)
    }

    /// Appends an event to the outbox, in the command's transaction.
    pub async fn emit<P: EventPayload>(
        &mut self,
        meta: EventMeta,
        payload: &P,
    ) -> ServiceResult<Uuid> {
        let outbox = self.outbox;
        Ok(outbox.append(self.command.tx(), meta, payload).await?)
    }
}
