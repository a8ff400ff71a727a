//! Keyset pagination, the one way every list pages. A list is ordered by a
//! time and an id; a page asks for one row more than it returns, and the
//! last row's key becomes the opaque cursor of the next page. A cursor is
//! the sort key itself, not an offset, so pages neither skip nor repeat
//! rows while rows are added, and a deep page costs what the first one does.

use crate::http::error::ApiError;
use crate::http::extract::within_years;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use uuid::Uuid;

/// Rows per page when `?limit=` is absent, and the most a page may ask for.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// `?limit=&cursor=`, for a list without other filters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        Page::new(limit(self.limit)?, self.cursor.as_deref())
    }
}

/// `?search=&limit=&cursor=`, for a list one can search by name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    pub search: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl SearchQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        Page::new(limit(self.limit)?, self.cursor.as_deref())
    }

    /// The search as an `ILIKE` pattern matching it anywhere, its own `%`,
    /// `_` and `\` taken literally; `None` when there is no search.
    pub fn pattern(&self) -> Option<String> {
        let search = self.search.as_deref().filter(|s| !s.is_empty())?;
        Some(format!("%{}%", search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")))
    }
}

/// `?limit=` (default 50, at most 500).
pub fn limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid("limit", "must be between 1 and 500")),
    }
}

/// A page of a list: how many rows, and the key of the row it starts after.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    limit: i64,
    after: Option<(DateTime<Utc>, Uuid)>,
}

impl Page {
    /// The page of `limit` rows after `cursor` (`None`: the first page).
    pub fn new(limit: i64, cursor: Option<&str>) -> Result<Page, ApiError> {
        Ok(Page { limit, after: decode_cursor(cursor)? })
    }

    /// Bind the query's last three parameters: the cursor's time and id
    /// (both NULL on the first page) and the rows to fetch, one more than
    /// the page holds, which tells whether another page follows.
    pub fn bind<'q, O>(&self, query: QueryAs<'q, Postgres, O, PgArguments>) -> QueryAs<'q, Postgres, O, PgArguments> {
        query.bind(self.after.map(|c| c.0)).bind(self.after.map(|c| c.1)).bind(self.limit + 1)
    }

    /// The `{"data": [...], "nextCursor": ...}` list shape, from the rows
    /// fetched; `key` is a row's sort key.
    pub fn finish<T: Serialize>(&self, mut items: Vec<T>, key: impl Fn(&T) -> (DateTime<Utc>, Uuid)) -> Value {
        let limit = usize::try_from(self.limit).unwrap_or(50);
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| {
                let (at, id) = key(last);
                encode_cursor(at, id)
            })
        } else {
            None
        };
        serde_json::json!({ "data": items, "nextCursor": next })
    }
}

/// An opaque list cursor: the sort key of the last item returned.
fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", at.timestamp_micros()))
}

fn decode_cursor(cursor: Option<&str>) -> Result<Option<(DateTime<Utc>, Uuid)>, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let bad = || ApiError::invalid("cursor", "is not a cursor this API issued");
    let text = URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?;
    let (micros, id) = text.split_once('|').ok_or_else(bad)?;
    let at = micros.parse().ok().and_then(DateTime::from_timestamp_micros).ok_or_else(bad)?;
    let at = within_years("cursor", at).map_err(|_| bad())?;
    Ok(Some((at, Uuid::parse_str(id).map_err(|_| bad())?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(Some(&encode_cursor(at, id))).unwrap(), Some((at, id)));
        assert!(decode_cursor(Some("bm9wZQ")).is_err());
        let ancient = URL_SAFE_NO_PAD.encode(format!("{}|{id}", -3_200_000_000_000_000_000_i64));
        assert!(decode_cursor(Some(&ancient)).is_err(), "a cursor PostgreSQL cannot hold is refused");
        assert_eq!(decode_cursor(None).unwrap(), None);
    }

    #[test]
    fn a_page_fetches_one_more_and_the_extra_row_makes_the_next_cursor() {
        let at = DateTime::from_timestamp_micros(1_764_000_000_000_000).unwrap();
        let rows: Vec<(DateTime<Utc>, Uuid)> = (0..3).map(|_| (at, Uuid::now_v7())).collect();
        let page = Page::new(2, None).unwrap();
        let shown = page.finish(rows.clone(), |r| *r);
        assert_eq!(shown["data"].as_array().unwrap().len(), 2);
        let next = Page::new(2, shown["nextCursor"].as_str()).unwrap();
        assert_eq!(next.after, Some(rows[1]));
        assert_eq!(page.finish(rows[..2].to_vec(), |r| *r)["nextCursor"], Value::Null);
        assert!(limit(Some(0)).is_err() && limit(Some(501)).is_err());
        assert_eq!((limit(None).unwrap(), limit(Some(500)).unwrap()), (50, 500));
    }

    #[test]
    fn a_search_is_taken_literally() {
        let query = |s: &str| SearchQuery { search: Some(s.to_owned()), limit: None, cursor: None };
        assert_eq!(query("50%_off\\").pattern().as_deref(), Some("%50\\%\\_off\\\\%"));
        assert_eq!(query("").pattern(), None);
    }
}
