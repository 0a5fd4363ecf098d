//! Sign in with Apple: its client secret is a short-lived ES256 JWT signed with the team's key.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde::Serialize;

use super::expose;
use crate::config::ProviderSettings;
use crate::errors::{ApiError, ApiResult};

const APPLE_AUDIENCE: &str = "https://appleid.apple.com";
/// Apple accepts up to six months; a new secret per exchange needs only minutes.
const SECRET_LIFETIME_SECS: i64 = 300;

#[derive(Serialize)]
struct SecretClaims<'a> {
    iss: &'a str,
    iat: i64,
    exp: i64,
    aud: &'a str,
    sub: &'a str,
}

pub fn client_secret(config: &ProviderSettings) -> ApiResult<SecretString> {
    let pem = if expose(&config.private_key).is_empty() {
        std::fs::read_to_string(&config.private_key_file).map_err(|e| {
            ApiError::internal(format!(
                "apple private_key_file {}: {e}",
                config.private_key_file
            ))
        })?
    } else {
        expose(&config.private_key).to_owned()
    };
    let key = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| {
        ApiError::internal(format!("apple private key is not an ES256 PEM key: {e}"))
    })?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(config.key_id.clone());
    let now = chrono::Utc::now().timestamp();
    let claims = SecretClaims {
        iss: &config.team_id,
        iat: now,
        exp: now + SECRET_LIFETIME_SECS,
        aud: APPLE_AUDIENCE,
        sub: &config.client_id,
    };
    encode(&header, &claims, &key)
        .map(SecretString::from)
        .map_err(ApiError::internal)
}
