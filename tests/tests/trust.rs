//! Trust boundaries as an attacker meets them: the RPCs reserved for the saga coordinator
//! answer only its own credential — not a tenant's admin, not a staff token that claims the
//! service role, not a token signed by another key; a request id answers only its caller;
//! the audit trail cannot be rewritten.

use anju_e2e::{TestStack, sweep::policies};
use anju_kit::{
    Role,
    auth::{Claims, CoordinatorIssuer, Policy, TokenIssuer},
    config::DEV_HS256_SECRET,
};
use anju_proto::maintenance::{self, maintenance_service_client::MaintenanceServiceClient};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tonic::{Code, Status, codegen::http::uri::PathAndQuery};

/// Calls `method` of `policy`'s service with `token` and an empty message: authorization is
/// decided before the request is read, so what comes back is the auth layer's answer, or the
/// handler's refusal of an empty request when the call got through.
async fn call(
    stack: &TestStack,
    short: &str,
    policy: &Policy,
    method: &str,
    token: &str,
) -> Status {
    let mut grpc = tonic::client::Grpc::new(stack.authed_with(short, token));
    grpc.ready().await.unwrap();
    let path = PathAndQuery::try_from(format!("/{}/{method}", policy.service())).unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    match grpc.unary(tonic::Request::new(()), path, codec).await {
        Ok(_) => Status::ok("answered"),
        Err(status) => status,
    }
}

#[tokio::test]
async fn only_the_coordinators_credential_calls_the_coordinators_rpcs() {
    let stack = TestStack::start().await.unwrap();
    let tenant = stack.tenant;
    let staff = TokenIssuer::hs256(DEV_HS256_SECRET);
    // A contractor's token names its contractor; the others may carry one harmlessly.
    let sign = |roles: &[Role]| {
        staff
            .issue(&Claims {
                contractor: Some(uuid::Uuid::now_v7().to_string()),
                ..Claims::new(tenant, "staff", roles)
            })
            .unwrap()
    };
    // The development key signs what the CLI signs; by hand it can be made to claim the role.
    let claims_service = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &Claims::new(tenant, "anju-saga", &[Role::Service]),
        &EncodingKey::from_secret(DEV_HS256_SECRET.as_bytes()),
    )
    .unwrap();
    let other_key = CoordinatorIssuer::from_pem(
        b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ6IXQxXguX8oR07Jn8Inq22Az1yoD6EkZ/PCkJ9vR9q\n-----END PRIVATE KEY-----\n",
    )
    .unwrap()
    .token(tenant)
    .unwrap();
    let coordinator = CoordinatorIssuer::development().token(tenant).unwrap();

    let mut reserved = 0;
    for (short, policy) in policies() {
        for method in policy.coordinator_methods() {
            reserved += 1;
            let mut callers: Vec<(String, String, Code)> = Role::ALL
                .into_iter()
                .filter(|role| *role != Role::Service)
                .map(|role| (role.to_string(), sign(&[role]), Code::PermissionDenied))
                .collect();
            callers.push((
                "admin with every staff role".into(),
                sign(
                    &Role::ALL
                        .into_iter()
                        .filter(|r| *r != Role::Service)
                        .collect::<Vec<_>>(),
                ),
                Code::PermissionDenied,
            ));
            callers.push((
                "a staff token claiming the service role".into(),
                claims_service.clone(),
                Code::PermissionDenied,
            ));
            callers.push((
                "a service token signed by another key".into(),
                other_key.clone(),
                Code::Unauthenticated,
            ));
            for (who, token, code) in callers {
                let status = call(&stack, short, &policy, method, &token).await;
                assert_eq!(
                    status.code(),
                    code,
                    "{who} calling {short} {method}: {status:?}"
                );
            }
            // The coordinator's own credential passes the gate; the empty request is then
            // refused by the handler for what it lacks, not by auth.
            let status = call(&stack, short, &policy, method, &coordinator).await;
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "the coordinator calling {short} {method}: {status:?}"
            );
        }
    }
    assert!(reserved >= 5, "the reserved RPCs are found: {reserved}");
    stack.stop().await.unwrap();
}

/// A request id is its caller's: another contractor sending the exact request a contractor
/// sent gets no stored answer (it is a call of its own, about an order it cannot see), and the
/// same person with a narrower scope is refused rather than answered from the store.
#[tokio::test]
async fn a_request_id_belongs_to_its_caller_and_scope() {
    let stack = TestStack::start().await.unwrap();
    let (ours, theirs) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let (project, unit) = stack
        .registered_unit("TRUST-1", &["maintenance"])
        .await
        .unwrap();
    let mut dispatcher =
        MaintenanceServiceClient::new(stack.authed("maintenance", &[Role::MaintenanceDispatcher]));
    let create = maintenance::CreateRepairRequestRequest {
        request_id: "repair-1".into(),
        project_id: project.clone(),
        unit_id: unit.clone(),
        source: maintenance::RepairSource::Owner as i32,
        category: "plumbing".into(),
        description: "the kitchen tap leaks".into(),
        contractor_id: ours.to_string(),
        reference: String::new(),
        ..Default::default()
    };
    let order = dispatcher
        .create_repair_request(create.clone())
        .await
        .unwrap()
        .into_inner()
        .repair_request
        .unwrap();
    let close = maintenance::CompleteWorkOrderRequest {
        request_id: "close-1".into(),
        repair_request_id: order.repair_request_id.clone(),
        resolution: "replaced the washer".into(),
        ..Default::default()
    };
    let partner = |contractor| {
        MaintenanceServiceClient::new(stack.authed_with(
            "maintenance",
            &anju_testkit::contractor_token(stack.tenant, contractor),
        ))
    };
    // On site first: a partner reports done only work it accepted and visited.
    partner(ours)
        .accept_work_order(maintenance::AcceptWorkOrderRequest {
            request_id: "accept-1".into(),
            repair_request_id: order.repair_request_id.clone(),
        })
        .await
        .unwrap();
    partner(ours)
        .check_in_work_order(maintenance::CheckInWorkOrderRequest {
            request_id: "check-in-1".into(),
            repair_request_id: order.repair_request_id.clone(),
        })
        .await
        .unwrap();
    let closed = partner(ours)
        .complete_work_order(close.clone())
        .await
        .unwrap()
        .into_inner();
    let status = partner(theirs)
        .complete_work_order(close.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let again = partner(ours)
        .complete_work_order(close)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, closed, "the caller's own retry replays its answer");

    // The dispatcher, now scoped to another project, repeats the create: not answered from
    // the store of a call made with a wider scope (the project is out of scope, or the id
    // was used for a call in another scope).
    let narrowed = TokenIssuer::hs256(DEV_HS256_SECRET)
        .issue(&Claims {
            projects: vec![uuid::Uuid::now_v7().to_string()],
            ..Claims::new(stack.tenant, "test-user", &[Role::MaintenanceDispatcher])
        })
        .unwrap();
    let status = MaintenanceServiceClient::new(stack.authed_with("maintenance", &narrowed))
        .create_repair_request(create)
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::NotFound | Code::InvalidArgument),
        "{status:?}"
    );
    stack.stop().await.unwrap();
}

/// The audit trail cannot be rewritten by the service's own database user.
#[tokio::test]
async fn the_audit_log_is_append_only() {
    let stack = TestStack::start().await.unwrap();
    let mut manager = stack.sales(&[Role::SalesManager]);
    anju_e2e::project_with_building(&mut manager, "AUDIT-1")
        .await
        .unwrap();
    let db = sqlx::PgPool::connect(&stack.settings.database_url("sales"))
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("select count(*) from audit_log")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(rows >= 2, "the project and the building were audited");
    for statement in [
        "update audit_log set actor = 'nobody'",
        "delete from audit_log",
        "truncate audit_log",
    ] {
        let err = sqlx::query(statement).execute(&db).await.unwrap_err();
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    let after: i64 = sqlx::query_scalar("select count(*) from audit_log where actor <> 'nobody'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(after, rows);
    stack.stop().await.unwrap();
}

/// One tenant over its call rate is told to come back later, with the delay; another tenant
/// is served all the while.
#[tokio::test]
async fn a_tenant_over_its_rate_is_refused_with_retry_information_and_others_are_served() {
    let mut settings = anju_testkit::settings();
    settings.grpc.tenant_rate_per_second = 1;
    settings.grpc.tenant_burst = 3;
    let stack = TestStack::start_with(settings).await.unwrap();
    let list = || anju_proto::sales::ListProjectsRequest::default();
    let mut busy = stack.sales(&[Role::SalesManager]);
    for _ in 0..3 {
        busy.list_projects(list()).await.unwrap();
    }
    let status = busy.list_projects(list()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let retry = tonic_types::StatusExt::get_details_retry_info(&status)
        .and_then(|info| info.retry_delay)
        .expect("a retry delay");
    assert!(retry > std::time::Duration::ZERO && retry <= std::time::Duration::from_secs(1));

    let other = anju_testkit::token(uuid::Uuid::now_v7(), &[Role::SalesManager]);
    anju_proto::sales::sales_service_client::SalesServiceClient::new(
        stack.authed_with("sales", &other),
    )
    .list_projects(list())
    .await
    .expect("another tenant is served");
    stack.stop().await.unwrap();
}

/// A request that would make an event larger than the bus carries is refused before anything
/// is written: an inspection of 10,000 defects.
#[tokio::test]
async fn an_inspection_with_ten_thousand_defects_is_refused() {
    use anju_proto::handover::{self, handover_service_client::HandoverServiceClient};
    let stack = TestStack::start().await.unwrap();
    let defect = handover::Defect {
        room: "kitchen".into(),
        category: "plumbing".into(),
        description: "the tap drips".into(),
        severity: "minor".into(),
        photo_refs: Vec::new(),
    };
    let status = HandoverServiceClient::new(stack.authed("handover", &[Role::CustomerService]))
        .record_inspection(handover::RecordInspectionRequest {
            request_id: "inspect-1".into(),
            unit_id: uuid::Uuid::now_v7().to_string(),
            passed: false,
            defects: vec![defect; 10_000],
            refusal_reason: "the tap".into(),
            issues: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields: Vec<String> = anju_kit::error::field_violations(&status)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["defects"]);
    stack.stop().await.unwrap();
}

/// Finance, maintenance and complaints take a unit id from their callers; each keeps the unit
/// directory learnt from sales, so a unit (or project) of another tenant is NOT_FOUND — to its
/// admin and its coordinator alike — and nothing is written. A unit not learnt yet is NOT_FOUND
/// to staff; the coordinator, whose commands come from the tenant's own events and may overtake
/// them, is not held up by it.
#[tokio::test]
async fn a_unit_is_named_only_in_its_own_tenant_and_project() {
    use anju_proto::{
        complaints::{self, complaints_service_client::ComplaintsServiceClient},
        finance::{self, finance_service_client::FinanceServiceClient},
    };

    let stack = TestStack::start().await.unwrap();
    let (project, unit) = stack
        .registered_unit("DIR-1", &["finance", "maintenance", "complaints"])
        .await
        .unwrap();
    let (other_project, other_unit) = stack
        .registered_unit("DIR-2", &["finance", "maintenance", "complaints"])
        .await
        .unwrap();
    let stranger = uuid::Uuid::now_v7();
    let tokens = |tenant: uuid::Uuid| {
        [
            ("admin", anju_testkit::token(tenant, &[Role::Admin])),
            (
                "coordinator",
                CoordinatorIssuer::development().token(tenant).unwrap(),
            ),
        ]
    };
    let charge = |project: &str, unit: &str, n: usize| finance::IssueChargeRequest {
        request_id: format!("charge-{n}"),
        project_id: project.into(),
        unit_id: unit.into(),
        payer_id: "owner-wang".into(),
        purpose: finance::ChargePurpose::PropertyFee as i32,
        amount: Some(anju_proto::common::Money {
            minor_units: 100_000,
            currency: "CNY".into(),
        }),
        business_key: format!("directory-{n}"),
        ..Default::default()
    };
    let repair = |project: &str, unit: &str, n: usize| maintenance::CreateRepairRequestRequest {
        request_id: format!("repair-{n}"),
        project_id: project.into(),
        unit_id: unit.into(),
        source: maintenance::RepairSource::Owner as i32,
        category: "plumbing".into(),
        description: "the kitchen tap leaks".into(),
        contractor_id: String::new(),
        reference: String::new(),
        ..Default::default()
    };
    let complaint = |project: &str, unit: &str, n: usize| complaints::RecordComplaintRequest {
        request_id: format!("complaint-{n}"),
        project_id: project.into(),
        unit_id: unit.into(),
        complainant: "Wang".into(),
        channel: complaints::ComplaintChannel::Phone as i32,
        category: complaints::ComplaintCategory::PropertyManagement as i32,
        complainant_kind: complaints::Complainant::Owner as i32,
        severity: complaints::Severity::Low as i32,
        text: "the lift hums all night".into(),
        common_part: if unit.is_empty() {
            "lift 2".into()
        } else {
            String::new()
        },
        ..Default::default()
    };
    let clients = |token: &str| {
        (
            FinanceServiceClient::new(stack.authed_with("finance", token)),
            MaintenanceServiceClient::new(stack.authed_with("maintenance", token)),
            ComplaintsServiceClient::new(stack.authed_with("complaints", token)),
        )
    };
    let rows = || async {
        let mut rows = Vec::new();
        for (service, table) in [
            ("finance", "charges"),
            ("maintenance", "repair_requests"),
            ("complaints", "complaints"),
        ] {
            let db = sqlx::PgPool::connect(&stack.settings.database_url(service))
                .await
                .unwrap();
            let n: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
                    .fetch_one(&db)
                    .await
                    .unwrap();
            db.close().await;
            rows.push(n);
        }
        rows
    };

    // Refused: another tenant's unit or project (to its admin and its coordinator), this
    // tenant's unit under another of its projects, and a unit nobody registered (to staff).
    // Complaints are recorded by staff only: the coordinator is not asked there.
    let unknown = uuid::Uuid::now_v7().to_string();
    let mut refusals = Vec::new();
    for (who, token) in tokens(stranger) {
        let case = format!("another tenant's {who}");
        refusals.push((
            case.clone(),
            who,
            token.clone(),
            project.clone(),
            unit.clone(),
        ));
        if who == "admin" {
            refusals.push((
                format!("{case}, project only"),
                who,
                token,
                project.clone(),
                String::new(),
            ));
        }
    }
    let [(_, admin), (_, coordinator)] = tokens(stack.tenant);
    let other = other_project.clone();
    refusals.push((
        "admin, unit of another project".into(),
        "admin",
        admin.clone(),
        other,
        unit.clone(),
    ));
    refusals.push((
        "admin, unit never registered".into(),
        "admin",
        admin.clone(),
        project.clone(),
        unknown.clone(),
    ));
    let before = rows().await;
    for (n, (case, who, token, project, unit)) in refusals.iter().enumerate() {
        let (mut finance, mut maintenance, mut complaints) = clients(token);
        let mut answers = Vec::new();
        if !unit.is_empty() {
            let charged = finance.issue_charge(charge(project, unit, n)).await;
            answers.push(("IssueCharge", charged.map(|_| ())));
            let repaired = maintenance
                .create_repair_request(repair(project, unit, n))
                .await;
            answers.push(("CreateRepairRequest", repaired.map(|_| ())));
        }
        if *who == "admin" {
            let recorded = complaints
                .record_complaint(complaint(project, unit, n))
                .await;
            answers.push(("RecordComplaint", recorded.map(|_| ())));
        }
        assert!(!answers.is_empty());
        for (rpc, answer) in answers {
            let status = answer.expect_err(&format!("{rpc} as {case} was accepted"));
            assert_eq!(status.code(), Code::NotFound, "{rpc} as {case}: {status:?}");
        }
    }
    assert_eq!(rows().await, before, "a refusal wrote nothing");

    // Accepted: the tenant's own unit in its project, from staff and the coordinator; a unit
    // not learnt yet, from the coordinator.
    let accepted = [
        (admin, project.clone(), unit.clone()),
        (
            coordinator.clone(),
            other_project.clone(),
            other_unit.clone(),
        ),
        (coordinator, project.clone(), unknown),
    ];
    for (n, (token, project, unit)) in accepted.iter().enumerate() {
        let n = 100 + n;
        let (mut finance, mut maintenance, mut complaints) = clients(token);
        finance
            .issue_charge(charge(project, unit, n))
            .await
            .unwrap();
        maintenance
            .create_repair_request(repair(project, unit, n))
            .await
            .unwrap();
        if n == 100 {
            complaints
                .record_complaint(complaint(project, unit, n))
                .await
                .unwrap();
        }
    }
    let after = rows().await;
    assert_eq!(
        after,
        [before[0] + 3, before[1] + 3, before[2] + 1],
        "each accepted call wrote its row"
    );
    stack.stop().await.unwrap();
}
