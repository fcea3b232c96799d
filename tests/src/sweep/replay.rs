//! Replaying a captured request as somebody else, and reading what came back for anything of
//! the world that leaked.

use std::collections::HashSet;

use bytes::Bytes;
use prost::Message;
use prost_reflect::{DynamicMessage, ReflectMessage, Value};

use super::Rpc;

/// The request with a request id of its own, so the replay is a call of its own and not a
/// retry answered from the store.
pub fn with_fresh_request_id(rpc: &Rpc, body: &Bytes) -> DynamicMessage {
    let mut request =
        DynamicMessage::decode(rpc.input.clone(), body.clone()).expect("a captured request");
    if let Some(field) = rpc.input.get_field_by_name("request_id") {
        request.set_field(
            &field,
            Value::String(format!("replay-{}", uuid::Uuid::now_v7())),
        );
    }
    request
}

pub fn encode(request: &DynamicMessage) -> Bytes {
    Bytes::from(request.encode_to_vec())
}

/// What an answer shows that the caller should not see: entries of any list, amounts of
/// money, and ids of the world's objects other than those the request itself named.
pub fn leaks(
    rpc: &Rpc,
    request: &DynamicMessage,
    answer: Bytes,
    world: &HashSet<String>,
) -> Vec<String> {
    let answer = DynamicMessage::decode(rpc.output.clone(), answer).expect("a decodable answer");
    let mut named = HashSet::new();
    strings(request, &mut named);
    let mut found = Vec::new();
    walk(&answer, "", world, &named, &mut found);
    found
}

fn strings(message: &DynamicMessage, out: &mut HashSet<String>) {
    for (_, value) in message.fields() {
        match value {
            Value::String(s) => {
                out.insert(s.clone());
            }
            Value::Message(m) => strings(m, out),
            _ => {}
        }
    }
}

fn walk(
    message: &DynamicMessage,
    prefix: &str,
    world: &HashSet<String>,
    named: &HashSet<String>,
    found: &mut Vec<String>,
) {
    let is_money = message.descriptor().full_name() == "anju.common.v1.Money";
    for (field, value) in message.fields() {
        let path = format!("{prefix}{}", field.name());
        match value {
            Value::List(items) if !items.is_empty() => {
                found.push(format!("{path}: {} entries", items.len()))
            }
            Value::Message(nested) => walk(nested, &format!("{path}."), world, named, found),
            Value::String(s) if world.contains(s) && !named.contains(s) => {
                found.push(format!("{path} = {s}"))
            }
            Value::I64(n) if is_money && *n != 0 => found.push(format!("{path} = {n}")),
            _ => {}
        }
    }
}
