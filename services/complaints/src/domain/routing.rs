//! Routing (DOMAIN.md §4.2, seed ④ 4.6.2: "passed on to the departments concerned within the
//! standard's time"): which department a complaint goes to, and who in it takes it.

use anju_kit::Role;

use super::vocabulary::{Category, Queue};

/// The department of a complaint of `category`. A quality complaint about a unit is a repair
/// (maintenance opens a repair request); about a common part, the property company's, which
/// maintains the common parts.
pub fn queue_for(category: Category, about_a_unit: bool) -> Queue {
    match category {
        Category::Quality if about_a_unit => Queue::Maintenance,
        Category::Quality | Category::PropertyManagement => Queue::PropertyManagement,
        Category::Fees => Queue::Finance,
        // The consultant's manager answers for a sale.
        Category::Sales => Queue::Sales,
        Category::Other => Queue::CustomerService,
    }
}

/// The roles that take a complaint in `queue`. Maintenance's complaints are taken by their
/// repair request being opened, which the coordinator reports.
pub fn takers(queue: Queue) -> &'static [Role] {
    match queue {
        Queue::Maintenance => &[Role::MaintenanceDispatcher],
        Queue::Finance => &[Role::Cashier],
        Queue::PropertyManagement => &[Role::PropertyManagement],
        Queue::Sales => &[Role::SalesManager],
        Queue::CustomerService => &[Role::CustomerService],
    }
}

/// Whether a caller with `roles` may work a complaint in `queue` (resolve it, pause its clocks
/// on the owner): its department, or the customer-service desk that owns every complaint.
pub fn handles(queue: Queue, roles: &[Role]) -> bool {
    roles.contains(&Role::Admin)
        || roles.contains(&Role::CustomerService)
        || takers(queue).iter().any(|r| roles.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_category_reaches_its_department() {
        assert_eq!(queue_for(Category::Quality, true), Queue::Maintenance);
        assert_eq!(
            queue_for(Category::Quality, false),
            Queue::PropertyManagement
        );
        assert_eq!(queue_for(Category::Fees, true), Queue::Finance);
        assert_eq!(
            queue_for(Category::PropertyManagement, true),
            Queue::PropertyManagement
        );
        assert_eq!(queue_for(Category::Sales, true), Queue::Sales);
        assert_eq!(queue_for(Category::Other, false), Queue::CustomerService);
    }

    #[test]
    fn a_department_works_only_its_own_queue_and_the_desk_every_one() {
        assert!(handles(Queue::Finance, &[Role::Cashier]));
        assert!(!handles(Queue::Sales, &[Role::Cashier]));
        assert!(handles(Queue::Sales, &[Role::CustomerService]));
        assert!(!handles(Queue::Finance, &[Role::MaintenanceDispatcher]));
    }
}
