use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::SecretString;
use serde::Deserialize;

use super::client_ip::{client_ip, limit_key};
use super::json::ValidJson;
use super::me::current_user;
use crate::auth::lockout::LoginKey;
use crate::auth::sessions;
use crate::auth::AuthenticatedUser;
use crate::db;
use crate::db::sessions::RevokeReason;
use crate::db::users::User;
use crate::errors::{ApiError, ApiResult};
use crate::limits::Rule;
use crate::state::{AppState, WithDb};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/auth/password").route(web::post().to(change_password)));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordBody {
    #[serde(alias = "old_password")]
    current_password: String,
    #[serde(alias = "new_password")]
    new_password: String,
}

/// Changes the password and ends every other session of the user; the caller's own session
/// goes on, so the tab that made the change stays signed in.
async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
    ValidJson(body): ValidJson<PasswordBody>,
) -> ApiResult<HttpResponse> {
    state.require_local_login()?;
    state
        .limits
        .check(Rule::PasswordChangePerUser, &caller.user_id)
        .await
        .map_err(|limited| ApiError::rate_limited(limited.retry_after))?;
    // The current password is a login attempt: a stolen access token must not be a way to
    // guess it faster than the login page allows.
    let address = limit_key(client_ip(&state, &req));
    let lookup = caller.clone();
    let checking = address.clone();
    let (user, lock) = state
        .db(move |conn, state| {
            let user = current_user(conn, state, &lookup)?;
            let key = LoginKey::user(&user.id);
            let lock = state
                .lockout
                .check(conn, &key, Some(&user.id), &checking, db::now())?;
            Ok((user, lock))
        })
        .await?;
    if let Err(locked) = lock {
        return Err(ApiError::rate_limited(locked.wait(db::now())));
    }
    let key = LoginKey::user(&user.id);
    let personal = vec![
        user.email.clone(),
        user.username.clone().unwrap_or_default(),
        user.first_name.clone(),
        user.last_name.clone(),
    ];
    let new_password = state
        .hasher
        .check_new_password(body.new_password, personal)
        .await?
        .map_err(|problems| ApiError::validation_problems("newPassword", problems))?;
    let verified = state
        .hasher
        .verify(
            SecretString::from(body.current_password),
            user.password_hash.clone(),
        )
        .await?;
    if !verified.matches {
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
    let hash = state.hasher.hash(new_password.into_secret()).await?;
    state
        .db_write(move |conn, state| {
            state
                .lockout
                .record_success(conn, &key, &user.id, &address, db::now())?;
            User::set_password_hash(conn, &user.id, &hash)?;
            sessions::end_all(
                conn,
                &user.id,
                Some(&caller.session_id),
                RevokeReason::PasswordChanged,
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
