//! The `blacklisted_tokens` table: refresh tokens that may not be used again.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::blacklisted_tokens;
use super::DbConnection;

pub const REASON_ROTATED: &str = "rotated";
pub const REASON_LOGOUT: &str = "logout";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = blacklisted_tokens)]
pub struct BlacklistedToken {
    pub jti: String,
    pub session_id: String,
    pub user_id: String,
    pub reason: String,
    pub expires_at: NaiveDateTime,
    pub blacklisted_at: NaiveDateTime,
    /// For a rotated token: the pair that replaced it, so a retry within the grace period
    /// can be given the very same pair.
    pub replaced_by_jti: Option<String>,
    pub replaced_by_access_jti: Option<String>,
    pub replaced_at: Option<NaiveDateTime>,
    pub replays: i32,
}

impl BlacklistedToken {
    /// Inserting is how a token is claimed: of concurrent inserts of one jti exactly one
    /// succeeds and the others fail with a unique violation (see `db::is_unique_violation`).
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::insert_into(blacklisted_tokens::table)
            .values(self)
            .execute(conn)
    }

    pub fn find(conn: &mut DbConnection, jti: &str) -> QueryResult<Option<BlacklistedToken>> {
        blacklisted_tokens::table
            .find(jti)
            .select(BlacklistedToken::as_select())
            .first(conn)
            .optional()
    }

    /// Counts one retry of a rotated token within the grace period, for the record: a token
    /// retried many times may have been copied.
    pub fn record_replay(conn: &mut DbConnection, jti: &str) -> QueryResult<()> {
        diesel::update(blacklisted_tokens::table.find(jti))
            .set(blacklisted_tokens::replays.eq(blacklisted_tokens::replays + 1))
            .execute(conn)?;
        Ok(())
    }

    pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(blacklisted_tokens::table.filter(blacklisted_tokens::expires_at.lt(now)))
            .execute(conn)
    }
}
