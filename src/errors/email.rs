use actix_web::http::StatusCode;

use super::ApiError;

/// Errors of the emailed tokens and the email routes. The token codes are the JWT ones, but
/// with 400: the token came in a body, not as the caller's credentials.
impl ApiError {
    pub fn email_token_invalid(reason: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "token_invalid",
            "This link or code is not valid.",
        )
        .with_reason(reason)
    }

    pub fn email_token_expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "token_expired",
            "This link or code has expired; ask for a new one.",
        )
        .with_reason("the token's lifetime is over")
    }

    pub fn email_token_used() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "token_used",
            "This link or code was already used; ask for a new one.",
        )
        .with_reason("each emailed token works once")
    }

    pub fn email_disabled() -> Self {
        Self::forbidden(
            "email_disabled",
            "Email is not set up here (email.enabled is off).",
        )
    }

    pub fn email_not_verified() -> Self {
        Self::forbidden(
            "email_not_verified",
            "Confirm your email address first; ask for a new confirmation email if needed.",
        )
        .with_reason("email.require_verification is on and this address is not verified yet")
    }
}
