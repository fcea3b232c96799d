//! Steps 14–16: from survey to the title deed (DOMAIN.md §6), taken through the shared journey.

use anju_proto::{sales, title as tt};

use super::{Demo, cny, step};

pub(super) async fn title(demo: &Demo, unit: &sales::Unit) -> anyhow::Result<()> {
    let journey = &demo.journey;
    let unit_id = &unit.unit_id;
    step(
        14,
        "The surveyor's report: Wang Fang's home measures 112.3100 m² against 112.1350 m² in the contract",
    );
    journey.survey(unit_id, 1_123_100).await?;
    let file = journey.assessed(unit_id).await?;
    let area = file.area.clone().unwrap_or_default();
    let owed = area.buyer_amount.as_ref().map_or(0, |m| m.minor_units);
    let ppm = area.error_ratio_ppm;
    let sign = if ppm < 0 { "−" } else { "+" };
    println!(
        "    error {sign}{}.{:04} % — within ±3 %, settled at the contract's unit price: Wang Fang owes {}",
        ppm.abs() / 10_000,
        ppm.abs() % 10_000,
        cny(owed)
    );
    println!(
        "      (exact integer arithmetic, one rounding to the fen; the ratio is shown rounded)"
    );
    journey.area_difference_paid(unit_id).await?;
    journey
        .wait_title(unit_id, "the area difference paid", |f| {
            f.area.as_ref().is_some_and(|a| a.settled_at.is_some())
        })
        .await?;
    println!("    the coordinator charged it in finance; paid, title records it settled");

    step(
        15,
        "The building is registered; the owner's documents are checked, deed tax and fees paid",
    );
    journey.register_building().await?;
    println!("    completion filing and initial registration of Tower 1 recorded");
    let rejected = journey
        .review(
            unit_id,
            "purchase_invoice",
            Some("the invoice is a copy; the original is needed"),
            "first",
        )
        .await??;
    let waits = rejected.waiting_for.join(", ");
    println!("    the invoice is refused (a copy) — the file waits for: {waits}");
    journey.documents_accepted(unit_id).await?;
    println!("    the original invoice and the other four documents accepted");
    journey.title_fees_paid(unit_id, 8_780_000, 55_000).await?;
    println!(
        "    deed tax {} and registration fee {} charged by the coordinator and paid",
        cny(8_780_000),
        cny(55_000)
    );

    step(
        16,
        "The application goes to the registry; the deed is issued and, the home being mortgaged, goes to the bank",
    );
    let issued = journey.deed_issued(unit_id).await?;
    println!(
        "    application {} submitted; deed {} issued",
        issued.application_receipt, issued.deed_number
    );
    let refused = journey.deliver(unit_id, tt::DeedRecipient::Owner).await?;
    if let Err(status) = refused {
        println!(
            "    handing it to Wang Fang is refused: {}",
            status.message()
        );
    }
    let delivered = journey
        .deliver(unit_id, tt::DeedRecipient::Bank)
        .await?
        .map_err(|s| anyhow::anyhow!("delivery: {}", s.message()))?;
    println!(
        "    delivered to {} ({}) against receipt {}",
        delivered.delivered_to, delivered.lending_bank, delivered.delivery_receipt
    );
    let saga = journey
        .title_saga(&delivered.contract_id, "the title saga delivered", |s| {
            s.terminal && s.open_commands == 0
        })
        .await?;
    let state = saga.saga.map(|s| s.state).unwrap_or_default();
    println!("    the coordinator's title saga: {state}");
    for entry in &saga.history {
        println!("      · {}", entry.note);
    }
    Ok(())
}
