//! Email verification, password reset, sign-in by emailed link or code, and email change.
//! Every route that sends mail is limited per client address and per recipient; the ones a
//! stranger can call answer 202 at once whether or not the address has an account, and do
//! the work afterwards, so neither the answer nor its timing tells.

//!
//! Every route's database work runs in one transaction, so a token is never committed without
//! its message, nor used up by a request that then failed.

mod change;
mod reset;
mod signin;
mod verification;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::client_ip::limit_client;
use crate::db;
use crate::domain::UserEmail;
use crate::errors::{ApiError, ApiResult};
use crate::limits::Rule;
use crate::mail::MailState;
use crate::state::{AppState, WithDb};

pub fn configure(cfg: &mut web::ServiceConfig) {
    verification::configure(cfg);
    reset::configure(cfg);
    signin::configure(cfg);
    change::configure(cfg);
}

/// A POST route at `path` (a trailing slash optional, as everywhere).
fn post_route(path: &str, handler: actix_web::Route) -> actix_web::Resource {
    super::resource(path).route(handler)
}

fn mail(state: &AppState) -> ApiResult<&MailState> {
    state.mail.as_ref().ok_or_else(ApiError::email_disabled)
}

/// One more message for `recipient` from this client: both limits apply.
async fn limit_send(state: &AppState, req: &HttpRequest, recipient: &str) -> ApiResult<()> {
    limit_client(state, req, Rule::EmailSendPerIp).await?;
    super::client_ip::limit(state, req, Rule::EmailSendPerAddress, recipient).await
}

fn accepted() -> HttpResponse {
    HttpResponse::Accepted().json(json!({}))
}

/// Runs `work` after the answer has gone: the answer to an address with an account and to one
/// without must not differ, in content or in time.
fn after_answering(
    state: &web::Data<AppState>,
    what: &'static str,
    work: impl FnOnce(&mut db::DbConnection, &AppState) -> ApiResult<bool> + Send + 'static,
) {
    let state = state.clone();
    actix_web::rt::spawn(async move {
        match state.db_transaction(work).await {
            Ok(true) => {
                if let Some(mail) = &state.mail {
                    mail.wake();
                }
            }
            Ok(false) => {}
            Err(error) => log::warn!("{what}: {}", error.message),
        }
    });
}

#[derive(Deserialize)]
struct EmailBody {
    email: String,
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}
fn parse_email(raw: &str) -> ApiResult<UserEmail> {
    UserEmail::parse(raw).map_err(|problem| ApiError::validation_field("email", problem))
}
