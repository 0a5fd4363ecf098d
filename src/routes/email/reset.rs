//! Password reset by emailed link, in authd's spelling and in dj-rest-auth's.

use crate::auth::audit::{Event, Record};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{accepted, after_answering, limit_send, mail, parse_email, post_route, EmailBody};
use crate::auth::email_tokens::{self, Purpose};
use crate::auth::lockout::LoginKey;
use crate::auth::sessions;
use crate::auth::sessions::SignInMethod;
use crate::db;
use crate::db::sessions::RevokeReason;
use crate::db::users::User;
use crate::errors::{ApiError, ApiResult};
use crate::routes::client_ip::session_origin;
use crate::routes::client_ip::{client_ip, limit_key};
use crate::routes::json::ValidJson;
use crate::routes::responses::TokenPairBody;
use crate::state::{AppState, WithDb};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post_route(
        "/api/auth/password/reset",
        web::post().to(request_reset),
    ))
    .service(post_route(
        "/api/auth/password/reset/confirm",
        web::post().to(confirm_reset),
    ));
}

async fn request_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<EmailBody>,
) -> ApiResult<HttpResponse> {
    state.require_local_login()?;
    mail(&state)?;
    let email = parse_email(&body.email)?;
    limit_send(&state, &req, &email.key()).await?;
    after_answering(&state, "password reset", move |conn, state| {
        let Some(user) = User::find_by_email_key(conn, &email.key())?.filter(|u| u.is_active)
        else {
            return Ok(false);
        };
        let to = user.email.clone();
        email_tokens::issue(
            conn,
            mail(state)?,
            Purpose::ResetPassword,
            Some(&user),
            &to,
            db::now(),
        )?;
        Ok(true)
    });
    Ok(accepted())
}

/// authd's `{token, newPassword}`, or dj-rest-auth's `{uid, token, new_password1,
/// new_password2}` (the uid is not needed: the token names its user).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResetConfirmBody {
    token: String,
    #[serde(default, alias = "new_password")]
    new_password: Option<String>,
    #[serde(default, rename = "new_password1")]
    new_password1: Option<String>,
    #[serde(default, rename = "new_password2")]
    new_password2: Option<String>,
}

impl ResetConfirmBody {
    fn new_password(&self) -> ApiResult<String> {
        match (&self.new_password, &self.new_password1, &self.new_password2) {
            (Some(password), _, _) => Ok(password.clone()),
            (None, Some(first), Some(second)) if first == second => Ok(first.clone()),
            (None, Some(_), Some(_)) => Err(ApiError::validation_field(
                "new_password2",
                "The two password fields didn't match.",
            )),
            _ => Err(ApiError::validation_field(
                "newPassword",
                "This field is required.",
            )),
        }
    }
}

/// Sets the new password, ends every session of the user and signs them in. The address the
/// reset came from becomes familiar and failed logins are cleared: this is how an owner gets
/// past a lockout. The link proves the mailbox, so the email counts as verified.
async fn confirm_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<ResetConfirmBody>,
) -> ApiResult<HttpResponse> {
    state.require_local_login()?;
    mail(&state)?;
    let new_password = body.new_password()?;
    let token = body.token.clone();
    let (_, user) = state
        .db(move |conn, _| email_tokens::inspect(conn, Purpose::ResetPassword, &token, db::now()))
        .await?;
    let user = user.ok_or_else(|| ApiError::email_token_invalid("the account is gone"))?;
    let personal = vec![
        user.email.clone(),
        user.username.clone().unwrap_or_default(),
        user.first_name.clone(),
        user.last_name.clone(),
    ];
    let password = state
        .hasher
        .check_new_password(new_password, personal)
        .await?
        .map_err(|problems| ApiError::validation_problems("newPassword", problems))?;
    let hash = state.hasher.hash(password.into_secret()).await?;
    let address = limit_key(client_ip(&state, &req));
    let origin = session_origin(&state, &req, SignInMethod::PasswordReset);
    let (user, pair) = state
        .db_transaction(move |conn, state| {
            let (_, user) =
                email_tokens::redeem(conn, Purpose::ResetPassword, &body.token, db::now())?;
            let user = user.ok_or_else(|| ApiError::email_token_invalid("the account is gone"))?;
            User::set_password_hash(conn, &user.id, &hash)?;
            User::set_email_verified(conn, &user.id, true)?;
            sessions::end_all(conn, &user.id, None, RevokeReason::PasswordChanged)?;
            Record::new(Event::PasswordReset, Some(&user.id))
                .write(conn, &crate::auth::audit::Origin::from(&origin))?;
            state.lockout.record_success(
                conn,
                &LoginKey::user(&user.id),
                &user.id,
                &address,
                db::now(),
            )?;
            let user = User::find_by_id(conn, &user.id)?;
            let pair = sessions::start(conn, &state.issuer, &user, &origin)?;
            Ok((user, pair))
        })
        .await?;
    log::info!("password of user {} reset by email", user.id);
    Ok(HttpResponse::Ok().json(TokenPairBody::new(pair, Some(user))))
}
