//! Step 17: an owner's complaint (DOMAIN.md §4) routed to a repair, signed off and followed up.

use anju_proto::{complaints as cp, sales};

use super::{Demo, step};

pub(super) async fn complaint(demo: &Demo, unit: &sales::Unit) -> anyhow::Result<()> {
    let journey = &demo.journey;
    step(
        17,
        "Wang Fang phones the desk: water comes through the bathroom ceiling",
    );
    let recorded = journey
        .complain(
            "ceiling",
            &unit.unit_id,
            cp::ComplaintCategory::Quality,
            cp::Severity::High,
            "water through the bathroom ceiling after rain",
        )
        .await?
        .map_err(|s| anyhow::anyhow!("the complaint: {}", s.message()))?;
    let id = recorded.complaint_id.clone();
    let due = |c: &cp::Complaint, target: cp::Target| {
        c.clocks
            .iter()
            .find(|k| k.target == target as i32)
            .and_then(|k| k.due_at.as_ref())
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
            // China Standard Time, the default standard's zone (no daylight saving).
            .map(|t| {
                (t + chrono::Duration::hours(8))
                    .format("%a %d %b %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    };
    println!(
        "    recorded and routed to maintenance; in business hours (Mon–Fri 09:00–12:00, \
         13:30–18:00) it is to be acknowledged by {} and resolved by {}",
        due(&recorded, cp::Target::Acknowledge),
        due(&recorded, cp::Target::Resolve)
    );
    journey.acknowledge(&id).await??;
    let resolved = journey
        .complaint_repaired(&id, 1, "resealed the pipe joint above the ceiling")
        .await?;
    println!(
        "    the coordinator opened repair {}; done and signed off by maintenance, the owner, \
         the supervising engineer and the project department, it resolved the complaint",
        resolved.repair_request_id
    );
    let closed = journey
        .follow_up(&id, 1, 5)
        .await?
        .map_err(|s| anyhow::anyhow!("the follow-up: {}", s.message()))?;
    let met = closed
        .clocks
        .iter()
        .filter(|k| k.state == cp::ClockState::Met as i32)
        .count();
    println!(
        "    the follow-up visit: satisfied (5/5), the complaint closed — {met} of {} clocks met",
        closed.clocks.len()
    );
    let saga = journey
        .saga("complaint", &id, "the complaint's saga closed", |s| {
            s.state == "closed"
        })
        .await?;
    println!("    the coordinator's complaint saga:");
    for entry in &saga.history {
        println!("      · {}", entry.note);
    }
    Ok(())
}
