//! Logs and traces: `tracing` with readable output locally and JSON in production, `RUST_LOG`
//! respected, OpenTelemetry spans for every `tracing` span (so trace ids exist and cross gRPC
//! metadata and NATS headers), exported over OTLP when an endpoint is configured.

use std::sync::{
    OnceLock,
    atomic::{AtomicBool, Ordering},
};

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    propagation::TraceContextPropagator,
    trace::{BatchSpanProcessor, SdkTracerProvider, Span as SdkSpan, SpanData, SpanProcessor},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer, Registry, layer::SubscriberExt, reload, util::SubscriberInitExt,
};

use crate::config::{LogFormat, TelemetrySettings};

/// Flushes exported spans when dropped or shut down.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    pub fn shutdown(mut self) {
        self.flush();
    }

    fn flush(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("telemetry: flushing spans failed: {err}");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.flush();
    }
}

static INSTALLED: OnceLock<()> = OnceLock::new();

/// Whether spans reach OpenTelemetry and calls are counted ([`set_enabled`]).
static ENABLED: AtomicBool = AtomicBool::new(true);

/// The OpenTelemetry layer's filter, swapped by [`set_enabled`], and what it lets through.
static TRACED: OnceLock<(reload::Handle<EnvFilter, Registry>, &'static str)> = OnceLock::new();

/// Turns OpenTelemetry spans and the RPC metrics on or off for the whole process: on in every
/// service; the benchmark turns them off to measure what they cost.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
    if let Some((handle, directives)) = TRACED.get() {
        let filter = EnvFilter::new(if on { directives } else { "off" });
        if let Err(err) = handle.reload(filter) {
            eprintln!("telemetry: switching spans failed: {err}");
        }
    }
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether the spans of a subscriber installed by [`init_for_tests_exporting`] are exported.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Turns the export of [`init_for_tests_exporting`]'s spans on or off (off at first).
pub fn set_exporting(on: bool) {
    EXPORTING.store(on, Ordering::Relaxed);
}

/// A span processor that passes spans on only while [`set_exporting`] has turned export on.
#[derive(Debug)]
struct Gated<P>(P);

impl<P: SpanProcessor> SpanProcessor for Gated<P> {
    fn on_start(&self, span: &mut SdkSpan, cx: &Context) {
        if EXPORTING.load(Ordering::Relaxed) {
            self.0.on_start(span, cx);
        }
    }

    fn on_end(&self, span: SpanData) {
        if EXPORTING.load(Ordering::Relaxed) {
            self.0.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// The filter of the OpenTelemetry layer: `directives` (anju's spans), or nothing while
/// [`set_enabled`] has turned telemetry off.
fn traced(directives: &'static str) -> reload::Layer<EnvFilter, Registry> {
    let (filter, handle) = reload::Layer::new(EnvFilter::new(directives));
    let _ = TRACED.set((handle, directives));
    filter
}

/// The layer turning `tracing` spans into OpenTelemetry spans, with what the conventions ask of
/// them and nothing each span would pay for besides: no source location, thread or target
/// attributes, no busy and idle time, no OpenTelemetry context made current at every poll of
/// an instrumented future (anju reads a span's context from the span itself).
fn spans<S>(
    tracer: opentelemetry_sdk::trace::SdkTracer,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
}

/// Installs the process-wide subscriber once; later calls (many services in one process,
/// many tests in one binary) return a guard that owns nothing.
pub fn init(service: &str, settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    let mut guard = TelemetryGuard { provider: None };
    if INSTALLED.get().is_some() {
        return Ok(guard);
    }
    let mut builder = SdkTracerProvider::builder().with_resource(
        Resource::builder()
            .with_service_name(service.to_string())
            .build(),
    );
    if let Some(endpoint) = &settings.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer("anju");
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    // `RUST_LOG` chooses what is printed, not what is traced: anju's spans (info and above)
    // reach OpenTelemetry whatever the log level, so a quiet process still exports whole
    // traces; the libraries' own spans (h2, hyper, tower) stay out of them.
    let filter = || {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new("info,h2=warn,hyper=warn,tower=warn,async_nats=warn,sqlx=warn")
        })
    };
    let otel = spans(tracer).with_filter(traced(
        "info,h2=off,hyper=off,tower=off,async_nats=off,sqlx=off",
    ));
    let statements = settings.trace_statements.then(|| {
        StatementSpans {
            tracer: provider.tracer("anju"),
        }
        .with_filter(EnvFilter::new("sqlx::query=debug"))
    });
    let registry = tracing_subscriber::registry().with(otel).with(statements);
    let installed = match settings.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_filter(filter()),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .compact()
                    .with_target(false)
                    .with_filter(filter()),
            )
            .try_init(),
    };
    if installed.is_ok() {
        let _ = INSTALLED.set(());
        guard.provider = Some(provider);
    }
    Ok(guard)
}

/// Installs a quiet subscriber for tests (warnings only unless `RUST_LOG` says otherwise),
/// still producing OpenTelemetry trace ids.
pub fn init_for_tests() {
    install_for_tests(None);
}

/// As [`init_for_tests`], able to export the spans over OTLP/gRPC to `endpoint` while
/// [`set_exporting`] says so (a benchmark measuring what traces cost a service, export
/// included; its other figures are measured as before, spans made and not sent). Call it
/// first, inside the Tokio runtime.
pub fn init_for_tests_exporting(endpoint: &str) -> anyhow::Result<()> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()?;
    install_for_tests(Some(exporter));
    Ok(())
}

fn install_for_tests(exporter: Option<opentelemetry_otlp::SpanExporter>) {
    if INSTALLED.get().is_some() {
        return;
    }
    let mut builder = SdkTracerProvider::builder();
    if let Some(exporter) = exporter {
        builder = builder.with_span_processor(Gated(BatchSpanProcessor::builder(exporter).build()));
    }
    let provider = builder.build();
    let tracer = provider.tracer("anju-tests");
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    // The level filter applies to the log output only: spans must still exist (and carry
    // trace ids) for the OpenTelemetry layer whatever is printed.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    // Spans at info and above get OpenTelemetry contexts; the libraries' debug and trace
    // events (h2, hyper, tower) would otherwise all be turned into span events.
    let installed = tracing_subscriber::registry()
        .with(spans(tracer).with_filter(traced("info")))
        .with(
            tracing_subscriber::fmt::layer()
                .compact()
                .with_test_writer()
                .with_filter(filter),
        )
        .try_init();
    if installed.is_ok() {
        let _ = INSTALLED.set(());
        // Keep the provider alive for the life of the test process.
        std::mem::forget(provider);
    }
}

/// The W3C `traceparent` of the current span, or an empty string outside any trace.
pub fn current_traceparent() -> String {
    let context = tracing::Span::current().context();
    traceparent_of(&context)
}

pub fn traceparent_of(context: &Context) -> String {
    let mut carrier = Carrier::default();
    TraceContextPropagator::new().inject_context(context, &mut carrier);
    carrier.0.remove("traceparent").unwrap_or_default()
}

/// Makes `span` a child of the trace named by `traceparent` (none when it is empty or
/// invalid: the span starts a trace), then writes the span's trace and span ids into its
/// `trace_id` and `span_id` fields (declared `tracing::field::Empty`), so every JSON log line
/// under it carries them. Once the ids are read they are fixed: call it right after creating
/// the span.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    if !traceparent.is_empty() {
        let mut carrier = Carrier::default();
        carrier
            .0
            .insert("traceparent".into(), traceparent.to_string());
        let context = TraceContextPropagator::new().extract(&carrier);
        if context.span().span_context().is_valid() {
            let _ = span.set_parent(context);
        }
    }
    let context = span.context();
    let otel = context.span();
    let ids = otel.span_context();
    if ids.is_valid() {
        span.record("trace_id", tracing::field::display(ids.trace_id()));
        span.record("span_id", tracing::field::display(ids.span_id()));
    }
}

/// Which end of a gRPC call a span is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpcSide {
    Client,
    Server,
}

/// A call's gRPC status on its span (`rpc.grpc.status_code`, declared `Empty`), and the span's
/// status as OpenTelemetry's RPC conventions set it: an error for a client on any code but OK,
/// for a server on the codes that are the server's fault; unset otherwise (`otel.status_code`).
pub fn record_rpc_status(span: &tracing::Span, side: RpcSide, code: tonic::Code) {
    use tonic::Code;
    span.record("rpc.grpc.status_code", code as i32);
    let error = match side {
        RpcSide::Client => code != Code::Ok,
        RpcSide::Server => matches!(
            code,
            Code::Unknown
                | Code::DeadlineExceeded
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
        ),
    };
    if error {
        span.record("otel.status_code", "ERROR");
    }
}

/// The trace id (32 hex digits) of a span, for logs and tests.
pub fn trace_id_of(span: &tracing::Span) -> String {
    span.context().span().span_context().trace_id().to_string()
}

/// The trace id inside a `traceparent` value.
pub fn trace_id_in(traceparent: &str) -> Option<&str> {
    traceparent.split('-').nth(1)
}

#[derive(Default)]
struct Carrier(std::collections::HashMap<String, String>);

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}

impl Extractor for Carrier {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Turns sqlx's record of each statement it ran (its `sqlx::query` event) into an OpenTelemetry
/// client span under the call or event that ran it, as the database conventions name and
/// attribute it: `INSERT inbox`, `db.system.name = postgresql`, `db.operation.name`,
/// `db.collection.name`, `db.query.text`, `db.response.returned_rows`
/// (`telemetry.trace_statements`).
struct StatementSpans {
    tracer: opentelemetry_sdk::trace::SdkTracer,
}

/// The longest `db.query.text` kept.
const QUERY_TEXT_CHARS: usize = 2_000;

#[derive(Default)]
struct Statement {
    summary: String,
    text: String,
    rows_returned: Option<u64>,
    elapsed_secs: f64,
}

impl tracing::field::Visit for Statement {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_string(),
            "db.statement" => self.text = value.trim().to_string(),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "rows_returned" {
            self.rows_returned = Some(value);
        }
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = value;
        }
    }

    fn record_debug(&mut self, _field: &tracing::field::Field, _value: &dyn std::fmt::Debug) {}
}

/// A statement's operation (`INSERT`) and the table it names first (`inbox`), if any.
fn operation_and_collection(sql: &str) -> (String, Option<String>) {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let operation = words.first().map_or("QUERY", |w| w).to_ascii_uppercase();
    let after = |keyword: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(keyword))
            .and_then(|i| words.get(i + 1))
    };
    let table = match operation.as_str() {
        "INSERT" => after("into"),
        "UPDATE" => words.get(1),
        "DELETE" | "SELECT" => after("from"),
        _ => None,
    };
    let table = table
        .map(|t| t.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')))
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    (operation, table)
}

impl<S: tracing::Subscriber> Layer<S> for StatementSpans {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        use opentelemetry::trace::{Span as _, SpanKind, Tracer as _};

        let parent = tracing::Span::current().context();
        if !parent.span().span_context().is_valid() {
            return;
        }
        let mut statement = Statement::default();
        event.record(&mut statement);
        let text = if statement.text.is_empty() {
            statement.summary.trim_end_matches('…').trim().to_string()
        } else {
            statement.text
        };
        let (operation, collection) = operation_and_collection(&text);
        let end = std::time::SystemTime::now();
        let start = end
            .checked_sub(std::time::Duration::from_secs_f64(
                statement.elapsed_secs.max(0.0),
            ))
            .unwrap_or(end);
        let mut attributes = vec![
            opentelemetry::KeyValue::new("db.system.name", "postgresql"),
            opentelemetry::KeyValue::new("db.operation.name", operation.clone()),
            opentelemetry::KeyValue::new(
                "db.query.text",
                text.chars().take(QUERY_TEXT_CHARS).collect::<String>(),
            ),
        ];
        let name = match collection {
            Some(table) => {
                let name = format!("{operation} {table}");
                attributes.push(opentelemetry::KeyValue::new("db.collection.name", table));
                name
            }
            None => operation,
        };
        if let Some(rows) = statement.rows_returned {
            attributes.push(opentelemetry::KeyValue::new(
                "db.response.returned_rows",
                i64::try_from(rows).unwrap_or(i64::MAX),
            ));
        }
        let mut span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        span.end_with_timestamp(end);
    }
}

#[cfg(test)]
mod tests {
    use super::operation_and_collection as named;

    #[test]
    fn a_statement_is_named_by_its_operation_and_first_table() {
        assert_eq!(
            named("insert into inbox (consumer, event_id) select $1"),
            ("INSERT".into(), Some("inbox".into()))
        );
        assert_eq!(
            named("update saga_commands set status = 'done'"),
            ("UPDATE".into(), Some("saga_commands".into()))
        );
        assert_eq!(
            named("select k.request_hash from idempotency_keys k where"),
            ("SELECT".into(), Some("idempotency_keys".into()))
        );
        assert_eq!(
            named("delete from saga_timers where saga_id = $1"),
            ("DELETE".into(), Some("saga_timers".into()))
        );
        assert_eq!(named("with saga as (update sagas)"), ("WITH".into(), None));
        assert_eq!(named("BEGIN"), ("BEGIN".into(), None));
    }
}
