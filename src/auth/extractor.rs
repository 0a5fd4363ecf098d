//! `AuthenticatedUser`: the bearer check for protected routes. It verifies the access token
//! against authd's live keys (`LiveKeys`) in the app data, or, in another actix service that
//! embeds this extractor, against a `TokenVerifier` there; it never touches the database.

use std::future::{ready, Ready};

use actix_web::http::header::{HeaderValue, AUTHORIZATION};
use actix_web::{web, FromRequest, HttpRequest};

use super::jwt::{AccessClaims, TokenVerifier};
use super::keys::LiveKeys;
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
    // Two headers are ambiguous: a proxy may act on the first while authd read the other.
    if req.headers().get_all(AUTHORIZATION).nth(1).is_some() {
        return Err(
            ApiError::invalid_authorization_header("more than one Authorization header")
                .with_status(actix_web::http::StatusCode::BAD_REQUEST),
        );
    }
    let token = parse_bearer(req.headers().get(AUTHORIZATION))?;
    let claims = if let Some(keys) = req.app_data::<web::Data<LiveKeys>>() {
        keys.verify_access(token)?
    } else {
        req.app_data::<web::Data<TokenVerifier>>()
            .ok_or_else(|| ApiError::internal("no LiveKeys or TokenVerifier in the app data"))?
            .verify_access(token)?
    };
    Ok(AuthenticatedUser {
        user_id: claims.sub.clone(),
        session_id: claims.sid.clone(),
        email: claims.email.clone(),
        is_staff: claims.is_staff,
        claims,
    })
}

/// The token of an `Authorization: Bearer <token>` header, with a specific 401 for each way
/// the header can be wrong (authd-verify's parser, as resource servers use it).
pub fn parse_bearer(header: Option<&HeaderValue>) -> Result<&str, ApiError> {
    authd_verify::parse_bearer(header.map(HeaderValue::as_bytes)).map_err(|error| match error {
        authd_verify::BearerError::Missing => ApiError::not_authenticated(),
        authd_verify::BearerError::Malformed(reason) => {
            ApiError::invalid_authorization_header(reason)
        }
    })
}
