use actix_web::{web, HttpResponse};
use secrecy::SecretString;
use serde::Deserialize;

use super::json::ValidJson;
use super::me::current_user;
use crate::auth::sessions;
use crate::auth::AuthenticatedUser;
use crate::db::sessions::RevokeReason;
use crate::db::users::User;
use crate::domain::NewPassword;
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
    let lookup = caller.clone();
    let user = state
        .db(move |conn, state| current_user(conn, state, &lookup))
        .await?;
    let personal = [
        user.email.as_str(),
        user.username.as_deref().unwrap_or_default(),
        user.first_name.as_str(),
        user.last_name.as_str(),
    ];
    let new_password = NewPassword::parse(&body.new_password, &personal)
        .map_err(|problems| ApiError::validation_problems("newPassword", problems))?;
    let verified = state
        .hasher
        .verify(
            SecretString::from(body.current_password),
            user.password_hash.clone(),
        )
        .await?;
    if !verified.matches {
        return Err(ApiError::validation_field(
            "currentPassword",
            "The current password is not correct.",
        ));
    }
    let hash = state.hasher.hash(new_password.into_secret()).await?;
    state
        .db_write(move |conn, _| {
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
