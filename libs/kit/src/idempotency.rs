//! Idempotent commands: a mutating RPC runs inside a [`Command`], which claims the
//! `(tenant, method, request_id)` key in the business transaction, stores the response and
//! an audit row with the effect, and commits them together. A retry with the same request id
//! gets the stored response; the same id with a different request is refused. Two concurrent
//! calls with one id serialize on the key's row: the second waits, then replays the first.

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};

use crate::{
    audit::Subject,
    auth::Principal,
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
        let hash = Sha256::digest(request.encode_to_vec()).to_vec();
        let mut tx = pool.begin().await?;
        let claimed = sqlx::query(
            "insert into idempotency_keys (tenant_id, method, request_id, request_hash, response)
             values ($1, $2, $3, $4, '') on conflict do nothing",
        )
        .bind(principal.tenant_id)
        .bind(method)
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
        let (stored_hash, response): (Vec<u8>, Vec<u8>) = sqlx::query_as(
            "select request_hash, response from idempotency_keys
             where tenant_id = $1 and method = $2 and request_id = $3",
        )
        .bind(principal.tenant_id)
        .bind(method)
        .bind(request_id)
        .fetch_one(&mut *tx)
        .await?;
        if stored_hash != hash {
            return Err(ServiceError::invalid(
                "request_id",
                "was already used for a different request",
            ));
        }
        let response = Resp::decode(response.as_slice()).map_err(|err| {
            ServiceError::Unexpected(anyhow::Error::new(err).context("stored response"))
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
        let roles: Vec<String> = self
            .principal
            .roles
            .iter()
            .map(|r| r.as_str().to_string())
            .collect();
        sqlx::query(
            "with stored as (
                 update idempotency_keys set response = $4
                 where tenant_id = $1 and method = $2 and request_id = $3)
             insert into audit_log (audit_id, tenant_id, actor, roles, method, request_id, subject_type, subject_id, detail)
             values ($5, $1, $6, $7, $2, $3, $8, $9, $10)",
        )
        .bind(self.principal.tenant_id)
        .bind(self.method)
        .bind(&self.request_id)
        .bind(response.encode_to_vec())
        .bind(crate::ids::new_id())
        .bind(&self.principal.subject)
        .bind(&roles)
        .bind(subject.kind)
        .bind(&subject.id)
        .bind(&subject.detail)
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(())
    }
}
