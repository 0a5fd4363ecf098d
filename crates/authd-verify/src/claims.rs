//! The claims of authd's tokens. Access tokens follow RFC 9068; refresh tokens have their own
//! header `typ` and a `token_type` claim, so neither can pass as the other.

use serde::{Deserialize, Serialize};

pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
pub const REFRESH_TOKEN_TYP: &str = "refresh+jwt";
/// The `token_type` claim of a refresh token.
pub const REFRESH_TOKEN_TYPE_CLAIM: &str = "refresh";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The session (login) the token descends from.
    pub sid: String,
    /// RFC 9068 asks for it; authd has one client per deployment, named by the audience.
    pub client_id: String,
    pub email: String,
    #[serde(rename = "isStaff")]
    pub is_staff: bool,
    /// Space-separated scopes, for tokens that carry them (RFC 9068 `scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl AccessClaims {
    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|scopes| scopes.split(' ').any(|s| s == wanted))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefreshClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub sid: String,
    pub token_type: String,
}
