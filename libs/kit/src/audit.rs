//! The audit trail: every state-changing call is recorded in the same transaction as its
//! effect, by [`crate::idempotency::Command::commit`]; a [`Subject`] says what it acted on.

/// What a call acted on.
#[derive(Clone, Debug)]
pub struct Subject {
    pub kind: &'static str,
    pub id: String,
    pub detail: serde_json::Value,
}

impl Subject {
    pub fn new(kind: &'static str, id: impl ToString) -> Self {
        Self {
            kind,
            id: id.to_string(),
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}
