//! Who sees which personal data in sales' answers.

use anju_kit::{Principal, Role};

/// Whether `principal` needs a customer's full phone number: the consultant who serves them
/// and sales managers do; everyone else sees it masked (PIPL art. 6, the minimum necessary).
pub fn sees_full_phone(principal: &Principal, consultant: &str) -> bool {
    principal.subject == consultant || principal.has(Role::SalesManager)
}

#[cfg(test)]
mod tests {
    use anju_kit::auth::ProjectScope;
    use uuid::Uuid;

    use super::*;

    fn principal(subject: &str, role: Role) -> Principal {
        Principal {
            subject: subject.into(),
            tenant_id: Uuid::nil(),
            roles: vec![role],
            projects: ProjectScope::All,
            contractor_id: None,
        }
    }

    #[test]
    fn only_the_serving_consultant_and_managers_see_a_full_phone() {
        let owner = "consultant.li";
        assert!(sees_full_phone(
            &principal(owner, Role::SalesConsultant),
            owner
        ));
        assert!(sees_full_phone(
            &principal("manager.zhao", Role::SalesManager),
            owner
        ));
        for (subject, role) in [
            ("consultant.chen", Role::SalesConsultant),
            ("cashier.wu", Role::Cashier),
            ("operator.sun", Role::Operator),
            ("service.he", Role::CustomerService),
            ("admin.qian", Role::Admin),
        ] {
            assert!(
                !sees_full_phone(&principal(subject, role), owner),
                "{subject}"
            );
        }
    }
}
