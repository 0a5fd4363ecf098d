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
/// pooled connection and the state, so handlers never block an async worker.
pub trait WithDb {
    fn db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConnection, &AppState) -> ApiResult<T> + Send + 'static,
    ) -> impl std::future::Future<Output = ApiResult<T>>;
}

impl WithDb for web::Data<AppState> {
    async fn db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConnection, &AppState) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let _slot = tokio::time::timeout(self.db_wait, self.db_slots.acquire())
            .await
            .map_err(|_| crate::errors::ApiError::database_unavailable())?
            .map_err(crate::errors::ApiError::internal)?;
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
