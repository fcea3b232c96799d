//! Authentication (bearer JWT) and authorization (one role × RPC table per service).
//!
//! Tokens carry the tenant, roles, project scope and, for partner contractors, the contractor
//! id. [`AuthLayer`] verifies the token of every call except health and reflection, checks the
//! service's [`Policy`] and hands the handler a [`Principal`]. Handlers then scope every query
//! by the principal's tenant (and project or contractor): an object outside that scope is
//! NOT_FOUND, so its existence never leaks.

use std::{
    collections::HashMap,
    fmt,
    pin::Pin,
    str::FromStr,
    sync::Arc,
    task::{Context, Poll},
};

use anyhow::{Context as _, bail};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
use serde::{Deserialize, Serialize};
use tonic::Status;
use tower::{Layer, Service};
use uuid::Uuid;

use crate::{config::AuthSettings, error::ServiceError};

/// Staff, partner and internal roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The tenant's administrator: every RPC of every service.
    Admin,
    SalesConsultant,
    SalesManager,
    CustomerService,
    Cashier,
    MaintenanceDispatcher,
    PropertyManagement,
    TitleOfficer,
    ProjectDepartment,
    SupervisingEngineer,
    /// A partner contractor or backup repair vendor: only its own work orders.
    Contractor,
    /// Operators of the platform (saga inspection, replays).
    Operator,
    /// Another anju service calling on a tenant's behalf (the saga coordinator).
    Service,
}

impl Role {
    pub const ALL: [Role; 13] = [
        Role::Admin,
        Role::SalesConsultant,
        Role::SalesManager,
        Role::CustomerService,
        Role::Cashier,
        Role::MaintenanceDispatcher,
        Role::PropertyManagement,
        Role::TitleOfficer,
        Role::ProjectDepartment,
        Role::SupervisingEngineer,
        Role::Contractor,
        Role::Operator,
        Role::Service,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::SalesConsultant => "sales_consultant",
            Role::SalesManager => "sales_manager",
            Role::CustomerService => "customer_service",
            Role::Cashier => "cashier",
            Role::MaintenanceDispatcher => "maintenance_dispatcher",
            Role::PropertyManagement => "property_management",
            Role::TitleOfficer => "title_officer",
            Role::ProjectDepartment => "project_department",
            Role::SupervisingEngineer => "supervising_engineer",
            Role::Contractor => "contractor",
            Role::Operator => "operator",
            Role::Service => "service",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .with_context(|| format!("unknown role {s:?}"))
    }
}

/// The JWT claims anju reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    pub roles: Vec<Role>,
    /// Project ids the principal may act in; `["*"]` for all of the tenant's projects.
    #[serde(default)]
    pub projects: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contractor: Option<String>,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProjectScope {
    All,
    Only(Vec<Uuid>),
}

/// Who is calling: established by [`AuthLayer`], read by handlers with [`Principal::of`].
#[derive(Clone, Debug)]
pub struct Principal {
    pub subject: String,
    pub tenant_id: Uuid,
    pub roles: Vec<Role>,
    pub projects: ProjectScope,
    pub contractor_id: Option<Uuid>,
}

impl Principal {
    /// The principal of a call that passed [`AuthLayer`].
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Principal, ServiceError> {
        request
            .extensions()
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ServiceError::Unauthenticated("missing credentials".into()))
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// A project outside the principal's scope looks exactly like one that does not exist.
    pub fn require_project(&self, project_id: Uuid) -> Result<(), ServiceError> {
        if self.can_see_project(project_id) {
            Ok(())
        } else {
            Err(ServiceError::not_found("project"))
        }
    }

    pub fn can_see_project(&self, project_id: Uuid) -> bool {
        match &self.projects {
            ProjectScope::All => true,
            ProjectScope::Only(ids) => ids.contains(&project_id),
        }
    }

    /// Project ids for SQL filters: `None` means every project of the tenant.
    pub fn project_filter(&self) -> Option<Vec<Uuid>> {
        match &self.projects {
            ProjectScope::All => None,
            ProjectScope::Only(ids) => Some(ids.clone()),
        }
    }

    fn from_claims(claims: Claims) -> anyhow::Result<Principal> {
        let tenant_id = Uuid::parse_str(&claims.tenant).context("claim tenant is not a UUID")?;
        if claims.roles.is_empty() {
            bail!("token carries no role");
        }
        let projects = if claims.projects.iter().any(|p| p == "*") {
            ProjectScope::All
        } else {
            ProjectScope::Only(
                claims
                    .projects
                    .iter()
                    .map(|p| Uuid::parse_str(p).context("claim projects holds a non-UUID"))
                    .collect::<anyhow::Result<_>>()?,
            )
        };
        let contractor_id = match claims.contractor {
            Some(c) => Some(Uuid::parse_str(&c).context("claim contractor is not a UUID")?),
            None => None,
        };
        if claims.roles.contains(&Role::Contractor) && contractor_id.is_none() {
            bail!("a contractor token must name its contractor");
        }
        Ok(Principal {
            subject: claims.sub,
            tenant_id,
            roles: claims.roles,
            projects,
            contractor_id,
        })
    }
}

/// Verifies bearer tokens with the configured keys.
pub struct Authenticator {
    keys: Vec<(Option<String>, DecodingKey, Algorithm)>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl Authenticator {
    /// Builds the verifier from settings; a JWKS URL is fetched once here.
    pub async fn from_settings(settings: &AuthSettings) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        if let Some(secret) = &settings.hs256_secret {
            keys.push((
                None,
                DecodingKey::from_secret(secret.expose().as_bytes()),
                Algorithm::HS256,
            ));
        }
        if let Some(path) = &settings.rs256_public_key_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading RS256 public key {}", path.display()))?;
            keys.push((None, DecodingKey::from_rsa_pem(&pem)?, Algorithm::RS256));
        }
        if let Some(source) = &settings.jwks {
            let text = if source.starts_with("http://") || source.starts_with("https://") {
                reqwest::get(source)
                    .await
                    .and_then(|r| r.error_for_status())
                    .with_context(|| format!("fetching JWKS {source}"))?
                    .text()
                    .await?
            } else {
                std::fs::read_to_string(source).with_context(|| format!("reading JWKS {source}"))?
            };
            let set: JwkSet = serde_json::from_str(&text).context("parsing JWKS")?;
            for jwk in &set.keys {
                keys.push((
                    jwk.common.key_id.clone(),
                    DecodingKey::from_jwk(jwk)?,
                    Algorithm::RS256,
                ));
            }
        }
        if keys.is_empty() {
            bail!("no verification key configured");
        }
        Ok(Self {
            keys,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        })
    }

    pub fn verify(&self, token: &str) -> anyhow::Result<Principal> {
        let header = jsonwebtoken::decode_header(token).context("malformed token")?;
        let mut last_error = None;
        for (kid, key, alg) in &self.keys {
            if *alg != header.alg || (kid.is_some() && header.kid.is_some() && *kid != header.kid) {
                continue;
            }
            let mut validation = Validation::new(*alg);
            match &self.issuer {
                Some(iss) => validation.set_issuer(&[iss]),
                None => validation.iss = None,
            }
            match &self.audience {
                Some(aud) => validation.set_audience(&[aud]),
                None => validation.validate_aud = false,
            }
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return Principal::from_claims(data.claims),
                Err(err) => last_error = Some(err),
            }
        }
        match last_error {
            Some(err) => Err(anyhow::Error::new(err).context("token rejected")),
            None => bail!("token signed with an algorithm or key this service does not accept"),
        }
    }
}

/// Signs development tokens with the HS256 key (tests, the demo, `anju token`).
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
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.key,
        )?)
    }

    /// A token valid for an hour for `tenant` with `roles` over every project.
    pub fn staff(&self, tenant: Uuid, subject: &str, roles: &[Role]) -> anyhow::Result<String> {
        self.issue(&Claims {
            sub: subject.into(),
            tenant: tenant.to_string(),
            roles: roles.to_vec(),
            projects: vec!["*".into()],
            contractor: None,
            exp: expiry(3600),
            iss: None,
            aud: None,
        })
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

/// The role × RPC table of one service: deny unless a row allows it. Admin may call everything.
#[derive(Clone, Debug)]
pub struct Policy {
    service: &'static str,
    rules: HashMap<&'static str, Vec<Role>>,
}

impl Policy {
    /// `service` is the fully qualified gRPC service name, e.g. `anju.sales.v1.SalesService`.
    pub fn new(service: &'static str) -> Self {
        Self {
            service,
            rules: HashMap::new(),
        }
    }

    pub fn allow(mut self, method: &'static str, roles: &[Role]) -> Self {
        self.rules
            .entry(method)
            .or_default()
            .extend_from_slice(roles);
        self
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    pub fn permits(&self, method: &str, roles: &[Role]) -> bool {
        if roles.contains(&Role::Admin) {
            return self.rules.contains_key(method);
        }
        self.rules
            .get(method)
            .is_some_and(|allowed| roles.iter().any(|r| allowed.contains(r)))
    }
}

/// The set of policies a server enforces (one per gRPC service it hosts).
#[derive(Clone, Debug, Default)]
pub struct Policies(HashMap<&'static str, Policy>);

impl Policies {
    pub fn with(mut self, policy: Policy) -> Self {
        self.0.insert(policy.service, policy);
        self
    }

    fn check(&self, path: &str, principal: &Principal) -> Result<(), Status> {
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let (service, method) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let Some(policy) = self.0.get(service) else {
            return Err(Status::unimplemented(format!("unknown service {service}")));
        };
        if policy.permits(method, &principal.roles) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "roles {:?} may not call {method}",
                principal.roles.iter().map(Role::as_str).collect::<Vec<_>>()
            )))
        }
    }
}

/// Paths that need no credentials: health checks and reflection.
fn is_public(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}

/// Tower layer that authenticates and authorizes every anju RPC.
#[derive(Clone)]
pub struct AuthLayer {
    authenticator: Arc<Authenticator>,
    policies: Arc<Policies>,
}

impl AuthLayer {
    pub fn new(authenticator: Arc<Authenticator>, policies: Policies) -> Self {
        Self {
            authenticator,
            policies: Arc::new(policies),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // Take the service that was polled ready; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path().to_string();
        if is_public(&path) {
            return Box::pin(inner.call(request));
        }
        let outcome = authenticate(&self.layer, &request).and_then(|principal| {
            self.layer.policies.check(&path, &principal)?;
            Ok(principal)
        });
        match outcome {
            Ok(principal) => {
                tracing::Span::current()
                    .record("tenant_id", tracing::field::display(principal.tenant_id));
                request.extensions_mut().insert(principal);
                Box::pin(inner.call(request))
            }
            Err(status) => {
                tracing::debug!(path, code = ?status.code(), "call refused by auth");
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

fn authenticate<B>(layer: &AuthLayer, request: &http::Request<B>) -> Result<Principal, Status> {
    let header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(|| Status::unauthenticated("authorization must be a bearer token"))?;
    layer.authenticator.verify(token.trim()).map_err(|err| {
        tracing::debug!(error = format!("{err:#}"), "token rejected");
        Status::unauthenticated("invalid or expired token")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEV_HS256_SECRET, Secret};

    fn settings() -> AuthSettings {
        AuthSettings {
            hs256_secret: Some(Secret::new(DEV_HS256_SECRET)),
            ..AuthSettings::default()
        }
    }

    #[tokio::test]
    async fn a_signed_token_becomes_a_principal() {
        let auth = Authenticator::from_settings(&settings()).await.unwrap();
        let tenant = Uuid::now_v7();
        let token = TokenIssuer::hs256(DEV_HS256_SECRET)
            .staff(tenant, "li.na", &[Role::SalesConsultant])
            .unwrap();
        let principal = auth.verify(&token).unwrap();
        assert_eq!(principal.tenant_id, tenant);
        assert_eq!(principal.projects, ProjectScope::All);
        assert!(principal.has(Role::SalesConsultant));
    }

    #[tokio::test]
    async fn forged_expired_and_contractorless_tokens_are_refused() {
        let auth = Authenticator::from_settings(&settings()).await.unwrap();
        let tenant = Uuid::now_v7();
        let forged = TokenIssuer::hs256("another-key")
            .staff(tenant, "x", &[Role::Admin])
            .unwrap();
        assert!(auth.verify(&forged).is_err());
        let issuer = TokenIssuer::hs256(DEV_HS256_SECRET);
        let mut claims = Claims {
            sub: "x".into(),
            tenant: tenant.to_string(),
            roles: vec![Role::Admin],
            projects: vec!["*".into()],
            contractor: None,
            exp: 1_000,
            iss: None,
            aud: None,
        };
        assert!(auth.verify(&issuer.issue(&claims).unwrap()).is_err());
        claims.exp = expiry(60);
        claims.roles = vec![Role::Contractor];
        assert!(auth.verify(&issuer.issue(&claims).unwrap()).is_err());
    }

    #[test]
    fn policy_denies_by_default() {
        let policy =
            Policy::new("anju.sales.v1.SalesService").allow("CreateProject", &[Role::SalesManager]);
        assert!(policy.permits("CreateProject", &[Role::SalesManager]));
        assert!(policy.permits("CreateProject", &[Role::Admin]));
        assert!(!policy.permits("CreateProject", &[Role::SalesConsultant]));
        assert!(!policy.permits("DropEverything", &[Role::Admin]));
    }
}
