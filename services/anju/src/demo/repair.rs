//! Step 18: a warranty repair (DOMAIN.md §3) whose contractor never answers: the warranty
//! decision, the escalation to the backup vendor at the deadline, the vendor's work through the
//! partner API and feed, the four sign-offs and the charges booked in finance.

use std::time::{Duration, Instant};

use anju::journey::{Journey, cny as money};
use anju_kit::ids::derived_id;
use anju_proto::{finance, maintenance as mt, sales};
use anyhow::Context;
use futures::StreamExt;

use super::{Demo, cny, step};

pub(super) async fn escalated(demo: &Demo, unit: &sales::Unit) -> anyhow::Result<()> {
    let journey = &demo.journey;
    step(
        18,
        "Li Wei's kitchen pipe leaks; its contractor never answers and the backup vendor repairs",
    );
    let contractor = derived_id("demo-contractor:pearl-plumbing");
    let vendor = derived_id("demo-contractor:swift-repairs");
    let mut dispatcher = journey.staff.dispatcher.clone();
    let today = anju_kit::time::ProjectZone::or_default("").today();
    let accepted = today
        .checked_sub_months(chrono::Months::new(18))
        .context("a date")?;
    dispatcher
        .set_building_warranty(mt::SetBuildingWarrantyRequest {
            request_id: demo.request_id("accepted"),
            project_id: journey.project_id.clone(),
            building_id: journey.building_id.clone(),
            accepted_on: accepted.to_string(),
            design_life_years: 50,
        })
        .await?;
    // A one-minute response time, so the demo can wait it out.
    dispatcher
        .set_responsibility(mt::SetResponsibilityRequest {
            request_id: demo.request_id("map"),
            responsibility: Some(mt::Responsibility {
                project_id: journey.project_id.clone(),
                building_id: journey.building_id.clone(),
                component: "pipe_leaks".into(),
                contractor_id: contractor.to_string(),
                backup_vendor_id: vendor.to_string(),
                settlement_amount: money(200_000_000),
                retention: money(6_000_000),
                liability_years: 2,
                respond_minutes: 1,
                ..Default::default()
            }),
        })
        .await?;
    println!(
        "    map: pipe leaks in the tower → Pearl Plumbing (retention {} of {}), backup Swift Repairs; \
         completion accepted {accepted}",
        cny(6_000_000),
        cny(200_000_000)
    );
    // The vendor's developer watches its feed from now on.
    let mut vendor_client = demo.partner(vendor)?;
    let mut feed = vendor_client
        .watch_work_order_feed(mt::WatchWorkOrderFeedRequest::default())
        .await?
        .into_inner();
    let order = dispatcher
        .create_repair_request(mt::CreateRepairRequestRequest {
            request_id: demo.request_id("leak"),
            project_id: journey.project_id.clone(),
            unit_id: unit.unit_id.clone(),
            source: mt::RepairSource::Owner as i32,
            category: "leak".into(),
            description: "water drips from the pipe under the kitchen sink".into(),
            component: "pipe_leaks".into(),
            priority: mt::Priority::Urgent as i32,
            owner_name: "Li Wei".into(),
            owner_phone: "13800001801".into(),
            not_to_exceed: money(300_000),
            ..Default::default()
        })
        .await?
        .into_inner()
        .repair_request
        .context("no repair request")?;
    let id = order.repair_request_id.clone();
    let warranty = order.warranty.clone().unwrap_or_default();
    for reason in &warranty.reasons {
        println!("    warranty: {reason}");
    }
    println!("    work order {id} → Pearl Plumbing; waiting out its one-minute response deadline…");
    let started = Instant::now();
    let item = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(item) = feed.next().await {
            let item = item?;
            if item.repair_request_id == id && item.kind == "assigned" {
                return Ok::<_, anyhow::Error>(item);
            }
        }
        anyhow::bail!("the vendor's feed ended")
    })
    .await
    .context("no escalation within two minutes")??;
    println!(
        "    {:.0} s later: deadline breached, the order reassigned to Swift Repairs — its feed \
         says \"{}\" ({})",
        started.elapsed().as_secs_f64(),
        item.kind,
        item.detail
    );
    vendor_client
        .accept_work_order(mt::AcceptWorkOrderRequest {
            request_id: demo.request_id("vendor-accept"),
            repair_request_id: id.clone(),
        })
        .await?;
    vendor_client
        .check_in_work_order(mt::CheckInWorkOrderRequest {
            request_id: demo.request_id("vendor-check-in"),
            repair_request_id: id.clone(),
        })
        .await?;
    let line = |kind: &str, description: &str, fen: i64| mt::CostLine {
        kind: kind.into(),
        description: description.into(),
        amount: money(fen),
    };
    vendor_client
        .complete_work_order(mt::CompleteWorkOrderRequest {
            request_id: demo.request_id("vendor-done"),
            repair_request_id: id.clone(),
            resolution: "replaced the corroded trap and both seals".into(),
            cost_lines: vec![
                line("labour", "two hours, urgent call-out", 80_000),
                line("material", "trap and seals", 43_455),
            ],
            photo_refs: vec!["photos/1801-sink-after.jpg".into()],
        })
        .await?;
    println!(
        "    Swift Repairs accepted, checked in and reported it done: {} (within the {} limit)",
        cny(123_455),
        cny(300_000)
    );
    for party in Journey::SIGN_OFF_PARTIES {
        journey.sign_off(&id, party).await??;
    }
    println!(
        "    signed off by maintenance, the owner, the supervising engineer and the project department"
    );
    let cashier = journey.staff.cashier.clone();
    let charges = journey
        .eventually("the charges in finance", || {
            let (mut cashier, unit) = (cashier.clone(), unit.unit_id.clone());
            async move {
                let charges: Vec<finance::Charge> = cashier
                    .list_charges(finance::ListChargesRequest {
                        unit_id: unit,
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .charges
                    .into_iter()
                    .filter(|c| c.business_key.starts_with("maintenance:"))
                    .collect();
                Ok((charges.len() == 3).then_some(charges))
            }
        })
        .await?;
    for c in charges {
        let purpose = finance::ChargePurpose::try_from(c.purpose)
            .map(|p| {
                p.as_str_name()
                    .trim_start_matches("CHARGE_PURPOSE_")
                    .to_lowercase()
            })
            .unwrap_or_default();
        let who = if c.payer_id == contractor.to_string() {
            "Pearl Plumbing".to_string()
        } else {
            c.payer_id.clone()
        };
        println!(
            "    finance: {purpose} {} — {who} ({})",
            cny(c.amount.map(|m| m.minor_units).unwrap_or(0)),
            if c.direction == finance::ChargeDirection::Payable as i32 {
                "owed to"
            } else {
                "owed by"
            }
        );
    }
    Ok(())
}
