//! actix-web adapters: `Authenticated` gives a handler the verified claims, `Staff` also
//! requires `isStaff`, `Scoped<S>` a scope. They look in the app data for a `web::Data<RemoteVerifier>` (feature
//! `remote`) or a `web::Data<TokenVerifier>`. A refusal answers like authd itself: the JSON
//! error body `{message, code, details: {reason}}` and, on 401, a `WWW-Authenticate` bearer
//! challenge (RFC 6750).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::{self, AUTHORIZATION};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use crate::{
    bearer_challenge, parse_bearer, AccessClaims, BearerError, TokenVerifier, VerifyError,
};

/// The claims of a valid access token sent as `Authorization: Bearer`.
#[derive(Debug, Clone)]
pub struct Authenticated(pub AccessClaims);

/// `Authenticated`, and the user is staff (`isStaff`); otherwise 403 `forbidden`.
#[derive(Debug, Clone)]
pub struct Staff(pub AccessClaims);

/// A scope a route requires, named once as a type:
///
/// ```ignore
/// struct ExportOrders;
/// impl RequiredScope for ExportOrders { const SCOPE: &'static str = "orders:export"; }
/// async fn export(Scoped(claims, _): Scoped<ExportOrders>) -> HttpResponse { ... }
/// ```
pub trait RequiredScope {
    const SCOPE: &'static str;
}

/// `Authenticated`, and the token's `scope` claim holds `S::SCOPE`; otherwise 403 `forbidden`.
#[derive(Debug, Clone)]
pub struct Scoped<S: RequiredScope>(pub AccessClaims, pub std::marker::PhantomData<S>);

/// A refusal, in authd's error shape.
#[derive(Debug, Clone)]
pub struct AuthError {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
    reason: String,
}

impl AuthError {
    /// 403 `forbidden`, e.g. for a scope the token lacks (see `AccessClaims::has_scope`).
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: "You do not have permission to do this.",
            reason: reason.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<BearerError> for AuthError {
    fn from(error: BearerError) -> Self {
        match error {
            BearerError::Missing => Self {
                status: StatusCode::UNAUTHORIZED,
                code: "not_authenticated",
                message: "Authentication credentials were not provided.",
                reason: error.to_string(),
            },
            BearerError::Malformed(reason) => Self {
                status: StatusCode::UNAUTHORIZED,
                code: "invalid_authorization_header",
                message: "The Authorization header must be `Bearer <token>`.",
                reason: reason.to_owned(),
            },
        }
    }
}

impl From<VerifyError> for AuthError {
    fn from(error: VerifyError) -> Self {
        let (status, message) = match &error {
            VerifyError::Expired => (StatusCode::UNAUTHORIZED, "The token has expired."),
            VerifyError::Revoked(_) => (
                StatusCode::UNAUTHORIZED,
                "The token has been revoked; sign in again.",
            ),
            VerifyError::KeysUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Tokens cannot be checked right now.",
            ),
            _ => (StatusCode::UNAUTHORIZED, "The token is invalid."),
        };
        Self {
            status,
            code: error.code(),
            message,
            reason: error.to_string(),
        }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, bearer_challenge(self.code)));
        }
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        response.json(json!({
            "message": self.message,
            "code": self.code,
            "details": { "reason": self.reason },
        }))
    }
}

impl FromRequest for Authenticated {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = bearer_of(req);
        let verifier = find_verifier(req);
        Box::pin(async move {
            let token = token?;
            let claims = match verifier? {
                #[cfg(feature = "remote")]
                Found::Remote(remote) => remote.verify_access(&token).await?,
                Found::Local(local) => local.verify_access(&token)?,
            };
            Ok(Authenticated(claims))
        })
    }
}

impl FromRequest for Staff {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let authenticated = Authenticated::from_request(req, payload);
        Box::pin(async move {
            let Authenticated(claims) = authenticated.await?;
            if !claims.is_staff {
                return Err(AuthError::forbidden("staff only"));
            }
            Ok(Staff(claims))
        })
    }
}

impl<S: RequiredScope + 'static> FromRequest for Scoped<S> {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let authenticated = Authenticated::from_request(req, payload);
        Box::pin(async move {
            let Authenticated(claims) = authenticated.await?;
            if !claims.has_scope(S::SCOPE) {
                return Err(AuthError::forbidden(format!(
                    "the scope {} is required",
                    S::SCOPE
                )));
            }
            Ok(Scoped(claims, std::marker::PhantomData))
        })
    }
}

fn bearer_of(req: &HttpRequest) -> Result<String, AuthError> {
    // Two headers are ambiguous: a proxy may act on the first while this service read the other.
    if req.headers().get_all(AUTHORIZATION).nth(1).is_some() {
        return Err(BearerError::Malformed("more than one Authorization header").into());
    }
    let header = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    Ok(parse_bearer(header)?.to_owned())
}

enum Found {
    #[cfg(feature = "remote")]
    Remote(web::Data<crate::RemoteVerifier>),
    Local(web::Data<TokenVerifier>),
}

fn find_verifier(req: &HttpRequest) -> Result<Found, AuthError> {
    #[cfg(feature = "remote")]
    if let Some(remote) = req.app_data::<web::Data<crate::RemoteVerifier>>() {
        return Ok(Found::Remote(remote.clone()));
    }
    req.app_data::<web::Data<TokenVerifier>>()
        .map(|local| Found::Local(local.clone()))
        .ok_or_else(|| {
            VerifyError::KeysUnavailable("no verifier is registered as app data".into()).into()
        })
}
