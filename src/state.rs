//! What every handler shares: the pool, the token issuer, the password hasher and the policy.

use actix_web::web;
use jsonwebtoken::jwk::JwkSet;

use crate::auth::jwt::TokenIssuer;
use crate::auth::oidc::Providers;
use crate::auth::password::PasswordHasher;
use crate::auth::sessions::ReusePolicy;
use crate::config::OidcSettings;
use crate::db::{DbConnection, DbPool};
use crate::errors::ApiResult;

pub struct AppState {
    pub pool: DbPool,
    /// One permit per pooled connection. Requests queue for a connection here, in a fair
    /// async queue, rather than as blocking threads parked inside r2d2, whose wake-ups are
    /// neither ordered nor cheap.
    pub db_slots: tokio::sync::Semaphore,
    /// How long a request waits for a connection before 503 `database_unavailable`.
    pub db_wait: std::time::Duration,
    /// SQLite: one permit, held by whichever request writes. SQLite lets one connection write
    /// at a time and makes the others retry on a sleeping back-off (1, 2, 5, 10 ... 100 ms);
    /// queueing writers here instead took the p99 of refresh under load from about 110 ms to
    /// about 25 ms (bench/README.md). PostgreSQL: none, its writers only wait for the rows they share.
    pub write_turn: Option<tokio::sync::Semaphore>,
    pub issuer: TokenIssuer,
    pub hasher: PasswordHasher,
    pub reuse: ReusePolicy,
    pub jwks: JwkSet,
    pub openid_configuration: serde_json::Value,
    pub providers: Providers,
    pub oidc: OidcSettings,
    /// Off in SSO-only mode.
    pub local_login_enabled: bool,
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

/// `state.db(|conn, state| ...)`: blocking database work on actix's blocking pool, with a
/// pooled connection and the state, so handlers never block an async worker. Work that
/// writes uses `db_write`, which also waits for the writer's turn on SQLite.
pub trait WithDb {
    fn db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConnection, &AppState) -> ApiResult<T> + Send + 'static,
    ) -> impl std::future::Future<Output = ApiResult<T>>;

    fn db_write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConnection, &AppState) -> ApiResult<T> + Send + 'static,
    ) -> impl std::future::Future<Output = ApiResult<T>>;
}

/// Waits at most `wait` for a permit; 503 `database_unavailable` after that.
async fn permit(
    permits: &tokio::sync::Semaphore,
    wait: std::time::Duration,
) -> ApiResult<tokio::sync::SemaphorePermit<'_>> {
    tokio::time::timeout(wait, permits.acquire())
        .await
        .map_err(|_| crate::errors::ApiError::database_unavailable())?
        .map_err(crate::errors::ApiError::internal)
}

impl WithDb for web::Data<AppState> {
    async fn db_write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConnection, &AppState) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let _turn = match &self.write_turn {
            Some(turn) => Some(permit(turn, self.db_wait).await?),
            None => None,
        };
        self.db(work).await
    }

    async fn db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConnection, &AppState) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let _slot = permit(&self.db_slots, self.db_wait).await?;
        let state = self.clone();
        web::block(move || {
            let mut conn = state.pool.get()?;
            let result = work(&mut conn, &state);
            if result.as_ref().is_err_and(|e| e.status.is_server_error()) {
                conn.check_after_failure();
            }
            result
        })
        .await?
    }
}
