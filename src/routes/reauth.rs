//! Re-authentication with the current password (password change, email change), counted like
//! a login: a locked account is refused before any hashing, a wrong password is a failed
//! attempt under the lockout, and a stolen access token is no faster way to guess the
//! password than the login page.

use actix_web::{web, HttpRequest};
use secrecy::SecretString;

use super::client_ip::{client_ip, limit_key};
use crate::auth::lockout::LoginKey;
use crate::auth::sessions::current_user;
use crate::auth::AuthenticatedUser;
use crate::db::users::User;
use crate::db::{self, DbConnection};
use crate::errors::{ApiError, ApiResult};
use crate::state::{AppState, WithDb};

/// The caller, not locked out, about to prove their current password.
pub struct Reauth {
    pub user: User,
    key: LoginKey,
    address: String,
}

impl Reauth {
    /// The caller's live session and user; 429 while the account is locked for this client.
    pub async fn start(
        state: &web::Data<AppState>,
        req: &HttpRequest,
        caller: &AuthenticatedUser,
    ) -> ApiResult<Self> {
        let address = limit_key(client_ip(state, req));
        let (lookup, checking) = (caller.clone(), address.clone());
        let (user, lock) = state
            .db(move |conn, state| {
                let user = current_user(conn, &state.sessions, &lookup)?;
                let lock = state.lockout.check(
                    conn,
                    &LoginKey::user(&user.id),
                    Some(&user.id),
                    &checking,
                    db::now(),
                )?;
                Ok((user, lock))
            })
            .await?;
        if let Err(locked) = lock {
            return Err(ApiError::rate_limited(locked.wait(db::now())));
        }
        Ok(Self {
            key: LoginKey::user(&user.id),
            user,
            address,
        })
    }

    /// Checks the current password; a wrong one is recorded as a failed attempt and answered
    /// 400 on `currentPassword`.
    pub async fn verify_current(
        self,
        state: &web::Data<AppState>,
        current_password: String,
    ) -> ApiResult<Self> {
        let verified = state
            .hasher
            .verify(
                SecretString::from(current_password),
                self.user.password_hash.clone(),
            )
            .await?;
        if !verified.matches {
            let (key, address) = (self.key, self.address);
            state
                .db_write(move |conn, state| {
                    state
                        .lockout
                        .record_failure(conn, &key, &address, db::now())
                })
                .await?;
            return Err(ApiError::validation_field(
                "currentPassword",
                "The current password is not correct.",
            ));
        }
        Ok(self)
    }

    /// The success, in the transaction of the change it allowed: failed attempts are cleared
    /// and the client address becomes familiar.
    pub fn record_success(
        &self,
        conn: &mut DbConnection,
        state: &AppState,
        now: chrono::NaiveDateTime,
    ) -> ApiResult<()> {
        state
            .lockout
            .record_success(conn, &self.key, &self.user.id, &self.address, now)
    }
}
