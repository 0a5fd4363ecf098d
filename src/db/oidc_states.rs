//! The `oidc_states` table: what an authorize request must hand to its callback.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::oidc_states;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_states)]
pub struct OidcState {
    pub state: String,
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub redirect_uri: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// S256 of the secret the browser that started the sign-in keeps.
    pub browser_challenge: Option<String>,
    /// For linking: the user who started it.
    pub link_user_id: Option<String>,
}

impl OidcState {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::insert_into(oidc_states::table)
            .values(self)
            .execute(conn)
    }

    /// Reads and deletes a state in one go; only the caller whose delete removed the row gets
    /// it, so a state can be used once even by concurrent callbacks.
    pub fn consume(conn: &mut DbConnection, state: &str) -> QueryResult<Option<OidcState>> {
        let Some(found) = oidc_states::table
            .find(state)
            .select(OidcState::as_select())
            .first(conn)
            .optional()?
        else {
            return Ok(None);
        };
        let deleted = diesel::delete(oidc_states::table.find(state)).execute(conn)?;
        Ok((deleted == 1).then_some(found))
    }

    /// Sign-ins started and not yet finished or expired.
    pub fn count_pending(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<u64> {
        let count: i64 = oidc_states::table
            .filter(oidc_states::expires_at.ge(now))
            .count()
            .get_result(conn)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(oidc_states::table.filter(oidc_states::expires_at.lt(now))).execute(conn)
    }
}
