use super::principal::Principal;
use crate::auth::api_keys::Scope;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::json::{nullable, FieldErrors, ValidJson};
use super::responses::UserBody;
use crate::auth::sessions;
use crate::auth::AuthenticatedUser;
use crate::db::users::{ProfileChanges, Taken, User};
use crate::db::{self, is_unique_violation};
use crate::domain::{PersonName, Phone, Username};
use crate::errors::ApiResult;
use crate::state::{AppState, WithDb};

pub fn configure(cfg: &mut web::ServiceConfig) {
    let paths = ["/api/auth/me", "/api/auth/user", "/api/auth/profile"];
    // PUT as PATCH: the seed clients (Django REST framework's UpdateAPIView) send PUT for
    // profile updates, with only the fields they change.
    super::aliases(cfg, &paths, |r| {
        r.route(web::get().to(show))
            .route(web::patch().to(update))
            .route(web::put().to(update))
    });
}

/// The caller's user; an API key needs the `read:me` scope.
async fn show(state: web::Data<AppState>, caller: Principal) -> ApiResult<HttpResponse> {
    let user = state
        .db(move |conn, state| caller.user(conn, state, Scope::ReadMe))
        .await?;
    Ok(HttpResponse::Ok().json(UserBody::from(user)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileBody {
    #[serde(default, alias = "first_name")]
    first_name: Option<String>,
    #[serde(default, alias = "last_name")]
    last_name: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    /// `null` removes the username.
    #[serde(default, deserialize_with = "nullable")]
    username: Option<Option<String>>,
}

fn validate(body: ProfileBody) -> ApiResult<ProfileChanges> {
    let mut errors = FieldErrors::default();
    let mut changes = ProfileChanges {
        first_name: body
            .first_name
            .and_then(|v| errors.check("firstName", PersonName::parse(&v)))
            .map(PersonName::into_inner),
        last_name: body
            .last_name
            .and_then(|v| errors.check("lastName", PersonName::parse(&v)))
            .map(PersonName::into_inner),
        phone: body
            .phone
            .and_then(|v| errors.check("phone", Phone::parse(&v)))
            .map(Phone::into_inner),
        ..ProfileChanges::default()
    };
    match body.username {
        None => {}
        Some(None) => {
            changes.username = Some(None);
            changes.username_key = Some(None);
        }
        Some(Some(raw)) => {
            if let Some(username) = errors.check("username", Username::parse(&raw)) {
                changes.username_key = Some(Some(username.key()));
                changes.username = Some(Some(username.as_str().to_owned()));
            }
        }
    }
    errors.into_result()?;
    changes.updated_at = Some(db::now());
    Ok(changes)
}

async fn update(
    state: web::Data<AppState>,
    caller: AuthenticatedUser,
    ValidJson(body): ValidJson<ProfileBody>,
) -> ApiResult<HttpResponse> {
    let changes = validate(body)?;
    let user = state
        .db_write(move |conn, state| {
            let user = sessions::current_user(conn, &state.sessions, &caller)?;
            if let Some(Some(key)) = &changes.username_key {
                if User::find_by_username_key(conn, key)?.is_some_and(|other| other.id != user.id) {
                    return Err(crate::errors::ApiError::taken(Taken::Username));
                }
            }
            User::update_profile(conn, &user.id, &changes).map_err(|error| {
                if is_unique_violation(&error) {
                    crate::errors::ApiError::taken(Taken::Username)
                } else {
                    error.into()
                }
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserBody::from(user)))
}
