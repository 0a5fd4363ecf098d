//! Confirming the account's address: the link registration sends, and sending it again.

use crate::auth::audit::{Event, Record};
use actix_web::{web, HttpRequest, HttpResponse};

use super::{accepted, limit_send, mail, post_route, TokenBody};
use crate::auth::email_tokens::{self, Purpose};
use crate::auth::sessions::current_user;
use crate::auth::AuthenticatedUser;
use crate::db;
use crate::db::users::User;
use crate::errors::{ApiError, ApiResult};
use crate::routes::json::ValidJson;
use crate::routes::responses::UserBody;
use crate::state::{AppState, WithDb};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post_route(
        "/api/auth/email/verify/send",
        web::post().to(send_verification),
    ))
    .service(post_route("/api/auth/email/verify", web::post().to(verify)));
}

async fn send_verification(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
) -> ApiResult<HttpResponse> {
    mail(&state)?;
    limit_send(&state, &req, &format!("user:{}", caller.user_id)).await?;
    let sent = state
        .db_transaction(move |conn, state| {
            let user = current_user(conn, &state.sessions, &caller)?;
            if user.email_verified {
                return Ok(false);
            }
            email_tokens::issue(
                conn,
                mail(state)?,
                Purpose::VerifyEmail,
                Some(&user),
                &user.email,
                db::now(),
            )?;
            Ok(true)
        })
        .await?;
    if sent {
        mail(&state)?.wake();
    }
    Ok(accepted())
}

async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<TokenBody>,
) -> ApiResult<HttpResponse> {
    mail(&state)?;
    let origin = crate::routes::client_ip::request_origin(&state, &req);
    let user = state
        .db_transaction(move |conn, _| {
            let (_, user) =
                email_tokens::redeem(conn, Purpose::VerifyEmail, &body.token, db::now())?;
            let user = user.ok_or_else(|| ApiError::email_token_invalid("the account is gone"))?;
            User::set_email_verified(conn, &user.id, true)?;
            Record::new(Event::EmailVerified, Some(&user.id)).write(conn, &origin)?;
            Ok(User::find_by_id(conn, &user.id)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserBody::from(user)))
}
