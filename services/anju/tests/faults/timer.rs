//! A saga timer that falls due while the coordinator is down fires once, after it restarts.

use std::time::Duration;

use anju_kit::Role;
use anju_proto::{
    finance,
    saga::{self, saga_service_client::SagaServiceClient},
    sales::{self as pb, sales_service_client::SalesServiceClient},
};
use anju_testkit::eventually;

use super::{
    WAIT,
    processes::{COORDINATOR, Processes, authed, day, journey},
};

/// Everything up to a subscription whose small deposit is paid, on a project whose unpaid
/// subscriptions lapse at the start of the next minute (at least 10 s away).
async fn subscription_lapsing_soon(
    base: u16,
    tenant: uuid::Uuid,
) -> (String, String, chrono::DateTime<chrono::Utc>) {
    let mut j = journey(base, tenant, "TIMER-1").await;
    // Lapse at the start of the next minute of the due day (project time), ≥ 10 s from now.
    let now = chrono::Utc::now() + chrono::Duration::hours(8);
    let mut minutes =
        chrono::Timelike::hour(&now) as i32 * 60 + chrono::Timelike::minute(&now) as i32 + 1;
    if chrono::Timelike::second(&now) > 50 {
        minutes += 1;
    }
    let mut policy = j
        .staff
        .manager
        .get_project_policy(pb::GetProjectPolicyRequest {
            project_id: j.project_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    policy.lapse_after_minutes = minutes;
    j.staff
        .manager
        .set_project_policy(pb::SetProjectPolicyRequest {
            request_id: "policy".into(),
            policy: Some(policy),
        })
        .await
        .unwrap();
    let (unit, subscription) = j.subscribed("0601", "13900139000", day(0)).await.unwrap();
    let lapses_at =
        chrono::DateTime::from_timestamp(subscription.lapses_at.unwrap().seconds, 0).unwrap();
    let small: Vec<finance::Charge> = j
        .charges(&unit.unit_id, "subscription:", 2)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.settlement_group.ends_with(":small_deposit"))
        .collect();
    j.pay(&small, "SMALL").await.unwrap();
    (unit.unit_id, subscription.subscription_id, lapses_at)
}

#[tokio::test]
async fn a_timer_due_while_the_coordinator_is_down_fires_once_after_restart() {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let tenant = uuid::Uuid::now_v7();
    let (unit_id, subscription_id, lapses_at) = subscription_lapsing_soon(base, tenant).await;
    let operator =
        SagaServiceClient::new(authed(base, "saga", tenant, "operator", &[Role::Operator]));
    // The lapse timer is set once the small deposit is paid; then the coordinator dies.
    eventually(WAIT, "the saga to wait for the top-up", || {
        let mut operator = operator.clone();
        async move {
            let sagas = operator
                .list_sagas(saga::ListSagasRequest::default())
                .await?
                .into_inner()
                .sagas;
            Ok(sagas
                .iter()
                .any(|s| s.state == "awaiting_top_up")
                .then_some(()))
        }
    })
    .await
    .unwrap();
    procs.kill(COORDINATOR);
    let wait = (lapses_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default()
        + Duration::from_secs(2);
    tokio::time::sleep(wait).await;
    procs.respawn(COORDINATOR);
    procs.wait_serving().await;

    let sales = SalesServiceClient::new(authed(
        base,
        "sales",
        tenant,
        "manager",
        &[Role::SalesManager],
    ));
    eventually(WAIT, "the subscription to lapse after the restart", || {
        let mut sales = sales.clone();
        let subscription_id = subscription_id.clone();
        async move {
            let Ok(answer) = sales
                .get_subscription(pb::GetSubscriptionRequest { subscription_id })
                .await
            else {
                return Ok(None);
            };
            let lapsed = answer
                .into_inner()
                .subscription
                .is_some_and(|s| s.status == pb::SubscriptionStatus::Lapsed as i32);
            Ok(lapsed.then_some(()))
        }
    })
    .await
    .unwrap();
    let detail = eventually(WAIT, "the saga to end", || {
        let mut operator = operator.clone();
        async move {
            let Ok(listed) = operator.list_sagas(saga::ListSagasRequest::default()).await else {
                return Ok(None);
            };
            let Some(s) = listed
                .into_inner()
                .sagas
                .into_iter()
                .find(|s| s.terminal && s.open_commands == 0)
            else {
                return Ok(None);
            };
            Ok(Some(
                operator
                    .get_saga(saga::GetSagaRequest { saga_id: s.saga_id })
                    .await?
                    .into_inner(),
            ))
        }
    })
    .await
    .unwrap();
    assert_eq!(detail.saga.unwrap().state, "lapsed");
    let fired = detail
        .history
        .iter()
        .filter(|h| h.input == "timer lapse")
        .count();
    assert_eq!(fired, 1, "{:?}", detail.history);
    let lapses = detail
        .commands
        .iter()
        .filter(|c| c.method == "LapseSubscription")
        .count();
    assert_eq!(lapses, 1);
    let mut sales = sales.clone();
    let unit = sales
        .get_unit(pb::GetUnitRequest { unit_id })
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    assert_eq!(unit.status, pb::UnitStatus::Available as i32);
    drop(procs);
    anju_testkit::cleanup(&settings).await.unwrap();
}
