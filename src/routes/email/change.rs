//! Email change: confirmed from the new address, announced to the old one.

use crate::auth::audit::{Event, Record};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{accepted, limit_send, mail, parse_email, post_route, TokenBody};
use crate::auth::email_tokens::{self, Purpose};
use crate::auth::{sessions, AuthenticatedUser};
use crate::db;
use crate::db::sessions::RevokeReason;
use crate::db::users::User;
use crate::domain::UserEmail;
use crate::errors::{ApiError, ApiResult};
use crate::routes::json::ValidJson;
use crate::routes::reauth::Reauth;
use crate::routes::responses::UserBody;
use crate::state::{AppState, WithDb};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post_route(
        "/api/auth/email/change",
        web::post().to(request_change),
    ))
    .service(post_route(
        "/api/auth/email/change/confirm",
        web::post().to(confirm_change),
    ));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangeBody {
    new_email: String,
    current_password: String,
}

/// Sends a confirmation to the new address and a notice to the old one; nothing changes until
/// the new address confirms. The current password is checked like a login (lockout).
async fn request_change(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
    ValidJson(body): ValidJson<ChangeBody>,
) -> ApiResult<HttpResponse> {
    mail(&state)?;
    let new_email = UserEmail::parse(&body.new_email)
        .map_err(|problem| ApiError::validation_field("newEmail", problem))?;
    limit_send(&state, &req, &format!("user:{}", caller.user_id)).await?;
    let reauth = Reauth::start(&state, &req, &caller).await?;
    if new_email.key() == reauth.user.email_key {
        return Err(ApiError::validation_field(
            "newEmail",
            "This is already your email address.",
        ));
    }
    let reauth = reauth.verify_current(&state, body.current_password).await?;
    state
        .db_transaction(move |conn, state| {
            if User::find_by_email_key(conn, &new_email.key())?.is_some() {
                return Err(ApiError::email_taken());
            }
            let now = db::now();
            let mail = mail(state)?;
            let user = &reauth.user;
            email_tokens::issue(
                conn,
                mail,
                Purpose::ChangeEmail,
                Some(user),
                new_email.as_str(),
                now,
            )?;
            email_tokens::notify(
                conn,
                mail,
                "email_changed",
                &user.email,
                new_email.as_str(),
                now,
            )?;
            reauth.record_success(conn, state, now)
        })
        .await?;
    mail(&state)?.wake();
    Ok(accepted())
}

/// Makes the confirmed address the account's email (verified) and ends the other sessions:
/// the session of the caller's bearer token, if one is sent, stays.
async fn confirm_change(
    req: HttpRequest,
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<TokenBody>,
) -> ApiResult<HttpResponse> {
    mail(&state)?;
    let caller = match req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION)
    {
        true => Some(AuthenticatedUser::extract(&req).await?),
        false => None,
    };
    let origin = crate::routes::client_ip::request_origin(&state, &req);
    let user = state
        .db_transaction(move |conn, _| {
            let (token, user) =
                email_tokens::redeem(conn, Purpose::ChangeEmail, &body.token, db::now())?;
            let user = user.ok_or_else(|| ApiError::email_token_invalid("the account is gone"))?;
            let new_email = parse_email(&token.email)?;
            User::set_email(conn, &user.id, new_email.as_str(), &new_email.key()).map_err(
                |error| match db::unique_violation(&error) {
                    Some(_) => ApiError::email_taken(),
                    None => error.into(),
                },
            )?;
            // Signed in as someone else (a shared browser): refused, and the token kept.
            if caller.as_ref().is_some_and(|c| c.user_id != user.id) {
                return Err(ApiError::email_token_invalid(
                    "the token belongs to another account; sign out first",
                ));
            }
            let keep = caller.as_ref().map(|c| c.session_id.as_str());
            sessions::end_all(conn, &user.id, keep, RevokeReason::EmailChanged)?;
            Record::new(Event::EmailChanged, Some(&user.id)).write(conn, &origin)?;
            Ok(User::find_by_id(conn, &user.id)?)
        })
        .await?;
    log::info!("email of user {} changed", user.id);
    Ok(HttpResponse::Ok().json(UserBody::from(user)))
}
