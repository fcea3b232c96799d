//! The flagship rule across process crashes: the coordinator and the other services run as
//! separate `anju serve` processes; both are killed with SIGKILL in the middle of a move-in
//! and restarted. Keys are released exactly once, and only after the fees were paid and the
//! inspection passed.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use anju::client::{self, Authed};
use anju_kit::Role;
use anju_proto::{
    common::Money,
    finance::{self, finance_service_client::FinanceServiceClient},
    handover::{self as hv, handover_service_client::HandoverServiceClient},
    saga::{self, saga_service_client::SagaServiceClient},
    sales::{self as pb, sales_service_client::SalesServiceClient},
};
use anju_testkit::eventually;
use tonic::Code;

const ID: &str = "44030119900101123X";
const WAIT: Duration = Duration::from_secs(30);

struct Processes {
    env: Vec<(String, String)>,
    services: Child,
    coordinator: Child,
}

/// The coordinator and the other services run as separate processes.
const OTHERS: &str = "sales,finance,handover,maintenance,complaints,title";

/// A client of `service` (on the ports from `base`) as `subject` of `tenant`.
fn authed(base: u16, service: &str, tenant: uuid::Uuid, subject: &str, roles: &[Role]) -> Authed {
    let index = anju_kit::config::SERVICES
        .iter()
        .position(|s| *s == service)
        .expect("a service");
    client::authed(
        "127.0.0.1",
        base + index as u16,
        &anju_testkit::token_for(tenant, subject, roles),
    )
    .expect("client")
}

impl Processes {
    /// Both processes on the test's own databases, subjects and ports, once all serve.
    async fn start(settings: &anju_kit::Settings, base: u16) -> Self {
        let env: Vec<(String, String)> = [
            (
                "ANJU_DATABASE_NAME_PREFIX",
                settings.database.name_prefix.clone(),
            ),
            ("ANJU_NATS_PREFIX", settings.nats.prefix.clone()),
            ("ANJU_GRPC_BASE_PORT", base.to_string()),
            ("RUST_LOG", "error".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let procs = Processes {
            services: Processes::spawn(&env, OTHERS),
            coordinator: Processes::spawn(&env, "saga"),
            env,
        };
        procs.wait_serving().await;
        procs
    }

    fn spawn(env: &[(String, String)], target: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_anju"))
            .args(["serve", "--target", target])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting anju serve")
    }

    fn kill(child: &mut Child) {
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }

    async fn wait_serving(&self) {
        let status = Command::new(env!("CARGO_BIN_EXE_anju"))
            .args(["status", "--wait", "60"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("anju status");
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stdout)
        );
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        Self::kill(&mut self.services);
        Self::kill(&mut self.coordinator);
    }
}

fn cny(minor_units: i64) -> Option<Money> {
    Some(Money {
        minor_units,
        currency: "CNY".into(),
    })
}

fn day(offset: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8) + chrono::Duration::days(offset))
        .date_naive()
        .to_string()
}

async fn charges(
    cashier: &FinanceServiceClient<Authed>,
    unit_id: &str,
    group: &str,
    n: usize,
) -> Vec<finance::Charge> {
    eventually(WAIT, &format!("{n} charges in {group}"), || {
        let mut cashier = cashier.clone();
        let (unit_id, group) = (unit_id.to_string(), group.to_string());
        async move {
            let found: Vec<finance::Charge> = cashier
                .list_charges(finance::ListChargesRequest {
                    unit_id,
                    page: None,
                })
                .await?
                .into_inner()
                .charges
                .into_iter()
                .filter(|c| c.settlement_group.starts_with(&group))
                .collect();
            Ok((found.len() >= n).then_some(found))
        }
    })
    .await
    .unwrap()
}

async fn pay(
    cashier: &mut FinanceServiceClient<Authed>,
    charges: &[finance::Charge],
    reference: &str,
) {
    for (n, charge) in charges.iter().enumerate() {
        cashier
            .record_payment(finance::RecordPaymentRequest {
                request_id: format!("pay-{reference}-{n}"),
                charge_id: charge.charge_id.clone(),
                amount: charge.outstanding.clone(),
                method: finance::PaymentMethod::BankCard as i32,
                external_reference: format!("{reference}-{n}"),
                received_on: day(0),
                cashier_id: String::new(),
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn keys_are_released_once_across_killed_and_restarted_processes() {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let env = procs.env.clone();

    let tenant = uuid::Uuid::now_v7();
    let at = |service: &str, subject: &str, roles: &[Role]| {
        authed(base, service, tenant, subject, roles)
    };
    let mut manager = SalesServiceClient::new(at("sales", "manager", &[Role::SalesManager]));
    let mut consultant =
        SalesServiceClient::new(at("sales", "consultant", &[Role::SalesConsultant]));
    let mut cashier = FinanceServiceClient::new(at("finance", "cashier", &[Role::Cashier]));
    let mut counter =
        HandoverServiceClient::new(at("handover", "counter", &[Role::CustomerService]));
    let operator = SagaServiceClient::new(at("saga", "operator", &[Role::Operator]));

    // Sold: subscription, deposits, full-payment contract.
    let project = manager
        .create_project(pb::CreateProjectRequest {
            request_id: "p".into(),
            code: "FAULT-1".into(),
            name: "Fault".into(),
            city: "Shenzhen".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    let building = manager
        .create_building(pb::CreateBuildingRequest {
            request_id: "b".into(),
            project_id: project.project_id.clone(),
            name: "T1".into(),
            floors: 20,
        })
        .await
        .unwrap()
        .into_inner()
        .building
        .unwrap();
    let unit = manager
        .register_unit(pb::RegisterUnitRequest {
            request_id: "u".into(),
            building_id: building.building_id.clone(),
            unit_number: "0501".into(),
            floor: 5,
            layout: "2房1廳".into(),
            forecast_area: Some(anju_proto::common::Area {
                square_centimetres: 850_000,
            }),
            list_price: cny(200_000_000),
            orientation: "south".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    let customer = consultant
        .record_visit(pb::RecordVisitRequest {
            request_id: "v".into(),
            project_id: project.project_id.clone(),
            phone: "13800138000".into(),
            name: "Zhang Min".into(),
            channel: pb::VisitChannel::WalkIn as i32,
            note: String::new(),
            referrer_phone: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    let subscription = consultant
        .sign_subscription(pb::SignSubscriptionRequest {
            request_id: "s".into(),
            unit_id: unit.unit_id.clone(),
            customer_id: customer.customer_id,
            price: cny(200_000_000),
            small_deposit: cny(5_000_000),
            full_deposit: cny(20_000_000),
            top_up_due_on: day(7),
            id_number: ID.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .subscription
        .unwrap();
    let deposits = charges(&cashier, &unit.unit_id, "subscription:", 2).await;
    pay(&mut cashier, &deposits, "DEP").await;
    let contract = eventually(WAIT, "the subscription to be confirmed", || {
        let mut consultant = consultant.clone();
        let subscription_id = subscription.subscription_id.clone();
        async move {
            let signed = consultant
                .sign_contract(pb::SignContractRequest {
                    request_id: "c".into(),
                    subscription_id,
                    id_number: ID.into(),
                    contract_area: unit_area(),
                    payment_method: pb::PaymentMethod::FullPayment as i32,
                    down_payment: cny(200_000_000),
                    down_payment_due_on: day(14),
                    instalments: Vec::new(),
                    homes_owned: 0,
                })
                .await;
            match signed {
                Ok(r) => Ok(Some(r.into_inner())),
                Err(s) if s.code() == Code::FailedPrecondition => Ok(None),
                Err(s) => Err(s.into()),
            }
        }
    })
    .await
    .unwrap();
    assert!(contract.contract.is_some());
    let batch = eventually(WAIT, "handover to learn the contract", || {
        let mut counter = counter.clone();
        let project_id = project.project_id.clone();
        async move {
            let created = counter
                .create_batch(hv::CreateBatchRequest {
                    request_id: "batch".into(),
                    project_id,
                    building_id: String::new(),
                    name: "First handover".into(),
                    window_start: day(30),
                    window_end: day(40),
                    property_fee_per_square_metre_month: cny(350),
                    prepaid_months: 12,
                    construction_cost_per_square_metre: cny(300_000),
                    maintenance_fund_bp: 600,
                })
                .await;
            match created {
                Ok(r) => Ok(r.into_inner().batch),
                Err(s) if s.code() == Code::FailedPrecondition => Ok(None),
                Err(s) => Err(s.into()),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(batch.unit_ids, vec![unit.unit_id.clone()]);
    let fees = charges(&cashier, &unit.unit_id, "handover:", 2).await;

    // The coordinator dies. Fees are paid and the inspection passes while it is down.
    Processes::kill(&mut procs.coordinator);
    pay(&mut cashier, &fees, "FEES").await;
    eventually(WAIT, "the move-in notice", || {
        let mut counter = counter.clone();
        let unit_id = unit.unit_id.clone();
        async move {
            let h = counter
                .get_handover(hv::GetHandoverRequest { unit_id })
                .await?
                .into_inner()
                .handover
                .unwrap();
            Ok(h.notice_sent.then_some(()))
        }
    })
    .await
    .unwrap();
    counter
        .check_in(hv::CheckInRequest {
            request_id: "in".into(),
            unit_id: unit.unit_id.clone(),
            id_number: ID.into(),
        })
        .await
        .unwrap();
    counter
        .record_inspection(hv::RecordInspectionRequest {
            request_id: "inspect".into(),
            unit_id: unit.unit_id.clone(),
            passed: true,
            defects: Vec::new(),
        })
        .await
        .unwrap();
    let refused = counter
        .release_keys(hv::ReleaseKeysRequest {
            request_id: "keys-early".into(),
            unit_id: unit.unit_id.clone(),
            signed_by: "owner".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Code::FailedPrecondition,
        "no clearance while the coordinator is down"
    );

    // The other services die too, and everything comes back.
    Processes::kill(&mut procs.services);
    procs.services = Processes::spawn(&env, OTHERS);
    procs.coordinator = Processes::spawn(&env, "saga");
    procs.wait_serving().await;

    eventually(WAIT, "the coordinator's clearance after restarts", || {
        let mut counter = counter.clone();
        let unit_id = unit.unit_id.clone();
        async move {
            // The first calls after a restart may meet the dead connection: not yet.
            let Ok(answer) = counter
                .get_handover(hv::GetHandoverRequest { unit_id })
                .await
            else {
                return Ok(None);
            };
            let cleared = answer.into_inner().handover.is_some_and(|h| h.cleared);
            Ok(cleared.then_some(()))
        }
    })
    .await
    .unwrap();
    counter
        .release_keys(hv::ReleaseKeysRequest {
            request_id: "keys".into(),
            unit_id: unit.unit_id.clone(),
            signed_by: "owner".into(),
        })
        .await
        .unwrap();
    let again = counter
        .release_keys(hv::ReleaseKeysRequest {
            request_id: "keys-again".into(),
            unit_id: unit.unit_id.clone(),
            signed_by: "owner".into(),
        })
        .await
        .unwrap_err();
    assert!(again.message().contains("already handed over"));

    // The saga ends with keys released, having asked for clearance exactly once.
    let detail = eventually(WAIT, "the move-in saga to end", || {
        let mut operator = operator.clone();
        async move {
            let Ok(listed) = operator
                .list_sagas(saga::ListSagasRequest {
                    flow: "move_in".into(),
                    ..Default::default()
                })
                .await
            else {
                return Ok(None);
            };
            let sagas = listed.into_inner().sagas;
            let Some(s) = sagas
                .into_iter()
                .find(|s| s.terminal && s.open_commands == 0)
            else {
                return Ok(None);
            };
            let detail = operator
                .get_saga(saga::GetSagaRequest { saga_id: s.saga_id })
                .await?
                .into_inner();
            Ok(Some(detail))
        }
    })
    .await
    .unwrap();
    assert_eq!(detail.saga.unwrap().state, "keys_released");
    let clearances = detail
        .commands
        .iter()
        .filter(|c| c.method == "GrantKeyClearance")
        .count();
    assert_eq!(clearances, 1, "{:?}", detail.commands);
    drop(procs);
    anju_testkit::cleanup(&settings).await.unwrap();
}

fn unit_area() -> Option<anju_proto::common::Area> {
    Some(anju_proto::common::Area {
        square_centimetres: 850_000,
    })
}

/// Everything up to a subscription whose small deposit is paid, on a project whose unpaid
/// subscriptions lapse at the start of the next minute (at least 10 s away).
async fn subscription_lapsing_soon(
    base: u16,
    tenant: uuid::Uuid,
) -> (String, String, chrono::DateTime<chrono::Utc>) {
    let at = |service: &str, subject: &str, roles: &[Role]| {
        authed(base, service, tenant, subject, roles)
    };
    let mut manager = SalesServiceClient::new(at("sales", "manager", &[Role::SalesManager]));
    let mut consultant =
        SalesServiceClient::new(at("sales", "consultant", &[Role::SalesConsultant]));
    let mut cashier = FinanceServiceClient::new(at("finance", "cashier", &[Role::Cashier]));
    let project = manager
        .create_project(pb::CreateProjectRequest {
            request_id: "p".into(),
            code: "TIMER-1".into(),
            name: "Timer".into(),
            city: "Shenzhen".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    // Lapse at the start of the next minute of the due day (project time), ≥ 10 s from now.
    let now = chrono::Utc::now() + chrono::Duration::hours(8);
    let mut minutes =
        chrono::Timelike::hour(&now) as i32 * 60 + chrono::Timelike::minute(&now) as i32 + 1;
    if chrono::Timelike::second(&now) > 50 {
        minutes += 1;
    }
    let mut policy = manager
        .get_project_policy(pb::GetProjectPolicyRequest {
            project_id: project.project_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    policy.lapse_after_minutes = minutes;
    manager
        .set_project_policy(pb::SetProjectPolicyRequest {
            request_id: "policy".into(),
            policy: Some(policy),
        })
        .await
        .unwrap();
    let building = manager
        .create_building(pb::CreateBuildingRequest {
            request_id: "b".into(),
            project_id: project.project_id.clone(),
            name: "T1".into(),
            floors: 20,
        })
        .await
        .unwrap()
        .into_inner()
        .building
        .unwrap();
    let unit = manager
        .register_unit(pb::RegisterUnitRequest {
            request_id: "u".into(),
            building_id: building.building_id,
            unit_number: "0601".into(),
            floor: 6,
            layout: "2房1廳".into(),
            forecast_area: unit_area(),
            list_price: cny(200_000_000),
            orientation: "south".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    let customer = consultant
        .record_visit(pb::RecordVisitRequest {
            request_id: "v".into(),
            project_id: project.project_id,
            phone: "13900139000".into(),
            name: "Zhao Lei".into(),
            channel: pb::VisitChannel::Hotline as i32,
            note: String::new(),
            referrer_phone: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    let subscription = consultant
        .sign_subscription(pb::SignSubscriptionRequest {
            request_id: "s".into(),
            unit_id: unit.unit_id.clone(),
            customer_id: customer.customer_id,
            price: cny(200_000_000),
            small_deposit: cny(5_000_000),
            full_deposit: cny(20_000_000),
            top_up_due_on: day(0),
            id_number: ID.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .subscription
        .unwrap();
    let lapses_at =
        chrono::DateTime::from_timestamp(subscription.lapses_at.unwrap().seconds, 0).unwrap();
    let small: Vec<finance::Charge> = charges(&cashier, &unit.unit_id, "subscription:", 2)
        .await
        .into_iter()
        .filter(|c| c.settlement_group.ends_with(":small_deposit"))
        .collect();
    pay(&mut cashier, &small, "SMALL").await;
    (unit.unit_id, subscription.subscription_id, lapses_at)
}

#[tokio::test]
async fn a_timer_due_while_the_coordinator_is_down_fires_once_after_restart() {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let env = procs.env.clone();
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
    Processes::kill(&mut procs.coordinator);
    let wait = (lapses_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default()
        + Duration::from_secs(2);
    tokio::time::sleep(wait).await;
    procs.coordinator = Processes::spawn(&env, "saga");
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
