//! The counter: check-in, joint inspections (the owner's refusal, the issues raised), the
//! coordinator's clearance and the keys with the books.
//! Each command locks the unit's row, asks the move-in state machine ([`crate::domain::unit`])
//! whether the step may be taken, and writes what it decided.

use anju_kit::{
    Principal, Refusal, ServiceResult, audit::Subject, ids::new_id, validate::Validator,
};
use anju_proto::{events, handover as pb};

use super::wire;
use super::{HandoverApi, unit_request};
use crate::{
    domain::batch::{DEFECT_SEVERITIES, ISSUE_KINDS, MAX_DEFECTS, MAX_ISSUES, MAX_PHOTO_REFS},
    store::{self, Defect, Inspection, Issue, Moment, books as books_store, keys as key_store},
};

impl HandoverApi {
    pub(super) async fn check_in(
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
        self.commands
            .run(
                principal,
                "CheckIn",
                &request_id,
                &remembered,
                async |cmd| {
                    let unit = store::locked(cmd.conn(), principal, unit_id).await?;
                    unit.move_in().check_in()?;
                    let expected = store::buyer_id_hash(cmd.conn(), unit_id).await?;
                    if expected.as_deref() != Some(id_hmac.as_str()) {
                        return Err(Refusal::new(
                            "IDENTITY_MISMATCH",
                            "the identity document does not match the contract buyer",
                        )
                        .with("unit_id", unit_id)
                        .zh("证件与买受人不符")
                        .into());
                    }
                    store::mark(cmd.conn(), unit_id, Moment::CheckedIn).await?;
                    let response = pb::CheckInResponse {
                        handover: Some(store::reread(cmd.conn(), unit_id).await?.into()),
                    };
                    Ok((response, Subject::new("handover", unit_id)))
                },
            )
            .await
    }

    pub(super) async fn record_inspection(
        &self,
        principal: &Principal,
        req: pb::RecordInspectionRequest,
    ) -> ServiceResult<pb::RecordInspectionResponse> {
        let mut v = Validator::new();
        let (request_id, unit_id) = unit_request(&mut v, &req.request_id, &req.unit_id);
        let refusal_reason = if req.passed {
            v.check(
                req.refusal_reason.is_empty(),
                "refusal_reason",
                "an owner who accepts gives no refusal",
            );
            None
        } else {
            Some(v.free_text("refusal_reason", &req.refusal_reason, 500))
        };
        v.count("issues", req.issues.len(), MAX_ISSUES);
        let mut issues = Vec::with_capacity(req.issues.len().min(MAX_ISSUES));
        for (i, issue) in req.issues.iter().take(MAX_ISSUES).enumerate() {
            let kind = usize::try_from(issue.kind)
                .ok()
                .and_then(|k| k.checked_sub(1))
                .and_then(|k| ISSUE_KINDS.get(k).copied());
            if kind.is_none() {
                v.violation(
                    &format!("issues[{i}].kind"),
                    "must be estate, fees, sales or other",
                );
            }
            v.free_text(
                &format!("issues[{i}].description"),
                &issue.description,
                2000,
            );
            issues.push(Issue {
                issue_id: new_id(),
                kind: kind.unwrap_or_default(),
                description: &issue.description,
            });
        }
        v.count("defects", req.defects.len(), MAX_DEFECTS);
        let mut found = Vec::with_capacity(req.defects.len().min(MAX_DEFECTS));
        for (i, d) in req.defects.iter().take(MAX_DEFECTS).enumerate() {
            let field = |name: &str| format!("defects[{i}].{name}");
            v.count(&field("photo_refs"), d.photo_refs.len(), MAX_PHOTO_REFS);
            for (j, r) in d.photo_refs.iter().take(MAX_PHOTO_REFS).enumerate() {
                v.text(&format!("defects[{i}].photo_refs[{j}]"), r, 512);
            }
            v.check(
                DEFECT_SEVERITIES.contains(&d.severity.as_str()),
                &field("severity"),
                "must be minor, major or critical",
            );
            v.text(&field("room"), &d.room, 64);
            v.text(&field("category"), &d.category, 64);
            v.free_text(&field("description"), &d.description, 2000);
            found.push(Defect {
                defect_id: new_id(),
                room: &d.room,
                category: &d.category,
                description: &d.description,
                severity: &d.severity,
                photo_refs: &d.photo_refs,
            });
        }
        v.finish()?;
        self.commands
            .run(
                principal,
                "RecordInspection",
                &request_id,
                &req,
                async |cmd| {
                    let unit = store::locked(cmd.conn(), principal, unit_id).await?;
                    let round = unit.move_in().inspect()?;
                    let inspection = Inspection {
                        round,
                        passed: req.passed,
                        refusal_reason: refusal_reason.as_deref(),
                        defects: &found,
                        issues: &issues,
                    };
                    store::record_inspection(cmd.conn(), principal, unit_id, &inspection).await?;
                    let event = events::InspectionRecorded {
                        unit_id: unit_id.to_string(),
                        batch_id: unit.batch_id.to_string(),
                        project_id: unit.project_id.to_string(),
                        round,
                        passed: req.passed,
                        defects: found
                            .iter()
                            .map(|d| events::DefectFound {
                                defect_id: d.defect_id.to_string(),
                                room: d.room.into(),
                                category: d.category.into(),
                                description: d.description.into(),
                                severity: d.severity.into(),
                            })
                            .collect(),
                        issues: issues
                            .iter()
                            .map(|i| events::IssueRaised {
                                issue_id: i.issue_id.to_string(),
                                kind: i.kind.into(),
                                description: i.description.into(),
                            })
                            .collect(),
                        owner_name: unit.buyer_name.clone(),
                        customer_id: unit.customer_id.to_string(),
                    };
                    cmd.emit(cmd.event("handover", unit_id), &event).await?;
                    let response = pb::RecordInspectionResponse {
                        handover: Some(store::reread(cmd.conn(), unit_id).await?.into()),
                        round,
                        defect_ids: found.iter().map(|d| d.defect_id.to_string()).collect(),
                    };
                    Ok((response, Subject::new("handover", unit_id)))
                },
            )
            .await
    }

    pub(super) async fn grant_key_clearance(
        &self,
        principal: &Principal,
        req: pb::GrantKeyClearanceRequest,
    ) -> ServiceResult<pb::GrantKeyClearanceResponse> {
        let mut v = Validator::new();
        let (request_id, unit_id) = unit_request(&mut v, &req.request_id, &req.unit_id);
        v.finish()?;
        self.commands
            .run(
                principal,
                "GrantKeyClearance",
                &request_id,
                &req,
                async |cmd| {
                    let unit = store::locked(cmd.conn(), principal, unit_id).await?;
                    unit.move_in().clear()?;
                    store::mark(cmd.conn(), unit_id, Moment::Cleared).await?;
                    let response = pb::GrantKeyClearanceResponse {
                        handover: Some(store::reread(cmd.conn(), unit_id).await?.into()),
                    };
                    Ok((response, Subject::new("handover", unit_id)))
                },
            )
            .await
    }

    pub(super) async fn release_keys(
        &self,
        principal: &Principal,
        req: pb::ReleaseKeysRequest,
    ) -> ServiceResult<pb::ReleaseKeysResponse> {
        let mut v = Validator::new();
        let (request_id, unit_id) = unit_request(&mut v, &req.request_id, &req.unit_id);
        let signed_by = v.text("signed_by", &req.signed_by, 200);
        v.finish()?;
        self.commands
            .run(principal, "ReleaseKeys", &request_id, &req, async |cmd| {
                let mut unit = store::locked(cmd.conn(), principal, unit_id).await?;
                if unit.keys_released_at.is_none() {
                    let tenant = cmd.tenant();
                    unit.fees_settled_at =
                        store::fees_settled_at(cmd.conn(), tenant, unit_id).await?;
                }
                unit.move_in().release()?;
                let tenant = cmd.tenant();
                let books = books_store::current(cmd.conn(), tenant, unit_id).await?;
                store::release_keys(
                    cmd.conn(),
                    unit_id,
                    &signed_by,
                    unit.fees_settled_at,
                    &books,
                )
                .await?;
                let event = events::KeysReleased {
                    unit_id: unit_id.to_string(),
                    batch_id: unit.batch_id.to_string(),
                };
                cmd.emit(cmd.event("handover", unit_id), &event).await?;
                let response = pb::ReleaseKeysResponse {
                    handover: Some(store::reread(cmd.conn(), unit_id).await?.into()),
                    keys: key_store::of_unit(cmd.conn(), unit_id)
                        .await?
                        .into_iter()
                        .map(wire::key_set)
                        .collect(),
                    books: books.into_iter().map(wire::book).collect(),
                };
                Ok((response, Subject::new("handover", unit_id)))
            })
            .await
    }
}
