//! The audit log, read: everything for admins (`GET /api/admin/audit`), and a person's own
//! security events (`GET /api/auth/me/events`).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::admin::parse_time;
use super::pagination::{self, Page};
use super::principal::Principal;
use super::responses::rfc3339;
use crate::auth::audit::Event;
use crate::auth::sessions::current_user;
use crate::auth::AuthenticatedUser;
use crate::db::audit::{AuditEvent, AuditFilter};
use crate::db::Position;
use crate::errors::{ApiError, ApiResult};
use crate::state::{AppState, WithDb};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/admin/audit").route(web::get().to(all)))
        .service(super::resource("/api/auth/me/events").route(web::get().to(own)));
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventBody {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    created_at: String,
    user_id: Option<String>,
    actor: String,
    ip: String,
    user_agent: String,
    details: serde_json::Value,
}

impl From<AuditEvent> for EventBody {
    fn from(event: AuditEvent) -> Self {
        Self {
            details: serde_json::from_str(&event.details).unwrap_or_default(),
            id: event.id,
            event_type: event.event_type,
            created_at: rfc3339(event.created_at),
            user_id: event.user_id,
            actor: event.actor,
            ip: event.ip,
            user_agent: event.user_agent,
        }
    }
}

fn page(events: Vec<AuditEvent>, limit: i64) -> Page<EventBody> {
    Page::new(
        events,
        limit,
        |event| Position {
            created_at: event.created_at,
            id: event.id.clone(),
        },
        EventBody::from,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AuditQuery {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default, rename = "type")]
    event_type: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    cursor: Option<String>,
}

/// `?userId=`, `?type=` (one of the event types), `?after=` and `?before=` (RFC 3339), newest
/// first, in cursor pages.
async fn all(
    state: web::Data<AppState>,
    caller: Principal,
    query: web::Query<AuditQuery>,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    let limit = pagination::limit(query.limit)?;
    let from = pagination::parse_cursor(query.cursor.as_deref())?;
    let event_type = match query.event_type.as_deref().filter(|t| !t.is_empty()) {
        Some(name) => Some(
            Event::parse(name)
                .ok_or_else(|| ApiError::validation_field("type", "Send one of the event types."))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let filter = AuditFilter {
        user_id: query.user_id.filter(|id| !id.is_empty()),
        event_type,
        after: query
            .after
            .as_deref()
            .map(|t| parse_time("after", t))
            .transpose()?,
        before: query
            .before
            .as_deref()
            .map(|t| parse_time("before", t))
            .transpose()?,
    };
    let events = state
        .db(move |conn, state| {
            caller.admin(conn, state)?;
            Ok(AuditEvent::page(conn, &filter, from.as_ref(), limit)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page(events, limit)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OwnQuery {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    cursor: Option<String>,
}

/// The caller's own security events: sign-ins and failed attempts, password and email
/// changes, sessions ended, and what admins did to their account.
async fn own(
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
    query: web::Query<OwnQuery>,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    let limit = pagination::limit(query.limit)?;
    let from = pagination::parse_cursor(query.cursor.as_deref())?;
    let events = state
        .db(move |conn, state| {
            let user = current_user(conn, &state.sessions, &caller)?;
            let filter = AuditFilter {
                user_id: Some(user.id),
                ..AuditFilter::default()
            };
            Ok(AuditEvent::page(conn, &filter, from.as_ref(), limit)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page(events, limit)))
}
