//! Title's steps taken from more than one place, with the events they publish.

use anju_kit::time::ProjectZone;
use anju_messaging::{EventMeta, Outbox, outbox::AppendError};
use anju_proto::{common, events};
use sqlx::PgConnection;

use crate::{
    domain::{area, clocks},
    store::{
        clocks as clock_rows,
        files::{self, TitleFile},
        registry,
    },
};

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Append(#[from] AppendError),
}

impl From<StepError> for anju_kit::ServiceError {
    fn from(err: StepError) -> Self {
        match err {
            StepError::Database(e) => e.into(),
            StepError::Append(e) => e.into(),
        }
    }
}

impl From<StepError> for anju_messaging::HandlerError {
    fn from(err: StepError) -> Self {
        match err {
            StepError::Database(e) => e.into(),
            StepError::Append(e) => anju_messaging::HandlerError::Permanent(anyhow::anyhow!(e)),
        }
    }
}

pub fn money(minor_units: i64, currency: &str) -> Option<common::Money> {
    Some(common::Money {
        minor_units,
        currency: currency.to_string(),
    })
}

pub fn area(cm2: Option<i64>) -> Option<common::Area> {
    cm2.map(|square_centimetres| common::Area { square_centimetres })
}

/// Assesses the area difference of the file's contract once both the survey and the contract
/// are known and it is not assessed yet; publishes `AreaDifferenceAssessed` (which starts the
/// coordinator's title flow) and, beyond ±3 %, starts the buyer's choice clock. Returns the
/// file as it is after.
pub async fn assess_if_ready(
    conn: &mut PgConnection,
    outbox: &Outbox,
    meta: EventMeta,
    file: TitleFile,
) -> Result<TitleFile, StepError> {
    let (Some(measured), Some(contract_area), Some(price), Some(contract_id), Some(customer)) = (
        file.measured_area_cm2,
        file.contract_area_cm2,
        file.price_minor,
        file.contract_id,
        file.customer_id,
    ) else {
        return Ok(file);
    };
    if file.assessed_at.is_some() || file.cancelled {
        return Ok(file);
    }
    let d = area::assess(contract_area, measured, price);
    let zone = ProjectZone::or_default(&file.time_zone);
    let policy = registry::policy(&mut *conn, file.tenant_id, file.project_id).await?;
    let choice = d.buyer_may_cancel().then(|| {
        let days = policy.choice_days.max(1) as u64;
        clocks::deadline(zone.today(), days, days.min(3), zone)
    });
    let file = files::record_assessment(conn, file.unit_id, &d, choice.map(|c| c.due_on)).await?;
    if let Some(choice) = &choice {
        clock_rows::start(
            conn,
            file.tenant_id,
            file.project_id,
            file.unit_id,
            contract_id,
            clocks::Clock::Choice,
            choice,
        )
        .await?;
    }
    let event = events::AreaDifferenceAssessed {
        contract_id: contract_id.to_string(),
        unit_id: file.unit_id.to_string(),
        project_id: file.project_id.to_string(),
        customer_id: customer.to_string(),
        contract_area: area(Some(contract_area)),
        measured_area: area(Some(measured)),
        error_ratio_ppm: d.error_ratio_ppm,
        band: d.band.as_str().into(),
        buyer_amount: money(d.buyer_minor, &file.currency),
        developer_bears: money(d.developer_bears_minor, &file.currency),
        buyer_may_cancel: d.buyer_may_cancel(),
        choice_due_on: choice.map(|c| c.due_on.to_string()).unwrap_or_default(),
    };
    outbox.append(conn, meta, &event).await?;
    Ok(file)
}

/// The 60- and 90-day clocks of a unit handed over on `on`.
pub async fn start_statutory_clocks(
    conn: &mut PgConnection,
    file: &TitleFile,
    on: chrono::NaiveDate,
) -> Result<(), StepError> {
    let Some(contract_id) = file.contract_id else {
        return Ok(());
    };
    let policy = registry::policy(&mut *conn, file.tenant_id, file.project_id).await?;
    let zone = file.zone();
    for (clock, warn) in [
        (clocks::Clock::Submission, policy.submission_warning_days),
        (clocks::Clock::Title, policy.title_warning_days),
    ] {
        if let Some(d) = clocks::statutory(clock, on, warn.max(0) as u64, zone) {
            clock_rows::start(
                conn,
                file.tenant_id,
                file.project_id,
                file.unit_id,
                contract_id,
                clock,
                &d,
            )
            .await?;
        }
    }
    Ok(())
}
