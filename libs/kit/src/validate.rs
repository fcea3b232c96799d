//! Request validation that collects every field violation before anything is written.

use uuid::Uuid;

use crate::error::{FieldViolation, ServiceError};

/// Collects field violations; [`Validator::finish`] fails with all of them at once.
#[derive(Debug, Default)]
pub struct Validator {
    violations: Vec<FieldViolation>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn violation(&mut self, field: &str, description: impl Into<String>) {
        self.violations.push(FieldViolation {
            field: field.to_string(),
            description: description.into(),
        });
    }

    /// Requires a non-blank string of at most `max` characters; returns it trimmed.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.violation(field, "is required");
        } else if trimmed.chars().count() > max {
            self.violation(field, format!("must be at most {max} characters"));
        }
        trimmed.to_string()
    }

    /// Accepts an empty string; otherwise at most `max` characters.
    pub fn optional_text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        let trimmed = value.trim();
        if trimmed.chars().count() > max {
            self.violation(field, format!("must be at most {max} characters"));
        }
        (!trimmed.is_empty()).then(|| trimmed.to_string())
    }

    /// Requires a UUID; returns nil when it is not one (the violation makes `finish` fail).
    pub fn uuid(&mut self, field: &str, value: &str) -> Uuid {
        if value.trim().is_empty() {
            self.violation(field, "is required");
            return Uuid::nil();
        }
        match Uuid::parse_str(value.trim()) {
            Ok(id) => id,
            Err(_) => {
                self.violation(field, "must be a UUID");
                Uuid::nil()
            }
        }
    }

    /// Accepts an empty string as "none"; otherwise requires a UUID.
    pub fn optional_uuid(&mut self, field: &str, value: &str) -> Option<Uuid> {
        if value.trim().is_empty() {
            return None;
        }
        Some(self.uuid(field, value))
    }

    /// Requires the client-chosen idempotency key: 1–128 visible ASCII characters.
    pub fn request_id(&mut self, value: &str) -> String {
        if value.is_empty() {
            self.violation("request_id", "is required");
        } else if value.len() > 128 || !value.chars().all(|c| c.is_ascii_graphic()) {
            self.violation("request_id", "must be 1-128 visible ASCII characters");
        }
        value.to_string()
    }

    /// Requires a positive amount in a three-letter upper-case currency; returns (minor units, currency).
    pub fn money(
        &mut self,
        field: &str,
        value: Option<&anju_proto::common::Money>,
    ) -> (i64, String) {
        let Some(money) = value else {
            self.violation(field, "is required");
            return (0, String::new());
        };
        if money.minor_units <= 0 {
            self.violation(&format!("{field}.minor_units"), "must be positive");
        }
        if money.currency.len() != 3 || !money.currency.chars().all(|c| c.is_ascii_uppercase()) {
            self.violation(
                &format!("{field}.currency"),
                "must be an ISO 4217 code such as CNY",
            );
        }
        (money.minor_units, money.currency.clone())
    }

    /// Requires a positive area of at most `max_cm2` square centimetres.
    pub fn area(
        &mut self,
        field: &str,
        value: Option<&anju_proto::common::Area>,
        max_cm2: i64,
    ) -> i64 {
        let Some(area) = value else {
            self.violation(field, "is required");
            return 0;
        };
        if area.square_centimetres <= 0 || area.square_centimetres > max_cm2 {
            self.violation(
                &format!("{field}.square_centimetres"),
                format!("must be between 1 and {max_cm2}"),
            );
        }
        area.square_centimetres
    }

    /// Accepts an empty string as "none"; otherwise requires a date written YYYY-MM-DD.
    pub fn optional_date(&mut self, field: &str, value: &str) -> Option<chrono::NaiveDate> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        match chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                self.violation(field, "must be a date written YYYY-MM-DD");
                None
            }
        }
    }

    /// Requires a date written YYYY-MM-DD.
    pub fn date(&mut self, field: &str, value: &str) -> chrono::NaiveDate {
        if value.trim().is_empty() {
            self.violation(field, "is required");
            return chrono::NaiveDate::MIN;
        }
        self.optional_date(field, value)
            .unwrap_or(chrono::NaiveDate::MIN)
    }

    /// Requires a phone number; returns its digits (a leading +86/0086 country code dropped).
    pub fn phone(&mut self, field: &str, value: &str) -> String {
        let digits: String = value.chars().filter(|c| c.is_ascii_digit()).collect();
        let stripped = if value.trim_start().starts_with('+') {
            digits.strip_prefix("86").unwrap_or(&digits).to_string()
        } else {
            digits.strip_prefix("0086").unwrap_or(&digits).to_string()
        };
        let allowed = value
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()".contains(c));
        if value.trim().is_empty() {
            self.violation(field, "is required");
        } else if !allowed || !(7..=15).contains(&stripped.len()) {
            self.violation(field, "must be a phone number of 7 to 15 digits");
        }
        stripped
    }

    pub fn range<T: PartialOrd + std::fmt::Display + Copy>(
        &mut self,
        field: &str,
        value: T,
        min: T,
        max: T,
    ) -> T {
        if value < min || value > max {
            self.violation(field, format!("must be between {min} and {max}"));
        }
        value
    }

    pub fn check(&mut self, ok: bool, field: &str, description: &str) {
        if !ok {
            self.violation(field, description);
        }
    }

    pub fn finish(self) -> Result<(), ServiceError> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::InvalidArgument(self.violations))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_violation() {
        let mut v = Validator::new();
        v.text("name", "  ", 10);
        v.uuid("project_id", "nope");
        v.request_id("");
        v.range("floors", 0, 1, 200);
        let Err(ServiceError::InvalidArgument(violations)) = v.finish() else {
            panic!("expected invalid argument");
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["name", "project_id", "request_id", "floors"]);
    }

    #[test]
    fn phones_are_normalised() {
        let mut v = Validator::new();
        assert_eq!(v.phone("phone", "+86 138-0013-8000"), "13800138000");
        assert_eq!(v.phone("phone", "0086 13800138000"), "13800138000");
        assert_eq!(v.phone("phone", "0755-8888 1234"), "075588881234");
        assert!(v.finish().is_ok());
        let mut v = Validator::new();
        v.phone("phone", "call me");
        v.optional_date("next_follow_up_on", "2026-13-01");
        assert!(v.finish().is_err());
    }

    #[test]
    fn accepts_good_input() {
        let mut v = Validator::new();
        assert_eq!(v.text("name", " Bay ", 10), "Bay");
        v.uuid("id", &Uuid::now_v7().to_string());
        assert!(v.finish().is_ok());
    }
}
