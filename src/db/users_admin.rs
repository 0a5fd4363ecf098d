//! The users table as administration sees it: search with cursor pages, every field changed
//! at once, and deletion of a user with everything that points at them.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::audit::AuditEvent;
use super::schema::{email_outbox, login_failures, oidc_states, users};
use super::users::User;
use super::{DbConnection, Position};

/// Which users a page holds. `text` is lower-case and matched as a substring of the email, the
/// username, or "first last".
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub text: Option<String>,
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
    pub created_after: Option<NaiveDateTime>,
}

/// What an admin may change; `None` leaves a field as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct AdminChanges {
    pub email: Option<String>,
    pub email_key: Option<String>,
    pub username: Option<Option<String>>,
    pub username_key: Option<Option<String>>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email_verified: Option<bool>,
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

/// `%`, `_` and the escape character itself match literally.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl User {
    /// Up to `limit` users matching `filter`, newest first, after `from` (exclusive). On
    /// PostgreSQL the text search uses the trigram indexes; the expression for the names is
    /// the indexed one, character for character.
    pub fn page(
        conn: &mut DbConnection,
        filter: &UserFilter,
        from: Option<&Position>,
        limit: i64,
    ) -> QueryResult<Vec<User>> {
        let mut query = users::table.select(User::as_select()).into_boxed();
        if let Some(text) = &filter.text {
            let pattern = like_pattern(text);
            query = query.filter(
                sql::<Bool>("(email_key LIKE ")
                    .bind::<Text, _>(pattern.clone())
                    .sql(" ESCAPE '\\' OR username_key LIKE ")
                    .bind::<Text, _>(pattern.clone())
                    .sql(" ESCAPE '\\' OR lower(first_name || ' ' || last_name) LIKE ")
                    .bind::<Text, _>(pattern)
                    .sql(" ESCAPE '\\')"),
            );
        }
        // Literals, not bound values: a partial index (`users_staff_created`,
        // `users_inactive_created`) is only used when the planner sees the predicate itself,
        // which a generic plan of a prepared statement with a parameter does not show it.
        if let Some(active) = filter.is_active {
            query = query.filter(sql::<Bool>(if active {
                "is_active"
            } else {
                "NOT is_active"
            }));
        }
        if let Some(staff) = filter.is_staff {
            query = query.filter(sql::<Bool>(if staff { "is_staff" } else { "NOT is_staff" }));
        }
        if let Some(after) = filter.created_after {
            query = query.filter(users::created_at.gt(after));
        }
        if let Some(from) = from {
            query = query.filter(
                users::created_at.lt(from.created_at).or(users::created_at
                    .eq(from.created_at)
                    .and(users::id.lt(from.id.clone()))),
            );
        }
        query
            .order((users::created_at.desc(), users::id.desc()))
            .limit(limit)
            .load(conn)
    }

    pub fn apply_admin_changes(
        conn: &mut DbConnection,
        id: &str,
        changes: &AdminChanges,
    ) -> QueryResult<User> {
        diesel::update(users::table.find(id))
            .set(changes)
            .execute(conn)?;
        Self::find_by_id(conn, id)
    }

    /// Deletes the user and everything that points at them: sessions (and their blacklist
    /// rows), provider identities, lockout state, emailed tokens and messages to their
    /// address, pending provider links. Their audit events stay, without ip and user agent.
    /// Returns whether the user existed. Run it in a transaction.
    pub fn delete_with_everything(conn: &mut DbConnection, user: &User) -> QueryResult<bool> {
        diesel::delete(
            login_failures::table.filter(login_failures::login_key.eq(format!("user:{}", user.id))),
        )
        .execute(conn)?;
        diesel::delete(email_outbox::table.filter(email_outbox::recipient.eq(&user.email)))
            .execute(conn)?;
        diesel::delete(oidc_states::table.filter(oidc_states::link_user_id.eq(&user.id)))
            .execute(conn)?;
        AuditEvent::forget_origin_of_user(conn, &user.id)?;
        // Sessions, blacklist rows, identities, login sources and email tokens cascade.
        let deleted = diesel::delete(users::table.find(&user.id)).execute(conn)?;
        Ok(deleted == 1)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn wildcards_in_a_search_match_literally() {
        assert_eq!(super::like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
