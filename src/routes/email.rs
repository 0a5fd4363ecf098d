//! Email verification, password reset, sign-in by emailed link or code, and email change.
//! Every route that sends mail is limited per client address and per recipient; the ones a
//! stranger can call answer 202 at once whether or not the address has an account, and do
//! the work afterwards, so neither the answer nor its timing tells.

use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::client_ip::{client_ip, limit_client, limit_key};
use super::json::ValidJson;
use super::me::current_user;
use super::responses::{TokenPairBody, UserBody};
use crate::auth::email_tokens::{self, Purpose};
use crate::auth::lockout::LoginKey;
use crate::auth::{sessions, AuthenticatedUser};
use crate::db::sessions::RevokeReason;
use crate::db::users::User;
use crate::db::{self, is_unique_violation};
use crate::domain::UserEmail;
use crate::errors::{ApiError, ApiResult};
use crate::limits::Rule;
use crate::mail::MailState;
use crate::state::{AppState, WithDb};

pub fn configure(cfg: &mut web::ServiceConfig) {
    let post = |path: &str, handler| super::resource(path).route(handler);
    cfg.service(post(
        "/api/auth/email/verify/send",
        web::post().to(send_verification),
    ))
    .service(post("/api/auth/email/verify", web::post().to(verify)))
    .service(post(
        "/api/auth/password/reset",
        web::post().to(request_reset),
    ))
    .service(post(
        "/api/auth/password/reset/confirm",
        web::post().to(confirm_reset),
    ))
    .service(post(
        "/api/auth/email/signin",
        web::post().to(request_signin),
    ))
    .service(post(
        "/api/auth/email/signin/confirm",
        web::post().to(confirm_signin),
    ))
    .service(post(
        "/api/auth/email/change",
        web::post().to(request_change),
    ))
    .service(post(
        "/api/auth/email/change/confirm",
        web::post().to(confirm_change),
    ));
}

fn mail(state: &AppState) -> ApiResult<&MailState> {
    state.mail.as_ref().ok_or_else(ApiError::email_disabled)
}

/// One more message for `recipient` from this client: both limits apply.
async fn limit_send(state: &AppState, req: &HttpRequest, recipient: &str) -> ApiResult<()> {
    limit_client(state, req, Rule::EmailSendPerIp).await?;
    state
        .limits
        .check(Rule::EmailSendPerAddress, recipient)
        .await
        .map_err(|limited| ApiError::rate_limited(limited.retry_after))
}

fn accepted() -> HttpResponse {
    HttpResponse::Accepted().json(json!({}))
}

/// Runs `work` after the answer has gone: the answer to an address with an account and to one
/// without must not differ, in content or in time.
fn after_answering(
    state: &web::Data<AppState>,
    what: &'static str,
    work: impl FnOnce(&mut db::DbConnection, &AppState) -> ApiResult<bool> + Send + 'static,
) {
    let state = state.clone();
    actix_web::rt::spawn(async move {
        match state.db_write(work).await {
            Ok(true) => {
                if let Some(mail) = &state.mail {
                    mail.wake();
                }
            }
            Ok(false) => {}
            Err(error) => log::warn!("{what}: {}", error.message),
        }
    });
}

#[derive(Deserialize)]
struct EmailBody {
    email: String,
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

async fn send_verification(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
) -> ApiResult<HttpResponse> {
    mail(&state)?;
    limit_send(&state, &req, &format!("user:{}", caller.user_id)).await?;
    let sent = state
        .db_write(move |conn, state| {
            let user = current_user(conn, state, &caller)?;
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
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<TokenBody>,
) -> ApiResult<HttpResponse> {
    mail(&state)?;
    let user = state
        .db_write(move |conn, _| {
            let (_, user) =
                email_tokens::redeem(conn, Purpose::VerifyEmail, &body.token, db::now())?;
            let user = user.ok_or_else(|| ApiError::email_token_invalid("the account is gone"))?;
            User::set_email_verified(conn, &user.id, true)?;
            Ok(User::find_by_id(conn, &user.id)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserBody::from(user)))
}

fn parse_email(raw: &str) -> ApiResult<UserEmail> {
    UserEmail::parse(raw).map_err(|problem| ApiError::validation_field("email", problem))
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
    let (user, pair) = state
        .db_write(move |conn, state| {
            let (_, user) =
                email_tokens::redeem(conn, Purpose::ResetPassword, &body.token, db::now())?;
            let user = user.ok_or_else(|| ApiError::email_token_invalid("the account is gone"))?;
            User::set_password_hash(conn, &user.id, &hash)?;
            User::set_email_verified(conn, &user.id, true)?;
            sessions::end_all(conn, &user.id, None, RevokeReason::PasswordChanged)?;
            state.lockout.record_success(
                conn,
                &LoginKey::user(&user.id),
                &user.id,
                &address,
                db::now(),
            )?;
            let user = User::find_by_id(conn, &user.id)?;
            let pair = sessions::start(conn, &state.issuer, &user)?;
            Ok((user, pair))
        })
        .await?;
    log::info!("password of user {} reset by email", user.id);
    Ok(HttpResponse::Ok().json(TokenPairBody::new(pair, Some(user))))
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
    let (user, pair) = state
        .db_write(move |conn, state| {
            let now = db::now();
            let (token, user) = match (&by_code, &body.token) {
                (Some((email, code)), _) => {
                    let user = User::find_by_email_key(conn, &email.key())?;
                    email_tokens::redeem_code(conn, email.as_str(), user.as_ref(), code, now)?
                }
                (None, Some(token)) => {
                    email_tokens::redeem(conn, Purpose::EmailSignin, token, now)?
                }
                (None, None) => unreachable!("checked above"),
            };
            let user = match user {
                Some(user) => user,
                None => create_account(conn, &token.email)?,
            };
            User::set_email_verified(conn, &user.id, true)?;
            let user = User::find_by_id(conn, &user.id)?;
            let pair = sessions::start(conn, &state.issuer, &user)?;
            Ok((user, pair))
        })
        .await?;
    Ok(HttpResponse::Ok().json(TokenPairBody::new(pair, Some(user))))
}

/// `email.signin_creates_account`: the first emailed sign-in of an address makes its account,
/// with no password. If one was made meanwhile, that one is used.
fn create_account(conn: &mut db::DbConnection, address: &str) -> ApiResult<User> {
    let email = parse_email(address)?;
    let now = db::now();
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        email: email.as_str().to_owned(),
        email_key: email.key(),
        username: None,
        username_key: None,
        password_hash: None,
        first_name: String::new(),
        last_name: String::new(),
        phone: String::new(),
        email_verified: true,
        is_active: true,
        is_staff: false,
        created_at: now,
        updated_at: now,
    };
    match user.insert(conn) {
        Ok(_) => Ok(user),
        Err(error) if is_unique_violation(&error) => User::find_by_email_key(conn, &email.key())?
            .ok_or_else(|| ApiError::internal("an account vanished while being created")),
        Err(error) => Err(error.into()),
    }
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
    let address = limit_key(client_ip(&state, &req));
    let lookup = caller.clone();
    let checking = address.clone();
    let (user, lock) = state
        .db(move |conn, state| {
            let user = current_user(conn, state, &lookup)?;
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
    if new_email.key() == user.email_key {
        return Err(ApiError::validation_field(
            "newEmail",
            "This is already your email address.",
        ));
    }
    let verified = state
        .hasher
        .verify(
            SecretString::from(body.current_password),
            user.password_hash.clone(),
        )
        .await?;
    let key = LoginKey::user(&user.id);
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
    state
        .db_write(move |conn, state| {
            if User::find_by_email_key(conn, &new_email.key())?.is_some() {
                return Err(ApiError::email_taken());
            }
            let now = db::now();
            let mail = mail(state)?;
            email_tokens::issue(
                conn,
                mail,
                Purpose::ChangeEmail,
                Some(&user),
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
            state
                .lockout
                .record_success(conn, &key, &user.id, &address, now)
        })
        .await?;
    mail(&state)?.wake();
    Ok(accepted())
}

/// Makes the confirmed address the account's email (verified) and ends the other sessions:
/// those of the caller's bearer token, if one is sent, stay.
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
    let user = state
        .db_write(move |conn, _| {
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
            let keep = caller
                .as_ref()
                .filter(|c| c.user_id == user.id)
                .map(|c| c.session_id.as_str());
            sessions::end_all(conn, &user.id, keep, RevokeReason::EmailChanged)?;
            Ok(User::find_by_id(conn, &user.id)?)
        })
        .await?;
    log::info!("email of user {} changed", user.id);
    Ok(HttpResponse::Ok().json(UserBody::from(user)))
}
