use actix_web::http::StatusCode;

use super::ApiError;

/// Errors of the routes for internal services (revocation feed, introspection).
impl ApiError {
    /// RFC 7662 §2.3: a caller that is not a known service is refused as OAuth's
    /// `invalid_client` would be.
    pub fn invalid_client(reason: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "This route is for internal services: send a service credential as the bearer token.",
        )
        .with_reason(reason)
    }
}
