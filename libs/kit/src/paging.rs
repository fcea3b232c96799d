//! Keyset pagination: a page token is the last id of the previous page.

use uuid::Uuid;

use crate::error::ServiceError;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 500;

#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub size: i64,
    /// Rows strictly after this id (UUIDv7 ids sort by creation time).
    pub after: Uuid,
}

impl Page {
    pub fn parse(page_size: i32, page_token: &str) -> Result<Self, ServiceError> {
        let size = match i64::from(page_size) {
            0 => DEFAULT_PAGE_SIZE,
            n if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                return Err(ServiceError::invalid(
                    "page.page_size",
                    format!("must be between 0 and {MAX_PAGE_SIZE}"),
                ));
            }
        };
        let after = if page_token.is_empty() {
            Uuid::nil()
        } else {
            Uuid::parse_str(page_token).map_err(|_| {
                ServiceError::invalid("page.page_token", "is not a token this service issued")
            })?
        };
        Ok(Self { size, after })
    }

    /// Fetch one row more than the page to know whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        self.size + 1
    }

    /// Trims the extra row and returns the next token (empty on the last page).
    pub fn finish<T>(&self, mut rows: Vec<T>, id_of: impl Fn(&T) -> Uuid) -> (Vec<T>, String) {
        if rows.len() as i64 > self.size {
            rows.truncate(self.size as usize);
            let token = rows
                .last()
                .map(|r| id_of(r).to_string())
                .unwrap_or_default();
            (rows, token)
        } else {
            (rows, String::new())
        }
    }
}
