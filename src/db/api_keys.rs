//! The `api_keys` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{api_keys, users};
use super::users::User;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// Public: it names the key in lists and logs, and finds its row.
    pub prefix: String,
    /// Hex SHA-256 of the whole key.
    pub key_sha256: String,
    /// Space-separated.
    pub scopes: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

impl ApiKey {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(api_keys::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    /// The key with this prefix and its user, revoked or not.
    pub fn find_by_prefix(
        conn: &mut DbConnection,
        prefix: &str,
    ) -> QueryResult<Option<(ApiKey, User)>> {
        api_keys::table
            .inner_join(users::table)
            .filter(api_keys::prefix.eq(prefix))
            .select((ApiKey::as_select(), User::as_select()))
            .first(conn)
            .optional()
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ApiKey>> {
        api_keys::table
            .find(id)
            .select(ApiKey::as_select())
            .first(conn)
            .optional()
    }

    /// A user's keys, newest first (revoked ones too, so the list explains itself).
    pub fn of_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<ApiKey>> {
        api_keys::table
            .filter(api_keys::user_id.eq(user_id))
            .order((api_keys::created_at.desc(), api_keys::id.desc()))
            .select(ApiKey::as_select())
            .load(conn)
    }

    /// Revokes key `id` if it is not yet; returns whether it was live.
    pub fn revoke(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<bool> {
        diesel::update(
            api_keys::table
                .find(id)
                .filter(api_keys::revoked_at.is_null()),
        )
        .set(api_keys::revoked_at.eq(at))
        .execute(conn)
        .map(|n| n == 1)
    }

    pub fn touch(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(api_keys::table.find(id))
            .set(api_keys::last_used_at.eq(at))
            .execute(conn)
    }
}
