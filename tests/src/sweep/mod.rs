//! What the generic sweeps share: every RPC as the descriptor set describes it, a call by path
//! with raw bytes, a token that may call each RPC, and a fingerprint of a service's database
//! that changes when anything is written.
//!
//! The sweeps read the contracts, not a hand-kept list, so an RPC added to a proto is swept
//! the day it lands.

mod complaints;
pub mod footprint;
pub mod generate;
mod journey;
pub mod replay;
mod sale;
mod title;
pub mod world;

use anju_kit::{
    Role,
    auth::{Claims, CoordinatorIssuer, Policy, TokenIssuer},
    config::DEV_HS256_SECRET,
};
use anju_proto::service_names;
use bytes::{Buf, BufMut, Bytes};
use prost_reflect::{DescriptorPool, Kind, MessageDescriptor};
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
};
use uuid::Uuid;

use crate::TestStack;

/// One RPC of one anju service, as its contract declares it.
#[derive(Clone, Debug)]
pub struct Rpc {
    /// The service's short name (`sales`), by which its port is known.
    pub short: &'static str,
    pub service: &'static str,
    pub method: String,
    pub input: MessageDescriptor,
    pub output: MessageDescriptor,
    pub client_streaming: bool,
    pub server_streaming: bool,
}

impl Rpc {
    pub fn path(&self) -> String {
        format!("/{}/{}", self.service, self.method)
    }

    /// Mutating RPCs take a client-chosen `request_id` (ARCHITECTURE.md, Contracts).
    pub fn mutates(&self) -> bool {
        self.input.get_field_by_name("request_id").is_some()
    }
}

impl std::fmt::Display for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.short, self.method)
    }
}

pub fn descriptors() -> DescriptorPool {
    DescriptorPool::decode(anju_proto::FILE_DESCRIPTOR_SET).expect("anju descriptor set")
}

/// Every RPC of every anju service, in contract order.
pub fn rpcs() -> Vec<Rpc> {
    let pool = descriptors();
    let mut all = Vec::new();
    for (short, service) in service_names::ALL {
        let descriptor = pool
            .get_service_by_name(service)
            .unwrap_or_else(|| panic!("{service} is in the descriptor set"));
        for method in descriptor.methods() {
            all.push(Rpc {
                short,
                service,
                method: method.name().to_string(),
                input: method.input(),
                output: method.output(),
                client_streaming: method.is_client_streaming(),
                server_streaming: method.is_server_streaming(),
            });
        }
    }
    all
}

/// Every service's role table, by the short name its port is known by.
pub fn policies() -> Vec<(&'static str, Policy)> {
    vec![
        ("sales", anju_sales::policy()),
        ("finance", anju_finance::policy()),
        ("handover", anju_handover::policy()),
        ("maintenance", anju_maintenance::policy()),
        ("complaints", anju_complaints::policy()),
        ("title", anju_title::policy()),
        ("saga", anju_saga::policy()),
    ]
}

/// Who may call an RPC, by the policy of its service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The tenant's administrator: every RPC except the coordinator's.
    Admin,
    /// The saga coordinator's own credential.
    Coordinator,
    /// A partner contractor, for RPCs no staff role is needed for.
    Contractor,
}

impl Caller {
    pub fn of(rpc: &Rpc) -> Caller {
        let policy = policies()
            .into_iter()
            .find(|(short, _)| *short == rpc.short)
            .map(|(_, policy)| policy)
            .expect("every service has a policy");
        if policy.coordinator_methods().any(|m| m == rpc.method) {
            Caller::Coordinator
        } else if policy.permits(&rpc.method, &[Role::Admin]) {
            Caller::Admin
        } else {
            assert!(
                policy.permits(&rpc.method, &[Role::Contractor]),
                "{rpc} is callable by admin, the coordinator or a contractor"
            );
            Caller::Contractor
        }
    }

    /// A token of `tenant` for this caller; a contractor's names `contractor`.
    pub fn token(self, tenant: Uuid, contractor: Uuid) -> String {
        match self {
            Caller::Admin => anju_testkit::token(tenant, &[Role::Admin]),
            Caller::Coordinator => CoordinatorIssuer::development()
                .token(tenant)
                .expect("coordinator token"),
            Caller::Contractor => anju_testkit::contractor_token(tenant, contractor),
        }
    }
}

/// Whether a partner contractor may call `rpc` (its own work orders only).
pub fn contractor_may(rpc: &Rpc) -> bool {
    policies()
        .into_iter()
        .any(|(short, p)| short == rpc.short && p.permits(&rpc.method, &[Role::Contractor]))
}

/// A staff token of `tenant` with `roles`, scoped to `projects` only.
pub fn scoped_token(tenant: Uuid, roles: &[Role], projects: &[String]) -> String {
    TokenIssuer::hs256(DEV_HS256_SECRET)
        .issue(&Claims {
            projects: projects.to_vec(),
            ..Claims::new(tenant, "scoped-user", roles)
        })
        .expect("scoped token")
}

/// Calls `rpc` with an encoded request; the answer comes back encoded.
pub async fn call(stack: &TestStack, rpc: &Rpc, token: &str, body: Bytes) -> Result<Bytes, Status> {
    let mut grpc = tonic::client::Grpc::new(stack.authed_with(rpc.short, token));
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("{rpc}: not ready: {e}")))?;
    let path = PathAndQuery::try_from(rpc.path()).expect("rpc path");
    grpc.unary(tonic::Request::new(body), path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// Calls a client-streaming `rpc` with a stream of encoded requests.
pub async fn call_streaming(
    stack: &TestStack,
    rpc: &Rpc,
    token: &str,
    bodies: Vec<Bytes>,
) -> Result<Bytes, Status> {
    let mut grpc = tonic::client::Grpc::new(stack.authed_with(rpc.short, token));
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("{rpc}: not ready: {e}")))?;
    let path = PathAndQuery::try_from(rpc.path()).expect("rpc path");
    grpc.client_streaming(
        tonic::Request::new(tokio_stream::iter(bodies)),
        path,
        RawCodec,
    )
    .await
    .map(tonic::Response::into_inner)
}

/// Fields named `*_id` that name a person or the call, not an object of the tenant: a cashier
/// is known by the subject of their token, in every tenant alike.
const NOT_OBJECTS: &[&str] = &["request_id", "cashier_id"];

/// Every field of `message` named `*_id` that names an object, nested ones with their path
/// (`policy.project_id`); these are the object ids a caller could name.
pub fn object_id_fields(message: &MessageDescriptor) -> Vec<String> {
    fn walk(message: &MessageDescriptor, prefix: &str, depth: usize, out: &mut Vec<String>) {
        for field in message.fields() {
            let name = format!("{prefix}{}", field.name());
            match field.kind() {
                Kind::String
                    if field.name().ends_with("_id") && !NOT_OBJECTS.contains(&field.name()) =>
                {
                    out.push(name)
                }
                Kind::Message(nested)
                    if depth < 3 && !nested.full_name().starts_with("google.") =>
                {
                    walk(&nested, &format!("{name}."), depth + 1, out)
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(message, "", 0, &mut out);
    out
}

/// Passes encoded messages through untouched, so any RPC can be called by its path.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
