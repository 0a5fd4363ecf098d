//! `/api/admin/`: user administration for staff and API keys with the `admin` scope. Every
//! handler checks the caller in the database first (`Principal::admin`), before it reads the
//! body: someone who is not an admin learns nothing, not even what a valid body looks like.

mod changes;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::oidc::IdentityBody;
use super::pagination::{self, Page};
use super::principal::Principal;
use super::responses::{rfc3339, AdminUserBody};
use crate::auth::admin::find_user;
use crate::db::identities::Identity;
use crate::db::sessions::Session;
use crate::db::users::User;
use crate::db::users_admin::UserFilter;
use crate::db::Position;
use crate::errors::{ApiError, ApiResult};
use crate::state::{AppState, WithDb};

/// The most sessions `GET /users/{id}/sessions` lists (newest first).
const SESSIONS_SHOWN: i64 = 100;
const MAX_QUERY_CHARS: usize = 100;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/admin/users")
            .route(web::get().to(list))
            .route(web::post().to(changes::create)),
    )
    .service(
        super::resource("/api/admin/users/{id}")
            .route(web::get().to(show))
            .route(web::patch().to(changes::update))
            .route(web::delete().to(changes::delete)),
    )
    .service(super::resource("/api/admin/users/{id}/logout").route(web::post().to(changes::logout)))
    .service(super::resource("/api/admin/users/{id}/sessions").route(web::get().to(sessions)))
    .service(super::resource("/api/admin/users/{id}/identities").route(web::get().to(identities)));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    is_staff: Option<bool>,
    #[serde(default)]
    created_after: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    cursor: Option<String>,
}

/// An RFC 3339 time from a query parameter.
pub fn parse_time(field: &str, text: &str) -> ApiResult<chrono::NaiveDateTime> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|time| time.naive_utc())
        .map_err(|_| ApiError::validation_field(field, "Send an RFC 3339 time."))
}

/// `?q=` (a substring of the email, username or name; case-insensitive), `?isActive=`,
/// `?isStaff=`, `?createdAfter=`, newest first, in cursor pages.
async fn list(
    state: web::Data<AppState>,
    caller: Principal,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    let limit = pagination::limit(query.limit)?;
    let from = pagination::parse_cursor(query.cursor.as_deref())?;
    let text = match query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) if q.chars().any(char::is_control) || q.chars().count() > MAX_QUERY_CHARS => {
            return Err(ApiError::validation_field(
                "q",
                format!("Send up to {MAX_QUERY_CHARS} characters, without control characters."),
            ))
        }
        q => q.map(str::to_lowercase),
    };
    let filter = UserFilter {
        text,
        is_active: query.is_active,
        is_staff: query.is_staff,
        created_after: query
            .created_after
            .as_deref()
            .map(|t| parse_time("createdAfter", t))
            .transpose()?,
    };
    let users = state
        .db(move |conn, state| {
            caller.admin(conn, state)?;
            Ok(User::page(conn, &filter, from.as_ref(), limit)?)
        })
        .await?;
    let page = Page::new(
        users,
        limit,
        |user| Position {
            created_at: user.created_at,
            id: user.id.clone(),
        },
        AdminUserBody::from,
    );
    Ok(HttpResponse::Ok().json(page))
}

async fn show(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let user = state
        .db(move |conn, state| {
            caller.admin(conn, state)?;
            find_user(conn, &id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(AdminUserBody::from(user)))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminSessionBody {
    id: String,
    created_at: String,
    last_used_at: Option<String>,
    expires_at: String,
    revoked_at: Option<String>,
    revoked_reason: Option<String>,
    method: String,
    user_agent: String,
    ip: String,
}

impl From<Session> for AdminSessionBody {
    fn from(session: Session) -> Self {
        Self {
            id: session.id,
            created_at: rfc3339(session.created_at),
            last_used_at: session.last_used_at.map(rfc3339),
            expires_at: rfc3339(session.expires_at),
            revoked_at: session.revoked_at.map(rfc3339),
            revoked_reason: session.revoked_reason,
            method: session.method,
            user_agent: session.user_agent,
            ip: session.ip,
        }
    }
}

/// Who signed in from where: the user's sessions, ended ones too, newest first.
async fn sessions(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let sessions = state
        .db(move |conn, state| {
            caller.admin(conn, state)?;
            let user = find_user(conn, &id)?;
            Ok(Session::all_of_user(conn, &user.id, SESSIONS_SHOWN)?)
        })
        .await?;
    let body: Vec<AdminSessionBody> = sessions.into_iter().map(AdminSessionBody::from).collect();
    Ok(HttpResponse::Ok().json(body))
}

async fn identities(
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let identities = state
        .db(move |conn, state| {
            caller.admin(conn, state)?;
            let user = find_user(conn, &id)?;
            Ok(Identity::list_of_user(conn, &user.id)?)
        })
        .await?;
    let body: Vec<IdentityBody> = identities.into_iter().map(IdentityBody::from).collect();
    Ok(HttpResponse::Ok().json(body))
}
