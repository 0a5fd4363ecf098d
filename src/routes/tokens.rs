//! Login, refresh, logout and verify: the token endpoints, at their simplejwt paths too.

use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::client_ip::{limit_client, limit_key};
use super::json::ValidJson;
use super::responses::TokenPairBody;
use crate::auth::audit::{Actor, Event, Record};
use crate::auth::lockout::LoginKey;
use crate::auth::sessions;
use crate::auth::sessions::SignInMethod;
use crate::auth::AuthenticatedUser;
use crate::db;
use crate::db::sessions::RevokeReason;
use crate::db::users::User;
use crate::domain::{UserEmail, Username, MAX_PASSWORD_BYTES};
use crate::errors::{ApiError, ApiResult};
use crate::limits::Rule;
use crate::routes::client_ip::{request_origin, session_origin};
use crate::state::{AppState, WithDb};

pub fn configure(cfg: &mut web::ServiceConfig) {
    super::aliases(cfg, &["/api/auth/login", "/api/auth/token"], |r| {
        r.route(web::post().to(login))
    });
    super::aliases(
        cfg,
        &["/api/auth/refresh", "/api/auth/token/refresh"],
        |r| r.route(web::post().to(refresh)),
    );
    super::aliases(
        cfg,
        &["/api/auth/logout", "/api/auth/token/blacklist"],
        |r| r.route(web::post().to(logout)),
    );
    cfg.service(super::resource("/api/auth/token/verify").route(web::post().to(verify)))
        .service(super::resource("/api/auth/claims").route(web::get().to(claims)));
}

#[derive(Deserialize)]
struct LoginBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    username: Option<String>,
    password: String,
}

/// Which account a login names. Django clients send the email in `username`, so a username
/// that is not found is tried as an email too.
fn find_login_user(
    conn: &mut crate::db::DbConnection,
    body: &LoginBody,
) -> ApiResult<Option<User>> {
    if let Some(email) = &body.email {
        return match UserEmail::parse(email) {
            Ok(email) => Ok(User::find_by_email_key(conn, &email.key())?),
            Err(_) => Ok(None),
        };
    }
    let Some(name) = body.username.as_deref() else {
        return Ok(None);
    };
    if let Ok(username) = Username::parse(name) {
        if let Some(user) = User::find_by_username_key(conn, &username.key())? {
            return Ok(Some(user));
        }
    }
    match UserEmail::parse(name) {
        Ok(email) => Ok(User::find_by_email_key(conn, &email.key())?),
        Err(_) => Ok(None),
    }
}

/// The key failed logins are counted under when no account has the name: the name in its
/// stored form, so `Ann@X.io` and `ann@x.io` share one count.
fn login_name_key(body: &LoginBody) -> String {
    let name = body
        .email
        .as_deref()
        .or(body.username.as_deref())
        .unwrap_or_default();
    if let Ok(email) = UserEmail::parse(name) {
        return email.key();
    }
    match Username::parse(name) {
        Ok(username) => username.key(),
        Err(_) => name.trim().to_lowercase(),
    }
}

/// Password login, counted by result (`authd_logins_total`).
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<LoginBody>,
) -> ApiResult<HttpResponse> {
    // A lock answers like a rate limit (it must not tell that the account exists), so only
    // the login itself can tell the two apart.
    let mut locked = false;
    let result = check_login(&req, &state, body, &mut locked).await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(_) if locked => "locked",
        Err(error) => error.code,
    };
    state.metrics.logins.with_label_values(&[outcome]).inc();
    result
}

async fn check_login(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    ValidJson(body): ValidJson<LoginBody>,
    locked: &mut bool,
) -> ApiResult<HttpResponse> {
    state.require_local_login()?;
    // Before anything is looked up or hashed: a flood from one address never reaches the
    // hashing queue that real users wait in.
    let address = limit_key(limit_client(state, req, Rule::LoginPerIp).await?);
    if body.email.is_none() && body.username.is_none() {
        return Err(ApiError::validation_field(
            "email",
            "Send email or username.",
        ));
    }
    if body.password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid_credentials());
    }
    let password = SecretString::from(body.password.clone());
    let checking = address.clone();
    let (user, key, lock) = state
        .db(move |conn, state| {
            let user = find_login_user(conn, &body)?;
            let key = match &user {
                Some(user) => LoginKey::user(&user.id),
                None => LoginKey::name(&login_name_key(&body)),
            };
            let user_id = user.as_ref().map(|u| u.id.as_str());
            let lock = state
                .lockout
                .check(conn, &key, user_id, &checking, db::now())?;
            Ok((user, key, lock))
        })
        .await?;
    if let Err(lock) = lock {
        *locked = true;
        return Err(ApiError::rate_limited(lock.wait(db::now())));
    }
    // An unknown user is still checked against a dummy hash, so both failures take as long.
    let verified = state
        .hasher
        .verify(
            password,
            user.as_ref().and_then(|u| u.password_hash.clone()),
        )
        .await?;
    let audit_origin = request_origin(state, req);
    let user = match user {
        Some(user) if verified.matches => user,
        user => {
            let failed = address.clone();
            let user_id = user.map(|u| u.id);
            state
                .db_write(move |conn, state| {
                    let locked = state
                        .lockout
                        .record_failure(conn, &key, &failed, db::now())?;
                    let user_id = user_id.as_deref();
                    Record::new(Event::LoginFailed, user_id)
                        .by(Actor::Anonymous)
                        .detail("reason", "invalid_credentials")
                        .write(conn, &audit_origin)?;
                    if locked {
                        Record::new(Event::LockoutTriggered, user_id)
                            .by(Actor::System)
                            .write(conn, &audit_origin)?;
                    }
                    Ok(())
                })
                .await?;
            return Err(ApiError::invalid_credentials());
        }
    };
    let refused = if !user.is_active {
        Some(ApiError::user_inactive())
    } else if state
        .mail
        .as_ref()
        .is_some_and(|m| m.settings.require_verification)
        && !user.email_verified
    {
        Some(ApiError::email_not_verified())
    } else {
        None
    };
    if let Some(refused) = refused {
        let (user_id, origin, reason) = (user.id.clone(), audit_origin, refused.code);
        state
            .db_write(move |conn, _| {
                Record::new(Event::LoginFailed, Some(&user_id))
                    .by(Actor::Anonymous)
                    .detail("reason", reason)
                    .write(conn, &origin)?;
                Ok(())
            })
            .await?;
        return Err(refused);
    }
    let origin = session_origin(state, req, SignInMethod::Password);
    let (user, pair) = state
        .db_write(move |conn, state| {
            if let Some(hash) = &verified.upgraded_hash {
                User::set_password_hash(conn, &user.id, hash)?;
                log::info!("upgraded the password hash of user {}", user.id);
            }
            state
                .lockout
                .record_success(conn, &key, &user.id, &address, db::now())?;
            let pair = sessions::start(conn, &state.issuer, &user, &origin)?;
            Ok((user, pair))
        })
        .await?;
    Ok(HttpResponse::Ok().json(TokenPairBody::new(pair, Some(user))))
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh: String,
}

/// Counted by result (`authd_refreshes_total`), reuse also on its own.
async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<RefreshBody>,
) -> ApiResult<HttpResponse> {
    let result = rotate_refresh(&req, &state, body).await;
    let outcome = result
        .as_ref()
        .map_or_else(|error| error.code, |_| "success");
    state.metrics.refreshes.with_label_values(&[outcome]).inc();
    if outcome == "token_reused" {
        state.metrics.refresh_token_reuse.inc();
    }
    result
}

async fn rotate_refresh(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    ValidJson(body): ValidJson<RefreshBody>,
) -> ApiResult<HttpResponse> {
    limit_client(state, req, Rule::RefreshPerIp).await?;
    if let Some(cutover) = &state.simplejwt {
        if cutover.claims(&body.refresh, chrono::Utc::now()) {
            return exchange_simplejwt(req, state, cutover, &body.refresh).await;
        }
    }
    let claims = state.keys.verify_refresh(&body.refresh, true)?;
    let origin = request_origin(state, req);
    let pair = state
        .db_write(move |conn, state| {
            sessions::rotate(conn, &state.issuer, state.sessions, &claims, &origin)
        })
        .await?
        .sign(&state.issuer)?;
    Ok(HttpResponse::Ok().json(TokenPairBody::new(pair, None)))
}

/// A simplejwt refresh token from before the move from Django, exchanged once for the first
/// pair of an authd session (`django.accept_simplejwt_until`).
async fn exchange_simplejwt(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    cutover: &crate::auth::simplejwt::SimplejwtCutover,
    token: &str,
) -> ApiResult<HttpResponse> {
    let token = cutover.verify(token)?;
    let origin = session_origin(state, req, SignInMethod::Simplejwt);
    let pair = state
        .db_write(move |conn, state| {
            crate::auth::simplejwt::exchange(conn, &state.issuer, state.sessions, &token, &origin)
        })
        .await?
        .sign(&state.issuer)?;
    Ok(HttpResponse::Ok().json(TokenPairBody::new(pair, None)))
}

#[derive(Deserialize)]
struct LogoutBody {
    #[serde(default)]
    refresh: Option<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    scope: Option<String>,
}

/// Which sessions a logout ends. The scope names are GoTrue's, so Supabase clients map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogoutScope {
    /// The refresh token's session (the default).
    Local,
    /// Every session of the user (`"all": true` too); needs the bearer token.
    Global,
    /// Every session but the bearer token's own.
    Others,
}

impl LogoutBody {
    fn scope(&self) -> ApiResult<LogoutScope> {
        let named = match self.scope.as_deref() {
            None => None,
            Some("local") => Some(LogoutScope::Local),
            Some("global") => Some(LogoutScope::Global),
            Some("others") => Some(LogoutScope::Others),
            Some(_) => {
                return Err(ApiError::validation_field(
                    "scope",
                    "Use \"local\", \"global\" or \"others\".",
                ))
            }
        };
        match (self.all, named) {
            (false, named) => Ok(named.unwrap_or(LogoutScope::Local)),
            (true, None | Some(LogoutScope::Global)) => Ok(LogoutScope::Global),
            (true, Some(_)) => Err(ApiError::validation_field(
                "scope",
                "\"all\": true means the global scope.",
            )),
        }
    }
}

/// Ends the refresh token's session (scope `local`); with `"all": true` or `"scope":
/// "global"` and a valid bearer token, every session of the user; with `"scope": "others"`
/// and a bearer token, every session but the bearer's (a refresh token sent along must be the
/// same user's, and its session is kept unless it is another one). Idempotent: logging out
/// twice is not an error. Access tokens already issued stay valid until they expire (they are
/// checked offline); keep their lifetime short.
async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<LogoutBody>,
) -> ApiResult<HttpResponse> {
    // Each logout may write (the blacklist, the audit log): counted with refreshes.
    limit_client(&state, &req, Rule::RefreshPerIp).await?;
    let scope = body.scope()?;
    let caller = match scope {
        LogoutScope::Local => None,
        LogoutScope::Global | LogoutScope::Others => Some(AuthenticatedUser::extract(&req).await?),
    };
    // An expired refresh token can still name its session; ending it is harmless.
    let presented = match &body.refresh {
        Some(token) => Some(state.keys.verify_refresh(token, false)?),
        None if caller.is_some() => None,
        None => {
            return Err(ApiError::validation_field(
                "refresh",
                "This field is required.",
            ))
        }
    };
    if let (Some(caller), Some(presented)) = (&caller, &presented) {
        if caller.user_id != presented.sub {
            return Err(ApiError::token_invalid(
                "the refresh token belongs to another user than the bearer token",
            ));
        }
    }
    let origin = request_origin(&state, &req);
    state
        .db_write(move |conn, state| {
            // An access token outlives its session by up to its TTL: one left over from a
            // session that a password change ended must not end the sessions started since.
            if let Some(caller) = &caller {
                sessions::live_session_user(
                    conn,
                    &state.sessions,
                    &caller.session_id,
                    &caller.user_id,
                )?;
            }
            let event = match (scope, &caller) {
                (LogoutScope::Global, Some(caller)) => {
                    if let Some(presented) = &presented {
                        sessions::end(conn, presented)?;
                    }
                    sessions::end_all(conn, &caller.user_id, None, RevokeReason::LogoutAll)?;
                    Event::LogoutAll
                }
                (LogoutScope::Others, Some(caller)) => {
                    let keep = Some(caller.session_id.as_str());
                    sessions::end_all(conn, &caller.user_id, keep, RevokeReason::LogoutOthers)?;
                    Event::LogoutOthers
                }
                _ => {
                    let ended = match &presented {
                        Some(presented) => sessions::end(conn, presented)?,
                        None => false,
                    };
                    if !ended {
                        return Ok(());
                    }
                    Event::Logout
                }
            };
            let user_id = caller
                .as_ref()
                .map(|c| c.user_id.as_str())
                .or(presented.as_ref().map(|p| p.sub.as_str()));
            let session_id = caller
                .as_ref()
                .map(|c| c.session_id.as_str())
                .or(presented.as_ref().map(|p| p.sid.as_str()));
            Record::new(event, user_id)
                .detail("sessionId", session_id)
                .write(conn, &origin)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct VerifyBody {
    token: String,
}

/// simplejwt's verify: 200 `{}` for a valid access token, else 401 with the reason.
async fn verify(
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<VerifyBody>,
) -> ApiResult<HttpResponse> {
    state.keys.verify_access(&body.token)?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// The caller's access-token claims, checked offline: a bearer-protected route that needs no
/// database (what every other service's protected route costs).
async fn claims(caller: AuthenticatedUser) -> HttpResponse {
    HttpResponse::Ok().json(caller.claims)
}
