//! The `signing_keys` table: keys authd made itself, their private halves sealed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::signing_keys;
use super::DbConnection;

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct StoredSigningKey {
    pub kid: String,
    pub algorithm: String,
    /// SPKI PEM.
    pub public_key: String,
    /// The PKCS#8 PEM, sealed by `auth::keys::sealed`; useless without the key-encryption key,
    /// but kept out of `Debug` all the same.
    pub private_key_sealed: String,
    pub created_at: NaiveDateTime,
    pub activates_at: NaiveDateTime,
    pub retires_at: Option<NaiveDateTime>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retires_at", &self.retires_at)
            .finish_non_exhaustive()
    }
}

impl StoredSigningKey {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(signing_keys::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    /// Every key, oldest activation first.
    pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<Self>> {
        signing_keys::table
            .select(Self::as_select())
            .order((signing_keys::activates_at.asc(), signing_keys::kid.asc()))
            .load(conn)
    }

    /// Ends the signing of every key that has no end yet, at `at` (the next key's activation).
    pub fn retire_current(conn: &mut DbConnection, at: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(signing_keys::table.filter(signing_keys::retires_at.is_null()))
            .set(signing_keys::retires_at.eq(at))
            .execute(conn)
    }

    /// Inside a transaction: waits until no other process holds the rotation lock, and holds it
    /// until the transaction ends, so of replicas deciding to rotate at once one does and the
    /// others then see its key. PostgreSQL: a transaction-scoped advisory lock. SQLite: a write
    /// that changes nothing but takes the database's one write lock (busy_timeout waits for it).
    pub fn lock_for_rotation(conn: &mut DbConnection) -> QueryResult<()> {
        /// "authd-keys" in ASCII, an arbitrary number no other lock of authd uses.
        const ROTATION_LOCK: i64 = 0x6175_7468_642d_6b65;
        match conn {
            DbConnection::Postgres(pg) => {
                diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                    .bind::<diesel::sql_types::BigInt, _>(ROTATION_LOCK)
                    .execute(pg)?;
            }
            DbConnection::Sqlite(sqlite) => {
                diesel::sql_query("DELETE FROM signing_keys WHERE 1 = 0").execute(sqlite)?;
            }
        }
        Ok(())
    }
}
