//! Storage: one diesel connection type over PostgreSQL and SQLite, an r2d2 pool of it, and the
//! embedded migrations of each backend.

pub mod api_keys;
pub mod audit;
pub mod blacklist;
pub mod django_source;
pub mod email_tokens;
pub mod health;
pub mod identities;
pub mod imported_users;
pub mod lockout;
pub mod oidc_states;
pub mod outbox;
mod rotation;
pub mod schema;
pub mod sessions;
pub mod signing_keys;
pub mod simplejwt_blacklist;
pub mod users;
pub mod users_admin;

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// A position in a newest-first listing (the admin users, the audit log): the last row of the
/// previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub created_at: chrono::NaiveDateTime,
    pub id: String,
}

/// Every query in authd is written once against this type; diesel dispatches to the backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = r2d2::Pool<DbConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<DbConnectionManager>;

/// What the pool holds: a connection, and whether a failed request found it dead. The pool
/// does not ping a connection before handing it out: that was one more round trip for every
/// request, and cost a third of the PostgreSQL throughput of `me` and refresh (bench/README.md).
/// Instead a request that failed with a server error checks its connection
/// (`check_after_failure`), and a dead one is dropped when it goes back, so after the database
/// restarts each pooled connection fails at most one request.
pub struct PoolEntry {
    conn: DbConnection,
    dead: bool,
    read_only: bool,
}

impl PoolEntry {
    /// SQLite: makes the connection refuse writes (`PRAGMA query_only`), or accept them again.
    /// Reads run on the async workers (`AppState::db`), where a write waiting for SQLite's
    /// lock would stall every request of that worker; a connection handed out for reading
    /// refuses a write at once instead, so a handler that writes through `db` rather than
    /// `db_write` fails its tests. The pragma is sent only when the mode changes.
    /// PostgreSQL: nothing to do, its reads never run on an async worker.
    pub fn set_read_only(&mut self, read_only: bool) -> diesel::QueryResult<()> {
        if self.read_only != read_only {
            if let DbConnection::Sqlite(conn) = &mut self.conn {
                conn.batch_execute(if read_only {
                    "PRAGMA query_only = ON"
                } else {
                    "PRAGMA query_only = OFF"
                })?;
            }
            self.read_only = read_only;
        }
        Ok(())
    }

    pub fn check_after_failure(&mut self) {
        self.dead = self.conn.batch_execute("SELECT 1").is_err();
        if self.dead {
            log::warn!("database connection lost; it leaves the pool");
        }
    }
}

impl std::ops::Deref for PoolEntry {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PoolEntry {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// The database a URL points at. The scheme decides: `MultiConnection::establish` would try
/// each backend in turn, and SQLite accepts any string as a file name.
#[derive(Clone, PartialEq, Eq)]
pub enum DbTarget {
    Postgres(String),
    Sqlite(PathBuf),
}

impl std::fmt::Debug for DbTarget {
    // The PostgreSQL URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbTarget::Postgres(_) => f.write_str("Postgres(..)"),
            DbTarget::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
        }
    }
}

impl DbTarget {
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbTarget::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() || url.contains("://") && !url.starts_with("sqlite://") {
            return Err(format!(
                "database.url must start with postgres://, postgresql:// or sqlite:// (got scheme {:?})",
                url.split("://").next().unwrap_or_default()
            ));
        }
        Ok(DbTarget::Sqlite(PathBuf::from(path)))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            DbTarget::Postgres(_) => "postgres",
            DbTarget::Sqlite(_) => "sqlite",
        }
    }

    /// The folder of the SQLite file, where a generated signing key is kept too.
    pub fn sqlite_dir(&self) -> Option<&Path> {
        match self {
            DbTarget::Sqlite(path) => Some(path.parent().unwrap_or(Path::new("."))),
            DbTarget::Postgres(_) => None,
        }
    }

    /// One connection, configured as the pool's are.
    pub fn connect(&self) -> diesel::ConnectionResult<DbConnection> {
        match self {
            DbTarget::Postgres(url) => PgConnection::establish(url).map(DbConnection::Postgres),
            DbTarget::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // WAL lets readers run beside the one writer; busy_timeout makes concurrent
                // writers wait for each other instead of failing with SQLITE_BUSY.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                )
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

pub struct DbConnectionManager {
    target: DbTarget,
}

impl ManageConnection for DbConnectionManager {
    type Connection = PoolEntry;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<PoolEntry, r2d2::Error> {
        let conn = self
            .target
            .connect()
            .map_err(r2d2::Error::ConnectionError)?;
        Ok(PoolEntry {
            conn,
            dead: false,
            read_only: false,
        })
    }

    fn is_valid(&self, entry: &mut PoolEntry) -> Result<(), r2d2::Error> {
        entry
            .conn
            .batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    /// Dead, or left inside a transaction (diesel's own check).
    fn has_broken(&self, entry: &mut PoolEntry) -> bool {
        entry.dead || diesel::r2d2::R2D2Connection::is_broken(&mut entry.conn)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("{0}")]
    Url(String),
    #[error("cannot create the folder {path} for the SQLite database: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot connect to the {backend} database: {source}")]
    Connect {
        backend: &'static str,
        source: diesel::r2d2::PoolError,
    },
    #[error("migrations failed: {0}")]
    Migrate(String),
}

/// Builds the pool, creating the SQLite file's folder first. Connections are opened lazily
/// except the first, so a wrong URL fails at start-up rather than at the first request.
pub fn connect_pool(
    target: &DbTarget,
    max_connections: u32,
    connect_timeout: Duration,
) -> Result<DbPool, DbSetupError> {
    if let Some(dir) = target.sqlite_dir() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|source| DbSetupError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
    }
    r2d2::Pool::builder()
        .max_size(max_connections.max(1))
        .min_idle(Some(1))
        // See `PoolEntry`.
        .test_on_check_out(false)
        .connection_timeout(connect_timeout)
        .build(DbConnectionManager {
            target: target.clone(),
        })
        .map_err(|source| DbSetupError::Connect {
            backend: target.backend_name(),
            source,
        })
}

/// The PostgreSQL advisory lock that makes migrations run one process at a time.
const MIGRATION_LOCK: i64 = 0x6175_7468_645f_6d69; // "authd_mi"

/// Applies the pending migrations of the connection's own backend; returns their names.
///
/// On PostgreSQL, replicas that start together would otherwise all see the same migrations
/// pending and race to apply them (diesel takes no lock): the losers fail on "relation
/// already exists" and crash-loop. All pending migrations run in one transaction that first
/// takes a transaction-level advisory lock, so the replicas queue and each one after the first
/// finds nothing left to do. A transaction-level lock is released by the commit or rollback
/// whatever happens, also through PgBouncer in transaction mode, where a session lock could
/// stay behind on a server connection. (Every migration must therefore be able to run in a
/// transaction: no `CREATE INDEX CONCURRENTLY`.)
pub fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, DbSetupError> {
    fn names(versions: &[diesel::migration::MigrationVersion<'_>]) -> Vec<String> {
        versions.iter().map(ToString::to_string).collect()
    }
    let failed = |e: &dyn std::fmt::Display| DbSetupError::Migrate(e.to_string());
    match conn {
        DbConnection::Postgres(pg) => pg
            .transaction(|pg| {
                pg.batch_execute(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))?;
                Ok(names(&pg.run_pending_migrations(POSTGRES_MIGRATIONS)?))
            })
            .map_err(|e: Box<dyn std::error::Error + Send + Sync>| failed(&e)),
        DbConnection::Sqlite(sqlite) => sqlite
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|versions| names(&versions))
            .map_err(|e| failed(&e)),
    }
}

/// Now, as stored: naive UTC with microsecond precision (what both backends keep).
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{SubsecRound, Utc};
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// True when the error is a unique-constraint violation: the loser of an insert race.
pub fn is_unique_violation(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Which uniqueness a violation was about, so that each race gets its own answer (an email
/// taken by a concurrent sign-up is not an identity linked elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    Email,
    Username,
    Identity,
    Other,
}

/// The field of a unique violation, from PostgreSQL's constraint name (`users_email_key_key`)
/// or SQLite's message (`UNIQUE constraint failed: users.email_key`); `None` for other errors.
pub fn unique_violation(error: &diesel::result::Error) -> Option<UniqueField> {
    let diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::UniqueViolation,
        info,
    ) = error
    else {
        return None;
    };
    let described = format!(
        "{} {}",
        info.constraint_name().unwrap_or_default(),
        info.message()
    );
    Some(if described.contains("email_key") {
        UniqueField::Email
    } else if described.contains("username_key") {
        UniqueField::Username
    } else if described.contains("identities") {
        UniqueField::Identity
    } else {
        UniqueField::Other
    })
}

/// Errors that say the database cannot take writes (or any work) right now, rather than that
/// the request is wrong: full disk, read-only file or server (a replica after a fail-over),
/// a lock held past the busy timeout, serialization failures and deadlocks, a server shutting
/// down. The client should retry: 503 with `Retry-After`.
pub fn is_unavailable(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    let Error::DatabaseError(kind, info) = error else {
        return false;
    };
    if matches!(
        kind,
        DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::SerializationFailure
            | DatabaseErrorKind::ReadOnlyTransaction
    ) {
        return true;
    }
    let message = info.message();
    [
        // SQLite
        "database or disk is full",
        "attempt to write a readonly database",
        "database is locked",
        "disk I/O error",
        // PostgreSQL
        "deadlock detected",
        "read-only transaction",
        "the database system is",
        "terminating connection",
        "could not extend file",
        "No space left on device",
    ]
    .iter()
    .any(|known| message.contains(known))
}

/// The error of a transaction whose body speaks `ApiError` but must also carry diesel's
/// errors back to `Connection::transaction` (which needs `From<diesel::result::Error>`).
#[derive(Debug)]
pub enum TxError {
    Db(diesel::result::Error),
    Api(crate::errors::ApiError),
}

impl From<diesel::result::Error> for TxError {
    fn from(error: diesel::result::Error) -> Self {
        TxError::Db(error)
    }
}

impl From<crate::errors::ApiError> for TxError {
    fn from(error: crate::errors::ApiError) -> Self {
        TxError::Api(error)
    }
}

impl TxError {
    /// A unique violation becomes `on_conflict(field)`; other database errors the usual mapping.
    pub fn into_api(
        self,
        on_conflict: impl FnOnce(UniqueField) -> crate::errors::ApiError,
    ) -> crate::errors::ApiError {
        match self {
            TxError::Db(error) => match unique_violation(&error) {
                Some(field) => on_conflict(field),
                None => error.into(),
            },
            TxError::Api(error) => error,
        }
    }
}
