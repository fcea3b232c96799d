//! A warranty repair across process deaths: a contractor's response deadline passes while
//! maintenance and the coordinator are down; after the restart the order goes to the backup
//! vendor once, a second crash repeats nothing, and the charges its close raises reach finance
//! once although the coordinator dies right after the last sign-off.

use std::time::Duration;

use anju::journey::{Journey, cny};
use anju_proto::{
    EventPayload,
    events::{WorkOrderAssigned, WorkOrderClockBreached},
    finance,
    maintenance::{self as mt, maintenance_service_client::MaintenanceServiceClient},
};
use sqlx::PgPool;
use tonic::Code;
use uuid::Uuid;

use super::processes::{COORDINATOR, OTHERS, Processes, journey};

async fn published<P: EventPayload>(db: &PgPool, order: &str) -> i64 {
    sqlx::query_scalar("select count(*) from outbox where event_type = $1 and aggregate_id = $2")
        .bind(P::EVENT_TYPE)
        .bind(order)
        .fetch_one(db)
        .await
        .unwrap()
}

fn partner(
    base: u16,
    tenant: Uuid,
    contractor: Uuid,
) -> MaintenanceServiceClient<anju::client::Authed> {
    let index = anju_kit::config::SERVICES
        .iter()
        .position(|s| *s == "maintenance")
        .expect("maintenance");
    MaintenanceServiceClient::new(
        anju::client::authed(
            "127.0.0.1",
            base + index as u16,
            &anju_testkit::contractor_token(tenant, contractor),
        )
        .expect("client"),
    )
}

/// Retries `call` while maintenance has not learnt the unit or building it names.
async fn once_known<T, F, Fut>(j: &Journey, what: &str, call: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    j.eventually(what, || async {
        match call().await {
            Ok(answer) => Ok(Some(answer.into_inner())),
            Err(s) if matches!(s.code(), Code::NotFound | Code::Unavailable) => Ok(None),
            Err(s) => anyhow::bail!("{what}: {s:?}"),
        }
    })
    .await
    .unwrap()
}

async fn contractor_of(j: &Journey, id: &str) -> String {
    let mut dispatcher = j.staff.dispatcher.clone();
    dispatcher
        .get_repair_request(mt::GetRepairRequestRequest {
            repair_request_id: id.into(),
        })
        .await
        .map(|r| {
            r.into_inner()
                .repair_request
                .and_then(|r| r.work_order)
                .map(|w| w.contractor_id)
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_silent_contractor_is_replaced_and_charged_once_across_killed_processes() {
    let settings = anju_testkit::settings();
    let base = anju_testkit::free_port_range(7);
    let mut procs = Processes::start(&settings, base).await;
    let tenant = Uuid::now_v7();
    let j = journey(base, tenant, "REPAIR-FAULT").await;
    let unit = j.register_unit("0901").await.unwrap().unit_id;
    let (contractor, vendor) = (Uuid::now_v7(), Uuid::now_v7());
    let map = mt::SetResponsibilityRequest {
        request_id: "map".into(),
        responsibility: Some(mt::Responsibility {
            project_id: j.project_id.clone(),
            building_id: j.building_id.clone(),
            component: "pipe_leaks".into(),
            contractor_id: contractor.to_string(),
            backup_vendor_id: vendor.to_string(),
            settlement_amount: cny(100_000_000),
            retention: cny(3_000_000),
            liability_years: 1,
            ..Default::default()
        }),
    };
    once_known(&j, "the map", || {
        let (mut d, map) = (j.staff.dispatcher.clone(), map.clone());
        async move { d.set_responsibility(map).await }
    })
    .await;
    let accepted = mt::SetBuildingWarrantyRequest {
        request_id: "accepted".into(),
        project_id: j.project_id.clone(),
        building_id: j.building_id.clone(),
        accepted_on: super::processes::day(-100),
        design_life_years: 0,
    };
    once_known(&j, "the acceptance", || {
        let (mut d, r) = (j.staff.dispatcher.clone(), accepted.clone());
        async move { d.set_building_warranty(r).await }
    })
    .await;
    let create = mt::CreateRepairRequestRequest {
        request_id: "leak".into(),
        project_id: j.project_id.clone(),
        unit_id: unit.clone(),
        source: mt::RepairSource::Owner as i32,
        category: "leak".into(),
        description: "the drain leaks".into(),
        component: "pipe_leaks".into(),
        not_to_exceed: cny(500_000),
        ..Default::default()
    };
    let order = once_known(&j, "the repair", || {
        let (mut d, r) = (j.staff.dispatcher.clone(), create.clone());
        async move { d.create_repair_request(r).await }
    })
    .await
    .repair_request
    .unwrap();
    let id = order.repair_request_id.clone();
    assert_eq!(contractor_of(&j, &id).await, contractor.to_string());

    // Maintenance and the coordinator die; the response deadline passes meanwhile.
    procs.kill(OTHERS);
    procs.kill(COORDINATOR);
    let db = PgPool::connect(&settings.database_url("maintenance"))
        .await
        .unwrap();
    sqlx::query(
        "update repair_requests set respond_by = now() - interval '1 second',
             clock_next_at = now() - interval '1 second' where repair_request_id = $1",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .execute(&db)
    .await
    .unwrap();
    procs.respawn(OTHERS);
    procs.respawn(COORDINATOR);
    procs.wait_serving().await;
    j.eventually("the order with the backup vendor", || async {
        Ok((contractor_of(&j, &id).await == vendor.to_string()).then_some(()))
    })
    .await
    .unwrap();
    // Killed again at once: nothing fires or moves twice.
    procs.kill(OTHERS);
    procs.respawn(OTHERS);
    procs.wait_serving().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(published::<WorkOrderClockBreached>(&db, &id).await, 1);
    assert_eq!(
        published::<WorkOrderAssigned>(&db, &id).await,
        2,
        "from the map, then to the vendor"
    );
    assert_eq!(contractor_of(&j, &id).await, vendor.to_string());

    // The vendor repairs; the coordinator dies right after the last sign-off.
    let mut v = partner(base, tenant, vendor);
    v.accept_work_order(mt::AcceptWorkOrderRequest {
        request_id: "v-accept".into(),
        repair_request_id: id.clone(),
    })
    .await
    .unwrap();
    v.check_in_work_order(mt::CheckInWorkOrderRequest {
        request_id: "v-in".into(),
        repair_request_id: id.clone(),
    })
    .await
    .unwrap();
    v.complete_work_order(mt::CompleteWorkOrderRequest {
        request_id: "v-done".into(),
        repair_request_id: id.clone(),
        resolution: "new drain".into(),
        cost_lines: vec![mt::CostLine {
            kind: "vendor".into(),
            description: "invoice 88".into(),
            amount: cny(250_000),
        }],
        ..Default::default()
    })
    .await
    .unwrap();
    for party in Journey::SIGN_OFF_PARTIES {
        j.sign_off(&id, party).await.unwrap().unwrap();
    }
    procs.kill(COORDINATOR);
    tokio::time::sleep(Duration::from_millis(300)).await;
    procs.respawn(COORDINATOR);
    procs.wait_serving().await;
    let booked = || async {
        let mut cashier = j.staff.cashier.clone();
        let charges: Vec<finance::Charge> = cashier
            .list_charges(finance::ListChargesRequest {
                unit_id: unit.clone(),
                ..Default::default()
            })
            .await?
            .into_inner()
            .charges
            .into_iter()
            .filter(|c| c.business_key.starts_with("maintenance:"))
            .collect();
        anyhow::Ok(charges)
    };
    j.eventually("three charges in finance", || async {
        Ok((booked().await?.len() == 3).then_some(()))
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut amounts: Vec<i64> = booked()
        .await
        .unwrap()
        .iter()
        .map(|c| c.amount.as_ref().unwrap().minor_units)
        .collect();
    amounts.sort();
    // 2,500.00 charged back; 250.00 to the owner and recovered from the contractor.
    assert_eq!(amounts, vec![25_000, 25_000, 250_000]);
    drop(procs);
    anju_testkit::cleanup(&settings).await.unwrap();
}
