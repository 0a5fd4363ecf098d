//! Sign-in by an emailed link, or by the six-digit code of the same message.

use crate::auth::audit::{Actor, Event, Origin, Record};
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::Connection as _;
use serde::Deserialize;

use super::{accepted, after_answering, limit_send, mail, parse_email, post_route, EmailBody};
use crate::auth::email_tokens::{self, CodeCheck, Purpose};
use crate::auth::sessions;
use crate::auth::sessions::SignInMethod;
use crate::db::users::User;
use crate::db::{self, is_unique_violation};
use crate::errors::{ApiError, ApiResult};
use crate::limits::Rule;
use crate::routes::client_ip::limit_client;
use crate::routes::client_ip::session_origin;
use crate::routes::json::ValidJson;
use crate::routes::responses::TokenPairBody;
use crate::state::{AppState, WithDb};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post_route(
        "/api/auth/email/signin",
        web::post().to(request_signin),
    ))
    .service(post_route(
        "/api/auth/email/signin/confirm",
        web::post().to(confirm_signin),
    ));
}

async fn request_signin(
    req: HttpRequest,
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<EmailBody>,
) -> ApiResult<HttpResponse> {
    mail(&state)?;
    let email = parse_email(&body.email)?;
    limit_send(&state, &req, &email.key()).await?;
    after_answering(&state, "sign-in by email", move |conn, state| {
        let mail = mail(state)?;
        let now = db::now();
        match User::find_by_email_key(conn, &email.key())? {
            Some(user) if user.is_active => {
                let to = user.email.clone();
                email_tokens::issue(conn, mail, Purpose::EmailSignin, Some(&user), &to, now)?;
            }
            Some(_) => return Ok(false),
            None if mail.settings.signin_creates_account => {
                email_tokens::issue(conn, mail, Purpose::EmailSignin, None, email.as_str(), now)?;
            }
            None => return Ok(false),
        }
        Ok(true)
    });
    Ok(accepted())
}

#[derive(Deserialize)]
struct SigninConfirmBody {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// Signs in like a login; the email counts as verified. A code is six digits, so each token
/// takes five wrong codes before it dies, and the client address is limited as for logins.
async fn confirm_signin(
    req: HttpRequest,
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<SigninConfirmBody>,
) -> ApiResult<HttpResponse> {
    mail(&state)?;
    limit_client(&state, &req, Rule::LoginPerIp).await?;
    let by_code = match (&body.token, &body.email, &body.code) {
        (Some(_), _, _) => None,
        (None, Some(email), Some(code)) => Some((parse_email(email)?, code.clone())),
        _ => {
            return Err(ApiError::validation_field(
                "token",
                "Send the token of the link, or the email and the code.",
            ))
        }
    };
    // A wrong code commits its count (the transaction returns `None`) and is refused after.
    let method = match by_code {
        Some(_) => SignInMethod::EmailCode,
        None => SignInMethod::EmailLink,
    };
    let origin = session_origin(&state, &req, method);
    let signed_in = state
        .db_transaction(move |conn, state| {
            let now = db::now();
            let (token, user) = match (&by_code, &body.token) {
                (Some((email, code)), _) => {
                    let user = User::find_by_email_key(conn, &email.key())?;
                    match email_tokens::redeem_code(conn, email.as_str(), user.as_ref(), code, now)?
                    {
                        CodeCheck::Redeemed(redeemed) => *redeemed,
                        CodeCheck::Wrong => {
                            Record::new(Event::LoginFailed, user.as_ref().map(|u| u.id.as_str()))
                                .by(Actor::Anonymous)
                                .detail("reason", "wrong_code")
                                .write(conn, &Origin::from(&origin))?;
                            return Ok(None);
                        }
                    }
                }
                (None, Some(token)) => {
                    email_tokens::redeem(conn, Purpose::EmailSignin, token, now)?
                }
                (None, None) => unreachable!("checked above"),
            };
            let user = match user {
                Some(user) => user,
                None => {
                    let user = create_account(conn, &token.email)?;
                    Record::new(Event::Registered, Some(&user.id))
                        .detail("method", origin.method.as_str())
                        .write(conn, &Origin::from(&origin))?;
                    user
                }
            };
            User::set_email_verified(conn, &user.id, true)?;
            let user = User::find_by_id(conn, &user.id)?;
            let pair = sessions::start(conn, &state.issuer, &user, &origin)?;
            Ok(Some((user, pair)))
        })
        .await?;
    let (user, pair) = signed_in.ok_or_else(email_tokens::wrong_code)?;
    Ok(HttpResponse::Ok().json(TokenPairBody::new(pair, Some(user))))
}

/// `email.signin_creates_account`: the first emailed sign-in of an address makes its account,
/// with no password. If one was made meanwhile, that one is used.
fn create_account(conn: &mut db::DbConnection, address: &str) -> ApiResult<User> {
    let email = parse_email(address)?;
    let user = User {
        email_verified: true,
        ..User::new_account(email.as_str(), email.key(), db::now())
    };
    // A savepoint: on PostgreSQL a failed statement would otherwise abort the whole
    // transaction, and the account made meanwhile could not be read.
    match conn.transaction(|conn| user.insert(conn)) {
        Ok(_) => Ok(user),
        Err(error) if is_unique_violation(&error) => User::find_by_email_key(conn, &email.key())?
            .ok_or_else(|| ApiError::internal("an account vanished while being created")),
        Err(error) => Err(error.into()),
    }
}
