//! The saga benchmark's own path, at a size a test can afford: its journeys (through the
//! shared fixture, with the coordinator in a stack of its own) must run end to end, so `make
//! bench` does not first fail when someone measures. Its backlog (60 units) is more than a
//! page of handover's unit list, which the journey's batch reads to the end.

#[tokio::test]
async fn the_saga_benchmark_runs_its_journeys_end_to_end() {
    let report = anju_e2e::bench::saga::run(60, 2, 2).await.unwrap();
    assert_eq!((report.units, report.journeys), (60, 2));
    assert!(report.journeys_per_second > 0.0);
    assert!(report.p99 >= report.p50);
}
