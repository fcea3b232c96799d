//! Signing tokens: development staff tokens (HS256) and the coordinator's own credential.

use anyhow::{Context as _, bail};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use uuid::Uuid;

use super::{Claims, Role};

/// `iss` of the coordinator's tokens; staff verification never accepts it.
pub const INTERNAL_ISSUER: &str = "anju-internal";
/// `aud` of the coordinator's tokens.
pub const INTERNAL_AUDIENCE: &str = "anju-services";
/// How long a coordinator token lives: it is minted per call batch, so minutes suffice.
pub(super) const INTERNAL_TOKEN_TTL_SECONDS: u64 = 300;

/// The development key pair of the coordinator's credential (Ed25519). Production refuses it.
pub const DEV_INTERNAL_PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIOP6WdJyqy+Dk/N1G8CgPQSWtuAM/KaK+ifGU71D3uar
-----END PRIVATE KEY-----
";
pub const DEV_INTERNAL_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEATkyUHtji5i1MLUnEKlVC6LS4nN/wcqsUo31M1N0bNx4=
-----END PUBLIC KEY-----
";

impl Claims {
    /// Claims for `subject` of `tenant` with `roles` over every project, valid for an hour.
    pub fn new(tenant: Uuid, subject: &str, roles: &[Role]) -> Self {
        let now = expiry(0);
        Claims {
            sub: subject.into(),
            tenant: tenant.to_string(),
            roles: roles.to_vec(),
            projects: vec!["*".into()],
            contractor: None,
            exp: now + 3600,
            nbf: None,
            iat: Some(now),
            iss: None,
            aud: None,
        }
    }
}

/// Signs development tokens with the HS256 key (tests, the demo, `anju token`). It never signs
/// the coordinator's role: that comes only from [`CoordinatorIssuer`].
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
}

impl TokenIssuer {
    pub fn hs256(secret: &str) -> Self {
        Self {
            key: EncodingKey::from_secret(secret.as_bytes()),
        }
    }

    pub fn issue(&self, claims: &Claims) -> anyhow::Result<String> {
        if claims.roles.contains(&Role::Service) {
            bail!("the service role is the coordinator's alone: staff tokens cannot carry it");
        }
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.key,
        )?)
    }

    /// A token valid for an hour for `tenant` with `roles` over every project.
    pub fn staff(&self, tenant: Uuid, subject: &str, roles: &[Role]) -> anyhow::Result<String> {
        self.issue(&Claims::new(tenant, subject, roles))
    }
}

/// The saga coordinator's credential: EdDSA tokens carrying only [`Role::Service`], issued by
/// [`INTERNAL_ISSUER`] for [`INTERNAL_AUDIENCE`], valid for minutes. Only the saga service
/// holds the private key; the other services verify with the public half.
#[derive(Clone)]
pub struct CoordinatorIssuer {
    key: EncodingKey,
}

impl CoordinatorIssuer {
    /// From a PKCS#8 PEM Ed25519 private key.
    pub fn from_pem(pem: &[u8]) -> anyhow::Result<Self> {
        Ok(Self {
            key: EncodingKey::from_ed_pem(pem).context("reading the coordinator's Ed25519 key")?,
        })
    }

    /// The development key pair's private half (tests and local runs).
    pub fn development() -> Self {
        Self::from_pem(DEV_INTERNAL_PRIVATE_KEY.as_bytes()).expect("the development key parses")
    }

    /// A token for calls on `tenant`'s behalf over all its projects.
    pub fn token(&self, tenant: Uuid) -> anyhow::Result<String> {
        self.issue(&Claims {
            roles: vec![Role::Service],
            exp: expiry(INTERNAL_TOKEN_TTL_SECONDS),
            ..Claims::new(tenant, "anju-saga", &[])
        })
    }

    /// Signs `claims` as the coordinator; issuer and audience are always the internal ones.
    pub fn issue(&self, claims: &Claims) -> anyhow::Result<String> {
        let claims = Claims {
            iss: Some(INTERNAL_ISSUER.into()),
            aud: Some(INTERNAL_AUDIENCE.into()),
            ..claims.clone()
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &claims,
            &self.key,
        )?)
    }
}

/// Seconds since the epoch, `ttl` from now.
pub fn expiry(ttl_seconds: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    now + ttl_seconds
}
