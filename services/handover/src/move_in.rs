//! Move-in (seed ⑧ 5.1): batches, notices, counter check-in, joint inspections and keys.
//!
//! The flagship rule lives here, not in any caller: keys are released only for a unit whose
//! inspection handover saw pass, whose fees handover learnt settled from finance's events
//! ([`crate::fees`]), and which the coordinator cleared. A database constraint holds the same
//! rule, so neither a code path nor a clearance alone can release keys.

use anju_kit::{
    Principal, Refusal, ServiceError, ServiceResult,
    audit::Subject,
    idempotency::{Claim, Command},
    ids::new_id,
    pii::IdentityKey,
    validate::Validator,
};
use anju_messaging::{EventMeta, Outbox};
use anju_proto::{common, events, handover as pb};
use chrono::{DateTime, Months, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use crate::{fees, state::Handover};

pub const KEY_KINDS: [&str; 5] = [
    "security_door",
    "interior_door",
    "intercom_door",
    "water_meter_box",
    "mailbox",
];

#[derive(Clone, Debug, FromRow)]
struct Batch {
    batch_id: Uuid,
    project_id: Uuid,
    building_id: Option<Uuid>,
    name: String,
    window_start: NaiveDate,
    window_end: NaiveDate,
    books_ready_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, FromRow)]
struct KeyLoan {
    loan_id: Uuid,
    unit_id: Uuid,
    kind: String,
    borrower: String,
    purpose: String,
    out_at: DateTime<Utc>,
    back_at: Option<DateTime<Utc>>,
}

use anju_kit::time::timestamp as ts;

impl From<KeyLoan> for pb::KeyLoan {
    fn from(l: KeyLoan) -> Self {
        pb::KeyLoan {
            loan_id: l.loan_id.to_string(),
            unit_id: l.unit_id.to_string(),
            kind: l.kind,
            borrower: l.borrower,
            purpose: l.purpose,
            out_at: Some(ts(l.out_at)),
            back_at: l.back_at.map(ts),
        }
    }
}

/// Bounds of one inspection's record: its event must stay far below the bus's message size.
const MAX_DEFECTS: usize = 200;
const MAX_PHOTO_REFS: usize = 20;

const NOTICE_KINDS: [&str; 3] = ["notice", "reminder", "reinspection"];

/// One line of a notice's fee list.
struct NoticeFee {
    purpose: String,
    amount: i64,
    currency: String,
    due_on: NaiveDate,
    charge_key: String,
}

fn notice_proto(
    notice_id: Uuid,
    kind: &str,
    channel: &str,
    sent_at: DateTime<Utc>,
    fees: Vec<NoticeFee>,
) -> pb::Notice {
    let total = fees.first().map(|first| common::Money {
        minor_units: fees.iter().map(|f| f.amount).sum(),
        currency: first.currency.clone(),
    });
    pb::Notice {
        notice_id: notice_id.to_string(),
        kind: kind.to_string(),
        channel: channel.to_string(),
        sent_at: Some(ts(sent_at)),
        fees: fees
            .into_iter()
            .map(|f| pb::NoticeFee {
                purpose: f.purpose,
                amount: Some(common::Money {
                    minor_units: f.amount,
                    currency: f.currency,
                }),
                due_on: f.due_on.to_string(),
                charge_key: f.charge_key,
            })
            .collect(),
        total,
    }
}

/// A handover row; whether its fees are settled is what handover has learnt from finance
/// until the keys are released, and what they were released on after ([`fees`]).
const HANDOVER: &str = "unit_id, batch_id, project_id, buyer_name, notice_sent_at, checked_in_at, inspection_rounds, \
                        inspection_passed_at, cleared_at, keys_released_at, \
                        coalesce(handovers.fees_settled_at, (select f.settled_at from fee_settlements f \
                            where f.unit_id = handovers.unit_id and f.tenant_id = handovers.tenant_id)) as fees_settled_at";

async fn batch_units(conn: &mut PgConnection, batch_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("select unit_id from handovers where batch_id = $1 order by unit_id")
        .bind(batch_id)
        .fetch_all(conn)
        .await
}

fn batch_proto(b: Batch, units: Vec<Uuid>) -> pb::Batch {
    pb::Batch {
        batch_id: b.batch_id.to_string(),
        project_id: b.project_id.to_string(),
        building_id: b.building_id.map(|id| id.to_string()).unwrap_or_default(),
        name: b.name,
        window_start: b.window_start.to_string(),
        window_end: b.window_end.to_string(),
        plan_due_on: b
            .window_start
            .checked_sub_months(Months::new(1))
            .unwrap_or(b.window_start)
            .to_string(),
        notices_due_on: (b.window_start - chrono::Duration::days(14)).to_string(),
        books_ready: b.books_ready_at.is_some(),
        unit_ids: units.into_iter().map(|u| u.to_string()).collect(),
    }
}

/// Fee in minor units: rate per m² × area (cm²) / 10 000 × factor, rounded half up.
fn fee(rate_minor: i64, area_cm2: i64, numerator: i64, denominator: i64) -> ServiceResult<i64> {
    let exact = i128::from(rate_minor) * i128::from(area_cm2) * i128::from(numerator);
    let divisor = 10_000i128 * i128::from(denominator);
    i64::try_from((exact + divisor / 2) / divisor)
        .map_err(|_| ServiceError::invalid("fees", "overflow"))
}

/// A unit's move-in, locked, as `principal` may see it.
async fn locked(
    conn: &mut PgConnection,
    principal: &Principal,
    unit_id: Uuid,
) -> ServiceResult<Handover> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {HANDOVER} from handovers where tenant_id = $1 and unit_id = $2 for update"
    )))
    .bind(principal.tenant_id)
    .bind(unit_id)
    .fetch_optional(conn)
    .await?
    .filter(|h: &Handover| principal.can_see_project(h.project_id))
    .ok_or_else(|| ServiceError::not_found("handover"))
}

async fn reread(conn: &mut PgConnection, unit_id: Uuid) -> ServiceResult<Handover> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {HANDOVER} from handovers where unit_id = $1"
    )))
    .bind(unit_id)
    .fetch_one(conn)
    .await?)
}

pub struct MoveIn {
    pub pool: PgPool,
    pub outbox: Outbox,
    /// Checks the buyer's identity number against the keyed hash in sales' contract event.
    pub identity: IdentityKey,
}

fn unit_request(v: &mut Validator, request_id: &str, unit_id: &str) -> (String, Uuid) {
    (v.request_id(request_id), v.uuid("unit_id", unit_id))
}

impl MoveIn {
    pub async fn create_batch(
        &self,
        principal: &Principal,
        req: pb::CreateBatchRequest,
    ) -> ServiceResult<pb::CreateBatchResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let building_id = v.optional_uuid("building_id", &req.building_id);
        let name = v.text("name", &req.name, 200);
        let start = v.date("window_start", &req.window_start);
        let end = v.date("window_end", &req.window_end);
        v.check(
            end >= start,
            "window_end",
            "must not be before window_start",
        );
        let rate = req
            .property_fee_per_square_metre_month
            .clone()
            .unwrap_or_default();
        v.check(
            rate.minor_units >= 0,
            "property_fee_per_square_metre_month.minor_units",
            "must not be negative",
        );
        v.check(
            rate.currency.len() == 3,
            "property_fee_per_square_metre_month.currency",
            "must be an ISO 4217 code",
        );
        let months = v.range("prepaid_months", req.prepaid_months, 1, 24);
        let cost = req
            .construction_cost_per_square_metre
            .clone()
            .unwrap_or_default();
        v.check(
            cost.minor_units >= 0,
            "construction_cost_per_square_metre.minor_units",
            "must not be negative",
        );
        v.check(
            cost.currency == rate.currency,
            "construction_cost_per_square_metre.currency",
            "must be the fee's currency",
        );
        // 2007 Measures for Special Maintenance Funds art. 7: 5-8 % of the construction cost.
        let fund_bp = v.range("maintenance_fund_bp", req.maintenance_fund_bp, 500, 800);
        v.finish()?;
        principal.require_project(project_id)?;
        // Handover knows a project or building only through the contracts sales reported: one
        // it never heard of, another tenant's included, does not exist here.
        let known: bool = sqlx::query_scalar(
            "select exists (select 1 from contracts
                            where tenant_id = $1 and project_id = $2 and ($3::uuid is null or building_id = $3))",
        )
        .bind(principal.tenant_id)
        .bind(project_id)
        .bind(building_id)
        .fetch_one(&self.pool)
        .await?;
        if !known {
            return Err(ServiceError::not_found(if building_id.is_some() {
                "building"
            } else {
                "project"
            }));
        }

        let mut command =
            match Command::begin(&self.pool, principal, "CreateBatch", &request_id, &req).await? {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        let tenant = principal.tenant_id;
        let batch_id = new_id();
        let batch: Batch = sqlx::query_as(
            "insert into batches (batch_id, tenant_id, project_id, building_id, name, window_start, window_end, currency,
                                  property_fee_per_m2_month_minor, prepaid_months, construction_cost_per_m2_minor,
                                  maintenance_fund_bp)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             returning batch_id, project_id, building_id, name, window_start, window_end, books_ready_at",
        )
        .bind(batch_id)
        .bind(tenant)
        .bind(project_id)
        .bind(building_id)
        .bind(&name)
        .bind(start)
        .bind(end)
        .bind(&rate.currency)
        .bind(rate.minor_units)
        .bind(months)
        .bind(cost.minor_units)
        .bind(fund_bp)
        .fetch_one(&mut **command.tx())
        .await?;
        // The handover list comes from sales: units under an active contract, not yet in a batch.
        let contracted: Vec<(Uuid, Uuid, String, i64, String)> = sqlx::query_as(
            "select c.unit_id, c.customer_id, c.buyer_name, c.area_cm2, c.time_zone from contracts c
             where c.tenant_id = $1 and c.project_id = $2 and c.active and ($3::uuid is null or c.building_id = $3)
               and not exists (select 1 from handovers h where h.unit_id = c.unit_id)
             order by c.unit_id",
        )
        .bind(tenant)
        .bind(project_id)
        .bind(building_id)
        .fetch_all(&mut **command.tx())
        .await?;
        if contracted.is_empty() {
            return Err(ServiceError::precondition(
                "NO_CONTRACTED_UNIT",
                "no contracted unit is waiting for a handover batch here",
            ));
        }
        for (unit_id, customer_id, buyer_name, area, time_zone) in &contracted {
            sqlx::query(
                "insert into handovers (unit_id, tenant_id, batch_id, project_id, customer_id, buyer_name)
                 values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(unit_id)
            .bind(tenant)
            .bind(batch_id)
            .bind(project_id)
            .bind(customer_id)
            .bind(buyer_name)
            .execute(&mut **command.tx())
            .await?;
            let money = |minor_units| {
                Some(common::Money {
                    minor_units,
                    currency: rate.currency.clone(),
                })
            };
            let event = events::UnitAddedToBatch {
                batch_id: batch_id.to_string(),
                project_id: project_id.to_string(),
                unit_id: unit_id.to_string(),
                customer_id: customer_id.to_string(),
                window_start: start.to_string(),
                time_zone: time_zone.clone(),
                property_fee: money(fee(rate.minor_units, *area, i64::from(months), 1)?),
                maintenance_fund: money(fee(cost.minor_units, *area, i64::from(fund_bp), 10_000)?),
            };
            let meta = EventMeta::new(tenant, "handover", unit_id).caused_by_request(&request_id);
            self.outbox.append(command.tx(), meta, &event).await?;
        }
        let units = batch_units(command.tx(), batch_id).await?;
        let response = pb::CreateBatchResponse {
            batch: Some(batch_proto(batch, units)),
        };
        command
            .commit(&response, Subject::new("batch", batch_id))
            .await?;
        Ok(response)
    }

    pub async fn books_ready(
        &self,
        principal: &Principal,
        req: pb::RecordBooksReadyRequest,
    ) -> ServiceResult<pb::RecordBooksReadyResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let batch_id = v.uuid("batch_id", &req.batch_id);
        v.finish()?;
        let mut command =
            match Command::begin(&self.pool, principal, "RecordBooksReady", &request_id, &req)
                .await?
            {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        let batch: Batch = sqlx::query_as(
            "update batches set books_ready_at = coalesce(books_ready_at, now()) where tenant_id = $1 and batch_id = $2
             returning batch_id, project_id, building_id, name, window_start, window_end, books_ready_at",
        )
        .bind(principal.tenant_id)
        .bind(batch_id)
        .fetch_optional(&mut **command.tx())
        .await?
        .filter(|b: &Batch| principal.can_see_project(b.project_id))
        .ok_or_else(|| ServiceError::not_found("batch"))?;
        let units = batch_units(command.tx(), batch_id).await?;
        let response = pb::RecordBooksReadyResponse {
            batch: Some(batch_proto(batch, units)),
        };
        command
            .commit(&response, Subject::new("batch", batch_id))
            .await?;
        Ok(response)
    }

    pub async fn record_notice(
        &self,
        principal: &Principal,
        req: pb::RecordNoticeRequest,
    ) -> ServiceResult<pb::RecordNoticeResponse> {
        let mut v = Validator::new();
        let (request_id, unit_id) = unit_request(&mut v, &req.request_id, &req.unit_id);
        v.check(
            NOTICE_KINDS.contains(&req.kind.as_str()),
            "kind",
            "must be notice, reminder or reinspection",
        );
        let channel = v.text("channel", &req.channel, 32);
        v.check(
            req.kind != "notice" || !req.fees.is_empty(),
            "fees",
            "a move-in notice lists the unit's fees",
        );
        v.check(req.fees.len() <= 50, "fees", "at most 50 lines");
        let mut fees = Vec::with_capacity(req.fees.len());
        for (n, fee) in req.fees.iter().enumerate() {
            let field = |name: &str| format!("fees[{n}].{name}");
            let purpose = v.text(&field("purpose"), &fee.purpose, 64);
            let (amount, currency) = v.money(&field("amount"), fee.amount.as_ref());
            let due_on = v.date(&field("due_on"), &fee.due_on);
            let charge_key = v.text(&field("charge_key"), &fee.charge_key, 200);
            fees.push(NoticeFee {
                purpose,
                amount,
                currency,
                due_on,
                charge_key,
            });
        }
        v.check(
            fees.iter()
                .try_fold(0i64, |sum, f| sum.checked_add(f.amount))
                .is_some(),
            "fees",
            "the total is too large",
        );
        if let Some(first) = fees.first() {
            v.check(
                fees.iter().all(|f| f.currency == first.currency),
                "fees",
                "all lines in one currency",
            );
        }
        v.finish()?;
        let mut command =
            match Command::begin(&self.pool, principal, "RecordNotice", &request_id, &req).await? {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        locked(command.tx(), principal, unit_id).await?;
        let notice_id = new_id();
        let sent_at: DateTime<Utc> = sqlx::query_scalar(
            "insert into notices (notice_id, tenant_id, unit_id, kind, channel) values ($1, $2, $3, $4, $5)
             returning sent_at",
        )
        .bind(notice_id)
        .bind(principal.tenant_id)
        .bind(unit_id)
        .bind(&req.kind)
        .bind(&channel)
        .fetch_one(&mut **command.tx())
        .await?;
        if !fees.is_empty() {
            sqlx::query(
                "insert into notice_fees (notice_id, line, purpose, amount_minor, currency, due_on, charge_key)
                 select $1, line::int, purpose, amount, currency, due_on, charge_key
                 from unnest($2::text[], $3::bigint[], $4::text[], $5::date[], $6::text[])
                      with ordinality as f (purpose, amount, currency, due_on, charge_key, line)",
            )
            .bind(notice_id)
            .bind(fees.iter().map(|f| f.purpose.clone()).collect::<Vec<_>>())
            .bind(fees.iter().map(|f| f.amount).collect::<Vec<_>>())
            .bind(fees.iter().map(|f| f.currency.clone()).collect::<Vec<_>>())
            .bind(fees.iter().map(|f| f.due_on).collect::<Vec<_>>())
            .bind(fees.iter().map(|f| f.charge_key.clone()).collect::<Vec<_>>())
            .execute(&mut **command.tx())
            .await?;
        }
        if req.kind == "notice" {
            sqlx::query(
                "update handovers set notice_sent_at = coalesce(notice_sent_at, now()) where unit_id = $1",
            )
            .bind(unit_id)
            .execute(&mut **command.tx())
            .await?;
        }
        let response = pb::RecordNoticeResponse {
            handover: Some(reread(command.tx(), unit_id).await?.into()),
            notice: Some(notice_proto(notice_id, &req.kind, &channel, sent_at, fees)),
        };
        command
            .commit(&response, Subject::new("handover", unit_id))
            .await?;
        Ok(response)
    }

    pub async fn check_in(
        &self,
        principal: &Principal,
        req: pb::CheckInRequest,
    ) -> ServiceResult<pb::CheckInResponse> {
        let mut v = Validator::new();
        let (request_id, unit_id) = unit_request(&mut v, &req.request_id, &req.unit_id);
        let id_number = v.text("id_number", &req.id_number, 32);
        v.finish()?;
        let id_hmac = self.identity.hmac(principal.tenant_id, &id_number);
        // The idempotency store keeps an unkeyed hash of the request, which enumerating
        // numbers would reverse: it is given the request with the keyed hash instead (as
        // sales does for its contracts), which also makes a retry that spells the number
        // differently the same request.
        let remembered = pb::CheckInRequest {
            id_number: id_hmac.clone(),
            ..req.clone()
        };
        let mut command =
            match Command::begin(&self.pool, principal, "CheckIn", &request_id, &remembered).await?
            {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        let handover = locked(command.tx(), principal, unit_id).await?;
        if handover.notice_sent_at.is_none() {
            return Err(Refusal::new(
                "NOTICE_NOT_SENT",
                "no move-in notice was sent for this unit yet",
            )
            .with("unit_id", unit_id)
            .zh("尚未发出收楼通知")
            .into());
        }
        let expected: Option<String> =
            sqlx::query_scalar("select buyer_id_hash from contracts where unit_id = $1 and active")
                .bind(unit_id)
                .fetch_optional(&mut **command.tx())
                .await?;
        if expected.as_deref() != Some(id_hmac.as_str()) {
            return Err(Refusal::new(
                "IDENTITY_MISMATCH",
                "the identity document does not match the contract buyer",
            )
            .with("unit_id", unit_id)
            .zh("证件与买受人不符")
            .into());
        }
        sqlx::query("update handovers set checked_in_at = coalesce(checked_in_at, now()) where unit_id = $1")
            .bind(unit_id)
            .execute(&mut **command.tx())
            .await?;
        let response = pb::CheckInResponse {
            handover: Some(reread(command.tx(), unit_id).await?.into()),
        };
        command
            .commit(&response, Subject::new("handover", unit_id))
            .await?;
        Ok(response)
    }

    pub async fn record_inspection(
        &self,
        principal: &Principal,
        req: pb::RecordInspectionRequest,
    ) -> ServiceResult<pb::RecordInspectionResponse> {
        let mut v = Validator::new();
        let (request_id, unit_id) = unit_request(&mut v, &req.request_id, &req.unit_id);
        v.check(
            req.passed == req.defects.is_empty(),
            "defects",
            "a passed inspection has none; a failed one at least one",
        );
        v.count("defects", req.defects.len(), MAX_DEFECTS);
        let (defects, photos): (Vec<events::DefectFound>, Vec<Vec<String>>) = req
            .defects
            .iter()
            .take(MAX_DEFECTS)
            .enumerate()
            .map(|(i, d)| {
                v.count(
                    &format!("defects[{i}].photo_refs"),
                    d.photo_refs.len(),
                    MAX_PHOTO_REFS,
                );
                let photo_refs = d
                    .photo_refs
                    .iter()
                    .take(MAX_PHOTO_REFS)
                    .enumerate()
                    .map(|(j, r)| v.text(&format!("defects[{i}].photo_refs[{j}]"), r, 512))
                    .collect();
                v.check(
                    ["minor", "major", "critical"].contains(&d.severity.as_str()),
                    &format!("defects[{i}].severity"),
                    "must be minor, major or critical",
                );
                (
                    events::DefectFound {
                        defect_id: String::new(),
                        room: v.text(&format!("defects[{i}].room"), &d.room, 64),
                        category: v.text(&format!("defects[{i}].category"), &d.category, 64),
                        description: v.free_text(
                            &format!("defects[{i}].description"),
                            &d.description,
                            2000,
                        ),
                        severity: d.severity.clone(),
                    },
                    photo_refs,
                )
            })
            .unzip();
        v.finish()?;
        let mut command =
            match Command::begin(&self.pool, principal, "RecordInspection", &request_id, &req)
                .await?
            {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        let handover = locked(command.tx(), principal, unit_id).await?;
        if handover.checked_in_at.is_none() {
            return Err(Refusal::new(
                "NOT_CHECKED_IN",
                "the owner has not checked in at the counter",
            )
            .with("unit_id", unit_id)
            .zh("业主尚未在柜台办理登记")
            .into());
        }
        if handover.inspection_passed_at.is_some() {
            return Err(Refusal::new(
                "INSPECTION_ALREADY_PASSED",
                "the unit already passed its inspection",
            )
            .with("unit_id", unit_id)
            .zh("该单位已通过验房")
            .into());
        }
        let round = handover.inspection_rounds + 1;
        let inspection_id = new_id();
        sqlx::query(
            "insert into inspections (inspection_id, tenant_id, unit_id, round, passed, inspector) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(inspection_id)
        .bind(principal.tenant_id)
        .bind(unit_id)
        .bind(round)
        .bind(req.passed)
        .bind(&principal.subject)
        .execute(&mut **command.tx())
        .await?;
        let mut found = Vec::with_capacity(defects.len());
        for (mut d, photo_refs) in defects.into_iter().zip(photos) {
            let defect_id = new_id();
            sqlx::query(
                "insert into defects (defect_id, tenant_id, inspection_id, unit_id, room, category, description, severity, photo_refs)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(defect_id)
            .bind(principal.tenant_id)
            .bind(inspection_id)
            .bind(unit_id)
            .bind(&d.room)
            .bind(&d.category)
            .bind(&d.description)
            .bind(&d.severity)
            .bind(&photo_refs)
            .execute(&mut **command.tx())
            .await?;
            d.defect_id = defect_id.to_string();
            found.push(d);
        }
        sqlx::query(
            "update handovers set inspection_rounds = $2,
                    inspection_passed_at = case when $3 then now() else null end
             where unit_id = $1",
        )
        .bind(unit_id)
        .bind(round)
        .bind(req.passed)
        .execute(&mut **command.tx())
        .await?;
        let event = events::InspectionRecorded {
            unit_id: unit_id.to_string(),
            batch_id: handover.batch_id.to_string(),
            project_id: handover.project_id.to_string(),
            round,
            passed: req.passed,
            defects: found,
        };
        let defect_ids = event.defects.iter().map(|d| d.defect_id.clone()).collect();
        let meta =
            EventMeta::new(principal.tenant_id, "handover", unit_id).caused_by_request(&request_id);
        self.outbox.append(command.tx(), meta, &event).await?;
        let response = pb::RecordInspectionResponse {
            handover: Some(reread(command.tx(), unit_id).await?.into()),
            round,
            defect_ids,
        };
        command
            .commit(&response, Subject::new("handover", unit_id))
            .await?;
        Ok(response)
    }

    pub async fn grant_clearance(
        &self,
        principal: &Principal,
        req: pb::GrantKeyClearanceRequest,
    ) -> ServiceResult<pb::GrantKeyClearanceResponse> {
        let mut v = Validator::new();
        let (request_id, unit_id) = unit_request(&mut v, &req.request_id, &req.unit_id);
        v.finish()?;
        let mut command = match Command::begin(
            &self.pool,
            principal,
            "GrantKeyClearance",
            &request_id,
            &req,
        )
        .await?
        {
            Claim::Replay(response) => return Ok(response),
            Claim::Fresh(command) => command,
        };
        let handover = locked(command.tx(), principal, unit_id).await?;
        // The coordinator clears only what handover itself saw pass.
        if handover.inspection_passed_at.is_none() {
            return Err(Refusal::new(
                "INSPECTION_NOT_PASSED",
                "clearance refused: the inspection has not passed",
            )
            .with("unit_id", unit_id)
            .into());
        }
        sqlx::query(
            "update handovers set cleared_at = coalesce(cleared_at, now()) where unit_id = $1",
        )
        .bind(unit_id)
        .execute(&mut **command.tx())
        .await?;
        let response = pb::GrantKeyClearanceResponse {
            handover: Some(reread(command.tx(), unit_id).await?.into()),
        };
        command
            .commit(&response, Subject::new("handover", unit_id))
            .await?;
        Ok(response)
    }

    pub async fn release_keys(
        &self,
        principal: &Principal,
        req: pb::ReleaseKeysRequest,
    ) -> ServiceResult<pb::ReleaseKeysResponse> {
        let mut v = Validator::new();
        let (request_id, unit_id) = unit_request(&mut v, &req.request_id, &req.unit_id);
        let signed_by = v.text("signed_by", &req.signed_by, 200);
        v.finish()?;
        let mut command =
            match Command::begin(&self.pool, principal, "ReleaseKeys", &request_id, &req).await? {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        let mut handover = locked(command.tx(), principal, unit_id).await?;
        if handover.keys_released_at.is_none() {
            handover.fees_settled_at =
                fees::settled_at(command.tx(), principal.tenant_id, unit_id).await?;
        }
        if let Some(refusal) = handover.keys_refusal() {
            return Err(refusal.into());
        }
        // The settlement the keys are released on is kept on the row; the database refuses a
        // release without it (and without the inspection and the clearance).
        sqlx::query(
            "update handovers set keys_released_at = now(), signed_by = $2, fees_settled_at = $3
             where unit_id = $1",
        )
        .bind(unit_id)
        .bind(&signed_by)
        .bind(handover.fees_settled_at)
        .execute(&mut **command.tx())
        .await?;
        let mut keys = Vec::new();
        for kind in KEY_KINDS {
            for (set, status) in [("owner", "handed_over"), ("spare", "in_office")] {
                sqlx::query("insert into keys (tenant_id, unit_id, kind, set, status) values ($1, $2, $3, $4, $5)")
                    .bind(principal.tenant_id)
                    .bind(unit_id)
                    .bind(kind)
                    .bind(set)
                    .bind(status)
                    .execute(&mut **command.tx())
                    .await?;
                keys.push(pb::KeySet {
                    kind: kind.into(),
                    set: set.into(),
                    status: status.into(),
                });
            }
        }
        let event = events::KeysReleased {
            unit_id: unit_id.to_string(),
            batch_id: handover.batch_id.to_string(),
        };
        let meta =
            EventMeta::new(principal.tenant_id, "handover", unit_id).caused_by_request(&request_id);
        self.outbox.append(command.tx(), meta, &event).await?;
        let response = pb::ReleaseKeysResponse {
            handover: Some(reread(command.tx(), unit_id).await?.into()),
            keys,
        };
        command
            .commit(&response, Subject::new("handover", unit_id))
            .await?;
        Ok(response)
    }

    pub async fn lend_key(
        &self,
        principal: &Principal,
        req: pb::LendKeyRequest,
    ) -> ServiceResult<pb::LendKeyResponse> {
        let mut v = Validator::new();
        let (request_id, unit_id) = unit_request(&mut v, &req.request_id, &req.unit_id);
        v.check(
            KEY_KINDS.contains(&req.kind.as_str()),
            "kind",
            "must name one of the five key kinds",
        );
        let borrower = v.text("borrower", &req.borrower, 200);
        let purpose = v.text("purpose", &req.purpose, 500);
        v.finish()?;
        let mut command =
            match Command::begin(&self.pool, principal, "LendKey", &request_id, &req).await? {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        let handover = locked(command.tx(), principal, unit_id).await?;
        if handover.keys_released_at.is_none() {
            return Err(Refusal::new(
                "KEYS_NOT_RELEASED",
                "the unit's keys have not been handed over yet",
            )
            .with("unit_id", unit_id)
            .zh("钥匙尚未交付")
            .into());
        }
        let lent = sqlx::query(
            "update keys set status = 'on_loan' where unit_id = $1 and kind = $2 and set = 'spare' and status = 'in_office'",
        )
        .bind(unit_id)
        .bind(&req.kind)
        .execute(&mut **command.tx())
        .await?
        .rows_affected();
        if lent == 0 {
            return Err(Refusal::new(
                "SPARE_KEY_OUT",
                format!("the spare {} key is already out", req.kind),
            )
            .with("unit_id", unit_id)
            .with("kind", &req.kind)
            .zh("该备用钥匙已借出")
            .into());
        }
        let loan: KeyLoan = sqlx::query_as(
            "insert into key_loans (loan_id, tenant_id, unit_id, kind, borrower, purpose, lent_by)
             values ($1, $2, $3, $4, $5, $6, $7)
             returning loan_id, unit_id, kind, borrower, purpose, out_at, back_at",
        )
        .bind(new_id())
        .bind(principal.tenant_id)
        .bind(unit_id)
        .bind(&req.kind)
        .bind(&borrower)
        .bind(&purpose)
        .bind(&principal.subject)
        .fetch_one(&mut **command.tx())
        .await?;
        let response = pb::LendKeyResponse {
            loan: Some(loan.into()),
        };
        command
            .commit(&response, Subject::new("handover", unit_id))
            .await?;
        Ok(response)
    }

    pub async fn return_key(
        &self,
        principal: &Principal,
        req: pb::ReturnKeyRequest,
    ) -> ServiceResult<pb::ReturnKeyResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let loan_id = v.uuid("loan_id", &req.loan_id);
        v.finish()?;
        let mut command =
            match Command::begin(&self.pool, principal, "ReturnKey", &request_id, &req).await? {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        let loan: KeyLoan = sqlx::query_as(
            "update key_loans set back_at = now(), returned_to = $3
             where tenant_id = $1 and loan_id = $2 and back_at is null
             returning loan_id, unit_id, kind, borrower, purpose, out_at, back_at",
        )
        .bind(principal.tenant_id)
        .bind(loan_id)
        .bind(&principal.subject)
        .fetch_optional(&mut **command.tx())
        .await?
        .ok_or_else(|| ServiceError::not_found("open key loan"))?;
        locked(command.tx(), principal, loan.unit_id).await?;
        sqlx::query("update keys set status = 'in_office' where unit_id = $1 and kind = $2 and set = 'spare'")
            .bind(loan.unit_id)
            .bind(&loan.kind)
            .execute(&mut **command.tx())
            .await?;
        let unit_id = loan.unit_id;
        let response = pb::ReturnKeyResponse {
            loan: Some(loan.into()),
        };
        command
            .commit(&response, Subject::new("handover", unit_id))
            .await?;
        Ok(response)
    }

    pub async fn get(
        &self,
        principal: &Principal,
        unit_id: Uuid,
    ) -> ServiceResult<pb::GetHandoverResponse> {
        let handover: Handover = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {HANDOVER} from handovers where tenant_id = $1 and unit_id = $2"
        )))
        .bind(principal.tenant_id)
        .bind(unit_id)
        .fetch_optional(&self.pool)
        .await?
        .filter(|h: &Handover| principal.can_see_project(h.project_id))
        .ok_or_else(|| ServiceError::not_found("handover"))?;
        let notices: Vec<(Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
            "select notice_id, kind, channel, sent_at from notices where unit_id = $1 order by sent_at, notice_id",
        )
        .bind(unit_id)
        .fetch_all(&self.pool)
        .await?;
        let lines: Vec<(Uuid, String, i64, String, NaiveDate, String)> = sqlx::query_as(
            "select f.notice_id, f.purpose, f.amount_minor, f.currency, f.due_on, f.charge_key
             from notice_fees f join notices n using (notice_id)
             where n.unit_id = $1 order by f.notice_id, f.line",
        )
        .bind(unit_id)
        .fetch_all(&self.pool)
        .await?;
        let notices = notices
            .into_iter()
            .map(|(notice_id, kind, channel, sent_at)| {
                let fees = lines
                    .iter()
                    .filter(|l| l.0 == notice_id)
                    .map(|l| NoticeFee {
                        purpose: l.1.clone(),
                        amount: l.2,
                        currency: l.3.clone(),
                        due_on: l.4,
                        charge_key: l.5.clone(),
                    })
                    .collect();
                notice_proto(notice_id, &kind, &channel, sent_at, fees)
            })
            .collect();
        Ok(pb::GetHandoverResponse {
            handover: Some(handover.into()),
            notices,
        })
    }

    pub async fn statistics(
        &self,
        principal: &Principal,
        batch_id: Uuid,
    ) -> ServiceResult<pb::GetBatchStatisticsResponse> {
        let project: Option<Uuid> = sqlx::query_scalar(
            "select project_id from batches where tenant_id = $1 and batch_id = $2",
        )
        .bind(principal.tenant_id)
        .bind(batch_id)
        .fetch_optional(&self.pool)
        .await?;
        if !project.is_some_and(|p| principal.can_see_project(p)) {
            return Err(ServiceError::not_found("batch"));
        }
        let (units, handed_over, reinspections, days): (i64, i64, i64, Option<i64>) = sqlx::query_as(
            "select count(*), count(keys_released_at), coalesce(sum(greatest(inspection_rounds - 1, 0)), 0)::bigint,
                    avg(extract(day from keys_released_at - notice_sent_at))::bigint
             from handovers where batch_id = $1",
        )
        .bind(batch_id)
        .fetch_one(&self.pool)
        .await?;
        let defects: i64 = sqlx::query_scalar(
            "select count(*) from defects d join handovers h on h.unit_id = d.unit_id where h.batch_id = $1",
        )
        .bind(batch_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(pb::GetBatchStatisticsResponse {
            units: units as i32,
            handed_over: handed_over as i32,
            defects: defects as i32,
            reinspections: reinspections as i32,
            average_days_notice_to_keys: days.unwrap_or(0) as i32,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fees_round_half_up_to_the_fen() {
        // 3.50 yuan per m² and month × 89.1234 m² × 3 months = 935.7957 yuan → 935.80.
        assert_eq!(super::fee(350, 891_234, 3, 1).unwrap(), 93_580);
        // 5 % of 3,000 yuan per m² × 89.1234 m² = 13,368.51 yuan.
        assert_eq!(
            super::fee(300_000, 891_234, 500, 10_000).unwrap(),
            1_336_851
        );
    }
}
