//! A handover batch's dates, plan and fees (seed ⑧ 5.1; DOMAIN.md §2).

use std::collections::BTreeSet;

use anju_kit::{Refusal, time::ProjectZone};
use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use uuid::Uuid;

/// Bounds of one inspection's record: its event must stay far below the bus's message size.
pub const MAX_DEFECTS: usize = 200;
pub const MAX_PHOTO_REFS: usize = 20;
pub const DEFECT_SEVERITIES: [&str; 3] = ["minor", "major", "critical"];

/// Problems raised at an inspection that are not defects of the unit (seed ⑧ 5.1.11), in the
/// order of the wire's `InspectionIssueKind`; each opens a complaint.
pub const ISSUE_KINDS: [&str; 4] = ["estate", "fees", "sales", "other"];
pub const MAX_ISSUES: usize = 20;

/// What a notice to a unit may be: the move-in notice with its fee list, a reminder, or the
/// call back to a re-inspection.
pub const NOTICE_KINDS: [&str; 3] = ["notice", "reminder", "reinspection"];

/// A tenant's leads and notice time: the seed's one month for the plan (5.1.1) and two weeks
/// for the notices (5.1.3) unless the tenant asks for more; notices at 09:00 project time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub plan_lead_months: i32,
    pub notice_lead_days: i32,
    pub notice_minute: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            plan_lead_months: 1,
            notice_lead_days: 14,
            notice_minute: 9 * 60,
        }
    }
}

/// The bounds of the settings: the seed's leads are minimums.
pub const PLAN_LEAD_MONTHS: (i32, i32) = (1, 12);
pub const NOTICE_LEAD_DAYS: (i32, i32) = (14, 90);

/// The handover plan is due the tenant's lead (a month) before the window opens.
pub fn plan_due_on(window_start: NaiveDate, lead_months: i32) -> NaiveDate {
    window_start
        .checked_sub_months(Months::new(u32::try_from(lead_months).unwrap_or(1)))
        .unwrap_or(window_start)
}

/// The move-in notices go out `lead_days` (two weeks or more) before the window opens.
pub fn notices_due_on(window_start: NaiveDate, lead_days: i32) -> NaiveDate {
    window_start - Duration::days(i64::from(lead_days))
}

/// When the notices go out: their date at the tenant's notice time, project time.
pub fn notices_at(
    window_start: NaiveDate,
    settings: &Settings,
    zone: &ProjectZone,
) -> DateTime<Utc> {
    let day = notices_due_on(window_start, settings.notice_lead_days);
    zone.at_minute(day, u32::try_from(settings.notice_minute).unwrap_or(0))
}

/// A batch is planned at least the tenant's lead (one month, seed ⑧ 5.1.1) before its window,
/// and early enough for its notices to go out on their date (5.1.3): a window opening before
/// `today` + the longer of the two leads is refused, unless a manager overrides it.
pub fn plan_lead(
    today: NaiveDate,
    window_start: NaiveDate,
    settings: &Settings,
    overridden: bool,
) -> Result<(), Refusal> {
    let lead_months = settings.plan_lead_months;
    let earliest = today
        .checked_add_months(Months::new(u32::try_from(lead_months).unwrap_or(1)))
        .unwrap_or(today)
        .max(today + Duration::days(i64::from(settings.notice_lead_days)));
    if window_start >= earliest || overridden {
        return Ok(());
    }
    Err(Refusal::new(
        "WINDOW_TOO_SOON",
        format!(
            "a handover batch is planned at least {lead_months} month(s) ahead and its notices go out {} days before its window: the window may open on {earliest} at the earliest, unless a customer service manager overrides it with a reason",
            settings.notice_lead_days
        ),
    )
    .with("earliest_window_start", earliest)
    .zh("入伙须提前一个月筹备，窗口期过近"))
}

/// A move-in notice is late when it goes out after the batch's notice date (project time):
/// a unit that joined late, or a batch whose plan was approved past the date.
pub fn notified_late(
    sent_at: DateTime<Utc>,
    notices_due_on: NaiveDate,
    zone: &ProjectZone,
) -> bool {
    zone.date_of(sent_at) > notices_due_on
}

/// The move-in notice goes out only once the batch's plan is approved (seed ⑧ 5.1.1), and only
/// to a unit still under contract.
pub fn may_notify(unit_id: Uuid, plan_approved: bool, contracted: bool) -> Result<(), Refusal> {
    if !plan_approved {
        return Err(Refusal::new(
            "PLAN_NOT_APPROVED",
            "no move-in notice before the batch's plan is approved",
        )
        .with("unit_id", unit_id)
        .zh("入伙方案未审批，不能发出入伙通知"));
    }
    if !contracted {
        return Err(Refusal::new(
            "UNIT_NOT_CONTRACTED",
            "the unit's contract is no longer active: no move-in notice",
        )
        .with("unit_id", unit_id));
    }
    Ok(())
}

/// Where a batch's plan stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanStatus {
    None,
    Submitted,
    Approved,
}

/// A plan is submitted (again) until one is approved.
pub fn may_submit(batch_id: Uuid, status: PlanStatus) -> Result<(), Refusal> {
    match status {
        PlanStatus::Approved => Err(approved(batch_id)),
        _ => Ok(()),
    }
}

/// The manager approves a submitted plan, once: the submission read (not one made since), and
/// not their own (another pair of eyes, seed ⑧ 5.1.1: submitted to the leader in charge).
pub fn may_approve(
    batch_id: Uuid,
    status: PlanStatus,
    same_submission: bool,
    by_submitter: bool,
) -> Result<(), Refusal> {
    match status {
        PlanStatus::Submitted if !same_submission => Err(Refusal::new(
            "PLAN_CHANGED",
            "the plan was submitted again since: read it before approving",
        )
        .with("batch_id", batch_id)),
        PlanStatus::Submitted if by_submitter => Err(Refusal::new(
            "PLAN_SELF_APPROVAL",
            "a plan is approved by someone other than who submitted it",
        )
        .with("batch_id", batch_id)),
        PlanStatus::Submitted => Ok(()),
        PlanStatus::Approved => Err(approved(batch_id)),
        PlanStatus::None => Err(Refusal::new(
            "PLAN_NOT_SUBMITTED",
            "no plan was submitted for this batch",
        )
        .with("batch_id", batch_id)
        .zh("尚未提交入伙方案")),
    }
}

fn approved(batch_id: Uuid) -> Refusal {
    Refusal::new(
        "PLAN_ALREADY_APPROVED",
        "the batch's plan is already approved",
    )
    .with("batch_id", batch_id)
    .zh("入伙方案已审批")
}

/// The plan schedules every building of the batch (its days' buildings cover them all).
pub fn plan_covers(
    batch_id: Uuid,
    buildings: &BTreeSet<Uuid>,
    scheduled: &BTreeSet<Uuid>,
) -> Result<(), Refusal> {
    match buildings.difference(scheduled).next() {
        None => Ok(()),
        Some(missing) => Err(Refusal::new(
            "PLAN_MISSING_BUILDING",
            "the plan's schedule leaves out a building of the batch",
        )
        .with("batch_id", batch_id)
        .with("building_id", missing)
        .zh("入伙计划未安排该楼栋")),
    }
}

/// A fee in minor units: rate per m² × area (cm²) / 10 000 × `numerator / denominator`,
/// rounded half up to the fen; `None` past i64.
pub fn fee(rate_minor: i64, area_cm2: i64, numerator: i64, denominator: i64) -> Option<i64> {
    let exact = i128::from(rate_minor) * i128::from(area_cm2) * i128::from(numerator);
    let divisor = 10_000i128 * i128::from(denominator);
    i64::try_from((exact + divisor / 2) / divisor).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_half_up_to_the_fen() {
        // 3.50 yuan per m² and month × 89.1234 m² × 3 months = 935.7957 yuan → 935.80.
        assert_eq!(fee(350, 891_234, 3, 1), Some(93_580));
        // 5 % of 3,000 yuan per m² × 89.1234 m² = 13,368.51 yuan.
        assert_eq!(fee(300_000, 891_234, 500, 10_000), Some(1_336_851));
        assert_eq!(fee(i64::MAX, i64::MAX, 1, 1), None);
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_plan_is_due_a_month_and_the_notices_two_weeks_before_the_window() {
        let start = date("2026-03-31");
        assert_eq!(plan_due_on(start, 1).to_string(), "2026-02-28");
        assert_eq!(plan_due_on(start, 2).to_string(), "2026-01-31");
        assert_eq!(notices_due_on(start, 14).to_string(), "2026-03-17");
        assert_eq!(notices_due_on(start, 30).to_string(), "2026-03-01");
    }

    #[test]
    fn a_window_inside_the_lead_is_refused_unless_overridden() {
        let today = date("2026-01-31");
        let leads = |plan_lead_months, notice_lead_days| Settings {
            plan_lead_months,
            notice_lead_days,
            notice_minute: 0,
        };
        // One month from 31 January is 28 February.
        assert!(plan_lead(today, date("2026-02-28"), &leads(1, 14), false).is_ok());
        let refused = plan_lead(today, date("2026-02-27"), &leads(1, 14), false).unwrap_err();
        assert_eq!(refused.reason, "WINDOW_TOO_SOON");
        assert!(plan_lead(today, date("2026-02-27"), &leads(1, 14), true).is_ok());
        // A tenant asking three months: 30 April is the earliest.
        assert!(plan_lead(today, date("2026-04-29"), &leads(3, 14), false).is_err());
        assert!(plan_lead(today, date("2026-04-30"), &leads(3, 14), false).is_ok());
        // Notices 40 days ahead: the window no sooner than 12 March, or they would be late.
        assert!(plan_lead(today, date("2026-03-11"), &leads(1, 40), false).is_err());
        assert!(plan_lead(today, date("2026-03-12"), &leads(1, 40), false).is_ok());
        assert_eq!(
            may_notify(Uuid::nil(), false, true).unwrap_err().reason,
            "PLAN_NOT_APPROVED"
        );
        assert_eq!(
            may_notify(Uuid::nil(), true, false).unwrap_err().reason,
            "UNIT_NOT_CONTRACTED"
        );
        assert!(may_notify(Uuid::nil(), true, true).is_ok());
    }

    #[test]
    fn notices_go_out_at_the_notice_time_and_are_late_only_after_their_date() {
        let zone = ProjectZone::or_default("Asia/Shanghai");
        let settings = Settings::default();
        let at = notices_at(date("2026-03-31"), &settings, &zone);
        assert_eq!(at.to_rfc3339(), "2026-03-17T01:00:00+00:00");
        let due = date("2026-03-17");
        // 23:59 on the date in Shanghai is 15:59 UTC: on time; a minute later, late.
        let last = "2026-03-17T15:59:59Z".parse().unwrap();
        assert!(!notified_late(last, due, &zone));
        let next = "2026-03-17T16:00:00Z".parse().unwrap();
        assert!(notified_late(next, due, &zone));
    }

    #[test]
    fn a_plan_schedules_every_building_and_is_approved_once() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let batch = Uuid::nil();
        let all = BTreeSet::from([a, b]);
        let refused = plan_covers(batch, &all, &BTreeSet::from([a])).unwrap_err();
        assert_eq!(refused.reason, "PLAN_MISSING_BUILDING");
        assert!(plan_covers(batch, &all, &all).is_ok());
        assert!(may_submit(batch, PlanStatus::Submitted).is_ok());
        assert_eq!(
            may_approve(batch, PlanStatus::None, true, false)
                .unwrap_err()
                .reason,
            "PLAN_NOT_SUBMITTED"
        );
        assert!(may_approve(batch, PlanStatus::Submitted, true, false).is_ok());
        assert_eq!(
            may_approve(batch, PlanStatus::Submitted, false, false)
                .unwrap_err()
                .reason,
            "PLAN_CHANGED"
        );
        assert_eq!(
            may_approve(batch, PlanStatus::Submitted, true, true)
                .unwrap_err()
                .reason,
            "PLAN_SELF_APPROVAL"
        );
        assert_eq!(
            may_submit(batch, PlanStatus::Approved).unwrap_err().reason,
            "PLAN_ALREADY_APPROVED"
        );
    }
}
