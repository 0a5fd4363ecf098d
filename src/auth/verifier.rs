//! Checking tokens: `TokenVerifier` verifies access and refresh tokens offline, against keys
//! each pinned to one algorithm, with the strict rules of RFC 7515 and RFC 8725.

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;

use super::jwt::{
    secs, AccessClaims, RefreshClaims, ACCESS_TOKEN_TYP, REFRESH_TOKEN_TYP,
    REFRESH_TOKEN_TYPE_CLAIM,
};
use super::keys::{KeyRing, SUPPORTED_ALGORITHMS};
use crate::config::JwtSettings;
use crate::errors::ApiError;

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
    #[error("the token header lists critical extensions (crit) this server does not understand")]
    UnsupportedCritical,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token's iat is in the future")]
    IssuedInFuture,
    #[error("the token's lifetime (exp - iat) is longer than this server issues")]
    LifetimeTooLong,
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
    /// The longest access and refresh lifetimes (exp - iat) accepted, when known.
    max_lifetimes: Option<(i64, i64)>,
    verified: VerifiedCache,
}

/// The time claims every authd token has, for the checks jsonwebtoken does not make.
pub trait TimeClaims {
    fn issued_at(&self) -> i64;
    fn expires_at(&self) -> i64;
}

impl TimeClaims for AccessClaims {
    fn issued_at(&self) -> i64 {
        self.iat
    }
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

impl TimeClaims for RefreshClaims {
    fn issued_at(&self) -> i64 {
        self.iat
    }
    fn expires_at(&self) -> i64 {
        self.exp
    }
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
            max_lifetimes: None,
            verified: VerifiedCache::new(),
        }
    }

    /// Refuses tokens that claim to live longer (exp - iat, beyond the leeway) than these:
    /// authd never issues such a token, so one can only come from a misused key. A service that
    /// knows authd's `jwt.access_ttl_secs` and `jwt.refresh_ttl_secs` should set them.
    pub fn with_max_lifetimes(mut self, access_secs: u64, refresh_secs: u64) -> Self {
        self.max_lifetimes = Some((secs(access_secs), secs(refresh_secs)));
        self
    }

    /// authd's own verifier. Lowering a TTL therefore also ends the tokens issued with the
    /// longer one.
    pub fn from_key_ring(ring: &KeyRing, jwt: &JwtSettings) -> Self {
        Self::new(
            ring.verifying
                .iter()
                .map(|k| (k.kid.clone(), k.algorithm, k.decoding.clone())),
            &jwt.issuer,
            &jwt.audience,
            jwt.leeway_secs,
        )
        .with_max_lifetimes(jwt.access_ttl_secs, jwt.refresh_ttl_secs)
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

    fn verify<T: DeserializeOwned + TimeClaims>(
        &self,
        token: &str,
        typ: &'static str,
        check_expiry: bool,
    ) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        // RFC 7515 §4.1.11: a recipient must refuse a token whose crit it does not understand,
        // and authd understands no extension (an empty list is invalid too).
        if header.crit.is_some() {
            return Err(TokenError::UnsupportedCritical);
        }
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
        validation.validate_nbf = true;
        let data =
            jsonwebtoken::decode::<T>(token, key, &validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
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
        self.check_times(&data.claims, typ)?;
        Ok(data.claims)
    }

    fn check_times(&self, claims: &impl TimeClaims, typ: &str) -> Result<(), TokenError> {
        let leeway = secs(self.leeway_secs);
        let now = chrono::Utc::now().timestamp();
        if claims.issued_at() > now.saturating_add(leeway) {
            return Err(TokenError::IssuedInFuture);
        }
        if let Some((access, refresh)) = self.max_lifetimes {
            let max = if typ == ACCESS_TOKEN_TYP {
                access
            } else {
                refresh
            };
            let lifetime = claims.expires_at().saturating_sub(claims.issued_at());
            if lifetime > max.saturating_add(leeway) {
                return Err(TokenError::LifetimeTooLong);
            }
        }
        Ok(())
    }
}
