//! From a batch's units to keys: the owner's fees, check-in and inspection, the
//! coordinator's clearance and the keys (the batch itself: [`super::batch`]).

use anju_proto::{handover as hv, saga};
use anyhow::Context;
use tonic::Status;

use super::{ID_NUMBER, Journey};

impl Journey {
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
