//! `Principal`: who calls a route that takes either a person's access token or an API key
//! (`Authorization: Bearer authd_...`). A token is checked offline as everywhere; a key is
//! looked up (cached, see `auth::api_keys`). `ServiceAccess`: a service secret from the
//! configuration, or an API key with the `services` scope.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};

use crate::auth::admin::{find_user, require_admin, Admin};
use crate::auth::api_keys::{self, CachedKey, Scope};
use crate::auth::audit::Actor;
use crate::auth::{parse_bearer, AuthenticatedUser};
use crate::db::api_keys::ApiKey;
use crate::db::users::User;
use crate::db::{self, DbConnection};
use crate::errors::{ApiError, ApiResult};
use crate::state::{AppState, WithDb};

/// A caller with an API key: the key's user, within the key's scopes.
#[derive(Debug, Clone)]
pub struct KeyCaller {
    pub key_id: String,
    pub prefix: String,
    pub user_id: String,
    pub scopes: Vec<Scope>,
}

pub enum Principal {
    Session(AuthenticatedUser),
    Key(KeyCaller),
}

type Extracting<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match presented_key(&req)? {
                Some(token) => Ok(Principal::Key(authenticate_key(&req, &token).await?)),
                None => AuthenticatedUser::extract(&req)
                    .await
                    .map(Principal::Session),
            }
        })
    }
}

/// The bearer token, when it is shaped like an API key.
fn presented_key(req: &HttpRequest) -> ApiResult<Option<String>> {
    if req.headers().get_all(AUTHORIZATION).nth(1).is_some() {
        return Ok(None); // the JWT path refuses two headers with its own error
    }
    let Ok(token) = parse_bearer(req.headers().get(AUTHORIZATION)) else {
        return Ok(None);
    };
    Ok(api_keys::prefix_of(token).map(|_| token.to_owned()))
}

fn unknown_key() -> ApiError {
    ApiError::token_invalid("the API key is unknown or revoked")
}

async fn authenticate_key(req: &HttpRequest, token: &str) -> ApiResult<KeyCaller> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("AppState is not registered"))?
        .clone();
    let prefix = api_keys::prefix_of(token)
        .ok_or_else(unknown_key)?
        .to_owned();
    let lookup = {
        let (state, prefix) = (state.clone(), prefix.clone());
        async move {
            let found = state
                .db(move |conn, _| Ok(ApiKey::find_by_prefix(conn, &prefix)?))
                .await?;
            Ok::<_, ApiError>(found.map(|(key, user)| Arc::new(CachedKey::new(key, user))))
        }
    };
    let cached = state
        .api_keys
        .try_get_with(prefix.clone(), lookup)
        .await
        .map_err(|error: Arc<ApiError>| ApiError::clone(&error))?
        .ok_or_else(unknown_key)?;
    let key = &cached.key;
    if !api_keys::matches(&key.key_sha256, token) || key.revoked_at.is_some() {
        return Err(unknown_key());
    }
    let now = db::now();
    if key.expires_at.is_some_and(|at| at <= now) {
        return Err(ApiError::token_expired());
    }
    if !cached.user.is_active {
        return Err(ApiError::user_inactive());
    }
    if cached.claim_touch(now.and_utc().timestamp()) {
        let id = key.id.clone();
        // After the answer, and never failing it: lastUsedAt is a hint.
        actix_web::rt::spawn(async move {
            let touched = state
                .db_write(move |conn, _| Ok(ApiKey::touch(conn, &id, db::now())?))
                .await;
            if let Err(error) = touched {
                log::warn!("cannot record an API key's use: {}", error.message);
            }
        });
    }
    Ok(KeyCaller {
        key_id: key.id.clone(),
        prefix: key.prefix.clone(),
        user_id: key.user_id.clone(),
        scopes: api_keys::scopes_of(&key.scopes),
    })
}

fn insufficient_scope(scope: Scope) -> ApiError {
    ApiError::forbidden(
        "insufficient_scope",
        format!("This API key lacks the {} scope.", scope.as_str()),
    )
}

impl KeyCaller {
    pub fn require(&self, scope: Scope) -> ApiResult<()> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(insufficient_scope(scope))
        }
    }
}

impl Principal {
    /// An administrator: a live staff session, or a key with the `admin` scope whose user is
    /// an active staff user now (read from the database, as for sessions).
    pub fn admin(&self, conn: &mut DbConnection, state: &AppState) -> ApiResult<Admin> {
        match self {
            Principal::Session(caller) => require_admin(conn, &state.sessions, caller),
            Principal::Key(key) => {
                if !key.scopes.contains(&Scope::Admin) {
                    return Err(ApiError::admin_only());
                }
                let user = find_user(conn, &key.user_id)?;
                if !user.is_active || !user.is_staff {
                    return Err(ApiError::admin_only());
                }
                Ok(Admin {
                    user_id: user.id,
                    actor: Actor::ApiKey(key.prefix.clone()),
                })
            }
        }
    }

    /// The caller's user, live: the session's (as `me` reads it) or the key's, which needs
    /// `scope`.
    pub fn user(&self, conn: &mut DbConnection, state: &AppState, scope: Scope) -> ApiResult<User> {
        match self {
            Principal::Session(caller) => {
                crate::auth::sessions::current_user(conn, &state.sessions, caller)
            }
            Principal::Key(key) => {
                key.require(scope)?;
                let user = find_user(conn, &key.user_id)?;
                if !user.is_active {
                    return Err(ApiError::user_inactive());
                }
                Ok(user)
            }
        }
    }
}

/// The revocation feed and introspection: a configured service secret, or an API key with the
/// `services` scope.
pub struct ServiceAccess;

impl FromRequest for ServiceAccess {
    type Error = ApiError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let configured = crate::auth::services::ServiceCaller::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            match presented_key(&req)? {
                Some(token) => {
                    let key = authenticate_key(&req, &token).await.map_err(|error| {
                        ApiError::invalid_client(&format!(
                            "the API key is refused: {}",
                            error.message
                        ))
                    })?;
                    key.require(Scope::Services)?;
                    Ok(ServiceAccess)
                }
                None => configured.await.map(|_| ServiceAccess),
            }
        })
    }
}
