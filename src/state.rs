//! What every handler shares: the pool, the token issuer, the password hasher and the policy.

use actix_web::web;

use crate::auth::jwt::TokenIssuer;
use crate::auth::oidc::Providers;
use crate::auth::password::PasswordHasher;
use crate::auth::sessions::SessionPolicy;
use crate::config::OidcSettings;
use crate::db::health::{Admission, PROBE_TIMEOUT};
use crate::db::{DbConnection, DbPool, PooledConnection};
use crate::errors::ApiResult;

pub struct AppState {
    pub pool: DbPool,
    /// One permit per pooled connection. Requests queue for a connection here, in a fair
    /// async queue, rather than as blocking threads parked inside r2d2, whose wake-ups are
    /// neither ordered nor cheap.
    pub db_slots: tokio::sync::Semaphore,
    /// How long a request waits for a connection before 503 `database_unavailable`.
    pub db_wait: std::time::Duration,
    /// Whether connecting works; while it does not, requests fail fast (see `DbHealth`).
    pub db_health: crate::db::health::DbHealth,
    /// SQLite: one permit, held by whichever request writes. SQLite lets one connection write
    /// at a time and makes the others retry on a sleeping back-off (1, 2, 5, 10 ... 100 ms);
    /// queueing writers here instead took the p99 of refresh under load from about 110 ms to
    /// about 25 ms (bench/README.md). PostgreSQL: none, its writers only wait for the rows they share.
    pub write_turn: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// SQLite: reads run on the async worker itself. A read is a few tens of microseconds in
    /// this process, less than handing it to a blocking thread and back (two context switches);
    /// on SQLite `me` that hand-off cost a quarter of the throughput (bench/README.md). In WAL
    /// mode a read never waits for the writer, and its connection refuses writes
    /// (`PoolEntry::set_read_only`), so it cannot end up waiting for the write lock.
    /// PostgreSQL: off, a read there is a network round trip.
    pub inline_reads: bool,
    pub issuer: TokenIssuer,
    pub hasher: PasswordHasher,
    pub sessions: SessionPolicy,
    /// The window in which simplejwt refresh tokens are exchanged (`[django]`); `None`: never.
    pub simplejwt: Option<crate::auth::simplejwt::SimplejwtCutover>,
    /// Every signing and verifying key, configured and in the database, as of now.
    pub keys: std::sync::Arc<crate::auth::keys::LiveKeys>,
    pub jwks_max_age_secs: u64,
    pub openid_configuration: serde_json::Value,
    pub providers: Providers,
    pub oidc: OidcSettings,
    /// Off in SSO-only mode.
    pub local_login_enabled: bool,
    pub limits: crate::limits::RateLimits,
    pub lockout: crate::auth::lockout::LockoutPolicy,
    /// Whose forwarding headers tell the client's address.
    pub proxies: crate::routes::client_ip::TrustedProxies,
    pub oidc_max_pending_states: u64,
    /// Requests in progress per client address; `None` when not capped.
    pub in_flight: Option<std::sync::Arc<crate::routes::client_ip::InFlight>>,
    /// Email: the settings, the templates, and the outbox's delivery worker (`None` when
    /// `email.enabled` is off).
    pub mail: Option<crate::mail::MailState>,
    /// Internal services allowed on the revocation feed and introspection.
    pub services: crate::auth::services::ServiceCredentials,
    /// How far back the revocation feed reaches: an access token's lifetime plus leeway.
    pub revocation_horizon: chrono::Duration,
    /// API keys looked up lately, by prefix (`api_keys.cache_secs`).
    pub api_keys: crate::auth::api_keys::KeyCache,
    /// How long a request body may take to arrive (`server.body_timeout_secs`).
    pub body_timeout: std::time::Duration,
    /// What `/metrics` reports; recorded into even when it is not served.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl AppState {
    /// The guard of register, password login and password change.
    pub fn require_local_login(&self) -> ApiResult<()> {
        if self.local_login_enabled {
            Ok(())
        } else {
            Err(crate::errors::ApiError::local_login_disabled())
        }
    }
}

/// `state.db(|conn, state| ...)`: database work that only reads, with a pooled connection and
/// the state. Work that writes uses `db_write`, which also waits for the writer's turn on
/// SQLite; on SQLite a write through `db` fails (see `AppState::inline_reads`). Work runs on
/// actix's blocking pool, except SQLite reads, which are short enough to run in place.
pub trait WithDb {
    fn db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConnection, &AppState) -> ApiResult<T> + Send + 'static,
    ) -> impl std::future::Future<Output = ApiResult<T>>;

    fn db_write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConnection, &AppState) -> ApiResult<T> + Send + 'static,
    ) -> impl std::future::Future<Output = ApiResult<T>>;

    /// `db_write` in one transaction: an error rolls every write of `work` back.
    fn db_transaction<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConnection, &AppState) -> ApiResult<T> + Send + 'static,
    ) -> impl std::future::Future<Output = ApiResult<T>> {
        use diesel::Connection as _;
        self.db_write(move |conn, state| conn.transaction(|conn| work(conn, state)))
    }
}

/// Waits at most `wait` for a permit; 503 `database_unavailable` after that.
async fn permit<'a>(
    permits: &'a tokio::sync::Semaphore,
    wait: std::time::Duration,
    queue: &crate::metrics::QueueMetrics,
) -> ApiResult<tokio::sync::SemaphorePermit<'a>> {
    // Permits are handed to waiters first, so this never jumps the queue.
    if let Ok(permit) = permits.try_acquire() {
        queue.served_at_once();
        return Ok(permit);
    }
    queue
        .wait(wait, permits.acquire())
        .await
        .ok_or_else(crate::errors::ApiError::database_unavailable)?
        .map_err(crate::errors::ApiError::internal)
}

impl WithDb for web::Data<AppState> {
    async fn db_write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConnection, &AppState) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let admission = admit(self)?;
        let _turn = match &self.write_turn {
            Some(turn) => Some(permit(turn, self.db_wait, &self.metrics.db_write_queue).await?),
            None => None,
        };
        let _slot = permit(
            &self.db_slots,
            self.db_wait,
            &self.metrics.db_connection_queue,
        )
        .await?;
        on_blocking_pool(self.clone(), admission, false, work).await
    }

    async fn db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConnection, &AppState) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let admission = admit(self)?;
        let _slot = permit(
            &self.db_slots,
            self.db_wait,
            &self.metrics.db_connection_queue,
        )
        .await?;
        if self.inline_reads && admission == Admission::Normal {
            // A permit means a connection is free, unless the pool is still opening it; then
            // the blocking pool waits for it.
            if let Some(conn) = self.pool.try_get() {
                return with_connection(conn, true, self, work);
            }
        }
        on_blocking_pool(self.clone(), admission, self.inline_reads, work).await
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The circuit breaker's say: a request while the database is known to be down is refused
/// before it queues for anything.
fn admit(state: &AppState) -> ApiResult<Admission> {
    match state.db_health.admit(now_ms()) {
        Admission::Refuse => Err(crate::errors::ApiError::database_unavailable()
            .with_reason("the database did not answer the last attempt to connect")),
        admission => Ok(admission),
    }
}

async fn on_blocking_pool<T: Send + 'static>(
    state: web::Data<AppState>,
    admission: Admission,
    read_only: bool,
    work: impl FnOnce(&mut DbConnection, &AppState) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    web::block(move || {
        let conn = match admission {
            Admission::Probe => state.pool.get_timeout(PROBE_TIMEOUT),
            _ => state.pool.get(),
        };
        let conn = match conn {
            Ok(conn) => {
                state.db_health.succeeded();
                conn
            }
            Err(error) => {
                state.db_health.failed(now_ms());
                return Err(error.into());
            }
        };
        with_connection(conn, read_only, &state, work)
    })
    .await?
}

fn with_connection<T>(
    mut conn: PooledConnection,
    read_only: bool,
    state: &AppState,
    work: impl FnOnce(&mut DbConnection, &AppState) -> ApiResult<T>,
) -> ApiResult<T> {
    conn.set_read_only(read_only)?;
    let result = work(&mut conn, state);
    if result.as_ref().is_err_and(|e| e.status.is_server_error()) {
        conn.check_after_failure();
    }
    result
}
