//! Provider sign-in: list the providers, start at a provider, finish with a token pair.

use crate::auth::audit::{Event, Origin, Record};
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::Duration;
use diesel::Connection;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client_ip::limit_client;
use super::json::ValidJson;
use super::responses::{TokenPairBody, UserBody};
use crate::auth::oidc::{binding, ProviderIdentity};
use crate::auth::sessions::SignInMethod;
use crate::auth::{sessions, AuthenticatedUser};
use crate::db::identities::Identity;
use crate::db::oidc_states::OidcState;
use crate::db::users::User;
use crate::db::{self, is_unique_violation, DbConnection, TxError, UniqueField};
use crate::domain::UserEmail;
use crate::errors::{ApiError, ApiResult};
use crate::limits::Rule;
use crate::routes::client_ip::session_origin;
use crate::state::{AppState, WithDb};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/auth/oidc/providers").route(web::get().to(providers)))
        .service(
            super::resource("/api/auth/oidc/{provider}/authorize").route(web::get().to(authorize)),
        )
        .service(
            super::resource("/api/auth/oidc/{provider}/callback").route(web::post().to(callback)),
        )
        .service(super::resource("/api/auth/oidc/{provider}/link").route(web::post().to(link)));
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderBody<'a> {
    id: &'a str,
    display_name: &'a str,
}

async fn providers(state: web::Data<AppState>) -> HttpResponse {
    let list: Vec<ProviderBody> = state
        .providers
        .list()
        .map(|p| ProviderBody {
            id: &p.id,
            display_name: &p.display_name,
        })
        .collect();
    HttpResponse::Ok().json(list)
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    redirect_uri: Option<String>,
    /// S256 of a secret the SPA keeps (`binding.rs`); required unless `allow_unbound_flows`.
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// 302 to the provider (or 200 `{"url"}` for `Accept: application/json`). The redirect URI
/// must be one of `oidc.allowed_redirect_uris` exactly: no open redirects.
async fn authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<AuthorizeQuery>,
) -> ApiResult<HttpResponse> {
    // Unauthenticated and it writes a row: limited per address, and the rows kept are capped.
    limit_client(&state, &req, Rule::OidcAuthorizePerIp).await?;
    let provider = state.providers.get(&path)?;
    let query = query.into_inner();
    let redirect_uri = query.redirect_uri.unwrap_or_default();
    if !state.oidc.allowed_redirect_uris.contains(&redirect_uri) {
        return Err(ApiError::invalid_redirect_uri());
    }
    let browser_challenge = match query.code_challenge {
        Some(challenge) => Some(
            binding::parse_challenge(&challenge, query.code_challenge_method.as_deref())
                .map_err(|problem| ApiError::validation_field("code_challenge", problem))?,
        ),
        None if state.oidc.allow_unbound_flows => None,
        None => {
            return Err(ApiError::validation_field(
                "code_challenge",
                "Send code_challenge (S256 of a secret this browser keeps) and code_challenge_method=S256.",
            ))
        }
    };
    // With a bearer token this starts a link, which only that user can complete.
    let linker = match req.headers().contains_key(header::AUTHORIZATION) {
        true => Some(AuthenticatedUser::extract(&req).await?),
        false => None,
    };
    let request = state.providers.authorize(provider, &redirect_uri).await?;
    let now = db::now();
    let row = OidcState {
        state: request.state.clone(),
        provider: provider.id.clone(),
        nonce: request.nonce.clone(),
        pkce_verifier: request.pkce_verifier.expose_secret().to_owned(),
        redirect_uri,
        created_at: now,
        expires_at: now
            + Duration::seconds(i64::try_from(state.oidc.state_ttl_secs).unwrap_or(600)),
        browser_challenge,
        link_user_id: linker.as_ref().map(|caller| caller.user_id.clone()),
    };
    state
        .db_write(move |conn, state| {
            if let Some(caller) = &linker {
                crate::auth::sessions::current_user(conn, &state.sessions, caller)?;
            }
            if OidcState::count_pending(conn, now)? >= state.oidc_max_pending_states {
                log::warn!(
                    "authorize refused: {} sign-ins pending (rate_limit.oidc_max_pending_states)",
                    state.oidc_max_pending_states
                );
                return Err(ApiError::overloaded());
            }
            Ok(row.insert(conn)?)
        })
        .await?;
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    Ok(if wants_json {
        HttpResponse::Ok().json(json!({ "url": request.url }))
    } else {
        HttpResponse::Found()
            .insert_header((header::LOCATION, request.url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    })
}

#[derive(Deserialize)]
struct CallbackBody {
    code: String,
    state: String,
    /// Sign in with Apple's `user` form field, passed on by the SPA: the person's name, sent
    /// by Apple on the first sign-in only and never in the ID token. A JSON string or object.
    #[serde(default)]
    user: Option<serde_json::Value>,
    /// The secret whose S256 the browser sent to authorize.
    #[serde(default)]
    code_verifier: Option<String>,
}

/// The name in Apple's `user` field: `{"name": {"firstName": ..., "lastName": ...}}`.
fn apple_name(user: Option<&serde_json::Value>) -> (Option<String>, Option<String>) {
    let parsed = match user {
        Some(serde_json::Value::String(text)) => serde_json::from_str(text).unwrap_or_default(),
        Some(value) => value.clone(),
        None => serde_json::Value::Null,
    };
    let part = |key: &str| {
        parsed["name"][key]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= 150)
            .map(str::to_owned)
    };
    (part("firstName"), part("lastName"))
}

/// Consumes the state and exchanges the code; the identity that comes back is checked and
/// returned. Any failure leaves the state consumed: a new sign-in must start over.
async fn verified_identity(
    state: &web::Data<AppState>,
    provider_id: &str,
    body: CallbackBody,
    flow: binding::Flow<'_>,
) -> ApiResult<ProviderIdentity> {
    let provider = state.providers.get(provider_id)?;
    let key = body.state;
    let (first_name, last_name) = apple_name(body.user.as_ref());
    let stored = state
        .db_write(move |conn, _| Ok(OidcState::consume(conn, &key)?))
        .await?
        .filter(|s| s.provider == provider.id && s.expires_at > db::now())
        .ok_or_else(ApiError::invalid_state)?;
    if let Some(reason) = binding::refusal(
        stored.browser_challenge.as_deref(),
        stored.link_user_id.as_deref(),
        body.code_verifier.as_deref(),
        flow,
        state.oidc.allow_unbound_flows,
    ) {
        return Err(ApiError::invalid_state().with_reason(reason));
    }
    let mut identity = state
        .providers
        .exchange(
            provider,
            &body.code,
            &stored.redirect_uri,
            &stored.nonce,
            &stored.pkce_verifier,
        )
        .await?;
    identity.given_name = identity.given_name.or(first_name);
    identity.family_name = identity.family_name.or(last_name);
    Ok(identity)
}

async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    ValidJson(body): ValidJson<CallbackBody>,
) -> ApiResult<HttpResponse> {
    limit_client(&state, &req, Rule::OidcCallbackPerIp).await?;
    let provider_id = path.into_inner();
    let identity = verified_identity(&state, &provider_id, body, binding::Flow::SignIn).await?;
    let origin = session_origin(&state, &req, SignInMethod::Oidc(&provider_id));
    let (user, pair, is_new) = state
        .db_write(move |conn, state| {
            // User, identity and session are written together or not at all; a concurrent
            // first sign-in of the same identity loses on the unique index and gets 409.
            conn.transaction(|conn| {
                let (user, is_new) = sign_in(conn, state, &provider_id, &identity)?;
                if is_new {
                    Record::new(Event::Registered, Some(&user.id))
                        .detail("method", origin.method.as_str())
                        .write(conn, &Origin::from(&origin))?;
                }
                let pair = sessions::start(conn, &state.issuer, &user, &origin)?;
                Ok((user, pair, is_new))
            })
            .map_err(|error: TxError| {
                error.into_api(|field| match field {
                    // A concurrent sign-up (or another provider's first sign-in) took the email.
                    UniqueField::Email => ApiError::account_exists(),
                    _ => ApiError::identity_taken(),
                })
            })
        })
        .await?;
    let mut body =
        serde_json::to_value(TokenPairBody::new(pair, Some(user))).map_err(ApiError::internal)?;
    body["isNewUser"] = json!(is_new);
    Ok(HttpResponse::Ok().json(body))
}

/// The user an identity signs in as: its owner, an existing account with the same verified
/// email (only with `oidc.link_verified_email`), or a new user with no usable password.
fn sign_in(
    conn: &mut DbConnection,
    state: &AppState,
    provider: &str,
    identity: &ProviderIdentity,
) -> ApiResult<(User, bool)> {
    if let Some(known) = Identity::find(conn, provider, &identity.subject)? {
        Identity::touch(conn, &known.id)?;
        return Ok((User::find_by_id(conn, &known.user_id)?, false));
    }
    let email = identity
        .email
        .as_deref()
        .and_then(|e| UserEmail::parse(e).ok())
        .ok_or_else(ApiError::oidc_email_missing)?;
    if let Some(existing) = User::find_by_email_key(conn, &email.key())? {
        // Linking by email alone would let anyone who registers the victim's email at some
        // provider take over the account; only a verified email, and only when allowed.
        if !(state.oidc.link_verified_email && identity.email_verified) {
            return Err(ApiError::account_exists());
        }
        // Pre-account takeover: anyone can register someone else's email with a password of
        // their choosing. Such an account is linked only once its own email is verified, or
        // when it has no password at all (only provider identities, or made by an admin).
        if !existing.email_verified && existing.password_hash.is_some() {
            return Err(ApiError::account_exists());
        }
        if !existing.is_active {
            return Err(ApiError::user_inactive());
        }
        Identity::new(
            &existing.id,
            provider,
            &identity.subject,
            Some(email.as_str().to_owned()),
        )
        .insert(conn)?;
        User::confirm_email_dropping_unproven_password(conn, &existing)?;
        return Ok((User::find_by_id(conn, &existing.id)?, false));
    }
    let user = User {
        first_name: identity.given_name.clone().unwrap_or_default(),
        last_name: identity.family_name.clone().unwrap_or_default(),
        email_verified: identity.email_verified,
        ..User::new_account(email.as_str(), email.key(), db::now())
    };
    user.insert(conn)?;
    Identity::new(
        &user.id,
        provider,
        &identity.subject,
        Some(email.as_str().to_owned()),
    )
    .insert(conn)?;
    Ok((user, true))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityBody {
    id: String,
    provider: String,
    subject: String,
    email: Option<String>,
    created_at: String,
    last_used_at: String,
}

impl From<Identity> for IdentityBody {
    fn from(identity: Identity) -> Self {
        Self {
            id: identity.id,
            provider: identity.provider,
            subject: identity.subject,
            email: identity.email,
            created_at: super::responses::rfc3339(identity.created_at),
            last_used_at: super::responses::rfc3339(identity.last_used_at),
        }
    }
}

/// Attaches a provider identity to the signed-in user.
async fn link(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
    ValidJson(body): ValidJson<CallbackBody>,
) -> ApiResult<HttpResponse> {
    limit_client(&state, &req, Rule::OidcCallbackPerIp).await?;
    let provider_id = path.into_inner();
    let flow = binding::Flow::Link {
        user_id: &caller.user_id,
    };
    let identity = verified_identity(&state, &provider_id, body, flow).await?;
    let origin = super::client_ip::request_origin(&state, &req);
    let (linked, user) = state
        .db_write(move |conn, state| {
            let user = crate::auth::sessions::current_user(conn, &state.sessions, &caller)?;
            if let Some(known) = Identity::find(conn, &provider_id, &identity.subject)? {
                return if known.user_id == user.id {
                    Ok((known, user))
                } else {
                    Err(ApiError::identity_taken())
                };
            }
            let linked = Identity::new(
                &user.id,
                &provider_id,
                &identity.subject,
                identity.email.clone(),
            );
            linked.insert(conn).map_err(|e| {
                if is_unique_violation(&e) {
                    ApiError::identity_taken()
                } else {
                    e.into()
                }
            })?;
            Record::new(Event::IdentityLinked, Some(&user.id))
                .detail("provider", provider_id.as_str())
                .write(conn, &origin)?;
            Ok((linked, user))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .json(json!({ "identity": IdentityBody::from(linked), "user": UserBody::from(user) })))
}
