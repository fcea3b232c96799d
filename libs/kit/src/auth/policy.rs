//! Authorization: one role × RPC table per service, enforced by a tower layer.

use std::{
    collections::{HashMap, HashSet},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tonic::Status;
use tower::{Layer, Service};

use super::{Authenticator, Principal, Refusal, Role};
use crate::admission::Admission;

/// The role × RPC table of one service: deny unless a row allows it. Admin may call every RPC
/// of the table except those reserved for the coordinator.
#[derive(Clone, Debug)]
pub struct Policy {
    service: &'static str,
    rules: HashMap<&'static str, Vec<Role>>,
    coordinator_only: HashSet<&'static str>,
}

impl Policy {
    /// `service` is the fully qualified gRPC service name, e.g. `anju.sales.v1.SalesService`.
    pub fn new(service: &'static str) -> Self {
        Self {
            service,
            rules: HashMap::new(),
            coordinator_only: HashSet::new(),
        }
    }

    pub fn allow(mut self, method: &'static str, roles: &[Role]) -> Self {
        self.rules
            .entry(method)
            .or_default()
            .extend_from_slice(roles);
        self
    }

    /// Reserves `method` for the saga coordinator's own credential: no staff role, admin
    /// included, may call it (granting key clearance, confirming a subscription, …).
    pub fn coordinator_only(mut self, method: &'static str) -> Self {
        self.rules.insert(method, vec![Role::Service]);
        self.coordinator_only.insert(method);
        self
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// The methods reserved for the coordinator, for tests that sweep them.
    pub fn coordinator_methods(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.coordinator_only.iter().copied()
    }

    pub fn permits(&self, method: &str, roles: &[Role]) -> bool {
        if self.coordinator_only.contains(method) {
            return roles.contains(&Role::Service);
        }
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
    admission: Admission,
}

impl AuthLayer {
    /// Authentication, the role table, then admission (rate and calls in flight) once the
    /// caller's tenant is known.
    pub fn new(
        authenticator: Arc<Authenticator>,
        policies: Policies,
        admission: Admission,
    ) -> Self {
        Self {
            authenticator,
            policies: Arc::new(policies),
            admission,
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
        let layer = self.layer.clone();
        Box::pin(async move {
            let outcome = match bearer(&request) {
                Ok(token) => authenticate(&layer, &token).await,
                Err(status) => Err(status),
            }
            .and_then(|principal| {
                layer.policies.check(&path, &principal)?;
                let permit = layer.admission.admit(principal.tenant_id)?;
                Ok((principal, permit))
            });
            match outcome {
                Ok((principal, permit)) => {
                    tracing::Span::current()
                        .record("tenant_id", tracing::field::display(principal.tenant_id));
                    request.extensions_mut().insert(principal);
                    let response = inner.call(request).await;
                    drop(permit);
                    response
                }
                Err(status) => {
                    tracing::debug!(path, code = ?status.code(), "call refused by auth");
                    Ok(status.into_http())
                }
            }
        })
    }
}

fn bearer<B>(request: &http::Request<B>) -> Result<String, Status> {
    let header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
    header
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|token| token.trim().to_string())
        .ok_or_else(|| Status::unauthenticated("authorization must be a bearer token"))
}

async fn authenticate(layer: &AuthLayer, token: &str) -> Result<Principal, Status> {
    layer
        .authenticator
        .verify(token)
        .await
        .map_err(|refusal| match refusal {
            Refusal::ReservedRole => Status::permission_denied(
                "the service role is accepted only from the coordinator's own credential",
            ),
            Refusal::Invalid(err) => {
                tracing::debug!(error = format!("{err:#}"), "token rejected");
                Status::unauthenticated("invalid or expired token")
            }
        })
}
