//! Authentication (bearer JWT) and authorization (one role × RPC table per service).
//!
//! Tokens carry the tenant, roles, project scope and, for partner contractors, the contractor
//! id. [`AuthLayer`] verifies the token of every call except health and reflection, checks the
//! service's [`Policy`] and hands the handler a [`Principal`]. Handlers then scope every query
//! by the principal's tenant (and project or contractor): an object outside that scope is
//! NOT_FOUND, so its existence never leaks.
//!
//! Two kinds of credential, verified apart ([`verify`]):
//! - **staff and partner tokens**, from the group's identity provider (RS256, a PEM key or a
//!   JWKS refreshed on a timer and on an unknown `kid`; HS256 only in development). They may
//!   never carry [`Role::Service`].
//! - **the coordinator's own credential** ([`CoordinatorIssuer`]): short-lived EdDSA tokens
//!   signed with a key only the saga service holds; every other service holds the public half
//!   alone, so no service but the coordinator, no identity provider and no `anju token` can
//!   mint one. Only these carry [`Role::Service`], and only they may call the RPCs a policy
//!   reserves with [`Policy::coordinator_only`] — a tenant's admin included.

mod issue;
mod policy;
mod verify;

pub use issue::{
    CoordinatorIssuer, DEV_INTERNAL_PRIVATE_KEY, DEV_INTERNAL_PUBLIC_KEY, INTERNAL_AUDIENCE,
    INTERNAL_ISSUER, TokenIssuer, expiry,
};
pub use policy::{AuthLayer, AuthService, Policies, Policy};
pub use verify::{Authenticator, Refusal};

use std::{fmt, str::FromStr};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ServiceError;

/// Staff, partner and internal roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The tenant's administrator: every RPC of every service.
    Admin,
    SalesConsultant,
    SalesManager,
    CustomerService,
    /// The head of customer service: approves move-in plans and overrides their lead.
    CustomerServiceManager,
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
    /// The saga coordinator calling on a tenant's behalf. Accepted only from the
    /// coordinator's own credential ([`CoordinatorIssuer`]), never from a staff token.
    Service,
}

impl Role {
    pub const ALL: [Role; 14] = [
        Role::Admin,
        Role::SalesConsultant,
        Role::SalesManager,
        Role::CustomerService,
        Role::CustomerServiceManager,
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
            Role::CustomerServiceManager => "customer_service_manager",
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
    /// Not before: a token used earlier is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at: with `exp`, bounds the token's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
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

    /// Who a request id belongs to: the subject, and for a partner its contractor.
    pub fn caller(&self) -> String {
        match self.contractor_id {
            Some(contractor) => format!("{}@{contractor}", self.subject),
            None => self.subject.clone(),
        }
    }

    /// The scope a call was made in (roles, projects, contractor), as text to hash with it.
    pub fn scope_fingerprint(&self) -> String {
        let mut roles: Vec<&str> = self.roles.iter().map(Role::as_str).collect();
        roles.sort_unstable();
        let projects = match &self.projects {
            ProjectScope::All => "*".to_string(),
            ProjectScope::Only(ids) => {
                let mut ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
                ids.sort_unstable();
                ids.join(",")
            }
        };
        format!(
            "roles={};projects={projects};contractor={}",
            roles.join(","),
            self.contractor_id
                .map(|c| c.to_string())
                .unwrap_or_default()
        )
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

    pub(crate) fn from_claims(claims: Claims) -> anyhow::Result<Principal> {
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

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    use super::*;
    use crate::config::{AuthSettings, DEV_HS256_SECRET, Secret};

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
        let principal = auth.verify_now(&token).unwrap();
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
        assert!(auth.verify_now(&forged).is_err());
        let issuer = TokenIssuer::hs256(DEV_HS256_SECRET);
        let mut claims = Claims {
            exp: 1_000,
            iat: None,
            ..Claims::new(tenant, "x", &[Role::Admin])
        };
        assert!(auth.verify_now(&issuer.issue(&claims).unwrap()).is_err());
        claims.exp = expiry(60);
        claims.roles = vec![Role::Contractor];
        assert!(auth.verify_now(&issuer.issue(&claims).unwrap()).is_err());
    }

    #[tokio::test]
    async fn the_service_role_comes_only_from_the_coordinators_key() {
        let auth = Authenticator::from_settings(&settings()).await.unwrap();
        let tenant = Uuid::now_v7();
        let principal = auth
            .verify_now(&CoordinatorIssuer::development().token(tenant).unwrap())
            .unwrap();
        assert_eq!(principal.roles, [Role::Service]);

        // The development CLI's key will not sign it, and a staff token carrying it is
        // refused as a permission, not accepted.
        let staff = TokenIssuer::hs256(DEV_HS256_SECRET);
        assert!(staff.staff(tenant, "x", &[Role::Service]).is_err());
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims::new(tenant, "x", &[Role::Service]),
            &EncodingKey::from_secret(DEV_HS256_SECRET.as_bytes()),
        )
        .unwrap();
        assert!(matches!(
            auth.verify(&forged).await,
            Err(verify::Refusal::ReservedRole)
        ));

        // Another Ed25519 key, or the right key with other roles, is not the coordinator.
        let other = CoordinatorIssuer::from_pem(
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ6IXQxXguX8oR07Jn8Inq22Az1yoD6EkZ/PCkJ9vR9q\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(auth.verify_now(&other.token(tenant).unwrap()).is_err());
        let admin = CoordinatorIssuer::development()
            .issue(&Claims::new(
                tenant,
                "anju-saga",
                &[Role::Service, Role::Admin],
            ))
            .unwrap();
        assert!(auth.verify_now(&admin).is_err());
    }

    #[tokio::test]
    async fn lifetimes_and_not_before_are_enforced() {
        let auth = Authenticator::from_settings(&settings()).await.unwrap();
        let issuer = TokenIssuer::hs256(DEV_HS256_SECRET);
        let tenant = Uuid::now_v7();
        let long = Claims {
            exp: expiry(30 * 24 * 3600),
            ..Claims::new(tenant, "x", &[Role::Cashier])
        };
        assert!(auth.verify_now(&issuer.issue(&long).unwrap()).is_err());
        let early = Claims {
            nbf: Some(expiry(3600)),
            ..Claims::new(tenant, "x", &[Role::Cashier])
        };
        assert!(auth.verify_now(&issuer.issue(&early).unwrap()).is_err());
        let fine = Claims::new(tenant, "x", &[Role::Cashier]);
        assert!(auth.verify_now(&issuer.issue(&fine).unwrap()).is_ok());
    }

    #[test]
    fn admin_stops_at_the_coordinators_rpcs() {
        let policy = Policy::new("anju.handover.v1.HandoverService")
            .allow("ReleaseKeys", &[Role::CustomerService])
            .coordinator_only("GrantKeyClearance");
        assert!(policy.permits("ReleaseKeys", &[Role::Admin]));
        assert!(!policy.permits("GrantKeyClearance", &[Role::Admin]));
        for role in Role::ALL.into_iter().filter(|r| *r != Role::Service) {
            assert!(!policy.permits("GrantKeyClearance", &[role]), "{role}");
        }
        assert!(policy.permits("GrantKeyClearance", &[Role::Service]));
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
