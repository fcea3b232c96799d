//! The benchmarks' own paths, at a size a test can afford, so `make bench` does not first fail
//! when someone measures. The saga benchmark's journeys (through the shared fixture, with the
//! coordinator in a stack of its own) must run end to end. Its backlog (60 units) is more than a
//! page of handover's unit list, which the journey's batch reads to the end.

#[tokio::test]
async fn the_saga_benchmark_runs_its_journeys_end_to_end() {
    let report = anju_e2e::bench::saga::run(60, 2, 2).await.unwrap();
    assert_eq!((report.units, report.journeys), (60, 2));
    assert!(report.journeys_per_second > 0.0);
    assert!(report.p99 >= report.p50);
}

/// The title benchmark's path at a small size: a survey report of 12 sold units, every
/// difference charged in finance and paid, and title seeing each settled.
#[tokio::test]
async fn the_title_benchmark_runs_a_survey_to_every_difference_settled() {
    let report = anju_e2e::bench::title::run(12).await.unwrap();
    assert_eq!(report.units, 12);
    // Both read on the database's clock. (The import is timed by the client, which may hear of
    // its commit after the coordinator already started sagas from it: no order with those.)
    assert!(report.charged >= report.coordinator);
    assert!(report.to_finance.1 >= report.to_finance.0);
    assert!(report.markdown().contains("12 units"));
}

/// The complaints benchmark's path at a small size: two loads of standing clocks, complaints
/// filed and taken beside each, and breaches whose lateness is read back.
#[tokio::test]
async fn the_complaints_benchmark_files_takes_and_breaches_beside_standing_clocks() {
    let report = anju_e2e::bench::complaints::run(&[20, 200], 12, 6)
        .await
        .unwrap();
    assert_eq!(report.points.len(), 2);
    assert!(
        report.points[1].clocks >= 600,
        "three clocks a standing complaint"
    );
    assert!(report.points.iter().all(|p| p.filed_per_second > 0.0));
    assert_eq!(report.breaches, 6);
    assert!(report.lateness_p99 >= report.lateness_p50);
    assert!(report.markdown().contains("| 200 |"));
}

/// The partner benchmark's path at a small size: feeds held open, orders through the partner
/// API, every assignment on its contractor's stream.
#[tokio::test]
async fn the_partner_benchmark_delivers_every_assignment_to_its_stream() {
    let report = anju_e2e::bench::partner::run(6, 12).await.unwrap();
    assert_eq!((report.streams, report.orders), (6, 12));
    assert!(report.orders_per_second > 0.0);
    assert!(report.p99 >= report.p50 && report.p99 < std::time::Duration::from_secs(60));
    assert!(report.markdown().contains("6 contractors"));
}

/// The RPC benchmark's path at a small size, with its telemetry run: the same calls with spans
/// and metrics on, then off, each measured.
#[tokio::test]
async fn the_rpc_benchmark_measures_calls_with_telemetry_on_and_off() {
    let sink = anju_testkit::otlp::Receiver::counting();
    let run = anju_e2e::bench::rpc::TelemetryRun {
        callers: 2,
        pairs: 1,
        sink,
    };
    let report = anju_e2e::bench::rpc::run(&[2], 40, Some(run))
        .await
        .unwrap();
    assert_eq!(report.points.len(), 1);
    assert_eq!(report.points[0].anju.calls, 40);
    let telemetry = report.telemetry.as_ref().expect("the telemetry run");
    assert_eq!((telemetry.on.len(), telemetry.off.len()), (1, 1));
    assert!(
        telemetry
            .on
            .iter()
            .chain(&telemetry.off)
            .all(|m| m.calls == 40)
    );
    assert!(telemetry.ratio().is_finite() && telemetry.ratio() > 0.0);
    assert!(anju_kit::telemetry::enabled(), "left on");
    assert!(report.markdown().contains("Telemetry's cost"));
}
