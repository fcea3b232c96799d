//! Purchase contracts: signed on a confirmed subscription, cancelled with a reason.

use anju_kit::{
    Principal, Refusal, ServiceError, ServiceResult, audit::Subject, ids::new_id, time::timestamp,
    validate::Validator,
};
use anju_proto::{common, events, sales as pb};
use chrono::Utc;
use uuid::Uuid;

use super::{SalesApi, id_number, money};
use crate::{
    domain::deals::{self as rules, ContractStatus, Rescission, SubscriptionStatus},
    domain::eligibility::Buyer,
    store::{
        catalogue, customers,
        deals::{self, Contract, Line},
        policy,
    },
};

pub const METHODS: [(pb::PaymentMethod, &str); 5] = [
    (pb::PaymentMethod::FullPayment, "full_payment"),
    (pb::PaymentMethod::Instalments, "instalments"),
    (pb::PaymentMethod::CommercialMortgage, "commercial_mortgage"),
    (
        pb::PaymentMethod::ProvidentFundMortgage,
        "provident_fund_mortgage",
    ),
    (pb::PaymentMethod::CombinedMortgage, "combined_mortgage"),
];

pub fn method_name(method: i32) -> Option<&'static str> {
    let method = pb::PaymentMethod::try_from(method).ok()?;
    METHODS.iter().find(|(m, _)| *m == method).map(|(_, n)| *n)
}

impl From<Contract> for pb::Contract {
    fn from(c: Contract) -> Self {
        let method = METHODS
            .iter()
            .find(|(_, n)| *n == c.payment_method)
            .map_or(pb::PaymentMethod::Unspecified, |(m, _)| *m);
        let status = match c.status {
            ContractStatus::Signed => pb::ContractStatus::Signed,
            ContractStatus::Cancelled => pb::ContractStatus::Cancelled,
        };
        pb::Contract {
            contract_id: c.contract_id.to_string(),
            project_id: c.project_id.to_string(),
            unit_id: c.unit_id.to_string(),
            customer_id: c.customer_id.to_string(),
            subscription_id: c.subscription_id.to_string(),
            price: money(c.price_minor, &c.currency),
            contract_area: Some(common::Area {
                square_centimetres: c.contract_area_cm2,
            }),
            payment_method: method as i32,
            down_payment: money(c.down_payment_minor, &c.currency),
            deposit_credit: money(c.deposit_credit_minor, &c.currency),
            instalments: c
                .instalments
                .0
                .iter()
                .map(|l| pb::ScheduleLine {
                    due_on: l.due_on.to_string(),
                    amount: money(l.amount_minor, &c.currency),
                })
                .collect(),
            loan_amount: money(c.loan_amount_minor, &c.currency),
            status: status as i32,
            signed_at: Some(timestamp(c.signed_at)),
            lending_bank: c.lending_bank,
        }
    }
}

impl SalesApi {
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
        let lending_bank = v
            .optional_text("lending_bank", &req.lending_bank, 100)
            .unwrap_or_default();
        v.finish()?;
        let method = method.unwrap_or_default();
        let id_hmac = self.id_numbers.hmac(principal.tenant_id, &id_number);
        // Remembered without the number, as in `sign_subscription`.
        let remembered = pb::SignContractRequest {
            id_number: id_hmac.clone(),
            ..req.clone()
        };

        self.commands
            .run(
                principal,
                "SignContract",
                &request_id,
                &remembered,
                async |command| {
                    let tenant = principal.tenant_id;
                    let subscription =
                        deals::subscription(command.tx(), tenant, subscription_id).await?;
                    if !principal.can_see_project(subscription.project_id) {
                        return Err(ServiceError::not_found("subscription"));
                    }
                    customers::served_by(command.tx(), principal, subscription.customer_id).await?;
                    rules::may_sign(subscription_id, subscription.status)?;
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
                            Refusal::new("PURCHASE_RESTRICTED", why)
                                .with("subscription_id", subscription_id)
                        })?;
                    if currency != subscription.currency {
                        return Err(ServiceError::invalid(
                            "down_payment.currency",
                            format!("the price is in {}", subscription.currency),
                        ));
                    }
                    let price = subscription.price_minor;
                    let instalments: Vec<i64> = lines.iter().map(|l| l.amount_minor).collect();
                    let loan = rules::Terms {
                        method,
                        price_minor: price,
                        deposit_paid_minor: subscription.full_deposit_minor,
                        down_payment_minor: down_payment,
                        instalments_minor: &instalments,
                    }
                    .loan()?;
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
                        status: ContractStatus::Signed,
                        signed_at: Utc::now(),
                        lending_bank: lending_bank.clone(),
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
                        SubscriptionStatus::Confirmed,
                        SubscriptionStatus::Contracted,
                    )
                    .await?;
                    let unit = catalogue::unit(command.tx(), tenant, contract.unit_id).await?;
                    let buyer = customers::name(command.tx(), contract.customer_id).await?;

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
                        buyer_name: buyer,
                        price: proto.price.clone(),
                        contract_area: proto.contract_area,
                        deposit_credit: proto.deposit_credit.clone(),
                        schedule,
                        payment_method: method.to_string(),
                        buyer_id_hash: id_hmac,
                        time_zone: policy.zone().name().to_string(),
                        lending_bank: lending_bank.clone(),
                    };
                    command
                        .emit(command.event("contract", contract.contract_id), &event)
                        .await?;
                    let response = pb::SignContractResponse {
                        contract: Some(proto),
                    };
                    Ok((response, Subject::new("contract", contract.contract_id)))
                },
            )
            .await
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
        self.cancel(
            principal,
            "CancelContract",
            &request_id,
            &req,
            contract_id,
            reason,
            None,
        )
        .await
    }

    pub(super) async fn rescind_contract(
        &self,
        principal: &Principal,
        req: pb::RescindContractRequest,
    ) -> ServiceResult<pb::RescindContractResponse> {
        let mut v = Validator::new();
        let request_id = v.request_id(&req.request_id);
        let contract_id = v.uuid("contract_id", &req.contract_id);
        let reason = v.free_text("reason", &req.reason, 1000);
        let interest_bp = v.range("interest_bp", req.interest_bp, 0, 2_400);
        v.finish()?;
        let rescission = Rescission { interest_bp };
        self.cancel(
            principal,
            "RescindContract",
            &request_id,
            &req,
            contract_id,
            reason,
            Some(rescission),
        )
        .await
        .map(|r| pb::RescindContractResponse {
            contract: r.contract,
        })
    }

    /// Cancels a live contract: the unit back in stock, `ContractCancelled` with the project's
    /// refund share, or, for a buyer's rescission, everything paid with interest.
    #[allow(clippy::too_many_arguments)]
    async fn cancel<Req: prost::Message>(
        &self,
        principal: &Principal,
        method: &'static str,
        request_id: &str,
        req: &Req,
        contract_id: Uuid,
        reason: String,
        rescission: Option<Rescission>,
    ) -> ServiceResult<pb::CancelContractResponse> {
        self.commands
            .run(principal, method, request_id, req, async |command| {
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
                            .with("status", current.status)
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
                    refund_bp: rescission
                        .as_ref()
                        .map_or(policy.cancellation_refund_bp, Rescission::refund_bp),
                    subscription_id: contract.subscription_id.to_string(),
                    interest_bp: rescission.as_ref().map_or(0, |r| r.interest_bp),
                };
                command
                    .emit(command.event("contract", contract_id), &event)
                    .await?;
                let response = pb::CancelContractResponse {
                    contract: Some(contract.into()),
                };
                let subject = Subject::new("contract", contract_id)
                    .with_detail(serde_json::json!({ "reason": reason }));
                Ok((response, subject))
            })
            .await
    }
}
