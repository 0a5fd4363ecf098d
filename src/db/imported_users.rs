//! Writing users brought over by `authd import-django`: matched on their Django id, so that
//! running the import again updates them.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::users;
use super::DbConnection;

/// The columns an import sets on a user it imported before. `None` leaves a column alone.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct ImportChanges {
    pub email: Option<String>,
    pub email_key: Option<String>,
    pub username: Option<Option<String>>,
    pub username_key: Option<Option<String>>,
    pub password_hash: Option<Option<String>>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub email_verified: Option<bool>,
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
    pub last_login_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn update(conn: &mut DbConnection, id: &str, changes: &ImportChanges) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set(changes)
        .execute(conn)
}

/// PostgreSQL plans `key = ANY($1)` on the email and username keys with the admin search's
/// trigram GIN indexes, at about 10 ms a key (measured: 100,000 unchanged users took 190 s
/// to re-import); with bitmap scans off it walks the unique B-tree indexes. Set on the import
/// command's own connection only.
pub fn prefer_btree_lookups(conn: &mut DbConnection) -> QueryResult<()> {
    use diesel::connection::SimpleConnection as _;
    match conn {
        DbConnection::Postgres(pg) => pg.batch_execute("SET enable_bitmapscan = off"),
        DbConnection::Sqlite(_) => Ok(()),
    }
}

/// Key → the Django id of the user holding it (`None`: an account made in authd).
pub type Holders = HashMap<String, Option<String>>;

/// Which users hold these email keys (or username keys), with the Django id they came from.
pub fn holders(
    conn: &mut DbConnection,
    email_keys: &[String],
    username_keys: &[String],
) -> QueryResult<(Holders, Holders)> {
    let mut emails = HashMap::new();
    let mut usernames = HashMap::new();
    // Bounded IN lists: SQLite allows 32766 parameters, PostgreSQL 65535.
    for chunk in email_keys.chunks(1000) {
        let rows: Vec<(String, Option<String>)> = users::table
            .filter(users::email_key.eq_any(chunk))
            .select((users::email_key, users::legacy_id))
            .load(conn)?;
        emails.extend(rows);
    }
    for chunk in username_keys.chunks(1000) {
        let rows: Vec<(Option<String>, Option<String>)> = users::table
            .filter(users::username_key.eq_any(chunk))
            .select((users::username_key, users::legacy_id))
            .load(conn)?;
        usernames.extend(rows.into_iter().filter_map(|(k, id)| Some((k?, id))));
    }
    Ok((emails, usernames))
}
