//! `/api/auth/api-keys`: a person's API keys (and, for admins, anyone's). Keys are managed
//! with a person's access token only: a key cannot make or list keys, so a leaked one cannot
//! multiply itself.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::admin::parse_time;
use super::client_ip::request_origin;
use super::json::ValidJson;
use super::responses::rfc3339;
use crate::auth::admin::{find_user, require_admin};
use crate::auth::api_keys::{self, Scope};
use crate::auth::audit::{Actor, Event, Record};
use crate::auth::sessions::current_user;
use crate::auth::AuthenticatedUser;
use crate::db::api_keys::ApiKey;
use crate::db::{self, DbConnection};
use crate::errors::{ApiError, ApiResult};
use crate::limits::Rule;
use crate::state::{AppState, WithDb};

const MAX_NAME_CHARS: usize = 100;
/// Live keys per user: enough for every script, few enough that a stolen session cannot
/// fill the table.
const MAX_LIVE_KEYS: usize = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/auth/api-keys")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(super::resource("/api/auth/api-keys/{id}").route(web::delete().to(revoke)));
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyBody {
    id: String,
    user_id: String,
    name: String,
    prefix: String,
    scopes: Vec<&'static str>,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
    /// Only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl From<ApiKey> for KeyBody {
    fn from(key: ApiKey) -> Self {
        Self {
            scopes: api_keys::scopes_of(&key.scopes)
                .iter()
                .map(|s| s.as_str())
                .collect(),
            id: key.id,
            user_id: key.user_id,
            name: key.name,
            prefix: key.prefix,
            created_at: rfc3339(key.created_at),
            expires_at: key.expires_at.map(rfc3339),
            last_used_at: key.last_used_at.map(rfc3339),
            revoked_at: key.revoked_at.map(rfc3339),
            key: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    name: String,
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<String>,
    /// Admins: make the key for this user.
    #[serde(default)]
    user_id: Option<String>,
}

/// The user whose keys the caller manages: their own, or (admins) `user_id`'s. Returns the
/// user id and the actor for the audit log.
fn owner_for(
    conn: &mut DbConnection,
    state: &AppState,
    caller: &AuthenticatedUser,
    user_id: Option<&str>,
) -> ApiResult<(crate::db::users::User, Actor)> {
    let me = current_user(conn, &state.sessions, caller)?;
    match user_id.filter(|id| *id != me.id) {
        None => {
            let actor = Actor::User(me.id.clone());
            Ok((me, actor))
        }
        Some(id) => {
            let admin = require_admin(conn, &state.sessions, caller)?;
            Ok((find_user(conn, id)?, admin.actor))
        }
    }
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
    ValidJson(body): ValidJson<CreateBody>,
) -> ApiResult<HttpResponse> {
    let key = format!("user:{}", caller.user_id);
    super::client_ip::limit(&state, &req, Rule::ApiKeyCreatePerUser, &key).await?;
    let mut errors = crate::errors::FieldErrors::default();
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        errors.add(
            "name",
            [format!("Send a name of 1 to {MAX_NAME_CHARS} characters.")],
        );
    }
    let mut scopes: Vec<Scope> = Vec::new();
    for raw in &body.scopes {
        match Scope::parse(raw) {
            Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Some(_) => {}
            None => errors.add(
                "scopes",
                [format!(
                    "Unknown scope {raw:?}; use read:me, admin or services."
                )],
            ),
        }
    }
    if body.scopes.is_empty() {
        errors.add("scopes", ["Send at least one scope.".to_owned()]);
    }
    let expires_at = match body.expires_at.as_deref() {
        Some(text) => match parse_time("expiresAt", text) {
            Ok(at) if at > db::now() => Some(at),
            Ok(_) => {
                errors.add("expiresAt", ["Send a time in the future.".to_owned()]);
                None
            }
            Err(error) => return Err(error),
        },
        None => None,
    };
    errors.into_result()?;
    let made = api_keys::generate();
    let origin = request_origin(&state, &req);
    let (prefix, sha256) = (made.prefix.clone(), made.sha256.clone());
    let key = state
        .db_transaction(move |conn, state| {
            let (owner, actor) = owner_for(conn, state, &caller, body.user_id.as_deref())?;
            if scopes.contains(&Scope::Admin) && !owner.is_staff {
                return Err(ApiError::forbidden(
                    "forbidden",
                    "Only a staff user's key may have the admin scope.",
                ));
            }
            let live = ApiKey::of_user(conn, &owner.id)?
                .into_iter()
                .filter(|k| k.revoked_at.is_none())
                .count();
            if live >= MAX_LIVE_KEYS {
                return Err(ApiError::conflict(
                    "too_many_api_keys",
                    format!("A user may have {MAX_LIVE_KEYS} live API keys; revoke one first."),
                ));
            }
            let scope_names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            let key = ApiKey {
                id: uuid::Uuid::new_v4().to_string(),
                user_id: owner.id.clone(),
                name,
                prefix,
                key_sha256: sha256,
                scopes: scope_names.join(" "),
                created_at: db::now(),
                expires_at,
                last_used_at: None,
                revoked_at: None,
            };
            key.insert(conn)?;
            Record::new(Event::ApiKeyCreated, Some(&owner.id))
                .by(actor)
                .detail("prefix", key.prefix.as_str())
                .detail("scopes", scope_names)
                .write(conn, &origin)?;
            Ok(key)
        })
        .await?;
    let mut body = KeyBody::from(key);
    body.key = Some(secrecy::ExposeSecret::expose_secret(&made.key).to_owned());
    Ok(HttpResponse::Created().json(body))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    user_id: Option<String>,
}

/// The caller's keys (or, for admins, `?userId=`'s), newest first, revoked ones too; never
/// the keys themselves.
async fn list(
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let user_id = query.into_inner().user_id;
    let keys = state
        .db(move |conn, state| {
            let (owner, _) = owner_for(conn, state, &caller, user_id.as_deref())?;
            Ok(ApiKey::of_user(conn, &owner.id)?)
        })
        .await?;
    let body: Vec<KeyBody> = keys.into_iter().map(KeyBody::from).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Revokes a key of the caller's (admins: anyone's). 204, also when it was revoked already;
/// 404 for a key that is not theirs to revoke, whether it exists or not. This replica stops
/// accepting it at once; others within `api_keys.cache_secs`.
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let origin = request_origin(&state, &req);
    let prefix = state
        .db_transaction(move |conn, state| {
            let me = current_user(conn, &state.sessions, &caller)?;
            let key = ApiKey::find(conn, &id)?.ok_or_else(ApiError::not_found)?;
            let actor = if key.user_id == me.id {
                Actor::User(me.id.clone())
            } else {
                match require_admin(conn, &state.sessions, &caller) {
                    Ok(admin) => admin.actor,
                    Err(_) => return Err(ApiError::not_found()),
                }
            };
            if ApiKey::revoke(conn, &key.id, db::now())? {
                Record::new(Event::ApiKeyRevoked, Some(&key.user_id))
                    .by(actor)
                    .detail("prefix", key.prefix.as_str())
                    .write(conn, &origin)?;
            }
            Ok(key.prefix)
        })
        .await?;
    state.api_keys.invalidate(&prefix).await;
    Ok(HttpResponse::NoContent().finish())
}
