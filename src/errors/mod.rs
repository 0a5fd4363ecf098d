//! One error type for every handler. Each variant of failure a client can see has a small
//! constructor here (those of provider sign-in in `oidc.rs`), so status codes and `code`
//! strings live in one place.

mod admin;
mod email;
mod oidc;
mod services;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// The standard error body: `{"message": ..., "code": ..., "details": {...}}`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub message: String,
    pub code: &'static str,
    pub details: Value,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Object(Map::new()),
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_reason(self, reason: impl Into<String>) -> Self {
        self.with_details(json!({ "reason": reason.into() }))
    }

    /// 400 `validation_error`; `fields` maps a field name to its problems.
    pub fn validation(fields: Map<String, Value>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "validation_error",
            "The request body has invalid fields.",
        )
        .with_details(Value::Object(fields))
    }

    pub fn validation_field(field: &str, problem: impl Into<String>) -> Self {
        Self::validation_problems(field, vec![problem.into()])
    }

    pub fn validation_problems(field: &str, problems: Vec<String>) -> Self {
        let mut fields = Map::new();
        fields.insert(field.to_owned(), json!(problems));
        Self::validation(fields)
    }

    pub fn invalid_json(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "The request body is not valid JSON.",
        )
        .with_reason(reason)
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as application/json.",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body is larger than {limit} bytes."),
        )
    }

    /// 408: the body did not arrive within `server.body_timeout_secs`.
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "The request body did not arrive in time.",
        )
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is nothing at this path.",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This path does not accept that method.",
        )
    }

    pub fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "No active account was found with the given credentials.",
        )
    }

    pub fn user_inactive() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "user_inactive",
            "This account is deactivated.",
        )
    }

    pub fn not_authenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
            "Authentication credentials were not provided.",
        )
    }

    pub fn invalid_authorization_header(reason: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_authorization_header",
            "The Authorization header must be `Bearer <token>`.",
        )
        .with_reason(reason)
    }

    pub fn token_invalid(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "token_invalid",
            "The token is invalid.",
        )
        .with_reason(reason)
    }

    pub fn token_expired() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "The token has expired.",
        )
        .with_reason("the token's exp is past, beyond the allowed clock skew")
    }

    /// `token_expired` for a session past its absolute or idle lifetime.
    pub fn session_expired(reason: &str) -> Self {
        Self::token_expired().with_reason(format!("{reason}; sign in again"))
    }

    pub fn token_revoked(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "token_revoked",
            "The token has been revoked; sign in again.",
        )
        .with_reason(reason)
    }

    pub fn token_reused() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "token_reused",
            "This refresh token was already used; the session has been ended. Sign in again.",
        )
        .with_reason(
            "the refresh token had already been exchanged for a new pair, so it may have been \
             stolen; its session is now ended",
        )
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn email_taken() -> Self {
        Self::conflict("email_taken", "An account with this email already exists.")
    }

    pub fn username_taken() -> Self {
        Self::conflict("username_taken", "This username is taken.")
    }

    pub fn overloaded() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "The server is busy; try again shortly.",
        )
    }

    /// 429 with the wait in `details.retryAfter` (whole seconds, at least 1) and `Retry-After`.
    pub fn rate_limited(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests; try again later.",
        )
        .with_details(json!({ "retryAfter": secs.max(1) }))
    }

    pub fn database_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "The database cannot be reached.",
        )
    }

    /// A 500 whose cause is logged but never sent to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        log::error!("internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side.",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            message: self.message.clone(),
            code: self.code,
            details: self.details.clone(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: a bearer challenge on every 401, the same one authd-verify answers.
            let challenge = authd_verify::bearer_challenge(self.code);
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still be on its way; the connection cannot be reused.
            response.force_close();
        }
        if let Some(secs) = self.details.get("retryAfter").and_then(Value::as_u64) {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(self.body())
    }
}

/// The one mapping of storage errors to answers, by kind: the database being unable to work
/// now is a 503 the client may retry; anything else reaching here is a bug (a missing row that
/// should exist, a constraint no route expected) and a 500, never a 404 "unknown path".
/// Routes map the errors they expect (unique violations) themselves, by field.
impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        if crate::db::is_unavailable(&error) {
            log::warn!("database unavailable: {error}");
            return Self::database_unavailable();
        }
        Self::internal(format!("database: {error}"))
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        log::warn!("database pool: {error}");
        Self::database_unavailable()
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::internal(format!("blocking pool: {error}"))
    }
}

/// For `ErrorHandlers`: an error response that some middleware wrote without the standard
/// body (actix-cors refusing an origin answers in plain text) gets the standard JSON body.
pub fn standardise_error_body<B>(
    response: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::middleware::ErrorHandlerResponse;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let (request, _) = response.into_parts();
    let error =
        if status == StatusCode::BAD_REQUEST && request.headers().contains_key(header::ORIGIN) {
            ApiError::new(
                status,
                "origin_not_allowed",
                "This origin is not allowed to call authd (cors.allowed_origins).",
            )
        } else {
            ApiError::new(
                status,
                "request_refused",
                status
                    .canonical_reason()
                    .unwrap_or("The request was refused."),
            )
        };
    let response = actix_web::dev::ServiceResponse::new(request, error.error_response());
    Ok(ErrorHandlerResponse::Response(
        response.map_into_right_body(),
    ))
}

/// Collects per-field problems and turns them into one `validation_error`.
#[derive(Default)]
pub struct FieldErrors(Map<String, Value>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, problems: impl IntoIterator<Item = String>) {
        let list: Vec<Value> = problems.into_iter().map(Value::String).collect();
        if !list.is_empty() {
            self.0.insert(field.to_owned(), json!(list));
        }
    }

    /// Parses a value, recording the problem under `field` and returning `None` on failure.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        parsed.map_err(|problem| self.add(field, [problem])).ok()
    }

    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row that should exist and does not is a bug of ours, not an unknown path.
    #[test]
    fn a_missing_row_is_not_a_404() {
        let error = ApiError::from(diesel::result::Error::NotFound);
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.code, "internal_error");
    }
}
