//! The `sessions` table: one row per login, revoked as a whole by logout or token reuse.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{sessions, users};
use super::users::User;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_reason: Option<String>,
    /// `password`, `oidc:<provider>`, `email-link`, `email-code`, `password-reset`.
    pub method: String,
    pub user_agent: String,
    pub ip: String,
    /// The last refresh; `None` until the first.
    pub last_used_at: Option<NaiveDateTime>,
}

/// How and from where a session started: what its owner sees in the session list to tell
/// their sessions apart. Nothing more is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOrigin {
    pub method: String,
    pub user_agent: String,
    pub ip: String,
}

/// A session's end, as the revocation feed reports it.
#[derive(Debug, Clone)]
pub struct Revocation {
    pub session_id: String,
    pub user_id: String,
    pub revoked_at: NaiveDateTime,
    pub reason: Option<String>,
}

/// Why a session ended; stored for the operator, not shown to the client.
#[derive(Debug, Clone, Copy)]
pub enum RevokeReason {
    Logout,
    LogoutAll,
    PasswordChanged,
    TokenReused,
    EmailChanged,
    /// Ended by its owner from the session list.
    EndedByOwner,
    /// `logout` with `"scope": "others"`.
    LogoutOthers,
    /// An admin deactivated the user.
    Deactivated,
    /// An admin ended every session of the user.
    EndedByAdmin,
}

impl RevokeReason {
    /// Reasons that end every session of the user at once: services may refuse all of the
    /// user's tokens issued before.
    pub const WHOLE_ACCOUNT: [RevokeReason; 4] = [
        RevokeReason::LogoutAll,
        RevokeReason::PasswordChanged,
        RevokeReason::Deactivated,
        RevokeReason::EndedByAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::LogoutAll => "logout_all",
            RevokeReason::PasswordChanged => "password_changed",
            RevokeReason::TokenReused => "token_reused",
            RevokeReason::EmailChanged => "email_changed",
            RevokeReason::EndedByOwner => "ended_by_owner",
            RevokeReason::LogoutOthers => "logout_others",
            RevokeReason::Deactivated => "deactivated",
            RevokeReason::EndedByAdmin => "ended_by_admin",
        }
    }
}

/// Whether a session's tokens may still be used, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Live,
    /// Logged out, revoked, or not the token's user.
    Ended,
    /// Started before `oldest_start`: older than the absolute session lifetime.
    TooOld,
    UserInactive,
}

impl Session {
    /// The one liveness rule behind `me`, refresh and the password change. The PostgreSQL
    /// rotation statement (`rotation.rs`, its `live` step) writes the same rule in SQL.
    /// `oldest_start`: sessions that started earlier are past their absolute lifetime.
    pub fn liveness(&self, user: &User, user_id: &str, oldest_start: NaiveDateTime) -> Liveness {
        if self.revoked_at.is_some() || user.id != user_id {
            Liveness::Ended
        } else if self.created_at < oldest_start {
            Liveness::TooOld
        } else if !user.is_active {
            Liveness::UserInactive
        } else {
            Liveness::Live
        }
    }

    pub fn start(
        user_id: &str,
        origin: &SessionOrigin,
        now: NaiveDateTime,
        expires_at: NaiveDateTime,
    ) -> Self {
        Session {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.to_owned(),
            created_at: now,
            expires_at,
            revoked_at: None,
            revoked_reason: None,
            method: origin.method.clone(),
            user_agent: origin.user_agent.clone(),
            ip: origin.ip.clone(),
            last_used_at: None,
        }
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::insert_into(sessions::table)
            .values(self)
            .execute(conn)
    }

    /// The session with its user, in one read.
    pub fn find_with_user(
        conn: &mut DbConnection,
        id: &str,
    ) -> QueryResult<Option<(Session, User)>> {
        sessions::table
            .inner_join(users::table)
            .filter(sessions::id.eq(id))
            .select((Session::as_select(), User::as_select()))
            .first(conn)
            .optional()
    }

    /// A refresh: the session lives until the new refresh token expires, and was used now.
    pub fn extend(
        conn: &mut DbConnection,
        id: &str,
        expires_at: NaiveDateTime,
        now: NaiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(sessions::table.find(id))
            .set((
                sessions::expires_at.eq(expires_at),
                sessions::last_used_at.eq(now),
            ))
            .execute(conn)
    }

    /// A user's sessions that are not revoked, not expired and started at or after
    /// `oldest_start`, most recently used first.
    pub fn live_of_user(
        conn: &mut DbConnection,
        user_id: &str,
        now: NaiveDateTime,
        oldest_start: NaiveDateTime,
    ) -> QueryResult<Vec<Session>> {
        let mut live: Vec<Session> = sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::created_at.ge(oldest_start))
            .select(Session::as_select())
            .load(conn)?;
        live.sort_by_key(|s| std::cmp::Reverse(s.last_used_at.unwrap_or(s.created_at)));
        Ok(live)
    }

    /// Revokes session `id` if it is a live session of `user_id`; returns whether it was.
    pub fn revoke(
        conn: &mut DbConnection,
        id: &str,
        user_id: &str,
        reason: RevokeReason,
    ) -> QueryResult<bool> {
        let changed = diesel::update(
            sessions::table
                .find(id)
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked_at.is_null()),
        )
        .set((
            sessions::revoked_at.eq(super::now()),
            sessions::revoked_reason.eq(reason.as_str()),
        ))
        .execute(conn)?;
        Ok(changed == 1)
    }

    /// Revokes every live session of a user except `keep`; returns how many.
    pub fn revoke_all_of_user(
        conn: &mut DbConnection,
        user_id: &str,
        keep: Option<&str>,
        reason: RevokeReason,
    ) -> QueryResult<usize> {
        let live = sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::id.ne(keep.unwrap_or("")));
        diesel::update(live)
            .set((
                sessions::revoked_at.eq(super::now()),
                sessions::revoked_reason.eq(reason.as_str()),
            ))
            .execute(conn)
    }

    /// A user's sessions, live or not, newest first, at most `limit`: what an admin looks at.
    pub fn all_of_user(
        conn: &mut DbConnection,
        user_id: &str,
        limit: i64,
    ) -> QueryResult<Vec<Session>> {
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .order((sessions::created_at.desc(), sessions::id.desc()))
            .limit(limit)
            .select(Session::as_select())
            .load(conn)
    }

    /// Sessions revoked after `since`, oldest first, at most `limit`.
    pub fn revoked_after(
        conn: &mut DbConnection,
        since: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<Vec<Revocation>> {
        let rows: Vec<(String, String, Option<NaiveDateTime>, Option<String>)> = sessions::table
            .filter(sessions::revoked_at.gt(since))
            .order(sessions::revoked_at.asc())
            .limit(limit)
            .select((
                sessions::id,
                sessions::user_id,
                sessions::revoked_at,
                sessions::revoked_reason,
            ))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .filter_map(|(session_id, user_id, at, reason)| {
                Some(Revocation {
                    session_id,
                    user_id,
                    revoked_at: at?,
                    reason,
                })
            })
            .collect())
    }

    /// Deletes sessions whose newest refresh token has expired (their blacklist rows go with them).
    pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(sessions::table.filter(sessions::expires_at.lt(now))).execute(conn)
    }
}
