//! Subscriptions: signed by a consultant on a held unit with the small deposit, then
//! confirmed or lapsed by the coordinator as the full deposit is paid or not.

use anju_kit::{
    Principal, Refusal, Role, ServiceError, ServiceResult, audit::Subject, ids::new_id,
    time::timestamp, validate::Validator,
};
use anju_proto::{events, sales as pb};
use anyhow::Context;

use super::{SalesApi, id_number, money};
use crate::{
    domain::{
        deals::{self as rules, Settlement, SubscriptionStatus},
        plan::DiscountShare,
    },
    store::{
        catalogue, customers,
        deals::{self, Subscription},
        policy,
    },
};

impl From<Subscription> for pb::Subscription {
    fn from(s: Subscription) -> Self {
        let status = match s.status {
            SubscriptionStatus::Pending => pb::SubscriptionStatus::Pending,
            SubscriptionStatus::Confirmed => pb::SubscriptionStatus::Confirmed,
            SubscriptionStatus::Lapsed => pb::SubscriptionStatus::Lapsed,
            SubscriptionStatus::Contracted => pb::SubscriptionStatus::Contracted,
        };
        pb::Subscription {
            subscription_id: s.subscription_id.to_string(),
            project_id: s.project_id.to_string(),
            unit_id: s.unit_id.to_string(),
            customer_id: s.customer_id.to_string(),
            price: money(s.price_minor, &s.currency),
            small_deposit: money(s.small_deposit_minor, &s.currency),
            full_deposit: money(s.full_deposit_minor, &s.currency),
            top_up_due_on: s.top_up_due_on.to_string(),
            lapses_at: Some(timestamp(s.lapses_at)),
            status: status as i32,
        }
    }
}

impl SalesApi {
    pub(super) async fn sign_subscription(
        &self,
        principal: &Principal,
        req: pb::SignSubscriptionRequest,
    ) -> ServiceResult<pb::SignSubscriptionResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let unit_id = v.uuid("unit_id", &req.unit_id);
        let customer_id = v.uuid("customer_id", &req.customer_id);
        let (price, currency) = v.money("price", req.price.as_ref());
        let (small, small_currency) = v.money("small_deposit", req.small_deposit.as_ref());
        let (full, full_currency) = v.money("full_deposit", req.full_deposit.as_ref());
        v.check(
            small_currency == currency || small == 0,
            "small_deposit.currency",
            "must be the price's currency",
        );
        v.check(
            full_currency == currency || full == 0,
            "full_deposit.currency",
            "must be the price's currency",
        );
        v.check(
            small <= full,
            "small_deposit",
            "must not exceed the full deposit",
        );
        v.check(
            rules::deposit_within_cap(full, price),
            "full_deposit",
            "exceeds 20 % of the price (Civil Code art. 586)",
        );
        let due_on = v.date("top_up_due_on", &req.top_up_due_on);
        let id_number = id_number(&mut v, &req.id_number);
        v.finish()?;
        let id_hmac = self.id_numbers.hmac(principal.tenant_id, &id_number);
        // The idempotency store keeps an unkeyed SHA-256 of the request, which enumeration
        // would reverse to the number: it is given the request with the keyed hash instead.
        let remembered = pb::SignSubscriptionRequest {
            id_number: id_hmac.clone(),
            ..req.clone()
        };

        self.commands.run(principal, "SignSubscription", &request_id, &remembered, async |command| {
        let customer = customers::served_by(command.tx(), principal, customer_id).await?;
        let unit = catalogue::unit(command.tx(), principal.tenant_id, unit_id).await?;
        if unit.project_id != customer.project_id || !principal.can_see_project(unit.project_id) {
            return Err(ServiceError::not_found("unit"));
        }
        if unit.currency != currency {
            return Err(ServiceError::invalid(
                "price.currency",
                format!("the unit is priced in {}", unit.currency),
            ));
        }
        let policy = policy::get(command.tx(), principal.tenant_id, unit.project_id).await?;
        // "Today" is the project's: a date that has begun anywhere else may not have there.
        if due_on < policy.zone().today() {
            return Err(ServiceError::invalid(
                "top_up_due_on",
                format!("must be today or later ({} time)", policy.zone().name()),
            ));
        }
        let discount = DiscountShare::of_price(unit.list_price_minor, price)
            .context("a unit's list price is positive")?;
        let manager = principal.has(Role::SalesManager) || principal.has(Role::Admin);
        if discount.needs_manager(policy.discount_approval_bp.into()) && !manager {
            let discount_bp = discount.bp_rounded_up();
            return Err(Refusal::new(
                "DISCOUNT_NEEDS_MANAGER",
                format!(
                    "a discount of {}.{:02} % exceeds the project's {}.{:02} %: a sales manager must sign it",
                    discount_bp / 100,
                    discount_bp % 100,
                    policy.discount_approval_bp / 100,
                    policy.discount_approval_bp % 100
                ),
            )
            .with("unit_id", unit_id)
            .with("discount_bp", discount_bp)
            .with("threshold_bp", policy.discount_approval_bp)
            .zh("折扣超出项目审批线，须由销售经理签署")
            .into());
        }
        if let Some(known) = &customer.id_number_hmac
            && *known != id_hmac
        {
            return Err(Refusal::new(
                "IDENTITY_MISMATCH",
                "id_number does not match the customer's identity document",
            )
            .with("customer_id", customer_id)
            .zh("证件号码与客户身份证件不符")
            .into());
        }
        if !deals::take_unit(command.tx(), principal.tenant_id, unit_id, customer_id).await? {
            return Err(Refusal::new(
                "UNIT_NOT_AVAILABLE",
                format!(
                    "unit {} is {}, not available",
                    unit.unit_number, unit.status
                ),
            )
            .with("unit_id", unit_id)
            .with("status", &unit.status)
            .into());
        }
        let sealed = self.id_numbers.seal(principal.tenant_id, &id_number)?;
        customers::record_id_number(command.tx(), customer_id, &sealed).await?;
        let subscription = Subscription {
            subscription_id: new_id(),
            project_id: unit.project_id,
            unit_id,
            customer_id,
            price_minor: price,
            small_deposit_minor: small,
            full_deposit_minor: full,
            currency: currency.clone(),
            top_up_due_on: due_on,
            lapses_at: rules::lapses_at(due_on, policy.lapse_after_minutes, policy.zone()),
            lapse_refund_bp: policy.lapse_refund_bp,
            id_number_hmac: id_hmac,
            status: SubscriptionStatus::Pending,
        };
        deals::insert_subscription(command.tx(), principal.tenant_id, &subscription, &sealed)
            .await?;
        let proto: pb::Subscription = subscription.clone().into();
        let event = events::SubscriptionSigned {
            subscription_id: proto.subscription_id.clone(),
            project_id: proto.project_id.clone(),
            unit_id: proto.unit_id.clone(),
            customer_id: proto.customer_id.clone(),
            price: proto.price.clone(),
            small_deposit: proto.small_deposit.clone(),
            full_deposit: proto.full_deposit.clone(),
            top_up_due_on: proto.top_up_due_on.clone(),
            lapses_at: proto.lapses_at,
            lapse_refund_bp: subscription.lapse_refund_bp,
        };
        command.emit(command.event("subscription", subscription.subscription_id), &event).await?;
        let response = pb::SignSubscriptionResponse {
            subscription: Some(proto),
        };
        Ok((response, Subject::new("subscription", subscription.subscription_id),))
}).await
    }

    /// Confirm or lapse: the coordinator's two ways out of `Pending`. Repeating the one that
    /// already happened answers with the subscription as it is; the other is refused.
    pub(super) async fn settle_subscription(
        &self,
        principal: &Principal,
        request_id: &str,
        subscription_id: &str,
        settlement: Settlement,
    ) -> ServiceResult<pb::Subscription> {
        let mut v = Validator::new();
        let request_id = v.request_id(request_id);
        let id = v.uuid("subscription_id", subscription_id);
        v.finish()?;
        // Confirm and lapse remember the same request and answer the same response.
        let request = pb::ConfirmSubscriptionRequest {
            request_id: request_id.clone(),
            subscription_id: subscription_id.to_string(),
        };
        let response: pb::ConfirmSubscriptionResponse = self
            .commands
            .run(
                principal,
                settlement.method(),
                &request_id,
                &request,
                async |cmd| {
                    let tenant = cmd.tenant();
                    let pending = SubscriptionStatus::Pending;
                    let moved = deals::move_subscription(
                        cmd.conn(),
                        tenant,
                        id,
                        pending,
                        settlement.target(),
                    )
                    .await?;
                    let subscription = match moved {
                        Some(moved) => {
                            let (from, to) = settlement.unit_move();
                            let (unit, customer) = (moved.unit_id, moved.customer_id);
                            deals::move_unit(cmd.conn(), tenant, unit, customer, from, to).await?;
                            let meta = cmd.event("subscription", id);
                            match settlement {
                                Settlement::Confirm => {
                                    let event = events::SubscriptionConfirmed {
                                        subscription_id: id.to_string(),
                                        unit_id: unit.to_string(),
                                    };
                                    cmd.emit(meta, &event).await?
                                }
                                Settlement::Lapse => {
                                    let event = events::SubscriptionLapsed {
                                        subscription_id: id.to_string(),
                                        unit_id: unit.to_string(),
                                        lapse_refund_bp: moved.lapse_refund_bp,
                                    };
                                    cmd.emit(meta, &event).await?
                                }
                            };
                            moved
                        }
                        None => {
                            let current = deals::subscription(cmd.conn(), tenant, id).await?;
                            settlement.repeat(id, current.status)?;
                            current
                        }
                    };
                    let response = pb::ConfirmSubscriptionResponse {
                        subscription: Some(subscription.into()),
                    };
                    Ok((response, Subject::new("subscription", id)))
                },
            )
            .await?;
        Ok(response.subscription.unwrap_or_default())
    }
}
