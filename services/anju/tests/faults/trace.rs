//! One trace per buyer journey: a move-in driven by a client under one span, with sales,
//! finance, handover and the coordinator each an `anju serve` process of its own exporting
//! over OTLP to a real OTLP/gRPC receiver, arrives as one trace — the client's calls, the
//! events between services and the calls the coordinator makes later from its command table.

use std::collections::BTreeSet;

use anju_testkit::otlp::{Received, Receiver};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tracing::Instrument;

use super::processes::{Processes, journey};

// Several threads: the receiver must answer while the test waits for the processes to stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_in_journey_is_one_trace_across_services_events_and_the_coordinators_commands() {
    anju_kit::telemetry::init_for_tests();
    let receiver = Receiver::keeping();
    let addr = receiver.start().await;
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let logs = LogDir::new();
    let mut procs = Processes::start_groups(
        &settings,
        base,
        &[
            "saga",
            "sales",
            "finance",
            "handover",
            "maintenance,complaints,title",
        ],
        &[
            ("ANJU_OTLP_ENDPOINT", format!("http://{addr}")),
            ("ANJU_LOG_FORMAT", "json".into()),
            ("ANJU_TRACE_STATEMENTS", "true".into()),
            ("RUST_LOG", "info".into()),
        ],
        Some(logs.path()),
    )
    .await;

    // The buyer's journey under one client span: sale, fees charged by the coordinator and
    // paid, inspection, the coordinator's clearance, keys.
    let root = tracing::info_span!("buyer journey");
    let trace = anju_kit::telemetry::trace_id_of(&root);
    async {
        let j = &mut journey(base, uuid::Uuid::now_v7(), "TRACE-1").await;
        let unit = j.sold_unit("0801", "13800000801").await.unwrap();
        j.batch(1, None).await.unwrap();
        let fees = j.charges(&unit, "handover:", 2).await.unwrap();
        j.pay(&fees, "FEES").await.unwrap();
        j.check_in(&unit).await.unwrap();
        j.inspect(&unit, 1, Vec::new()).await.unwrap().unwrap();
        j.wait_cleared(&unit).await.unwrap();
        j.release(&unit, "keys").await.unwrap().unwrap();
        j.ended_move_in(&unit).await.unwrap();
    }
    .instrument(root.clone())
    .await;
    drop(root);
    // SIGTERM: each process flushes its spans as it stops.
    procs.stop_all();

    let spans = receiver.spans();
    let journey: Vec<&Received> = spans.iter().filter(|s| s.trace_id == trace).collect();
    let services: BTreeSet<&str> = journey.iter().map(|s| s.service.as_str()).collect();
    for service in ["anju-sales", "anju-finance", "anju-handover", "anju-saga"] {
        assert!(
            services.contains(service),
            "{service} in the journey's trace: {services:?} ({} spans received)",
            spans.len()
        );
    }

    // The calls the coordinator made from its command table: client spans in the journey's
    // trace, named and attributed per OpenTelemetry's RPC conventions, each answered by the
    // service's server span in the same trace — and none of them anywhere else.
    let server = SpanKind::Server as i32;
    for (service, rpc) in [
        ("anju-finance", "anju.finance.v1.FinanceService/IssueCharge"),
        (
            "anju-handover",
            "anju.handover.v1.HandoverService/RecordNotice",
        ),
        (
            "anju-handover",
            "anju.handover.v1.HandoverService/GrantKeyClearance",
        ),
    ] {
        let answered: Vec<&Received> = spans
            .iter()
            .filter(|s| s.name == rpc && s.kind == server)
            .collect();
        assert!(!answered.is_empty(), "{rpc} answered");
        for span in &answered {
            assert_eq!(span.trace_id, trace, "{rpc} in the journey's trace");
            assert_eq!(span.service, service);
            let (rpc_service, method) = rpc.split_once('/').unwrap();
            assert_eq!(span.attributes["rpc.system"], "grpc");
            assert_eq!(span.attributes["rpc.service"], rpc_service);
            assert_eq!(span.attributes["rpc.method"], method);
            assert_eq!(span.attributes["rpc.grpc.status_code"], "0", "{span:?}");
        }
        let sent = journey
            .iter()
            .filter(|s| {
                s.service == "anju-saga" && s.name == rpc && s.kind == SpanKind::Client as i32
            })
            .count();
        assert_eq!(sent, answered.len(), "{rpc}: one client span per call");
    }

    // The statements (telemetry.trace_statements): client spans per the database conventions,
    // each the child of the call that ran it — the coordinator's IssueCharge included.
    let charge_calls: BTreeSet<&str> = journey
        .iter()
        .filter(|s| s.name == "anju.finance.v1.FinanceService/IssueCharge" && s.kind == server)
        .map(|s| s.span_id.as_str())
        .collect();
    let statements: Vec<&&Received> = journey
        .iter()
        .filter(|s| {
            s.attributes
                .get("db.system.name")
                .is_some_and(|v| v == "postgresql")
        })
        .collect();
    assert!(
        statements
            .iter()
            .any(|s| charge_calls.contains(s.parent_span_id.as_str())
                && s.name == "INSERT charges"
                && s.attributes["db.collection.name"] == "charges"),
        "a charge inserted under IssueCharge: {:?}",
        statements.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    for s in &statements {
        assert_eq!(s.kind, SpanKind::Client as i32);
        assert!(s.attributes["db.query.text"].len() <= 2_000 * 4);
        assert_eq!(
            s.name.split(' ').next(),
            Some(s.attributes["db.operation.name"].as_str())
        );
    }

    // The events between them: the coordinator's consumer spans in the same trace, with the
    // messaging conventions' attributes.
    let consumed: Vec<&&Received> = journey
        .iter()
        .filter(|s| s.service == "anju-saga" && s.kind == SpanKind::Consumer as i32)
        .collect();
    assert!(
        !consumed.is_empty(),
        "the coordinator consumed the journey's events"
    );
    for span in consumed {
        assert_eq!(span.attributes["messaging.system"], "nats");
        assert_eq!(span.attributes["messaging.operation.type"], "process");
        assert!(
            span.name.starts_with(&format!(
                "process {}",
                span.attributes["messaging.destination.name"]
            )),
            "{span:?}"
        );
    }

    // The logs: JSON, and every line written under a call or an event carries its trace and
    // span ids — the journey's own where the journey caused it.
    for (group, line) in [
        ("finance", "settlement group settled"),
        ("handover", "handover fees settlement learnt"),
    ] {
        let lines = logs.lines(group);
        let traced: Vec<&serde_json::Value> =
            lines.iter().filter(|l| l["message"] == line).collect();
        assert!(!traced.is_empty(), "{group} logged {line:?}: {lines:?}");
        for l in traced {
            let spans = l["spans"].as_array().expect("the line's spans");
            assert!(
                spans.iter().any(|s| s["trace_id"] == trace.as_str()
                    && s["span_id"].as_str().is_some_and(|id| id.len() == 16)),
                "{l}"
            );
        }
    }
    for group in ["saga", "sales", "finance", "handover"] {
        for l in logs.lines(group) {
            let Some(spans) = l["spans"].as_array() else {
                continue;
            };
            if let Some(root) = spans
                .iter()
                .find(|s| s["name"] == "grpc" || s["name"] == "consume")
            {
                assert!(root["trace_id"].is_string(), "{group}: {l}");
            }
        }
    }
    anju_testkit::cleanup(&settings).await.unwrap();
}

/// A directory for the processes' logs, removed afterwards.
struct LogDir(std::path::PathBuf);

impl LogDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("anju-trace-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        LogDir(dir)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// Group `group`'s log lines, each a JSON object.
    fn lines(&self, group: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.0.join(format!("{group}.log")))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// Kept when `ANJU_TEST_KEEP_LOGS` is set, for reading after a failure.
impl Drop for LogDir {
    fn drop(&mut self) {
        if std::env::var_os("ANJU_TEST_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
