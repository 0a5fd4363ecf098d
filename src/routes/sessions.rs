//! The signed-in user's sessions: the list a person checks for devices they do not know, and
//! ending one of them.

use crate::auth::audit::{Event, Record};
use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::responses::rfc3339;
use crate::auth::sessions::current_user;
use crate::auth::AuthenticatedUser;
use crate::db::sessions::{RevokeReason, Session};
use crate::db::{self};
use crate::errors::{ApiError, ApiResult};
use crate::state::{AppState, WithDb};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/auth/sessions").route(web::get().to(list)))
        .service(super::resource("/api/auth/sessions/{id}").route(web::delete().to(end)));
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionBody {
    id: String,
    created_at: String,
    /// The last refresh, or the sign-in when there was none yet.
    last_used_at: String,
    user_agent: String,
    ip: String,
    method: String,
    /// The session of the bearer token that asked.
    current: bool,
}

impl SessionBody {
    fn new(session: Session, current_id: &str) -> Self {
        Self {
            current: session.id == current_id,
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at.unwrap_or(session.created_at)),
            id: session.id,
            user_agent: session.user_agent,
            ip: session.ip,
            method: session.method,
        }
    }
}

/// The caller's live sessions, most recently used first.
async fn list(state: web::Data<AppState>, caller: AuthenticatedUser) -> ApiResult<HttpResponse> {
    let current = caller.session_id.clone();
    let sessions = state
        .db(move |conn, state| {
            let user = current_user(conn, &state.sessions, &caller)?;
            let now = db::now();
            Ok(Session::live_of_user(
                conn,
                &user.id,
                now,
                state.sessions.oldest_live_start(now),
            )?)
        })
        .await?;
    let body: Vec<SessionBody> = sessions
        .into_iter()
        .map(|session| SessionBody::new(session, &current))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Ends one of the caller's sessions (the current one too): 204, also when it had already
/// ended. Any other id is 404, whether it is another user's or none, so ids cannot be probed.
async fn end(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let origin = super::client_ip::request_origin(&state, &req);
    let ended = state
        .db_write(move |conn, state| {
            let user = current_user(conn, &state.sessions, &caller)?;
            if Session::revoke(conn, &id, &user.id, RevokeReason::EndedByOwner)? {
                Record::new(Event::SessionRevoked, Some(&user.id))
                    .detail("sessionId", id.as_str())
                    .write(conn, &origin)?;
                return Ok(true);
            }
            let owned = Session::find_with_user(conn, &id)?;
            Ok(owned.is_some_and(|(session, _)| session.user_id == user.id))
        })
        .await?;
    if !ended {
        return Err(ApiError::not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}
