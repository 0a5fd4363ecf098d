//! The `email_tokens` table: the SHA-256 of each emailed token, with its purpose, user,
//! lifetime and use. The rules are in `auth::email_tokens`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::email_tokens;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = email_tokens)]
pub struct EmailToken {
    pub token_hash: String,
    pub purpose: String,
    pub user_id: Option<String>,
    pub email: String,
    pub email_at_issue: String,
    pub password_at_issue: String,
    pub code_hash: Option<String>,
    pub code_attempts: i32,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

impl EmailToken {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::insert_into(email_tokens::table)
            .values(self)
            .execute(conn)
    }

    pub fn find(conn: &mut DbConnection, token_hash: &str) -> QueryResult<Option<Self>> {
        email_tokens::table
            .find(token_hash)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Uses the token up if it is still unused and unexpired; of concurrent uses one wins.
    pub fn use_once(
        conn: &mut DbConnection,
        token_hash: &str,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let used = diesel::update(
            email_tokens::table
                .find(token_hash)
                .filter(email_tokens::used_at.is_null())
                .filter(email_tokens::expires_at.gt(now)),
        )
        .set(email_tokens::used_at.eq(now))
        .execute(conn)?;
        Ok(used == 1)
    }

    /// The newest usable sign-in token sent to `email` that has a code.
    pub fn latest_with_code(
        conn: &mut DbConnection,
        purpose: &str,
        email: &str,
        now: NaiveDateTime,
    ) -> QueryResult<Option<Self>> {
        email_tokens::table
            .filter(email_tokens::purpose.eq(purpose))
            .filter(email_tokens::email.eq(email))
            .filter(email_tokens::code_hash.is_not_null())
            .filter(email_tokens::used_at.is_null())
            .filter(email_tokens::expires_at.gt(now))
            .order(email_tokens::created_at.desc())
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Counts a wrong code; at `max` wrong codes the token is used up (it dies).
    pub fn count_wrong_code(
        conn: &mut DbConnection,
        token_hash: &str,
        max: i32,
        now: NaiveDateTime,
    ) -> QueryResult<()> {
        diesel::update(email_tokens::table.find(token_hash))
            .set(email_tokens::code_attempts.eq(email_tokens::code_attempts + 1))
            .execute(conn)?;
        diesel::update(
            email_tokens::table
                .find(token_hash)
                .filter(email_tokens::code_attempts.ge(max))
                .filter(email_tokens::used_at.is_null()),
        )
        .set(email_tokens::used_at.eq(now))
        .execute(conn)
        .map(|_| ())
    }

    pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(email_tokens::table.filter(email_tokens::expires_at.lt(now))).execute(conn)
    }
}
