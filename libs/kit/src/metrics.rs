//! Prometheus metrics a process exposes: the text exposition format ([`Exposition`]), and the
//! rate, errors and duration of every RPC its servers answer ([`RpcMetricsLayer`], rendered by
//! [`render_rpcs`]), named after OpenTelemetry's RPC semantic conventions (`rpc.service`,
//! `rpc.method`, `rpc.grpc.status_code`).

use std::{
    collections::BTreeMap,
    fmt::Write,
    pin::Pin,
    sync::{Arc, LazyLock, Mutex},
    task::{Context, Poll},
    time::Instant,
};

use tonic::Code;
use tower::{Layer, Service};

/// The text exposition format, family by family.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a family: `kind` is `gauge`, `counter` or `histogram`.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
            return;
        }
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let _ = writeln!(self.out, "{name}{{{}}} {value}", labels.join(","));
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A label value as the format wants it: backslash, double quote and line feed escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Upper bounds of the duration buckets, in microseconds (1 ms to 10 s).
const BUCKETS_US: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

#[derive(Clone, Default)]
struct Method {
    codes: BTreeMap<&'static str, u64>,
    /// Calls per bucket (not cumulative), and beyond the last.
    buckets: [u64; BUCKETS_US.len() + 1],
    count: u64,
    sum_us: u64,
}

/// `/service/method` → what its calls did, for the whole process.
static RPCS: LazyLock<Mutex<BTreeMap<String, Method>>> = LazyLock::new(Mutex::default);

fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

fn record(path: &str, code: Code, micros: u64) {
    let Ok(mut rpcs) = RPCS.lock() else { return };
    // Found without allocating but for a path's first call.
    if !rpcs.contains_key(path) {
        rpcs.insert(path.to_string(), Method::default());
    }
    let Some(m) = rpcs.get_mut(path) else { return };
    *m.codes.entry(code_name(code)).or_default() += 1;
    let bucket = BUCKETS_US
        .iter()
        .position(|le| micros <= *le)
        .unwrap_or(BUCKETS_US.len());
    m.buckets[bucket] += 1;
    m.count += 1;
    m.sum_us += micros;
}

/// Seconds with six decimals, from microseconds (no floating point).
fn seconds(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// The process's RPC metrics: calls by status code, and their duration as a histogram.
pub fn render_rpcs() -> String {
    // A copy, formatted after the lock is released: calls are not held up by a scrape.
    let rpcs: Vec<(String, Method)> = match RPCS.lock() {
        Ok(rpcs) => rpcs.iter().map(|(k, m)| (k.clone(), m.clone())).collect(),
        Err(_) => return String::new(),
    };
    let mut e = Exposition::default();
    e.family(
        "anju_rpc_server_requests_total",
        "counter",
        "RPCs answered, by service, method and gRPC status code.",
    );
    let named = |path: &str| -> (String, String) {
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let (service, method) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        (service.to_string(), method.to_string())
    };
    for (path, m) in &rpcs {
        let (service, method) = named(path);
        for (code, n) in &m.codes {
            let labels = [
                ("rpc_service", service.as_str()),
                ("rpc_method", method.as_str()),
                ("rpc_grpc_status_code", code),
            ];
            e.sample("anju_rpc_server_requests_total", &labels, n);
        }
    }
    e.family(
        "anju_rpc_server_duration_seconds",
        "histogram",
        "How long RPCs took to answer, from the request's arrival to its response headers.",
    );
    for (path, m) in &rpcs {
        let (service, method) = named(path);
        let mut cumulative = 0;
        for (i, n) in m.buckets.iter().enumerate() {
            cumulative += n;
            let le = BUCKETS_US
                .get(i)
                .map_or("+Inf".to_string(), |us| seconds(*us));
            let labels = [
                ("rpc_service", service.as_str()),
                ("rpc_method", method.as_str()),
                ("le", le.as_str()),
            ];
            e.sample(
                "anju_rpc_server_duration_seconds_bucket",
                &labels,
                cumulative,
            );
        }
        let labels = [
            ("rpc_service", service.as_str()),
            ("rpc_method", method.as_str()),
        ];
        e.sample(
            "anju_rpc_server_duration_seconds_sum",
            &labels,
            seconds(m.sum_us),
        );
        e.sample("anju_rpc_server_duration_seconds_count", &labels, m.count);
    }
    e.finish()
}

/// Tower layer that counts and times every RPC (health and reflection aside). Only the
/// services the server hosts are named: any other path a caller makes up is counted as
/// `unknown`, so callers cannot grow the set of series.
#[derive(Clone)]
pub struct RpcMetricsLayer {
    services: Arc<Vec<&'static str>>,
}

impl RpcMetricsLayer {
    pub fn new(services: &[&'static str]) -> Self {
        Self {
            services: Arc::new(services.to_vec()),
        }
    }

    fn key(&self, path: &str) -> Option<String> {
        if path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.") {
            return None;
        }
        let service = path.trim_start_matches('/').split('/').next().unwrap_or("");
        Some(if self.services.contains(&service) {
            path.to_string()
        } else {
            "/unknown/unknown".to_string()
        })
    }
}

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    layer: RpcMetricsLayer,
}

/// A call being timed: recorded when it answers, or as CANCELLED if it is dropped first (the
/// server's request timeout, the client's deadline or its going away).
struct Timing {
    path: String,
    started: Instant,
    recorded: bool,
    /// The call's server span, which takes the status code too.
    span: tracing::Span,
}

impl Timing {
    fn record(&mut self, code: Code) {
        self.recorded = true;
        record(&self.path, code, self.started.elapsed().as_micros() as u64);
        crate::telemetry::record_rpc_status(&self.span, crate::telemetry::RpcSide::Server, code);
    }
}

impl Drop for Timing {
    fn drop(&mut self) {
        if !self.recorded {
            self.record(Code::Cancelled);
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

impl<S, B, R> Service<http::Request<B>> for RpcMetricsService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = match self.layer.key(request.uri().path()) {
            Some(path) if crate::telemetry::enabled() => path,
            _ => return Box::pin(inner.call(request)),
        };
        let mut timing = Timing {
            path,
            started: Instant::now(),
            recorded: false,
            span: tracing::Span::none(),
        };
        Box::pin(async move {
            // The server's trace layer runs this future inside the call's span.
            timing.span = tracing::Span::current();
            let response = inner.call(request).await;
            // An error is answered trailers-only, its status in the headers; a success's
            // status comes in the trailers.
            let code = match &response {
                Ok(r) => r
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map_or(Code::Ok, Code::from_i32),
                Err(_) => Code::Unknown,
            };
            timing.record(code);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::default();
        e.family("anju_x", "gauge", "a test");
        e.sample("anju_x", &[("a", "q\"uote\\\n")], 3);
        assert_eq!(
            e.finish(),
            "# HELP anju_x a test\n# TYPE anju_x gauge\nanju_x{a=\"q\\\"uote\\\\\\n\"} 3\n"
        );
    }

    #[test]
    fn made_up_paths_are_counted_as_unknown_and_health_not_at_all() {
        let layer = RpcMetricsLayer::new(&["anju.test.v1.T"]);
        assert_eq!(
            layer.key("/anju.test.v1.T/Get").as_deref(),
            Some("/anju.test.v1.T/Get")
        );
        assert_eq!(layer.key("/x/0f3a").as_deref(), Some("/unknown/unknown"));
        assert_eq!(layer.key("/grpc.health.v1.Health/Check"), None);
    }

    #[test]
    fn a_call_dropped_before_it_answers_is_counted_as_cancelled() {
        drop(Timing {
            path: "/anju.test.v1.Dropped/Slow".into(),
            started: Instant::now(),
            recorded: false,
            span: tracing::Span::none(),
        });
        assert!(render_rpcs().lines().any(|l| l == "anju_rpc_server_requests_total{rpc_service=\"anju.test.v1.Dropped\",rpc_method=\"Slow\",rpc_grpc_status_code=\"CANCELLED\"} 1"));
    }

    #[test]
    fn a_call_lands_in_its_bucket_and_the_histogram_is_cumulative() {
        record("/anju.test.v1.T/Slow", Code::Ok, 30_000);
        record("/anju.test.v1.T/Slow", Code::NotFound, 700);
        let text = render_rpcs();
        let line = |l: &str| assert!(text.lines().any(|x| x == l), "no `{l}` in\n{text}");
        line(
            "anju_rpc_server_requests_total{rpc_service=\"anju.test.v1.T\",rpc_method=\"Slow\",rpc_grpc_status_code=\"NOT_FOUND\"} 1",
        );
        line(
            "anju_rpc_server_duration_seconds_bucket{rpc_service=\"anju.test.v1.T\",rpc_method=\"Slow\",le=\"0.001000\"} 1",
        );
        line(
            "anju_rpc_server_duration_seconds_bucket{rpc_service=\"anju.test.v1.T\",rpc_method=\"Slow\",le=\"0.025000\"} 1",
        );
        line(
            "anju_rpc_server_duration_seconds_bucket{rpc_service=\"anju.test.v1.T\",rpc_method=\"Slow\",le=\"0.050000\"} 2",
        );
        line(
            "anju_rpc_server_duration_seconds_bucket{rpc_service=\"anju.test.v1.T\",rpc_method=\"Slow\",le=\"+Inf\"} 2",
        );
        line(
            "anju_rpc_server_duration_seconds_sum{rpc_service=\"anju.test.v1.T\",rpc_method=\"Slow\"} 0.030700",
        );
    }
}
