//! Attribution (seed ① step 2, ⑩ 二.1): a customer belongs to the consultant who first
//! served them; only a sales manager (or an admin) acts for another consultant's customer.

use anju_kit::{Principal, Role};

/// Whether `principal` may act for a customer owned by `consultant`.
pub fn may_serve(principal: &Principal, consultant: &str) -> bool {
    principal.subject == consultant || serves_anyone(principal)
}

/// Whether `principal` may serve any consultant's customer (a manager or an admin).
pub fn serves_anyone(principal: &Principal) -> bool {
    principal.has(Role::SalesManager) || principal.has(Role::Admin)
}
