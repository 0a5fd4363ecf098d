//! Routes for internal services, authenticated by a service credential (`[services.<name>]`):
//! the revocation feed a verifier polls, and RFC 7662 introspection for a definitive answer.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::json::FormOrJson;
use super::principal::ServiceAccess;
use crate::auth::revocations::{self, Cursor};
use crate::auth::sessions;
use crate::db;
use crate::errors::{ApiError, ApiResult};
use crate::state::{AppState, WithDb};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/auth/revocations").route(web::get().to(feed)))
        .service(super::resource("/api/auth/introspect").route(web::post().to(introspect)));
}

#[derive(Deserialize)]
struct FeedQuery {
    #[serde(default)]
    since: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FeedBody {
    sessions: Vec<serde_json::Value>,
    users: Vec<serde_json::Value>,
    cursor: String,
    /// A page was full: read again at once with the new cursor.
    more: bool,
    /// How long an entry matters (the access-token lifetime plus leeway); a verifier may
    /// forget it after that.
    horizon_secs: i64,
}

/// `GET /api/auth/revocations?since=<cursor>`: sessions revoked and users' "not before"
/// times since the cursor (without one: within the horizon), and the cursor for the next
/// poll. Entries may repeat across polls.
async fn feed(
    state: web::Data<AppState>,
    _caller: ServiceAccess,
    query: web::Query<FeedQuery>,
) -> ApiResult<HttpResponse> {
    let since = match query.into_inner().since.filter(|s| !s.is_empty()) {
        Some(text) => Some(Cursor::parse(&text).ok_or_else(|| {
            ApiError::validation_field("since", "Send the cursor of the previous answer.")
        })?),
        None => None,
    };
    let horizon = state.revocation_horizon;
    let feed = state
        .db(move |conn, _| Ok(revocations::read(conn, db::now(), since, horizon)?))
        .await?;
    Ok(HttpResponse::Ok().json(FeedBody {
        sessions: feed
            .sessions
            .into_iter()
            .map(|s| json!({ "sid": s.sid, "sub": s.sub, "revokedAt": s.revoked_at }))
            .collect(),
        users: feed
            .users
            .into_iter()
            .map(|u| json!({ "sub": u.sub, "notBefore": u.not_before }))
            .collect(),
        cursor: feed.cursor.to_string(),
        more: feed.more,
        horizon_secs: horizon.num_seconds(),
    }))
}

#[derive(Deserialize)]
struct IntrospectBody {
    token: String,
    /// RFC 7662's hint; authd looks at the token itself.
    #[serde(default)]
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

/// RFC 7662. Active only for an access token that verifies and whose session and user are
/// live at this moment (the database is read). Anything else, a refresh token included (a
/// service has no use for one, and calling it active would invite using it as a bearer
/// token), is `{"active": false}` with no reason, as the RFC asks.
async fn introspect(
    state: web::Data<AppState>,
    _caller: ServiceAccess,
    FormOrJson(body): FormOrJson<IntrospectBody>,
) -> ApiResult<HttpResponse> {
    let inactive = || HttpResponse::Ok().json(json!({ "active": false }));
    let Ok(claims) = state.keys.verify_access(&body.token) else {
        return Ok(inactive());
    };
    let (sid, sub) = (claims.sid.clone(), claims.sub.clone());
    let live = state
        .db(move |conn, state| sessions::live_session_user(conn, &state.sessions, &sid, &sub))
        .await;
    match live {
        Ok(_) => Ok(HttpResponse::Ok().json(json!({
            "active": true,
            "sub": claims.sub,
            "sid": claims.sid,
            "jti": claims.jti,
            "exp": claims.exp,
            "iat": claims.iat,
            "iss": claims.iss,
            "aud": claims.aud,
            "client_id": claims.client_id,
            "token_type": "Bearer",
        }))),
        // The database could not answer: not "inactive", which a service would act on.
        Err(error) if error.status.is_server_error() => Err(error),
        Err(_) => Ok(inactive()),
    }
}
