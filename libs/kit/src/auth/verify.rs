//! Verifying bearer tokens: staff and partner tokens against the identity provider's keys,
//! the coordinator's tokens against its own public key, each on its own path.

use std::{
    fmt,
    sync::{Arc, Mutex, RwLock, Weak},
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, jwk::JwkSet};

use super::{
    Claims, Principal, Role,
    issue::{
        DEV_INTERNAL_PUBLIC_KEY, INTERNAL_AUDIENCE, INTERNAL_ISSUER, INTERNAL_TOKEN_TTL_SECONDS,
    },
};
use crate::config::AuthSettings;

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 60;
/// An unknown `kid` refreshes the JWKS at most this often, so junk tokens cannot make every
/// call fetch it.
const UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(5);
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a token was not accepted.
#[derive(Debug)]
pub enum Refusal {
    /// A staff token claiming the coordinator's role: PERMISSION_DENIED, not a bad token.
    ReservedRole,
    Invalid(anyhow::Error),
}

impl From<anyhow::Error> for Refusal {
    fn from(err: anyhow::Error) -> Self {
        Self::Invalid(err)
    }
}

type KeyList = Arc<Vec<(Option<String>, DecodingKey, Algorithm)>>;

/// Verifies bearer tokens with the configured keys.
pub struct Authenticator {
    /// HS256 (development) and RS256 PEM keys: fixed for the process's life.
    fixed: KeyList,
    jwks: Option<Jwks>,
    internal: DecodingKey,
    issuer: Option<String>,
    audience: Option<String>,
    max_lifetime: u64,
}

/// A JWKS document, re-read on a timer and when a token names a key it does not hold.
struct Jwks {
    source: String,
    keys: RwLock<KeyList>,
    last_refresh: Mutex<Instant>,
    every: Duration,
    client: reqwest::Client,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.fixed.len())
            .field("jwks", &self.jwks.as_ref().map(|j| &j.source))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl Authenticator {
    /// Builds the verifier from settings; a JWKS is fetched here and then kept fresh by
    /// [`Authenticator::keep_fresh`].
    pub async fn from_settings(settings: &AuthSettings) -> anyhow::Result<Self> {
        let mut fixed = Vec::new();
        if let Some(secret) = &settings.hs256_secret {
            fixed.push((
                None,
                DecodingKey::from_secret(secret.expose().as_bytes()),
                Algorithm::HS256,
            ));
        }
        if let Some(path) = &settings.rs256_public_key_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading RS256 public key {}", path.display()))?;
            fixed.push((None, DecodingKey::from_rsa_pem(&pem)?, Algorithm::RS256));
        }
        let jwks = match &settings.jwks {
            Some(source) => {
                let client = reqwest::Client::builder()
                    .timeout(JWKS_FETCH_TIMEOUT)
                    .build()?;
                let keys = fetch_jwks(&client, source).await?;
                Some(Jwks {
                    source: source.clone(),
                    keys: RwLock::new(Arc::new(keys)),
                    // The first unknown `kid` may refresh at once.
                    last_refresh: Mutex::new(
                        Instant::now()
                            .checked_sub(UNKNOWN_KID_REFRESH)
                            .unwrap_or_else(Instant::now),
                    ),
                    every: Duration::from_secs(settings.jwks_refresh_seconds.max(1)),
                    client,
                })
            }
            None => None,
        };
        if fixed.is_empty() && jwks.is_none() {
            bail!("no verification key configured");
        }
        let internal_pem = match &settings.internal_public_key_file {
            Some(path) => std::fs::read(path).with_context(|| {
                format!("reading the coordinator's public key {}", path.display())
            })?,
            None => DEV_INTERNAL_PUBLIC_KEY.as_bytes().to_vec(),
        };
        Ok(Self {
            fixed: Arc::new(fixed),
            jwks,
            internal: DecodingKey::from_ed_pem(&internal_pem)
                .context("parsing the coordinator's Ed25519 public key")?,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            max_lifetime: settings.max_token_lifetime_seconds,
        })
    }

    /// Re-reads the JWKS every `jwks_refresh_seconds` while this authenticator lives.
    pub fn keep_fresh(self: &Arc<Self>) {
        let Some(every) = self.jwks.as_ref().map(|j| j.every) else {
            return;
        };
        let this: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(auth) = this.upgrade() else { return };
                if let Err(err) = auth.refresh_jwks().await {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "jwks refresh failed, keeping the keys held"
                    );
                }
            }
        });
    }

    /// Verifies `token`; a staff token naming a key the JWKS does not hold yet refreshes it
    /// once (a rotated key is accepted without a restart).
    pub async fn verify(&self, token: &str) -> Result<Principal, Refusal> {
        let header = jsonwebtoken::decode_header(token).context("malformed token")?;
        if header.alg == Algorithm::EdDSA {
            return self.verify_internal(token);
        }
        match self.verify_staff(token, &header) {
            Err(Miss::UnknownKey) if self.refresh_for_unknown_kid().await => self
                .verify_staff(token, &header)
                .map_err(Miss::into_refusal),
            outcome => outcome.map_err(Miss::into_refusal),
        }
    }

    /// The blocking form of [`Authenticator::verify`] for tests and tools: no JWKS refresh.
    pub fn verify_now(&self, token: &str) -> anyhow::Result<Principal> {
        let header = jsonwebtoken::decode_header(token).context("malformed token")?;
        let outcome = if header.alg == Algorithm::EdDSA {
            self.verify_internal(token)
        } else {
            self.verify_staff(token, &header)
                .map_err(Miss::into_refusal)
        };
        outcome.map_err(|refusal| match refusal {
            Refusal::ReservedRole => anyhow!("the service role is the coordinator's alone"),
            Refusal::Invalid(err) => err,
        })
    }

    fn verify_staff(&self, token: &str, header: &Header) -> Result<Principal, Miss> {
        let jwks = self
            .jwks
            .as_ref()
            .map(|j| j.keys.read().expect("jwks lock").clone());
        let keys = self.fixed.iter().chain(jwks.iter().flat_map(|k| k.iter()));
        let mut last_error = None;
        let mut tried = false;
        for (kid, key, alg) in keys {
            if *alg != header.alg || (kid.is_some() && header.kid.is_some() && *kid != header.kid) {
                continue;
            }
            tried = true;
            match jsonwebtoken::decode::<Claims>(token, key, &self.staff_validation(*alg)) {
                Ok(data) => return self.staff_principal(data.claims).map_err(Miss::Refused),
                Err(err) => last_error = Some(err),
            }
        }
        match last_error {
            Some(err) => Err(Miss::Refused(Refusal::Invalid(
                anyhow::Error::new(err).context("token rejected"),
            ))),
            None if !tried && header.kid.is_some() && self.jwks.is_some() => Err(Miss::UnknownKey),
            None => Err(Miss::Refused(Refusal::Invalid(anyhow!(
                "token signed with an algorithm or key this service does not accept"
            )))),
        }
    }

    /// `exp` always, `iss` and `aud` whenever they are configured; `nbf` checked when present.
    fn staff_validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        match &self.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }

    fn staff_principal(&self, claims: Claims) -> Result<Principal, Refusal> {
        check_lifetime(&claims, self.max_lifetime)?;
        if claims.roles.contains(&Role::Service) {
            return Err(Refusal::ReservedRole);
        }
        Ok(Principal::from_claims(claims)?)
    }

    fn verify_internal(&self, token: &str) -> Result<Principal, Refusal> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[INTERNAL_ISSUER]);
        validation.set_audience(&[INTERNAL_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.internal, &validation)
            .context("coordinator token rejected")?
            .claims;
        check_lifetime(&claims, INTERNAL_TOKEN_TTL_SECONDS)?;
        if claims.roles != [Role::Service] {
            return Err(anyhow!("a coordinator token carries the service role alone").into());
        }
        Ok(Principal::from_claims(claims)?)
    }

    /// Refreshes the JWKS unless it was refreshed moments ago; true when it was.
    async fn refresh_for_unknown_kid(&self) -> bool {
        let Some(jwks) = &self.jwks else { return false };
        {
            let mut last = jwks.last_refresh.lock().expect("jwks refresh lock");
            if last.elapsed() < UNKNOWN_KID_REFRESH {
                return false;
            }
            *last = Instant::now();
        }
        match self.refresh_jwks().await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "jwks refresh failed");
                false
            }
        }
    }

    async fn refresh_jwks(&self) -> anyhow::Result<()> {
        let Some(jwks) = &self.jwks else {
            return Ok(());
        };
        let keys = fetch_jwks(&jwks.client, &jwks.source).await?;
        tracing::debug!(keys = keys.len(), "jwks refreshed");
        *jwks.keys.write().expect("jwks lock") = Arc::new(keys);
        *jwks.last_refresh.lock().expect("jwks refresh lock") = Instant::now();
        Ok(())
    }
}

/// A staff verification that found no key for the token's `kid` (worth a JWKS refresh), or
/// a refusal.
enum Miss {
    UnknownKey,
    Refused(Refusal),
}

impl Miss {
    fn into_refusal(self) -> Refusal {
        match self {
            Miss::UnknownKey => {
                Refusal::Invalid(anyhow!("token names a key this service does not hold"))
            }
            Miss::Refused(refusal) => refusal,
        }
    }
}

/// A token may not live longer than `max_seconds`: from now, and from `iat` when it says.
fn check_lifetime(claims: &Claims, max_seconds: u64) -> anyhow::Result<()> {
    let now = super::expiry(0);
    let from_now = claims.exp.saturating_sub(now);
    let issued = claims.iat.map_or(0, |iat| claims.exp.saturating_sub(iat));
    if from_now.max(issued) > max_seconds + LEEWAY_SECONDS {
        bail!("token lifetime exceeds {max_seconds} s");
    }
    Ok(())
}

async fn fetch_jwks(
    client: &reqwest::Client,
    source: &str,
) -> anyhow::Result<Vec<(Option<String>, DecodingKey, Algorithm)>> {
    let text = if source.starts_with("https://") || source.starts_with("http://") {
        client
            .get(source)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("fetching JWKS {source}"))?
            .text()
            .await?
    } else {
        tokio::fs::read_to_string(source)
            .await
            .with_context(|| format!("reading JWKS {source}"))?
    };
    let set: JwkSet = serde_json::from_str(&text).context("parsing JWKS")?;
    set.keys
        .iter()
        .map(|jwk| {
            Ok((
                jwk.common.key_id.clone(),
                DecodingKey::from_jwk(jwk)?,
                Algorithm::RS256,
            ))
        })
        .collect()
}
