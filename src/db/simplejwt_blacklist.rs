//! The `simplejwt_blacklist` table: refresh tokens that simplejwt had blacklisted when the
//! Django users were imported, so that none of them can be exchanged during the cut-over.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::simplejwt_blacklist;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = simplejwt_blacklist)]
pub struct SimplejwtBlacklisted {
    pub jti: String,
    pub legacy_user_id: String,
    pub expires_at: NaiveDateTime,
}

impl SimplejwtBlacklisted {
    /// Adds the rows not there yet (an import runs again and again); returns how many were new.
    pub fn insert_new(
        conn: &mut DbConnection,
        rows: &[SimplejwtBlacklisted],
    ) -> QueryResult<usize> {
        let mut added = 0;
        for row in rows {
            if !Self::contains(conn, &row.jti)? {
                added += diesel::insert_into(simplejwt_blacklist::table)
                    .values(row)
                    .execute(conn)?;
            }
        }
        Ok(added)
    }

    pub fn contains(conn: &mut DbConnection, jti: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(simplejwt_blacklist::table.find(jti))).get_result(conn)
    }

    pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(simplejwt_blacklist::table.filter(simplejwt_blacklist::expires_at.lt(now)))
            .execute(conn)
    }
}
