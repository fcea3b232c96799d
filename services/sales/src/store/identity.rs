//! Buyers' identity numbers (PIPL art. 51): stored sealed beside their keyed hash, compared
//! by the hash, published by the hash, never written or returned in clear.

use anju_kit::{
    ServiceError, ServiceResult,
    config::PiiSettings,
    pii::{IdentityKey, Keyring},
};
use sqlx::PgPool;
use uuid::Uuid;

/// The keys identity numbers are hashed and sealed with.
#[derive(Clone, Debug)]
pub struct IdNumbers {
    key: IdentityKey,
    keyring: Keyring,
}

/// An identity number as it is stored: the keyed hash, and the number sealed.
pub struct SealedIdNumber {
    pub hmac: String,
    pub key_id: String,
    pub sealed: Vec<u8>,
}

impl IdNumbers {
    pub fn new(settings: &PiiSettings) -> anyhow::Result<Self> {
        Ok(Self {
            key: IdentityKey::new(settings),
            keyring: Keyring::new(settings)?,
        })
    }

    /// What identity numbers are compared by, here and in the events other services check.
    pub fn hmac(&self, tenant: Uuid, id_number: &str) -> String {
        self.key.hmac(tenant, id_number)
    }

    pub fn seal(&self, tenant: Uuid, id_number: &str) -> ServiceResult<SealedIdNumber> {
        let id_number = anju_kit::pii::normalise_id_number(id_number);
        let sealed = self
            .keyring
            .seal(tenant, &id_number)
            .map_err(ServiceError::Unexpected)?;
        Ok(SealedIdNumber {
            hmac: self.hmac(tenant, &id_number),
            key_id: sealed.key_id,
            sealed: sealed.bytes,
        })
    }
}

/// Tables whose rows earlier releases wrote with the number in clear, and their keys.
const TABLES: [(&str, &str); 2] = [
    ("customers", "customer_id"),
    ("subscriptions", "subscription_id"),
];

/// Rows sealed per transaction.
const BATCH: i64 = 500;

/// Seals every number an earlier release stored in clear and empties its plaintext column.
/// Run at start-up, after the migrations; a row already sealed is not touched, so running it
/// again (another replica, a restart) does nothing.
pub async fn seal_stored(pool: &PgPool, id_numbers: &IdNumbers) -> anyhow::Result<()> {
    for (table, key) in TABLES {
        let mut sealed = 0u64;
        loop {
            let mut tx = pool.begin().await?;
            let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "select {key}, tenant_id, id_number from {table}
                 where id_number is not null order by {key} limit $1 for update"
            )))
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                break;
            }
            for (id, tenant, id_number) in &rows {
                let stored = id_numbers.seal(*tenant, id_number)?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "update {table} set id_number = null, id_number_hmac = $2, id_number_key = $3,
                            id_number_sealed = $4
                     where {key} = $1"
                )))
                .bind(id)
                .bind(&stored.hmac)
                .bind(&stored.key_id)
                .bind(&stored.sealed)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            sealed += rows.len() as u64;
        }
        if sealed > 0 {
            tracing::info!(table, rows = sealed, "identity numbers sealed at rest");
        }
    }
    Ok(())
}
