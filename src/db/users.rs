//! The `users` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::users;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Identifiable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub email: String,
    pub email_key: String,
    pub username: Option<String>,
    pub username_key: Option<String>,
    pub password_hash: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub email_verified: bool,
    pub is_active: bool,
    pub is_staff: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The user's id in the Django project they were imported from (`authd import-django`).
    pub legacy_id: Option<String>,
    pub last_login_at: Option<NaiveDateTime>,
}

/// The profile fields a user may change; `None` leaves a field as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct ProfileChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub username: Option<Option<String>>,
    pub username_key: Option<Option<String>>,
    pub updated_at: Option<NaiveDateTime>,
}

/// Which unique column an insert or update collided with.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    Email,
    Username,
}

impl User {
    /// A new account for `email` (with its case-folded `email_key`): active, not staff, email
    /// not verified, no username, password or names. Callers set what they know.
    pub fn new_account(email: &str, email_key: String, now: NaiveDateTime) -> Self {
        User {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.to_owned(),
            email_key,
            username: None,
            username_key: None,
            password_hash: None,
            first_name: String::new(),
            last_name: String::new(),
            phone: String::new(),
            email_verified: false,
            is_active: true,
            is_staff: false,
            created_at: now,
            updated_at: now,
            legacy_id: None,
            last_login_at: None,
        }
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::insert_into(users::table).values(self).execute(conn)
    }

    pub fn find_by_id(conn: &mut DbConnection, id: &str) -> QueryResult<User> {
        users::table.find(id).select(User::as_select()).first(conn)
    }

    pub fn find_by_email_key(conn: &mut DbConnection, key: &str) -> QueryResult<Option<User>> {
        users::table
            .filter(users::email_key.eq(key))
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    pub fn find_by_username_key(conn: &mut DbConnection, key: &str) -> QueryResult<Option<User>> {
        users::table
            .filter(users::username_key.eq(key))
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    pub fn find_by_legacy_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<User>> {
        users::table
            .filter(users::legacy_id.eq(id))
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    pub fn record_login(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set(users::last_login_at.eq(at))
            .execute(conn)?;
        Ok(())
    }

    /// Which of the given keys already belongs to another user (the nicer error before the
    /// unique index would refuse the write anyway).
    pub fn find_taken(
        conn: &mut DbConnection,
        email_key: Option<&str>,
        username_key: Option<&str>,
    ) -> QueryResult<Option<Taken>> {
        if let Some(key) = email_key {
            if Self::find_by_email_key(conn, key)?.is_some() {
                return Ok(Some(Taken::Email));
            }
        }
        if let Some(key) = username_key {
            if Self::find_by_username_key(conn, key)?.is_some() {
                return Ok(Some(Taken::Username));
            }
        }
        Ok(None)
    }

    pub fn update_profile(
        conn: &mut DbConnection,
        id: &str,
        changes: &ProfileChanges,
    ) -> QueryResult<User> {
        diesel::update(users::table.find(id))
            .set(changes)
            .execute(conn)?;
        Self::find_by_id(conn, id)
    }

    pub fn set_password_hash(conn: &mut DbConnection, id: &str, hash: &str) -> QueryResult<usize> {
        diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(hash),
                users::updated_at.eq(super::now()),
            ))
            .execute(conn)
    }

    /// The email is proven to be the user's (a provider vouched for it); a password set before
    /// that proof is dropped, since whoever set it never proved they own the address.
    pub fn confirm_email_dropping_unproven_password(
        conn: &mut DbConnection,
        user: &User,
    ) -> QueryResult<usize> {
        let password_hash = if user.email_verified {
            user.password_hash.as_deref()
        } else {
            None
        };
        diesel::update(users::table.find(&user.id))
            .set((
                users::email_verified.eq(true),
                users::password_hash.eq(password_hash),
                users::updated_at.eq(super::now()),
            ))
            .execute(conn)
    }

    /// A confirmed new address: stored, verified.
    pub fn set_email(
        conn: &mut DbConnection,
        id: &str,
        email: &str,
        email_key: &str,
    ) -> QueryResult<usize> {
        diesel::update(users::table.find(id))
            .set((
                users::email.eq(email),
                users::email_key.eq(email_key),
                users::email_verified.eq(true),
                users::updated_at.eq(super::now()),
            ))
            .execute(conn)
    }

    pub fn set_email_verified(
        conn: &mut DbConnection,
        id: &str,
        verified: bool,
    ) -> QueryResult<usize> {
        diesel::update(users::table.find(id))
            .set((
                users::email_verified.eq(verified),
                users::updated_at.eq(super::now()),
            ))
            .execute(conn)
    }

    pub fn set_active(conn: &mut DbConnection, id: &str, active: bool) -> QueryResult<usize> {
        diesel::update(users::table.find(id))
            .set((
                users::is_active.eq(active),
                users::updated_at.eq(super::now()),
            ))
            .execute(conn)
    }

    /// Users deactivated (or changed while inactive) after `since`: (id, when).
    pub fn inactive_changed_after(
        conn: &mut DbConnection,
        since: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<Vec<(String, NaiveDateTime)>> {
        users::table
            .filter(users::is_active.eq(false))
            .filter(users::updated_at.gt(since))
            .order(users::updated_at.asc())
            .limit(limit)
            .select((users::id, users::updated_at))
            .load(conn)
    }
}
