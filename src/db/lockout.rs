//! The `login_failures` and `login_sources` tables: failed password checks per login key, and
//! the addresses accounts signed in from. The rules that use them are in `auth::lockout`.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Timestamp};

use super::schema::{login_failures, login_sources};
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_failures)]
pub struct LoginFailures {
    pub login_key: String,
    pub failures: i32,
    pub window_started_at: NaiveDateTime,
    pub lockouts: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

impl LoginFailures {
    pub fn find(conn: &mut DbConnection, key: &str) -> QueryResult<Option<Self>> {
        login_failures::table
            .find(key)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Counts one failure in one statement, so concurrent failures are all counted: a window
    /// that started before `window_start` starts again at `now`, and locks in a row are
    /// forgotten once the key was quiet since `quiet_since`. Inserts the row for a first failure.
    pub fn count_failure(
        conn: &mut DbConnection,
        key: &str,
        now: NaiveDateTime,
        window_start: NaiveDateTime,
        quiet_since: NaiveDateTime,
    ) -> QueryResult<()> {
        let updated = diesel::update(login_failures::table.find(key))
            .set((
                login_failures::failures.eq(sql::<Integer>("CASE WHEN window_started_at < ")
                    .bind::<Timestamp, _>(window_start)
                    .sql(" THEN 1 ELSE failures + 1 END")),
                login_failures::window_started_at.eq(sql::<Timestamp>(
                    "CASE WHEN window_started_at < ",
                )
                .bind::<Timestamp, _>(window_start)
                .sql(" THEN ")
                .bind::<Timestamp, _>(now)
                .sql(" ELSE window_started_at END")),
                login_failures::lockouts.eq(sql::<Integer>("CASE WHEN updated_at < ")
                    .bind::<Timestamp, _>(quiet_since)
                    .sql(" THEN 0 ELSE lockouts END")),
                login_failures::updated_at.eq(now),
            ))
            .execute(conn)?;
        if updated == 1 {
            return Ok(());
        }
        let first = LoginFailures {
            login_key: key.to_owned(),
            failures: 1,
            window_started_at: now,
            lockouts: 0,
            locked_until: None,
            updated_at: now,
        };
        match diesel::insert_into(login_failures::table)
            .values(&first)
            .execute(conn)
        {
            // Another failure inserted it first: count this one on top.
            Err(error) if super::is_unique_violation(&error) => {
                Self::count_failure(conn, key, now, window_start, quiet_since)
            }
            other => other.map(|_| ()),
        }
    }

    /// Starts a lock when the failures reached `max_failures`: the count starts again and the
    /// lock counter goes up. Only one of concurrent callers wins; it gets the lock number, and
    /// then sets the end with `lock_until`.
    pub fn start_lock(
        conn: &mut DbConnection,
        key: &str,
        max_failures: i32,
    ) -> QueryResult<Option<i32>> {
        let started = diesel::update(
            login_failures::table
                .find(key)
                .filter(login_failures::failures.ge(max_failures)),
        )
        .set((
            login_failures::failures.eq(0),
            login_failures::lockouts.eq(login_failures::lockouts + 1),
        ))
        .execute(conn)?;
        if started == 0 {
            return Ok(None);
        }
        Ok(Self::find(conn, key)?.map(|row| row.lockouts))
    }

    pub fn lock_until(conn: &mut DbConnection, key: &str, until: NaiveDateTime) -> QueryResult<()> {
        diesel::update(login_failures::table.find(key))
            .set(login_failures::locked_until.eq(until))
            .execute(conn)
            .map(|_| ())
    }

    pub fn clear(conn: &mut DbConnection, key: &str) -> QueryResult<usize> {
        diesel::delete(login_failures::table.find(key)).execute(conn)
    }

    pub fn delete_quiet_since(conn: &mut DbConnection, since: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(login_failures::table.filter(login_failures::updated_at.lt(since)))
            .execute(conn)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_sources)]
pub struct LoginSource {
    pub user_id: String,
    pub address: String,
    pub last_success_at: NaiveDateTime,
}

impl LoginSource {
    /// Whether the user signed in from `address` at `since` or later.
    pub fn is_familiar(
        conn: &mut DbConnection,
        user_id: &str,
        address: &str,
        since: NaiveDateTime,
    ) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            login_sources::table
                .find((user_id, address))
                .filter(login_sources::last_success_at.ge(since)),
        ))
        .get_result(conn)
    }

    pub fn record(&self, conn: &mut DbConnection) -> QueryResult<()> {
        let updated = diesel::update(login_sources::table.find((&self.user_id, &self.address)))
            .set(login_sources::last_success_at.eq(self.last_success_at))
            .execute(conn)?;
        if updated == 1 {
            return Ok(());
        }
        match diesel::insert_into(login_sources::table)
            .values(self)
            .execute(conn)
        {
            Err(error) if super::is_unique_violation(&error) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    pub fn delete_older_than(conn: &mut DbConnection, since: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(login_sources::table.filter(login_sources::last_success_at.lt(since)))
            .execute(conn)
    }
}
