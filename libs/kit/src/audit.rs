//! The audit trail: every state-changing call is recorded in the same transaction as its effect.

use sqlx::PgConnection;

use crate::{auth::Principal, ids::new_id};

/// What a call acted on.
#[derive(Clone, Debug)]
pub struct Subject {
    pub kind: &'static str,
    pub id: String,
    pub detail: serde_json::Value,
}

impl Subject {
    pub fn new(kind: &'static str, id: impl ToString) -> Self {
        Self {
            kind,
            id: id.to_string(),
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

pub async fn record(
    conn: &mut PgConnection,
    principal: &Principal,
    method: &str,
    request_id: &str,
    subject: &Subject,
) -> sqlx::Result<()> {
    let roles: Vec<String> = principal
        .roles
        .iter()
        .map(|r| r.as_str().to_string())
        .collect();
    sqlx::query(
        "insert into audit_log (audit_id, tenant_id, actor, roles, method, request_id, subject_type, subject_id, detail)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(principal.tenant_id)
    .bind(&principal.subject)
    .bind(&roles)
    .bind(method)
    .bind(request_id)
    .bind(subject.kind)
    .bind(&subject.id)
    .bind(&subject.detail)
    .execute(conn)
    .await?;
    Ok(())
}
