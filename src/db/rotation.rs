//! Claiming a refresh token for rotation: blacklist it and extend its session, but only while
//! the session is live. On PostgreSQL this is one statement, so one round trip that commits on
//! its own; a transaction of separate statements took five round trips (BEGIN, INSERT, SELECT,
//! UPDATE, COMMIT) and bounded rotation at about 1,500/s on 2 cores (bench/README.md). SQLite
//! runs in-process, where round trips cost nothing, so it keeps the plain transaction.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Integer, Nullable, Text, Timestamp, Untyped};

use super::blacklist::BlacklistedToken;
use super::sessions::{Liveness, Session};
use super::users::User;
use super::DbConnection;

impl BlacklistedToken {
    /// Inserts this row and extends session `self.session_id` to `session_expires_at`, if that
    /// session is live (not revoked) and belongs to `self.user_id`, an active user. Returns the
    /// user when the token was claimed, `None` (nothing written) when there is no such session,
    /// and a unique violation when the token had already been claimed: of concurrent claims of
    /// one jti exactly one succeeds.
    pub fn claim_for_live_session(
        &self,
        conn: &mut DbConnection,
        session_expires_at: NaiveDateTime,
        oldest_start: NaiveDateTime,
    ) -> QueryResult<Option<User>> {
        match conn {
            DbConnection::Postgres(pg) => ClaimStatement {
                token: self,
                session_expires_at,
                oldest_start,
            }
            .get_result(pg)
            .optional(),
            DbConnection::Sqlite(_) => {
                self.claim_in_transaction(conn, session_expires_at, oldest_start)
            }
        }
    }

    fn claim_in_transaction(
        &self,
        conn: &mut DbConnection,
        session_expires_at: NaiveDateTime,
        oldest_start: NaiveDateTime,
    ) -> QueryResult<Option<User>> {
        let claimed = conn.transaction(|conn| {
            // The write comes first: on SQLite a transaction that reads before it writes can
            // fail with SQLITE_BUSY_SNAPSHOT instead of waiting for the other writer.
            self.insert(conn)?;
            match Session::find_with_user(conn, &self.session_id)? {
                Some((session, user))
                    if session.liveness(&user, &self.user_id, oldest_start) == Liveness::Live =>
                {
                    Session::extend(
                        conn,
                        &self.session_id,
                        session_expires_at,
                        self.blacklisted_at,
                    )?;
                    Ok(user)
                }
                _ => Err(diesel::result::Error::RollbackTransaction),
            }
        });
        match claimed {
            Ok(user) => Ok(Some(user)),
            Err(diesel::result::Error::RollbackTransaction) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// `claim_for_live_session` as one PostgreSQL statement. Data-modifying steps of a WITH run
/// exactly once whether or not the outer SELECT reads them; the INSERT only inserts when the
/// `live` step found the session, and the UPDATE only touches what the INSERT claimed. A
/// concurrent claim of the same jti waits on the primary key and then fails with a unique
/// violation, as a plain INSERT would. Built as a `QueryFragment` with a static query id so
/// diesel keeps it as a prepared statement (`sql_query` would be parsed and planned each time).
struct ClaimStatement<'a> {
    token: &'a BlacklistedToken,
    session_expires_at: NaiveDateTime,
    oldest_start: NaiveDateTime,
}

struct ClaimStatementId;

impl QueryId for ClaimStatement<'_> {
    type QueryId = ClaimStatementId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for ClaimStatement<'_> {
    type SqlType = Untyped;
}

impl RunQueryDsl<PgConnection> for ClaimStatement<'_> {}

impl QueryFragment<Pg> for ClaimStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let token = self.token;
        // `live` is `Session::liveness(..) == Liveness::Live` in SQL; keep the two the same.
        out.push_sql(
            "WITH live AS (SELECT sessions.id FROM sessions \
             JOIN users ON users.id = sessions.user_id \
             WHERE sessions.revoked_at IS NULL AND users.is_active AND sessions.id = ",
        );
        out.push_bind_param::<Text, _>(&token.session_id)?;
        out.push_sql(" AND users.id = ");
        out.push_bind_param::<Text, _>(&token.user_id)?;
        out.push_sql(" AND sessions.created_at >= ");
        out.push_bind_param::<Timestamp, _>(&self.oldest_start)?;
        out.push_sql(
            "), claim AS (INSERT INTO blacklisted_tokens (jti, session_id, user_id, reason, \
             expires_at, blacklisted_at, replaced_by_jti, replaced_by_access_jti, replaced_at, \
             replays) SELECT ",
        );
        out.push_bind_param::<Text, _>(&token.jti)?;
        out.push_sql(", live.id, ");
        out.push_bind_param::<Text, _>(&token.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&token.reason)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&token.expires_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&token.blacklisted_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&token.replaced_by_jti)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&token.replaced_by_access_jti)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Timestamp>, _>(&token.replaced_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(&token.replays)?;
        out.push_sql(
            " FROM live RETURNING session_id, user_id), \
             extended AS (UPDATE sessions SET expires_at = ",
        );
        out.push_bind_param::<Timestamp, _>(&self.session_expires_at)?;
        out.push_sql(", last_used_at = ");
        out.push_bind_param::<Timestamp, _>(&token.blacklisted_at)?;
        out.push_sql(
            " WHERE sessions.id IN (SELECT session_id FROM claim)) \
             SELECT users.* FROM users WHERE users.id IN (SELECT user_id FROM claim)",
        );
        Ok(())
    }
}
