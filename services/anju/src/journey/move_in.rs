//! From sold units to keys: the handover batch, the owner's fees, check-in and inspection,
//! the coordinator's clearance and the keys.

use anju_proto::{common::PageRequest, handover as hv, saga};
use anyhow::Context;
use futures::{StreamExt, stream};
use tonic::Status;

use super::{ID_NUMBER, Journey, cny, day};

/// A unit's five kinds of key (seed ④ 4.5).
pub const KEY_KINDS: [&str; 5] = [
    "security_door",
    "interior_door",
    "intercom_door",
    "water_meter_box",
    "mailbox",
];

impl Journey {
    /// A handover batch over the project's contracted units (or one building's), opened once
    /// handover knows `units` of them ([`Journey::contracted`]); the batch must hold exactly
    /// `units`. Its window opens in 35 days; 3.50 yuan per m² and month of property fee for 3
    /// months, and 5 % of a 3,000 yuan per m² construction cost to the maintenance fund. Its
    /// plan is submitted and approved, its books recorded and its units' keys received
    /// ([`Journey::prepare_batch`]); the tenant's notices go out 35 days before a window at
    /// midnight, so they go out at once, on their date.
    pub async fn batch(
        &self,
        units: usize,
        building_id: Option<&str>,
    ) -> anyhow::Result<hv::Batch> {
        self.contracted(units, building_id).await?;
        self.open_batch(units, building_id).await
    }

    /// Waits until handover knows `units` contracted units in the project (or one building),
    /// reading every page of its unit list.
    pub async fn contracted(&self, units: usize, building_id: Option<&str>) -> anyhow::Result<()> {
        let building = building_id.unwrap_or_default();
        self.eventually("handover to learn the contracts", || async {
            let mut counter = self.staff.counter.clone();
            let mut contracted = 0;
            let mut page_token = String::new();
            loop {
                let listed = match counter
                    .list_units(hv::ListUnitsRequest {
                        project_id: self.project_id.clone(),
                        page: Some(PageRequest {
                            page_size: 500,
                            page_token: page_token.clone(),
                        }),
                    })
                    .await
                {
                    Ok(listed) => listed.into_inner(),
                    Err(status) if super::transient(&status) => return Ok(None),
                    Err(status) => return Err(status.into()),
                };
                contracted += listed
                    .units
                    .iter()
                    .filter(|u| u.contracted && (building.is_empty() || u.building_id == building))
                    .count();
                if listed.next_page_token.is_empty() {
                    break;
                }
                page_token = listed.next_page_token;
            }
            Ok((contracted >= units).then_some(()))
        })
        .await
    }

    /// Opens the batch of [`Journey::batch`] at once (handover must know its units already).
    pub async fn open_batch(
        &self,
        units: usize,
        building_id: Option<&str>,
    ) -> anyhow::Result<hv::Batch> {
        let batch = self.ready_batch(units, building_id).await?;
        self.approve_plan(&batch.batch_id).await
    }

    /// [`Journey::open_batch`] up to the plan's approval: the batch created (its fees
    /// charged), its plan submitted, the books and every unit's keys recorded.
    pub async fn ready_batch(
        &self,
        units: usize,
        building_id: Option<&str>,
    ) -> anyhow::Result<hv::Batch> {
        self.handover_settings(35, 0).await?;
        let batch = self.create_batch(building_id, 35, None).await??;
        anyhow::ensure!(
            batch.unit_ids.len() == units,
            "the batch holds {} units, not {units}",
            batch.unit_ids.len()
        );
        self.ready(&batch).await?;
        Ok(batch)
    }

    /// Asks for a batch (the answer as it is) with its window opening in `window_days` and
    /// lasting two weeks; with `override_reason`, the handover manager asks, overriding the
    /// planning lead.
    pub async fn create_batch(
        &self,
        building_id: Option<&str>,
        window_days: i64,
        override_reason: Option<&str>,
    ) -> anyhow::Result<Result<hv::Batch, Status>> {
        let request = hv::CreateBatchRequest {
            request_id: self.request_id(&format!(
                "batch-{}-{window_days}-{}",
                building_id.unwrap_or("all"),
                override_reason.is_some()
            )),
            project_id: self.project_id.clone(),
            building_id: building_id.unwrap_or_default().into(),
            name: "First handover".into(),
            window_start: day(window_days),
            window_end: day(window_days + 14),
            property_fee_per_square_metre_month: cny(350),
            prepaid_months: 3,
            construction_cost_per_square_metre: cny(300_000),
            maintenance_fund_bp: 500,
            lead_override_reason: override_reason.unwrap_or_default().into(),
        };
        let client = if override_reason.is_some() {
            &self.staff.handover_manager
        } else {
            &self.staff.counter
        };
        Ok(self
            .answer("the batch", || {
                let mut client = client.clone();
                let request = request.clone();
                async move { client.create_batch(request).await }
            })
            .await?
            .map(|r| r.batch.unwrap_or_default()))
    }

    /// The tenant's move-in settings: notices `notice_lead_days` before a window at
    /// `notice_minute` after midnight (project time); the plan a month ahead.
    pub async fn handover_settings(
        &self,
        notice_lead_days: i32,
        notice_minute: i32,
    ) -> anyhow::Result<hv::HandoverSettings> {
        let request = hv::SetHandoverSettingsRequest {
            request_id: self.request_id(&format!(
                "handover-settings-{notice_lead_days}-{notice_minute}"
            )),
            settings: Some(hv::HandoverSettings {
                plan_lead_months: 1,
                notice_lead_days,
                notice_minute,
            }),
        };
        self.call("the move-in settings", || {
            let mut manager = self.staff.handover_manager.clone();
            let request = request.clone();
            async move { manager.set_handover_settings(request).await }
        })
        .await?
        .settings
        .context("no settings")
    }

    /// Everything a batch needs before its notices and keys: its plan (a day per building at
    /// the window's start) submitted and approved, the project's two books on record, and
    /// each unit's keys received from the contractor. Returns the batch as approved.
    pub async fn prepare_batch(&self, batch: &hv::Batch) -> anyhow::Result<hv::Batch> {
        self.ready(batch).await?;
        self.approve_plan(&batch.batch_id).await
    }

    /// The plan submitted, the books and every unit's keys recorded.
    async fn ready(&self, batch: &hv::Batch) -> anyhow::Result<()> {
        self.submit_plan(batch).await?;
        self.books().await?;
        let arrived: Vec<anyhow::Result<Vec<hv::KeySet>>> = stream::iter(&batch.unit_ids)
            .map(|unit_id| self.keys_arrive(unit_id))
            .buffer_unordered(16)
            .collect()
            .await;
        for keys in arrived {
            keys?;
        }
        Ok(())
    }

    /// The batch's plan: a day per building at the window's start, two counters.
    pub async fn submit_plan(&self, batch: &hv::Batch) -> anyhow::Result<hv::Batch> {
        let plan = hv::BatchPlan {
            days: batch
                .building_ids
                .iter()
                .map(|building| hv::PlanDay {
                    date: batch.window_start.clone(),
                    building_id: building.clone(),
                    counters: 2,
                    staff: vec!["counter.sun".into(), "property.ma".into()],
                })
                .collect(),
            materials: vec!["move-in packs".into(), "key cabinets".into()],
            tasks: vec![hv::PlanTask {
                task: "keys and meters".into(),
                department: "property company".into(),
            }],
        };
        let submit = hv::SubmitBatchPlanRequest {
            request_id: self.request_id(&format!("plan-{}", batch.batch_id)),
            batch_id: batch.batch_id.clone(),
            plan: Some(plan),
        };
        self.call("the batch plan", || {
            let mut counter = self.staff.counter.clone();
            let request = submit.clone();
            async move { counter.submit_batch_plan(request).await }
        })
        .await?
        .batch
        .context("no batch")
    }

    /// The manager reads the batch and approves its plan: the notices are scheduled.
    pub async fn approve_plan(&self, batch_id: &str) -> anyhow::Result<hv::Batch> {
        let read = self
            .call("the batch", || {
                let mut manager = self.staff.handover_manager.clone();
                let request = hv::GetBatchRequest {
                    batch_id: batch_id.into(),
                };
                async move { manager.get_batch(request).await }
            })
            .await?
            .batch
            .context("no batch")?;
        let approve = hv::ApproveBatchPlanRequest {
            request_id: self.request_id(&format!("approve-{batch_id}")),
            batch_id: batch_id.into(),
            plan_submitted_at: read.plan_submitted_at,
        };
        self.call("the plan's approval", || {
            let mut manager = self.staff.handover_manager.clone();
            let request = approve.clone();
            async move { manager.approve_batch_plan(request).await }
        })
        .await?
        .batch
        .context("no batch")
    }

    /// The project's residence manual and quality warranty certificate, version "2026".
    pub async fn books(&self) -> anyhow::Result<()> {
        for kind in [
            hv::BookKind::ResidenceManual,
            hv::BookKind::WarrantyCertificate,
        ] {
            let request = hv::RecordBookRequest {
                request_id: self.request_id(&format!("book-{}", kind.as_str_name())),
                project_id: self.project_id.clone(),
                building_id: String::new(),
                layout: String::new(),
                kind: kind as i32,
                version: "2026".into(),
                document_ref: format!(
                    "docs/{}-2026.pdf",
                    kind.as_str_name()
                        .trim_start_matches("BOOK_KIND_")
                        .to_lowercase()
                ),
            };
            let recorded = self
                .answer("the book", || {
                    let mut counter = self.staff.counter.clone();
                    let request = request.clone();
                    async move { counter.record_book(request).await }
                })
                .await?;
            match recorded {
                Ok(_) => {}
                // Another journey of the project recorded it.
                Err(status)
                    if anju_kit::error::refusal_reason(&status).as_deref()
                        == Some("BOOK_VERSION_RECORDED") => {}
                Err(status) => return Err(status.into()),
            }
        }
        Ok(())
    }

    /// A unit's keys arrive from the contractor: the owner's set and the spare of each kind.
    pub async fn keys_arrive(&self, unit_id: &str) -> anyhow::Result<Vec<hv::KeySet>> {
        let unit = self
            .call("the unit", || {
                let mut counter = self.staff.counter.clone();
                let request = hv::GetUnitRequest {
                    unit_id: unit_id.into(),
                };
                async move { counter.get_unit(request).await }
            })
            .await?
            .unit
            .context("no unit")?;
        let request = hv::ReceiveKeysRequest {
            request_id: self.request_id(&format!("keys-arrive-{unit_id}")),
            project_id: unit.project_id.clone(),
            building_id: unit.building_id.clone(),
            keys: KEY_KINDS
                .iter()
                .flat_map(|kind| {
                    ["owner", "spare"].map(|set| hv::KeyReceipt {
                        unit_id: unit_id.into(),
                        kind: (*kind).into(),
                        set: set.into(),
                        tag: format!("{unit_id}/{kind}/{set}"),
                        ..Default::default()
                    })
                })
                .collect(),
        };
        Ok(self
            .call("the keys' arrival", || {
                let mut counter = self.staff.counter.clone();
                let request = request.clone();
                async move { counter.receive_keys(request).await }
            })
            .await?
            .keys)
    }

    /// The owner checks in at the counter, once the move-in notice is out.
    pub async fn check_in(&self, unit_id: &str) -> anyhow::Result<hv::Handover> {
        self.check_in_as(unit_id, ID_NUMBER).await
    }

    /// The owner checks in showing the identity document numbered `id_number`.
    pub async fn check_in_as(
        &self,
        unit_id: &str,
        id_number: &str,
    ) -> anyhow::Result<hv::Handover> {
        let request = hv::CheckInRequest {
            request_id: self.request_id(&format!("check-in-{unit_id}")),
            unit_id: unit_id.into(),
            id_number: id_number.into(),
        };
        self.once_ready("the check-in, once the notice is out", || {
            let mut counter = self.staff.counter.clone();
            let request = request.clone();
            async move { counter.check_in(request).await }
        })
        .await?
        .handover
        .context("no handover")
    }

    /// Inspection `round` of the unit: passed when `defects` is empty.
    pub async fn inspect(
        &self,
        unit_id: &str,
        round: u32,
        defects: Vec<hv::Defect>,
    ) -> anyhow::Result<Result<hv::RecordInspectionResponse, Status>> {
        let refusal_reason = if defects.is_empty() {
            String::new()
        } else {
            "defects to repair first".into()
        };
        let request = hv::RecordInspectionRequest {
            request_id: self.request_id(&format!("inspect-{unit_id}-{round}")),
            unit_id: unit_id.into(),
            passed: defects.is_empty(),
            defects,
            refusal_reason,
            issues: Vec::new(),
        };
        self.answer("the inspection", || {
            let mut counter = self.staff.counter.clone();
            let request = request.clone();
            async move { counter.record_inspection(request).await }
        })
        .await
    }

    /// The owner of a unit in a batch pays the handover fees, checks in and passes the
    /// inspection at the first round: all the key rule asks of the owner.
    pub async fn paid_and_passed(&self, unit_id: &str) -> anyhow::Result<()> {
        let fees = self.charges(unit_id, "handover:", 2).await?;
        self.check_in(unit_id).await?;
        self.pay(&fees, &format!("FEES-{unit_id}")).await?;
        self.inspect(unit_id, 1, Vec::new()).await??;
        Ok(())
    }

    pub async fn handover(&self, unit_id: &str) -> anyhow::Result<hv::GetHandoverResponse> {
        self.call("the handover", || {
            let mut counter = self.staff.counter.clone();
            let request = hv::GetHandoverRequest {
                unit_id: unit_id.into(),
            };
            async move { counter.get_handover(request).await }
        })
        .await
    }

    /// Waits until the unit's handover (with its notices) satisfies `done`.
    pub async fn wait_handover(
        &self,
        unit_id: &str,
        what: &str,
        done: impl Fn(&hv::GetHandoverResponse) -> bool,
    ) -> anyhow::Result<hv::GetHandoverResponse> {
        self.eventually(what, || async {
            let handover = self.handover(unit_id).await?;
            Ok(done(&handover).then_some(handover))
        })
        .await
    }

    /// Waits for the coordinator's clearance and for handover's own record of the settled
    /// fees: the two come from separate consumers of finance's event, in either order.
    pub async fn wait_cleared(&self, unit_id: &str) -> anyhow::Result<()> {
        self.wait_handover(unit_id, "the clearance and the settled fees", |r| {
            r.handover
                .as_ref()
                .is_some_and(|h| h.cleared && h.fees_settled)
        })
        .await?;
        Ok(())
    }

    /// Asks the counter to hand the keys over (request `request`): the answer as it is.
    pub async fn release(
        &self,
        unit_id: &str,
        request: &str,
    ) -> anyhow::Result<Result<hv::ReleaseKeysResponse, Status>> {
        let request = hv::ReleaseKeysRequest {
            request_id: self.request_id(request),
            unit_id: unit_id.into(),
            signed_by: "owner-signature-ref".into(),
        };
        self.answer("an answer to the key release", || {
            let mut counter = self.staff.counter.clone();
            let request = request.clone();
            async move { counter.release_keys(request).await }
        })
        .await
    }

    /// The unit's move-in saga once `done` holds for it, with its history and commands.
    pub async fn move_in_saga(
        &self,
        unit_id: &str,
        what: &str,
        done: impl Fn(&saga::Saga) -> bool,
    ) -> anyhow::Result<saga::GetSagaResponse> {
        self.saga("move_in", unit_id, what, done).await
    }

    /// The saga of `flow` with business key `key` once `done` holds for it, with its history
    /// and commands.
    pub async fn saga(
        &self,
        flow: &str,
        key: &str,
        what: &str,
        done: impl Fn(&saga::Saga) -> bool,
    ) -> anyhow::Result<saga::GetSagaResponse> {
        self.eventually(what, || async {
            let mut operator = self.staff.operator.clone();
            let listed = match operator
                .list_sagas(saga::ListSagasRequest {
                    flow: flow.into(),
                    key: key.into(),
                    ..Default::default()
                })
                .await
            {
                Ok(listed) => listed.into_inner().sagas,
                Err(status) if super::transient(&status) => return Ok(None),
                Err(status) => return Err(status.into()),
            };
            let Some(found) = listed.into_iter().find(|s| done(s)) else {
                return Ok(None);
            };
            match operator
                .get_saga(saga::GetSagaRequest {
                    saga_id: found.saga_id,
                })
                .await
            {
                Ok(detail) => Ok(Some(detail.into_inner())),
                Err(status) if super::transient(&status) => Ok(None),
                Err(status) => Err(status.into()),
            }
        })
        .await
    }

    /// The unit's move-in saga once it ended with nothing left to send.
    pub async fn ended_move_in(&self, unit_id: &str) -> anyhow::Result<saga::GetSagaResponse> {
        self.move_in_saga(unit_id, "the move-in saga to end", |s| {
            s.terminal && s.open_commands == 0
        })
        .await
    }

    /// Waits until every saga of the tenant has ended with nothing left to send, and returns
    /// them; the error names the ones that did not.
    pub async fn every_saga_ends(&self) -> anyhow::Result<Vec<saga::Saga>> {
        let deadline = tokio::time::Instant::now() + self.patience;
        loop {
            let mut operator = self.staff.operator.clone();
            let open = match operator.list_sagas(saga::ListSagasRequest::default()).await {
                Ok(listed) => {
                    let sagas = listed.into_inner().sagas;
                    let open: Vec<String> = sagas
                        .iter()
                        .filter(|s| !s.terminal || s.open_commands > 0)
                        .map(|s| {
                            format!(
                                "{} {} {} ({} open)",
                                s.flow, s.key, s.state, s.open_commands
                            )
                        })
                        .collect();
                    if open.is_empty() {
                        return Ok(sagas);
                    }
                    open
                }
                Err(status) if super::transient(&status) => vec![status.message().to_string()],
                Err(status) => return Err(status.into()),
            };
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "sagas that did not end: {open:?}"
            );
            tokio::time::sleep(self.poll).await;
        }
    }
}
