//! The durable saga engine.
//!
//! Each flow is a typed state machine ([`Flow`]): pure functions from (state, input) to a
//! [`Transition`] — the next state, the commands to send and the timers to set or cancel.
//! The engine applies a transition in ONE transaction with everything it implies: the saga
//! row, a history line, the commands (as rows the dispatcher sends later, with request ids
//! derived from the saga and step, so a re-sent command acts once) and the timers. Event
//! inputs arrive through the inbox of a durable consumer, in that same transaction, so a
//! redelivered event is never applied twice; an event that arrives before the one that
//! starts its saga is parked and applied right after the start.

pub mod commands;
pub mod dispatch;
pub mod store;
pub mod timers;
pub mod views;

use std::{fmt, sync::Arc};

use anju_messaging::{Event, Handler, HandlerError};
use chrono::{DateTime, Utc};
use serde::{Serialize, de::DeserializeOwned};
use sqlx::PgConnection;
use uuid::Uuid;

pub use commands::Command;

/// Which saga an event concerns.
#[derive(Clone, Debug)]
pub struct Route {
    /// The saga's key within its flow (a subscription id, a unit id…).
    pub key: String,
    /// Whether this event starts the saga.
    pub starts: bool,
    pub project_id: Option<Uuid>,
}

/// What one input does to a saga.
#[derive(Clone, Debug)]
pub struct Transition<S> {
    pub state: S,
    pub commands: Vec<Command>,
    pub set_timers: Vec<(String, DateTime<Utc>)>,
    pub cancel_timers: Vec<String>,
    /// A line for operators: why the saga moved.
    pub note: String,
    /// After this instant without progress the saga counts as stuck; `None` keeps the old one.
    pub deadline: Option<DateTime<Utc>>,
}

impl<S> Transition<S> {
    pub fn to(state: S, note: impl Into<String>) -> Self {
        Self {
            state,
            commands: Vec::new(),
            set_timers: Vec::new(),
            cancel_timers: Vec::new(),
            note: note.into(),
            deadline: None,
        }
    }

    pub fn send(mut self, command: Command) -> Self {
        self.commands.push(command);
        self
    }

    pub fn timer(mut self, name: &str, at: DateTime<Utc>) -> Self {
        self.set_timers.push((name.to_string(), at));
        self
    }

    pub fn cancel_timer(mut self, name: &str) -> Self {
        self.cancel_timers.push(name.to_string());
        self
    }

    pub fn deadline(mut self, at: DateTime<Utc>) -> Self {
        self.deadline = Some(at);
        self
    }
}

/// A cross-service flow as a typed state machine.
pub trait Flow: Send + Sync + 'static {
    const NAME: &'static str;
    type State: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync;
    /// The event types (`anju.events.v1.…`) this flow reacts to.
    const EVENTS: &'static [&'static str];

    fn route(&self, event: &Event) -> Option<Route>;
    /// The first transition, from the event that starts the flow.
    fn start(&self, event: &Event) -> anyhow::Result<Transition<Self::State>>;
    /// `None`: the event changes nothing in this state (late, duplicate in meaning, stale).
    fn on_event(
        &self,
        state: &Self::State,
        event: &Event,
    ) -> anyhow::Result<Option<Transition<Self::State>>>;
    fn on_timer(&self, state: &Self::State, timer: &str) -> Option<Transition<Self::State>>;
    /// An operator's cancellation, with its compensation.
    fn on_cancel(&self, state: &Self::State) -> Transition<Self::State>;
    fn state_name(state: &Self::State) -> &'static str;
    fn is_terminal(state: &Self::State) -> bool;
}

/// A transition with its state serialized, as the engine stores it.
pub struct Stored {
    pub state: serde_json::Value,
    pub state_name: &'static str,
    pub terminal: bool,
    pub commands: Vec<Command>,
    pub set_timers: Vec<(String, DateTime<Utc>)>,
    pub cancel_timers: Vec<String>,
    pub note: String,
    pub deadline: Option<DateTime<Utc>>,
}

/// Object-safe face of a [`Flow`], over JSON state.
pub trait DynFlow: Send + Sync {
    fn name(&self) -> &'static str;
    fn events(&self) -> &'static [&'static str];
    fn route(&self, event: &Event) -> Option<Route>;
    fn start(&self, event: &Event) -> anyhow::Result<Stored>;
    fn on_event(&self, state: &serde_json::Value, event: &Event) -> anyhow::Result<Option<Stored>>;
    fn on_timer(&self, state: &serde_json::Value, timer: &str) -> anyhow::Result<Option<Stored>>;
    fn on_cancel(&self, state: &serde_json::Value) -> anyhow::Result<Stored>;
}

fn stored<F: Flow>(t: Transition<F::State>) -> anyhow::Result<Stored> {
    Ok(Stored {
        state_name: F::state_name(&t.state),
        terminal: F::is_terminal(&t.state),
        state: serde_json::to_value(&t.state)?,
        commands: t.commands,
        set_timers: t.set_timers,
        cancel_timers: t.cancel_timers,
        note: t.note,
        deadline: t.deadline,
    })
}

impl<F: Flow> DynFlow for F {
    fn name(&self) -> &'static str {
        F::NAME
    }

    fn events(&self) -> &'static [&'static str] {
        F::EVENTS
    }

    fn route(&self, event: &Event) -> Option<Route> {
        Flow::route(self, event)
    }

    fn start(&self, event: &Event) -> anyhow::Result<Stored> {
        stored::<F>(Flow::start(self, event)?)
    }

    fn on_event(&self, state: &serde_json::Value, event: &Event) -> anyhow::Result<Option<Stored>> {
        let state: F::State = serde_json::from_value(state.clone())?;
        Flow::on_event(self, &state, event)?
            .map(stored::<F>)
            .transpose()
    }

    fn on_timer(&self, state: &serde_json::Value, timer: &str) -> anyhow::Result<Option<Stored>> {
        let state: F::State = serde_json::from_value(state.clone())?;
        Flow::on_timer(self, &state, timer)
            .map(stored::<F>)
            .transpose()
    }

    fn on_cancel(&self, state: &serde_json::Value) -> anyhow::Result<Stored> {
        let state: F::State = serde_json::from_value(state.clone())?;
        stored::<F>(Flow::on_cancel(self, &state))
    }
}

/// The registered flows; the consumer handler of every source stream.
#[derive(Clone)]
pub struct Engine {
    flows: Arc<Vec<Arc<dyn DynFlow>>>,
}

impl Engine {
    pub fn new(flows: Vec<Arc<dyn DynFlow>>) -> Self {
        Self {
            flows: Arc::new(flows),
        }
    }

    pub fn flow(&self, name: &str) -> Option<Arc<dyn DynFlow>> {
        self.flows.iter().find(|f| f.name() == name).cloned()
    }

    /// Applies one event to every saga it concerns, inside the caller's transaction.
    pub async fn apply_event(&self, conn: &mut PgConnection, event: &Event) -> anyhow::Result<()> {
        for flow in self.flows.iter() {
            let Some(route) = flow.route(event) else {
                continue;
            };
            let input = format!(
                "event {} ({})",
                short_type(event.event_type()),
                event.event_id
            );
            if route.starts {
                let transition = flow.start(event)?;
                if let Some((saga, parked)) = store::start(
                    conn,
                    event.tenant_id,
                    flow.name(),
                    &route,
                    &transition,
                    &input,
                )
                .await?
                {
                    // Events that arrived before this one, in their order of arrival.
                    let mut current = saga;
                    for parked in parked {
                        if current.terminal {
                            break;
                        }
                        if let Some(next) = flow.on_event(&current.state_data, &parked)? {
                            let input = format!(
                                "parked event {} ({})",
                                short_type(parked.event_type()),
                                parked.event_id
                            );
                            current = store::advance(conn, &current, &next, &input).await?;
                        }
                    }
                    continue;
                }
            }
            match store::lock(conn, event.tenant_id, flow.name(), &route.key).await? {
                None if route.starts => {
                    anyhow::bail!(
                        "saga {} {} neither created nor found",
                        flow.name(),
                        route.key
                    )
                }
                None => store::park(conn, flow.name(), &route.key, event).await?,
                Some(saga) if saga.terminal => {
                    tracing::debug!(saga_id = %saga.saga_id, event_type = event.event_type(), "event after the saga ended, ignored");
                }
                Some(saga) => {
                    if let Some(next) = flow.on_event(&saga.state_data, event)? {
                        store::advance(conn, &saga, &next, &input).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn short_type(event_type: &str) -> &str {
    event_type.rsplit('.').next().unwrap_or(event_type)
}

#[async_trait::async_trait]
impl Handler for Engine {
    fn wants(&self, event_type: &str) -> bool {
        self.flows.iter().any(|f| f.events().contains(&event_type))
    }

    /// The saga an event advances: the coordinator's consumers (one per source stream) lock
    /// sagas in this order.
    fn lock_key(&self, event: &Event) -> Option<String> {
        self.flows.iter().find_map(|flow| {
            let route = flow.route(event)?;
            Some(format!("{}/{}", flow.name(), route.key))
        })
    }

    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        self.apply_event(conn, event)
            .await
            .map_err(HandlerError::Transient)
    }
}
