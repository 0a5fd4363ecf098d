//! Issuing tokens happens in `TokenIssuer`, checking them in `TokenVerifier`; nothing else
//! signs or decodes a JWT. Access tokens follow RFC 9068; refresh tokens have their own `typ`
//! and `token_type`, so neither can pass as the other.

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::keys::{KeyRing, SigningKey, SUPPORTED_ALGORITHMS};
use crate::config::JwtSettings;
use crate::errors::ApiError;

pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
pub const REFRESH_TOKEN_TYP: &str = "refresh+jwt";
const REFRESH_TOKEN_TYPE_CLAIM: &str = "refresh";

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
    key: SigningKey,
    /// The Ed25519 key, parsed once. `jsonwebtoken::encode` parses its PKCS#8 bytes again for
    /// every token, and that parse derives the public key, which costs as much as a signature:
    /// half of the time of issuing a pair (`benches/crypto.rs`, bench/README.md).
    ed25519: Option<ed25519_dalek::SigningKey>,
    issuer: String,
    audience: String,
    access_ttl_secs: i64,
    refresh_ttl_secs: i64,
}

impl TokenIssuer {
    pub fn new(key: SigningKey, jwt: &JwtSettings) -> Self {
        // Should the parse fail, signing falls back to `jsonwebtoken::encode`, which reports it.
        let ed25519 = match key.algorithm {
            Algorithm::EdDSA => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                ed25519_dalek::SigningKey::from_pkcs8_der(key.encoding.as_bytes()).ok()
            }
            _ => None,
        };
        Self {
            key,
            ed25519,
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
        Ok(IssuedPair {
            access: self.sign(ACCESS_TOKEN_TYP, &access)?,
            refresh: self.sign(REFRESH_TOKEN_TYP, &refresh)?,
            access_expires_at,
            refresh_expires_at,
            access_ttl_secs: self.access_ttl_secs,
            refresh_ttl_secs: self.refresh_ttl_secs,
        })
    }

    fn sign(&self, typ: &str, claims: &impl Serialize) -> Result<String, ApiError> {
        let mut header = Header::new(self.key.algorithm);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.key.kid.clone());
        match &self.ed25519 {
            Some(key) => sign_ed25519(key, &header, claims),
            None => jsonwebtoken::encode(&header, claims, &self.key.encoding)
                .map_err(ApiError::internal),
        }
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

fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX / 4)
}

/// Every way a token can fail verification; each maps to one client-facing error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token has expired")]
    Expired,
    #[error("the token header has no kid, or names a key this server does not have")]
    UnknownKey,
    #[error("the token's algorithm is not the one its key is pinned to")]
    AlgorithmNotAllowed,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("expected {expected} token")]
    WrongType { expected: &'static str },
    #[error("a required claim is missing or malformed: {0}")]
    BadClaims(String),
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Expired => ApiError::token_expired(),
            other => ApiError::token_invalid(other.to_string()),
        }
    }
}

/// Checks tokens offline against a fixed set of keys, each pinned to its one algorithm.
/// Other actix services can build one from authd's JWKS and use `AuthenticatedUser` too.
pub struct TokenVerifier {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    issuer: String,
    audience: String,
    leeway_secs: u64,
    verified: VerifiedCache,
}

/// Access tokens that passed every check, until their own `exp`. A SPA sends the same access
/// token for its whole lifetime, and a signature check (about 50 µs for Ed25519) costs several
/// times an HTTP request; a hit is one hash lookup. The key is the whole token, so a token
/// that differs in any byte is verified afresh. Bounded: when full, it starts over.
struct VerifiedCache {
    entries: std::sync::Mutex<HashMap<Box<str>, AccessClaims>>,
}

const VERIFIED_CACHE_CAPACITY: usize = 4096;

impl VerifiedCache {
    fn new() -> Self {
        Self {
            entries: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, token: &str) -> Option<AccessClaims> {
        self.entries.lock().ok()?.get(token).cloned()
    }

    fn put(&self, token: &str, claims: &AccessClaims) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= VERIFIED_CACHE_CAPACITY {
                entries.clear();
            }
            entries.insert(token.into(), claims.clone());
        }
    }
}

impl TokenVerifier {
    pub fn new(
        keys: impl IntoIterator<Item = (String, Algorithm, DecodingKey)>,
        issuer: &str,
        audience: &str,
        leeway_secs: u64,
    ) -> Self {
        Self {
            keys: keys
                .into_iter()
                .filter(|(_, alg, _)| SUPPORTED_ALGORITHMS.contains(alg))
                .map(|(kid, alg, key)| (kid, (alg, key)))
                .collect(),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway_secs,
            verified: VerifiedCache::new(),
        }
    }

    pub fn from_key_ring(ring: &KeyRing, jwt: &JwtSettings) -> Self {
        Self::new(
            ring.verifying
                .iter()
                .map(|k| (k.kid.clone(), k.algorithm, k.decoding.clone())),
            &jwt.issuer,
            &jwt.audience,
            jwt.leeway_secs,
        )
    }

    /// For a resource server: the keys of a JWKS document (e.g. authd's
    /// `/.well-known/jwks.json`); keys without `kid` or `alg` are skipped, since a key must be
    /// pinned to one algorithm.
    pub fn from_jwks(jwks: &JwkSet, issuer: &str, audience: &str, leeway_secs: u64) -> Self {
        let keys = jwks.keys.iter().filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let alg = jwk.common.key_algorithm?.to_string().parse().ok()?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((kid, alg, key))
        });
        Self::new(keys, issuer, audience, leeway_secs)
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if let Some(claims) = self.verified.get(token) {
            // The same expiry rule as jsonwebtoken's: expired once exp < now - leeway.
            let leeway = i64::try_from(self.leeway_secs).unwrap_or(i64::MAX);
            return if claims.exp < chrono::Utc::now().timestamp().saturating_sub(leeway) {
                Err(TokenError::Expired)
            } else {
                Ok(claims)
            };
        }
        let claims: AccessClaims = self.verify(token, ACCESS_TOKEN_TYP, true)?;
        self.verified.put(token, &claims);
        Ok(claims)
    }

    /// `check_expiry` is off only for logout, where an expired token is harmless to accept.
    pub fn verify_refresh(
        &self,
        token: &str,
        check_expiry: bool,
    ) -> Result<RefreshClaims, TokenError> {
        let claims: RefreshClaims = self.verify(token, REFRESH_TOKEN_TYP, check_expiry)?;
        if claims.token_type != REFRESH_TOKEN_TYPE_CLAIM {
            return Err(TokenError::WrongType {
                expected: "a refresh",
            });
        }
        Ok(claims)
    }

    fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &'static str,
        check_expiry: bool,
    ) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let (algorithm, key) = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        // The algorithm comes from our key, never from the token: no `none`, and no HS256
        // "signed" with a public key.
        if header.alg != *algorithm {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        let typ_matches = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(typ) || t.eq_ignore_ascii_case(&format!("application/{typ}"))
        });
        if !typ_matches {
            return Err(TokenError::WrongType {
                expected: if typ == ACCESS_TOKEN_TYP {
                    "an access"
                } else {
                    "a refresh"
                },
            });
        }
        let mut validation = Validation::new(*algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway_secs;
        validation.validate_exp = check_expiry;
        let data =
            jsonwebtoken::decode::<T>(token, key, &validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::InvalidAlgorithm => TokenError::AlgorithmNotAllowed,
                ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
                    TokenError::BadClaims(claim.clone())
                }
                ErrorKind::Json(_) => TokenError::BadClaims("claims".into()),
                _ => TokenError::Malformed,
            })?;
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::auth::keys::{encoding_key_from_pem, generate_private_key};
    use crate::config::{Settings, Sources};

    #[test]
    fn ed25519_tokens_are_the_ones_jsonwebtoken_signs() {
        let settings = Settings::from_sources(Sources {
            profile: "local",
            config_dir: None,
            environment: false,
        })
        .unwrap();
        let pem = generate_private_key(Algorithm::EdDSA).unwrap();
        let key = SigningKey {
            kid: "k1".into(),
            algorithm: Algorithm::EdDSA,
            encoding: encoding_key_from_pem(Algorithm::EdDSA, pem.expose_secret()).unwrap(),
        };
        let issuer = TokenIssuer::new(key, &settings.jwt);
        assert!(issuer.ed25519.is_some(), "the key was not parsed once");

        let claims = serde_json::json!({ "sub": "someone", "exp": 4_102_444_800_i64 });
        let ours = issuer.sign(ACCESS_TOKEN_TYP, &claims).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some("k1".into());
        let theirs = jsonwebtoken::encode(&header, &claims, &issuer.key.encoding).unwrap();
        assert_eq!(ours, theirs);
    }
}
