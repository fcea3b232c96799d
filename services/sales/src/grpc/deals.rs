//! Project policy, subscriptions and contracts.

use anju_kit::{
    Principal, Refusal, Role, ServiceError, ServiceResult,
    audit::Subject,
    idempotency::{Claim, Command},
    ids::new_id,
    time::ProjectZone,
    validate::Validator,
};
use anju_messaging::EventMeta;
use anju_proto::{common, events, sales as pb};
use anyhow::Context;
use chrono::Utc;
use uuid::Uuid;

use super::SalesApi;
use crate::{
    catalogue, customers,
    deals::{self, Contract, Line, Subscription, lapses_at, method_name},
    plan::DiscountShare,
    policy::{self, Buyer, ProjectPolicy},
};

fn money(minor_units: i64, currency: &str) -> Option<common::Money> {
    Some(common::Money {
        minor_units,
        currency: currency.to_string(),
    })
}

fn id_number(v: &mut Validator, value: &str) -> String {
    let id = v.text("id_number", value, 32).to_ascii_uppercase();
    v.check(
        id.len() >= 6 && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "id_number",
        "must be 6-32 letters and digits",
    );
    id
}

impl SalesApi {
    pub(super) async fn set_project_policy(
        &self,
        principal: &Principal,
        req: pb::SetProjectPolicyRequest,
    ) -> ServiceResult<pb::SetProjectPolicyResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let p = req.policy.clone().unwrap_or_default();
        let project_id = v.uuid("policy.project_id", &p.project_id);
        v.range("policy.hold_hours", p.hold_hours, 1, 720);
        v.range(
            "policy.discount_approval_bp",
            p.discount_approval_bp,
            0,
            10_000,
        );
        v.range("policy.lapse_refund_bp", p.lapse_refund_bp, 0, 10_000);
        v.range(
            "policy.lapse_after_minutes",
            p.lapse_after_minutes,
            0,
            10_080,
        );
        v.range("policy.max_homes_owned", p.max_homes_owned, -1, 100);
        v.range(
            "policy.cancellation_refund_bp",
            p.cancellation_refund_bp,
            0,
            10_000,
        );
        v.range(
            "policy.min_mortgage_down_payment_bp",
            p.min_mortgage_down_payment_bp,
            1,
            10_000,
        );
        let time_zone = v.optional_text("policy.time_zone", &p.time_zone, 64);
        let zone = time_zone.as_deref().map(ProjectZone::parse);
        if zone == Some(None) {
            v.violation(
                "policy.time_zone",
                "must be a tz database name such as Asia/Shanghai",
            );
        }
        v.finish()?;
        principal.require_project(project_id)?;
        let mut command =
            match Command::begin(&self.pool, principal, "SetProjectPolicy", &request_id, &req)
                .await?
            {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        let policy = ProjectPolicy {
            project_id,
            hold_hours: p.hold_hours,
            discount_approval_bp: p.discount_approval_bp,
            lapse_refund_bp: p.lapse_refund_bp,
            lapse_after_minutes: p.lapse_after_minutes,
            max_homes_owned: p.max_homes_owned,
            cancellation_refund_bp: p.cancellation_refund_bp,
            min_mortgage_down_payment_bp: p.min_mortgage_down_payment_bp,
            // Empty keeps the project's current zone.
            time_zone: zone
                .flatten()
                .map(|z| z.name().to_string())
                .unwrap_or_default(),
        };
        let stored = policy::set(command.tx(), principal.tenant_id, &policy).await?;
        let response = pb::SetProjectPolicyResponse {
            policy: Some(stored.into()),
        };
        command
            .commit(&response, Subject::new("project", project_id))
            .await?;
        Ok(response)
    }

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
            deals::deposit_within_cap(full, price),
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

        let mut command = match Command::begin(
            &self.pool,
            principal,
            "SignSubscription",
            &request_id,
            &remembered,
        )
        .await?
        {
            Claim::Replay(response) => return Ok(response),
            Claim::Fresh(command) => command,
        };
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
        sqlx::query(
            "update customers set id_number_hmac = $2, id_number_key = $3, id_number_sealed = $4
             where customer_id = $1 and id_number_hmac is null",
        )
        .bind(customer_id)
        .bind(&sealed.hmac)
        .bind(&sealed.key_id)
        .bind(&sealed.sealed)
        .execute(&mut **command.tx())
        .await?;
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
            lapses_at: lapses_at(due_on, policy.lapse_after_minutes, policy.zone()),
            lapse_refund_bp: policy.lapse_refund_bp,
            id_number_hmac: id_hmac,
            status: "pending".into(),
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
        let meta = EventMeta::new(
            principal.tenant_id,
            "subscription",
            subscription.subscription_id,
        )
        .caused_by_request(&request_id);
        self.outbox.append(command.tx(), meta, &event).await?;
        let response = pb::SignSubscriptionResponse {
            subscription: Some(proto),
        };
        command
            .commit(
                &response,
                Subject::new("subscription", subscription.subscription_id),
            )
            .await?;
        Ok(response)
    }

    /// Confirm or lapse: the coordinator's two ways out of `pending`. Repeating the one that
    /// already happened answers with the subscription as it is; the other is refused.
    pub(super) async fn settle_subscription(
        &self,
        principal: &Principal,
        request_id: &str,
        subscription_id: &str,
        confirm: bool,
    ) -> ServiceResult<Subscription> {
        let method = if confirm {
            "ConfirmSubscription"
        } else {
            "LapseSubscription"
        };
        let mut v = Validator::new();
        let request_id = v.request_id(request_id);
        let id = v.uuid("subscription_id", subscription_id);
        v.finish()?;
        let request = pb::ConfirmSubscriptionRequest {
            request_id: request_id.clone(),
            subscription_id: subscription_id.to_string(),
        };
        let mut command =
            match Command::begin(&self.pool, principal, method, &request_id, &request).await? {
                Claim::Replay(response) => {
                    let response: pb::ConfirmSubscriptionResponse = response;
                    let subscription = response.subscription.unwrap_or_default();
                    let mut conn = self.pool.acquire().await?;
                    return deals::subscription(
                        &mut conn,
                        principal.tenant_id,
                        Uuid::parse_str(&subscription.subscription_id).unwrap_or(id),
                    )
                    .await;
                }
                Claim::Fresh(command) => command,
            };
        let tenant = principal.tenant_id;
        let target = if confirm { "confirmed" } else { "lapsed" };
        let subscription =
            match deals::move_subscription(command.tx(), tenant, id, "pending", target).await? {
                Some(moved) => {
                    let (from, to) = if confirm {
                        ("held", "subscribed")
                    } else {
                        ("held", "available")
                    };
                    deals::move_unit(
                        command.tx(),
                        tenant,
                        moved.unit_id,
                        moved.customer_id,
                        from,
                        to,
                    )
                    .await?;
                    let meta =
                        EventMeta::new(tenant, "subscription", id).caused_by_request(&request_id);
                    if confirm {
                        let event = events::SubscriptionConfirmed {
                            subscription_id: id.to_string(),
                            unit_id: moved.unit_id.to_string(),
                        };
                        self.outbox.append(command.tx(), meta, &event).await?;
                    } else {
                        let event = events::SubscriptionLapsed {
                            subscription_id: id.to_string(),
                            unit_id: moved.unit_id.to_string(),
                            lapse_refund_bp: moved.lapse_refund_bp,
                        };
                        self.outbox.append(command.tx(), meta, &event).await?;
                    }
                    moved
                }
                None => {
                    let current = deals::subscription(command.tx(), tenant, id).await?;
                    if current.status != target {
                        return Err(Refusal::new(
                            "SUBSCRIPTION_STATUS",
                            format!(
                                "subscription is {}, it cannot become {target}",
                                current.status
                            ),
                        )
                        .with("subscription_id", id)
                        .with("status", &current.status)
                        .into());
                    }
                    current
                }
            };
        let response = pb::ConfirmSubscriptionResponse {
            subscription: Some(subscription.clone().into()),
        };
        command
            .commit(&response, Subject::new("subscription", id))
            .await?;
        Ok(subscription)
    }

    pub(super) async fn sign_contract(
        &self,
        principal: &Principal,
        req: pb::SignContractRequest,
    ) -> ServiceResult<pb::SignContractResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let subscription_id = v.uuid("subscription_id", &req.subscription_id);
        let id_number = id_number(&mut v, &req.id_number);
        let area = v.area(
            "contract_area",
            req.contract_area.as_ref(),
            100_000 * 10_000,
        );
        let method = method_name(req.payment_method);
        if method.is_none() {
            v.violation("payment_method", "must name a payment method");
        }
        let (down_payment, currency) = v.money("down_payment", req.down_payment.as_ref());
        let down_due = v.date("down_payment_due_on", &req.down_payment_due_on);
        // Ten years of monthly instalments: with each amount bounded by the validator, their
        // sum cannot overflow.
        const MAX_INSTALMENTS: usize = 120;
        v.count("instalments", req.instalments.len(), MAX_INSTALMENTS);
        let mut lines = Vec::new();
        for (i, line) in req.instalments.iter().take(MAX_INSTALMENTS).enumerate() {
            let due = v.date(&format!("instalments[{i}].due_on"), &line.due_on);
            let (amount, line_currency) =
                v.money(&format!("instalments[{i}].amount"), line.amount.as_ref());
            v.check(
                line_currency == currency,
                &format!("instalments[{i}].amount.currency"),
                "must be the down payment's currency",
            );
            lines.push(Line {
                due_on: due,
                amount_minor: amount,
            });
        }
        v.range("homes_owned", req.homes_owned, 0, 100);
        v.finish()?;
        let method = method.unwrap_or_default();
        let id_hmac = self.id_numbers.hmac(principal.tenant_id, &id_number);
        // Remembered without the number, as in `sign_subscription`.
        let remembered = pb::SignContractRequest {
            id_number: id_hmac.clone(),
            ..req.clone()
        };

        let mut command = match Command::begin(
            &self.pool,
            principal,
            "SignContract",
            &request_id,
            &remembered,
        )
        .await?
        {
            Claim::Replay(response) => return Ok(response),
            Claim::Fresh(command) => command,
        };
        let tenant = principal.tenant_id;
        let subscription = deals::subscription(command.tx(), tenant, subscription_id).await?;
        if !principal.can_see_project(subscription.project_id) {
            return Err(ServiceError::not_found("subscription"));
        }
        customers::served_by(command.tx(), principal, subscription.customer_id).await?;
        if subscription.status != "confirmed" {
            return Err(Refusal::new(
                "SUBSCRIPTION_NOT_CONFIRMED",
                format!(
                    "subscription is {}: a contract needs the full deposit paid",
                    subscription.status
                ),
            )
            .with("subscription_id", subscription_id)
            .with("status", &subscription.status)
            .zh("定金未付清，不能签约")
            .into());
        }
        // Identity is checked against the original document at the counter.
        if subscription.id_number_hmac != id_hmac {
            return Err(Refusal::new(
                "IDENTITY_MISMATCH",
                "identity document does not match the subscription's buyer",
            )
            .with("subscription_id", subscription_id)
            .zh("证件与认购人不符")
            .into());
        }
        let policy = policy::get(command.tx(), tenant, subscription.project_id).await?;
        policy
            .eligibility()
            .check(&Buyer {
                homes_owned: req.homes_owned,
            })
            .map_err(|why| {
                Refusal::new("PURCHASE_RESTRICTED", why).with("subscription_id", subscription_id)
            })?;
        if currency != subscription.currency {
            return Err(ServiceError::invalid(
                "down_payment.currency",
                format!("the price is in {}", subscription.currency),
            ));
        }
        let price = subscription.price_minor;
        if down_payment < subscription.full_deposit_minor || down_payment > price {
            return Err(ServiceError::invalid(
                "down_payment",
                "must cover the deposit already paid and not exceed the price",
            ));
        }
        let remainder = price - down_payment;
        let instalment_total: i64 = lines.iter().map(|l| l.amount_minor).sum();
        let loan = match method {
            "full_payment" if remainder != 0 => {
                return Err(ServiceError::invalid(
                    "down_payment",
                    "full payment pays the whole price",
                ));
            }
            "instalments" if instalment_total != remainder => {
                return Err(ServiceError::invalid(
                    "instalments",
                    format!(
                        "must sum to the price less the down payment ({remainder} minor units), not {instalment_total}"
                    ),
                ));
            }
            "full_payment" | "instalments" => 0,
            _ if !lines.is_empty() => {
                return Err(ServiceError::invalid(
                    "instalments",
                    "a mortgage has no developer instalments",
                ));
            }
            _ => remainder,
        };
        let contract = Contract {
            contract_id: new_id(),
            project_id: subscription.project_id,
            unit_id: subscription.unit_id,
            customer_id: subscription.customer_id,
            subscription_id,
            price_minor: price,
            currency: currency.clone(),
            contract_area_cm2: area,
            payment_method: method.to_string(),
            down_payment_minor: down_payment,
            down_payment_due_on: down_due,
            deposit_credit_minor: subscription.full_deposit_minor,
            loan_amount_minor: loan,
            instalments: sqlx::types::Json(lines.clone()),
            status: "signed".into(),
            signed_at: Utc::now(),
        };
        deals::insert_contract(command.tx(), tenant, &contract).await?;
        if !deals::move_unit(
            command.tx(),
            tenant,
            contract.unit_id,
            contract.customer_id,
            "subscribed",
            "contracted",
        )
        .await?
        {
            return Err(Refusal::new(
                "UNIT_NOT_SUBSCRIBED_BY_BUYER",
                "the unit is not subscribed by this buyer",
            )
            .with("unit_id", contract.unit_id)
            .into());
        }
        deals::move_subscription(
            command.tx(),
            tenant,
            subscription_id,
            "confirmed",
            "contracted",
        )
        .await?;
        let unit = catalogue::unit(command.tx(), tenant, contract.unit_id).await?;
        let buyer: (String,) = sqlx::query_as("select name from customers where customer_id = $1")
            .bind(contract.customer_id)
            .fetch_one(&mut **command.tx())
            .await?;

        let mut schedule = vec![events::Instalment {
            due_on: down_due.to_string(),
            amount: money(down_payment - subscription.full_deposit_minor, &currency),
            kind: "down_payment".into(),
        }];
        schedule.extend(lines.iter().map(|l| events::Instalment {
            due_on: l.due_on.to_string(),
            amount: money(l.amount_minor, &currency),
            kind: "instalment".into(),
        }));
        if loan > 0 {
            schedule.push(events::Instalment {
                due_on: down_due.to_string(),
                amount: money(loan, &currency),
                kind: "mortgage_loan".into(),
            });
        }
        let proto: pb::Contract = contract.clone().into();
        let event = events::ContractSigned {
            contract_id: proto.contract_id.clone(),
            project_id: proto.project_id.clone(),
            building_id: unit.building_id.to_string(),
            unit_id: proto.unit_id.clone(),
            customer_id: proto.customer_id.clone(),
            subscription_id: proto.subscription_id.clone(),
            buyer_name: buyer.0,
            price: proto.price.clone(),
            contract_area: proto.contract_area,
            deposit_credit: proto.deposit_credit.clone(),
            schedule,
            payment_method: method.to_string(),
            buyer_id_hash: id_hmac,
            time_zone: policy.zone().name().to_string(),
        };
        let meta =
            EventMeta::new(tenant, "contract", contract.contract_id).caused_by_request(&request_id);
        self.outbox.append(command.tx(), meta, &event).await?;
        let response = pb::SignContractResponse {
            contract: Some(proto),
        };
        command
            .commit(&response, Subject::new("contract", contract.contract_id))
            .await?;
        Ok(response)
    }

    pub(super) async fn cancel_contract(
        &self,
        principal: &Principal,
        req: pb::CancelContractRequest,
    ) -> ServiceResult<pb::CancelContractResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let contract_id = v.uuid("contract_id", &req.contract_id);
        let reason = v.free_text("reason", &req.reason, 1000);
        v.finish()?;
        let mut command =
            match Command::begin(&self.pool, principal, "CancelContract", &request_id, &req).await?
            {
                Claim::Replay(response) => return Ok(response),
                Claim::Fresh(command) => command,
            };
        let tenant = principal.tenant_id;
        let current = deals::contract(command.tx(), tenant, contract_id).await?;
        if !principal.can_see_project(current.project_id) {
            return Err(ServiceError::not_found("contract"));
        }
        let contract = deals::cancel_contract(command.tx(), tenant, contract_id, &reason)
            .await?
            .ok_or_else(|| {
                Refusal::new("CONTRACT_STATUS", format!("contract is {}", current.status))
                    .with("contract_id", contract_id)
                    .with("status", &current.status)
            })?;
        deals::move_unit(
            command.tx(),
            tenant,
            contract.unit_id,
            contract.customer_id,
            "contracted",
            "available",
        )
        .await?;
        let policy = policy::get(command.tx(), tenant, contract.project_id).await?;
        let event = events::ContractCancelled {
            contract_id: contract_id.to_string(),
            unit_id: contract.unit_id.to_string(),
            reason: reason.clone(),
            refund_bp: policy.cancellation_refund_bp,
            subscription_id: contract.subscription_id.to_string(),
        };
        let meta = EventMeta::new(tenant, "contract", contract_id).caused_by_request(&request_id);
        self.outbox.append(command.tx(), meta, &event).await?;
        let response = pb::CancelContractResponse {
            contract: Some(contract.into()),
        };
        let subject = Subject::new("contract", contract_id)
            .with_detail(serde_json::json!({ "reason": reason }));
        command.commit(&response, subject).await?;
        Ok(response)
    }
}
