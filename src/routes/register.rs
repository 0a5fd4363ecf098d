use crate::auth::audit::{Event, Origin, Record};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::client_ip::limit_client;
use super::json::{FieldErrors, ValidJson};
use super::responses::TokenPairBody;
use crate::auth::email_tokens::{self, Purpose};
use crate::auth::sessions;
use crate::auth::sessions::SignInMethod;
use crate::db;
use crate::db::users::User;
use crate::domain::{NewPassword, PersonName, Phone, UserEmail, Username};
use crate::errors::{ApiError, ApiResult};
use crate::limits::Rule;
use crate::routes::client_ip::session_origin;
use crate::state::{AppState, WithDb};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/auth/register").route(web::post().to(register)));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterBody {
    email: String,
    /// dj-rest-auth's registration form calls it `password1`.
    #[serde(alias = "password1")]
    password: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default, alias = "first_name")]
    first_name: Option<String>,
    #[serde(default, alias = "last_name")]
    last_name: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    /// The confirmation field of Django-era forms (`password2`, or `passwordConfirm`): when
    /// sent, it must equal `password`, and a mismatch is reported under the name sent.
    #[serde(default)]
    password2: Option<String>,
    #[serde(default, alias = "password_confirm")]
    password_confirm: Option<String>,
}

/// Every field checked at once, so the client can show every problem together.
struct ValidRegistration {
    user: User,
    password: NewPassword,
}

/// The password policy runs last, on the blocking pool under a hashing permit
/// (`PasswordHasher::check_new_password`): its strength estimate is CPU work an attacker can
/// make expensive, and it must never run on the workers that answer other requests.
async fn validate(
    body: RegisterBody,
    hasher: &crate::auth::password::PasswordHasher,
) -> Result<ValidRegistration, ApiError> {
    let mut errors = FieldErrors::default();
    for (field, again) in [
        ("password2", &body.password2),
        ("passwordConfirm", &body.password_confirm),
    ] {
        if again.as_ref().is_some_and(|again| *again != body.password) {
            errors.add(field, ["The two passwords differ.".to_owned()]);
        }
    }
    let email = errors.check("email", UserEmail::parse(&body.email));
    let username = match body.username.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => errors.check("username", Username::parse(raw)),
    };
    let text = |value: Option<String>| value.unwrap_or_default();
    let first_name = errors.check("firstName", PersonName::parse(&text(body.first_name)));
    let last_name = errors.check("lastName", PersonName::parse(&text(body.last_name)));
    let phone = errors.check("phone", Phone::parse(&text(body.phone)));
    let personal: Vec<String> = [
        Some(body.email.clone()),
        username.as_ref().map(|u| u.as_str().to_owned()),
        first_name.clone().map(PersonName::into_inner),
        last_name.clone().map(PersonName::into_inner),
    ]
    .into_iter()
    .flatten()
    .collect();
    let password = hasher
        .check_new_password(body.password, personal)
        .await?
        .map_err(|problems| errors.add("password", problems))
        .ok();
    errors.into_result()?;
    let (Some(email), Some(first_name), Some(last_name), Some(phone), Some(password)) =
        (email, first_name, last_name, phone, password)
    else {
        unreachable!("every None above recorded an error");
    };
    Ok(ValidRegistration {
        user: User {
            username_key: username.as_ref().map(Username::key),
            username: username.map(|u| u.as_str().to_owned()),
            first_name: first_name.into_inner(),
            last_name: last_name.into_inner(),
            phone: phone.into_inner(),
            ..User::new_account(email.as_str(), email.key(), db::now())
        },
        password,
    })
}

async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<RegisterBody>,
) -> ApiResult<HttpResponse> {
    state.require_local_login()?;
    limit_client(&state, &req, Rule::RegisterPerIp).await?;
    let ValidRegistration { mut user, password } = validate(body, &state.hasher).await?;
    // Checked before hashing so a duplicate costs no hash; the unique index still decides races.
    let keys = (user.email_key.clone(), user.username_key.clone());
    if let Some(taken) = state
        .db(move |conn, _| Ok(User::find_taken(conn, Some(&keys.0), keys.1.as_deref())?))
        .await?
    {
        return Err(ApiError::taken(taken));
    }
    user.password_hash = Some(state.hasher.hash(password.into_secret()).await?);
    // The user, the session and the verification message are written together or not at all.
    // A race lost on a unique index is named by the index: after a failed statement PostgreSQL
    // reads nothing more in the transaction.
    let origin = session_origin(&state, &req, SignInMethod::Password);
    let (user, pair) = state
        .db_transaction(move |conn, state| {
            user.insert(conn).map_err(crate::auth::admin::taken_or)?;
            Record::new(Event::Registered, Some(&user.id))
                .detail("method", "password")
                .write(conn, &Origin::from(&origin))?;
            let pair = sessions::start(conn, &state.issuer, &user, &origin)?;
            // With email set up, the address is confirmed by a link sent at once.
            if let Some(mail) = &state.mail {
                let to = user.email.clone();
                email_tokens::issue(
                    conn,
                    mail,
                    Purpose::VerifyEmail,
                    Some(&user),
                    &to,
                    db::now(),
                )?;
            }
            Ok((user, pair))
        })
        .await?;
    if let Some(mail) = &state.mail {
        mail.wake();
    }
    log::info!("registered user {}", user.id);
    Ok(HttpResponse::Created().json(TokenPairBody::new(pair, Some(user))))
}
