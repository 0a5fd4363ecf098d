//! `AuthenticatedUser`: the bearer check for protected routes. It verifies the access token
//! with the `TokenVerifier` in the app data and never touches the database.

use std::future::{ready, Ready};

use actix_web::http::header::{HeaderValue, AUTHORIZATION};
use actix_web::{web, FromRequest, HttpRequest};

use super::jwt::{AccessClaims, TokenVerifier};
use crate::errors::ApiError;

/// The caller, as the access token describes them.
#[derive(Debug, Clone)]
pub struct AuthenticatedUser {
    pub user_id: String,
    pub session_id: String,
    pub email: String,
    pub is_staff: bool,
    pub claims: AccessClaims,
}

impl FromRequest for AuthenticatedUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<AuthenticatedUser, ApiError> {
    let verifier = req
        .app_data::<web::Data<TokenVerifier>>()
        .ok_or_else(|| ApiError::internal("TokenVerifier is not registered as app data"))?;
    // Two headers are ambiguous: a proxy may act on the first while authd read the other.
    if req.headers().get_all(AUTHORIZATION).nth(1).is_some() {
        return Err(
            ApiError::invalid_authorization_header("more than one Authorization header")
                .with_status(actix_web::http::StatusCode::BAD_REQUEST),
        );
    }
    let token = parse_bearer(req.headers().get(AUTHORIZATION))?;
    let claims = verifier.verify_access(token)?;
    Ok(AuthenticatedUser {
        user_id: claims.sub.clone(),
        session_id: claims.sid.clone(),
        email: claims.email.clone(),
        is_staff: claims.is_staff,
        claims,
    })
}

/// The token of an `Authorization: Bearer <token>` header, with a specific 401 for each way
/// the header can be wrong.
pub fn parse_bearer(header: Option<&HeaderValue>) -> Result<&str, ApiError> {
    let header = header.ok_or_else(ApiError::not_authenticated)?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::invalid_authorization_header("the header is not visible ASCII"))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::invalid_authorization_header(
            "the scheme is not Bearer",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::invalid_authorization_header(
            "no token follows Bearer",
        ));
    }
    // `to_str` let through only visible ASCII and tabs, so these are the only blanks left.
    if token.bytes().any(|b| b == b' ' || b == b'\t') {
        return Err(ApiError::invalid_authorization_header(
            "the token contains spaces",
        ));
    }
    Ok(token)
}
