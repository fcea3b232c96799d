//! The handover batch: handover learning the contracts, the tenant's move-in settings, the
//! batch, its plan submitted and approved, the two books and the keys from the contractor.

use anju_proto::{common::PageRequest, handover as hv};
use anyhow::Context;
use futures::{StreamExt, stream};
use tonic::Status;

use super::{Journey, cny, day};

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
}
