//! The flagship rule across process crashes: the coordinator, handover, finance and the rest
//! run as separate `anju serve` processes, and are killed with SIGKILL in the middle of
//! move-ins and restarted. Keys are released exactly once, and only after the fees were paid
//! and the inspection passed.

use std::{
    future::Future,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anju::client::{self, Authed};
use anju_kit::Role;
use anju_proto::{
    common::Money,
    finance::{self, finance_service_client::FinanceServiceClient},
    handover::{self as hv, handover_service_client::HandoverServiceClient},
    maintenance::{self, maintenance_service_client::MaintenanceServiceClient},
    saga::{self, saga_service_client::SagaServiceClient},
    sales::{self as pb, sales_service_client::SalesServiceClient},
};
use anju_testkit::eventually;
use tonic::{Code, Status};

const ID: &str = "44030119900101123X";
/// Long enough for a command abandoned by a killed coordinator to be sent again.
const WAIT: Duration = Duration::from_secs(60);

/// The processes: each can be killed on its own.
const COORDINATOR: &str = "saga";
const HANDOVER: &str = "handover";
const FINANCE: &str = "finance";
const OTHERS: &str = "sales,maintenance,complaints,title";
const GROUPS: [&str; 4] = [COORDINATOR, HANDOVER, FINANCE, OTHERS];

struct Processes {
    env: Vec<(String, String)>,
    running: Vec<(&'static str, Child)>,
}

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
    /// Every process on the test's own databases, subjects and ports, once all serve.
    async fn start(settings: &anju_kit::Settings, base: u16) -> Self {
        let env: Vec<(String, String)> = [
            (
                "ANJU_DATABASE_NAME_PREFIX",
                settings.database.name_prefix.clone(),
            ),
            ("ANJU_NATS_PREFIX", settings.nats.prefix.clone()),
            (
                "ANJU_DATABASE_MAX_CONNECTIONS",
                settings.database.max_connections.to_string(),
            ),
            ("ANJU_GRPC_BASE_PORT", base.to_string()),
            ("RUST_LOG", "error".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let running = GROUPS
            .iter()
            .map(|group| (*group, Processes::spawn(&env, group)))
            .collect();
        let procs = Processes { env, running };
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

    /// SIGKILL: no shutdown hook runs, in-flight work is lost mid-way.
    fn kill(&mut self, group: &str) {
        for (name, child) in &mut self.running {
            if *name == group {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Starts a killed process again (without waiting for it to serve).
    fn respawn(&mut self, group: &str) {
        let env = self.env.clone();
        for (name, child) in &mut self.running {
            if *name == group {
                *child = Processes::spawn(&env, name);
            }
        }
    }

    /// Kills `group`, leaves the others working without it for a moment, restarts it.
    async fn crash(&mut self, group: &str) {
        self.kill(group);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.respawn(group);
        self.wait_serving().await;
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
        for group in GROUPS {
            self.kill(group);
        }
    }
}

/// Calls until the service answers: the first calls after a restart may meet a dead
/// connection. Every call carries the same request, request id included, so a retry of a
/// call that did act acts once.
async fn answered<T, F, Fut>(what: &str, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, Status>>,
{
    eventually(WAIT, what, || {
        let answer = call();
        async move {
            match answer.await {
                Ok(r) => Ok(Some(r.into_inner())),
                Err(s)
                    if matches!(
                        s.code(),
                        Code::Unavailable | Code::Unknown | Code::Cancelled
                    ) =>
                {
                    Ok(None)
                }
                Err(s) => Err(anyhow::anyhow!("{what}: {s:?}")),
            }
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
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

fn defect(room: &str, category: &str) -> hv::Defect {
    hv::Defect {
        room: room.into(),
        category: category.into(),
        description: "water stain on the ceiling".into(),
        severity: "major".into(),
        photo_refs: vec![format!("photo://{room}.jpg")],
    }
}

/// One tenant's project, its staff's clients, and the steps of selling and moving in.
struct Journey {
    manager: SalesServiceClient<Authed>,
    consultant: SalesServiceClient<Authed>,
    cashier: FinanceServiceClient<Authed>,
    counter: HandoverServiceClient<Authed>,
    dispatcher: MaintenanceServiceClient<Authed>,
    operator: SagaServiceClient<Authed>,
    project_id: String,
    building_id: String,
}

impl Journey {
    async fn new(base: u16, tenant: uuid::Uuid, code: &str) -> Self {
        let at = |service: &str, subject: &str, roles: &[Role]| {
            authed(base, service, tenant, subject, roles)
        };
        let mut manager = SalesServiceClient::new(at("sales", "manager", &[Role::SalesManager]));
        let project = manager
            .create_project(pb::CreateProjectRequest {
                request_id: "p".into(),
                code: code.into(),
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
        Journey {
            manager,
            consultant: SalesServiceClient::new(at(
                "sales",
                "consultant",
                &[Role::SalesConsultant],
            )),
            cashier: FinanceServiceClient::new(at("finance", "cashier", &[Role::Cashier])),
            counter: HandoverServiceClient::new(at(
                "handover",
                "counter",
                &[Role::CustomerService],
            )),
            dispatcher: MaintenanceServiceClient::new(at(
                "maintenance",
                "dispatcher",
                &[Role::MaintenanceDispatcher],
            )),
            operator: SagaServiceClient::new(at("saga", "operator", &[Role::Operator])),
            project_id: project.project_id,
            building_id: building.building_id,
        }
    }

    /// A unit registered and subscribed by a walk-in customer; both deposits still unpaid.
    async fn subscribe(
        &mut self,
        number: &str,
        phone: &str,
        top_up_due_on: String,
    ) -> (pb::Unit, pb::Subscription) {
        let unit = self
            .manager
            .register_unit(pb::RegisterUnitRequest {
                request_id: format!("u-{number}"),
                building_id: self.building_id.clone(),
                unit_number: number.into(),
                floor: 5,
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
        let customer = self
            .consultant
            .record_visit(pb::RecordVisitRequest {
                request_id: format!("v-{number}"),
                project_id: self.project_id.clone(),
                phone: phone.into(),
                name: format!("Owner of {number}"),
                channel: pb::VisitChannel::WalkIn as i32,
                note: String::new(),
                referrer_phone: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .customer
            .unwrap();
        let subscription = self
            .consultant
            .sign_subscription(pb::SignSubscriptionRequest {
                request_id: format!("s-{number}"),
                unit_id: unit.unit_id.clone(),
                customer_id: customer.customer_id,
                price: cny(200_000_000),
                small_deposit: cny(5_000_000),
                full_deposit: cny(20_000_000),
                top_up_due_on,
                id_number: ID.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .subscription
            .unwrap();
        (unit, subscription)
    }

    /// A unit sold: subscription, both deposits paid, a full-payment contract signed.
    async fn sell(&mut self, number: &str, phone: &str) -> String {
        let (unit, subscription) = self.subscribe(number, phone, day(7)).await;
        let deposits = self.charges(&unit.unit_id, "subscription:", 2).await;
        self.pay(&deposits, &format!("DEP-{number}")).await;
        eventually(WAIT, "the subscription to be confirmed", || {
            let mut consultant = self.consultant.clone();
            let subscription_id = subscription.subscription_id.clone();
            let request_id = format!("c-{number}");
            async move {
                let signed = consultant
                    .sign_contract(pb::SignContractRequest {
                        request_id,
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
                    Ok(r) => Ok(r.into_inner().contract),
                    Err(s) if s.code() == Code::FailedPrecondition => Ok(None),
                    Err(s) => Err(s.into()),
                }
            }
        })
        .await
        .unwrap();
        // The price paid in full: the contract's saga ends.
        let price = self.charges(&unit.unit_id, "contract:", 1).await;
        self.pay(&price, &format!("PRICE-{number}")).await;
        unit.unit_id
    }

    /// Waits until every saga of the tenant has ended with nothing left to send.
    async fn every_saga_ends(&self) {
        eventually(WAIT, "every saga to end", || {
            let mut operator = self.operator.clone();
            async move {
                let Ok(listed) = operator.list_sagas(saga::ListSagasRequest::default()).await
                else {
                    return Ok(None);
                };
                let sagas = listed.into_inner().sagas;
                Ok(sagas
                    .iter()
                    .all(|s| s.terminal && s.open_commands == 0)
                    .then_some(()))
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// A handover batch over the project's `units` contracted units, once handover knows them.
    async fn batch(&self, units: usize) -> hv::Batch {
        let batch = eventually(WAIT, "handover to learn the contracts", || {
            let mut counter = self.counter.clone();
            let project_id = self.project_id.clone();
            async move {
                let known = counter
                    .list_units(hv::ListUnitsRequest {
                        project_id: project_id.clone(),
                        page: None,
                    })
                    .await?
                    .into_inner()
                    .units;
                if known.iter().filter(|u| u.contracted).count() < units {
                    return Ok(None);
                }
                Ok(counter
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
                    .await?
                    .into_inner()
                    .batch)
            }
        })
        .await
        .unwrap();
        assert_eq!(batch.unit_ids.len(), units);
        batch
    }

    /// The unit's `n` charges in settlement groups starting with `group`.
    async fn charges(&self, unit_id: &str, group: &str, n: usize) -> Vec<finance::Charge> {
        eventually(WAIT, &format!("{n} charges in {group}"), || {
            let mut cashier = self.cashier.clone();
            let (unit_id, group) = (unit_id.to_string(), group.to_string());
            async move {
                let Ok(listed) = cashier
                    .list_charges(finance::ListChargesRequest {
                        unit_id,
                        page: None,
                    })
                    .await
                else {
                    return Ok(None);
                };
                let found: Vec<finance::Charge> = listed
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

    async fn pay(&self, charges: &[finance::Charge], reference: &str) {
        for (n, charge) in charges.iter().enumerate() {
            let request = finance::RecordPaymentRequest {
                request_id: format!("pay-{reference}-{n}"),
                charge_id: charge.charge_id.clone(),
                amount: charge.outstanding.clone(),
                method: finance::PaymentMethod::BankCard as i32,
                external_reference: format!("{reference}-{n}"),
                received_on: day(0),
                cashier_id: String::new(),
            };
            answered("a payment", || {
                let mut cashier = self.cashier.clone();
                let request = request.clone();
                async move { cashier.record_payment(request).await }
            })
            .await;
        }
    }

    async fn check_in(&self, unit_id: &str) {
        let request = hv::CheckInRequest {
            request_id: format!("in-{unit_id}"),
            unit_id: unit_id.into(),
            id_number: ID.into(),
        };
        answered("the check-in", || {
            let mut counter = self.counter.clone();
            let request = request.clone();
            async move { counter.check_in(request).await }
        })
        .await;
    }

    async fn inspect(
        &self,
        unit_id: &str,
        round: u32,
        defects: Vec<hv::Defect>,
    ) -> hv::RecordInspectionResponse {
        let request = hv::RecordInspectionRequest {
            request_id: format!("inspect-{unit_id}-{round}"),
            unit_id: unit_id.into(),
            passed: defects.is_empty(),
            defects,
        };
        answered("the inspection", || {
            let mut counter = self.counter.clone();
            let request = request.clone();
            async move { counter.record_inspection(request).await }
        })
        .await
    }

    async fn handover(&self, unit_id: &str) -> hv::GetHandoverResponse {
        answered("the handover", || {
            let mut counter = self.counter.clone();
            let unit_id = unit_id.to_string();
            async move {
                counter
                    .get_handover(hv::GetHandoverRequest { unit_id })
                    .await
            }
        })
        .await
    }

    /// Waits until the unit's handover satisfies `done`.
    async fn wait_handover(
        &self,
        unit_id: &str,
        what: &str,
        done: fn(&hv::GetHandoverResponse) -> bool,
    ) {
        eventually(WAIT, what, || async move {
            Ok(done(&self.handover(unit_id).await).then_some(()))
        })
        .await
        .unwrap();
    }

    async fn release(
        &self,
        unit_id: &str,
        request: &str,
    ) -> Result<hv::ReleaseKeysResponse, Status> {
        let request = hv::ReleaseKeysRequest {
            request_id: request.into(),
            unit_id: unit_id.into(),
            signed_by: "owner".into(),
        };
        // Connection failures after a restart are retried; answers, refusals included, are not.
        eventually(WAIT, "an answer to the key release", || {
            let mut counter = self.counter.clone();
            let request = request.clone();
            async move {
                match counter.release_keys(request).await {
                    Err(s)
                        if matches!(
                            s.code(),
                            Code::Unavailable | Code::Unknown | Code::Cancelled
                        ) =>
                    {
                        Ok(None)
                    }
                    answer => Ok(Some(answer.map(|r| r.into_inner()))),
                }
            }
        })
        .await
        .unwrap()
    }

    /// The unit's move-in saga once it ended with nothing left to send.
    async fn ended_move_in(&self, unit_id: &str) -> saga::GetSagaResponse {
        eventually(WAIT, "the move-in saga to end", || {
            let mut operator = self.operator.clone();
            let unit_id = unit_id.to_string();
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
                let Some(s) = listed
                    .into_inner()
                    .sagas
                    .into_iter()
                    .find(|s| s.key == unit_id && s.terminal && s.open_commands == 0)
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
        .unwrap()
    }
}

fn commands(detail: &saga::GetSagaResponse, method: &str) -> usize {
    detail
        .commands
        .iter()
        .filter(|c| c.method == method)
        .count()
}

#[tokio::test]
async fn keys_are_released_once_across_killed_and_restarted_processes() {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let j = &mut Journey::new(base, uuid::Uuid::now_v7(), "FAULT-1").await;
    let unit = j.sell("0501", "13800138000").await;
    j.batch(1).await;
    let fees = j.charges(&unit, "handover:", 2).await;

    // The coordinator dies. Fees are paid and the inspection passes while it is down.
    procs.kill(COORDINATOR);
    j.pay(&fees, "FEES").await;
    j.wait_handover(&unit, "the move-in notice", |h| {
        h.handover.as_ref().is_some_and(|h| h.notice_sent)
    })
    .await;
    j.check_in(&unit).await;
    j.inspect(&unit, 1, Vec::new()).await;
    let refused = j.release(&unit, "keys-early").await.unwrap_err();
    assert_eq!(
        refused.code(),
        Code::FailedPrecondition,
        "no clearance while the coordinator is down"
    );

    // The other services die too, and everything comes back.
    for group in [HANDOVER, FINANCE, OTHERS] {
        procs.kill(group);
    }
    for group in GROUPS {
        procs.respawn(group);
    }
    procs.wait_serving().await;

    j.wait_handover(
        &unit,
        "the clearance and the settled fees after restarts",
        |h| {
            h.handover
                .as_ref()
                .is_some_and(|h| h.cleared && h.fees_settled)
        },
    )
    .await;
    j.release(&unit, "keys").await.unwrap();
    let again = j.release(&unit, "keys-again").await.unwrap_err();
    assert_eq!(
        anju_kit::error::refusal_reason(&again).as_deref(),
        Some("KEYS_ALREADY_RELEASED")
    );
    assert!(again.message().contains("already handed over"));

    // The saga ends with keys released, having asked for clearance exactly once.
    let detail = j.ended_move_in(&unit).await;
    assert_eq!(detail.saga.as_ref().unwrap().state, "keys_released");
    assert_eq!(
        commands(&detail, "GrantKeyClearance"),
        1,
        "{:?}",
        detail.commands
    );
    j.every_saga_ends().await;
    drop(procs);
    anju_testkit::cleanup(&settings).await.unwrap();
}

/// Three move-ins — fees first; inspection first; a failed inspection looping through
/// maintenance — with one process killed (SIGKILL) and restarted after every step, taking the
/// coordinator, handover and finance in turn from `first`. Run from each of the three, every
/// one of them dies at every step.
async fn a_process_killed_at_every_step(first: usize) {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let j = &mut Journey::new(base, uuid::Uuid::now_v7(), &format!("KILL-{first}")).await;
    let a = j.sell("0301", "13800000301").await;
    let b = j.sell("0302", "13800000302").await;
    let c = j.sell("0303", "13800000303").await;
    let mut step = first;
    let mut victim = || {
        let v = [COORDINATOR, HANDOVER, FINANCE][step % 3];
        step += 1;
        v
    };

    // 1. The batch opens: the coordinator charges the fees and sends the notices.
    let batch = j.batch(3).await;
    procs.crash(victim()).await;
    let mut fees = Vec::new();
    for unit in [&a, &b, &c] {
        fees.push(j.charges(unit, "handover:", 2).await);
        j.wait_handover(unit, "the move-in notice", |h| {
            h.notices
                .iter()
                .any(|n| n.kind == "notice" && n.fees.len() == 2)
        })
        .await;
        j.check_in(unit).await;
    }

    // 2. A pays: not cleared without the inspection.
    j.pay(&fees[0], "FEES-A").await;
    procs.crash(victim()).await;
    assert!(!j.handover(&a).await.handover.unwrap().cleared);

    // 3. A and C pass the inspection; A is cleared, C (unpaid) is not.
    j.inspect(&a, 1, Vec::new()).await;
    j.inspect(&c, 1, Vec::new()).await;
    procs.crash(victim()).await;
    j.wait_handover(&a, "A cleared", |h| {
        h.handover.as_ref().is_some_and(|h| h.cleared)
    })
    .await;

    // 4. B fails with two defects: two repair requests, one per defect.
    let round = j
        .inspect(
            &b,
            1,
            vec![
                defect("bathroom", "waterproofing"),
                defect("kitchen", "plumbing"),
            ],
        )
        .await;
    procs.crash(victim()).await;
    let orders = eventually(WAIT, "two repair requests for B", || {
        let mut dispatcher = j.dispatcher.clone();
        let b = b.clone();
        async move {
            let Ok(listed) = dispatcher
                .list_work_orders(maintenance::ListWorkOrdersRequest::default())
                .await
            else {
                return Ok(None);
            };
            let orders: Vec<maintenance::RepairRequest> = listed
                .into_inner()
                .work_orders
                .into_iter()
                .filter(|o| o.unit_id == b)
                .collect();
            Ok((orders.len() >= 2).then_some(orders))
        }
    })
    .await
    .unwrap();
    let mut references: Vec<String> = orders.iter().map(|o| o.reference.clone()).collect();
    references.sort();
    let mut defects = round.defect_ids.clone();
    defects.sort();
    assert_eq!(references, defects, "one repair request per defect");

    // 5. Maintenance closes both.
    for order in &orders {
        let request = maintenance::CloseRepairRequestRequest {
            request_id: format!("close-{}", order.repair_request_id),
            repair_request_id: order.repair_request_id.clone(),
            resolution: "repaired".into(),
        };
        answered("closing a repair", || {
            let mut dispatcher = j.dispatcher.clone();
            let request = request.clone();
            async move { dispatcher.close_repair_request(request).await }
        })
        .await;
    }
    procs.crash(victim()).await;

    // 6. The owner is asked back; B passes round 2. B and C passed but have not paid.
    j.wait_handover(&b, "the re-inspection notice", |h| {
        h.notices.iter().any(|n| n.kind == "reinspection")
    })
    .await;
    j.inspect(&b, 2, Vec::new()).await;
    procs.crash(victim()).await;
    for unit in [&b, &c] {
        let refused = j.release(unit, &format!("early-{unit}")).await.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert_eq!(
            anju_kit::error::refusal_reason(&refused).as_deref(),
            Some("FEES_NOT_SETTLED")
        );
        assert!(
            refused.message().contains("fees are not settled"),
            "{}",
            refused.message()
        );
    }

    // 7. B and C pay.
    j.pay(&fees[1], "FEES-B").await;
    j.pay(&fees[2], "FEES-C").await;
    procs.crash(victim()).await;

    // 8. Keys, once each.
    for unit in [&a, &b, &c] {
        j.wait_handover(unit, "the clearance and the settled fees", |h| {
            h.handover
                .as_ref()
                .is_some_and(|h| h.cleared && h.fees_settled)
        })
        .await;
        let keys = j.release(unit, &format!("keys-{unit}")).await.unwrap();
        assert_eq!(keys.keys.len(), 10);
    }
    procs.crash(victim()).await;
    for unit in [&a, &b, &c] {
        let again = j.release(unit, &format!("again-{unit}")).await.unwrap_err();
        assert_eq!(
            anju_kit::error::refusal_reason(&again).as_deref(),
            Some("KEYS_ALREADY_RELEASED")
        );
        assert!(again.message().contains("already handed over"));
        let detail = j.ended_move_in(unit).await;
        assert_eq!(detail.saga.as_ref().unwrap().state, "keys_released");
        assert_eq!(
            commands(&detail, "GrantKeyClearance"),
            1,
            "{:?}",
            detail.commands
        );
        assert_eq!(commands(&detail, "IssueCharge"), 2);
        let notices = j.handover(unit).await.notices;
        let kinds: Vec<&str> = notices.iter().map(|n| n.kind.as_str()).collect();
        let expected: &[&str] = if *unit == b {
            &["notice", "reinspection"]
        } else {
            &["notice"]
        };
        assert_eq!(kinds, expected);
        assert_eq!(
            j.charges(unit, "handover:", 2).await.len(),
            2,
            "billed once"
        );
    }
    let stats = answered("the statistics", || {
        let mut counter = j.counter.clone();
        let batch_id = batch.batch_id.clone();
        async move {
            counter
                .get_batch_statistics(hv::GetBatchStatisticsRequest { batch_id })
                .await
        }
    })
    .await;
    assert_eq!(
        (
            stats.units,
            stats.handed_over,
            stats.defects,
            stats.reinspections
        ),
        (3, 3, 2, 1)
    );
    j.every_saga_ends().await;
    drop(procs);
    anju_testkit::cleanup(&settings).await.unwrap();
}

#[tokio::test]
async fn keys_once_with_a_process_killed_at_every_step_from_the_coordinator() {
    a_process_killed_at_every_step(0).await;
}

#[tokio::test]
async fn keys_once_with_a_process_killed_at_every_step_from_handover() {
    a_process_killed_at_every_step(1).await;
}

#[tokio::test]
async fn keys_once_with_a_process_killed_at_every_step_from_finance() {
    a_process_killed_at_every_step(2).await;
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
    let mut j = Journey::new(base, tenant, "TIMER-1").await;
    // Lapse at the start of the next minute of the due day (project time), ≥ 10 s from now.
    let now = chrono::Utc::now() + chrono::Duration::hours(8);
    let mut minutes =
        chrono::Timelike::hour(&now) as i32 * 60 + chrono::Timelike::minute(&now) as i32 + 1;
    if chrono::Timelike::second(&now) > 50 {
        minutes += 1;
    }
    let mut policy = j
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
    j.manager
        .set_project_policy(pb::SetProjectPolicyRequest {
            request_id: "policy".into(),
            policy: Some(policy),
        })
        .await
        .unwrap();
    let (unit, subscription) = j.subscribe("0601", "13900139000", day(0)).await;
    let lapses_at =
        chrono::DateTime::from_timestamp(subscription.lapses_at.unwrap().seconds, 0).unwrap();
    let small: Vec<finance::Charge> = j
        .charges(&unit.unit_id, "subscription:", 2)
        .await
        .into_iter()
        .filter(|c| c.settlement_group.ends_with(":small_deposit"))
        .collect();
    j.pay(&small, "SMALL").await;
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
