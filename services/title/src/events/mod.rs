//! What title learns from the other services and what it publishes on its own: the sales
//! contract ([`sales`]), the handover date ([`handover`]), payments of its charges
//! ([`finance`]), and the durable clocks ([`clocks`]). [`publish`] holds the steps that both the
//! API and the consumers take (an area difference assessed once survey and contract are known).

pub mod clocks;
pub mod finance;
pub mod handover;
pub mod publish;
pub mod sales;

use anju_messaging::HandlerError;
use anyhow::Context;
use uuid::Uuid;

fn uuid(field: &str, value: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(value)
        .with_context(|| format!("{field} is not a UUID"))
        .map_err(HandlerError::Permanent)
}
