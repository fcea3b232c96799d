//! Inputs the mutating RPCs share: who a payment or refund is booked to, and an external
//! reference.

use anju_kit::{Principal, Role, ServiceError, validate::Validator};

/// Who a payment or refund is booked to.
pub(crate) enum Cashier {
    /// The caller, who records their own takings.
    Caller,
    /// A cashier named by the service role (an online payment booked to a cashier's till).
    Named(String),
    /// A cashier named by someone who may not record on another's behalf.
    Refused,
}

impl Cashier {
    /// Reads the request's `cashier_id`: the service role must name one; anyone else may name
    /// only themselves.
    pub(crate) fn read(v: &mut Validator, principal: &Principal, cashier_id: &str) -> Self {
        if principal.has(Role::Service) {
            return Self::Named(v.text("cashier_id", cashier_id, 128));
        }
        match v.optional_text("cashier_id", cashier_id, 128) {
            None => Self::Caller,
            Some(named) if named == principal.subject => Self::Caller,
            Some(_) => Self::Refused,
        }
    }

    pub(crate) fn resolve(self, principal: &Principal) -> Result<String, ServiceError> {
        match self {
            Self::Caller => Ok(principal.subject.clone()),
            Self::Named(cashier) => Ok(cashier),
            Self::Refused => Err(ServiceError::PermissionDenied(
                "only the service role records on behalf of another cashier".into(),
            )),
        }
    }
}

/// An external reference: 1–128 visible characters, no spaces.
pub(crate) fn external_reference(v: &mut Validator, value: &str) -> String {
    let reference = v.text("external_reference", value, 128);
    if !reference.is_empty()
        && reference
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        v.violation(
            "external_reference",
            "must not contain spaces or control characters",
        );
    }
    reference
}
