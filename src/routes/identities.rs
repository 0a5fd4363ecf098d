//! The signed-in user's linked provider identities.

use crate::auth::audit::{Event, Record};
use actix_web::{web, HttpResponse};

use super::oidc::IdentityBody;
use crate::auth::sessions::current_user;
use crate::auth::AuthenticatedUser;
use crate::db::identities::Identity;
use crate::errors::{ApiError, ApiResult};
use crate::state::{AppState, WithDb};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/auth/identities").route(web::get().to(list)))
        .service(super::resource("/api/auth/identities/{id}").route(web::delete().to(unlink)));
}

async fn list(state: web::Data<AppState>, caller: AuthenticatedUser) -> ApiResult<HttpResponse> {
    let identities = state
        .db(move |conn, state| {
            let user = current_user(conn, &state.sessions, &caller)?;
            Ok(Identity::list_of_user(conn, &user.id)?)
        })
        .await?;
    let body: Vec<IdentityBody> = identities.into_iter().map(IdentityBody::from).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Unlinks an identity, unless it is the user's last way to sign in (no usable password and
/// no other identity): 409 `last_login_method`.
async fn unlink(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let origin = super::client_ip::request_origin(&state, &req);
    state
        .db_write(move |conn, state| {
            let user = current_user(conn, &state.sessions, &caller)?;
            let identities = Identity::list_of_user(conn, &user.id)?;
            let Some(unlinked) = identities.iter().find(|identity| identity.id == id) else {
                return Err(ApiError::not_found());
            };
            let has_password = user.password_hash.is_some() && state.local_login_enabled;
            if identities.len() == 1 && !has_password {
                return Err(ApiError::last_login_method());
            }
            Identity::delete_of_user(conn, &id, &user.id)?;
            Record::new(Event::IdentityUnlinked, Some(&user.id))
                .detail("provider", unlinked.provider.as_str())
                .write(conn, &origin)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
