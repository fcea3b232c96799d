//! The platform as a caller meets it, across all seven services running as `--target all`:
//! health, reflection, authentication, authorization, tenant/project/contractor scope,
//! validation, message limits, idempotency and an event crossing two services.

use std::time::Duration;

use anju_e2e::{TestStack, project_with_building, unit_request, wait_for};
use anju_kit::{
    Role, auth::Claims, auth::TokenIssuer, config::DEV_HS256_SECRET, error::field_violations,
};
use anju_proto::{
    handover::{self, handover_service_client::HandoverServiceClient},
    maintenance::{self, maintenance_service_client::MaintenanceServiceClient},
    sales::{self, sales_service_client::SalesServiceClient},
    service_names,
};
use futures::StreamExt;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use uuid::Uuid;

async fn sales_rows(stack: &TestStack, table: &str) -> i64 {
    let pool = sqlx::PgPool::connect(&stack.settings.database_url("sales"))
        .await
        .unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
        .fetch_one(&pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_service_reports_serving_and_is_listed_by_reflection() {
    let stack = TestStack::start().await.unwrap();
    for (short, full) in service_names::ALL {
        let mut health = HealthClient::new(stack.channel(short));
        for name in [full, ""] {
            let status = health
                .check(HealthCheckRequest {
                    service: name.into(),
                })
                .await
                .unwrap()
                .into_inner()
                .status();
            assert_eq!(status, ServingStatus::Serving, "{short} health of {name:?}");
        }
    }

    // Both reflection protocols answer on every port.
    for (short, _) in service_names::ALL {
        let v1 = {
            use tonic_reflection::pb::v1::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest,
                server_reflection_response::MessageResponse,
            };
            let mut client = ServerReflectionClient::new(stack.channel(short));
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut responses = client
                .server_reflection_info(tokio_stream::iter([request]))
                .await
                .unwrap()
                .into_inner();
            match responses
                .next()
                .await
                .unwrap()
                .unwrap()
                .message_response
                .unwrap()
            {
                MessageResponse::ListServicesResponse(list) => {
                    list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
                }
                other => panic!("unexpected reflection answer {other:?}"),
            }
        };
        let v1alpha = {
            use tonic_reflection::pb::v1alpha::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest,
                server_reflection_response::MessageResponse,
            };
            let mut client = ServerReflectionClient::new(stack.channel(short));
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut responses = client
                .server_reflection_info(tokio_stream::iter([request]))
                .await
                .unwrap()
                .into_inner();
            match responses
                .next()
                .await
                .unwrap()
                .unwrap()
                .message_response
                .unwrap()
            {
                MessageResponse::ListServicesResponse(list) => {
                    list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
                }
                other => panic!("unexpected reflection answer {other:?}"),
            }
        };
        // Each port lists what it serves: its own service, health and reflection — not the
        // six others, which would answer UNIMPLEMENTED there.
        let own = service_names::ALL
            .iter()
            .find(|(s, _)| *s == short)
            .map(|(_, full)| *full)
            .unwrap();
        let mut expected: Vec<&str> = [own]
            .into_iter()
            .chain(anju_kit::grpc::REFLECTED_PLATFORM_SERVICES)
            .collect();
        expected.sort();
        for listed in [&v1, &v1alpha] {
            let mut listed: Vec<&str> = listed.iter().map(String::as_str).collect();
            listed.sort();
            assert_eq!(listed, expected, "{short} reflection");
        }
        assert!(
            v1.iter().any(|s| s == "grpc.health.v1.Health"),
            "health in reflection"
        );
    }
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn credentials_and_roles_are_enforced() {
    let stack = TestStack::start().await.unwrap();
    let request = || sales::ListProjectsRequest { page: None };

    // No token at all.
    let mut anonymous = SalesServiceClient::new(stack.channel("sales"));
    let status = anonymous.list_projects(request()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // A token signed with another key, and an expired one.
    let forged = TokenIssuer::hs256("not-our-key")
        .staff(stack.tenant, "mallory", &[Role::Admin])
        .unwrap();
    let status = SalesServiceClient::new(stack.authed_with("sales", &forged))
        .list_projects(request())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let expired = TokenIssuer::hs256(DEV_HS256_SECRET)
        .issue(&Claims {
            sub: "old".into(),
            tenant: stack.tenant.to_string(),
            roles: vec![Role::Admin],
            projects: vec!["*".into()],
            contractor: None,
            exp: 1_700_000_000,
            nbf: None,
            iat: None,
            iss: None,
            aud: None,
        })
        .unwrap();
    let status = SalesServiceClient::new(stack.authed_with("sales", &expired))
        .list_projects(request())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // A consultant may read the catalogue but not shape it; a contractor may not read it.
    let mut consultant = stack.sales(&[Role::SalesConsultant]);
    consultant.list_projects(request()).await.unwrap();
    let status = consultant
        .create_project(sales::CreateProjectRequest {
            request_id: "r1".into(),
            code: "P1".into(),
            name: "P".into(),
            city: "Shenzhen".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let contractor = anju_testkit::contractor_token(stack.tenant, Uuid::now_v7());
    let status = SalesServiceClient::new(stack.authed_with("sales", &contractor))
        .list_projects(request())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        sales_rows(&stack, "projects").await,
        0,
        "refused calls write nothing"
    );
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn tenants_and_projects_see_only_their_own() {
    let stack = TestStack::start().await.unwrap();
    let mut manager = stack.sales(&[Role::SalesManager]);
    let (project_a, building_a) = project_with_building(&mut manager, "A-1").await.unwrap();
    let (project_b, _) = project_with_building(&mut manager, "B-1").await.unwrap();
    let unit = manager
        .register_unit(unit_request(&building_a, "0101"))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    stack
        .until_known("maintenance", &unit.unit_id)
        .await
        .unwrap();

    // Another tenant: every object is NOT_FOUND, listings are empty, writes into it fail.
    let stranger = anju_testkit::token(Uuid::now_v7(), &[Role::SalesManager]);
    let mut other = SalesServiceClient::new(stack.authed_with("sales", &stranger));
    let status = other
        .get_project(sales::GetProjectRequest {
            project_id: project_a.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = other
        .get_unit(sales::GetUnitRequest {
            unit_id: unit.unit_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let listed = other
        .list_projects(sales::ListProjectsRequest { page: None })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.projects.is_empty());
    let status = other
        .register_unit(unit_request(&building_a, "0102"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // A missing id and a foreign id answer alike: no existence leak.
    let missing = other
        .get_project(sales::GetProjectRequest {
            project_id: Uuid::now_v7().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        missing.message(),
        status.message().replace("building", "project")
    );

    // Staff scoped to project A do not see project B.
    let scoped = TokenIssuer::hs256(DEV_HS256_SECRET)
        .issue(&Claims {
            sub: "consultant-a".into(),
            tenant: stack.tenant.to_string(),
            roles: vec![Role::SalesConsultant],
            projects: vec![project_a.clone()],
            contractor: None,
            exp: anju_kit::auth::expiry(600),
            nbf: None,
            iat: None,
            iss: None,
            aud: None,
        })
        .unwrap();
    let mut consultant = SalesServiceClient::new(stack.authed_with("sales", &scoped));
    let listed = consultant
        .list_projects(sales::ListProjectsRequest { page: None })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed
            .projects
            .iter()
            .map(|p| p.project_id.clone())
            .collect::<Vec<_>>(),
        vec![project_a.clone()]
    );
    let status = consultant
        .get_project(sales::GetProjectRequest {
            project_id: project_b,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    // Contractors see only the work orders assigned to them.
    let mut dispatcher =
        MaintenanceServiceClient::new(stack.authed("maintenance", &[Role::MaintenanceDispatcher]));
    let (ours, theirs) = (Uuid::now_v7(), Uuid::now_v7());
    let mut orders = Vec::new();
    for (n, contractor) in [ours, theirs, ours].into_iter().enumerate() {
        let order = dispatcher
            .create_repair_request(maintenance::CreateRepairRequestRequest {
                request_id: format!("repair-{n}"),
                project_id: project_a.clone(),
                unit_id: unit.unit_id.clone(),
                source: maintenance::RepairSource::Owner as i32,
                category: "plumbing".into(),
                description: format!("leak {n}"),
                contractor_id: contractor.to_string(),
                reference: String::new(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .repair_request
            .unwrap();
        orders.push(order.repair_request_id);
    }
    let mut partner = MaintenanceServiceClient::new(stack.authed_with(
        "maintenance",
        &anju_testkit::contractor_token(stack.tenant, ours),
    ));
    let visible = partner
        .list_work_orders(maintenance::ListWorkOrdersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .work_orders;
    assert_eq!(visible.len(), 2);
    assert!(visible.iter().all(|o| o.contractor_id == ours.to_string()));
    let status = partner
        .get_repair_request(maintenance::GetRepairRequestRequest {
            repair_request_id: orders[1].clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = partner
        .create_repair_request(maintenance::CreateRepairRequestRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // A contractor reports its own order done, and cannot another's: that one does not exist
    // for it. A completed order is not completed again; the retried call answers as the first
    // did. Reporting it done closes nothing: the request waits for its sign-offs.
    let close = |id: &str, request_id: &str| maintenance::CompleteWorkOrderRequest {
        request_id: request_id.into(),
        repair_request_id: id.to_string(),
        resolution: "replaced the trap seal".into(),
        ..Default::default()
    };
    let status = partner
        .complete_work_order(close(&orders[1], "close-theirs"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // On site first: a partner reports done only work it accepted and visited.
    partner
        .accept_work_order(maintenance::AcceptWorkOrderRequest {
            request_id: "accept-ours".into(),
            repair_request_id: orders[0].clone(),
        })
        .await
        .unwrap();
    partner
        .check_in_work_order(maintenance::CheckInWorkOrderRequest {
            request_id: "check-in-ours".into(),
            repair_request_id: orders[0].clone(),
        })
        .await
        .unwrap();
    let closed = partner
        .complete_work_order(close(&orders[0], "close-ours"))
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    assert_eq!(closed.status, maintenance::RepairStatus::Completed as i32);
    assert_eq!(closed.resolution, "replaced the trap seal");
    assert!(closed.completed_at.is_some() && closed.closed_at.is_none());
    let replayed = partner
        .complete_work_order(close(&orders[0], "close-ours"))
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    assert_eq!(replayed, closed);
    let status = dispatcher
        .complete_work_order(close(&orders[0], "close-again"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        anju_kit::error::refusal_reason(&status).as_deref(),
        Some("REPAIR_ALREADY_COMPLETED")
    );
    assert!(status.message().contains("already reported done"));
    let theirs_order = dispatcher
        .get_repair_request(maintenance::GetRepairRequestRequest {
            repair_request_id: orders[1].clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    assert_eq!(theirs_order.status, maintenance::RepairStatus::Open as i32);
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    let stack = TestStack::start().await.unwrap();
    let mut manager = stack.sales(&[Role::SalesManager]);

    let status = manager
        .create_project(sales::CreateProjectRequest {
            request_id: "bad-1".into(),
            code: "bad code!".into(),
            name: "   ".into(),
            city: "Shenzhen".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&status)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["code", "name"]);
    assert!(status.message().contains("name"));

    let (_, building) = project_with_building(&mut manager, "OK-1").await.unwrap();
    let mut bad_unit = unit_request(&building, "0101");
    bad_unit.forecast_area.as_mut().unwrap().square_centimetres = -5;
    bad_unit.list_price.as_mut().unwrap().currency = "yuan".into();
    let status = manager.register_unit(bad_unit).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&status)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(
        fields,
        ["forecast_area.square_centimetres", "list_price.currency"]
    );
    let mut high = unit_request(&building, "9901");
    high.floor = 99;
    let status = manager.register_unit(high).await.unwrap_err();
    assert_eq!(field_violations(&status)[0].field, "floor");

    // An oversized message is refused before it reaches the handler.
    let status = manager
        .create_project(sales::CreateProjectRequest {
            request_id: "huge".into(),
            code: "HUGE".into(),
            name: "x".repeat(5 * 1024 * 1024),
            city: "Shenzhen".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::ResourceExhausted | Code::OutOfRange),
        "oversized message: {status:?}"
    );

    // Only the good project, its building and their events and audit rows were written.
    assert_eq!(sales_rows(&stack, "projects").await, 1);
    assert_eq!(sales_rows(&stack, "units").await, 0);
    assert_eq!(sales_rows(&stack, "outbox").await, 1);
    assert_eq!(sales_rows(&stack, "audit_log").await, 2);
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn a_retried_request_acts_once() {
    let stack = TestStack::start().await.unwrap();
    let manager = stack.sales(&[Role::SalesManager]);
    let request = sales::CreateProjectRequest {
        request_id: "create-bay".into(),
        code: "BAY".into(),
        name: "Bay".into(),
        city: "Shenzhen".into(),
    };
    // Ten concurrent retries of one request: one project, one event, one answer.
    let calls = (0..10).map(|_| {
        let mut client = manager.clone();
        let request = request.clone();
        async move { client.create_project(request).await }
    });
    let answers = futures::future::join_all(calls).await;
    let ids: Vec<String> = answers
        .into_iter()
        .map(|a| a.unwrap().into_inner().project.unwrap().project_id)
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(sales_rows(&stack, "projects").await, 1);
    assert_eq!(sales_rows(&stack, "outbox").await, 1);

    // The same request id with a different request is refused, naming request_id.
    let mut changed = request.clone();
    changed.name = "Another bay".into();
    let status = manager.clone().create_project(changed).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&status)[0].field, "request_id");

    // A different request id for the same code is a business conflict.
    let mut again = request.clone();
    again.request_id = "create-bay-again".into();
    let status = manager.clone().create_project(again).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    stack.stop().await.unwrap();
}

#[tokio::test]
async fn a_registered_unit_reaches_handover_exactly_once() {
    let stack = TestStack::start().await.unwrap();
    let mut manager = stack.sales(&[Role::SalesManager]);
    let (project, building) = project_with_building(&mut manager, "EV-1").await.unwrap();
    let unit = manager
        .register_unit(unit_request(&building, "1801"))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();

    let mut handover =
        HandoverServiceClient::new(stack.authed("handover", &[Role::CustomerService]));
    wait_for(
        Duration::from_secs(10),
        "handover to learn the unit",
        || {
            let mut handover = handover.clone();
            let unit_id = unit.unit_id.clone();
            async move {
                match handover
                    .get_unit(handover::GetUnitRequest { unit_id })
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(status) if status.code() == Code::NotFound => Ok(false),
                    Err(status) => Err(status.into()),
                }
            }
        },
    )
    .await
    .unwrap();
    let seen = handover
        .list_units(handover::ListUnitsRequest {
            project_id: project,
            page: None,
        })
        .await
        .unwrap()
        .into_inner()
        .units;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].unit_number, "1801");
    assert_eq!(seen[0].forecast_area.unwrap().square_centimetres, 890_000);

    let pool = sqlx::PgPool::connect(&stack.settings.database_url("handover"))
        .await
        .unwrap();
    let applied: i64 = sqlx::query_scalar(
        "select count(*) from inbox where event_type = 'anju.events.v1.UnitRegistered'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(applied, 1);
    stack.stop().await.unwrap();
}
