//! Admin writes: create, change, delete a user, and end their sessions. Each runs in one
//! transaction with its audit event ("who did what to whom"; field names, never values).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::admin::{self, Admin, UserEdit};
use crate::auth::audit::{Event, Record};
use crate::auth::email_tokens::{self, Purpose};
use crate::db;
use crate::db::users::User;
use crate::domain::{PersonName, Phone, UserEmail, Username};
use crate::errors::{ApiError, ApiResult};
use crate::routes::client_ip::request_origin;
use crate::routes::json::{nullable, FieldErrors, ValidJson};
use crate::routes::principal::Principal;
use crate::routes::responses::AdminUserBody;
use crate::state::{AppState, WithDb};

/// Checks the caller before anything else is looked at.
async fn admin_of(state: &web::Data<AppState>, caller: Principal) -> ApiResult<Admin> {
    state.db(move |conn, state| caller.admin(conn, state)).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CreateBody {
    email: String,
    /// Without one the user has no usable password until they reset it (`invite`) or sign in
    /// another way.
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default, alias = "first_name")]
    first_name: Option<String>,
    #[serde(default, alias = "last_name")]
    last_name: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    is_staff: bool,
    #[serde(default)]
    email_verified: bool,
    /// Email the person a password-reset link, to set their own password (needs email).
    #[serde(default)]
    invite: bool,
}

pub(super) async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Principal,
    ValidJson(body): ValidJson<CreateBody>,
) -> ApiResult<HttpResponse> {
    let admin = admin_of(&state, caller).await?;
    if body.invite && state.mail.is_none() {
        return Err(ApiError::email_disabled());
    }
    let mut errors = FieldErrors::default();
    let email = errors.check("email", UserEmail::parse(&body.email));
    let username = match body.username.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => errors.check("username", Username::parse(raw)),
    };
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let first_name = errors.check("firstName", PersonName::parse(&text(&body.first_name)));
    let last_name = errors.check("lastName", PersonName::parse(&text(&body.last_name)));
    let phone = errors.check("phone", Phone::parse(&text(&body.phone)));
    let password = match body.password.clone() {
        Some(password) => {
            let personal = vec![body.email.clone(), text(&body.username)];
            state
                .hasher
                .check_new_password(password, personal)
                .await?
                .map_err(|problems| errors.add("password", problems))
                .ok()
        }
        None => None,
    };
    errors.into_result()?;
    let (Some(email), Some(first_name), Some(last_name), Some(phone)) =
        (email, first_name, last_name, phone)
    else {
        unreachable!("every None above recorded an error");
    };
    let password_hash = match password {
        Some(password) => Some(state.hasher.hash(password.into_secret()).await?),
        None => None,
    };
    let user = User {
        username_key: username.as_ref().map(Username::key),
        username: username.map(|u| u.as_str().to_owned()),
        first_name: first_name.into_inner(),
        last_name: last_name.into_inner(),
        phone: phone.into_inner(),
        password_hash,
        is_staff: body.is_staff,
        email_verified: body.email_verified,
        ..User::new_account(email.as_str(), email.key(), db::now())
    };
    let origin = request_origin(&state, &req);
    let invite = body.invite;
    let user = state
        .db_transaction(move |conn, state| {
            user.insert(conn).map_err(admin::taken_or)?;
            if let (true, Some(mail)) = (invite, &state.mail) {
                let to = user.email.clone();
                email_tokens::issue(
                    conn,
                    mail,
                    Purpose::ResetPassword,
                    Some(&user),
                    &to,
                    db::now(),
                )?;
            }
            Record::new(Event::AdminUserCreated, Some(&user.id))
                .by(admin.actor)
                .detail("isStaff", user.is_staff)
                .detail("invite", invite)
                .write(conn, &origin)?;
            Ok(user)
        })
        .await?;
    if let Some(mail) = state.mail.as_ref().filter(|_| invite) {
        mail.wake();
    }
    Ok(HttpResponse::Created().json(AdminUserBody::from(user)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct UpdateBody {
    #[serde(default)]
    email: Option<String>,
    /// `null` removes the username.
    #[serde(default, deserialize_with = "nullable")]
    username: Option<Option<String>>,
    #[serde(default, alias = "first_name")]
    first_name: Option<String>,
    #[serde(default, alias = "last_name")]
    last_name: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    is_staff: Option<bool>,
}

impl From<UpdateBody> for UserEdit {
    fn from(body: UpdateBody) -> Self {
        Self {
            email: body.email,
            username: body.username,
            first_name: body.first_name,
            last_name: body.last_name,
            email_verified: body.email_verified,
            is_active: body.is_active,
            is_staff: body.is_staff,
        }
    }
}

/// Changes a user. Deactivating ends every session at once (and the revocation feed tells the
/// services). An admin cannot remove their own staff flag or deactivate themselves: 409.
pub(super) async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<String>,
    ValidJson(body): ValidJson<UpdateBody>,
) -> ApiResult<HttpResponse> {
    let admin = admin_of(&state, caller).await?;
    let id = path.into_inner();
    let (changes, fields) = UserEdit::from(body).parse()?;
    if id == admin.user_id {
        if changes.is_staff == Some(false) {
            return Err(ApiError::admin_self_lockout(
                "cannot_demote_self",
                "You cannot remove your own staff flag; ask another admin.",
            ));
        }
        if changes.is_active == Some(false) {
            return Err(ApiError::admin_self_lockout(
                "cannot_deactivate_self",
                "You cannot deactivate yourself; ask another admin.",
            ));
        }
    }
    let origin = request_origin(&state, &req);
    let user = state
        .db_transaction(move |conn, _| {
            admin::update_user(conn, &id, &changes, fields, admin.actor, &origin)
        })
        .await?;
    if !user.is_active {
        state.api_keys.invalidate_all();
    }
    Ok(HttpResponse::Ok().json(AdminUserBody::from(user)))
}

/// Deletes a user and everything that points at them (GDPR erasure). The audit log keeps
/// their events, without where they came from.
pub(super) async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let admin = admin_of(&state, caller).await?;
    let id = path.into_inner();
    if id == admin.user_id {
        return Err(ApiError::admin_self_lockout(
            "cannot_delete_self",
            "You cannot delete yourself; ask another admin.",
        ));
    }
    let origin = request_origin(&state, &req);
    state
        .db_transaction(move |conn, _| admin::delete_user(conn, &id, admin.actor, &origin))
        .await?;
    // Keys of the deleted user leave this replica's cache now (others within its TTL).
    state.api_keys.invalidate_all();
    Ok(HttpResponse::NoContent().finish())
}

/// Ends every session of the user at once.
pub(super) async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Principal,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let admin = admin_of(&state, caller).await?;
    let id = path.into_inner();
    let origin = request_origin(&state, &req);
    state
        .db_transaction(move |conn, _| admin::logout_user(conn, &id, admin.actor, &origin))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
