use crate::auth::audit::{Event, Record};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::json::ValidJson;
use super::reauth::Reauth;
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
    let key = format!("user:{}", caller.user_id);
    crate::routes::client_ip::limit(&state, &req, Rule::PasswordChangePerUser, &key).await?;
    let reauth = Reauth::start(&state, &req, &caller).await?;
    let user = &reauth.user;
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
    let reauth = reauth.verify_current(&state, body.current_password).await?;
    let hash = state.hasher.hash(new_password.into_secret()).await?;
    // One transaction: the attempt counts as a success only with the change made.
    let origin = crate::routes::client_ip::request_origin(&state, &req);
    state
        .db_transaction(move |conn, state| {
            reauth.record_success(conn, state, db::now())?;
            let user_id = &reauth.user.id;
            User::set_password_hash(conn, user_id, &hash)?;
            sessions::end_all(
                conn,
                user_id,
                Some(&caller.session_id),
                RevokeReason::PasswordChanged,
            )?;
            Record::new(Event::PasswordChanged, Some(user_id)).write(conn, &origin)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
