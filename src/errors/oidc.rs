use actix_web::http::StatusCode;

use super::ApiError;

/// Errors of the OpenID Connect flows.
impl ApiError {
    pub fn unknown_provider(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_provider",
            format!("No identity provider {id:?} is configured."),
        )
    }

    pub fn invalid_redirect_uri() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            "redirect_uri is not one of oidc.allowed_redirect_uris.",
        )
    }

    pub fn invalid_state() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_state",
            "The sign-in request is unknown, expired, already used or for another provider; start again.",
        )
    }

    pub fn provider_unavailable(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "provider_unavailable",
            "The identity provider cannot be reached.",
        )
        .with_reason(reason)
    }

    pub fn oidc_exchange_failed(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "oidc_exchange_failed",
            "The identity provider refused the authorization code.",
        )
        .with_reason(reason)
    }

    pub fn oidc_token_invalid(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "oidc_token_invalid",
            "The identity provider's ID token is invalid.",
        )
        .with_reason(reason)
    }

    pub fn oidc_email_missing() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "oidc_email_missing",
            "The identity provider did not share a valid email address.",
        )
    }

    pub fn account_exists() -> Self {
        Self::conflict(
            "account_exists",
            "An account with this email exists. Sign in to it, then link this provider.",
        )
    }

    pub fn identity_taken() -> Self {
        Self::conflict(
            "identity_taken",
            "This provider account is already linked to another user.",
        )
    }

    pub fn last_login_method() -> Self {
        Self::conflict(
            "last_login_method",
            "This is the only way left to sign in to this account; add another first.",
        )
    }

    pub fn local_login_disabled() -> Self {
        Self::forbidden(
            "local_login_disabled",
            "Password sign-in is turned off here; sign in with an identity provider.",
        )
    }
}
