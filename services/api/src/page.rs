//! Cursor pagination: `limit` (default 50, at most 500) and an opaque `cursor` naming the last item
//! of the previous page. Each list is ordered by an increasing key (a stream sequence), so a page is
//! `key > cursor ORDER BY key LIMIT limit`, stable while new items are added at the end.

use axum::extract::rejection::QueryRejection;
use serde::Serialize;

use crate::error::ApiError;

/// Items per page when the client names no `limit`.
pub const LIMIT_DEFAULT: u32 = 50;
/// The largest `limit` accepted.
pub const LIMIT_MAX: u32 = 500;

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// Items wanted.
    pub limit: u32,
    /// Only keys above this one.
    pub after: i64,
}

impl PageRequest {
    /// Validates the raw `limit` and `cursor` parameters.
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(LIMIT_DEFAULT);
        if !(1..=LIMIT_MAX).contains(&limit) {
            return Err(ApiError::InvalidQuery(format!(
                "limit must be between 1 and {LIMIT_MAX}, got {limit}"
            )));
        }
        let after = match cursor {
            None => 0,
            Some(cursor) => cursor
                .parse::<i64>()
                .ok()
                .filter(|after| *after >= 0)
                .ok_or_else(|| {
                    ApiError::InvalidQuery(format!("cursor {cursor:?} is not one this API issued"))
                })?,
        };
        Ok(Self { limit, after })
    }

    /// How many rows to fetch: one more than wanted, to know whether there is a next page.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Cuts the fetched rows to a page; `key` gives an item's pagination key.
    pub fn page<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> i64) -> Page<T> {
        let wanted = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > wanted {
            rows.truncate(wanted);
            rows.last().map(|last| key(last).to_string())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

/// A query string that does not fit the endpoint's parameters.
pub fn invalid_query(rejection: QueryRejection) -> ApiError {
    ApiError::InvalidQuery(rejection.body_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_limit_is_the_default_and_a_zero_or_huge_one_is_refused() {
        assert_eq!(
            PageRequest::parse(None, None).expect("default").limit,
            LIMIT_DEFAULT
        );
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(LIMIT_MAX + 1), None).is_err());
        assert_eq!(
            PageRequest::parse(Some(LIMIT_MAX), None)
                .expect("max")
                .limit,
            LIMIT_MAX
        );
    }

    #[test]
    fn a_cursor_that_is_not_a_sequence_is_refused() {
        for bad in ["abc", "-1", "", "1.5"] {
            assert!(PageRequest::parse(None, Some(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(
            PageRequest::parse(None, Some("42")).expect("cursor").after,
            42
        );
    }

    #[test]
    fn a_full_page_names_its_last_key_as_the_next_cursor() {
        let request = PageRequest::parse(Some(2), None).expect("valid");
        let page = request.page(vec![10, 20, 30], |n| *n);
        assert_eq!(page.items, [10, 20]);
        assert_eq!(page.next_cursor.as_deref(), Some("20"));
        let last = request.page(vec![40], |n| *n);
        assert_eq!(last.next_cursor, None);
    }
}
