//! Every RPC of every service, read from the descriptor set, answers random requests with a
//! deliberate status — as the tenant's admin, the coordinator for its reserved RPCs, and a
//! contractor for a partner's RPCs: never INTERNAL, UNKNOWN or a dropped connection, and a
//! refused call (or a read) leaves its service's database exactly as it was.
//!
//! Seeded and bounded: `ANJU_SWEEP_CASES` requests per RPC (20 by default), `ANJU_SWEEP_SEED`
//! to reproduce or vary a run, `ANJU_SWEEP_ONLY` to sweep the RPCs whose name contains it.
//! A failure prints the RPC, the case and the request.

use std::hash::{DefaultHasher, Hash, Hasher};

use anju_e2e::{
    TestStack,
    sweep::{
        Caller, call, call_streaming, contractor_may,
        footprint::{Databases, changes},
        generate::{self, Seeds, Shape},
        rpcs,
        world::World,
    },
};
use anju_kit::Role;
use bytes::Bytes;
use prost::Message;
use prost_reflect::{DynamicMessage, Value};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tonic::Code;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Codes that mean the server failed rather than decided.
fn broken(code: Code) -> bool {
    matches!(
        code,
        Code::Internal
            | Code::Unknown
            | Code::Unavailable
            | Code::DataLoss
            | Code::Unimplemented
            | Code::Cancelled
            | Code::DeadlineExceeded
    )
}

/// The requests with long text and lists cut short, for a readable failure.
fn summary(requests: &[DynamicMessage]) -> String {
    fn one(message: &DynamicMessage) -> String {
        let fields: Vec<String> = message
            .fields()
            .map(|(field, value)| {
                let shown = match value {
                    Value::List(items) => format!("[{} entries]", items.len()),
                    Value::Message(nested) => format!("{{{}}}", one(nested)),
                    Value::String(s) if s.chars().count() > 24 => {
                        format!(
                            "{:?}…({} chars)",
                            s.chars().take(24).collect::<String>(),
                            s.chars().count()
                        )
                    }
                    other => format!("{other:?}"),
                };
                format!("{}: {shown}", field.name())
            })
            .collect();
        fields.join(", ")
    }
    requests.iter().map(one).collect::<Vec<_>>().join(" | ")
}

fn shorten(text: String) -> String {
    if text.len() <= 600 {
        return text;
    }
    let mut end = 600;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// Server-streaming RPCs, swept elsewhere, with the reason.
const STREAMED: &[(&str, &str)] = &[(
    "maintenance WatchWorkOrderFeed",
    "writes nothing; its one field, the cursor, is refused by field and another caller's feed \
     is shown empty in the maintenance tests",
)];

#[tokio::test]
async fn every_rpc_answers_random_requests_deliberately_and_refusals_write_nothing() {
    let cases = env_or("ANJU_SWEEP_CASES", 20);
    let seed = env_or("ANJU_SWEEP_SEED", 0x5eed);
    let stack = TestStack::start().await.unwrap();
    let world = World::basic(&stack).await;
    let seeds = Seeds {
        ids: world.ids.values().cloned().collect(),
    };
    let contractor = world.contractor;
    let dbs = Databases::connect(&stack).await;
    dbs.settle().await;
    // The comparison notices a write: a project created in between changes the fingerprint.
    let before = dbs.fingerprint("sales").await;
    stack
        .sales(&[Role::Admin])
        .create_project(anju_proto::sales::CreateProjectRequest {
            request_id: "detector".into(),
            code: "DETECTOR".into(),
            name: "Detector".into(),
            city: "Shenzhen".into(),
        })
        .await
        .unwrap();
    assert!(!changes(&before, &dbs.fingerprint("sales").await).is_empty());
    dbs.settle().await;

    let mut failures = Vec::new();
    let mut swept = 0;
    let only = std::env::var("ANJU_SWEEP_ONLY").unwrap_or_default();
    for rpc in rpcs().into_iter().filter(|r| r.to_string().contains(&only)) {
        if rpc.server_streaming {
            assert!(
                STREAMED.iter().any(|(name, _)| *name == rpc.to_string()),
                "{rpc} streams its answer: teach the sweep to read a stream"
            );
            continue;
        }
        let staff = Caller::of(&rpc).token(stack.tenant, contractor);
        // A partner's RPCs are swept half as the partner, whose scope takes another path.
        let partner =
            contractor_may(&rpc).then(|| Caller::Contractor.token(stack.tenant, contractor));
        let mut hasher = DefaultHasher::new();
        rpc.path().hash(&mut hasher);
        let mut rng = StdRng::seed_from_u64(seed ^ hasher.finish());
        for case in 0..cases {
            let shape = if case == 0 {
                Shape::Huge
            } else {
                Shape::Ordinary
            };
            let messages = if rpc.client_streaming {
                rng.random_range(0..4)
            } else {
                1
            };
            let requests: Vec<_> = (0..messages)
                .map(|_| generate::message(&rpc.input, &mut rng, &seeds, shape))
                .collect();
            let bodies: Vec<Bytes> = requests
                .iter()
                .map(|r| Bytes::from(r.encode_to_vec()))
                .collect();
            let token = match &partner {
                Some(partner) if case % 2 == 1 => partner,
                _ => &staff,
            };
            let before = dbs.fingerprint(rpc.short).await;
            let answer = if rpc.client_streaming {
                call_streaming(&stack, &rpc, token, bodies.clone()).await
            } else {
                call(&stack, &rpc, token, bodies[0].clone()).await
            };
            swept += 1;
            let describe = || {
                let sizes: Vec<usize> = bodies.iter().map(Bytes::len).collect();
                shorten(format!("{} ({sizes:?} bytes)", summary(&requests)))
            };
            let code = match &answer {
                Ok(_) => Code::Ok,
                Err(status) if broken(status.code()) => {
                    failures.push(format!(
                        "{rpc} case {case}: {:?} {:?} for {}",
                        status.code(),
                        status.message(),
                        describe()
                    ));
                    continue;
                }
                Err(status)
                    if status.code() == Code::FailedPrecondition
                        && anju_kit::error::refusal_reason(status).is_none() =>
                {
                    failures.push(format!(
                        "{rpc} case {case}: a refusal without a reason code: {:?} for {}",
                        status.message(),
                        describe()
                    ));
                    continue;
                }
                Err(status) => status.code(),
            };
            if code == Code::Ok && rpc.mutates() {
                // An accepted command writes, and sets off events and flows: let them finish
                // before the next comparison.
                dbs.settle().await;
                continue;
            }
            let changed = changes(&before, &dbs.fingerprint(rpc.short).await);
            if !changed.is_empty() {
                failures.push(format!(
                    "{rpc} case {case} answered {code:?} yet wrote {changed:?} for {}",
                    describe()
                ));
            }
        }
    }
    assert!(
        swept >= 60 || !only.is_empty(),
        "every rpc was swept: {swept}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    stack.stop().await.unwrap();
}
