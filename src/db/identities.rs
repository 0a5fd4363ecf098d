//! The `identities` table: a user's accounts at external providers.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::identities;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = identities)]
pub struct Identity {
    pub id: String,
    pub user_id: String,
    pub provider: String,
    /// The provider's stable id for the person (`sub`; GitHub's numeric user id).
    pub subject: String,
    pub email: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
}

impl Identity {
    pub fn new(user_id: &str, provider: &str, subject: &str, email: Option<String>) -> Self {
        let now = super::now();
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.to_owned(),
            provider: provider.to_owned(),
            subject: subject.to_owned(),
            email,
            created_at: now,
            last_used_at: now,
        }
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::insert_into(identities::table)
            .values(self)
            .execute(conn)
    }

    pub fn find(
        conn: &mut DbConnection,
        provider: &str,
        subject: &str,
    ) -> QueryResult<Option<Identity>> {
        identities::table
            .filter(identities::provider.eq(provider))
            .filter(identities::subject.eq(subject))
            .select(Identity::as_select())
            .first(conn)
            .optional()
    }

    pub fn list_of_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<Identity>> {
        identities::table
            .filter(identities::user_id.eq(user_id))
            .order(identities::created_at.asc())
            .select(Identity::as_select())
            .load(conn)
    }

    pub fn touch(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
        diesel::update(identities::table.find(id))
            .set(identities::last_used_at.eq(super::now()))
            .execute(conn)
    }

    pub fn delete_of_user(conn: &mut DbConnection, id: &str, user_id: &str) -> QueryResult<usize> {
        diesel::delete(
            identities::table
                .find(id)
                .filter(identities::user_id.eq(user_id)),
        )
        .execute(conn)
    }
}
