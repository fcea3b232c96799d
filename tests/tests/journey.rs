//! The shared journey fixture's own promise: a journey can be taken again in the same tenant
//! (as `make run` takes the demo's, run after run) — its requests and payment references are
//! its run's own.

use anju::journey::{Journey, Staff};
use anju_e2e::TestStack;

#[tokio::test]
async fn two_runs_of_a_journey_in_one_tenant_sell_the_same_unit_numbers() {
    let stack = TestStack::start().await.unwrap();
    let staff = || {
        Staff::new(|service, subject, roles| {
            Ok(stack.authed_with(
                service,
                &anju_testkit::token_for(stack.tenant, subject, roles),
            ))
        })
        .unwrap()
    };
    for run in ["first-", "second-"] {
        let journey = Journey::open(staff(), &format!("{}PRJ", run.to_uppercase()), run)
            .await
            .unwrap();
        // The same unit number, phone and payment references in every run.
        let unit = journey.sold_unit("1801", "13800001801").await;
        assert!(unit.is_ok(), "{run}: {unit:?}");
    }
    stack.stack.stop().await.unwrap();
}
