//! The benchmark's exporting subscriber sends spans only while its telemetry run asks for
//! them: the other benchmarks are measured with spans made and none exported, as they were
//! before that run existed. Its own test binary, since the subscriber is the whole process's.

use std::time::Duration;

use anju_kit::telemetry;
use anju_testkit::otlp::Receiver;

fn spans(n: usize, name: &str) {
    for i in 0..n {
        let span = tracing::info_span!("work", i, name);
        span.in_scope(|| {});
    }
}

/// Waits until `sink` has counted `n` spans; fails after 10 s.
async fn until(sink: &Receiver, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sink.counted() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} spans",
            sink.counted()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn spans_are_exported_only_while_export_is_on() {
    // The batch processor sends at once when it holds a full batch (512 spans), else every
    // 5 s: 600 spans exported would arrive well inside the 800 ms waited below.
    let sink = Receiver::counting();
    let endpoint = format!("http://{}", sink.start().await);
    telemetry::init_for_tests_exporting(&endpoint).unwrap();

    // Off at first: made (they carry trace ids), not sent.
    let first = tracing::info_span!("first");
    assert_ne!(
        telemetry::trace_id_of(&first),
        "00000000000000000000000000000000"
    );
    drop(first);
    spans(600, "off");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.counted(), 0, "nothing exported while export is off");

    telemetry::set_exporting(true);
    spans(512, "on");
    until(&sink, 512).await;

    telemetry::set_exporting(false);
    spans(600, "off again");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.counted(), 512, "exactly the spans made while on");
}
