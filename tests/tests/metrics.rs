//! The Prometheus endpoint over a move-in (DOMAIN.md §2): a unit handed over and another
//! waiting on its fees, the coordinator's move-in sagas, every RPC counted, the consumers' lag
//! and dead letters — each figure as
//! the journey left it, read from `GET /metrics` over HTTP.

use anju::journey::{Journey, Staff};
use anju_e2e::TestStack;

/// The body of `GET /metrics` at `port`.
async fn scrape(port: u16) -> String {
    anju_e2e::scrape_metrics(port).await.1
}

#[tokio::test]
async fn a_move_in_shows_in_the_metrics() {
    let mut settings = anju_testkit::settings();
    settings.telemetry.metrics_address = Some("127.0.0.1:0".into());
    let stack = TestStack::start_with(settings).await.unwrap();
    let port = stack.stack.metrics_port().expect("a metrics port");
    let staff = Staff::new(|service, subject, roles| {
        Ok(stack.authed_with(
            service,
            &anju_testkit::token_for(stack.tenant, subject, roles),
        ))
    })
    .unwrap();
    let j = Journey::open(staff, "METRICS", "metrics-").await.unwrap();
    let handed = j.sold_unit("0101", "13800000101").await.unwrap();
    let unpaid = j.sold_unit("0102", "13800000102").await.unwrap();
    j.batch(2, None).await.unwrap();
    j.paid_and_passed(&handed).await.unwrap();
    j.wait_cleared(&handed).await.unwrap();
    j.release(&handed, "keys").await.unwrap().unwrap();
    // A spare key lent for three seconds: overdue from then on.
    j.staff
        .counter
        .clone()
        .lend_key(anju_proto::handover::LendKeyRequest {
            request_id: "lend-briefly".into(),
            unit_id: handed.clone(),
            kind: "mailbox".into(),
            borrower: "plumber Liu".into(),
            purpose: "meter".into(),
            reason: anju_proto::handover::LoanReason::MeterReading as i32,
            due_back_at: Some(prost_types::Timestamp {
                seconds: chrono::Utc::now().timestamp() + 3,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    j.check_in(&unpaid).await.unwrap();
    j.inspect(&unpaid, 1, Vec::new()).await.unwrap().unwrap();

    let scope = format!("tenant=\"{}\",project=\"{}\"", stack.tenant, j.project_id);
    let wanted = [
        format!("anju_units_handed_over_total{{{scope}}} 1"),
        format!("anju_handovers{{{scope},state=\"keys_released\"}} 1"),
        format!("anju_handovers{{{scope},state=\"waiting_on_fees\"}} 1"),
        format!("anju_handover_batches{{{scope},state=\"plan_approved\"}} 1"),
        format!("anju_key_loans_overdue{{{scope}}} 1"),
        format!("anju_sagas_open{{{scope},flow=\"move_in\",state=\"awaiting_fees\"}} 1"),
        format!("anju_sagas_finished_total{{{scope},flow=\"move_in\",state=\"keys_released\"}} 1"),
    ];
    let body = j
        .eventually("the move-in's figures", || async {
            let body = scrape(port).await;
            Ok(wanted
                .iter()
                .all(|w| body.lines().any(|l| l == w))
                .then_some(body))
        })
        .await;
    let body = match body {
        Ok(body) => body,
        Err(e) => panic!("{e}:\n{}", scrape(port).await),
    };
    for prefix in [
        "anju_rpc_server_requests_total{rpc_service=\"anju.handover.v1.HandoverService\",rpc_method=\"ReleaseKeys\",rpc_grpc_status_code=\"OK\"} ",
        "anju_outbox_backlog{service=\"handover\"} ",
        "anju_saga_commands{status=\"pending\"} ",
        "anju_consumer_pending{consumer=\"handover-from-sales\"} ",
        "anju_consumer_ack_pending{consumer=\"saga-from-finance\"} ",
        "anju_dead_letters{consumer=\"saga-from-handover\"} 0",
    ] {
        assert!(
            body.lines().any(|l| l.starts_with(prefix)),
            "no `{prefix}…` in:\n{body}"
        );
    }
    // Seven services in one process: each family declared once, its samples together.
    for family in [
        "anju_outbox_backlog",
        "anju_consumer_pending",
        "anju_rpc_server_duration_seconds",
    ] {
        assert_eq!(
            body.matches(&format!("# TYPE {family} ")).count(),
            1,
            "{family}"
        );
    }
    let backlog: Vec<usize> = body
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("anju_outbox_backlog{"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(backlog.len(), 7);
    assert_eq!(
        backlog[6] - backlog[0],
        6,
        "one service's backlog after another"
    );
}
