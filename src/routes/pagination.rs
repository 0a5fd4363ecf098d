//! Cursor pages, newest first: `?limit=` (1-200, default 50) and `?cursor=` (opaque, from the
//! previous page's `nextCursor`). A cursor is the last row's time and id, so a page is one
//! index range scan however deep the listing goes, and rows added meanwhile do not shift it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::DateTime;
use serde::Serialize;

use crate::db::Position;
use crate::errors::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

pub fn limit(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::validation_field(
            "limit",
            format!("Send a number from 1 to {MAX_LIMIT}."),
        )),
    }
}

pub fn parse_cursor(text: Option<&str>) -> Result<Option<Position>, ApiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let invalid =
        || ApiError::validation_field("cursor", "Send the nextCursor of the previous page.");
    let decoded = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (micros, id) = decoded.split_once('~').ok_or_else(invalid)?;
    let created_at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(invalid)?
        .naive_utc();
    Ok(Some(Position {
        created_at,
        id: id.to_owned(),
    }))
}

fn cursor_of(position: &Position) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}~{}",
        position.created_at.and_utc().timestamp_micros(),
        position.id
    ))
}

/// `{items, nextCursor}`; `nextCursor` is null on the last page.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` as read with `limit`; a full page may have a next one.
    pub fn new<R>(
        rows: Vec<R>,
        limit: i64,
        position: impl Fn(&R) -> Position,
        item: impl Fn(R) -> T,
    ) -> Self {
        let next_cursor = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|row| cursor_of(&position(row))))
            .flatten();
        Self {
            items: rows.into_iter().map(item).collect(),
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_wrote_and_garbage_is_refused() {
        let position = Position {
            created_at: DateTime::from_timestamp_micros(1_764_600_000_123_456)
                .unwrap()
                .naive_utc(),
            id: "5f0c-id".into(),
        };
        assert_eq!(
            parse_cursor(Some(&cursor_of(&position))).unwrap(),
            Some(position)
        );
        assert!(parse_cursor(Some("not a cursor")).is_err());
        assert!(parse_cursor(Some(&URL_SAFE_NO_PAD.encode("x~y"))).is_err());
        assert_eq!(parse_cursor(None).unwrap(), None);
        assert!(limit(Some(0)).is_err() && limit(Some(201)).is_err());
    }
}
