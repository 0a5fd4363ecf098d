//! The revocation feed: what a service that verifies access tokens offline must refuse before
//! the tokens expire. Sessions revoked since a cursor (their `sid`), and per-user "not before"
//! times (logout everywhere, password change, deactivation): a token of that user issued
//! before is refused.
//!
//! Only the last `horizon` matters (the access-token lifetime plus leeway): a token issued
//! before that has expired anyway. Times are written by whichever replica did the work, and
//! a transaction may commit after a later one, so each read reaches `OVERLAP` back before the
//! cursor; a service sees some entries twice, never misses one.

use chrono::{DateTime, Duration, NaiveDateTime};

use crate::db::audit::AuditEvent;
use crate::db::sessions::{RevokeReason, Session};
use crate::db::users::User;
use crate::db::DbConnection;

pub const OVERLAP: Duration = Duration::seconds(30);
/// Entries of each kind per answer; `more` says when another read should follow at once.
pub const PAGE: i64 = 5000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSession {
    pub sid: String,
    pub sub: String,
    pub revoked_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNotBefore {
    pub sub: String,
    /// Unix seconds: tokens with an earlier `iat` are refused.
    pub not_before: i64,
}

#[derive(Debug)]
pub struct RevocationFeed {
    pub sessions: Vec<RevokedSession>,
    pub users: Vec<UserNotBefore>,
    pub cursor: Cursor,
    pub more: bool,
}

/// Where the next read starts: a time in microseconds, opaque to services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(NaiveDateTime);

impl Cursor {
    pub fn parse(text: &str) -> Option<Self> {
        let micros: i64 = text.strip_prefix('c')?.parse().ok()?;
        DateTime::from_timestamp_micros(micros).map(|t| Cursor(t.naive_utc()))
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0.and_utc().timestamp_micros())
    }
}

/// The feed at `now` since `since` (from the start of the horizon without one).
pub fn read(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    since: Option<Cursor>,
    horizon: Duration,
) -> diesel::QueryResult<RevocationFeed> {
    let oldest = now - horizon;
    let from = since.map_or(oldest, |Cursor(at)| (at - OVERLAP).max(oldest));
    let revoked = Session::revoked_after(conn, from, PAGE)?;
    let inactive = User::inactive_changed_after(conn, from, PAGE)?;
    // A deleted user's sessions went with them; the audit log remembers the deletion.
    let deleted = AuditEvent::users_deleted_after(conn, from, PAGE)?;
    let more = revoked.len() as i64 == PAGE
        || inactive.len() as i64 == PAGE
        || deleted.len() as i64 == PAGE;
    // A full page ends the read early: the next one starts after its last entry.
    let last = |at: Option<NaiveDateTime>| at.map(|at| at + OVERLAP);
    let cursor = match more {
        true => [
            last(revoked.last().map(|r| r.revoked_at)).filter(|_| revoked.len() as i64 == PAGE),
            last(inactive.last().map(|u| u.1)).filter(|_| inactive.len() as i64 == PAGE),
            last(deleted.last().map(|d| d.1)).filter(|_| deleted.len() as i64 == PAGE),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now),
        false => now,
    };
    let whole_account: Vec<&str> = RevokeReason::WHOLE_ACCOUNT
        .iter()
        .map(|r| r.as_str())
        .collect();
    let mut users: Vec<UserNotBefore> = Vec::new();
    let mut note = |sub: &str, at: NaiveDateTime| {
        let not_before = at.and_utc().timestamp();
        match users.iter_mut().find(|u| u.sub == sub) {
            Some(user) => user.not_before = user.not_before.max(not_before),
            None => users.push(UserNotBefore {
                sub: sub.to_owned(),
                not_before,
            }),
        }
    };
    for revocation in &revoked {
        let reason = revocation.reason.as_deref();
        if reason.is_some_and(|r| whole_account.contains(&r)) {
            note(&revocation.user_id, revocation.revoked_at);
        }
    }
    for (user, at) in &inactive {
        note(user, *at);
    }
    for (user, at) in &deleted {
        if let Some(user) = user {
            note(user, *at);
        }
    }
    Ok(RevocationFeed {
        sessions: revoked
            .into_iter()
            .map(|r| RevokedSession {
                sid: r.session_id,
                sub: r.user_id,
                revoked_at: r.revoked_at.and_utc().timestamp(),
            })
            .collect(),
        users,
        cursor: Cursor(cursor),
        more,
    })
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn a_cursor_reads_back_what_it_wrote() {
        let at = chrono::DateTime::from_timestamp_micros(1_764_600_000_123_456)
            .unwrap()
            .naive_utc();
        let text = Cursor(at).to_string();
        assert_eq!(text, "c1764600000123456");
        assert_eq!(Cursor::parse(&text), Some(Cursor(at)));
        for bad in ["", "1764600000123456", "cabc", "c", "c99999999999999999999"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }
}
