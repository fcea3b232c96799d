//! Request validation that collects every field violation before anything is written.
//!
//! Every bound a request meets is here, in one place: text is trimmed, bounded in length and
//! free of NUL, control characters (newline and tab only in free text) and bidirectional
//! overrides (which can make a stored name read differently from what it is); money is
//! bounded by [`MAX_MINOR_UNITS`], dates by [`MIN_DATE`]..=[`MAX_DATE`], repeated fields by
//! a count. Handlers store what the validator returned, never the raw request.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::error::{FieldViolation, ServiceError};

/// The largest amount anju accepts in one field: 10¹³ minor units (100 billion yuan), far
/// above any home's price, far below where sums of a few thousand such amounts overflow i64.
pub const MAX_MINOR_UNITS: i64 = 10_000_000_000_000;
/// The earliest and latest dates a request may carry.
pub const MIN_DATE: NaiveDate = NaiveDate::from_ymd_opt(1900, 1, 1).expect("a valid date");
pub const MAX_DATE: NaiveDate = NaiveDate::from_ymd_opt(2199, 12, 31).expect("a valid date");

/// What text may hold: single-line names and codes, or free text with lines and tabs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lines {
    One,
    Many,
}

/// Why `text` cannot be stored, if it cannot.
fn forbidden_character(text: &str, lines: Lines) -> Option<&'static str> {
    text.chars().find_map(|c| match c {
        '\0' => Some("must not contain NUL characters"),
        '\n' | '\t' if lines == Lines::Many => None,
        c if c.is_control() => Some(match lines {
            Lines::One => "must not contain control characters or line breaks",
            Lines::Many => "must not contain control characters other than newline and tab",
        }),
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {
            Some("must not contain bidirectional override characters")
        }
        _ => None,
    })
}

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

    /// Requires a non-blank single line of at most `max` characters; returns it trimmed.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        self.checked_text(field, value, max, Lines::One, true)
            .unwrap_or_default()
    }

    /// Accepts an empty string; otherwise a single line of at most `max` characters.
    pub fn optional_text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        self.checked_text(field, value, max, Lines::One, false)
    }

    /// Requires non-blank free text (notes, reasons, descriptions): newlines and tabs allowed,
    /// `\r\n` stored as `\n`; at most `max` characters.
    pub fn free_text(&mut self, field: &str, value: &str, max: usize) -> String {
        self.checked_text(field, value, max, Lines::Many, true)
            .unwrap_or_default()
    }

    /// Accepts an empty string; otherwise free text as [`Validator::free_text`].
    pub fn optional_free_text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        self.checked_text(field, value, max, Lines::Many, false)
    }

    fn checked_text(
        &mut self,
        field: &str,
        value: &str,
        max: usize,
        lines: Lines,
        required: bool,
    ) -> Option<String> {
        let normalised;
        let value = if lines == Lines::Many && value.contains("\r\n") {
            normalised = value.replace("\r\n", "\n");
            normalised.as_str()
        } else {
            value
        };
        let trimmed = value.trim();
        if trimmed.is_empty() {
            if required {
                self.violation(field, "is required");
            }
            return None;
        }
        if trimmed.chars().count() > max {
            self.violation(field, format!("must be at most {max} characters"));
        } else if let Some(why) = forbidden_character(trimmed, lines) {
            self.violation(field, why);
        }
        Some(trimmed.to_string())
    }

    /// Requires at most `max` entries in a repeated field.
    pub fn count(&mut self, field: &str, len: usize, max: usize) {
        if len > max {
            self.violation(field, format!("must have at most {max} entries"));
        }
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
        if money.minor_units <= 0 || money.minor_units > MAX_MINOR_UNITS {
            self.violation(
                &format!("{field}.minor_units"),
                format!("must be positive and at most {MAX_MINOR_UNITS}"),
            );
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
            Ok(date) if (MIN_DATE..=MAX_DATE).contains(&date) => Some(date),
            Ok(_) => {
                self.violation(field, format!("must be between {MIN_DATE} and {MAX_DATE}"));
                None
            }
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
    fn text_refuses_what_storage_or_readers_cannot_take() {
        let mut v = Validator::new();
        v.text("name", "Li\0Na", 20);
        v.text("unit_number", "12\n01", 20);
        v.optional_text("code", "A\u{1b}[31m", 20);
        v.free_text("note", "paid\u{0085}late", 200);
        v.free_text("reason", "evil\u{202E}txt.exe", 200);
        v.optional_date("signed_on", "-5000-01-01");
        v.optional_date("due_on", "2400-01-01");
        v.money(
            "amount",
            Some(&anju_proto::common::Money {
                minor_units: MAX_MINOR_UNITS + 1,
                currency: "CNY".into(),
            }),
        );
        v.count("defects", 10_001, 200);
        let Err(ServiceError::InvalidArgument(violations)) = v.finish() else {
            panic!("expected invalid argument");
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "unit_number",
                "code",
                "note",
                "reason",
                "signed_on",
                "due_on",
                "amount.minor_units",
                "defects"
            ]
        );
    }

    #[test]
    fn free_text_keeps_lines_and_tabs() {
        let mut v = Validator::new();
        assert_eq!(
            v.free_text("note", "  first line\r\n\tsecond  ", 100),
            "first line\n\tsecond"
        );
        assert_eq!(v.optional_free_text("note", "   ", 100), None);
        assert_eq!(
            v.optional_text("name", "王小明", 10).as_deref(),
            Some("王小明")
        );
        assert!(v.finish().is_ok());
    }

    #[test]
    fn accepts_good_input() {
        let mut v = Validator::new();
        assert_eq!(v.text("name", " Bay ", 10), "Bay");
        v.uuid("id", &Uuid::now_v7().to_string());
        assert!(v.finish().is_ok());
    }
}
