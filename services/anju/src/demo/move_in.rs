//! Steps 10–13: the flagship rule — keys only after the fees are paid and the inspection
//! passed — taken through the shared journey ([`anju::journey`]).

use anju_proto::{
    handover,
    maintenance::{ListWorkOrdersRequest, RepairSource},
    sales,
};

use super::{Demo, cny, id_number, step};
use anju::journey::{Buyer, ID_NUMBER};

/// The unit's move-in notice sent by `channel`, once recorded.
async fn notice_by(demo: &Demo, unit_id: &str, channel: &str) -> anyhow::Result<handover::Notice> {
    let journey = &demo.journey;
    journey
        .eventually(&format!("the notice by {channel}"), || async {
            let notices = journey.handover(unit_id).await?.notices;
            Ok(notices
                .into_iter()
                .find(|n| n.kind == "notice" && n.channel == channel))
        })
        .await
}

/// The unit's first notice of `kind` ("notice", "reminder", "reinspection"), once recorded.
async fn notice_of(demo: &Demo, unit_id: &str, kind: &str) -> anyhow::Result<handover::Notice> {
    let journey = &demo.journey;
    journey
        .eventually(&format!("the {kind} notice"), || async {
            let notices = journey.handover(unit_id).await?.notices;
            Ok(notices.into_iter().find(|n| n.kind == kind))
        })
        .await
}

pub(super) async fn move_in(demo: &Demo, units: &[sales::Unit]) -> anyhow::Result<()> {
    let journey = &demo.journey;
    step(
        10,
        "Two more units are sold; a handover batch is planned a month ahead, its plan approved",
    );
    let buyers = [
        ("Li Wei", format!("139{}", demo.run)),
        ("Chen Jing", format!("137{}", demo.run)),
    ];
    for (unit, (name, phone)) in [&units[0], &units[2]].into_iter().zip(&buyers) {
        let buyer = Buyer {
            phone: phone.clone(),
            name: (*name).into(),
            id_number: id_number(phone),
        };
        journey.sell(unit, &buyer).await?;
    }
    let batch = journey.batch(3, None).await?;
    let plan = batch.plan.clone().unwrap_or_default();
    let at = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
            .map(|t| {
                // The demo's project is in Asia/Shanghai (UTC+8 all year).
                t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    };
    println!(
        "    batch window {} to {}, {} units; plan ({} day(s), {} counter(s), materials: {}) submitted by {}, approved by {} on {}",
        batch.window_start,
        batch.window_end,
        batch.unit_ids.len(),
        plan.days.len(),
        plan.days.iter().map(|d| d.counters).sum::<i32>(),
        plan.materials.join(", "),
        batch.plan_submitted_by,
        batch.plan_approved_by,
        at(&batch.plan_approved_at),
    );
    println!(
        "    notices due {} (the tenant's lead: 35 days before the window, at midnight): the date has come, so the coordinator's timer sends them as the plan is approved — not before",
        at(&batch.notices_at),
    );
    let names = ["Li Wei (1801)", "Wang Fang (1802)", "Chen Jing (2203)"];
    let ids = [
        id_number(&buyers[0].1),
        ID_NUMBER.to_string(),
        id_number(&buyers[1].1),
    ];
    let mut fees = Vec::new();
    for (n, unit) in units.iter().enumerate() {
        fees.push(journey.charges(&unit.unit_id, "handover:", 2).await?);
        let notice = notice_by(demo, &unit.unit_id, "sms").await?;
        let lines: Vec<String> = notice
            .fees
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f.purpose.replace('_', " "),
                    cny(f.amount.as_ref().map_or(0, |m| m.minor_units))
                )
            })
            .collect();
        let posted = notice_by(demo, &unit.unit_id, "post").await?;
        let tracked = journey
            .staff
            .counter
            .clone()
            .record_notice_tracking(handover::RecordNoticeTrackingRequest {
                request_id: journey.request_id(&format!("tracking-{}", unit.unit_id)),
                notice_id: posted.notice_id.clone(),
                tracking_number: format!("EMS{}{n}CN", demo.run),
            })
            .await?
            .into_inner()
            .notice
            .unwrap_or_default();
        println!(
            "    {}: notice by SMS and by post (tracking {}){}: {} = {}, due {}",
            names[n],
            tracked.tracking_number,
            if notice.late {
                ", late"
            } else {
                ", on its date"
            },
            lines.join(" + "),
            cny(notice.total.as_ref().map_or(0, |m| m.minor_units)),
            notice.fees.first().map_or("", |f| f.due_on.as_str()),
        );
        journey.check_in_as(&unit.unit_id, &ids[n]).await?;
    }

    step(
        11,
        "Li Wei pays the fees and passes the joint inspection at once",
    );
    journey.pay(&fees[0], "ALI-1801").await?;
    journey.inspect(&units[0].unit_id, 1, Vec::new()).await??;
    journey.wait_cleared(&units[0].unit_id).await?;
    println!("    fees settled + inspection passed → the coordinator cleared 1801");

    step(
        12,
        "Wang Fang's inspection finds two defects; maintenance repairs, a re-inspection passes",
    );
    let defect = |room: &str, category: &str, description: &str| handover::Defect {
        room: room.into(),
        category: category.into(),
        description: description.into(),
        severity: "major".into(),
        photo_refs: vec![format!("photo://{room}.jpg")],
    };
    let unit_1802 = units[1].unit_id.clone();
    journey
        .inspect(
            &unit_1802,
            1,
            vec![
                defect(
                    "master bathroom",
                    "waterproofing",
                    "damp patch under the window",
                ),
                defect(
                    "living room",
                    "doors_windows",
                    "balcony door does not close",
                ),
            ],
        )
        .await??;
    let orders = journey
        .eventually("repair requests from the inspection", || async {
            let mut dispatcher = journey.staff.dispatcher.clone();
            let orders: Vec<_> = dispatcher
                .list_work_orders(ListWorkOrdersRequest::default())
                .await?
                .into_inner()
                .work_orders
                .into_iter()
                .filter(|o| o.unit_id == unit_1802 && o.source == RepairSource::Inspection as i32)
                .collect();
            Ok((orders.len() == 2).then_some(orders))
        })
        .await?;
    for order in &orders {
        println!(
            "    repair request {}: {}",
            order.category, order.description
        );
    }
    for order in &orders {
        journey
            .repaired(
                &order.repair_request_id,
                &format!("{} repaired", order.category.replace('_', " ")),
            )
            .await?;
    }
    println!(
        "    both repairs done and signed off by maintenance, the owner, the supervising engineer and the project department"
    );
    notice_of(demo, &unit_1802, "reinspection").await?;
    println!("    the coordinator asks Wang Fang back for a re-inspection");
    journey.inspect(&unit_1802, 2, Vec::new()).await??;
    println!("    re-inspection (round 2) passed; the fees are paid after it");
    journey.pay(&fees[1], "ALI-1802").await?;
    journey.wait_cleared(&unit_1802).await?;

    step(
        13,
        "Chen Jing passes the inspection but has not paid; the counter tries to hand over keys",
    );
    journey.inspect(&units[2].unit_id, 1, Vec::new()).await??;
    for (n, unit) in units.iter().enumerate() {
        match journey.release(&unit.unit_id, &format!("keys-{n}")).await? {
            Ok(r) => {
                let books: Vec<String> = r
                    .books
                    .iter()
                    .map(|b| {
                        let kind = handover::BookKind::try_from(b.kind)
                            .map(|k| k.as_str_name())
                            .unwrap_or_default();
                        format!(
                            "{} {}",
                            kind.trim_start_matches("BOOK_KIND_")
                                .to_lowercase()
                                .replace('_', " "),
                            b.version
                        )
                    })
                    .collect();
                println!(
                    "    {:<18} KEYS HANDED OVER ({} of {} key sets; with the books {}; owner signed for both)",
                    names[n],
                    r.keys.iter().filter(|k| k.status == "handed_over").count(),
                    r.keys.len(),
                    books.join(" and ")
                )
            }
            Err(status) => println!("    {:<18} no keys — {}", names[n], status.message()),
        }
    }
    let stats = journey
        .staff
        .counter
        .clone()
        .get_batch_statistics(handover::GetBatchStatisticsRequest {
            batch_id: batch.batch_id,
            project_id: String::new(),
        })
        .await?
        .into_inner();
    println!(
        "    batch: {} of {} units handed over, {} defect(s), {} re-inspection(s), {} waiting on fees, {} notice(s) late",
        stats.handed_over,
        stats.units,
        stats.defects,
        stats.reinspections,
        stats.waiting_on_fees,
        stats.notices_late
    );
    Ok(())
}
