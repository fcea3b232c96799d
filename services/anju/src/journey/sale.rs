//! From a project to a sold unit: registered, subscribed, deposits paid, contract signed,
//! price paid.

use anju_proto::{
    common::Area,
    finance,
    sales::{self as pb},
};
use anyhow::Context;

use super::{ID_NUMBER, Journey, Staff, cny, day};

impl Journey {
    /// Opens a project with one building, as the sales manager.
    pub async fn open(staff: Staff, code: &str, run: &str) -> anyhow::Result<Self> {
        let mut journey = Self::on(staff, "", "", run);
        let project = journey
            .call("the project", || {
                let mut manager = journey.staff.manager.clone();
                let request = pb::CreateProjectRequest {
                    request_id: journey.request_id("project"),
                    code: code.into(),
                    name: format!("Project {code}"),
                    city: "Shenzhen".into(),
                };
                async move { manager.create_project(request).await }
            })
            .await?
            .project
            .context("no project")?;
        journey.project_id = project.project_id;
        let building = journey
            .call("the building", || {
                let mut manager = journey.staff.manager.clone();
                let request = pb::CreateBuildingRequest {
                    request_id: journey.request_id("building"),
                    project_id: journey.project_id.clone(),
                    name: "Tower 1".into(),
                    floors: 30,
                };
                async move { manager.create_building(request).await }
            })
            .await?
            .building
            .context("no building")?;
        journey.building_id = building.building_id;
        Ok(journey)
    }

    /// Registers unit `number` in the journey's building at the journey's price.
    pub async fn register_unit(&self, number: &str) -> anyhow::Result<pb::Unit> {
        let request = pb::RegisterUnitRequest {
            request_id: self.request_id(&format!("unit-{number}")),
            building_id: self.building_id.clone(),
            unit_number: number.into(),
            floor: 18,
            layout: "3房2廳".into(),
            forecast_area: Some(Area {
                square_centimetres: 890_000,
            }),
            list_price: cny(self.price),
            orientation: "south".into(),
        };
        self.call("the unit", || {
            let mut manager = self.staff.manager.clone();
            let request = request.clone();
            async move { manager.register_unit(request).await }
        })
        .await?
        .unit
        .context("no unit")
    }

    /// `buyer` walks in asking about unit `number` and becomes the consultant's customer.
    pub async fn visit(&self, number: &str, buyer: &Buyer) -> anyhow::Result<pb::Customer> {
        let visit = pb::RecordVisitRequest {
            request_id: self.request_id(&format!("visit-{number}")),
            project_id: self.project_id.clone(),
            phone: buyer.phone.clone(),
            name: buyer.name.clone(),
            channel: pb::VisitChannel::WalkIn as i32,
            note: String::new(),
            referrer_phone: String::new(),
        };
        self.call("the visit", || {
            let mut consultant = self.staff.consultant.clone();
            let request = visit.clone();
            async move { consultant.record_visit(request).await }
        })
        .await?
        .customer
        .context("no customer")
    }

    /// `buyer` visits and subscribes `unit`, the top-up due on `top_up_due_on`; both deposits
    /// still unpaid.
    pub async fn subscribe(
        &self,
        unit: &pb::Unit,
        buyer: &Buyer,
        top_up_due_on: String,
    ) -> anyhow::Result<pb::Subscription> {
        let number = &unit.unit_number;
        let customer = self.visit(number, buyer).await?;
        let price = unit
            .list_price
            .as_ref()
            .map_or(self.price, |p| p.minor_units);
        let subscription = pb::SignSubscriptionRequest {
            request_id: self.request_id(&format!("subscription-{number}")),
            unit_id: unit.unit_id.clone(),
            customer_id: customer.customer_id,
            price: cny(price),
            small_deposit: cny(5_000_000),
            full_deposit: cny(20_000_000),
            top_up_due_on,
            id_number: buyer.id_number.clone(),
        };
        self.call("the subscription", || {
            let mut consultant = self.staff.consultant.clone();
            let request = subscription.clone();
            async move { consultant.sign_subscription(request).await }
        })
        .await?
        .subscription
        .context("no subscription")
    }

    /// Unit `number` registered and subscribed by a walk-in customer with `phone`, the top-up
    /// due on `top_up_due_on`; both deposits still unpaid.
    pub async fn subscribed(
        &self,
        number: &str,
        phone: &str,
        top_up_due_on: String,
    ) -> anyhow::Result<(pb::Unit, pb::Subscription)> {
        let unit = self.register_unit(number).await?;
        let subscription = self
            .subscribe(&unit, &Buyer::walk_in(number, phone), top_up_due_on)
            .await?;
        Ok((unit, subscription))
    }

    /// The unit's `n` (or more) charges in settlement groups starting with `group`, once
    /// finance has issued them.
    pub async fn charges(
        &self,
        unit_id: &str,
        group: &str,
        n: usize,
    ) -> anyhow::Result<Vec<finance::Charge>> {
        self.eventually(&format!("{n} charges in {group} of {unit_id}"), || {
            let mut cashier = self.staff.cashier.clone();
            let request = finance::ListChargesRequest {
                unit_id: unit_id.into(),
                ..Default::default()
            };
            let group = group.to_string();
            async move {
                let listed = match cashier.list_charges(request).await {
                    Ok(listed) => listed.into_inner().charges,
                    Err(status) if super::transient(&status) => return Ok(None),
                    Err(status) => return Err(status.into()),
                };
                let found: Vec<_> = listed
                    .into_iter()
                    .filter(|c| c.settlement_group.starts_with(&group))
                    .collect();
                Ok((found.len() >= n).then_some(found))
            }
        })
        .await
    }

    /// Pays each charge's outstanding amount by bank card, the references
    /// `<run><reference>-<n>`: a payment's external reference is unique in the tenant, so
    /// another run of a journey in the same tenant pays under references of its own.
    pub async fn pay(&self, charges: &[finance::Charge], reference: &str) -> anyhow::Result<()> {
        for (n, charge) in charges.iter().enumerate() {
            let request = finance::RecordPaymentRequest {
                request_id: self.request_id(&format!("pay-{reference}-{n}")),
                charge_id: charge.charge_id.clone(),
                amount: charge.outstanding.clone(),
                method: finance::PaymentMethod::BankCard as i32,
                external_reference: format!("{}{reference}-{n}", self.run),
                received_on: day(0),
                cashier_id: String::new(),
            };
            self.call("a payment", || {
                let mut cashier = self.staff.cashier.clone();
                let request = request.clone();
                async move { cashier.record_payment(request).await }
            })
            .await?;
        }
        Ok(())
    }

    /// `unit` sold to `buyer`: subscription, both deposits paid, a full-payment contract
    /// signed once the coordinator confirmed the subscription. The price is still owed.
    pub async fn sell(&self, unit: &pb::Unit, buyer: &Buyer) -> anyhow::Result<pb::Contract> {
        self.sell_on(unit, buyer, pb::PaymentMethod::FullPayment, "")
            .await
    }

    /// As [`Journey::sell`], on a commercial mortgage from `bank`: 30 % down, the rest lent.
    pub async fn sell_mortgaged(
        &self,
        unit: &pb::Unit,
        buyer: &Buyer,
        bank: &str,
    ) -> anyhow::Result<pb::Contract> {
        self.sell_on(unit, buyer, pb::PaymentMethod::CommercialMortgage, bank)
            .await
    }

    async fn sell_on(
        &self,
        unit: &pb::Unit,
        buyer: &Buyer,
        method: pb::PaymentMethod,
        bank: &str,
    ) -> anyhow::Result<pb::Contract> {
        let number = &unit.unit_number;
        let subscription = self.subscribe(unit, buyer, day(7)).await?;
        let deposits = self.charges(&unit.unit_id, "subscription:", 2).await?;
        self.pay(&deposits, &format!("DEP-{number}")).await?;
        let price = subscription
            .price
            .as_ref()
            .map_or(self.price, |p| p.minor_units);
        let contract = pb::SignContractRequest {
            request_id: self.request_id(&format!("contract-{number}")),
            subscription_id: subscription.subscription_id,
            id_number: buyer.id_number.clone(),
            contract_area: unit.forecast_area,
            payment_method: method as i32,
            down_payment: cny(match method {
                pb::PaymentMethod::FullPayment => price,
                _ => price / 100 * 30,
            }),
            down_payment_due_on: day(14),
            instalments: Vec::new(),
            homes_owned: 0,
            lending_bank: bank.into(),
        };
        self.once_ready("the contract, once the subscription is confirmed", || {
            let mut consultant = self.staff.consultant.clone();
            let request = contract.clone();
            async move { consultant.sign_contract(request).await }
        })
        .await?
        .contract
        .context("no contract")
    }

    /// Unit `number` sold to a walk-in customer with `phone` ([`Journey::sell`]) and its price
    /// paid (the contract's saga ends). Returns the unit's id.
    pub async fn sold_unit(&self, number: &str, phone: &str) -> anyhow::Result<String> {
        let unit = self.register_unit(number).await?;
        self.sell(&unit, &Buyer::walk_in(number, phone)).await?;
        let price = self.charges(&unit.unit_id, "contract:", 1).await?;
        self.pay(&price, &format!("PRICE-{number}")).await?;
        Ok(unit.unit_id)
    }
}

/// Who buys: their phone (which identifies a customer within a project), their name and the
/// number of the identity document they show.
#[derive(Clone, Debug)]
pub struct Buyer {
    pub phone: String,
    pub name: String,
    pub id_number: String,
}

impl Buyer {
    /// A walk-in buyer of unit `number`, with the journey's identity number.
    pub fn walk_in(number: &str, phone: &str) -> Self {
        Self {
            phone: phone.into(),
            name: format!("Owner of {number}"),
            id_number: ID_NUMBER.into(),
        }
    }
}
