//! Issuing tokens happens in `TokenIssuer`, checking them in `TokenVerifier`; nothing else
//! signs or decodes a JWT. Access tokens follow RFC 9068; refresh tokens have their own `typ`
//! and `token_type`, so neither can pass as the other.

use std::sync::Arc;

use jsonwebtoken::Header;
use serde::Serialize;

use super::keys::{LiveKeys, SigningKey};
use crate::config::JwtSettings;
use crate::errors::ApiError;

pub use super::verifier::{TokenError, TokenVerifier};
pub use authd_verify::{
    AccessClaims, RefreshClaims, ACCESS_TOKEN_TYP, REFRESH_TOKEN_TYP, REFRESH_TOKEN_TYPE_CLAIM,
};

/// Who a pair is issued to.
pub struct TokenSubject<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub is_staff: bool,
}

/// The identifiers of one pair. Stored with a rotated token, they let a retry within the
/// grace period be given the same pair again.
#[derive(Debug, Clone)]
pub struct PairIds {
    pub session_id: String,
    pub refresh_jti: String,
    pub access_jti: String,
    pub issued_at: i64,
}

impl PairIds {
    pub fn fresh(session_id: &str) -> Self {
        Self {
            session_id: session_id.to_owned(),
            refresh_jti: uuid::Uuid::new_v4().to_string(),
            access_jti: uuid::Uuid::new_v4().to_string(),
            issued_at: chrono::Utc::now().timestamp(),
        }
    }
}

pub struct IssuedPair {
    pub access: String,
    pub refresh: String,
    pub access_expires_at: i64,
    pub refresh_expires_at: i64,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
}

pub struct TokenIssuer {
    /// Which key signs changes with rotation; the issuer asks at every token.
    keys: Arc<LiveKeys>,
    issuer: String,
    audience: String,
    access_ttl_secs: i64,
    refresh_ttl_secs: i64,
}

impl TokenIssuer {
    pub fn new(keys: Arc<LiveKeys>, jwt: &JwtSettings) -> Self {
        Self {
            keys,
            issuer: jwt.issuer.clone(),
            audience: jwt.audience.clone(),
            access_ttl_secs: secs(jwt.access_ttl_secs),
            refresh_ttl_secs: secs(jwt.refresh_ttl_secs),
        }
    }

    pub fn refresh_ttl_secs(&self) -> i64 {
        self.refresh_ttl_secs
    }

    pub fn issue(&self, subject: &TokenSubject<'_>, ids: &PairIds) -> Result<IssuedPair, ApiError> {
        let access_expires_at = ids.issued_at + self.access_ttl_secs;
        let refresh_expires_at = ids.issued_at + self.refresh_ttl_secs;
        let access = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject.user_id.to_owned(),
            exp: access_expires_at,
            iat: ids.issued_at,
            jti: ids.access_jti.clone(),
            sid: ids.session_id.clone(),
            client_id: self.audience.clone(),
            email: subject.email.to_owned(),
            is_staff: subject.is_staff,
            scope: None,
        };
        let refresh = RefreshClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject.user_id.to_owned(),
            exp: refresh_expires_at,
            iat: ids.issued_at,
            jti: ids.refresh_jti.clone(),
            sid: ids.session_id.clone(),
            token_type: REFRESH_TOKEN_TYPE_CLAIM.to_owned(),
        };
        let key = self
            .keys
            .signer(ids.issued_at)
            .ok_or_else(|| ApiError::internal("no signing key"))?;
        Ok(IssuedPair {
            access: sign(&key, ACCESS_TOKEN_TYP, &access)?,
            refresh: sign(&key, REFRESH_TOKEN_TYP, &refresh)?,
            access_expires_at,
            refresh_expires_at,
            access_ttl_secs: self.access_ttl_secs,
            refresh_ttl_secs: self.refresh_ttl_secs,
        })
    }
}

/// A token signed with `key`, its kid and `typ` in the header.
fn sign(key: &SigningKey, typ: &str, claims: &impl Serialize) -> Result<String, ApiError> {
    let mut header = Header::new(key.algorithm);
    header.typ = Some(typ.to_owned());
    header.kid = Some(key.kid.clone());
    match &key.ed25519 {
        Some(parsed) => sign_ed25519(parsed, &header, claims),
        None => jsonwebtoken::encode(&header, claims, &key.encoding).map_err(ApiError::internal),
    }
}

/// A compact JWS, assembled as `jsonwebtoken::encode` does it (a unit test checks that the two
/// give the same token), but with a key parsed once.
fn sign_ed25519(
    key: &ed25519_dalek::SigningKey,
    header: &Header,
    claims: &impl Serialize,
) -> Result<String, ApiError> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ed25519_dalek::Signer;

    let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).map_err(ApiError::internal)?);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(
        serde_json::to_vec(claims).map_err(ApiError::internal)?,
        &mut token,
    );
    let signature = key.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
    Ok(token)
}

pub(crate) fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use jsonwebtoken::Algorithm;

    use super::*;
    use crate::auth::keys::{encoding_key_from_pem, generate_private_key};

    #[test]
    fn ed25519_tokens_are_the_ones_jsonwebtoken_signs() {
        let pem = generate_private_key(Algorithm::EdDSA).unwrap();
        let key = SigningKey::new(
            "k1".into(),
            Algorithm::EdDSA,
            encoding_key_from_pem(Algorithm::EdDSA, pem.expose_secret()).unwrap(),
        );
        assert!(key.ed25519.is_some(), "the key was not parsed once");

        let claims = serde_json::json!({ "sub": "someone", "exp": 4_102_444_800_i64 });
        let ours = sign(&key, ACCESS_TOKEN_TYP, &claims).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some("k1".into());
        let theirs = jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap();
        assert_eq!(ours, theirs);
    }
}
