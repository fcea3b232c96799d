//! One error model for every service, with one mapping to gRPC status codes.
//!
//! Handlers return [`ServiceError`]; the mapping here is the only place that decides what a
//! caller sees. Unexpected errors are logged with their cause chain and reach the caller as a
//! generic INTERNAL status, never with their text. A business rule's refusal carries a stable
//! reason code in `google.rpc.ErrorInfo` ([`Refusal`]) that clients branch on.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A field that failed validation, named by its path in the request (`forecast_area.square_centimetres`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// A business rule refused the request, e.g. "keys not released: fees unpaid".
    #[error("{}", .0.message)]
    FailedPrecondition(Refusal),
    /// A concurrency conflict; the caller may retry.
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    ResourceExhausted(String),
    /// The database could not be reached or dropped the connection (a restart, a failover):
    /// the caller retries with the same request id, which replays the call if it committed.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// The `google.rpc.ErrorInfo.domain` of every anju refusal.
pub const ERROR_DOMAIN: &str = "anju";

/// A business rule's refusal (FAILED_PRECONDITION). `reason` is a stable `UPPER_SNAKE_CASE`
/// code (`google.rpc.ErrorInfo.reason`, listed with each service in its proto) that a client
/// branches on; `message` is for people; `metadata` names the objects concerned (`unit_id`…);
/// `zh_cn` is the message in Chinese (`google.rpc.LocalizedMessage`, `zh-CN`) for refusals
/// staff read out at a counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
    pub metadata: Vec<(&'static str, String)>,
    pub zh_cn: Option<String>,
}

impl Refusal {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(
            reason
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
            "reason codes are UPPER_SNAKE_CASE: {reason}"
        );
        Self {
            reason,
            message: message.into(),
            metadata: Vec::new(),
            zh_cn: None,
        }
    }

    /// Names an object the refusal concerns (`unit_id`, `charge_id`…).
    pub fn with(mut self, key: &'static str, value: impl ToString) -> Self {
        self.metadata.push((key, value.to_string()));
        self
    }

    /// The message in Chinese, for refusals staff see at a counter.
    pub fn zh(mut self, message: impl Into<String>) -> Self {
        self.zh_cn = Some(message.into());
        self
    }
}

impl From<Refusal> for ServiceError {
    fn from(refusal: Refusal) -> Self {
        Self::FailedPrecondition(refusal)
    }
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    /// A business rule's refusal with its reason code; see [`Refusal`] for objects and zh-CN.
    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::FailedPrecondition(Refusal::new(reason, message))
    }

    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::NotFound(_) => Code::NotFound,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::FailedPrecondition(_) => Code::FailedPrecondition,
            Self::Aborted(_) => Code::Aborted,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::ResourceExhausted(_) => Code::ResourceExhausted,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Unexpected(_) => Code::Internal,
        }
    }
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<sqlx::Error> for ServiceError {
    fn from(err: sqlx::Error) -> Self {
        // Serialization failures and deadlocks are concurrency conflicts the caller may retry.
        if let Some(db) = err.as_database_error()
            && matches!(db.code().as_deref(), Some("40001") | Some("40P01"))
        {
            return Self::Aborted("concurrent update, retry the request".into());
        }
        // A lock held longer than `lock_timeout` (a concurrent call with the same request id,
        // a long transaction): the call gives its connection back instead of waiting on.
        if let Some(db) = err.as_database_error()
            && db.code().as_deref() == Some("55P03")
        {
            return Self::Aborted("the record is busy, retry the request".into());
        }
        // A lost or refused connection (no ping precedes a pooled connection's use, so a
        // connection broken while idle fails here), or a server shutting down: retryable.
        let lost = match &err {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
            _ => false,
        };
        if lost {
            tracing::warn!(error = %err, "database unavailable");
            return Self::Unavailable("database unavailable, retry the request".into());
        }
        Self::Unexpected(anyhow::Error::new(err))
    }
}

/// The message and details travel in the response's trailers, which a client refuses above
/// its header-list limit (16 KiB in h2 and hyper) as a broken stream: a request with thousands
/// of bad entries, or a 10,000-character id echoed back, must still get its refusal.
const MAX_VIOLATIONS: usize = 20;
const MAX_TEXT_BYTES: usize = 160;
const MAX_MESSAGE_BYTES: usize = 1024;

fn clip(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::InvalidArgument(violations) => {
                let more = violations.len().saturating_sub(MAX_VIOLATIONS);
                let mut shown: Vec<FieldViolation> = violations
                    .iter()
                    .take(MAX_VIOLATIONS)
                    .map(|v| FieldViolation {
                        field: clip(&v.field, MAX_TEXT_BYTES),
                        description: clip(&v.description, MAX_TEXT_BYTES),
                    })
                    .collect();
                if more > 0 {
                    shown.push(FieldViolation {
                        field: String::new(),
                        description: format!("{more} more violations not listed"),
                    });
                }
                let message = clip(
                    &format!("invalid argument: {}", describe(&shown)),
                    MAX_MESSAGE_BYTES,
                );
                let mut details = ErrorDetails::new();
                for v in &shown {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            ServiceError::FailedPrecondition(refusal) => {
                let message = clip(&refusal.message, MAX_MESSAGE_BYTES);
                let mut details = ErrorDetails::new();
                details.set_error_info(
                    refusal.reason,
                    ERROR_DOMAIN,
                    refusal
                        .metadata
                        .into_iter()
                        .map(|(key, value)| (key.to_string(), clip(&value, MAX_TEXT_BYTES)))
                        .collect::<std::collections::HashMap<_, _>>(),
                );
                if let Some(zh) = refusal.zh_cn {
                    details.set_localized_message("zh-CN", clip(&zh, MAX_MESSAGE_BYTES));
                }
                Status::with_error_details(Code::FailedPrecondition, message, details)
            }
            ServiceError::Unexpected(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed unexpectedly");
                Status::internal("internal error")
            }
            other => Status::new(other.code(), clip(&other.to_string(), MAX_MESSAGE_BYTES)),
        }
    }
}

/// The reason code of a refusal (`google.rpc.ErrorInfo.reason` of domain `anju`), if the
/// status carries one (for clients and tests).
pub fn refusal_reason(status: &Status) -> Option<String> {
    status
        .get_details_error_info()
        .filter(|info| info.domain == ERROR_DOMAIN)
        .map(|info| info.reason)
}

/// The refusal's message in Chinese (`google.rpc.LocalizedMessage`, `zh-CN`), if it has one.
pub fn refusal_zh_cn(status: &Status) -> Option<String> {
    status
        .get_details_localized_message()
        .filter(|m| m.locale == "zh-CN")
        .map(|m| m.message)
}

/// Reads the field violations back out of a status (for clients and tests).
pub fn field_violations(status: &Status) -> Vec<FieldViolation> {
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| FieldViolation {
                    field: v.field,
                    description: v.description,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_field_violations() {
        let status: Status = ServiceError::invalid("list_price.currency", "must be CNY").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("list_price.currency"));
        let violations = field_violations(&status);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "list_price.currency");
    }

    #[test]
    fn a_refusal_of_thousands_of_violations_fits_in_a_trailer() {
        let violations = (0..5_000)
            .map(|i| FieldViolation {
                field: format!("rows[{i}].unit_number"),
                description: "漢".repeat(1_000),
            })
            .collect();
        let status: Status = ServiceError::InvalidArgument(violations).into();
        let listed = field_violations(&status);
        assert_eq!(listed.len(), MAX_VIOLATIONS + 1);
        assert_eq!(listed[0].field, "rows[0].unit_number");
        assert!(listed[MAX_VIOLATIONS].description.contains("4980 more"));
        assert!(status.message().len() <= MAX_MESSAGE_BYTES + 3);
        assert!(
            status.details().len() < 8 * 1024,
            "{}",
            status.details().len()
        );
    }

    #[test]
    fn a_refusal_carries_its_reason_objects_and_chinese_message() {
        let refusal = Refusal::new(
            "FEES_NOT_SETTLED",
            "keys not released: the handover fees are not settled",
        )
        .with("unit_id", "0192f1d2-7c4e-7a3b-9f00-0123456789ab")
        .zh("未交清收楼费用，不能交付钥匙");
        let status: Status = ServiceError::from(refusal).into();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.message(),
            "keys not released: the handover fees are not settled"
        );
        assert_eq!(refusal_reason(&status).as_deref(), Some("FEES_NOT_SETTLED"));
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.domain, "anju");
        assert_eq!(
            info.metadata.get("unit_id").map(String::as_str),
            Some("0192f1d2-7c4e-7a3b-9f00-0123456789ab")
        );
        let zh = status.get_details_localized_message().unwrap();
        assert_eq!(
            (zh.locale.as_str(), zh.message.as_str()),
            ("zh-CN", "未交清收楼费用，不能交付钥匙")
        );
        let plain: Status = ServiceError::precondition("DAY_CLOSED", "day closed").into();
        assert_eq!(refusal_reason(&plain).as_deref(), Some("DAY_CLOSED"));
        assert!(plain.get_details_localized_message().is_none());
    }

    #[test]
    fn a_lost_database_connection_is_unavailable_and_hides_its_cause() {
        let broken = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by 10.0.0.7");
        for err in [sqlx::Error::Io(broken), sqlx::Error::PoolTimedOut] {
            let status: Status = ServiceError::from(err).into();
            assert_eq!(status.code(), Code::Unavailable);
            assert!(!status.message().contains("10.0.0.7"), "{status:?}");
        }
        let other: Status = ServiceError::from(sqlx::Error::RowNotFound).into();
        assert_eq!(other.code(), Code::Internal);
    }

    #[test]
    fn unexpected_errors_hide_their_cause() {
        let err = anyhow::anyhow!("password=hunter2 connection refused");
        let status: Status = ServiceError::Unexpected(err).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
    }
}
