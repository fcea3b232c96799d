//! The engine against its real database: inputs applied in one transaction each, in any order.

use anju_messaging::Event;
use anju_proto::{
    EventPayload,
    common::Money,
    events::{Envelope, InspectionRecorded, SettlementGroupSettled, UnitAddedToBatch},
};
use prost::Message;
use sqlx::PgPool;
use uuid::Uuid;

fn event<P: EventPayload + Message>(tenant: Uuid, payload: &P) -> Event {
    let id = Uuid::now_v7().to_string();
    Event::from_envelope(
        Envelope {
            event_id: id.clone(),
            event_type: P::EVENT_TYPE.into(),
            tenant_id: tenant.to_string(),
            correlation_id: id,
            payload: payload.encode_to_vec(),
            ..Default::default()
        },
        "test".into(),
        1,
    )
    .unwrap()
}

/// Unit `unit` added to a batch whose window opens on 2027-01-01, with its property fee and
/// maintenance fund: the start of a move-in saga, which charges both.
fn added_to_batch(unit: &str) -> UnitAddedToBatch {
    let money = |minor_units| {
        Some(Money {
            minor_units,
            currency: "CNY".into(),
        })
    };
    UnitAddedToBatch {
        batch_id: Uuid::now_v7().to_string(),
        project_id: Uuid::now_v7().to_string(),
        unit_id: unit.to_string(),
        customer_id: Uuid::now_v7().to_string(),
        window_start: "2027-01-01".into(),
        time_zone: String::new(),
        property_fee: money(93_450),
        maintenance_fund: money(1_335_000),
    }
}

/// A database of the coordinator's own for the test, migrated.
async fn database() -> (anju_kit::Settings, PgPool) {
    let settings = anju_testkit::settings();
    let pool = anju_kit::db::connect_service(
        &settings,
        "saga",
        &[&anju_messaging::migrator(), &sqlx::migrate!("./migrations")],
    )
    .await
    .unwrap();
    (settings, pool)
}

async fn apply(pool: &PgPool, event: &Event) {
    let mut tx = pool.begin().await.unwrap();
    anju_saga::engine()
        .apply_event(&mut tx, event)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Inputs that reach the coordinator before the event that starts their saga wait, parked,
/// and are applied right after the start, in their order of arrival, once.
#[tokio::test]
async fn events_before_the_start_are_parked_then_applied_after_it() {
    let (settings, pool) = database().await;
    let tenant = Uuid::now_v7();
    let unit = Uuid::now_v7().to_string();
    let project = Uuid::now_v7().to_string();

    apply(
        &pool,
        &event(
            tenant,
            &SettlementGroupSettled {
                settlement_group: format!("handover:{unit}"),
                ..Default::default()
            },
        ),
    )
    .await;
    apply(
        &pool,
        &event(
            tenant,
            &InspectionRecorded {
                unit_id: unit.clone(),
                project_id: project.clone(),
                round: 1,
                passed: true,
                ..Default::default()
            },
        ),
    )
    .await;
    let parked: i64 = sqlx::query_scalar("select count(*) from saga_parked_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(parked, 2);
    let sagas: i64 = sqlx::query_scalar("select count(*) from sagas")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sagas, 0, "no saga before its start");

    let start = event(
        tenant,
        &UnitAddedToBatch {
            project_id: project,
            ..added_to_batch(&unit)
        },
    );
    apply(&pool, &start).await;
    // The start delivered again (a redelivery the inbox would catch) opens nothing twice.
    apply(&pool, &start).await;

    let (state, version): (String, i32) =
        sqlx::query_as("select state, version from sagas where saga_key = $1")
            .bind(&unit)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(state, "cleared");
    assert_eq!(version, 2, "start, then the two parked inputs");
    let inputs: Vec<String> = sqlx::query_scalar("select input from saga_history order by version")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        inputs[0].starts_with("event UnitAddedToBatch"),
        "{inputs:?}"
    );
    assert!(
        inputs[1].starts_with("parked event SettlementGroupSettled"),
        "{inputs:?}"
    );
    assert!(
        inputs[2].starts_with("parked event InspectionRecorded"),
        "{inputs:?}"
    );
    let methods: Vec<String> =
        sqlx::query_scalar("select method from saga_commands order by created_at, method")
            .fetch_all(&pool)
            .await
            .unwrap();
    let count = |m: &str| methods.iter().filter(|x| *x == m).count();
    assert_eq!(
        (
            count("IssueCharge"),
            count("RecordNotice"),
            count("GrantKeyClearance")
        ),
        (2, 0, 1),
        "the move-in notice waits for the batch's plan"
    );
    let parked: i64 = sqlx::query_scalar("select count(*) from saga_parked_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(parked, 0);
    pool.close().await;
    anju_testkit::cleanup(&settings).await.unwrap();
}

/// Retention empties the payload of a command done long ago and keeps its record; a recent or
/// pending command keeps its payload.
#[tokio::test]
async fn retention_empties_old_done_commands_only() {
    let (settings, pool) = database().await;
    let tenant = Uuid::now_v7();
    let unit = Uuid::now_v7().to_string();
    // A move-in saga with its three commands.
    apply(
        &pool,
        &event(
            tenant,
            &UnitAddedToBatch {
                time_zone: "Asia/Shanghai".into(),
                ..added_to_batch(&unit)
            },
        ),
    )
    .await;
    let commands: Vec<Uuid> =
        sqlx::query_scalar("select command_id from saga_commands order by created_at")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(commands.len() >= 2, "{commands:?}");
    sqlx::query("update saga_commands set status = 'done', done_at = now() - interval '31 days' where command_id = $1")
        .bind(commands[0])
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("update saga_commands set status = 'done', done_at = now() - interval '29 days' where command_id = $1")
        .bind(commands[1])
        .execute(&pool)
        .await
        .unwrap();
    let sweep = anju_saga::command_payloads_sweep(settings.retention.saga_command_days);
    let affected = anju_messaging::retention::sweep_once(&pool, &[sweep])
        .await
        .unwrap();
    assert_eq!(affected, [("saga_commands", 1)]);
    let emptied: Vec<Uuid> =
        sqlx::query_scalar("select command_id from saga_commands where payload = ''::bytea")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(emptied, [commands[0]]);
    pool.close().await;
    anju_testkit::cleanup(&settings).await.unwrap();
}

/// Timers due together fire together, each once; one whose saga cannot be read is left due
/// and holds none of the others back.
#[tokio::test]
async fn due_timers_fire_in_batches_and_a_failing_one_holds_up_no_other() {
    let (settings, pool) = database().await;
    let tenant = Uuid::now_v7();
    let mut units = Vec::new();
    for _ in 0..3 {
        let unit = Uuid::now_v7().to_string();
        apply(
            &pool,
            &event(
                tenant,
                &UnitAddedToBatch {
                    batch_id: Uuid::now_v7().to_string(),
                    project_id: Uuid::now_v7().to_string(),
                    unit_id: unit.clone(),
                    customer_id: Uuid::now_v7().to_string(),
                    window_start: "2027-01-01".into(),
                    ..Default::default()
                },
            ),
        )
        .await;
        // The plan approved, the notice date already come.
        apply(
            &pool,
            &event(
                tenant,
                &anju_proto::events::MoveInNoticeScheduled {
                    unit_id: unit.clone(),
                    notice_at: Some(prost_types::Timestamp {
                        seconds: chrono::Utc::now().timestamp() - 60,
                        nanos: 0,
                    }),
                    ..Default::default()
                },
            ),
        )
        .await;
        units.push(unit);
    }
    // The second saga's state cannot be read by its flow.
    sqlx::query("update sagas set state_data = '{\"not\": \"a move-in\"}' where saga_key = $1")
        .bind(&units[1])
        .execute(&pool)
        .await
        .unwrap();
    let engine = anju_saga::engine();
    let fired = engine.fire_due(&pool).await.unwrap();
    assert_eq!(fired, 2, "both readable timers in one round");
    let notices: Vec<(String, i64)> = sqlx::query_as(
        "select s.saga_key, count(c.*) filter (where c.method = 'RecordNotice')
         from sagas s left join saga_commands c using (saga_id) group by s.saga_key",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (unit, n) in notices {
        let expected = if unit == units[1] { 0 } else { 2 };
        assert_eq!(n, expected, "{unit}");
    }
    let left: Vec<String> = sqlx::query_scalar(
        "select s.saga_key from saga_timers t join sagas s using (saga_id)
         where t.name = 'notice' and t.fired_at is null",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        left,
        [units[1].clone()],
        "the failing timer is left unfired"
    );
    // It is tried again later, not at once: the next round fires nothing, the others fired once.
    let later: bool = sqlx::query_scalar(
        "select fire_at > now() + interval '20 seconds' from saga_timers t join sagas s using (saga_id)
         where s.saga_key = $1 and t.name = 'notice'",
    )
    .bind(&units[1])
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(later, "pushed back");
    assert_eq!(engine.fire_due(&pool).await.unwrap(), 0);
    pool.close().await;
    anju_testkit::cleanup(&settings).await.unwrap();
}

/// The dispatcher's claims are leases. Two coordinators' dispatchers send a move-in's charges
/// to a finance that never answers: each command is claimed once and kept, its lease renewed
/// while its call is under way, long past the lease (2 s). The dispatchers killed, another
/// takes the commands up once their leases lapse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_claim_is_renewed_while_its_call_lasts_and_lapses_when_its_dispatcher_dies() {
    use anju_saga::engine::dispatch::{Dispatcher, LEASE};
    use tokio_util::sync::CancellationToken;

    let (mut settings, pool) = database().await;
    // A finance that accepts connections and never answers on them.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    settings.grpc.endpoints.insert(
        "finance".into(),
        format!("http://{}", silent.local_addr().unwrap()),
    );
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let unit = Uuid::now_v7().to_string();
    apply(&pool, &event(Uuid::now_v7(), &added_to_batch(&unit))).await;
    let charges = || async {
        sqlx::query_as::<_, (String, i32)>(
            "select status, attempts from saga_commands where method = 'IssueCharge'",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let dispatcher = || {
        let token = CancellationToken::new();
        let run = Dispatcher::new(pool.clone(), &settings)
            .unwrap()
            .run(token.clone());
        (token, tokio::spawn(run))
    };

    let (first, second) = (dispatcher(), dispatcher());
    tokio::time::sleep(LEASE * 2 + LEASE / 4).await;
    assert_eq!(
        charges().await,
        vec![("running".to_string(), 1); 2],
        "each claimed once and held past its lease"
    );

    // Both die mid-call (their tasks dropped: no shutdown runs, nothing is handed back).
    first.1.abort();
    second.1.abort();
    let _ = (first.1.await, second.1.await);
    let third = dispatcher();
    anju_testkit::eventually(LEASE * 3, "the lapsed claims taken up", || async {
        Ok(charges()
            .await
            .iter()
            .all(|(status, attempts)| status == "running" && *attempts == 2)
            .then_some(()))
    })
    .await
    .unwrap();
    third.0.cancel();
    third.1.abort();
    pool.close().await;
    anju_testkit::cleanup(&settings).await.unwrap();
}
