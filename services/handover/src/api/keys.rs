//! Every key (seed ④ 4.5): received from the contractor with its tag, listed, lent with a
//! registered reason, borrower and return time, returned; overdue loans listed.

use anju_kit::{
    Principal, Refusal, ServiceError, ServiceResult, audit::Subject, paging::Page,
    validate::Validator,
};
use anju_proto::handover as pb;
use chrono::{DateTime, Utc};

use super::{HandoverApi, wire};
use crate::{
    domain::{
        keys::{self, Holder, LOAN_REASONS, UNIT_KINDS},
        unit::keys_not_released,
    },
    store::{
        self,
        keys::{self as key_store, Conflict, NewLoan, Receipt},
    },
};

/// At most this many keys in one receipt.
const MAX_RECEIPT: usize = 500;

impl HandoverApi {
    pub(super) async fn receive_keys(
        &self,
        principal: &Principal,
        req: pb::ReceiveKeysRequest,
    ) -> ServiceResult<pb::ReceiveKeysResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let project_id = v.uuid("project_id", &req.project_id);
        let building_id = v.uuid("building_id", &req.building_id);
        v.check(!req.keys.is_empty(), "keys", "at least one key");
        v.count("keys", req.keys.len(), MAX_RECEIPT);
        let mut receipts = Vec::with_capacity(req.keys.len().min(MAX_RECEIPT));
        let mut tags = std::collections::HashSet::new();
        for (i, k) in req.keys.iter().take(MAX_RECEIPT).enumerate() {
            let field = |name: &str| format!("keys[{i}].{name}");
            let unit = v.optional_uuid(&field("unit_id"), &k.unit_id);
            let installation = v.optional_text(&field("installation"), &k.installation, 100);
            let holders = usize::from(unit.is_some())
                + usize::from(k.floor != 0)
                + usize::from(installation.is_some());
            v.check(
                holders == 1,
                &field("unit_id"),
                "exactly one of unit_id, floor and installation names whose key it is",
            );
            v.check(
                (-10..=300).contains(&k.floor),
                &field("floor"),
                "must be between -10 and 300",
            );
            let holder = match (unit, installation) {
                (Some(u), _) => Holder::Unit(u),
                (None, Some(i)) => Holder::Installation(i),
                (None, None) => Holder::Floor(k.floor),
            };
            v.check(
                keys::fits(&holder, &k.kind, &k.set),
                &field("kind"),
                "not a kind and set this holder has (a unit: its five kinds, owner or spare; a floor: public_door or window, working or spare; an installation: equipment_room, working or spare)",
            );
            let tag = v.text(&field("tag"), &k.tag, 64);
            v.check(tags.insert(tag.clone()), &field("tag"), "appears twice");
            receipts.push((holder, k.kind.clone(), k.set.clone(), tag));
        }
        v.finish()?;
        principal.require_project(project_id)?;
        if !store::units::known(
            &self.pool,
            principal.tenant_id,
            project_id,
            Some(building_id),
        )
        .await?
        {
            return Err(ServiceError::not_found("building"));
        }
        self.commands
            .run(principal, "ReceiveKeys", &request_id, &req, async |cmd| {
                let tenant = cmd.tenant();
                let mut units: Vec<uuid::Uuid> = receipts
                    .iter()
                    .filter_map(|(holder, ..)| match holder {
                        Holder::Unit(unit_id) => Some(*unit_id),
                        _ => None,
                    })
                    .collect();
                units.sort();
                units.dedup();
                if !key_store::units_in_building(cmd.conn(), tenant, project_id, building_id, &units)
                    .await?
                {
                    return Err(ServiceError::not_found("unit"));
                }
                let receipts: Vec<Receipt> = receipts
                    .iter()
                    .map(|(holder, kind, set, tag)| Receipt {
                        holder: holder.clone(),
                        kind,
                        set,
                        tag,
                    })
                    .collect();
                let received = match key_store::receive(
                    cmd.conn(),
                    principal,
                    project_id,
                    building_id,
                    &receipts,
                )
                .await?
                {
                    Ok(received) => received,
                    Err(Conflict::Tag(tag)) => {
                        return Err(Refusal::new(
                            "KEY_TAG_IN_USE",
                            "another key of the project has this tag",
                        )
                        .with("tag", tag)
                        .into());
                    }
                    Err(Conflict::Set(tag)) => {
                        return Err(Refusal::new(
                            "KEY_ALREADY_RECEIVED",
                            "this holder's key of that kind and set was already received (one emergency spare per kind)",
                        )
                        .with("tag", tag)
                        .into());
                    }
                };
                let response = pb::ReceiveKeysResponse {
                    keys: received.into_iter().map(wire::key_set).collect(),
                };
                Ok((response, Subject::new("building_keys", building_id)))
            })
            .await
    }

    pub(super) async fn list_keys(
        &self,
        principal: &Principal,
        req: pb::ListKeysRequest,
    ) -> ServiceResult<pb::ListKeysResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        let building_id = v.optional_uuid("building_id", &req.building_id);
        let unit_id = v.optional_uuid("unit_id", &req.unit_id);
        v.finish()?;
        principal.require_project(project_id)?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (keys, next_page_token) = key_store::list(
            &self.pool,
            principal.tenant_id,
            project_id,
            building_id,
            unit_id,
            page,
        )
        .await?;
        Ok(pb::ListKeysResponse {
            keys: keys.into_iter().map(wire::key_set).collect(),
            next_page_token,
        })
    }

    pub(super) async fn lend_key(
        &self,
        principal: &Principal,
        req: pb::LendKeyRequest,
    ) -> ServiceResult<pb::LendKeyResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let tag = v.optional_text("tag", &req.tag, 64);
        let tag = tag.map(|tag| (v.uuid("project_id", &req.project_id), tag));
        let unit_kind = if tag.is_some() {
            v.check(
                req.unit_id.is_empty() && req.kind.is_empty(),
                "tag",
                "name a key by its tag or by unit_id and kind, not both",
            );
            None
        } else {
            let unit_id = v.uuid("unit_id", &req.unit_id);
            v.check(
                UNIT_KINDS.contains(&req.kind.as_str()),
                "kind",
                "must name one of the five key kinds",
            );
            Some((unit_id, req.kind.clone()))
        };
        let borrower = v.text("borrower", &req.borrower, 200);
        let organisation = v
            .optional_text("borrower_organisation", &req.borrower_organisation, 200)
            .unwrap_or_default();
        let purpose = v.text("purpose", &req.purpose, 500);
        let reason = usize::try_from(req.reason)
            .ok()
            .and_then(|r| r.checked_sub(1))
            .and_then(|r| LOAN_REASONS.get(r).copied());
        if reason.is_none() {
            v.violation("reason", "a loan needs a registered reason");
        }
        let reason = reason.unwrap_or_default();
        let now = Utc::now();
        let due_back_at = req
            .due_back_at
            .as_ref()
            .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
            .unwrap_or(now);
        v.check(
            keys::due_back_valid(now, due_back_at),
            "due_back_at",
            "must be after now and within 90 days",
        );
        v.finish()?;
        self.commands
            .run(principal, "LendKey", &request_id, &req, async |cmd| {
                let unit_kind = unit_kind.as_ref().map(|(u, k)| (*u, k.as_str()));
                let key =
                    key_store::lendable(cmd.conn(), principal, tag_of(&tag), unit_kind).await?;
                keys::lendable(&key.tag, &key.set)?;
                if let Some(unit_id) = key.unit_id {
                    // A unit's spare is lent only once its keys were handed over.
                    match store::locked(cmd.conn(), principal, unit_id).await {
                        Ok(unit) => unit.move_in().lend_key()?,
                        Err(ServiceError::NotFound(_)) => {
                            return Err(keys_not_released(unit_id).into());
                        }
                        Err(other) => return Err(other),
                    }
                }
                if !key_store::take(cmd.conn(), key.key_set_id).await? {
                    return Err(Refusal::new(
                        "SPARE_KEY_OUT",
                        format!("the {} key {} is already out", key.kind, key.tag),
                    )
                    .with(
                        "unit_id",
                        key.unit_id.map(|u| u.to_string()).unwrap_or_default(),
                    )
                    .with("tag", &key.tag)
                    .with("kind", &key.kind)
                    .zh("该钥匙已借出")
                    .into());
                }
                let loan = NewLoan {
                    borrower: &borrower,
                    borrower_organisation: &organisation,
                    reason,
                    purpose: &purpose,
                    due_back_at,
                };
                let loan = key_store::lend(cmd.conn(), principal, &key, &loan).await?;
                let response = pb::LendKeyResponse {
                    loan: Some(loan.into()),
                };
                Ok((response, Subject::new("key", key.key_set_id)))
            })
            .await
    }

    pub(super) async fn return_key(
        &self,
        principal: &Principal,
        req: pb::ReturnKeyRequest,
    ) -> ServiceResult<pb::ReturnKeyResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let loan_id = v.uuid("loan_id", &req.loan_id);
        v.finish()?;
        self.commands
            .run(principal, "ReturnKey", &request_id, &req, async |cmd| {
                let loan = key_store::close_loan(cmd.conn(), principal, loan_id).await?;
                let key_set_id = loan.key_set_id;
                let response = pb::ReturnKeyResponse {
                    loan: Some(loan.into()),
                };
                Ok((response, Subject::new("key", key_set_id)))
            })
            .await
    }

    pub(super) async fn list_key_loans(
        &self,
        principal: &Principal,
        req: pb::ListKeyLoansRequest,
    ) -> ServiceResult<pb::ListKeyLoansResponse> {
        let mut v = Validator::new();
        let project_id = v.uuid("project_id", &req.project_id);
        v.finish()?;
        principal.require_project(project_id)?;
        let page = req.page.unwrap_or_default();
        let page = Page::parse(page.page_size, &page.page_token)?;
        let (loans, next_page_token) = key_store::open_loans(
            &self.pool,
            principal.tenant_id,
            project_id,
            req.overdue_only,
            page,
        )
        .await?;
        Ok(pb::ListKeyLoansResponse {
            loans: loans.into_iter().map(Into::into).collect(),
            next_page_token,
        })
    }
}

/// A key's (project, tag), borrowed.
fn tag_of(tag: &Option<(uuid::Uuid, String)>) -> Option<(uuid::Uuid, &str)> {
    tag.as_ref().map(|(project, tag)| (*project, tag.as_str()))
}
