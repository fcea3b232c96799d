//! gRPC bootstrap: every service gets the same server — bearer auth and its role × RPC
//! table, health per service name, reflection (v1 and v1alpha, so both grpcurl and
//! `buf curl` work), request deadlines, trace context from `traceparent` metadata, and a
//! graceful shutdown that reports NOT_SERVING, drains in-flight calls and then stops.

use std::{net::SocketAddr, sync::Arc, time::Duration};

pub use futures::Stream;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{service::Routes, transport::Server};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    admission::Admission,
    auth::{AuthLayer, Authenticator, Policies},
    config::Settings,
    telemetry,
};

/// How long a stopping server leaves its last answers to be written before it closes the
/// connections.
const FLUSH: Duration = Duration::from_millis(100);

/// A bound, not yet serving, gRPC server of one or more anju services.
pub struct GrpcServer {
    listener: TcpListener,
    addr: SocketAddr,
    routes: Routes,
    policies: Policies,
    service_names: Vec<&'static str>,
    authenticator: Arc<Authenticator>,
    admission: Admission,
    request_timeout: Duration,
    shutdown_grace: Duration,
}

impl GrpcServer {
    /// Binds the port configured for `service` (0 picks a free one).
    pub async fn bind(
        settings: &Settings,
        service: &str,
        authenticator: Arc<Authenticator>,
    ) -> anyhow::Result<Self> {
        let (host, port) = (settings.grpc.host.as_str(), settings.grpc_port(service));
        let listener = TcpListener::bind((host, port))
            .await
            .with_context(|| format!("binding the {service} gRPC port {host}:{port}"))?;
        let addr = listener.local_addr()?;
        Ok(Self {
            listener,
            addr,
            routes: Routes::default(),
            policies: Policies::default(),
            service_names: Vec::new(),
            authenticator,
            admission: Admission::new(&settings.grpc),
            request_timeout: settings.request_timeout(),
            shutdown_grace: Duration::from_millis(settings.grpc.shutdown_grace_ms),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds one gRPC service with its authorization policy.
    pub fn add_service<S>(mut self, service: S, policy: crate::auth::Policy) -> Self
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.policies = self.policies.with(policy);
        self.routes = self.routes.add_service(service);
        self
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight calls for at most the grace period.
    pub async fn serve(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (reporter, health) = tonic_health::server::health_reporter();
        for name in &self.service_names {
            reporter
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;

        // Reflection lists what this port serves — its services, health and reflection itself
        // — not every service in the descriptor set (a client would call six that answer
        // UNIMPLEMENTED); every type stays resolvable.
        let advertised = || {
            let builder = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(anju_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
            self.service_names
                .iter()
                .copied()
                .chain(REFLECTED_PLATFORM_SERVICES)
                .fold(builder, |builder, name| builder.with_service_name(name))
        };
        let reflection_v1 = advertised().build_v1()?;
        let reflection_v1alpha = advertised().build_v1alpha()?;

        let admission = self.admission.clone();
        let auth = AuthLayer::new(
            self.authenticator.clone(),
            self.policies.clone(),
            self.admission,
        );
        let router = Server::builder()
            .timeout(self.request_timeout)
            .trace_fn(|request| {
                // OpenTelemetry's RPC conventions: named `service/method`, the status code
                // recorded when the call answers (`crate::metrics::RpcMetricsLayer`).
                let path = request.uri().path();
                let (service, method) = path
                    .trim_start_matches('/')
                    .split_once('/')
                    .unwrap_or((path, ""));
                let span = tracing::info_span!(
                    "grpc",
                    otel.name = path.trim_start_matches('/'),
                    otel.kind = "server",
                    rpc.system = "grpc",
                    rpc.service = service,
                    rpc.method = method,
                    rpc.grpc.status_code = tracing::field::Empty,
                    otel.status_code = tracing::field::Empty,
                    trace_id = tracing::field::Empty,
                    span_id = tracing::field::Empty,
                );
                let parent = request
                    .headers()
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                telemetry::continue_trace(&span, parent);
                span
            })
            .layer(crate::metrics::RpcMetricsLayer::new(&self.service_names))
            .layer(auth)
            .add_routes(self.routes)
            .add_service(health)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);

        let names = self.service_names.clone();
        let drained = CancellationToken::new();
        let stop = {
            let drained = drained.clone();
            let reporter = reporter.clone();
            async move {
                shutdown.cancelled().await;
                mark_not_serving(&reporter, &names).await;
                drained.cancel();
            }
        };
        // Accepted sockets get TCP_NODELAY: without it, Nagle's algorithm holds small response
        // frames back until the peer's delayed ACK, tens of milliseconds per call.
        let incoming = tonic::transport::server::TcpIncoming::from(self.listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(Duration::from_secs(60)));
        let serve = router.serve_with_incoming_shutdown(incoming, stop);
        tokio::pin!(serve);
        // Stopping: the calls under way are answered (up to the grace period), then every
        // connection is closed. Clients keep idle HTTP/2 connections open after the server's
        // GOAWAY, and a call they send on one meanwhile would wait for the grace period;
        // closed, it fails at once and the client reconnects — to another replica.
        tokio::select! {
            result = &mut serve => result.context("gRPC server failed")?,
            answered = async {
                drained.cancelled().await;
                let answered = admission.idle_within(self.shutdown_grace).await;
                // The last answers' frames leave before their connections close.
                tokio::time::sleep(FLUSH).await;
                answered
            } => {
                if !answered {
                    tracing::warn!(grace_ms = self.shutdown_grace.as_millis() as u64, "in-flight calls outlived the shutdown grace period");
                }
            }
        }
        Ok(())
    }
}

async fn mark_not_serving(reporter: &HealthReporter, names: &[&'static str]) {
    for name in names {
        reporter
            .set_service_status(*name, ServingStatus::NotServing)
            .await;
    }
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
}

/// Cancels `token` on SIGINT or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
            _ = terminate => tracing::info!("SIGTERM received, shutting down"),
        }
        token.cancel();
    });
}

/// Client-side interceptor: the bearer token and the current trace context on every call.
#[derive(Clone)]
pub struct ClientAuth {
    authorization: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

impl ClientAuth {
    pub fn bearer(token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            authorization: format!("Bearer {token}")
                .parse()
                .context("token is not valid metadata")?,
        })
    }
}

impl tonic::service::Interceptor for ClientAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        let traceparent = telemetry::current_traceparent();
        if let Ok(value) = traceparent.parse() {
            request.metadata_mut().insert("traceparent", value);
        }
        Ok(request)
    }
}

/// The platform's services every port serves beside its own, as reflection lists them.
pub const REFLECTED_PLATFORM_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Implements a service's generated gRPC trait by handing every RPC to the API's inherent
/// handler of the same name, with the principal the auth layer established:
///
/// ```ignore
/// anju_kit::rpcs! { impl FinanceService for FinanceApi in pb {
///     issue_charge(IssueChargeRequest) -> IssueChargeResponse;
/// } }
/// ```
///
/// A handler is `async fn issue_charge(&self, principal: &Principal, req: pb::IssueChargeRequest)
/// -> ServiceResult<pb::IssueChargeResponse>`; an inherent method is found before the trait's,
/// so each line names the handler that answers the RPC.
/// A client-streaming RPC is listed after the block, in `streams { … }`: its handler takes
/// the `tonic::Streaming` request whole. A server-streaming RPC is listed in `feeds { name(Req)
/// -> Item as StreamType; }`: its handler returns the boxed stream of items.
#[macro_export]
macro_rules! rpcs {
    (impl $service:ident for $api:ident in $pb:ident {
        $($name:ident($request:ident) -> $response:ident;)*
    } $(streams {
        $($sname:ident($srequest:ident) -> $sresponse:ident;)*
    })? $(feeds {
        $($fname:ident($frequest:ident) -> $fitem:ident as $fstream:ident;)*
    })?) => {
        #[::tonic::async_trait]
        impl $service for $api {
            $(async fn $name(
                &self,
                request: ::tonic::Request<$pb::$request>,
            ) -> ::std::result::Result<::tonic::Response<$pb::$response>, ::tonic::Status> {
                let principal = $crate::Principal::of(&request)?;
                Ok(::tonic::Response::new($api::$name(self, &principal, request.into_inner()).await?))
            })*
            $($(async fn $sname(
                &self,
                request: ::tonic::Request<::tonic::Streaming<$pb::$srequest>>,
            ) -> ::std::result::Result<::tonic::Response<$pb::$sresponse>, ::tonic::Status> {
                let principal = $crate::Principal::of(&request)?;
                Ok(::tonic::Response::new($api::$sname(self, &principal, request.into_inner()).await?))
            })*)?
            $($(type $fstream = ::std::pin::Pin<::std::boxed::Box<
                dyn $crate::grpc::Stream<Item = ::std::result::Result<$pb::$fitem, ::tonic::Status>>
                    + ::std::marker::Send + 'static>>;
            async fn $fname(
                &self,
                request: ::tonic::Request<$pb::$frequest>,
            ) -> ::std::result::Result<::tonic::Response<Self::$fstream>, ::tonic::Status> {
                let principal = $crate::Principal::of(&request)?;
                Ok(::tonic::Response::new($api::$fname(self, &principal, request.into_inner()).await?))
            })*)?
        }
    };
}
